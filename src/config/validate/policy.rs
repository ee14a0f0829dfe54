//! An API's frontend policies → [`ApiPolicy`]'s parts: `protocol` (and whether the API is a
//! WebSocket API), `auth` with its `[service.api.oauth]` (the JWK is decoded and checked by
//! `crate::policy::oauth`, which verifies tokens with it), `cors`/`cors_origins`, and
//! `[[service.api.param]]`. The checks run on requests are `crate::policy`'s.
//!
//! [`ApiPolicy`]: crate::config::ApiPolicy

use super::{ConfigError, Site};
use crate::config::file;
use crate::config::{ApiPath, Auth, Cors, OAuthSettings, Param, ParamPosition, ParamType, Protocol, TokenLocation};
use crate::policy::oauth;

/// The protocol, and whether the API is a WebSocket API: `ws` is WebSocket over HTTP, `wss` over
/// HTTPS, so the protocol policy (426) treats them as `http` and `https`.
pub(super) fn build_protocol(site: &Site, protocol: Option<String>) -> Result<(Protocol, bool), ConfigError> {
    let Some(text) = protocol else {
        return Ok((Protocol::HttpAndHttps, false));
    };
    match text.to_ascii_lowercase().as_str() {
        "http" => Ok((Protocol::Http, false)),
        "https" => Ok((Protocol::Https, false)),
        "http&https" => Ok((Protocol::HttpAndHttps, false)),
        "ws" => Ok((Protocol::Http, true)),
        "wss" => Ok((Protocol::Https, true)),
        "ws&wss" => Ok((Protocol::HttpAndHttps, true)),
        _ => Err(site.error(
            "protocol",
            format!("`{text}` is not one of \"http\", \"https\", \"http&https\", \"ws\", \"wss\", \"ws&wss\""),
        )),
    }
}

pub(super) fn build_auth(
    site: &Site,
    auth: Option<String>,
    settings: Option<file::OAuth>,
) -> Result<Auth, ConfigError> {
    let name = auth.as_deref().unwrap_or("none");
    let auth = match name {
        "none" => Auth::None,
        "key_pair" => Auth::KeyPair,
        "oauth" => {
            let Some(settings) = settings else {
                return Err(
                    site.error("oauth", "required when auth = \"oauth\": add `[service.api.oauth]` with `public_key`")
                );
            };
            return Ok(Auth::OAuth(Box::new(build_oauth(site, settings)?)));
        }
        other => return Err(site.error("auth", format!("`{other}` is not one of \"none\", \"key_pair\", \"oauth\""))),
    };
    if settings.is_some() {
        return Err(site.error("oauth", format!("only allowed with auth = \"oauth\" (this api has auth = \"{name}\")")));
    }
    Ok(auth)
}

fn build_oauth(site: &Site, settings: file::OAuth) -> Result<OAuthSettings, ConfigError> {
    let jwk_text = site.required_text("oauth.public_key", settings.public_key)?;
    let jwk = oauth::parse_jwk(&jwk_text).map_err(|message| site.error("oauth.public_key", message))?;
    let algorithm = match settings.algorithm {
        None => jwk.algorithm.unwrap_or(jwk.key.default_algorithm()),
        Some(name) => {
            let algorithm = oauth::Algorithm::parse(&name).ok_or_else(|| {
                site.error("oauth.algorithm", format!("`{name}` is not one of RS256, RS384, RS512, ES256"))
            })?;
            if !jwk.key.supports(algorithm) {
                return Err(
                    site.error("oauth.algorithm", format!("{name} cannot be verified with the public_key's key type"))
                );
            }
            if jwk.algorithm.is_some_and(|named| named != algorithm) {
                return Err(site.error("oauth.algorithm", format!("{name} differs from the public_key's \"alg\"")));
            }
            algorithm
        }
    };
    let token_location = match settings.token_location {
        None => TokenLocation::Authorization,
        Some(text) => {
            oauth::parse_token_location(&text).map_err(|message| site.error("oauth.token_location", message))?
        }
    };
    let non_empty = |field: &str, value: Option<String>| match value {
        Some(text) if text.is_empty() => Err(site.error(field, "may not be empty; leave it out to accept any")),
        other => Ok(other),
    };
    Ok(OAuthSettings {
        key: jwk.key,
        algorithm,
        token_location,
        issuer: non_empty("oauth.iss", settings.iss)?,
        audience: non_empty("oauth.aud", settings.aud)?,
    })
}

