//! Function URLs (`[[function]] url`, SCF 函数 URL; migration spec §6): a function served at a
//! host of its own with no stage, the Function URL event (no `requestContext`, the client in
//! `x-scf-remote-addr`), the response inferred from the value, CORS options, and auth `public` or
//! `key`.

mod common;

use base64::Engine;
use common::{http_date, run_gateway, Gateway, TempDir};
use ring::hmac;
use serde_json::{json, Value};

const SECRET_KEY: &str = "url-secret-key";

const CONFIG: &str = r#"
[[secret]]
id = "AKIDurl"
key = "url-secret-key"

[[secret]]
id = "AKIDother"
key = "other-secret-key"

# An ordinary API beside them: the URLs' hosts do not reach it, nor it their functions.
[[service]]
id = "service-api"
name = "api"

[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
url = { host = "echo.fn.example.com" }

[[function]]
name = "guarded"
runtime = "custom"
code = "echo"

[function.url]
host = "guarded.fn.example.com"
auth = "key"
keys = ["AKIDurl"]
timeout = 5
cors = { origins = ["https://app.example.com"], methods = ["GET", "POST"], headers = ["Authorization", "Date"], expose_headers = ["X-Id"], credentials = true, max_age = 600 }
"#;

fn start() -> Gateway {
    Gateway::builder(CONFIG).function("echo", "echo").start()
}

fn get(gateway: &Gateway, host: &str, target: &str, headers: &[(&str, &str)]) -> common::Response {
    let mut all = vec![("Host", host)];
    all.extend_from_slice(headers);
    gateway.request("GET", target, &all, b"")
}

/// `%XX` for every byte, so any JSON travels in a query value.
fn percent(text: &str) -> String {
    text.bytes().map(|byte| format!("%{byte:02X}")).collect()
}

#[test]
fn the_function_url_event_has_no_stage_and_fewer_fields() {
    let gateway = start();
    let body = b"{\"test\":\"hello world\"}";
    let headers = [("Host", "echo.fn.example.com"), ("X-Scf-Remote-Addr", "6.6.6.6"), ("X-Custom", "a")];
    let response = gateway.request("POST", "/release/a/b?x=1&x=2&i", &headers, body);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let event = response.json();
    let mut keys: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    // Tencent's Function URL event: the API Gateway event less requestContext and the *Parameters.
    assert_eq!(keys, ["body", "headers", "httpMethod", "path", "queryString"]);
    assert_eq!(event["body"], "{\"test\":\"hello world\"}");
    assert_eq!(event["httpMethod"], "POST");
    // No stage: the whole path reaches the function, `/release` included.
    assert_eq!(event["path"], "/release/a/b");
    assert_eq!(event["queryString"], json!({"x": ["1", "2"], "i": true}));
    // The client's address in x-scf-remote-addr; a client's own copy never passes.
    assert_eq!(event["headers"]["x-scf-remote-addr"], "127.0.0.1");
    assert_eq!(response.text().matches("\"x-scf-remote-addr\"").count(), 1, "{}", response.text());
    assert_eq!(event["headers"]["x-custom"], "a");
    assert_eq!(event["headers"]["host"], "echo.fn.example.com");
    assert!(event["headers"].get("x-api-requestid").is_none(), "{event}");
    assert_eq!(response.request_id().len(), 32);

    // The root is `/`; a binary body is base64, flagged only then.
    let response = gateway.request("PUT", "/", &[("Host", "echo.fn.example.com")], &[0xff, 0x00]);
    let event = response.json();
    assert_eq!(event["path"], "/");
    assert_eq!(event["body"], "/wA=");
    assert_eq!(event["isBase64Encoded"], true);
}

#[test]
fn the_response_is_integrated_when_the_value_has_a_status_code() {
    let gateway = start();
    let host = "echo.fn.example.com";
    #[rustfmt::skip]
    let cases: &[(&str, u16, &str, &str)] = &[
        // (the function's value, status, content-type, body)
        (r#"{"statusCode":201,"headers":{"Content-Type":"text/plain","Set-Cookie":["a=1","b=2"]},"body":"made"}"#, 201, "text/plain", "made"),
        (r#"{"statusCode":404,"body":"none"}"#, 404, "", "none"),
        // No statusCode: a 200 with the value as the JSON body.
        (r#"{"ok":true}"#, 200, "application/json", r#"{"ok":true}"#),
        (r#"[1,2,3]"#, 200, "application/json", "[1,2,3]"),
        (r#"{"data":{"statusCode":7}}"#, 200, "application/json", r#"{"data":{"statusCode":7}}"#),
    ];
    for (value, status, content_type, body) in cases {
        let response = get(&gateway, host, &format!("/any/path?scf_raw={}", percent(value)), &[]);
        assert_eq!(response.status, *status, "{value}: {}", response.text());
        assert_eq!(response.text(), *body, "{value}");
        if !content_type.is_empty() {
            assert_eq!(response.header("content-type"), Some(*content_type), "{value}");
        }
    }
    let response = get(&gateway, host, &format!("/?scf_raw={}", percent(cases[0].0)), &[]);
    assert_eq!(response.header_all("set-cookie"), ["a=1", "b=2"]);
}

#[test]
fn url_hosts_serve_their_function_only() {
    let gateway = start();
    #[rustfmt::skip]
    let cases: &[(&str, &str, u16, &str)] = &[
        // (host, target, status, what answered: `url` event or `api` event)
        ("echo.fn.example.com", "/echo", 200, "url"),
        ("echo.fn.example.com", "/release/echo", 200, "url"),
        ("ECHO.fn.example.com:8443", "/x", 200, "url"),
        // Other hosts: the ordinary service, by stage; the URL's function is not there at `/`.
        ("127.0.0.1", "/release/echo", 200, "api"),
        ("127.0.0.1", "/", 404, ""),
        // An unknown host ending like a URL's host is just another host.
        ("other.fn.example.com", "/release/echo", 200, "api"),
    ];
    for (host, target, status, kind) in cases {
        let response = get(&gateway, host, target, &[]);
        assert_eq!(response.status, *status, "{host} {target}: {}", response.text());
        if *status == 200 {
            let event = response.json();
            let got = if event.get("requestContext").is_some() { "api" } else { "url" };
            assert_eq!(got, *kind, "{host} {target}: {event}");
        }
    }
}

/// Request header fields, in order.
type Headers = Vec<(String, String)>;

/// `Date` and `Authorization` signed with `secret_id`'s key the key-pair way (hmac-sha256).
fn signed(secret_id: &str, secret_key: &str) -> Headers {
    let date = http_date(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret_key.as_bytes()), format!("date: {date}").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(tag);
    let authorization =
        format!("hmac id=\"{secret_id}\", algorithm=\"hmac-sha256\", headers=\"date\", signature=\"{signature}\"");
    vec![("Date".into(), date), ("Authorization".into(), authorization)]
}

#[test]
fn key_auth_and_cors_options() {
    let gateway = start();
    let host = "guarded.fn.example.com";
    let origin = ("Origin", "https://app.example.com");
    let call = |headers: &[(String, String)]| {
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).chain([origin]).collect();
        get(&gateway, host, "/items", &headers)
    };
    // (headers, status, body or "" for the event)
    let unsigned: Headers = vec![];
    let cases: Vec<(&str, Headers, u16, Value)> = vec![
        ("listed key", signed("AKIDurl", SECRET_KEY), 200, Value::Null),
        (
            "no signature",
            unsigned,
            401,
            json!({"message": "HMAC signature cannot be verified, a valid authorization header is required."}),
        ),
        (
            "unlisted key",
            signed("AKIDother", "other-secret-key"),
            401,
            json!({"message": "HMAC signature cannot be verified."}),
        ),
        ("wrong key", signed("AKIDurl", "not-the-key"), 401, json!({"message": "HMAC signature does not match."})),
    ];
    for (label, headers, status, body) in &cases {
        let response = call(headers);
        assert_eq!(response.status, *status, "{label}: {}", response.text());
        if !body.is_null() {
            assert_eq!(response.json(), *body, "{label}");
        } else {
            assert_eq!(response.json()["path"], "/items", "{label}");
        }
        // The URL's CORS settings on every answer, refusals included.
        assert_eq!(response.header("access-control-allow-origin"), Some("https://app.example.com"), "{label}");
        assert_eq!(response.header("access-control-allow-methods"), Some("GET,POST"), "{label}");
        assert_eq!(response.header("access-control-expose-headers"), Some("X-Id"), "{label}");
        assert_eq!(response.header("access-control-allow-credentials"), Some("true"), "{label}");
        assert_eq!(response.header("access-control-max-age"), Some("600"), "{label}");
    }
    // A preflight is answered by the gateway, unsigned, with the configured headers.
    let preflight = gateway.request(
        "OPTIONS",
        "/items",
        &[
            ("Host", host),
            origin,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "x-other"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204, "{}", preflight.text());
    assert_eq!(preflight.header("access-control-allow-headers"), Some("Authorization,Date"));
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET,POST"));
    // Another origin gets no CORS headers at all.
    let response = get(&gateway, host, "/items", &[("Origin", "https://evil.example.com")]);
    assert_eq!(response.header("access-control-allow-origin"), None);
}

#[test]
fn function_url_mistakes_are_refused_naming_the_function_and_field() {
    let base = r#"
[[secret]]
id = "AKIDurl"
key = "url-secret-key"

[[service]]
id = "service-api"
name = "api"
hosts = ["api.example.com"]

[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "fn" }

[[function]]
name = "fn"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
url = { host = "fn.example.com" }
"#;
    let site = "function `default/fn:$LATEST`";
    let url = r#"url = { host = "fn.example.com" }"#;
    #[rustfmt::skip]
    let cases: Vec<(&str, String, String)> = vec![
        ("no host", r#"url = { auth = "public" }"#.into(), format!(": {site}: field `url.host`: required but missing; write `url = {{ host = \"fn.example.com\" }}`")),
        ("taken host", r#"url = { host = "API.example.com" }"#.into(), format!(": {site}: field `url.host`: `api.example.com` is already a host of service `api`; a Function URL has a host of its own")),
        ("auth", r#"url = { host = "fn.example.com", auth = "cam" }"#.into(), format!(": {site}: field `url.auth`: `cam` is not one of public, key")),
        ("key without keys", r#"url = { host = "fn.example.com", auth = "key" }"#.into(), format!(": {site}: field `url.keys`: required with auth = \"key\": the SecretIds of [[secret]] tables")),
        ("unknown key", r#"url = { host = "fn.example.com", auth = "key", keys = ["AKIDnone"] }"#.into(), format!(": {site}: field `url.keys`: no [[secret]] has the id `AKIDnone`")),
        ("keys when public", r#"url = { host = "fn.example.com", keys = ["AKIDurl"] }"#.into(), format!(": {site}: field `url.keys`: only with auth = \"key\"")),
        ("cors origin", r#"url = { host = "fn.example.com", cors = { origins = ["app.example.com"] } }"#.into(), format!(": {site}: field `url.cors.origins`: `app.example.com` is not an origin like `https://app.example.com` or `http://localhost:3000` (scheme, host, optional port; no path)")),
        ("cors method", r#"url = { host = "fn.example.com", cors = { methods = ["get"] } }"#.into(), format!(": {site}: field `url.cors.methods`: `get` is not an upper-case method name")),
        ("service id taken", r#"url = { host = "fn.example.com" }

[[service]]
id = "url-default/fn:$LATEST"
name = "squatter"
hosts = ["squat.example.com"]"#.into(), format!(": {site}: field `url`: service `squatter` has the id `url-default/fn:$LATEST` this Function URL's service needs; rename that service")),
        ("timeout", r#"url = { host = "fn.example.com", timeout = 0 }"#.into(), format!(": {site}: field `url.timeout`: must be a number of seconds greater than 0 and at most 1800")),
    ];
    let dir = TempDir::new("function-url-broken");
    let file = dir.write("base.toml", base);
    let (status, stdout, stderr) = run_gateway(&["--config", file.to_str().unwrap(), "--check"]);
    assert!(status.success(), "the base config is refused: {stderr}");
    assert!(stdout.contains("function URL fn.example.com") && stdout.contains("on its URL only"), "{stdout}");
    // Two versions of one function, each with a URL: two services, not one with two `/` APIs.
    let versions = format!("{base}\n[[function]]\nname = \"fn\"\nqualifier = \"2\"\nruntime = \"remote\"\ninvoke_url = \"http://127.0.0.1:9/invoke\"\nurl = {{ host = \"fn2.example.com\" }}\n");
    let file = dir.write("versions.toml", &versions);
    let (status, stdout, stderr) = run_gateway(&["--config", file.to_str().unwrap(), "--check"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("(url-default/fn:$LATEST)") && stdout.contains("(url-default/fn:2)"), "{stdout}");
    let mut failures = Vec::new();
    for (index, (rule, to, expected)) in cases.iter().enumerate() {
        let file = dir.write(&format!("case{index}.toml"), &base.replacen(url, to, 1));
        let path = file.to_str().unwrap();
        let (status, _, stderr) = run_gateway(&["--config", path, "--check"]);
        let expected = format!("error: {path}{expected}");
        if status.code() != Some(2) || !stderr.starts_with(&expected) {
            failures
                .push(format!("{rule}: exit {status}, stderr {stderr:?}\n  expected it to start with {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn a_web_function_behind_its_url_gets_the_whole_request() {
    let config = r#"
[[function]]
name = "app"
runtime = "web"
code = "app"
url = { host = "web.fn.example.com" }
"#;
    let builder = Gateway::builder(config);
    builder.dir().executable("app/scf_bootstrap", &format!("#!/bin/sh\nexec \"{}\" web\n", common::FUNCTION_BIN));
    let gateway = builder.start();
    let ready = gateway.output.wait_for(std::time::Duration::from_secs(20), |lines| {
        lines.iter().any(|line| line.contains("web function ready"))
    });
    assert!(ready, "{}", gateway.output.text());
    let response = get(&gateway, "web.fn.example.com", "/release/x?y=1", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.json();
    // The path as sent, `/release` included: a URL has no stage to strip.
    assert_eq!(echo["path"], "/release/x", "{echo}");
    assert_eq!(echo["method"], "GET");
    // No other host reaches it.
    assert_eq!(get(&gateway, "127.0.0.1", "/release/x", &[]).status, 404);
}
