//! The SCF API Gateway trigger event a function receives (spec §6.2). The `echo` function returns
//! the event verbatim on a pass-through API, so the client reads exactly what the function got.

mod common;

use common::{Client, Gateway};
use serde_json::{json, Value};

const CONFIG: &str = r#"
[[service]]
id = "service-events"
name = "events"
stages = ["release", "test"]

[service.stage_variables.release]
greeting = "Hello"
region = "ap-guangzhou"
[service.stage_variables.test]
greeting = "Hi"

[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "item"
path = "/items/{id}/{rest}"
method = "POST"
function = { name = "echo" }

[[service.api]]
name = "pinned"
path = "=/pinned"
method = "GET"
function = { name = "echo", qualifier = "7" }

[[service.api]]
name = "aliased"
path = "=/aliased"
method = "GET"
timeout = 3
function = { name = "echo", qualifier = "$DEFAULT" }

[[service.api]]
name = "integrated"
path = "=/integrated"
method = "GET"
integrated_response = true
function = { name = "echo" }

[[service]]
id = "service-root"
name = "root"
stages = ["prepub"]

[[service.api]]
name = "root"
path = "/"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2

[[function]]
name = "echo"
qualifier = "7"
runtime = "custom"
code = "echo"
"#;

fn start() -> Gateway {
    Gateway::builder(CONFIG).function("echo", "echo").start()
}

/// Sends raw request bytes on a new connection and returns (response, event).
fn event_for(gateway: &Gateway, raw: &[u8]) -> (common::Response, Value) {
    let mut client = Client::connect(gateway.addr());
    client.send(raw);
    let response = client.read_response();
    assert_eq!(response.status, 200, "{}", response.text());
    let event = response.json();
    (response, event)
}

#[test]
fn event_has_tencent_fields() {
    let gateway = start();
    let raw = format!(
        "POST /release/items/a%20b/c/d?x=1 HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-MiXeD-Case: Value Kept\r\nContent-Length: 7\r\n\r\n{{\"k\":1}}",
        gateway.host()
    );
    let (response, event) = event_for(&gateway, raw.as_bytes());
    let request_id = response.request_id().to_string();

    // Every top-level field, and nothing else.
    let mut keys: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "body",
            "headerParameters",
            "headers",
            "httpMethod",
            "isBase64Encoded",
            "path",
            "pathParameters",
            "queryString",
            "queryStringParameters",
            "requestContext",
            "stageVariables"
        ]
    );
    // requestContext: the API's declared path and method; the request id the client sees.
    assert_eq!(
        event["requestContext"],
        json!({
            "serviceId": "service-events",
            "path": "/items/{id}/{rest}",
            "httpMethod": "POST",
            "requestId": request_id,
            "identity": {},
            "sourceIp": "127.0.0.1",
            "stage": "release",
        })
    );
    // headers: names lower-cased, values as sent, plus the gateway's own.
    assert_eq!(
        event["headers"],
        json!({
            "host": gateway.host(),
            "content-type": "application/json",
            "x-mixed-case": "Value Kept",
            "content-length": "7",
            "x-api-requestid": request_id,
            "x-b3-traceid": request_id,
            "x-qualifier": "$LATEST",
            "x-api-scheme": "http",
            "requestsource": "APIGW",
            "endpoint-timeout": "15",
            "x-anonymous-consumer": "true",
        })
    );
    assert_eq!(event["body"], "{\"k\":1}");
    assert_eq!(event["isBase64Encoded"], false);
    // Captures are percent-decoded (the first takes as much as it can); `path` is the request
    // path as sent, without the stage.
    assert_eq!(event["pathParameters"], json!({"id": "a b/c", "rest": "d"}));
    assert_eq!(event["path"], "/items/a%20b/c/d");
    assert_eq!(event["queryString"], json!({"x": "1"}));
    // Declared parameters are not configurable yet: always empty objects.
    assert_eq!(event["queryStringParameters"], json!({}));
    assert_eq!(event["headerParameters"], json!({}));
    assert_eq!(event["stageVariables"], json!({"greeting": "Hello", "region": "ap-guangzhou"}));
    assert_eq!(event["httpMethod"], "POST");
}

