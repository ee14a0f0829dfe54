//! What a client gets back from a function: pass-through and integrated responses (spec §6.3), the
//! gateway's error bodies for function values it cannot use, HEAD, and the request id on every
//! response.

mod common;

use std::collections::HashSet;

use common::{Client, Gateway};

const CONFIG: &str = r#"
[[service]]
id = "service-responses"
name = "responses"
stages = ["release"]

[[service.api]]
name = "pass"
path = "/pass"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "integrated"
path = "/integrated"
method = "ANY"
function = { name = "echo-integrated" }
integrated_response = true

[[service.api]]
name = "hello"
path = "/hello/{name}"
method = "GET"
function = { name = "hello" }
integrated_response = true

[[service.api]]
name = "hello-converted"
path = "/converted/{name}"
method = "GET"
function = { name = "hello" }
integrated_response = true

[[service.api.error_code]]
code = 418
message = "converted"
converted_code = 400

[[service.api.error_code]]
code = 404
message = "documented only"

[[service.api]]
name = "hello-pass"
path = "/hello-pass"
method = "GET"
function = { name = "hello" }

[[service.api]]
name = "not-integration"
path = "/not-integration"
method = "ANY"
function = { name = "echo" }
integrated_response = true

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2

[[function]]
name = "echo-integrated"
runtime = "custom"
code = "echo-integrated"

[[function]]
name = "hello"
runtime = "custom"
code = "hello"
"#;

fn start() -> Gateway {
    Gateway::builder(CONFIG)
        .function("echo", "echo")
        .function("echo-integrated", "echo-integrated")
        .function("hello", "hello")
        .start()
}

const INVALID_INTEGRATION: &str =
    r#"{"errno":403,"error":"requestId {id} , Invalid scf response. expected scf response valid JSON."}"#;
const NOT_JSON: &str = r#"{"message":"Bad Gateway.","error":"requestId {id} , the function returned a value that is not JSON; pass-through APIs answer JSON only."}"#;

/// (request target, status, headers that must be present (name, value) or absent (name, ""),
/// exact body or None)
type Case<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>, Option<&'a str>);

