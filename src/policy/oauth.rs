//! OAuth 2.0 (`auth = "oauth"`): the business API's check of Tencent's OAuth flow (spec §3.2). The
//! gateway verifies a JWT id_token locally with the public key configured as a JWK (RSA with
//! RS256/RS384/RS512, or EC P-256 with ES256), then checks `exp` (required), `nbf`, and `iss` /
//! `aud` when the API configures them. The verified claims reach the function as
//! `requestContext.identity`.
//!
//! The token comes from `Authorization: Bearer <jwt>`, Tencent's documented
//! `Authorization: Bearer id_token="<jwt>"`, or the header or cookie the API's `token_location`
//! names. Failures are 401 with Tencent's messages: `Oauth found no authorization header.`,
//! `Oauth authorization header format error.`, `Oauth found no id_token.`, and `Oauth id_token
//! verify error.` for every way a token can be wrong (the reason is logged at debug level).
//!
//! The token's header must name exactly the configured algorithm: a token cannot pick a weaker
//! one, or `none` (RFC 8725 §3.1). Times are compared with no leeway.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Repeated, Request};
use crate::config::{ApiIndex, OAuthSettings, TokenLocation};

pub mod jwk;

use jwk::BASE64URL;
pub use jwk::{parse_jwk, Algorithm, Jwk, PublicKey};

/// Why an OAuth request was refused; `crate::error` gives each its 401 and Tencent's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    /// The token location is `Authorization` and the request has none.
    NoAuthorizationHeader,
    /// The header is not `Bearer <jwt>` / `Bearer id_token="<jwt>"`, or appears twice.
    AuthorizationFormat,
    /// The header or cookie is absent, or holds an empty token.
    NoIdToken,
    /// The token is not a valid JWS for this API: malformed, wrong algorithm, bad signature,
    /// expired, not yet valid, or the wrong issuer or audience.
    VerifyFailed,
}

/// Parses `token_location`: `header:<Name>` or `cookie:<name>`.
pub fn parse_token_location(text: &str) -> Result<TokenLocation, String> {
    let usage = "use `header:<Name>` (e.g. `header:Authorization`) or `cookie:<name>`";
    let (kind, name) = text.split_once(':').ok_or_else(|| format!("`{text}`: {usage}"))?;
    let name = name.trim();
    let valid =
        !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
    if !valid {
        return Err(format!("`{text}`: `{name}` is not a header or cookie name; {usage}"));
    }
    match kind.trim().to_ascii_lowercase().as_str() {
        "header" if name.eq_ignore_ascii_case("authorization") => Ok(TokenLocation::Authorization),
        "header" => Ok(TokenLocation::Header(name.to_owned())),
        "cookie" => Ok(TokenLocation::Cookie(name.to_owned())),
        _ => Err(format!("`{text}`: {usage}")),
    }
}

/// Finds and verifies the request's token for API `api`; on success `claims` holds the token's
/// claims (a JSON object). `now` is Unix seconds. A token this worker verified before for the same
/// API is taken from `cache` (its time bounds checked again) instead of being verified again.
pub fn authenticate(
    settings: &OAuthSettings,
    api: ApiIndex,
    request: &Request<'_>,
    now: i64,
    cache: &mut TokenCache,
    scratch: &mut Vec<u8>,
    claims: &mut Vec<u8>,
) -> Result<(), OAuthError> {
    let token = find_token(&settings.token_location, request)?;
    if let Some(cached) = cache.get(api, token, now) {
        claims.clear();
        claims.extend_from_slice(cached);
        return Ok(());
    }
    match verify_token(token, settings, now, scratch, claims) {
        Ok(bounds) => {
            cache.insert(api, token, bounds, claims);
            Ok(())
        }
        Err(reason) => {
            tracing::debug!(reason, "OAuth id_token refused");
            Err(OAuthError::VerifyFailed)
        }
    }
}

/// Entries of a worker's [`TokenCache`].
const CACHE_SLOTS: usize = 256;