#[test]
fn headers_are_joined_and_gateway_headers_cannot_be_spoofed() {
    let gateway = start();
    let mut raw = format!(
        "GET /release/echo HTTP/1.1\r\nHost: {}\r\nX-Custom: one\r\nAccept: text/html\r\nx-custom: two\r\nX-CUSTOM: three\r\n",
        gateway.host()
    )
    .into_bytes();
    raw.extend_from_slice(
        b"X-Api-RequestId: spoofed\r\nX-B3-TraceId: spoofed\r\nX-Qualifier: 9\r\nX-Api-Scheme: https\r\nRequestSource: me\r\nEndpoint-Timeout: 999\r\nX-Anonymous-Consumer: false\r\nX-Empty:\r\nX-Latin: caf\xe9\r\nX-Quote: say \"hi\" \\ bye\r\n\r\n",
    );
    let (response, event) = event_for(&gateway, &raw);
    let request_id = response.request_id();
    assert_ne!(request_id, "spoofed");
    let headers = &event["headers"];
    // RFC 9110 §5.3: repeated fields are joined with commas, in order, under the lower-cased name.
    assert_eq!(headers["x-custom"], "one,two,three");
    assert_eq!(headers["accept"], "text/html");
    assert_eq!(headers["x-empty"], "");
    // A value that is not UTF-8 (obs-text) still makes valid JSON.
    assert_eq!(headers["x-latin"], "caf\u{fffd}");
    // JSON-significant characters are escaped, not lost.
    assert_eq!(headers["x-quote"], "say \"hi\" \\ bye");
    // The gateway's own headers replace the client's copies.
    assert_eq!(headers["x-api-requestid"], request_id);
    assert_eq!(headers["x-b3-traceid"], request_id);
    assert_eq!(headers["x-qualifier"], "$LATEST");
    assert_eq!(headers["x-api-scheme"], "http");
    assert_eq!(headers["requestsource"], "APIGW");
    assert_eq!(headers["endpoint-timeout"], "15");
    assert_eq!(headers["x-anonymous-consumer"], "true");
    assert_eq!(event["requestContext"]["requestId"], request_id);
    // No name appears twice in the JSON text either (a duplicate key would be ambiguous).
    let text = response.text();
    for name in ["\"x-api-requestid\"", "\"x-custom\"", "\"requestsource\"", "\"endpoint-timeout\""] {
        assert_eq!(text.matches(name).count(), 1, "{name} in {text}");
    }
}