#[test]
fn function_values_become_responses() {
    let gateway = start();
    // (request target, status, headers that must be present (name, value) or absent (name, ""),
    //  exact body or None; `{id}` in a body stands for the response's x-api-requestid)
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // Pass-through: any JSON value is the body of a 200 application/json.
        ("/release/pass?scf_raw=%7B%22a%22%3A%5B1%2Cnull%5D%7D", 200, vec![("content-type", "application/json")], Some(r#"{"a":[1,null]}"#)),
        ("/release/pass?scf_raw=%22text%22", 200, vec![("content-type", "application/json")], Some(r#""text""#)),
        ("/release/pass?scf_raw=42", 200, vec![], Some("42")),
        // Pass-through: a value that is not JSON is a 502 naming the request id.
        ("/release/pass?scf_raw=hello", 502, vec![("content-type", "application/json")], Some(NOT_JSON)),
        ("/release/pass?scf_raw=%7Bbroken", 502, vec![], Some(NOT_JSON)),
        // Integrated: status, headers and body come from the function.
        ("/release/hello/alice", 200, vec![("content-type", "text/plain; charset=utf-8")], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_status=201", 201, vec![], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_status=418", 418, vec![], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_status=503", 503, vec![], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_status=302&scf_header_Location=/elsewhere", 302, vec![("location", "/elsewhere")], Some("Hello, alice!\n")),
        // Error codes with converted_code (Tencent's error-code conversion) change the status only.
        ("/release/converted/alice?scf_status=418", 400, vec![("content-type", "text/plain; charset=utf-8")], Some("Hello, alice!\n")),
        ("/release/converted/alice?scf_status=404", 404, vec![], Some("Hello, alice!\n")),
        ("/release/converted/alice?scf_status=201", 201, vec![], Some("Hello, alice!\n")),
        // Integrated: a base64 body is decoded.
        ("/release/hello/alice?scf_b64=1", 200, vec![], Some("Hello, alice!\n")),
        // Integrated: the function's headers reach the client; its Content-Type replaces the default.
        ("/release/hello/alice?scf_header_X-Demo=yes", 200, vec![("x-demo", "yes")], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_header_Content-Type=text/html", 200, vec![("content-type", "text/html")], Some("Hello, alice!\n")),
        // Integrated: the function cannot set the framing or the request id.
        ("/release/hello/alice?scf_header_Content-Length=999", 200, vec![("content-length", "14")], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_header_Transfer-Encoding=chunked", 200, vec![("transfer-encoding", "")], Some("Hello, alice!\n")),
        ("/release/hello/alice?scf_header_Connection=close", 200, vec![("connection", "")], Some("Hello, alice!\n")),
        // RFC 9110 §6.4.1: 204 and 304 carry no body.
        ("/release/hello/alice?scf_status=204", 204, vec![("content-length", "0")], Some("")),
        ("/release/hello/alice?scf_status=304", 304, vec![("content-length", "0")], Some("")),
        // Integrated: the minimal value (statusCode only) is an empty response.
        ("/release/hello/alice?scf_raw=%7B%22statusCode%22%3A200%7D", 200, vec![("content-length", "0")], Some("")),
        // Integrated: the event as the body of an application/json response.
        ("/release/integrated?scf_status=202", 202, vec![("content-type", "application/json")], None),
        // Integrated: anything that is not an integration response is Tencent's 403.
        ("/release/not-integration", 403, vec![("content-type", "application/json")], Some(INVALID_INTEGRATION)),
        ("/release/hello/alice?scf_raw=hello", 403, vec![], Some(INVALID_INTEGRATION)),
        ("/release/hello/alice?scf_raw=%7B%22statusCode%22%3A%22200%22%7D", 403, vec![], Some(INVALID_INTEGRATION)),
        ("/release/hello/alice?scf_status=99", 403, vec![], Some(INVALID_INTEGRATION)),
        ("/release/hello/alice?scf_status=100", 403, vec![], Some(INVALID_INTEGRATION)),
        ("/release/hello/alice?scf_status=600", 403, vec![], Some(INVALID_INTEGRATION)),
        // A header that would split the response is refused, not sent.
        ("/release/hello/alice?scf_header_X-Bad=a%0D%0AInjected:%201", 403, vec![("injected", "")], Some(INVALID_INTEGRATION)),
        // A function error is a 502 with SCF's error shape, in both modes.
        ("/release/pass?scf_error=boom", 502, vec![("content-type", "application/json")], Some(r#"{"errorCode":-1,"errorMessage":"boom","requestId":"{id}"}"#)),
        ("/release/hello/alice?scf_error=boom", 502, vec![], Some(r#"{"errorCode":-1,"errorMessage":"boom","requestId":"{id}"}"#)),
        ("/release/pass?scf_error=say+%22hi%22%0A", 502, vec![], Some(r#"{"errorCode":-1,"errorMessage":"say \"hi\"\n","requestId":"{id}"}"#)),
    ];
    let mut failures = Vec::new();
    for (target, status, headers, body) in &cases {
        let response = gateway.get(target);
        let id = response.request_id().to_string();
        if response.status != *status {
            failures.push(format!("{target}: status {} (expected {status}): {}", response.status, response.text()));
            continue;
        }
        for (name, value) in headers {
            let got = response.header(name);
            let ok = if value.is_empty() { got.is_none() } else { got == Some(*value) };
            if !ok {
                failures.push(format!("{target}: header {name}: {got:?} (expected {value:?})"));
            }
        }
        // One x-api-requestid, whatever the function sent.
        if response.header_all("x-api-requestid").len() != 1 {
            failures.push(format!("{target}: x-api-requestid {:?}", response.header_all("x-api-requestid")));
        }
        if let Some(body) = body {
            let expected = body.replace("{id}", &id);
            if response.text() != expected {
                failures.push(format!("{target}: body {:?} (expected {expected:?})", response.text()));
            }
        }
        if response.header("content-length") != Some(response.body.len().to_string().as_str()) {
            failures.push(format!(
                "{target}: content-length {:?} for {} bytes",
                response.header("content-length"),
                response.body.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn pass_through_and_integrated_echo_return_the_event() {
    let gateway = start();
    let response = gateway.get("/release/pass?a=1");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let event = response.json();
    assert_eq!(event["requestContext"]["path"], "/pass");
    assert_eq!(event["requestContext"]["requestId"], response.request_id());

    // Pass-through does not interpret an integration-shaped value: it is the body of a 200.
    let response = gateway.get("/release/hello-pass?scf_status=418");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        serde_json::json!({"isBase64Encoded": false, "statusCode": 418, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": "Hello, world!\n"})
    );

    let response = gateway.request("POST", "/release/integrated?a=1", &[], b"payload");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let event = response.json();
    assert_eq!(event["requestContext"]["path"], "/integrated");
    assert_eq!(event["body"], "payload");
    assert_eq!(event["queryString"]["a"], "1");
}

#[test]
fn every_response_has_a_unique_request_id() {
    let gateway = start();
    let mut ids = HashSet::new();
    let mut record = |label: &str, response: &common::Response| {
        let id = response.request_id().to_string();
        // 32 lower-case hex digits, as in Tencent's captured events (x-api-requestid).
        assert_eq!(id.len(), 32, "{label}: {id}");
        assert!(id.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)), "{label}: {id}");
        assert!(ids.insert(id.clone()), "{label}: request id {id} was used before");
    };
    for round in 0..3 {
        for target in [
            "/release/pass",             // 200
            "/release/hello/bob",        // 200 integrated
            "/release/nowhere",          // 404 no route
            "/prod/pass",                // 404 stage
            "/release/not-integration",  // 403
            "/release/pass?scf_raw=x",   // 502
            "/release/pass?scf_error=e", // 502
        ] {
            record(&format!("{target} #{round}"), &gateway.get(target));
        }
        record("405", &gateway.request("DELETE", "/release/hello/bob", &[], b""));
        // A request the gateway refuses to parse still carries an id.
        let mut client = Client::connect(gateway.addr());
        client.send(b"GET /release/pass HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n");
        let response = client.read_response();
        assert_eq!(response.status, 400);
        record("400", &response);
    }
    // Requests on one keep-alive connection get distinct ids too.
    let mut client = Client::connect(gateway.addr());
    for _ in 0..5 {
        client.send_request("GET", "/release/pass", "x", &[], b"");
        let response = client.read_response();
        assert_eq!(response.status, 200);
        // The function saw the id the client sees.
        assert_eq!(response.json()["requestContext"]["requestId"], response.request_id());
        record("keep-alive", &response);
    }
}

#[test]
fn head_gets_headers_without_a_body() {
    let gateway = start();
    let mut client = Client::connect(gateway.addr());
    let host = gateway.host();
    // (target, status): an ANY API answers HEAD; a GET-only API refuses it (HEAD is not GET);
    // unknown paths are 404. Each response has a content-length and no body, which the next
    // request on the same connection proves: stray body bytes would corrupt its response.
    #[rustfmt::skip]
    let cases = [
        ("/release/pass", 200),
        ("/release/hello/alice", 405),
        ("/release/nowhere", 404),
        ("/release/integrated", 200),
    ];
    for (target, status) in cases {
        client.send_request("HEAD", target, &host, &[], b"");
        let response = client.read_head_response();
        assert_eq!(response.status, status, "HEAD {target}");
        let length: usize = response.header("content-length").expect("content-length").parse().unwrap();
        assert!(length > 0, "HEAD {target}: content-length {length}");
        response.request_id();

        client.send_request("GET", "/release/pass?after=head", &host, &[], b"");
        let next = client.read_response();
        assert_eq!(next.status, 200, "GET after HEAD {target}: {}", next.text());
        assert_eq!(next.json()["queryString"]["after"], "head");
    }
    // The function saw the real method.
    client.send_request("HEAD", "/release/pass", &host, &[], b"");
    let head = client.read_head_response();
    client.send_request("GET", "/release/pass", &host, &[], b"");
    let get = client.read_response();
    // The HEAD event differs from the GET one only in the method and the request id, each of
    // equal length except "HEAD" vs "GET".
    let head_length: usize = head.header("content-length").unwrap().parse().unwrap();
    assert_eq!(head_length, get.body.len() + 1);
    assert!(client.leftover().is_empty());
}