/// A worker's verified tokens, so that a client presenting the same token again costs a hash and
/// a comparison instead of an RSA or ECDSA verification (tens to hundreds of microseconds, see
/// `benches/policy.rs`). Direct-mapped: a new token replaces whatever shared its slot; refusals are
/// never cached. Keys cannot change while the gateway runs, so a verified token stays valid until
/// its `exp` (checked on every hit, like `nbf`).
#[derive(Debug)]
pub struct TokenCache {
    slots: Vec<Option<CachedToken>>,
}

#[derive(Debug)]
struct CachedToken {
    api: ApiIndex,
    token: Vec<u8>,
    bounds: TimeBounds,
    claims: Vec<u8>,
}

/// A verified token's validity window, from its `exp` and `nbf` claims (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBounds {
    /// `exp`: valid while now is before it.
    pub expires: f64,
    /// `nbf`: valid from it on.
    pub not_before: f64,
}

impl TimeBounds {
    fn contain(&self, now: i64) -> bool {
        let now = now as f64;
        now < self.expires && now >= self.not_before
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache { slots: (0..CACHE_SLOTS).map(|_| None).collect() }
    }
}

impl TokenCache {
    /// The claims of `token`, when it was verified for `api` and is still within its time bounds.
    pub fn get(&self, api: ApiIndex, token: &[u8], now: i64) -> Option<&[u8]> {
        let entry = self.slots[slot(api, token)].as_ref()?;
        (entry.api == api && same_bytes(&entry.token, token) && entry.bounds.contain(now))
            .then_some(entry.claims.as_slice())
    }

    /// Remembers a verified token. The slot's buffers are reused: once they have grown to a
    /// typical token's size, inserting allocates nothing.
    pub fn insert(&mut self, api: ApiIndex, token: &[u8], bounds: TimeBounds, claims: &[u8]) {
        let entry = self.slots[slot(api, token)].get_or_insert_with(|| CachedToken {
            api,
            token: Vec::new(),
            bounds,
            claims: Vec::new(),
        });
        entry.api = api;
        entry.bounds = bounds;
        entry.token.clear();
        entry.token.extend_from_slice(token);
        entry.claims.clear();
        entry.claims.extend_from_slice(claims);
    }
}

/// A word-at-a-time multiplicative hash (FxHash's step); its high bits pick the slot.
fn slot(api: ApiIndex, token: &[u8]) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = (api.get() as u64).wrapping_mul(K);
    for chunk in token.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    (hash >> 56) as usize % CACHE_SLOTS
}

/// Equality that looks at every byte (`crate::constant_time`): a bearer token is a credential, and
/// an early exit would tell a prober how much of a cached token it guessed.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    crate::constant_time::eq(a, b)
}

/// The token bytes, from where the API says they are.
pub fn find_token<'a>(location: &'a TokenLocation, request: &Request<'a>) -> Result<&'a [u8], OAuthError> {
    let token = match location {
        TokenLocation::Authorization => match request.single_header(b"authorization") {
            Err(Repeated) => return Err(OAuthError::AuthorizationFormat),
            Ok(None) => return Err(OAuthError::NoAuthorizationHeader),
            Ok(Some(value)) => bearer(value).ok_or(OAuthError::AuthorizationFormat)?,
        },
        TokenLocation::Header(name) => match request.single_header(name.as_bytes()) {
            Err(Repeated) => return Err(OAuthError::AuthorizationFormat),
            Ok(None) => return Err(OAuthError::NoIdToken),
            Ok(Some(value)) => bearer(value).unwrap_or(value.trim_ascii()),
        },
        TokenLocation::Cookie(name) => cookie(request, name.as_bytes()).ok_or(OAuthError::NoIdToken)?,
    };
    if token.is_empty() {
        return Err(OAuthError::NoIdToken);
    }
    Ok(token)
}