pub(super) fn build_cors(
    site: &Site,
    cors: Option<bool>,
    origins: Option<Vec<String>>,
) -> Result<Option<Cors>, ConfigError> {
    if cors != Some(true) {
        if origins.is_some() {
            return Err(site.error("cors_origins", "only allowed with cors = true"));
        }
        return Ok(None);
    }
    let origins = match origins {
        None => Vec::new(),
        Some(origins) => cors_origins(site, "cors_origins", origins)?,
    };
    Ok(Some(Cors { origins, custom: None }))
}

/// Allowed CORS origins as written under `field`, lower-cased; empty for `["*"]` (any origin).
pub(super) fn cors_origins(site: &Site, field: &str, origins: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if origins.iter().any(|origin| origin == "*") {
        if origins.len() > 1 {
            return Err(site.error(field, "`*` already allows every origin; list it alone or list origins"));
        }
        return Ok(Vec::new());
    }
    let mut normalized: Vec<String> = Vec::with_capacity(origins.len());
    for origin in origins {
        let lower = origin.to_ascii_lowercase();
        let authority = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
        let valid = authority.is_some_and(|authority| {
            !authority.is_empty()
                && authority.bytes().all(|byte| byte.is_ascii_alphanumeric() || b".-:[]_".contains(&byte))
        });
        if !valid {
            return Err(site.error(
                field,
                format!("`{origin}` is not an origin like `https://app.example.com` or `http://localhost:3000` (scheme, host, optional port; no path)"),
            ));
        }
        if normalized.contains(&lower) {
            return Err(site.error(field, format!("`{origin}` is listed twice")));
        }
        normalized.push(lower);
    }
    if normalized.is_empty() {
        return Err(site.error(field, "at least one origin is required; leave it out to allow any (`*`)"));
    }
    Ok(normalized)
}

