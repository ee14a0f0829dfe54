//! Request smuggling and message framing (RFC 9112), against the real binary: header injection
//! (NUL, CR, LF), obs-fold, repeated and malformed `Content-Length`, `Transfer-Encoding`
//! obfuscations, chunk sizes, request targets (absolute-form, `*`, dot segments, encoded tricks),
//! requests hidden in bodies, and requests pipelined after a refused one.
//!
//! Each case is sent with a second request pipelined right behind it in the same write. Either the
//! framing is unambiguous, and both are answered, or the request is refused, the connection
//! closes, and the second request is never executed. "Executed" is checked at the function: every
//! API here calls one remote endpoint that records each event it receives.

mod common;

use serde_json::Value;

use common::{Gateway, RemoteEndpoint, Reply};

const HOST: &str = "smuggling.test";

fn config(invoke_url: &str) -> String {
    format!(
        r#"
[[service]]
id = "service-smuggling"
name = "smuggling"
[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = {{ name = "echo" }}
[[service.api]]
name = "other"
path = "/other"
method = "ANY"
function = {{ name = "echo" }}
[[service.api]]
name = "get-only"
path = "/get-only"
method = "GET"
function = {{ name = "echo" }}

[[service]]
id = "service-alpha"
name = "alpha"
hosts = ["alpha.example"]
[[service.api]]
name = "whoami"
path = "/whoami"
method = "GET"
function = {{ name = "echo" }}

[[service]]
id = "service-beta"
name = "beta"
hosts = ["beta.example"]
[[service.api]]
name = "whoami"
path = "/whoami"
method = "GET"
function = {{ name = "echo" }}

[[function]]
name = "echo"
runtime = "remote"
invoke_url = "{invoke_url}"
"#
    )
}

/// A gateway in front of a recording echo endpoint (pass-through: the response body is the event).
fn start() -> (Gateway, RemoteEndpoint) {
    let endpoint = RemoteEndpoint::start(Reply::echo());
    let gateway = Gateway::builder(&config(&endpoint.url("/"))).arg("--header-timeout", "2").start();
    (gateway, endpoint)
}

/// What the gateway must do with a case.
enum Outcome {
    /// Answered with `status`; for a 200 the echoed event must have each (JSON pointer, value).
    /// The request pipelined after it is answered too.
    Served { status: u16, event: &'static [(&'static str, &'static str)] },
    /// Refused with `status` and a body starting with `body`; `connection: close`, the connection
    /// closes, and the request pipelined after it is never executed.
    Refused { status: u16, body: &'static str },
}
use Outcome::{Refused, Served};

const MALFORMED: &str = r#"{"message":"Bad Request: malformed request head."}"#;
const INVALID_LENGTH: &str = r#"{"message":"Bad Request: invalid Content-Length."}"#;
const CONFLICTING_LENGTH: &str = r#"{"message":"Bad Request: conflicting Content-Length headers."}"#;
const BOTH: &str = r#"{"message":"Bad Request: both Content-Length and Transfer-Encoding."}"#;
const NOT_IMPLEMENTED: &str = r#"{"message":"Transfer-Encoding not implemented."}"#;
const INVALID_CHUNKED: &str = r#"{"message":"Bad Request: invalid chunked body."}"#;
const TOO_LARGE: &str = r#"{"message":"Request Entity Too Large."}"#;
const DOT_SEGMENTS: &str = r#"{"message":"Bad Request: dot segments in the request path."}"#;
const BAD_TARGET: &str = r#"{"message":"Bad Request: request target must be origin-form or absolute-form."}"#;
/// Any 400 (the exact detail is the gateway's choice).
const ANY_BAD_REQUEST: &str = r#"{"message":"Bad Request: "#;

/// `POST /release/echo` with `headers` (each line without CRLF) and `body`, as raw bytes.
fn post(headers: &[&str], body: &str) -> Vec<u8> {
    raw("POST /release/echo HTTP/1.1", headers, body)
}

/// A request line, `Host`, `headers` and `body`, as raw bytes.
fn raw(request_line: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut text = format!("{request_line}\r\nHost: {HOST}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}

/// `GET <target>` with `Host`.
fn get(target: &str) -> Vec<u8> {
    raw(&format!("GET {target} HTTP/1.1"), &[], "")
}

/// The request pipelined after each case.
fn follow_up(index: usize) -> Vec<u8> {
    get(&format!("/release/other?probe={index}"))
}

/// A complete request, as it could be hidden in a body.
const HIDDEN: &str = "GET /release/other?smuggled=1 HTTP/1.1\r\nHost: smuggling.test\r\n\r\n";

fn cases() -> Vec<(&'static str, Vec<u8>, Outcome)> {
    let hidden_chunked = format!("{:x}\r\n{HIDDEN}\r\n0\r\n\r\n", HIDDEN.len());
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Outcome)> = vec![
        // --- Injection into header names and values (RFC 9110 §5.5: CR, LF and NUL are never
        // --- part of a field; RFC 9112 §5.1: no whitespace between name and colon).
        ("NUL in a header value", raw("GET /release/echo HTTP/1.1", &["X-A: a\0b"], ""), Refused { status: 400, body: MALFORMED }),
        ("NUL in a header name", raw("GET /release/echo HTTP/1.1", &["X-\0A: b"], ""), Refused { status: 400, body: MALFORMED }),
        ("NUL in the request target", get("/release/echo\0/x"), Refused { status: 400, body: MALFORMED }),
        ("bare CR in a header value", raw("GET /release/echo HTTP/1.1", &["X-A: a\rContent-Length: 5"], ""), Refused { status: 400, body: MALFORMED }),
        ("CR in a header name", raw("GET /release/echo HTTP/1.1", &["X\rA: b"], ""), Refused { status: 400, body: MALFORMED }),
        ("vertical tab in a value", raw("GET /release/echo HTTP/1.1", &["X-A: a\x0bb"], ""), Refused { status: 400, body: MALFORMED }),
        ("DEL in a value", raw("GET /release/echo HTTP/1.1", &["X-A: a\x7fb"], ""), Refused { status: 400, body: MALFORMED }),
        ("empty header name", raw("GET /release/echo HTTP/1.1", &[": v"], ""), Refused { status: 400, body: MALFORMED }),
        ("space inside a header name", raw("GET /release/echo HTTP/1.1", &["X A: v"], ""), Refused { status: 400, body: MALFORMED }),
        ("space before the colon", post(&["Content-Length : 5"], "hello"), Refused { status: 400, body: MALFORMED }),
        // RFC 9112 §2.2: whitespace between the start line and the first field is refused.
        ("whitespace before the first field", raw("GET /release/echo HTTP/1.1\r\n X-A: a", &[], ""), Refused { status: 400, body: MALFORMED }),
        // RFC 9112 §5.2: obs-fold is refused (400), so a folded line cannot hide a field.
        ("obs-fold", raw("GET /release/echo HTTP/1.1", &["X-A: a", " b"], ""), Refused { status: 400, body: MALFORMED }),
        ("obs-fold hiding Transfer-Encoding", post(&["X-A: a", " Transfer-Encoding: chunked", "Content-Length: 5"], "hello"), Refused { status: 400, body: MALFORMED }),
        // RFC 9112 §2.2: a bare LF may be read as a line end; then what follows it is a field
        // of its own, for the framing as for everything else.
        ("bare LF ends a field line", raw("GET /release/echo HTTP/1.1", &["X-A: a\nX-B: b"], ""),
            Served { status: 200, event: &[("/headers/x-a", "a"), ("/headers/x-b", "b")] }),
        ("bare LF before Content-Length", post(&["X-A: a\nContent-Length: 5"], "hello"),
            Served { status: 200, event: &[("/path", "/echo"), ("/body", "hello")] }),
        // obs-text (RFC 9110 §5.5) is allowed in a value.
        ("obs-text in a value", raw("GET /release/echo HTTP/1.1", &["X-A: caf\u{e9}"], ""), Served { status: 200, event: &[("/path", "/echo")] }),

        // --- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3).
        ("duplicate Content-Length, equal", post(&["Content-Length: 5", "Content-Length: 5"], "hello"),
            Served { status: 200, event: &[("/body", "hello")] }),
        ("duplicate Content-Length, different", post(&["Content-Length: 5", "Content-Length: 6"], "hello!"), Refused { status: 400, body: CONFLICTING_LENGTH }),
        ("Content-Length list", post(&["Content-Length: 5, 5"], "hello"), Refused { status: 400, body: INVALID_LENGTH }),
        ("Content-Length with a sign", post(&["Content-Length: +5"], "hello"), Refused { status: 400, body: INVALID_LENGTH }),
        ("Content-Length empty", post(&["Content-Length: "], ""), Refused { status: 400, body: INVALID_LENGTH }),
        ("Content-Length in hex", post(&["Content-Length: 0x5"], "hello"), Refused { status: 400, body: INVALID_LENGTH }),
        ("Content-Length with a non-ASCII digit", post(&["Content-Length: \u{0665}"], "hello"), Refused { status: 400, body: INVALID_LENGTH }),
        ("Content-Length with leading zeros", post(&["Content-Length: 005"], "hello"), Served { status: 200, event: &[("/body", "hello")] }),
        ("Content-Length padded with tabs", post(&["Content-Length:\t5\t"], "hello"), Served { status: 200, event: &[("/body", "hello")] }),
        ("Content-Length with Transfer-Encoding", post(&["Content-Length: 5", "Transfer-Encoding: chunked"], "0\r\n\r\n"), Refused { status: 400, body: BOTH }),
        ("Transfer-Encoding with Content-Length", post(&["Transfer-Encoding: chunked", "Content-Length: 5"], "0\r\n\r\n"), Refused { status: 400, body: BOTH }),
        // A Transfer-Encoding field without a coding is still a Transfer-Encoding field: with a
        // Content-Length it is the same conflict (a hop that sees "Transfer-Encoding present"
        // frames by it), and alone chunked is not its final coding (RFC 9112 §6.3: 400).
        ("empty Transfer-Encoding with Content-Length", post(&["Transfer-Encoding: ", "Content-Length: 5"], "hello"), Refused { status: 400, body: ANY_BAD_REQUEST }),
        ("Transfer-Encoding `,` with Content-Length", post(&["Transfer-Encoding: ,", "Content-Length: 5"], "hello"), Refused { status: 400, body: ANY_BAD_REQUEST }),
        ("empty Transfer-Encoding alone", post(&["Transfer-Encoding: "], "0\r\n\r\n"), Refused { status: 400, body: ANY_BAD_REQUEST }),
        // A header that only looks like one: not a framing field.
        ("Transfer_Encoding with an underscore", post(&["Transfer_Encoding: chunked", "Content-Length: 5"], "hello"),
            Served { status: 200, event: &[("/body", "hello")] }),

        // --- Transfer-Encoding obfuscations (RFC 9112 §6.1, §7).
        ("chunked, chunked", post(&["Transfer-Encoding: chunked, chunked"], "0\r\n\r\n"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("chunked twice in two fields", post(&["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], "0\r\n\r\n"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("xchunked", post(&["Transfer-Encoding: xchunked"], "0\r\n\r\n"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("chunked, gzip", post(&["Transfer-Encoding: chunked, gzip"], "0\r\n\r\n"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("quoted chunked", post(&["Transfer-Encoding: \"chunked\""], "0\r\n\r\n"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("chunked with a parameter", post(&["Transfer-Encoding: chunked;x=1"], "0\r\n\r\n"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("identity with Content-Length", post(&["Transfer-Encoding: identity", "Content-Length: 5"], "hello"), Refused { status: 501, body: NOT_IMPLEMENTED }),
        ("vertical tab before chunked", post(&["Transfer-Encoding:\x0bchunked"], "0\r\n\r\n"), Refused { status: 400, body: MALFORMED }),
        // Optional whitespace and case do not change a coding's name.
        ("`chunked ` (trailing space)", post(&["Transfer-Encoding: chunked "], "5\r\nhello\r\n0\r\n\r\n"), Served { status: 200, event: &[("/body", "hello")] }),
        ("tab before chunked", post(&["Transfer-Encoding:\tchunked"], "5\r\nhello\r\n0\r\n\r\n"), Served { status: 200, event: &[("/body", "hello")] }),
        ("CHUNKED", post(&["Transfer-Encoding: CHUNKED"], "5\r\nhello\r\n0\r\n\r\n"), Served { status: 200, event: &[("/body", "hello")] }),
        ("empty list element before chunked", post(&["Transfer-Encoding: , chunked"], "5\r\nhello\r\n0\r\n\r\n"), Served { status: 200, event: &[("/body", "hello")] }),
        ("Transfer-Encoding in HTTP/1.0", raw("POST /release/echo HTTP/1.0", &["Transfer-Encoding: chunked"], "0\r\n\r\n"), Refused { status: 400, body: ANY_BAD_REQUEST }),

        // --- Chunk sizes (RFC 9112 §7.1: chunk-size = 1*HEXDIG).
        ("negative chunk size", post(&["Transfer-Encoding: chunked"], "-1\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("0x chunk size", post(&["Transfer-Encoding: chunked"], "0x5\r\nhello\r\n0\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("signed chunk size", post(&["Transfer-Encoding: chunked"], "+5\r\nhello\r\n0\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("space before the chunk size", post(&["Transfer-Encoding: chunked"], " 5\r\nhello\r\n0\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("empty chunk size", post(&["Transfer-Encoding: chunked"], "\r\nhello\r\n0\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("chunk size overflowing 64 bits", post(&["Transfer-Encoding: chunked"], "10000000000000005\r\nhello\r\n0\r\n\r\n"), Refused { status: 413, body: TOO_LARGE }),
        ("chunk longer than its size", post(&["Transfer-Encoding: chunked"], "3\r\nhello\r\n0\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("bare LF in chunk framing", post(&["Transfer-Encoding: chunked"], "5\nhello\n0\n\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("bare LF in a chunk extension", post(&["Transfer-Encoding: chunked"], "5;a\nb\r\nhello\r\n0\r\n\r\n"), Refused { status: 400, body: INVALID_CHUNKED }),
        ("chunk extension", post(&["Transfer-Encoding: chunked"], "5;name=\"v\"\r\nhello\r\n0\r\n\r\n"), Served { status: 200, event: &[("/body", "hello")] }),
        // Trailer fields never frame anything (RFC 9112 §7.1.2).
        ("Content-Length in the trailer", post(&["Transfer-Encoding: chunked"], "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"), Served { status: 200, event: &[("/body", "hello")] }),

        // --- Request targets (RFC 9112 §3.2): the API a reader of the target sees, or a 400.
        ("absolute-form", raw("GET http://smuggling.test/release/echo?abs=1 HTTP/1.1", &[], ""),
            Served { status: 200, event: &[("/path", "/echo"), ("/queryString/abs", "1")] }),
        // §3.2.2: the authority of an absolute-form target wins over Host.
        ("absolute-form authority over Host", b"GET http://alpha.example/release/whoami HTTP/1.1\r\nHost: beta.example\r\n\r\n".to_vec(),
            Served { status: 200, event: &[("/requestContext/serviceId", "service-alpha"), ("/headers/host", "alpha.example")] }),
        ("absolute-form without Host", b"GET http://alpha.example/release/whoami HTTP/1.1\r\n\r\n".to_vec(),
            Served { status: 200, event: &[("/requestContext/serviceId", "service-alpha"), ("/headers/host", "alpha.example")] }),
        ("absolute-form without a path", get("http://smuggling.test"), Refused { status: 400, body: ANY_BAD_REQUEST }),
        ("absolute-form of another scheme", get("ftp://smuggling.test/release/echo"), Refused { status: 400, body: BAD_TARGET }),
        ("asterisk-form", raw("OPTIONS * HTTP/1.1", &[], ""), Refused { status: 400, body: BAD_TARGET }),
        ("authority-form", raw("CONNECT smuggling.test:443 HTTP/1.1", &[], ""), Refused { status: 400, body: BAD_TARGET }),
        ("dot-dot segment", get("/release/other/../echo"), Refused { status: 400, body: DOT_SEGMENTS }),
        ("trailing dot-dot", get("/release/echo/.."), Refused { status: 400, body: DOT_SEGMENTS }),
        ("%2e%2e segment", get("/release/other/%2e%2e/echo"), Refused { status: 400, body: DOT_SEGMENTS }),
        (".%2E segment", get("/release/other/.%2E/echo"), Refused { status: 400, body: DOT_SEGMENTS }),
        ("%2E segment", get("/release/other/%2E/echo"), Refused { status: 400, body: DOT_SEGMENTS }),
        // Not dot segments: served by the API their raw path names, never the one they decode to.
        ("%2f..%2f", get("/release/other%2f..%2fecho"), Served { status: 200, event: &[("/requestContext/path", "/other")] }),
        ("backslashes", get("/release/other\\..\\echo"), Served { status: 200, event: &[("/requestContext/path", "/other")] }),
        ("double-encoded dots", get("/release/other/%252e%252e/echo"), Served { status: 200, event: &[("/requestContext/path", "/other")] }),
        ("three dots", get("/release/other/.../echo"), Served { status: 200, event: &[("/requestContext/path", "/other")] }),
        ("dot-dot in the query", get("/release/echo?x=/../other"), Served { status: 200, event: &[("/requestContext/path", "/echo")] }),
        // RFC 9110 §9.1: methods are case-sensitive; `get` is not GET.
        ("lower-case method", raw("get /release/get-only HTTP/1.1", &[], ""), Served { status: 405, event: &[] }),
        // RFC 9112 §2.2: an empty line before the request line is ignored.
        ("empty line before the request", [&b"\r\n"[..], &get("/release/echo?lead=1")].concat(), Served { status: 200, event: &[("/queryString/lead", "1")] }),

        // --- A request inside a body is data, never a request.
        ("request in a Content-Length body", post(&[&format!("Content-Length: {}", HIDDEN.len())], HIDDEN),
            Served { status: 200, event: &[("/path", "/echo"), ("/body", HIDDEN)] }),
        ("request in a chunked body", post(&["Transfer-Encoding: chunked"], &hidden_chunked),
            Served { status: 200, event: &[("/path", "/echo"), ("/body", HIDDEN)] }),
        ("request in a GET body", raw("GET /release/echo HTTP/1.1", &[&format!("Content-Length: {}", HIDDEN.len())], HIDDEN),
            Served { status: 200, event: &[("/path", "/echo"), ("/body", HIDDEN)] }),
    ];
    cases
}

/// The first 160 characters of a body, for failure messages.
fn short(text: String) -> String {
    match text.char_indices().nth(160) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// `queryString.<key>` of each event the endpoint received.
fn recorded_query(endpoint: &RemoteEndpoint, key: &str) -> Vec<String> {
    endpoint
        .recorded()
        .iter()
        .filter_map(|seen| serde_json::from_slice::<Value>(&seen.body).ok())
        .filter_map(|event| event["queryString"][key].as_str().map(str::to_string))
        .collect()
}

#[test]
fn framing_and_targets_follow_rfc_9112_and_nothing_is_smuggled() {
    let (gateway, endpoint) = start();
    let cases = cases();
    let mut failures = Vec::new();
    for (index, (label, request, outcome)) in cases.iter().enumerate() {
        let mut client = gateway.connect();
        let mut bytes = request.clone();
        bytes.extend(follow_up(index));
        // The gateway may close before it has read everything: a failed write is not the point.
        let _ = client.try_send(&bytes);
        let response = match client.try_read_response(false) {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("{label}: no response: {error}"));
                continue;
            }
        };
        match outcome {
            Served { status, event } => {
                if response.status != *status {
                    failures.push(format!(
                        "{label}: got {} {} (expected {status})",
                        response.status,
                        short(response.text())
                    ));
                    continue;
                }
                if *status == 200 {
                    let echoed = response.json();
                    for (pointer, value) in event.iter() {
                        let seen = echoed.pointer(pointer).and_then(Value::as_str);
                        if seen != Some(*value) {
                            failures.push(format!("{label}: event {pointer} is {seen:?}, expected {value:?}"));
                        }
                    }
                }
                // The framing was unambiguous: the pipelined request is the next request.
                match client.try_read_response(false) {
                    Ok(next)
                        if next.status == 200
                            && next.json()["queryString"]["probe"].as_str() == Some(index.to_string().as_str()) => {}
                    Ok(next) => failures.push(format!(
                        "{label}: the pipelined request got {} {}",
                        next.status,
                        short(next.text())
                    )),
                    Err(error) => failures.push(format!("{label}: the pipelined request got no response: {error}")),
                }
            }
            Refused { status, body } => {
                if response.status != *status || !response.text().starts_with(body) {
                    failures.push(format!(
                        "{label}: got {} {} (expected {status} {body})",
                        response.status,
                        short(response.text())
                    ));
                }
                if !response.closes() {
                    failures.push(format!("{label}: no `connection: close`"));
                }
                if response.header("x-api-requestid").is_none() {
                    failures.push(format!("{label}: no x-api-requestid"));
                }
                if !client.closed_by_server() {
                    failures.push(format!("{label}: the connection stayed open after the refusal"));
                }
            }
        }
    }
    // Nothing pipelined after a refused request, and nothing hidden in a body, was executed.
    let probes = recorded_query(&endpoint, "probe");
    for (index, (label, _, outcome)) in cases.iter().enumerate() {
        let runs = probes.iter().filter(|probe| **probe == index.to_string()).count();
        let expected = usize::from(matches!(outcome, Served { .. }));
        if runs != expected {
            failures.push(format!(
                "{label}: the request pipelined after it reached the function {runs} times (expected {expected})"
            ));
        }
    }
    // And nothing else ran: the function saw exactly one event per answered request (a served
    // case and its pipelined request, or the pipelined request alone after a 405).
    let expected_events: usize = cases
        .iter()
        .map(|(_, _, outcome)| match outcome {
            Served { status: 200, .. } => 2,
            Served { .. } => 1,
            Refused { .. } => 0,
        })
        .sum();
    if endpoint.requests() != expected_events {
        failures.push(format!("the function received {} events, expected {expected_events}", endpoint.requests()));
    }
    let smuggled = recorded_query(&endpoint, "smuggled");
    if !smuggled.is_empty() {
        failures.push(format!("a request hidden in a body was executed {} times", smuggled.len()));
    }
    let failed = cases
        .iter()
        .filter(|(label, _, _)| failures.iter().any(|failure| failure.starts_with(&format!("{label}:"))))
        .count();
    assert!(failures.is_empty(), "{failed} of {} cases failed:\n{}", cases.len(), failures.join("\n"));
}

#[test]
fn requests_pipelined_after_a_refused_one_are_never_executed() {
    let (gateway, endpoint) = start();
    #[rustfmt::skip]
    let refusals: Vec<(&str, Vec<u8>, u16)> = vec![
        ("conflicting framing", post(&["Content-Length: 4", "Transfer-Encoding: chunked"], "0\r\n\r\n"), 400),
        ("unparseable head", b"NOT HTTP\r\n\r\n".to_vec(), 400),
        ("unknown transfer coding", post(&["Transfer-Encoding: gzip"], ""), 501),
        ("bad chunk", post(&["Transfer-Encoding: chunked"], "zz\r\n"), 400),
        ("dot segments", get("/release/other/../echo"), 400),
        ("body over the limit", post(&["Content-Length: 999999999"], ""), 413),
    ];
    let mut failures = Vec::new();
    for (index, (label, refused, status)) in refusals.iter().enumerate() {
        // Served, refused, then three more: answered, refused, and nothing after.
        let mut bytes = get(&format!("/release/echo?before={index}"));
        bytes.extend(refused);
        for later in 0..3 {
            bytes.extend(get(&format!("/release/other?after={index}-{later}")));
        }
        let mut client = gateway.connect();
        let _ = client.try_send(&bytes);
        match client.try_read_response(false) {
            Ok(first)
                if first.status == 200
                    && first.json()["queryString"]["before"].as_str() == Some(index.to_string().as_str()) => {}
            Ok(first) => {
                failures.push(format!("{label}: the request before it got {} {}", first.status, short(first.text())))
            }
            Err(error) => failures.push(format!("{label}: the request before it got no response: {error}")),
        }
        match client.try_read_response(false) {
            Ok(response) if response.status == *status && response.closes() => {}
            Ok(response) => failures.push(format!(
                "{label}: got {} {} (expected {status}, closing)",
                response.status,
                short(response.text())
            )),
            Err(error) => failures.push(format!("{label}: no response: {error}")),
        }
        if !client.closed_by_server() {
            failures.push(format!(
                "{label}: something followed the refusal: {:?}",
                String::from_utf8_lossy(client.leftover())
            ));
        }
    }
    let executed = recorded_query(&endpoint, "after");
    if !executed.is_empty() {
        failures.push(format!("requests pipelined after a refusal were executed: {executed:?}"));
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn heads_with_lf_line_ends_are_read_as_crlf_ones() {
    // RFC 9112 §2.2 lets a recipient read a bare LF as a line end; the gateway does. Then every
    // mix of LF and CRLF must end the head where a reader sees it end, whatever comes after it
    // (here: nothing; the client waits for its answer).
    let (gateway, _endpoint) = start();
    #[rustfmt::skip]
    let cases: Vec<(&str, &[u8])> = vec![
        ("CRLF", b"GET /release/echo?n=1 HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\r\n"),
        ("LF", b"GET /release/echo?n=1 HTTP/1.1\nHost: h\nX-A: a\n\n"),
        ("CRLF lines, LF to end", b"GET /release/echo?n=1 HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\n"),
        ("CRLF lines, LF CRLF to end", b"GET /release/echo?n=1 HTTP/1.1\r\nHost: h\r\nX-A: a\n\r\n"),
        ("LF lines, CRLF to end", b"GET /release/echo?n=1 HTTP/1.1\nHost: h\nX-A: a\n\r\n"),
    ];
    let mut failures = Vec::new();
    for (label, request) in cases {
        let mut client = gateway.connect();
        client.send(request);
        match client.try_read_response(false) {
            Ok(response) if response.status == 200 && response.json()["headers"]["x-a"] == "a" => {}
            Ok(response) => failures.push(format!("{label}: got {} {}", response.status, short(response.text()))),
            Err(error) => failures.push(format!("{label}: no response (the head was never seen as complete): {error}")),
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
