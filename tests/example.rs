//! The bundled example (examples/hello) does what its README says, run as shipped: its config,
//! its bootstraps, its function.

mod common;

use base64::Engine;
use common::{http_date, repo_root, Gateway};
use ring::hmac;
use serde_json::json;

#[test]
fn the_example_answers_as_its_readme_says() {
    let gateway = Gateway::builder_for_file(&repo_root().join("examples/hello/scfgate.toml")).start();
    // (request target, status, body) — each line is a claim of examples/hello/README.md.
    #[rustfmt::skip]
    let cases: Vec<(&str, u16, &str)> = vec![
        // A path parameter and an integrated response.
        ("/release/hello/alice", 200, "Hello, alice!\n"),
        // Another stage's variables, and a query parameter on the prefix route.
        ("/test/hello?name=bob", 200, "Hi (test stage), bob!\n"),
        // prepub has no stage variables: the function falls back to "Hello".
        ("/prepub/hello", 200, "Hello, world!\n"),
        // Test controls.
        ("/release/hello/alice?scf_status=418", 418, "Hello, alice!\n"),
        ("/release/hello/alice?scf_b64=1", 200, "Hello, alice!\n"),
    ];
    for (target, status, body) in cases {
        let response = gateway.get(target);
        assert_eq!((response.status, response.text().as_str()), (status, body), "{target}");
        assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"), "{target}");
    }
    assert_eq!(gateway.get("/release/hello/alice?scf_header_X-Demo=yes").header("x-demo"), Some("yes"));

    // The custom domain's path mappings, and the echo function's URL.
    #[rustfmt::skip]
    let hosted: &[(&str, &str, u16, &str)] = &[
        ("hello.localhost", "/hello/alice", 200, "Hello, alice!\n"),
        ("hello.localhost", "/beta/hello/alice", 200, "Hi (test stage), alice!\n"),
        ("hello.localhost", "/release/hello/alice", 404, r#"{"message":"There is no api match uri[/release/hello/alice]"}"#),
    ];
    for (host, target, status, body) in hosted {
        let response = gateway.request("GET", target, &[("Host", host)], b"");
        assert_eq!((response.status, response.text().as_str()), (*status, *body), "{host}{target}");
    }
    let event = gateway.request("GET", "/any/path?x=1", &[("Host", "echo.localhost")], b"").json();
    assert_eq!((event["path"].as_str(), event.get("requestContext")), (Some("/any/path"), None), "{event}");

    // The Python handler, run unchanged by the Python3.9 runtime.
    let response = gateway.get("/release/py/carol");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["message"], "Hello, carol, from Python!");

    // The echo API returns the event it got.
    let response = gateway.request(
        "POST",
        "/release/echo?x=1",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        br#"{"a":1}"#,
    );
    assert_eq!(response.status, 200);
    let event = response.json();
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["requestContext"]["httpMethod"], "ANY");
    assert_eq!(event["path"], "/echo");
    assert_eq!(event["requestContext"]["path"], "/echo");
    assert_eq!(event["requestContext"]["serviceId"], "service-hello01");
    assert_eq!(event["requestContext"]["stage"], "release");
    assert_eq!(event["queryString"], json!({"x": "1"}));
    assert_eq!(event["body"], r#"{"a":1}"#);
    assert_eq!(event["headers"]["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(event["stageVariables"], json!({"greeting": "Hello"}));

    // The web function gets the request itself, without the stage, with Tencent's headers.
    assert!(
        gateway.output.wait_for_line("web function ready", std::time::Duration::from_secs(20)),
        "{}",
        gateway.output.text()
    );
    let response = gateway.get("/release/web/hi?x=1");
    assert_eq!(response.status, 200, "{}", response.text());
    let request = response.json();
    assert_eq!((request["path"].as_str(), request["query"].as_str()), (Some("/web/hi"), Some("x=1")));
    assert_eq!(request["headers"]["x-scf-name"], "web");

    // The key-pair API admits a request signed with the example's demo key (what
    // loadtest/wrk-signed.lua and k6-signed.js send) and refuses an unsigned one.
    let date = http_date(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64);
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"example-secret-key-do-not-use");
    let tag = hmac::sign(&key, format!("x-date: {date}\nsource: readme").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(tag);
    let authorization =
        format!(r#"hmac id="AKIDexample", algorithm="hmac-sha1", headers="x-date source", signature="{signature}""#);
    let signed = [("X-Date", date.as_str()), ("Source", "readme"), ("Authorization", authorization.as_str())];
    let response = gateway.request("GET", "/release/signed/alice", &signed, b"");
    assert_eq!((response.status, response.text().as_str()), (200, "Hello, alice!\n"));
    let response = gateway.get("/release/signed/alice");
    assert_eq!(
        (response.status, response.text().as_str()),
        (401, r#"{"message":"HMAC signature cannot be verified, a valid authorization header is required."}"#)
    );

    // "/release/echo?scf_sleep_ms=6000 outlives the API's 5 s timeout: expect a 504".
    let response = gateway.get("/release/echo?scf_sleep_ms=6000");
    assert_eq!((response.status, response.text()), (504, r#"{"message":"Gateway Time-out."}"#.to_string()));
}
