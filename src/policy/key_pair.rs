//! Key-pair authentication (密钥对认证, `auth = "key_pair"`): Tencent's HMAC signature scheme
//! (spec §3.1), and the usage-plan binding that decides whether the key may call this stage.
//!
//! ```text
//! X-Date: Mon, 19 Mar 2018 12:08:40 GMT
//! Source: AndriodApp
//! Authorization: hmac id="<SecretId>", algorithm="hmac-sha1", headers="x-date source", signature="<base64>"
//! ```
//!
//! The signing string is each header named in `headers`, in that order, as `lowercase-name: value`,
//! joined by `\n` (no trailing newline); the signature is base64 of HMAC(SecretKey, signing string)
//! with SHA-1, SHA-256, SHA-384 or SHA-512. An `X-Date` must be within 900 s of now; a `Date` is
//! accepted unchecked, as Tencent documents. Signatures are compared in constant time.
//!
//! Order of checks, each with Tencent's 401 message (403 for the last): the `Authorization` field
//! and its format, the algorithm, the signed-header list (it must name `date` or `x-date`), the
//! date, every signed header present once, the SecretId known, the signature, then the binding: a
//! key not in a usage plan bound to the stage is refused, and a stage with no key plan at all gets
//! `Found no validate usage plan.`. The key is checked before the binding so that the binding is
//! never revealed to a caller without the SecretKey.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ring::hmac;

use super::{Repeated, Request};
use crate::config::{Config, PlanIndex, SecretIndex};

pub mod secret_key;

pub use secret_key::SecretKey;

/// Largest difference between `X-Date` and now, in seconds (Tencent's default: 900 s).
pub const MAX_CLOCK_SKEW_SECS: i64 = 900;

/// Most header names one signature may list.
const MAX_SIGNED_HEADERS: usize = 32;

/// Standard base64, padded or not (Python's `base64.b64encode` pads; some clients strip it).
const SIGNATURE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The HMAC algorithms Tencent lists (`HMAC algorithm xxx not supported.`, spec §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlgorithm {
    /// `hmac-sha1`
    Sha1,
    /// `hmac-sha256`
    Sha256,
    /// `hmac-sha384`
    Sha384,
    /// `hmac-sha512`
    Sha512,
}

impl HmacAlgorithm {
    /// Parses the `algorithm` parameter (case-insensitive).
    pub fn parse(name: &[u8]) -> Option<HmacAlgorithm> {
        [HmacAlgorithm::Sha1, HmacAlgorithm::Sha256, HmacAlgorithm::Sha384, HmacAlgorithm::Sha512]
            .into_iter()
            .find(|algorithm| algorithm.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The name as written in `Authorization`.
    pub fn as_str(self) -> &'static str {
        match self {
            HmacAlgorithm::Sha1 => "hmac-sha1",
            HmacAlgorithm::Sha256 => "hmac-sha256",
            HmacAlgorithm::Sha384 => "hmac-sha384",
            HmacAlgorithm::Sha512 => "hmac-sha512",
        }
    }
}

/// Why a key-pair request was refused; `crate::error` gives each its status and Tencent's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPairError {
    /// No `Authorization` field.
    MissingAuthorization,
    /// `Authorization`, `X-Date` or a signed header appears more than once.
    MultipleHeaders,
    /// `Authorization` is not `hmac id="...", algorithm="...", headers="...", signature="..."`.
    Format,
    /// `id` or `signature` is missing or empty.
    IdOrSignatureMissing,
    /// An algorithm other than hmac-sha1/256/384/512 (its name as sent, for the message).
    Algorithm(Box<str>),
    /// `headers` is missing or empty, names something that is not a header name, or names neither
    /// `date` nor `x-date`.
    HeadersInvalid,
    /// Neither `Date` nor `X-Date` was sent.
    DateRequired,
    /// `X-Date` is not an HTTP date.
    XDateInvalid,
    /// `X-Date` is more than [`MAX_CLOCK_SKEW_SECS`] away from now.
    XDateOutOfDate,
    /// A header named in `headers` was not sent (its name, lower-cased).
    HeaderRequired(Box<str>),
    /// No `[[secret]]` has this id.
    UnknownKey,
    /// The signature is not the HMAC of the signing string.
    SignatureMismatch,
    /// The key is valid but no usage plan bound to this stage lists it.
    NotBound,
    /// No usage plan with keys is bound to this stage at all (Tencent's 403).
    NoUsagePlan,
}

/// The parameters of an `Authorization: hmac ...` value, as sent (quotes removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `id`: the SecretId.
    pub id: &'a [u8],
    /// `algorithm`.
    pub algorithm: &'a [u8],
    /// `headers`: space-separated names, in signing order.
    pub headers: &'a [u8],
    /// `signature`: base64.
    pub signature: &'a [u8],
}