#[test]
fn query_string_decoding() {
    let gateway = start();
    #[rustfmt::skip]
    let cases: Vec<(&str, Value)> = vec![
        // No query: an empty object.
        ("", json!({})),
        ("?", json!({})),
        ("?a=1", json!({"a": "1"})),
        // A repeated key becomes an array of its values, in order.
        ("?a=1&a=2&a=3", json!({"a": ["1", "2", "3"]})),
        ("?a=1&b=2&a=3", json!({"a": ["1", "3"], "b": "2"})),
        // A key without `=` is `true`, as Tencent's captured events show it (spec §8); with
        // nothing after `=` it is "".
        ("?i", json!({"i": true})),
        ("?flag=&x=1", json!({"flag": "", "x": "1"})),
        ("?i&x=1&j", json!({"i": true, "x": "1", "j": true})),
        // Repeated, with and without `=`: an array mixing `true` and strings, in order.
        ("?i&i=1&i", json!({"i": [true, "1", true]})),
        // Percent-decoding, `+` as a space (form encoding), in keys and values.
        ("?q=a+b%20c", json!({"q": "a b c"})),
        ("?q=%2B1", json!({"q": "+1"})),
        ("?k%20ey=v", json!({"k ey": "v"})),
        ("?x=%E4%BD%A0%E5%A5%BD", json!({"x": "你好"})),
        // Only the first `=` separates key and value.
        ("?a=1=2", json!({"a": "1=2"})),
        // Empty pairs are skipped.
        ("?a=1&&b=2&", json!({"a": "1", "b": "2"})),
        // A malformed escape is kept literally.
        ("?x=%zz&y=%4", json!({"x": "%zz", "y": "%4"})),
        // Bytes that decode to invalid UTF-8 become U+FFFD: the event stays valid JSON.
        ("?x=%ff", json!({"x": "\u{fffd}"})),
        // JSON-significant characters are escaped.
        ("?x=%22%5C%0A", json!({"x": "\"\\\n"})),
    ];
    let mut failures = Vec::new();
    for (query, expected) in &cases {
        let response = gateway.get(&format!("/release/echo{query}"));
        if response.status != 200 {
            failures.push(format!("{query:?}: status {} {}", response.status, response.text()));
            continue;
        }
        let got = response.json()["queryString"].clone();
        if &got != expected {
            failures.push(format!("{query:?}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn body_is_a_string_or_base64() {
    let gateway = start();
    #[rustfmt::skip]
    let cases: Vec<(&str, &[u8], Value, bool)> = vec![
        // No body: "".
        ("GET", b"", json!(""), false),
        // A UTF-8 body is sent as a string, exactly.
        ("POST", b"{\"a\":[1,2]}", json!("{\"a\":[1,2]}"), false),
        ("PUT", "line one\nline \"two\"\t\u{4f60}".as_bytes(), json!("line one\nline \"two\"\t\u{4f60}"), false),
        // A body that is not UTF-8 is sent base64-encoded, flagged by isBase64Encoded.
        ("POST", &[0xff, 0x00, 0x41], json!("/wBB"), true),
        ("POST", &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a], json!("iVBORw0KGgo="), true),
    ];
    for (method, body, expected, base64) in cases {
        let response = gateway.request(method, "/release/echo", &[], body);
        assert_eq!(response.status, 200, "{method} {body:?}: {}", response.text());
        let event = response.json();
        assert_eq!(event["body"], expected, "{method} {body:?}");
        assert_eq!(event["isBase64Encoded"], base64, "{method} {body:?}");
        assert_eq!(event["httpMethod"], method);
    }
}

#[test]
fn stage_variables_and_path_per_stage() {
    let gateway = start();
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &str, &str, Value)> = vec![
        // (request, stage, event path, API path, stageVariables)
        // Each stage gets its own variables.
        ("/release/echo", "release", "/echo", "/echo", json!({"greeting": "Hello", "region": "ap-guangzhou"})),
        ("/test/echo/sub", "test", "/echo/sub", "/echo", json!({"greeting": "Hi"})),
        // A stage without variables: an empty object. `/prepub` alone is the path `/`.
        ("/prepub", "prepub", "/", "/", json!({})),
        ("/prepub/", "prepub", "/", "/", json!({})),
        ("/prepub/a/b?c=d", "prepub", "/a/b", "/", json!({})),
    ];
    for (target, stage, path, api_path, variables) in cases {
        let response = gateway.get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.text());
        let event = response.json();
        assert_eq!(event["requestContext"]["stage"], stage, "{target}");
        assert_eq!(event["path"], path, "{target}");
        assert_eq!(event["requestContext"]["path"], api_path, "{target}");
        assert_eq!(event["stageVariables"], variables, "{target}");
    }
}

#[test]
fn api_method_and_qualifier() {
    let gateway = start();
    // An ANY API: requestContext.httpMethod is "ANY", httpMethod the request's.
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let response = gateway.request(method, "/release/echo", &[], b"");
        assert_eq!(response.status, 200, "{method}: {}", response.text());
        let event = response.json();
        assert_eq!(event["requestContext"]["httpMethod"], "ANY", "{method}");
        assert_eq!(event["httpMethod"], method);
    }
    // x-qualifier names the qualifier the API was configured with (the alias that served), and
    // endpoint-timeout its backend timeout in seconds; `=` is not part of the path.
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        // (request, x-qualifier, endpoint-timeout)
        ("/release/echo", "$LATEST", "15"),       // no qualifier given: $LATEST
        ("/release/pinned", "7", "15"),           // a version
        ("/release/aliased", "$DEFAULT", "3"),    // $DEFAULT, served by the $LATEST function
    ];
    for (target, qualifier, timeout) in cases {
        let event = gateway.get(target).json();
        assert_eq!(event["headers"]["x-qualifier"], *qualifier, "{target}");
        assert_eq!(event["headers"]["endpoint-timeout"], *timeout, "{target}");
    }
    let event = gateway.get("/release/pinned").json();
    assert_eq!(event["requestContext"]["path"], "/pinned");
    assert_eq!(event["requestContext"]["httpMethod"], "GET");
}

#[test]
fn request_ids_are_32_hex_digits_in_the_event_and_the_response() {
    let gateway = start();
    let response = gateway.get("/release/echo");
    let id = response.request_id().to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)), "{id}");
    let event = response.json();
    assert_eq!(event["requestContext"]["requestId"], id.as_str());
    assert_eq!(event["headers"]["x-api-requestid"], id.as_str());
    // With no trace header from the client, the request id is the trace id: a valid 32-digit one.
    assert_eq!(event["headers"]["x-b3-traceid"], id.as_str());
}

#[test]
fn integrated_response_header_arrays_become_one_field_per_value() {
    let gateway = start();
    let reply = r#"{"statusCode":201,"headers":{"Content-Type":"text/plain","Set-Cookie":["a=1; Path=/","b=2"],"X-Tag":["one","two","three"],"X-Single":["only"]},"body":"made"}"#;
    let mut query = String::new();
    for byte in reply.bytes() {
        query.push_str(&format!("%{byte:02X}"));
    }
    let response = gateway.get(&format!("/release/integrated?scf_raw={query}"));
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.text(), "made");
    assert_eq!(response.header_all("set-cookie"), ["a=1; Path=/", "b=2"]);
    assert_eq!(response.header_all("x-tag"), ["one", "two", "three"]);
    assert_eq!(response.header_all("x-single"), ["only"]);
    assert_eq!(response.header_all("content-type"), ["text/plain"]);
}