/// `Bearer <jwt>` or `Bearer id_token="<jwt>"` (quotes optional) -> the token; `None` when the
/// value is not in the Bearer scheme (RFC 6750 §2.1; the id_token form is Tencent's).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let rest = &value[6..];
    if !rest.is_empty() && !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
        return None;
    }
    let rest = rest.trim_ascii();
    match rest.get(..9) {
        Some(prefix) if prefix.eq_ignore_ascii_case(b"id_token=") => unquote(rest[9..].trim_ascii()),
        _ => Some(rest),
    }
}

/// `"value"` -> `value`; a bare value as it is; an unbalanced quote -> `None`.
fn unquote(value: &[u8]) -> Option<&[u8]> {
    match value.strip_prefix(b"\"") {
        Some(inner) => inner.strip_suffix(b"\""),
        None => Some(value),
    }
}

/// The value of cookie `name` from the request's `Cookie` fields (RFC 6265 §5.4: `a=b; c=d`).
fn cookie<'a>(request: &Request<'a>, name: &[u8]) -> Option<&'a [u8]> {
    request.header_values(b"cookie").flat_map(|field| field.split(|&byte| byte == b';')).find_map(|pair| {
        let pair = pair.trim_ascii();
        let equals = pair.iter().position(|&byte| byte == b'=')?;
        (pair[..equals].trim_ascii() == name).then(|| unquote(pair[equals + 1..].trim_ascii()).unwrap_or_default())
    })
}

#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims<'a> {
    exp: Option<f64>,
    nbf: Option<f64>,
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    aud: Option<Audience<'a>>,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
enum Audience<'a> {
    One(Cow<'a, str>),
    // Only an array `aud` allocates, and only on OAuth APIs.
    Many(Vec<String>),
}

impl Audience<'_> {
    fn contains(&self, expected: &str) -> bool {
        match self {
            Audience::One(one) => one == expected,
            Audience::Many(many) => many.iter().any(|one| one == expected),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for AudienceVisitor<'a> {
            type Value = Audience<'a>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Owned(value.to_owned())))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut sequence: S) -> Result<Self::Value, S::Error> {
                let mut many = Vec::new();
                while let Some(one) = sequence.next_element::<String>()? {
                    many.push(one);
                }
                Ok(Audience::Many(many))
            }
        }
        deserializer.deserialize_any(AudienceVisitor(std::marker::PhantomData))
    }
}

/// Verifies a compact JWS (`header.payload.signature`) and its claims; the decoded payload is left
/// in `claims`, and the token's time bounds are returned. The error is the reason, for the debug
/// log.
pub fn verify_token(
    token: &[u8],
    settings: &OAuthSettings,
    now: i64,
    scratch: &mut Vec<u8>,
    claims: &mut Vec<u8>,
) -> Result<TimeBounds, &'static str> {
    let first_dot = memchr::memchr(b'.', token).ok_or("not header.payload.signature")?;
    let second_dot =
        first_dot + 1 + memchr::memchr(b'.', &token[first_dot + 1..]).ok_or("not header.payload.signature")?;
    let signature_b64 = &token[second_dot + 1..];
    if memchr::memchr(b'.', signature_b64).is_some() {
        return Err("more than three parts (an encrypted JWE?)");
    }

    decode(scratch, &token[..first_dot]).map_err(|()| "header is not base64url")?;
    if !is_object(scratch) {
        return Err("header is not a JSON object");
    }
    let header: JoseHeader<'_> = serde_json::from_slice(scratch).map_err(|_| "header is not a JOSE header")?;
    // RFC 7515 §4.1.11: extensions we do not understand must make the token invalid.
    if header.crit.is_some() {
        return Err("header has `crit` extensions");
    }
    if header.alg != settings.algorithm.as_str() {
        return Err("header `alg` is not the API's algorithm");
    }

    decode(scratch, signature_b64).map_err(|()| "signature is not base64url")?;
    settings.key.verify(settings.algorithm, &token[..second_dot], scratch)?;

    decode(claims, &token[first_dot + 1..second_dot]).map_err(|()| "payload is not base64url")?;
    if !is_object(claims) {
        return Err("payload is not a JSON object");
    }
    let parsed: Claims<'_> = serde_json::from_slice(claims).map_err(|_| "payload claims have the wrong types")?;
    let bounds = TimeBounds {
        expires: parsed.exp.ok_or("no `exp` claim")?,
        not_before: parsed.nbf.unwrap_or(f64::NEG_INFINITY),
    };
    if (now as f64) >= bounds.expires {
        return Err("expired (`exp`)");
    }
    if !bounds.contain(now) {
        return Err("not valid yet (`nbf`)");
    }
    if let Some(expected) = &settings.issuer {
        if parsed.iss.as_deref() != Some(expected.as_str()) {
            return Err("wrong issuer (`iss`)");
        }
    }
    if let Some(expected) = &settings.audience {
        if !parsed.aud.is_some_and(|aud| aud.contains(expected)) {
            return Err("wrong audience (`aud`)");
        }
    }
    Ok(bounds)
}

