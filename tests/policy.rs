//! Frontend policies (issue 3) against the real binary: declared params, key-pair HMAC, OAuth 2.0
//! JWTs, CORS (a browser-shaped preflight), the protocol check and usage-plan limits. Every
//! Tencent message the gateway answers with is pinned here, table-driven, one case per line.
//!
//! Clients sign requests as Tencent's documented Python example does; JWTs are signed with keys
//! made here. Rate limits are asserted as counts of 200 and 429 over a burst, never as timings.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{concurrently, http_date, request_bytes, Gateway, RemoteEndpoint, Reply, Response};
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{json, Value};

/// Request header fields, in order.
type Headers = Vec<(String, String)>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

// ---------------------------------------------------------------------------------------------
// Clients: Tencent's key-pair signature and JWTs.
// ---------------------------------------------------------------------------------------------

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Tencent's Python example, generalised over its header list: `signStr` is each header as
/// `name: value` (name lower-cased) joined by `\n`; the signature is base64 of HMAC-SHA1 (or the
/// algorithm named) with the SecretKey.
fn authorization(secret_id: &str, secret_key: &str, algorithm: &str, headers: &[(&str, &str)]) -> String {
    let sign_str =
        headers.iter().map(|(name, value)| format!("{}: {value}", name.to_lowercase())).collect::<Vec<_>>().join("\n");
    let digest = match algorithm {
        "hmac-sha1" => mac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret_key, &sign_str),
        "hmac-sha256" => mac(hmac::HMAC_SHA256, secret_key, &sign_str),
        "hmac-sha384" => mac(hmac::HMAC_SHA384, secret_key, &sign_str),
        _ => mac(hmac::HMAC_SHA512, secret_key, &sign_str),
    };
    let names = headers.iter().map(|(name, _)| name.to_lowercase()).collect::<Vec<_>>().join(" ");
    format!(
        "hmac id=\"{secret_id}\", algorithm=\"{algorithm}\", headers=\"{names}\", signature=\"{}\"",
        B64.encode(digest)
    )
}

fn mac(algorithm: hmac::Algorithm, key: &str, message: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(algorithm, key.as_bytes()), message.as_bytes()).as_ref().to_vec()
}

/// The headers of a request signed the documented way: `X-Date`, `Source`, `Authorization`.
fn signed(secret_id: &str, secret_key: &str, algorithm: &str, date: &str) -> Headers {
    let source = "AndriodApp";
    vec![
        ("X-Date".into(), date.into()),
        ("Source".into(), source.into()),
        (
            "Authorization".into(),
            authorization(secret_id, secret_key, algorithm, &[("x-date", date), ("source", source)]),
        ),
    ]
}

struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
}

impl Keys {
    /// One pair per test run. The RSA key is a fixed 3072-bit one (ring does not generate RSA
    /// keys); the P-256 key is new.
    fn get() -> &'static Keys {
        static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let p256 = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(p256, &SystemRandom::new()).unwrap();
            Keys {
                rsa: RsaKeyPair::from_der(include_bytes!("fixtures/jwt/rsa-3072.der")).unwrap(),
                ec: EcdsaKeyPair::from_pkcs8(p256, pkcs8.as_ref(), &SystemRandom::new()).unwrap(),
            }
        })
    }

    fn rsa_jwk(&self) -> String {
        let public: RsaPublicKeyComponents<Vec<u8>> = self.rsa.public().into();
        format!(
            r#"{{"kty":"RSA","alg":"RS256","e":"{}","n":"{}"}}"#,
            B64URL.encode(&public.e),
            B64URL.encode(&public.n)
        )
    }

    fn ec_jwk(&self) -> String {
        let bytes = self.ec.public_key().as_ref();
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            B64URL.encode(&bytes[1..33]),
            B64URL.encode(&bytes[33..])
        )
    }

    fn rs256(&self, claims: &Value) -> String {
        jwt(r#"{"alg":"RS256","typ":"JWT"}"#, claims, |input| {
            let mut signature = vec![0; self.rsa.public().modulus_len()];
            self.rsa.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut signature).unwrap();
            signature
        })
    }

    fn es256(&self, claims: &Value) -> String {
        jwt(r#"{"alg":"ES256","typ":"JWT"}"#, claims, |input| {
            self.ec.sign(&SystemRandom::new(), input).unwrap().as_ref().to_vec()
        })
    }
}