/// A request that passed: which key signed it and which plan (and key position in it) admits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// The key pair.
    pub secret: SecretIndex,
    /// The usage plan bound to the stage that lists the key.
    pub plan: PlanIndex,
    /// The key's position in the plan's keys (its rate-limit bucket).
    pub key: usize,
}

/// Authenticates `request` for a stage whose bound usage plans are `stage_plans`. `now` is Unix
/// seconds.
pub fn authenticate(
    config: &Config,
    stage_plans: &[PlanIndex],
    request: &Request<'_>,
    now: i64,
) -> Result<Granted, KeyPairError> {
    verify(config, stage_plans, request, now)
}

fn verify(
    config: &Config,
    stage_plans: &[PlanIndex],
    request: &Request<'_>,
    now: i64,
) -> Result<Granted, KeyPairError> {
    let authorization = match request.single_header(b"authorization") {
        Err(Repeated) => return Err(KeyPairError::MultipleHeaders),
        Ok(None) => return Err(KeyPairError::MissingAuthorization),
        Ok(Some(value)) => value,
    };
    let credentials = parse_authorization(authorization)?;
    let algorithm = HmacAlgorithm::parse(credentials.algorithm)
        .ok_or_else(|| KeyPairError::Algorithm(String::from_utf8_lossy(credentials.algorithm).into()))?;
    check_signed_names(credentials.headers)?;

    match request.single_header(b"x-date").map_err(|Repeated| KeyPairError::MultipleHeaders)? {
        Some(value) => {
            let sent = parse_http_date(value).ok_or(KeyPairError::XDateInvalid)?;
            if (now - sent).abs() > MAX_CLOCK_SKEW_SECS {
                return Err(KeyPairError::XDateOutOfDate);
            }
        }
        // Tencent: "Date" is accepted without a time check.
        None if request.header(b"date").is_some() => {}
        None => return Err(KeyPairError::DateRequired),
    }
    for name in signed_names(credentials.headers) {
        match request.single_header(name) {
            Err(Repeated) => return Err(KeyPairError::MultipleHeaders),
            Ok(None) => {
                return Err(KeyPairError::HeaderRequired(String::from_utf8_lossy(name).to_ascii_lowercase().into()))
            }
            Ok(Some(_)) => {}
        }
    }

    let secret = config.secret(credentials.id).ok_or(KeyPairError::UnknownKey)?;
    // 64 bytes is SHA-512's output; the decoder wants room for its worst-case estimate.
    let mut signature = [0u8; 72];
    let length = SIGNATURE_BASE64
        .decode_slice(credentials.signature, &mut signature)
        .map_err(|_| KeyPairError::SignatureMismatch)?;
    let signature = &signature[..length];
    let key = &config.secrets[secret].key;
    let names = credentials.headers;
    let matches = match algorithm {
        HmacAlgorithm::Sha1 => verify_mac(&key.sha1, request, names, signature),
        HmacAlgorithm::Sha256 => verify_mac(&key.sha256, request, names, signature),
        HmacAlgorithm::Sha384 => verify_mac(&key.sha384, request, names, signature),
        HmacAlgorithm::Sha512 => verify_mac(&key.sha512, request, names, signature),
    };
    if !matches {
        return Err(KeyPairError::SignatureMismatch);
    }

    let mut stage_has_key_plan = false;
    for &plan in stage_plans {
        let keys = &config.usage_plans[plan].secrets;
        if keys.is_empty() {
            continue;
        }
        stage_has_key_plan = true;
        if let Some(position) = keys.iter().position(|&listed| listed == secret) {
            return Ok(Granted { secret, plan, key: position });
        }
    }
    Err(if stage_has_key_plan { KeyPairError::NotBound } else { KeyPairError::NoUsagePlan })
}