/// base64url-decodes `input` into `out` (replaced), reusing its capacity.
fn decode(out: &mut Vec<u8>, input: &[u8]) -> Result<(), ()> {
    out.clear();
    BASE64URL.decode_vec(input, out).map_err(|_| ())
}

fn is_object(json: &[u8]) -> bool {
    json.trim_ascii_start().starts_with(b"{")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::{parse_request, RequestHead};
    use crate::route::PathParams;
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
    use std::sync::OnceLock;

    /// The RSA key tests sign with: fixed (ring does not generate RSA keys), 3072 bits, PKCS#1 DER.
    pub(crate) const RSA_3072_DER: &[u8] = include_bytes!("../../tests/fixtures/jwt/rsa-3072.der");

    /// A 1024-bit RSA key (PKCS#1 DER), for the refusals: ring will not even load it to sign.
    pub(crate) const RSA_1024_DER: &[u8] = include_bytes!("../../tests/fixtures/jwt/rsa-1024.der");

    pub(crate) fn rsa_key() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::from_der(RSA_3072_DER).unwrap())
    }

    pub(crate) fn rsa_jwk(key: &RsaKeyPair) -> String {
        let public: RsaPublicKeyComponents<Vec<u8>> = key.public().into();
        let b64 = |part: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part);
        format!(r#"{{"kty":"RSA","e":"{}","n":"{}"}}"#, b64(&public.e), b64(&public.n))
    }

    /// An RSASSA-PKCS1-v1_5 signature of `message` with `key`.
    pub(crate) fn rsa_sign(key: &RsaKeyPair, padding: &'static dyn signature::RsaEncoding, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(padding, &SystemRandom::new(), message, &mut signature).unwrap();
        signature
    }

    /// A new P-256 key.
    pub(crate) fn ec_key() -> EcdsaKeyPair {
        let algorithm = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &SystemRandom::new()).unwrap();
        EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref(), &SystemRandom::new()).unwrap()
    }

    pub(crate) fn ec_jwk(key: &EcdsaKeyPair) -> String {
        let bytes = key.public_key().as_ref();
        let b64 = |part: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part);
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#, b64(&bytes[1..33]), b64(&bytes[33..]))
    }

    /// An ES256 signature (R || S) of `message` with `key`.
    pub(crate) fn es256_sign(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
        key.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()
    }

    /// A compact JWS of `header` and `payload` (JSON text), signed as `alg` says.
    pub(crate) fn sign(header: &str, payload: &str, signer: &dyn Fn(&[u8]) -> Vec<u8>) -> String {
        let b64 = |part: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let signature = signer(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    fn rs256(message: &[u8]) -> Vec<u8> {
        rsa_sign(rsa_key(), &signature::RSA_PKCS1_SHA256, message)
    }

    fn settings(jwk: &str, algorithm: Option<Algorithm>, location: TokenLocation) -> OAuthSettings {
        let jwk = parse_jwk(jwk).unwrap();
        OAuthSettings {
            algorithm: algorithm.or(jwk.algorithm).unwrap_or(jwk.key.default_algorithm()),
            key: jwk.key,
            token_location: location,
            issuer: Some("https://auth.example.com".into()),
            audience: Some("scfgate".into()),
        }
    }

    const NOW: i64 = 1_700_000_000;

    fn claims(extra: &str) -> String {
        format!(
            r#"{{"sub":"alice","iss":"https://auth.example.com","aud":["other","scfgate"],"exp":{},"iat":{NOW}{extra}}}"#,
            NOW + 60
        )
    }

    fn check(settings: &OAuthSettings, raw: &str) -> Result<String, OAuthError> {
        let raw = &crate::policy::with_host(raw);
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let captures = PathParams::default();
        let request = Request { buffer: raw.as_bytes(), head: &head, path: b"/", captures: &captures, https: false };
        let mut claims = Vec::new();
        match authenticate(
            settings,
            ApiIndex::new(0),
            &request,
            NOW,
            &mut TokenCache::default(),
            &mut Vec::new(),
            &mut claims,
        ) {
            Ok(()) => Ok(String::from_utf8(claims).unwrap()),
            Err(error) => Err(error),
        }
    }

    #[test]
    fn rsa_tokens() {
        use OAuthError::*;
        let settings = settings(&rsa_jwk(rsa_key()), None, TokenLocation::Authorization);
        let header = r#"{"alg":"RS256","typ":"JWT"}"#;
        let good = sign(header, &claims(""), &rs256);
        let request = |authorization: &str| {
            format!("GET /release/x HTTP/1.1\r\nHost: h\r\nAuthorization: {authorization}\r\n\r\n")
        };
        let tampered = {
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims(r#","admin":true"#));
            parts.join(".")
        };
        #[rustfmt::skip]
        let cases: Vec<(String, Result<String, OAuthError>)> = vec![
            (request(&format!("Bearer {good}")), Ok(claims(""))),
            // Tencent's documented form.
            (request(&format!("Bearer id_token=\"{good}\"")), Ok(claims(""))),
            (request(&format!("bearer  id_token={good}")), Ok(claims(""))),
            ("GET /release/x HTTP/1.1\r\nHost: h\r\n\r\n".into(), Err(NoAuthorizationHeader)),
            (request(&format!("Basic {good}")), Err(AuthorizationFormat)),
            (request(&format!("Bearer{good}")), Err(AuthorizationFormat)),
            (request("Bearer"), Err(NoIdToken)),
            (request("Bearer id_token=\"\""), Err(NoIdToken)),
            (request(&format!("Bearer id_token=\"{good}")), Err(AuthorizationFormat)),
            (request(&tampered), Err(AuthorizationFormat)),
            (request(&format!("Bearer {tampered}")), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, &claims(""), &|_| vec![0; 384]))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(r#"{"alg":"RS512"}"#, &claims(""), &|m| rsa_sign(rsa_key(), &signature::RSA_PKCS1_SHA512, m)))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(r#"{"alg":"none"}"#, &claims(""), &|_| Vec::new()))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(r#"{"alg":"RS256","crit":["exp"]}"#, &claims(""), &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, &claims("").replace(&format!("{}", NOW + 60), &NOW.to_string()), &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, &claims(&format!(r#","nbf":{}"#, NOW + 1)), &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, &claims(&format!(r#","nbf":{NOW}"#)), &rs256))), Ok(claims(&format!(r#","nbf":{NOW}"#)))),
            (request(&format!("Bearer {}", sign(header, r#"{"sub":"alice","iss":"https://auth.example.com","aud":"scfgate"}"#, &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, &claims("").replace("auth.example.com", "evil.example.com"), &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, &claims("").replace(r#"["other","scfgate"]"#, r#""scfgate""#), &rs256))), Ok(claims("").replace(r#"["other","scfgate"]"#, r#""scfgate""#))),
            (request(&format!("Bearer {}", sign(header, &claims("").replace(r#"["other","scfgate"]"#, r#""other""#), &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {}", sign(header, "[1,2]", &rs256))), Err(VerifyFailed)),
            (request(&format!("Bearer {good}.extra")), Err(VerifyFailed)),
            (request("Bearer not-a-jwt"), Err(VerifyFailed)),
        ];
        for (raw, expected) in cases {
            assert_eq!(check(&settings, &raw), expected, "{raw}");
        }
    }

    #[test]
    fn verified_tokens_are_cached_per_api_until_they_expire() {
        let settings = settings(&rsa_jwk(rsa_key()), None, TokenLocation::Authorization);
        let token = sign(r#"{"alg":"RS256"}"#, &claims(r#","nbf":1699999990"#), &rs256);
        let raw = crate::policy::with_host(&format!("GET / HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"));
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let captures = PathParams::default();
        let request = Request { buffer: raw.as_bytes(), head: &head, path: b"/", captures: &captures, https: false };
        let mut cache = TokenCache::default();
        let mut claims_out = Vec::new();
        authenticate(&settings, ApiIndex::new(3), &request, NOW, &mut cache, &mut Vec::new(), &mut claims_out).unwrap();
        let expected = claims(r#","nbf":1699999990"#);
        #[rustfmt::skip]
        let cases: &[(usize, &str, i64, Option<&str>)] = &[
            (3, &token, NOW, Some(&expected)),
            (3, &token, NOW + 59, Some(&expected)),
            (3, &token, NOW + 60, None),                   // `exp` is checked on every hit
            (3, &token, 1_699_999_989, None),              // and `nbf`
            (4, &token, NOW, None),                        // another API's settings never verified it
            (3, &token[..token.len() - 1], NOW, None),
        ];
        for (api, token, now, expected) in cases {
            let hit = cache
                .get(ApiIndex::new(*api), token.as_bytes(), *now)
                .map(|claims| String::from_utf8(claims.to_vec()).unwrap());
            assert_eq!(hit.as_deref(), *expected, "api {api} at {now}");
        }
        // A hit fills the claims without verifying.
        let mut again = Vec::new();
        authenticate(&settings, ApiIndex::new(3), &request, NOW + 1, &mut cache, &mut Vec::new(), &mut again).unwrap();
        assert_eq!(String::from_utf8(again).unwrap(), expected);
    }

    #[test]
    fn ec_tokens_and_other_locations() {
        let key = ec_key();
        let es256 = |message: &[u8]| es256_sign(&key, message);
        let token = sign(r#"{"alg":"ES256"}"#, &claims(""), &es256);
        let header_settings = settings(&ec_jwk(&key), None, TokenLocation::Header("X-Id-Token".into()));
        let cookie_settings = settings(&ec_jwk(&key), Some(Algorithm::Es256), TokenLocation::Cookie("id_token".into()));
        #[rustfmt::skip]
        let cases: Vec<(&OAuthSettings, String, Result<String, OAuthError>)> = vec![
            (&header_settings, format!("GET / HTTP/1.1\r\nx-id-token: {token}\r\n\r\n"), Ok(claims(""))),
            (&header_settings, format!("GET / HTTP/1.1\r\nX-Id-Token: Bearer {token}\r\n\r\n"), Ok(claims(""))),
            (&header_settings, format!("GET / HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"), Err(OAuthError::NoIdToken)),
            (&header_settings, format!("GET / HTTP/1.1\r\nX-Id-Token: {token}\r\nX-Id-Token: {token}\r\n\r\n"), Err(OAuthError::AuthorizationFormat)),
            (&cookie_settings, format!("GET / HTTP/1.1\r\nCookie: theme=dark; id_token={token}\r\n\r\n"), Ok(claims(""))),
            (&cookie_settings, format!("GET / HTTP/1.1\r\nCookie: theme=dark\r\nCookie: id_token=\"{token}\"\r\n\r\n"), Ok(claims(""))),
            (&cookie_settings, "GET / HTTP/1.1\r\nCookie: theme=dark\r\n\r\n".into(), Err(OAuthError::NoIdToken)),
            (&cookie_settings, format!("GET / HTTP/1.1\r\nCookie: ID_TOKEN={token}\r\n\r\n"), Err(OAuthError::NoIdToken)),
            (&cookie_settings, format!("GET / HTTP/1.1\r\nCookie: id_token={}\r\n\r\n", sign(r#"{"alg":"RS256"}"#, &claims(""), &rs256)), Err(OAuthError::VerifyFailed)),
        ];
        for (settings, raw, expected) in cases {
            assert_eq!(check(settings, &raw), expected, "{raw}");
        }
    }

    #[test]
    fn jwk_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("not json", "is not a JWK (JSON object): expected ident at line 1 column 2"),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#, "has \"kty\": \"oct\"; supported: RSA, EC"),
            (r#"{"e":"AQAB"}"#, "has no `kty`"),
            (r#"{"kty":"RSA","e":"AQAB"}"#, "has no `n`"),
            (r#"{"kty":"RSA","e":"AQAB","n":"***"}"#, "`n` is not base64url"),
            (r#"{"kty":"RSA","e":"AQAB","n":"AQAB"}"#, "is not a usable RSA key: a 17-bit modulus; at least 2048 bits are required"),
            (r#"{"kty":"RSA","e":"AQAB","n":"AQAB","d":"AQAB"}"#, "is a private key (it has `d`); give the public JWK only"),
            (r#"{"kty":"RSA","e":"AQAB","n":"AQAB","use":"enc"}"#, "has \"use\": \"enc\"; a token-verifying key must be \"sig\""),
            (r#"{"kty":"RSA","e":"AQAB","n":"AQAB","alg":"HS256"}"#, "has \"alg\": \"HS256\"; supported: RS256, RS384, RS512, ES256"),
            (r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#, "has \"crv\": \"P-384\"; only P-256 (ES256) is supported"),
            (r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#, "`x` and `y` must be 32 bytes each for P-256"),
            (r#"{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#, "`x`/`y` is not a point on P-256"),
        ];
        for (jwk, expected) in cases {
            assert_eq!(parse_jwk(jwk).map(|_| ()), Err(expected.to_string()), "{jwk}");
        }
        let ec = ec_jwk(&ec_key()).replace("{", r#"{"alg":"RS256","#);
        assert_eq!(
            parse_jwk(&ec).map(|_| ()),
            Err("has \"alg\": \"RS256\", which its key type cannot verify".to_string())
        );
        let rsa = parse_jwk(&rsa_jwk(rsa_key())).unwrap();
        assert_eq!((format!("{:?}", rsa.key), rsa.algorithm), ("PublicKey::Rsa(3072 bits)".to_string(), None));
    }

    #[test]
    fn token_locations() {
        #[rustfmt::skip]
        let cases: &[(&str, Result<TokenLocation, &str>)] = &[
            ("header:Authorization", Ok(TokenLocation::Authorization)),
            ("HEADER: authorization", Ok(TokenLocation::Authorization)),
            ("header:X-Id-Token", Ok(TokenLocation::Header("X-Id-Token".into()))),
            ("cookie:id_token", Ok(TokenLocation::Cookie("id_token".into()))),
            ("query:token", Err("`query:token`: use `header:<Name>` (e.g. `header:Authorization`) or `cookie:<name>`")),
            ("Authorization", Err("`Authorization`: use `header:<Name>` (e.g. `header:Authorization`) or `cookie:<name>`")),
            ("cookie:", Err("`cookie:`: `` is not a header or cookie name; use `header:<Name>` (e.g. `header:Authorization`) or `cookie:<name>`")),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_token_location(text), expected.clone().map_err(str::to_owned), "{text}");
        }
    }

    /// `n` and `e` of a PKCS#1 `RSAPrivateKey` (DER): `SEQUENCE { version, n, e, ... }`.
    pub(crate) fn pkcs1_public(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn element(der: &[u8]) -> (&[u8], &[u8]) {
            let (length, header) = match der[1] {
                short @ 0..=0x7f => (usize::from(short), 2),
                long => {
                    let count = usize::from(long & 0x7f);
                    (der[2..2 + count].iter().fold(0, |total, &byte| total << 8 | usize::from(byte)), 2 + count)
                }
            };
            (&der[header..header + length], &der[header + length..])
        }
        let (sequence, _) = element(der);
        let (_version, rest) = element(sequence);
        let (n, rest) = element(rest);
        let (e, _) = element(rest);
        let strip = |bytes: &[u8]| bytes.iter().copied().skip_while(|&byte| byte == 0).collect::<Vec<u8>>();
        (strip(n), strip(e))
    }

    /// The public JWK of [`RSA_1024_DER`].
    pub(crate) fn rsa_1024_jwk() -> String {
        let b64 = |part: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part);
        let (n, e) = pkcs1_public(RSA_1024_DER);
        format!(r#"{{"kty":"RSA","e":"{}","n":"{}"}}"#, b64(&e), b64(&n))
    }

    /// RSA keys under 2048 bits: refused as JWKs, and refused by the verifier if one got through.
    #[test]
    fn short_rsa_keys_are_refused() {
        let b64 = |part: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part);
        let (n, e) = pkcs1_public(RSA_1024_DER);
        let short = rsa_1024_jwk();
        let (n3072, _) = pkcs1_public(RSA_3072_DER);
        let mut even = n3072.clone();
        *even.last_mut().unwrap() &= 0xfe;
        let n2047 = {
            let mut n = n3072[n3072.len() - 256..].to_vec();
            n[0] = 0x7f;
            n
        };
        let n2048 = {
            let mut n = n3072[n3072.len() - 256..].to_vec();
            n[0] |= 0x80;
            n
        };
        let jwk = |n: &[u8], e: &[u8]| format!(r#"{{"kty":"RSA","e":"{}","n":"{}"}}"#, b64(e), b64(n));
        #[rustfmt::skip]
        let cases: Vec<(String, Result<(), String>)> = vec![
            (short, Err("is not a usable RSA key: a 1024-bit modulus; at least 2048 bits are required".into())),
            (jwk(&n2047, &e), Err("is not a usable RSA key: a 2047-bit modulus; at least 2048 bits are required".into())),
            (jwk(&[[0u8].as_slice(), &n2048].concat(), &e), Ok(())),   // 2048 bits, a leading zero
            (jwk(&[0xff; 1025], &e), Err("is not a usable RSA key: a 8200-bit modulus; at most 8192 bits are supported".into())),
            (jwk(&even, &e), Err("is not a usable RSA key: `n` is even".into())),
            (jwk(&n3072, &[1]), Err("is not a usable RSA key: `e` must be odd, from 3 to 2^33 - 1".into())),
            (jwk(&n3072, &[4]), Err("is not a usable RSA key: `e` must be odd, from 3 to 2^33 - 1".into())),
            (jwk(&n3072, &[2, 0, 0, 0, 1]), Err("is not a usable RSA key: `e` must be odd, from 3 to 2^33 - 1".into())),
            (jwk(&n3072, &[1, 0xff, 0xff, 0xff, 0xff]), Ok(())),
            (jwk(&n3072, &[0, 0, 3]), Ok(())),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_jwk(&text).map(|_| ()), expected, "{text}");
        }

        // A 1024-bit key that skipped the JWK check still verifies nothing: ring's
        // RSA_PKCS1_2048_8192_* refuse it. The signature itself is good (jsonwebtoken verifies it).
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let token = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": "alice", "exp": NOW + 60}),
            &jsonwebtoken::EncodingKey::from_rsa_der(RSA_1024_DER),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_rsa_raw_components(&n, &e),
            &validation,
        )
        .expect("jsonwebtoken verifies the 1024-bit signature");
        let key =
            PublicKey::Rsa(jwk::RsaKey { components: RsaPublicKeyComponents { n: n.into(), e: e.into() }, bits: 1024 });
        let (message, signature) = token.rsplit_once('.').unwrap();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(key.verify(Algorithm::Rs256, message.as_bytes(), &signature), Err("signature does not verify"));
    }
}