/// `token` with its last character changed (a signature that no longer verifies).
fn flip_last(token: &str) -> String {
    let (kept, last) = token.split_at(token.len() - 1);
    format!("{kept}{}", if last == "A" { "B" } else { "A" })
}

fn jwt(header: &str, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims.to_string()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", B64URL.encode(signature))
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.
// ---------------------------------------------------------------------------------------------

const SECRET_GOLD: &str = "gold-secret-key";

/// One service with an API per policy; `cors` and `throttled` APIs call `remote` so that the
/// tests can count invocations.
fn config(keys: &Keys, remote: &RemoteEndpoint) -> String {
    format!(
        r#"
[[service]]
id = "service-policy01"
name = "policy"
stages = ["release", "test", "prepub"]

[[service.api]]
name = "params"
path = "/items/{{id}}"
method = "GET"
function = {{ name = "echo" }}

[[service.api.param]]
name = "id"
position = "path"
type = "long"
required = true

[[service.api.param]]
name = "q"
position = "query"
required = true

[[service.api.param]]
name = "page"
position = "query"
type = "int"
default = "1"

[[service.api.param]]
name = "when"
position = "query"
type = "date"

[[service.api.param]]
name = "X-Token"
position = "header"
required = true

[[service.api.param]]
name = "X-Ratio"
position = "header"
type = "double"

[[service.api]]
name = "signed"
path = "/signed"
method = "ANY"
auth = "key_pair"
function = {{ name = "echo" }}

[[service.api]]
name = "limited"
path = "/limited"
method = "GET"
auth = "key_pair"
function = {{ name = "remote" }}

[[service.api]]
name = "oauth"
path = "/oauth"
method = "GET"
auth = "oauth"
function = {{ name = "echo" }}

[service.api.oauth]
public_key = '{rsa}'
iss = "https://auth.example.com"
aud = "scfgate"

[[service.api]]
name = "oauth-cookie"
path = "/oauth-cookie"
method = "GET"
auth = "oauth"
function = {{ name = "echo" }}

[service.api.oauth]
public_key = '{ec}'
token_location = "cookie:id_token"

[[service.api]]
name = "cors"
path = "/cors"
method = "POST"
cors = true
function = {{ name = "remote" }}

[[service.api.param]]
name = "n"
position = "query"
type = "int"

[[service.api]]
name = "cors-integrated"
path = "/cors-integrated"
method = "GET"
cors = true
integrated_response = true
function = {{ name = "echo-integrated" }}

[[service.api]]
name = "cors-origins"
path = "/cors-origins"
method = "GET"
cors = true
cors_origins = ["https://app.example.com"]
function = {{ name = "remote" }}

[[service.api]]
name = "plain-get"
path = "/plain"
method = "GET"
function = {{ name = "remote" }}

[[service.api]]
name = "plain-any"
path = "/any"
method = "ANY"
function = {{ name = "remote" }}

[[service.api]]
name = "secure"
path = "/secure"
method = "GET"
protocol = "https"
cors = true
function = {{ name = "remote" }}

[[service]]
id = "service-throttled01"
name = "throttled"
stages = ["release"]

[[service.api]]
name = "open"
path = "/open"
method = "GET"
function = {{ name = "remote" }}

[[usage_plan]]
name = "gold"
secret_ids = ["AKIDgold"]
environments = [{{ service = "service-policy01", stage = "release" }}]

[[usage_plan]]
name = "burst"
secret_ids = ["AKIDburst"]
max_requests_per_second = 2
environments = [{{ service = "service-policy01", stage = "release" }}]

[[usage_plan]]
name = "daily"
secret_ids = ["AKIDdaily"]
quota_per_day = 4
environments = [{{ service = "service-policy01", stage = "release" }}]

[[usage_plan]]
name = "other"
secret_ids = ["AKIDother"]
environments = [{{ service = "service-policy01", stage = "test" }}]

[[usage_plan]]
name = "stage-wide"
max_requests_per_second = 2
environments = [{{ service = "service-throttled01", stage = "release" }}]

[[secret]]
id = "AKIDgold"
key = "{SECRET_GOLD}"

[[secret]]
id = "AKIDburst"
key = "burst-secret-key"

[[secret]]
id = "AKIDdaily"
key = "daily-secret-key"

[[secret]]
id = "AKIDother"
key = "other-secret-key"

[[function]]
name = "echo"
runtime = "custom"
code = "functions/echo"

[[function]]
name = "echo-integrated"
runtime = "custom"
code = "functions/echo-integrated"

[[function]]
name = "remote"
runtime = "remote"
invoke_url = "{url}"
"#,
        rsa = keys.rsa_jwk(),
        ec = keys.ec_jwk(),
        url = remote.url("/invoke"),
    )
}

struct Setup {
    keys: &'static Keys,
    remote: RemoteEndpoint,
    gateway: Gateway,
}

fn start() -> Setup {
    let keys = Keys::get();
    let remote = RemoteEndpoint::start(Reply::echo());
    let gateway = Gateway::builder(&config(keys, &remote))
        .function("functions/echo", "echo")
        .function("functions/echo-integrated", "echo-integrated")
        .start();
    Setup { keys, remote, gateway }
}

fn request(gateway: &Gateway, method: &str, path: &str, headers: &[(String, String)]) -> Response {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    gateway.request(method, path, &headers, b"")
}

fn owned(headers: &[(&str, &str)]) -> Headers {
    headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

/// `(status, message)` of a gateway refusal, or `(200, "")`.
fn outcome(response: &Response) -> (u16, String) {
    if response.status == 200 {
        return (200, String::new());
    }
    let body = response.json();
    (response.status, body["message"].as_str().unwrap_or_else(|| panic!("no message in {body}")).to_string())
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn declared_params_are_checked_and_sent() {
    let setup = start();
    let gateway = &setup.gateway;
    let token = [("X-Token", "t")];
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        // spec §2.2: Tencent's 403 for a missing required param, by position.
        ("/release/items/7?page=2", &token, 403, "querystring q is required."),
        ("/release/items/7?q=x", &[], 403, "header X-Token is required."),
        // A value that does not parse as the declared type: 400 naming the param and the type.
        ("/release/items/seven?q=x", &token, 400, "path variable id is not a valid long."),
        ("/release/items/7?q=x&page=two", &token, 400, "querystring page is not a valid int."),
        ("/release/items/7?q=x&page=", &token, 400, "querystring page is not a valid int."),
        ("/release/items/7?q=x&when=2024-02-30", &token, 400, "querystring when is not a valid date."),
        ("/release/items/7?q=x", &[("X-Token", "t"), ("X-Ratio", "NaN")], 400, "header X-Ratio is not a valid double."),
        ("/release/items/7?q=x&when=2024-02-29T08:00:00%2B08:00", &[("x-token", "t"), ("X-Ratio", "-1.5e3")], 200, ""),
        ("/release/items/7?q=", &token, 200, ""),
    ];
    for (path, headers, status, message) in cases {
        let response = request(gateway, "GET", path, &owned(headers));
        assert_eq!(outcome(&response), (*status, message.to_string()), "GET {path} {headers:?}");
        assert!(response.header("x-api-requestid").is_some());
    }

    // The event carries the declared params only; absent ones as their default or "".
    let response = request(
        gateway,
        "GET",
        "/release/items/42?q=a%20b&extra=1",
        &owned(&[("X-Token", "t1"), ("x-token", "t2"), ("X-Other", "o")]),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let event = response.json();
    assert_eq!(event["pathParameters"], json!({"id": "42"}));
    assert_eq!(event["queryStringParameters"], json!({"q": "a b", "page": "1", "when": ""}));
    assert_eq!(event["headerParameters"], json!({"X-Token": "t1,t2", "X-Ratio": ""}));
    assert_eq!(event["queryString"], json!({"q": "a b", "extra": "1"}));
    assert_eq!(event["requestContext"]["identity"], json!({}));
    assert_eq!(event["headers"]["x-anonymous-consumer"], "true");
}

#[test]
fn key_pair_signatures_as_tencent_documents() {
    let setup = start();
    let gateway = &setup.gateway;
    let date = http_date(now());
    let good = signed("AKIDgold", SECRET_GOLD, "hmac-sha1", &date);
    let with = |edit: &dyn Fn(&mut Headers)| {
        let mut headers = good.clone();
        edit(&mut headers);
        headers
    };
    let set = |name: &'static str, value: String| {
        move |headers: &mut Headers| {
            headers.iter_mut().filter(|(key, _)| key == name).for_each(|(_, old)| *old = value.clone());
        }
    };
    let stale = http_date(now() - 901);
    #[rustfmt::skip]
    let cases: Vec<(&str, Headers, u16, String)> = vec![
        ("/release/signed", good.clone(), 200, String::new()),
        ("/release/signed", signed("AKIDgold", SECRET_GOLD, "hmac-sha256", &date), 200, String::new()),
        ("/release/signed", signed("AKIDgold", SECRET_GOLD, "hmac-sha384", &date), 200, String::new()),
        ("/release/signed", signed("AKIDgold", SECRET_GOLD, "hmac-sha512", &date), 200, String::new()),
        // spec §2.4, the HMAC messages (401).
        ("/release/signed", vec![], 401, "HMAC signature cannot be verified, a valid authorization header is required.".into()),
        ("/release/signed", with(&set("Authorization", "hmac algorithm=\"hmac-sha1\", headers=\"x-date\", signature=\"c2ln\"".into())), 401, "HMAC id or signature missing.".into()),
        ("/release/signed", with(&set("Authorization", "Basic dXNlcjpwYXNz".into())), 401, "HMAC authorization format error.".into()),
        ("/release/signed", signed("AKIDgold", SECRET_GOLD, "hmac-md5", &date), 401, "HMAC algorithm hmac-md5 not supported.".into()),
        ("/release/signed", with(&set("Authorization", authorization("AKIDgold", SECRET_GOLD, "hmac-sha1", &[("source", "AndriodApp")]))), 401, "HMAC authorization headers is invalidate.".into()),
        ("/release/signed", signed("AKIDgold", SECRET_GOLD, "hmac-sha1", &stale), 401, "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication.".into()),
        ("/release/signed", with(&set("X-Date", "yesterday".into())), 401, "HMAC signature cannot be verified, a valid x-date header is required for HMAC Authentication.".into()),
        ("/release/signed", with(&|headers| headers.retain(|(name, _)| name != "X-Date")), 401, "HMAC signature cannot be verified, a valid date or x-date header is required.".into()),
        ("/release/signed", with(&|headers| headers.retain(|(name, _)| name != "Source")), 401, "HMAC signature cannot be verified, a valid source header is required.".into()),
        ("/release/signed", with(&|headers| headers.push(("Source".into(), "again".into()))), 401, "HMAC do not support multiple HTTP header.".into()),
        ("/release/signed", with(&set("Source", "Tampered".into())), 401, "HMAC signature does not match.".into()),
        ("/release/signed", signed("AKIDgold", "not-the-key", "hmac-sha1", &date), 401, "HMAC signature does not match.".into()),
        ("/release/signed", signed("AKIDnobody", SECRET_GOLD, "hmac-sha1", &date), 401, "HMAC apikey is invalid for API.".into()),
        // Usage-plan binding: AKIDgold's plan is bound to release only; test has another key's
        // plan; prepub has no plan at all (403).
        ("/test/signed", good.clone(), 401, "HMAC signature cannot be verified.".into()),
        ("/prepub/signed", good.clone(), 403, "Found no validate usage plan.".into()),
    ];
    for (path, headers, status, message) in &cases {
        let response = request(gateway, "GET", path, headers);
        assert_eq!(outcome(&response), (*status, message.clone()), "GET {path} {headers:?}");
    }

    // The function learns who signed, and the caller is not anonymous.
    let event = request(gateway, "POST", "/release/signed", &good).json();
    assert_eq!(event["requestContext"]["identity"], json!({"secretId": "AKIDgold"}));
    assert!(event["headers"].get("x-anonymous-consumer").is_none(), "{}", event["headers"]);
    assert_eq!(event["headers"]["source"], "AndriodApp");

    // A `Date` header (not `X-Date`) is accepted unchecked, as Tencent documents.
    let old = http_date(now() - 86_400 * 30);
    let headers = owned(&[
        ("Date", &old),
        ("Source", "AndriodApp"),
        (
            "Authorization",
            &authorization("AKIDgold", SECRET_GOLD, "hmac-sha1", &[("date", &old), ("source", "AndriodApp")]),
        ),
    ]);
    assert_eq!(outcome(&request(gateway, "GET", "/release/signed", &headers)), (200, String::new()));
}

#[test]
fn oauth_tokens_are_verified_locally() {
    let setup = start();
    let gateway = &setup.gateway;
    let keys = setup.keys;
    let now = now();
    let claims =
        json!({"sub": "alice", "iss": "https://auth.example.com", "aud": "scfgate", "exp": now + 300, "iat": now});
    let good = keys.rs256(&claims);
    let with_claims = |edit: &dyn Fn(&mut Value)| {
        let mut edited = claims.clone();
        edit(&mut edited);
        keys.rs256(&edited)
    };
    let bearer = |token: &str| owned(&[("Authorization", &format!("Bearer {token}"))]);
    let verify_error = "Oauth id_token verify error.";
    #[rustfmt::skip]
    let cases: Vec<(&str, Headers, u16, &str)> = vec![
        ("/release/oauth", bearer(&good), 200, ""),
        // Tencent's documented form.
        ("/release/oauth", owned(&[("Authorization", &format!("Bearer id_token=\"{good}\""))]), 200, ""),
        ("/release/oauth", vec![], 401, "Oauth found no authorization header."),
        ("/release/oauth", owned(&[("Authorization", &good)]), 401, "Oauth authorization header format error."),
        ("/release/oauth", owned(&[("Authorization", "Bearer id_token=\"\"")]), 401, "Oauth found no id_token."),
        ("/release/oauth", bearer(&with_claims(&|c| c["exp"] = json!(now - 1))), 401, verify_error),
        ("/release/oauth", bearer(&with_claims(&|c| c["nbf"] = json!(now + 120))), 401, verify_error),
        ("/release/oauth", bearer(&with_claims(&|c| c["iss"] = json!("https://evil.example.com"))), 401, verify_error),
        ("/release/oauth", bearer(&with_claims(&|c| c["aud"] = json!(["other"]))), 401, verify_error),
        ("/release/oauth", bearer(&with_claims(&|c| c["aud"] = json!(["other", "scfgate"]))), 200, ""),
        ("/release/oauth", bearer(&with_claims(&|c| { c.as_object_mut().unwrap().remove("exp"); })), 401, verify_error),
        // Signed by another key, or claiming another algorithm.
        ("/release/oauth", bearer(&keys.es256(&claims)), 401, verify_error),
        ("/release/oauth", bearer(&jwt(r#"{"alg":"none"}"#, &claims, |_| Vec::new())), 401, verify_error),
        ("/release/oauth", bearer(&flip_last(&good)), 401, verify_error),
        // ES256 from a cookie.
        ("/release/oauth-cookie", owned(&[("Cookie", &format!("theme=dark; id_token={}", keys.es256(&claims)))]), 200, ""),
        ("/release/oauth-cookie", bearer(&keys.es256(&claims)), 401, "Oauth found no id_token."),
        ("/release/oauth-cookie", owned(&[("Cookie", &format!("id_token={good}"))]), 401, verify_error),
    ];
    for (path, headers, status, message) in &cases {
        let response = request(gateway, "GET", path, headers);
        assert_eq!(outcome(&response), (*status, message.to_string()), "GET {path} {headers:?}");
    }

    // The verified claims reach the function as requestContext.identity.
    let event = request(gateway, "GET", "/release/oauth", &bearer(&good)).json();
    assert_eq!(event["requestContext"]["identity"], claims);
    assert!(event["headers"].get("x-anonymous-consumer").is_none());
}

/// What Chrome sends before a cross-origin `fetch(url, {method: "POST", headers: {"Content-Type":
/// "application/json", "X-Date": ..., "Source": ...}, credentials: "include"})`.
fn browser_preflight(path: &str, host: &str) -> Vec<u8> {
    request_bytes(
        "OPTIONS",
        path,
        host,
        &[
            ("Connection", "keep-alive"),
            ("Accept", "*/*"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,source,x-date"),
            ("Origin", "https://app.example.com"),
            (
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            ),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Dest", "empty"),
            ("Referer", "https://app.example.com/"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Accept-Language", "en-US,en;q=0.9"),
        ],
        b"",
    )
}

#[test]
fn cors_preflight_and_headers_on_every_response() {
    let setup = start();
    let gateway = &setup.gateway;
    let mut client = gateway.connect();
    client.send(&browser_preflight("/release/cors", &gateway.host()));
    let preflight = client.read_response();
    // Answered by the gateway: 204, no function call.
    assert_eq!(preflight.status, 204, "{preflight:?}");
    assert_eq!(setup.remote.requests(), 0);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(preflight.header("vary"), Some("Origin"));
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH"));
    assert_eq!(preflight.header("access-control-allow-headers"), Some("content-type,source,x-date"));
    assert_eq!(preflight.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(preflight.header("access-control-max-age"), Some("86400"));
    assert!(preflight.header("content-length").is_none(), "a 204 has no body framing");
    assert!(preflight.header("x-api-requestid").is_some());

    // The real request, on the same keep-alive connection, then variations.
    let post = |headers: &[(&str, &str)], path: &str| {
        let mut client = gateway.connect();
        client.send_request("POST", path, &gateway.host(), headers, b"{}");
        client.read_response()
    };
    client.send_request(
        "POST",
        "/release/cors",
        &gateway.host(),
        &[("Origin", "https://app.example.com"), ("Content-Type", "application/json")],
        b"{}",
    );
    let real = client.read_response();
    assert_eq!(real.status, 200);
    assert_eq!(setup.remote.requests(), 1);
    #[rustfmt::skip]
    let cases: Vec<(Response, u16, Option<&str>, Option<&str>)> = vec![
        // (response, status, Allow-Origin, Vary)
        (real, 200, Some("*"), None),
        // A browser that sends credentials never gets `*` (Fetch §3.2.5): its Origin is echoed.
        (post(&[("Origin", "https://app.example.com"), ("Cookie", "session=1")], "/release/cors"), 200, Some("https://app.example.com"), Some("Origin")),
        // Refusals of a CORS API carry the headers too (here: a param of the wrong type).
        (post(&[("Origin", "https://app.example.com")], "/release/cors?n=x"), 400, Some("*"), None),
        // An HTTPS-only API: Tencent's 426, with CORS headers.
        (request(gateway, "GET", "/release/secure", &[]), 426, Some("*"), None),
        // Extension: an origin list; an allowed origin is echoed, another gets nothing.
        (request(gateway, "GET", "/release/cors-origins", &owned(&[("Origin", "https://app.example.com")])), 200, Some("https://app.example.com"), Some("Origin")),
        (request(gateway, "GET", "/release/cors-origins", &owned(&[("Origin", "https://evil.example.com")])), 200, None, Some("Origin")),
        // An API without CORS gets no CORS headers.
        (request(gateway, "GET", "/release/plain", &owned(&[("Origin", "https://app.example.com")])), 200, None, None),
    ];
    for (index, (response, status, allow_origin, vary)) in cases.iter().enumerate() {
        assert_eq!(response.status, *status, "case {index}: {}", response.text());
        assert_eq!(response.header("access-control-allow-origin"), *allow_origin, "case {index}");
        assert_eq!(response.header("vary"), *vary, "case {index}");
        if allow_origin.is_some() {
            assert_eq!(response.header("access-control-max-age"), Some("86400"), "case {index}");
            assert!(
                response.header("access-control-expose-headers").is_some_and(|list| list.contains("X-Api-ID")),
                "case {index}"
            );
        }
    }
    let secure = request(gateway, "GET", "/release/secure", &[]);
    assert_eq!(secure.json(), json!({"message": "Not allow use HTTP protocol."}));

    // Integrated responses get the gateway's CORS headers; the function's own are dropped so that
    // none is sent twice.
    let integrated = request(
        gateway,
        "GET",
        "/release/cors-integrated?scf_header_Access-Control-Allow-Origin=https://fn.example&scf_header_X-Own=1",
        &[],
    );
    assert_eq!(integrated.status, 200, "{}", integrated.text());
    assert_eq!(integrated.header_all("access-control-allow-origin"), ["*"]);
    assert_eq!(integrated.header("x-own"), Some("1"));

    // Preflights to APIs without CORS are not answered by the gateway: a GET-only path is 405, an
    // ANY API's function answers OPTIONS itself.
    let before = setup.remote.requests();
    let mut client = gateway.connect();
    client.send(&browser_preflight("/release/plain", &gateway.host()));
    assert_eq!(outcome(&client.read_response()), (405, "Method Not Allowed.".to_string()));
    client.send(&browser_preflight("/release/any", &gateway.host()));
    let forwarded = client.read_response();
    assert_eq!(forwarded.status, 200);
    assert_eq!(forwarded.json()["httpMethod"], "OPTIONS");
    assert_eq!(setup.remote.requests(), before + 1);
}

#[test]
fn rate_limit_counts_over_a_burst() {
    let setup = start();
    let gateway = &setup.gateway;
    let date = http_date(now());
    let headers = signed("AKIDburst", "burst-secret-key", "hmac-sha1", &date);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    const BURST: usize = 24;
    let requests =
        (0..BURST).map(|_| request_bytes("GET", "/release/limited", &gateway.host(), &headers, b"")).collect();
    let responses = concurrently(gateway.addr(), requests);
    let admitted = responses.iter().filter(|response| response.status == 200).count();
    let limited: Vec<&Response> = responses.iter().filter(|response| response.status == 429).collect();
    // 2 per second over 2 workers: each worker holds one token and refills one per second. The
    // burst gets at least one, at most the plan's 2 plus one refill per worker.
    assert!((1..=4).contains(&admitted), "{admitted} of {BURST} admitted");
    assert_eq!(admitted + limited.len(), BURST);
    assert_eq!(setup.remote.requests(), admitted);
    for response in limited {
        assert_eq!(response.json(), json!({"message": "API rate limit exceeded."}));
        assert_eq!(response.header("x-ratelimit-limit"), Some("2"));
        assert_eq!(response.header("retry-after"), Some("1"));
    }
    // A plan without keys limits every request to its stage (here: an anonymous API).
    let requests = (0..BURST).map(|_| request_bytes("GET", "/release/open", &gateway.host(), &[], b"")).collect();
    let responses = concurrently(gateway.addr(), requests);
    let admitted = responses.iter().filter(|response| response.status == 200).count();
    assert!((1..=4).contains(&admitted), "{admitted} of {BURST} admitted");
    assert!(responses.iter().all(|response| response.header("x-ratelimit-limit") == Some("2")));
}

#[test]
fn daily_quota_is_shared_out_per_worker() {
    let setup = start();
    let gateway = &setup.gateway;
    let date = http_date(now());
    let headers = signed("AKIDdaily", "daily-secret-key", "hmac-sha1", &date);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    // One keep-alive connection stays on one worker, which holds 4 / 2 workers = 2 of the quota.
    let mut client = gateway.connect();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        client.send_request("GET", "/release/signed", &gateway.host(), &headers, b"");
        let response = client.read_response();
        assert_eq!(response.header("x-usageplan-quota"), Some("4"));
        outcomes.push(outcome(&response));
    }
    let exceeded = (429, "API quota exceeded.".to_string());
    assert_eq!(outcomes, [(200, String::new()), (200, String::new()), exceeded.clone(), exceeded.clone(), exceeded]);
}