/// HMAC of the signing string with `key` (from its prepared state), compared with `signature` in
/// constant time (`crate::constant_time`, on `subtle`).
fn verify_mac(key: &hmac::Key, request: &Request<'_>, names: &[u8], signature: &[u8]) -> bool {
    let mut mac = hmac::Context::with_key(key);
    signing_string(request, names, |piece| mac.update(piece));
    crate::constant_time::eq(mac.sign().as_ref(), signature)
}

/// Feeds the signing string for the space-separated header `names` to `emit`, piece by piece:
/// `lowercase-name: value`, joined by `\n`. Every name must have been checked to be present once.
pub fn signing_string(request: &Request<'_>, names: &[u8], mut emit: impl FnMut(&[u8])) {
    for (index, name) in signed_names(names).enumerate() {
        if index > 0 {
            emit(b"\n");
        }
        let mut lowered = [0u8; 64];
        for chunk in name.chunks(lowered.len()) {
            let lowered = &mut lowered[..chunk.len()];
            lowered.copy_from_slice(chunk);
            lowered.make_ascii_lowercase();
            emit(lowered);
        }
        emit(b": ");
        emit(request.header(name).unwrap_or_default());
    }
}

fn signed_names(names: &[u8]) -> impl Iterator<Item = &[u8]> {
    names.split(|byte| *byte == b' ' || *byte == b'\t').filter(|name| !name.is_empty())
}

fn check_signed_names(names: &[u8]) -> Result<(), KeyPairError> {
    let mut count = 0;
    let mut has_date = false;
    for name in signed_names(names) {
        count += 1;
        if count > MAX_SIGNED_HEADERS || !name.iter().all(|&byte| is_tchar(byte)) {
            return Err(KeyPairError::HeadersInvalid);
        }
        has_date |= name.eq_ignore_ascii_case(b"date") || name.eq_ignore_ascii_case(b"x-date");
    }
    // An unsigned date would let a captured request be replayed forever.
    if !has_date {
        return Err(KeyPairError::HeadersInvalid);
    }
    Ok(())
}