pub(super) fn build_params(
    site: &Site,
    params: Vec<file::Param>,
    path: &ApiPath,
    raw_path: &str,
) -> Result<Vec<Param>, ConfigError> {
    let mut built: Vec<Param> = Vec::with_capacity(params.len());
    for (index, param) in params.into_iter().enumerate() {
        let label = match &param.name {
            Some(name) if !name.is_empty() => format!("param.{name}"),
            _ => format!("param #{}", index + 1),
        };
        let field = |key: &str| format!("{label}.{key}");
        let name = site.required_text(&field("name"), param.name)?;
        let position_text = site.required_text(&field("position"), param.position)?;
        let position = match position_text.to_ascii_lowercase().as_str() {
            "header" => ParamPosition::Header,
            "query" => ParamPosition::Query,
            "path" => ParamPosition::Path,
            _ => {
                return Err(
                    site.error(&field("position"), format!("`{position_text}` is not one of header, query, path"))
                )
            }
        };
        let kind = match param.kind {
            None => ParamType::String,
            Some(text) => ParamType::parse(&text).ok_or_else(|| {
                site.error(
                    &field("type"),
                    format!("`{text}` is not one of string, int, long, float, double, boolean, date"),
                )
            })?,
        };
        let capture = match position {
            ParamPosition::Path => Some(path.params.iter().position(|placeholder| *placeholder == name).ok_or_else(|| {
                site.error(&field("name"), format!("a path param must appear in the path as `{{{name}}}`, and `{raw_path}` has no `{{{name}}}`"))
            })?),
            ParamPosition::Header if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)) => {
                return Err(site.error(&field("name"), format!("`{name}` is not a header name")));
            }
            _ => None,
        };
        let same = |other: &Param| {
            other.position == position
                && if position == ParamPosition::Header {
                    other.name.eq_ignore_ascii_case(&name)
                } else {
                    other.name == name
                }
        };
        if built.iter().any(same) {
            return Err(site.error(
                &field("name"),
                format!("another {} param is named `{name}`", position_text.to_ascii_lowercase()),
            ));
        }
        let required = param.required.unwrap_or(false);
        for (key, value) in [("default", &param.default), ("sample", &param.sample)] {
            if let Some(value) = value {
                if !crate::policy::params::value_fits(kind, value.as_bytes()) {
                    return Err(site.error(&field(key), format!("`{value}` is not a valid {}", kind.as_str())));
                }
            }
        }
        if required && param.default.is_some() {
            return Err(site.error(
                &field("default"),
                "a required param is never absent, so its default would never be used; drop one of them",
            ));
        }
        built.push(Param {
            name,
            position,
            kind,
            required,
            default: param.default,
            desc: param.desc,
            sample: param.sample,
            capture,
        });
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::super::test_support::{check_errors_in, Scratch, POLICY};
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn policy_example_parses_into_the_expected_model() {
        let scratch = Scratch::new("policy");
        let config = parse_str(POLICY, &scratch.source(), &Overrides::default()).unwrap();
        let item = &config.apis[0].policy;
        assert_eq!((item.protocol, &item.auth), (Protocol::Http, &Auth::KeyPair));
        assert_eq!(
            item.cors,
            Some(Cors {
                origins: vec!["https://app.example.com".into(), "http://localhost:3000".into()],
                custom: None
            })
        );
        let param = |name: &str, position, kind, required, default: Option<&str>, capture| Param {
            name: name.into(),
            position,
            kind,
            required,
            default: default.map(str::to_owned),
            desc: (name == "page").then(|| "page number".into()),
            sample: (name == "page").then(|| "2".into()),
            capture,
        };
        assert_eq!(
            item.params,
            vec![
                param("id", ParamPosition::Path, ParamType::Long, true, None, Some(0)),
                param("page", ParamPosition::Query, ParamType::Int, false, Some("1"), None),
                param("X-Trace", ParamPosition::Header, ParamType::String, false, None, None),
            ]
        );
        let me = &config.apis[1].policy;
        assert_eq!(
            (me.protocol, me.cors.clone()),
            (Protocol::HttpAndHttps, Some(Cors { origins: vec![], custom: None }))
        );
        let jwk = POLICY.lines().find_map(|line| line.strip_prefix("public_key = '")?.strip_suffix('\'')).unwrap();
        let expected = OAuthSettings {
            key: oauth::parse_jwk(jwk).unwrap().key,
            algorithm: oauth::Algorithm::Es256,
            token_location: TokenLocation::Cookie("id_token".into()),
            issuer: Some("https://auth.example.com".into()),
            audience: Some("shop".into()),
        };
        assert_eq!(me.auth, Auth::OAuth(Box::new(expected)));
        assert!(matches!(&me.auth, Auth::OAuth(settings) if matches!(settings.key, oauth::PublicKey::P256(_))));
    }

    #[test]
    fn policy_errors() {
        let api = ": service `shop` api `item`";
        let me = ": service `shop` api `me`";
        let e = |location: &str, rest: &str| format!("{location}: {rest}");
        let short_rsa = crate::policy::oauth::tests::rsa_1024_jwk();
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, String)> = vec![
            ("protocol = \"http\"", "protocol = \"tcp\"", e(api, "field `protocol`: `tcp` is not one of \"http\", \"https\", \"http&https\", \"ws\", \"wss\", \"ws&wss\"")),
            ("auth = \"key_pair\"", "auth = \"SECRET\"", e(api, "field `auth`: `SECRET` is not one of \"none\", \"key_pair\", \"oauth\"")),
            ("auth = \"oauth\"", "auth = \"none\"", e(me, "field `oauth`: only allowed with auth = \"oauth\" (this api has auth = \"none\")")),
            ("auth = \"key_pair\"", "auth = \"oauth\"", e(api, "field `oauth`: required when auth = \"oauth\": add `[service.api.oauth]` with `public_key`")),
            ("public_key = '", "algorithm = \"RS256\"\npublic_key = '", e(me, "field `oauth.algorithm`: RS256 cannot be verified with the public_key's key type")),
            ("public_key = '", "algorithm = \"HS256\"\npublic_key = '", e(me, "field `oauth.algorithm`: `HS256` is not one of RS256, RS384, RS512, ES256")),
            ("{\"kty\":\"EC\",", "{\"kty\":\"EC\",\"alg\":\"ES256\",\"use\":\"enc\",", e(me, "field `oauth.public_key`: has \"use\": \"enc\"; a token-verifying key must be \"sig\"")),
            ("\"crv\":\"P-256\",", "\"crv\":\"P-521\",", e(me, "field `oauth.public_key`: has \"crv\": \"P-521\"; only P-256 (ES256) is supported")),
            ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\",\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"}", &short_rsa, e(me, "field `oauth.public_key`: is not a usable RSA key: a 1024-bit modulus; at least 2048 bits are required")),
            ("token_location = \"cookie:id_token\"", "token_location = \"query:token\"", e(me, "field `oauth.token_location`: `query:token`: use `header:<Name>` (e.g. `header:Authorization`) or `cookie:<name>`")),
            ("iss = \"https://auth.example.com\"", "iss = \"\"", e(me, "field `oauth.iss`: may not be empty; leave it out to accept any")),
            ("aud = \"shop\"", "aud = \"shop\"\nexp = 1", ":48:1: unknown field `exp`, expected one of `public_key`, `algorithm`, `token_location`, `iss`, `aud`".into()),
            ("cors = true\ncors_origins", "cors = false\ncors_origins", e(api, "field `cors_origins`: only allowed with cors = true")),
            ("\"http://localhost:3000\"]", "\"http://localhost:3000/\"]", e(api, "field `cors_origins`: `http://localhost:3000/` is not an origin like `https://app.example.com` or `http://localhost:3000` (scheme, host, optional port; no path)")),
            ("\"http://localhost:3000\"]", "\"https://app.example.COM\"]", e(api, "field `cors_origins`: `https://app.example.COM` is listed twice")),
            ("\"http://localhost:3000\"]", "\"*\"]", e(api, "field `cors_origins`: `*` already allows every origin; list it alone or list origins")),
            ("cors_origins = [\"https://App.example.com\", \"http://localhost:3000\"]", "cors_origins = []", e(api, "field `cors_origins`: at least one origin is required; leave it out to allow any (`*`)")),
            // spec §2.1: a path param must appear in the path as {name}.
            ("name = \"id\"", "name = \"uid\"", e(api, "field `param.uid.name`: a path param must appear in the path as `{uid}`, and `/item/{id}` has no `{uid}`")),
            ("position = \"path\"", "position = \"body\"", e(api, "field `param.id.position`: `body` is not one of header, query, path")),
            ("type = \"long\"", "type = \"uuid\"", e(api, "field `param.id.type`: `uuid` is not one of string, int, long, float, double, boolean, date")),
            ("default = \"1\"", "default = \"first\"", e(api, "field `param.page.default`: `first` is not a valid int")),
            ("sample = \"2\"", "sample = \"2.5\"", e(api, "field `param.page.sample`: `2.5` is not a valid int")),
            ("default = \"1\"", "default = \"1\"\nrequired = true", e(api, "field `param.page.default`: a required param is never absent, so its default would never be used; drop one of them")),
            ("name = \"X-Trace\"", "name = \"X Trace\"", e(api, "field `param.X Trace.name`: `X Trace` is not a header name")),
            ("name = \"X-Trace\"\nposition = \"Header\"", "name = \"page\"\nposition = \"query\"", e(api, "field `param.page.name`: another query param is named `page`")),
            ("name = \"X-Trace\"\n", "", e(api, "field `param #3.name`: required but missing")),
            ("position = \"Header\"\n", "", e(api, "field `param.X-Trace.position`: required but missing")),
            ("desc = \"page number\"", "description = \"x\"", ":28:1: unknown field `description`, expected one of `name`, `position`, `type`, `required`, `default`, `desc`, `sample`".into()),
        ];
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(find, replace, expected)| (*find, *replace, expected.as_str())).collect();
        check_errors_in(POLICY, "policy", &cases);
    }
}
