//! `base64` and `[[service.api.base64_rule]]` of an API (console: Base64 编码) → the runtime
//! [`Base64Encoding`]. Tencent allows at most 10 rules, on `Content-Type` or `Accept`, any one
//! matching (spec: the backend's Base64 settings).

use super::super::file;
use super::super::{Base64Encoding, Base64Rule};
use super::{ConfigError, Site};

/// Most trigger rules one API may have (Tencent's limit).
pub const MAX_BASE64_RULES: usize = 10;

/// Builds the encoding from the API's `base64` mode and its rules; rule errors name the rule by
/// place (`base64_rule #2.values`), as the console's inputs are named.
pub(super) fn build_base64(
    site: &Site,
    mode: Option<String>,
    rules: Vec<file::Base64Rule>,
    is_websocket: bool,
) -> Result<Base64Encoding, ConfigError> {
    let mode = mode.map(|text| text.to_ascii_lowercase());
    if is_websocket && mode.as_deref().is_some_and(|mode| mode != "off") {
        return Err(site.error("base64", "not used by WebSocket APIs (their messages are not request bodies)"));
    }
    match mode.as_deref() {
        None | Some("off") | Some("all") if !rules.is_empty() => {
            Err(site.error("base64_rule", "rules apply only with base64 = \"rules\""))
        }
        None | Some("off") => Ok(Base64Encoding::Off),
        Some("all") => Ok(Base64Encoding::All),
        Some("rules") => {
            if rules.is_empty() {
                return Err(site.error("base64", "\"rules\" needs at least one [[service.api.base64_rule]]"));
            }
            if rules.len() > MAX_BASE64_RULES {
                return Err(
                    site.error("base64_rule", format!("{} rules; at most {MAX_BASE64_RULES} are allowed", rules.len()))
                );
            }
            let built = rules
                .into_iter()
                .enumerate()
                .map(|(index, rule)| build_rule(site, index + 1, rule))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Base64Encoding::Rules(built.into()))
        }
        Some(other) => Err(site.error("base64", format!("`{other}` is not one of \"off\", \"all\", \"rules\""))),
    }
}

fn build_rule(site: &Site, number: usize, rule: file::Base64Rule) -> Result<Base64Rule, ConfigError> {
    let field = |key: &str| format!("base64_rule #{number}.{key}");
    let header = match rule.header.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => return Err(site.error(&field("header"), "required: Content-Type or Accept")),
        Some("content-type" | "content_type") => "content-type",
        Some("accept") => "accept",
        Some(_) => {
            let name = rule.header.unwrap_or_default();
            return Err(site.error(&field("header"), format!("`{name}` is not Content-Type or Accept")));
        }
    };
    let values = rule.values.unwrap_or_default();
    if values.is_empty() {
        return Err(site.error(&field("values"), "required: at least one value, e.g. image/"));
    }
    if values.iter().any(|value| value.trim().is_empty()) {
        return Err(site.error(&field("values"), "a value may not be empty"));
    }
    Ok(Base64Rule { header, values: values.iter().map(|value| value.trim().to_ascii_lowercase().into()).collect() })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn rule(header: &str, values: &[&str]) -> file::Base64Rule {
        file::Base64Rule {
            header: Some(header.into()),
            values: Some(values.iter().map(|value| value.to_string()).collect()),
        }
    }

    fn build(mode: Option<&str>, rules: Vec<file::Base64Rule>) -> Result<Base64Encoding, String> {
        let site = Site::new(Path::new("scfgate.toml"), "service `s` api `a`".into());
        build_base64(&site, mode.map(Into::into), rules, false).map_err(|error| error.to_string())
    }

    #[test]
    fn modes_and_rules() {
        assert_eq!(build(None, vec![]), Ok(Base64Encoding::Off));
        assert_eq!(build(Some("ALL"), vec![]), Ok(Base64Encoding::All));
        let Ok(Base64Encoding::Rules(rules)) = build(Some("rules"), vec![rule("Content_Type", &[" Image/ "])]) else {
            panic!("rules refused");
        };
        assert_eq!(&*rules, &[Base64Rule { header: "content-type", values: vec!["image/".into()].into() }]);
        for (mode, rules, message) in [
            (Some("some"), vec![], "field `base64`: `some` is not one of"),
            (Some("rules"), vec![], "field `base64`: \"rules\" needs at least one"),
            (Some("all"), vec![rule("Accept", &["x"])], "field `base64_rule`: rules apply only with"),
            (Some("rules"), vec![rule("Host", &["x"])], "field `base64_rule #1.header`: `Host` is not"),
            (
                Some("rules"),
                vec![rule("Accept", &["x"]), rule("Accept", &[])],
                "field `base64_rule #2.values`: required",
            ),
            (Some("rules"), vec![rule("Accept", &[" "])], "field `base64_rule #1.values`: a value may not be empty"),
            (Some("rules"), vec![rule("Accept", &["x"]); 11], "field `base64_rule`: 11 rules; at most 10"),
        ] {
            let error = build(mode, rules).expect_err(message);
            assert!(error.contains(message), "{error} should contain {message}");
        }
        let site = Site::new(Path::new("scfgate.toml"), "api".into());
        assert!(
            build_base64(&site, Some("all".into()), vec![], true).is_err(),
            "a WebSocket API has no body to encode"
        );
    }

    #[test]
    fn a_rule_matches_when_its_header_contains_a_value_ignoring_case() {
        let Ok(encoding) = build(Some("rules"), vec![rule("Content-Type", &["image/"]), rule("Accept", &["octet"])])
        else {
            panic!("rules refused");
        };
        let encodes = |content_type: &'static [u8], accept: &'static [&'static [u8]]| {
            encoding.encodes(|name| {
                let values: Vec<&[u8]> = match name {
                    b"content-type" => vec![content_type],
                    b"accept" => accept.to_vec(),
                    _ => vec![],
                };
                values.into_iter()
            })
        };
        assert!(encodes(b"IMAGE/PNG", &[]));
        assert!(encodes(b"text/plain", &[b"text/html", b"application/octet-stream"]));
        assert!(!encodes(b"text/plain", &[b"text/html"]));
        assert!(!Base64Encoding::Off.encodes(|_| std::iter::once(&b"image/png"[..])));
        assert!(Base64Encoding::All.encodes(|_| std::iter::empty()));
    }
}