/// Parses `hmac id="...", algorithm="...", headers="...", signature="..."` (scheme
/// case-insensitive; parameters in any order, separated by commas; values quoted or bare).
/// Unknown parameters are ignored; a repeated one is a format error.
pub fn parse_authorization(value: &[u8]) -> Result<Credentials<'_>, KeyPairError> {
    let value = value.trim_ascii();
    let scheme_end = value.iter().position(|&byte| byte == b' ' || byte == b'\t').unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case(b"hmac") {
        return Err(KeyPairError::Format);
    }
    let mut rest = &value[scheme_end..];
    let [mut id, mut algorithm, mut headers, mut signature]: [Option<&[u8]>; 4] = [None; 4];
    loop {
        rest = rest.trim_ascii_start();
        while let Some(after) = rest.strip_prefix(b",") {
            rest = after.trim_ascii_start();
        }
        if rest.is_empty() {
            break;
        }
        let equals = rest.iter().position(|&byte| byte == b'=').ok_or(KeyPairError::Format)?;
        let key = rest[..equals].trim_ascii();
        if key.is_empty() || !key.iter().all(|&byte| is_tchar(byte)) {
            return Err(KeyPairError::Format);
        }
        rest = rest[equals + 1..].trim_ascii_start();
        let parameter = if let Some(quoted) = rest.strip_prefix(b"\"") {
            let close = quoted.iter().position(|&byte| byte == b'"').ok_or(KeyPairError::Format)?;
            rest = &quoted[close + 1..];
            &quoted[..close]
        } else {
            let end = rest.iter().position(|&byte| byte == b',').unwrap_or(rest.len());
            let bare = rest[..end].trim_ascii();
            rest = &rest[end..];
            bare
        };
        let slot = if key.eq_ignore_ascii_case(b"id") {
            Some(&mut id)
        } else if key.eq_ignore_ascii_case(b"algorithm") {
            Some(&mut algorithm)
        } else if key.eq_ignore_ascii_case(b"headers") {
            Some(&mut headers)
        } else if key.eq_ignore_ascii_case(b"signature") {
            Some(&mut signature)
        } else {
            None
        };
        if slot.is_some_and(|slot| slot.replace(parameter).is_some()) {
            return Err(KeyPairError::Format);
        }
        let after = rest.trim_ascii_start();
        if !after.is_empty() && !after.starts_with(b",") {
            return Err(KeyPairError::Format);
        }
    }
    let (Some(id), Some(signature)) =
        (id.filter(|id| !id.is_empty()), signature.filter(|signature| !signature.is_empty()))
    else {
        return Err(KeyPairError::IdOrSignatureMissing);
    };
    let algorithm = algorithm.ok_or(KeyPairError::Format)?;
    let headers = headers.ok_or(KeyPairError::HeadersInvalid)?;
    Ok(Credentials { id, algorithm, headers, signature })
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Parses an IMF-fixdate (`Mon, 19 Mar 2018 12:08:40 GMT`, RFC 9110 §5.6.7, what Tencent's
/// examples send) into Unix seconds, with `httpdate`: a day the month does not have, a weekday
/// that is not the date's, a second 60 or a year before 1970 is not a date. The obsolete RFC 850
/// and asctime forms, which `httpdate` also reads, are refused.
pub fn parse_http_date(value: &[u8]) -> Option<i64> {
    let value = value.trim_ascii();
    // An IMF-fixdate is 29 bytes, `Day, ` first; the other two forms never are.
    if value.len() != 29 || value.get(3..5) != Some(b", ") {
        return None;
    }
    let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
    date.duration_since(std::time::UNIX_EPOCH).ok().map(|since| since.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate::parse_str, Overrides, Stage};
    use crate::http::{parse_request, RequestHead};
    use crate::route::PathParams;

    /// Tencent's documented Python client (`开发者指南/密钥对认证/Python.md`), transcribed:
    /// `signStr = "x-date: " + dateTime + "\n" + "source: " + source`,
    /// `base64.b64encode(hmac.new(SecretKey.encode(), signStr.encode(), hashlib.sha1).digest())`,
    /// `Authorization: hmac id="<SecretId>", algorithm="hmac-sha1", headers="x-date source", signature="<sign>"`.
    pub(crate) fn tencent_python_sign(
        secret_id: &str,
        secret_key: &str,
        date: &str,
        source: &str,
        algorithm: HmacAlgorithm,
    ) -> String {
        let sign_str = format!("x-date: {date}\nsource: {source}");
        let digest = match algorithm {
            HmacAlgorithm::Sha1 => mac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret_key, &sign_str),
            HmacAlgorithm::Sha256 => mac(hmac::HMAC_SHA256, secret_key, &sign_str),
            HmacAlgorithm::Sha384 => mac(hmac::HMAC_SHA384, secret_key, &sign_str),
            HmacAlgorithm::Sha512 => mac(hmac::HMAC_SHA512, secret_key, &sign_str),
        };
        let sign = base64::engine::general_purpose::STANDARD.encode(digest);
        format!(
            "hmac id=\"{secret_id}\", algorithm=\"{}\", headers=\"x-date source\", signature=\"{sign}\"",
            algorithm.as_str()
        )
    }

    fn mac(algorithm: hmac::Algorithm, key: &str, message: &str) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(algorithm, key.as_bytes()), message.as_bytes()).as_ref().to_vec()
    }

    const DATE: &str = "Mon, 19 Mar 2018 12:08:40 GMT";
    const DATE_SECS: i64 = 1_521_461_320;

    #[test]
    fn signing_string_matches_tencents_example() {
        let raw = format!("GET /release/x HTTP/1.1\r\nHost: h\r\nX-Date: {DATE}\r\nSource: AndriodApp\r\n\r\n");
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let captures = PathParams::default();
        let request = Request { buffer: raw.as_bytes(), head: &head, path: b"/x", captures: &captures, https: false };
        let mut signed = Vec::new();
        signing_string(&request, b"X-Date Source", |piece| signed.extend_from_slice(piece));
        // The Python example's `signStr`, byte for byte.
        assert_eq!(String::from_utf8(signed).unwrap(), format!("x-date: {DATE}\nsource: AndriodApp"));
    }

    #[test]
    fn python_example_known_answers() {
        // Produced by running Tencent's Python example (hmac + hashlib + base64) with
        // SecretKey "SecretKeyExample", the date above and source "AndriodApp".
        #[rustfmt::skip]
        let cases = [
            (HmacAlgorithm::Sha1, "pJerEIhMGDIzkDu9fa7opBFG1+Y="),
            (HmacAlgorithm::Sha256, "b+zbYSLQouqM3avzD+XyfulgFZ8bMIRjzrjlQ0943VU="),
            (HmacAlgorithm::Sha384, "OLjjDdAsHP9FX2VWM1bflxdvHqn/p1k6iPRKQRGlnTcIY1lGT0fHdhG29dAJ2YFb"),
            (HmacAlgorithm::Sha512, "TTH+wsssi2uUKrpZZJ/zJornYaeuBxIAdwlc0zriQZaaNyM5YKbggYMRHvKL1bjAHdw/w+8h9bai8qM9Vvg23Q=="),
        ];
        for (algorithm, expected) in cases {
            let header = tencent_python_sign("AKIDexample", "SecretKeyExample", DATE, "AndriodApp", algorithm);
            let credentials = parse_authorization(header.as_bytes()).unwrap();
            assert_eq!(credentials.signature, expected.as_bytes(), "{}", algorithm.as_str());
        }
    }

    #[test]
    fn parses_authorization() {
        fn ok(
            id: &'static str,
            algorithm: &'static str,
            headers: &'static str,
            signature: &'static str,
        ) -> Result<Credentials<'static>, KeyPairError> {
            Ok(Credentials {
                id: id.as_bytes(),
                algorithm: algorithm.as_bytes(),
                headers: headers.as_bytes(),
                signature: signature.as_bytes(),
            })
        }
        #[rustfmt::skip]
        let cases: &[(&str, Result<Credentials<'_>, KeyPairError>)] = &[
            (r#"hmac id="AK", algorithm="hmac-sha1", headers="x-date source", signature="c2ln""#, ok("AK", "hmac-sha1", "x-date source", "c2ln")),
            (r#"HMAC signature="c2ln",headers="date",id="AK",algorithm="hmac-sha256""#, ok("AK", "hmac-sha256", "date", "c2ln")),
            (r#"hmac id=AK, algorithm=hmac-sha1, headers="date", signature=c2ln=="#, ok("AK", "hmac-sha1", "date", "c2ln==")),
            (r#"hmac id="AK", realm="x", algorithm="hmac-sha1", headers="date", signature="c2ln""#, ok("AK", "hmac-sha1", "date", "c2ln")),
            (r#"Bearer abc"#, Err(KeyPairError::Format)),
            (r#"hmac"#, Err(KeyPairError::IdOrSignatureMissing)),
            (r#"hmac algorithm="hmac-sha1", headers="date", signature="c2ln""#, Err(KeyPairError::IdOrSignatureMissing)),
            (r#"hmac id="AK", algorithm="hmac-sha1", headers="date", signature="""#, Err(KeyPairError::IdOrSignatureMissing)),
            (r#"hmac id="AK", headers="date", signature="c2ln""#, Err(KeyPairError::Format)),
            (r#"hmac id="AK", algorithm="hmac-sha1", signature="c2ln""#, Err(KeyPairError::HeadersInvalid)),
            (r#"hmac id="AK", id="AK2", algorithm="hmac-sha1", headers="date", signature="c2ln""#, Err(KeyPairError::Format)),
            (r#"hmac id="AK, algorithm="hmac-sha1""#, Err(KeyPairError::Format)),
            (r#"hmac id="AK" algorithm="hmac-sha1""#, Err(KeyPairError::Format)),
            (r#"hmac realm="x" id="AK", algorithm="hmac-sha1", headers="date", signature="c2ln""#, Err(KeyPairError::Format)),
            (r#"hmac id"#, Err(KeyPairError::Format)),
        ];
        for (value, expected) in cases {
            assert_eq!(&parse_authorization(value.as_bytes()), expected, "{value}");
        }
    }

    #[test]
    fn http_dates() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<i64>)] = &[
            (DATE, Some(DATE_SECS)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),   // RFC 9110's example
            ("Tue, 29 Feb 2000 23:59:59 GMT", Some(951_868_799)),
            ("Mon, 19 Mar 2018 12:08:40 UTC", None),
            ("Monday, 19-Mar-18 12:08:40 GMT", None),
            ("Mon, 19 Foo 2018 12:08:40 GMT", None),
            ("Mon, 19 Mar 2018 25:08:40 GMT", None),
            ("", None),
            // Dates that are not, which only look right: httpdate checks the calendar.
            ("Tue, 31 Feb 2026 12:00:00 GMT", None),                // February has no 31st
            ("Sat, 29 Feb 2025 12:00:00 GMT", None),                // nor a 29th in 2025
            ("Sun, 01 Mar 2026 12:00:00 GMT", Some(1_772_366_400)),
            ("Mon, 01 Mar 2026 12:00:00 GMT", None),                // a Sunday: the weekday is wrong
            ("Mon, 19 Mar 2018 12:08:60 GMT", None),                // second 60
            ("Mon, 19 Mar 2018 12:60:40 GMT", None),
            ("Mon, 00 Mar 2018 12:08:40 GMT", None),
            ("Wed, 31 Dec 1969 23:59:59 GMT", None),                // before the epoch
            ("Mon, 19 Mar 2018 12:08:40 gmt", None),
            ("Mon,  19 Mar 2018 12:08:40 GMT", None),
            ("Mon, 19 Mar 2018 12:08:40 GMT ", Some(DATE_SECS)),   // surrounding space is not the date's
            ("Sun Nov  6 08:49:37 1994", None),                     // asctime, which httpdate reads
            ("Sunday, 06-Nov-94 08:49:37 GMT", None),               // RFC 850, likewise
        ];
        for (text, expected) in cases {
            assert_eq!(parse_http_date(text.as_bytes()), *expected, "{text}");
        }
    }

    const CONFIG: &str = r#"
[[service]]
id = "service-keys"
name = "keys"
stages = ["release", "test", "prepub"]

[[service.api]]
name = "signed"
path = "/signed"
method = "ANY"
auth = "key_pair"
function = { name = "far" }

[[usage_plan]]
name = "gold"
secret_ids = ["AKIDgold", "AKIDsilver"]
environments = [{ service = "service-keys", stage = "release" }]

[[usage_plan]]
name = "stage-wide"
max_requests_per_second = 10
environments = [{ service = "service-keys", stage = "prepub" }]

[[usage_plan]]
name = "other"
secret_ids = ["AKIDother"]
environments = [{ service = "service-keys", stage = "test" }]

[[secret]]
id = "AKIDgold"
key = "SecretKeyExample"

[[secret]]
id = "AKIDsilver"
key = "silver-key"

[[secret]]
id = "AKIDother"
key = "other-key"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;

    fn config() -> Config {
        parse_str(CONFIG, std::path::Path::new("/nonexistent/scfgate.toml"), &Overrides::default()).unwrap()
    }

    fn authenticate_raw(config: &Config, stage: Stage, raw: &str, now: i64) -> Result<Granted, KeyPairError> {
        let raw = &crate::policy::with_host(raw);
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let captures = PathParams::default();
        let request =
            Request { buffer: raw.as_bytes(), head: &head, path: b"/signed", captures: &captures, https: false };
        verify(config, &config.services[0].usage_plans[stage.index()], &request, now)
    }

    #[test]
    fn authenticates_like_tencent() {
        use KeyPairError::*;
        let config = config();
        let gold = config.secret(b"AKIDgold").unwrap();
        let silver = config.secret(b"AKIDsilver").unwrap();
        let signed = |id: &str, key: &str, algorithm| tencent_python_sign(id, key, DATE, "AndriodApp", algorithm);
        let sha1 = HmacAlgorithm::Sha1;
        let good = signed("AKIDgold", "SecretKeyExample", sha1);
        let with = |authorization: &str, extra: &str| {
            format!("GET /release/signed HTTP/1.1\r\nHost: h\r\nX-Date: {DATE}\r\nSource: AndriodApp\r\n{extra}Authorization: {authorization}\r\n\r\n")
        };
        let granted = |secret, key| Ok(Granted { secret, plan: PlanIndex::new(0), key });
        let bad_alg = good.replace("hmac-sha1", "hmac-md5");
        let no_date_signed = good.replace("x-date source", "source");
        let unlisted = good.replace("x-date source", "x-date source x-custom");
        #[rustfmt::skip]
        let cases: Vec<(Stage, String, i64, Result<Granted, KeyPairError>)> = vec![
            (Stage::Release, with(&good, ""), DATE_SECS, granted(gold, 0)),
            (Stage::Release, with(&good, ""), DATE_SECS + 900, granted(gold, 0)),
            (Stage::Release, with(&signed("AKIDsilver", "silver-key", HmacAlgorithm::Sha256), ""), DATE_SECS - 900, granted(silver, 1)),
            (Stage::Release, with(&signed("AKIDgold", "SecretKeyExample", HmacAlgorithm::Sha384), ""), DATE_SECS, granted(gold, 0)),
            (Stage::Release, with(&signed("AKIDgold", "SecretKeyExample", HmacAlgorithm::Sha512), ""), DATE_SECS, granted(gold, 0)),
            // spec §3.1 rule 1: X-Date within 900 s.
            (Stage::Release, with(&good, ""), DATE_SECS + 901, Err(XDateOutOfDate)),
            (Stage::Release, with(&good, ""), DATE_SECS - 901, Err(XDateOutOfDate)),
            (Stage::Release, format!("GET /release/signed HTTP/1.1\r\nX-Date: {DATE}\r\nSource: AndriodApp\r\n\r\n"), DATE_SECS, Err(MissingAuthorization)),
            (Stage::Release, with(&good, &format!("Authorization: {good}\r\n")), DATE_SECS, Err(MultipleHeaders)),
            (Stage::Release, with(&good, "Source: again\r\n"), DATE_SECS, Err(MultipleHeaders)),
            (Stage::Release, with(&bad_alg, ""), DATE_SECS, Err(Algorithm("hmac-md5".into()))),
            (Stage::Release, with(&no_date_signed, ""), DATE_SECS, Err(HeadersInvalid)),
            (Stage::Release, with(&unlisted, ""), DATE_SECS, Err(HeaderRequired("x-custom".into()))),
            (Stage::Release, with(&good.replace("AKIDgold", "AKIDnobody"), ""), DATE_SECS, Err(UnknownKey)),
            (Stage::Release, with(&signed("AKIDgold", "wrong-key", sha1), ""), DATE_SECS, Err(SignatureMismatch)),
            (Stage::Release, with(&good.replace("signature=\"", "signature=\"!"), ""), DATE_SECS, Err(SignatureMismatch)),
            (Stage::Release, with(&good, "").replace("Source: AndriodApp", "Source: Tampered"), DATE_SECS, Err(SignatureMismatch)),
            (Stage::Release, with(&good, "").replace(&format!("X-Date: {DATE}"), "X-Date: yesterday"), DATE_SECS, Err(XDateInvalid)),
            (Stage::Release, with(&good, "").replace(&format!("X-Date: {DATE}"), "X-Date: Mon, 19 Mar 2018 12:08:60 GMT"), DATE_SECS, Err(XDateInvalid)),
            (Stage::Release, with(&good, "").replace(&format!("X-Date: {DATE}"), "X-Date: Sun, 19 Mar 2018 12:08:40 GMT"), DATE_SECS, Err(XDateInvalid)),
            (Stage::Release, with("x", "").replace(&format!("X-Date: {DATE}\r\n"), ""), 0, Err(Format)),
            // Usage-plan binding: the key exists but is not bound to test; prepub has no key plan.
            (Stage::Test, with(&good, ""), DATE_SECS, Err(NotBound)),
            (Stage::Prepub, with(&good, ""), DATE_SECS, Err(NoUsagePlan)),
        ];
        for (stage, raw, now, expected) in cases {
            assert_eq!(authenticate_raw(&config, stage, &raw, now), expected, "{raw}");
        }
    }

    #[test]
    fn date_header_is_not_time_checked() {
        let config = config();
        // Signed over `date source` (the Python example's original form) a year after the date.
        let key = SecretKey::new(b"SecretKeyExample");
        let tag = hmac::sign(&key.sha1, format!("date: {DATE}\nsource: AndriodApp").as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(tag);
        let raw = format!(
            "GET /release/signed HTTP/1.1\r\nDate: {DATE}\r\nSource: AndriodApp\r\nAuthorization: hmac id=\"AKIDgold\", algorithm=\"hmac-sha1\", headers=\"date source\", signature=\"{signature}\"\r\n\r\n"
        );
        assert!(authenticate_raw(&config, Stage::Release, &raw, DATE_SECS + 86_400 * 365).is_ok());
        let no_date = raw.replace(&format!("Date: {DATE}\r\n"), "");
        assert_eq!(authenticate_raw(&config, Stage::Release, &no_date, DATE_SECS), Err(KeyPairError::DateRequired));
    }

    #[test]
    fn secret_keys_do_not_print() {
        assert_eq!(format!("{:?}", SecretKey::new(b"hunter2")), "SecretKey(..)");
    }
}
