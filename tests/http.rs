//! HTTP/1.1 on the client side of the gateway: keep-alive, pipelining, `Connection: close`,
//! chunked and `Expect: 100-continue` request bodies, refusals (400/413/431/501) that close the
//! connection, and the header and idle timeouts.

mod common;

use std::thread;
use std::time::Duration;

use common::Gateway;

const CONFIG: &str = r#"
[[service]]
id = "service-http"
name = "http"
stages = ["release"]

[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2
"#;

const MAX_HEADER_BYTES: usize = 2048;
const MAX_BODY_BYTES: usize = 1024;

fn start() -> Gateway {
    Gateway::builder(CONFIG)
        .function("echo", "echo")
        .arg("--max-header-bytes", &MAX_HEADER_BYTES.to_string())
        .arg("--max-body-bytes", &MAX_BODY_BYTES.to_string())
        .start()
}

/// The event's `queryString.n` and `body`, from an echo response.
fn n_and_body(response: &common::Response) -> (String, String) {
    assert_eq!(response.status, 200, "{}", response.text());
    let event = response.json();
    (
        event["queryString"]["n"].as_str().unwrap_or_default().to_string(),
        event["body"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let gateway = start();
    let mut client = gateway.connect();
    let host = gateway.host();
    for n in 0..6 {
        let body = if n % 2 == 0 { String::new() } else { format!("body {n}") };
        let method = if n % 2 == 0 { "GET" } else { "POST" };
        client.send_request(method, &format!("/release/echo?n={n}"), &host, &[], body.as_bytes());
        let response = client.read_response();
        assert!(!response.closes(), "request {n} closed the connection");
        assert_eq!(n_and_body(&response), (n.to_string(), body));
    }
    // An error response keeps the connection too (the request was framed correctly).
    client.send_request("GET", "/release/nowhere", &host, &[], b"");
    assert_eq!(client.read_response().status, 404);
    client.send_request("GET", "/release/echo?n=last", &host, &[], b"");
    assert_eq!(n_and_body(&client.read_response()).0, "last");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let gateway = start();
    let host = gateway.host();
    let mut client = gateway.connect();
    // Three requests in one write, one with a body, one with a chunked body.
    let mut bytes = common::request_bytes("GET", "/release/echo?n=1", &host, &[], b"");
    bytes.extend(common::request_bytes("POST", "/release/echo?n=2", &host, &[], b"second"));
    bytes.extend(common::request_bytes(
        "POST",
        "/release/echo?n=3",
        &host,
        &[("Transfer-Encoding", "chunked")],
        b"5\r\nthird\r\n0\r\n\r\n",
    ));
    client.send(&bytes);
    let answers: Vec<(String, String)> = (0..3).map(|_| n_and_body(&client.read_response())).collect();
    assert_eq!(answers, [("1".into(), "".into()), ("2".into(), "second".into()), ("3".into(), "third".into())]);

    // Fifty in one write, the last asking to close.
    let mut bytes = Vec::new();
    for n in 0..50 {
        let headers: &[(&str, &str)] = if n == 49 { &[("Connection", "close")] } else { &[] };
        bytes.extend(common::request_bytes("GET", &format!("/release/echo?n={n}"), &host, headers, b""));
    }
    let mut many = gateway.connect();
    many.send(&bytes);
    for n in 0..50 {
        assert_eq!(n_and_body(&many.read_response()).0, n.to_string());
    }
    assert!(many.closed_by_server());

    // A head split into many small writes.
    let mut split = gateway.connect();
    for piece in common::request_bytes("GET", "/release/echo?n=split", &host, &[("X-A", "1")], b"").chunks(3) {
        split.send(piece);
    }
    assert_eq!(n_and_body(&split.read_response()).0, "split");

    // An error in the middle of a pipeline does not disturb the requests after it.
    let mut bytes = common::request_bytes("GET", "/release/echo?n=4", &host, &[], b"");
    bytes.extend(common::request_bytes("GET", "/release/missing", &host, &[], b""));
    bytes.extend(common::request_bytes("GET", "/release/echo?n=6", &host, &[], b""));
    client.send(&bytes);
    assert_eq!(n_and_body(&client.read_response()).0, "4");
    assert_eq!(client.read_response().status, 404);
    assert_eq!(n_and_body(&client.read_response()).0, "6");

    // A request that cannot be parsed ends the pipeline: the requests before it are answered
    // first, in order, then its 400, then the connection closes.
    let mut bytes = common::request_bytes("GET", "/release/echo?n=7", &host, &[], b"");
    bytes.extend(common::request_bytes("GET", "/release/echo?n=8", &host, &[], b""));
    bytes.extend_from_slice(b"NOT HTTP AT ALL\r\n\r\n");
    client.send(&bytes);
    assert_eq!(n_and_body(&client.read_response()).0, "7");
    assert_eq!(n_and_body(&client.read_response()).0, "8");
    assert_eq!(client.read_response().status, 400);
    assert!(client.closed_by_server());
}

#[test]
fn connection_close_is_honoured() {
    let gateway = start();
    let host = gateway.host();
    // (request, whether the connection stays open after the response)
    #[rustfmt::skip]
    let cases: Vec<(Vec<u8>, bool)> = vec![
        // HTTP/1.1 keeps the connection by default.
        (format!("GET /release/echo HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), true),
        // `Connection: close` (any case, in a list) closes it after the response.
        (format!("GET /release/echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes(), false),
        (format!("GET /release/echo HTTP/1.1\r\nHost: {host}\r\nConnection: foo, Close\r\n\r\n").into_bytes(), false),
        // HTTP/1.0 closes unless it asks for keep-alive.
        (format!("GET /release/echo HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes(), false),
        (format!("GET /release/echo HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n").into_bytes(), true),
        // Error responses follow the same rule.
        (format!("GET /release/nowhere HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes(), false),
    ];
    for (request, stays_open) in cases {
        let label = String::from_utf8_lossy(&request).lines().take(3).collect::<Vec<_>>().join(" | ");
        let mut client = gateway.connect();
        client.send(&request);
        let response = client.read_response();
        assert_eq!(response.closes(), !stays_open, "{label}: connection header {:?}", response.header("connection"));
        if stays_open {
            client.send(&request);
            assert_eq!(client.read_response().status, response.status, "{label}: second request");
        } else {
            assert!(client.closed_by_server(), "{label}: the gateway did not close");
        }
    }

    // A request pipelined after `Connection: close` is not answered.
    let mut client = gateway.connect();
    let mut bytes = common::request_bytes("GET", "/release/echo?n=1", &host, &[("Connection", "close")], b"");
    bytes.extend(common::request_bytes("GET", "/release/echo?n=2", &host, &[], b""));
    client.send(&bytes);
    assert_eq!(n_and_body(&client.read_response()).0, "1");
    assert!(client.closed_by_server(), "a request after Connection: close was answered");
}

#[test]
fn chunked_request_bodies_are_decoded() {
    let gateway = start();
    let host = gateway.host();
    #[rustfmt::skip]
    let cases: Vec<(&str, &str)> = vec![
        // (chunked encoding, decoded body) — RFC 9112 §7.1
        ("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
        // Upper-case hex sizes.
        ("A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        // Chunk extensions are ignored.
        ("5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello"),
        // Trailer fields are read and dropped.
        ("5\r\nhello\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n", "hello"),
        // An empty body.
        ("0\r\n\r\n", ""),
    ];
    for (encoded, decoded) in cases {
        let mut client = gateway.connect();
        client.send_request(
            "POST",
            "/release/echo?n=c",
            &host,
            &[("Transfer-Encoding", "chunked")],
            encoded.as_bytes(),
        );
        let response = client.read_response();
        assert_eq!(n_and_body(&response).1, decoded, "{encoded:?}");
        // The connection goes on after the body: the framing was understood exactly.
        client.send_request("GET", "/release/echo?n=after", &host, &[], b"");
        assert_eq!(n_and_body(&client.read_response()).0, "after", "{encoded:?}");
    }

    // A body that trickles in, split inside sizes, data and CRLFs.
    let mut client = gateway.connect();
    client
        .send(format!("POST /release/echo HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes());
    for piece in ["1", "0\r", "\nabcdefgh", "ijklmnop\r", "\n3\r\nxyz", "\r\n0\r\n", "\r\n"] {
        thread::sleep(Duration::from_millis(20));
        client.send(piece.as_bytes());
    }
    assert_eq!(n_and_body(&client.read_response()).1, "abcdefghijklmnopxyz");
}

#[test]
fn expect_100_continue() {
    let gateway = start();
    let host = gateway.host();

    // The body is not sent yet: the gateway says 100 Continue, then answers the request.
    let mut client = gateway.connect();
    client.send(
        format!("POST /release/echo HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .as_bytes(),
    );
    let interim = client.read_response();
    assert_eq!((interim.status, interim.reason.as_str()), (100, "Continue"));
    client.send(b"hello");
    assert_eq!(n_and_body(&client.read_response()).1, "hello");

    // Same with a chunked body.
    client.send(
        format!(
            "POST /release/echo HTTP/1.1\r\nHost: {host}\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(client.read_response().status, 100);
    client.send(b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(n_and_body(&client.read_response()).1, "abc");

    // The body came with the head: no 100, just the answer.
    let mut client = gateway.connect();
    client.send(
        format!("POST /release/echo HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
            .as_bytes(),
    );
    let response = client.read_response();
    assert_eq!(n_and_body(&response).1, "abc");

    // A body over the limit is refused before the client sends it: 413, no 100.
    let mut client = gateway.connect();
    client.send(
        format!(
            "POST /release/echo HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        )
        .as_bytes(),
    );
    let response = client.read_response();
    assert_eq!(response.status, 413);
    assert!(client.closed_by_server());
}

#[test]
fn expect_100_continue_is_ignored_for_http10() {
    let gateway = start();
    let host = gateway.host();
    // RFC 9110 §10.1.1: an HTTP/1.0 client's 100-continue expectation is ignored — no interim
    // response; the answer comes once the body has arrived.
    let mut client = gateway.connect();
    client.send(
        format!("POST /release/echo HTTP/1.0\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .as_bytes(),
    );
    thread::sleep(Duration::from_millis(300));
    client.send(b"hello");
    let response = client.read_response();
    assert_eq!(response.status, 200, "an HTTP/1.0 request got {} {:?} first", response.status, response.reason);
    assert_eq!(n_and_body(&response).1, "hello");
}

#[test]
fn refused_requests_get_an_error_and_the_connection_closes() {
    let gateway = start();
    let host = gateway.host();
    let bad = |detail: &str| format!(r#"{{"message":"Bad Request: {detail}."}}"#);
    let too_large = r#"{"message":"Request Entity Too Large."}"#.to_string();
    let head_too_large = r#"{"message":"Request Header Fields Too Large."}"#.to_string();
    let not_implemented = r#"{"message":"Transfer-Encoding not implemented."}"#.to_string();
    let get = |extra: &str| format!("GET /release/echo HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").into_bytes();
    let post = |extra: &str, body: &str| {
        format!("POST /release/echo HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n{body}").into_bytes()
    };
    let many_headers: String = (0..101).map(|index| format!("X-{index}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(MAX_HEADER_BYTES));
    let half = "a".repeat(512);
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, u16, String)> = vec![
        // A header line without a colon.
        ("no colon", get("Broken header line\r\n"), 400, bad("malformed request head")),
        ("garbage", b"GARBAGE\r\n\r\n".to_vec(), 400, bad("malformed request head")),
        // Only HTTP/1.x.
        ("HTTP/2.0", format!("GET /release/echo HTTP/2.0\r\nHost: {host}\r\n\r\n").into_bytes(), 400, bad("unsupported HTTP version")),
        // RFC 9112 §3.2: origin-form or absolute-form only.
        ("asterisk target", format!("GET * HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 400, bad("request target must be origin-form or absolute-form")),
        // Dot segments, literal or percent-encoded, are refused rather than resolved.
        ("dot-dot", format!("GET /release/../echo HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 400, bad("dot segments in the request path")),
        ("dot", format!("GET /release/./echo HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 400, bad("dot segments in the request path")),
        ("encoded dot-dot", format!("GET /release/echo/%2e%2E HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 400, bad("dot segments in the request path")),
        // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host.
        ("no Host", b"GET /release/echo HTTP/1.1\r\n\r\n".to_vec(), 400, bad("missing Host header")),
        ("two Hosts", get("Host: other\r\n"), 400, bad("more than one Host header")),
        // RFC 9112 §6.1: Content-Length and Transfer-Encoding together are refused (smuggling).
        ("CL and TE", post("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, bad("both Content-Length and Transfer-Encoding")),
        // RFC 9110 §8.6: Content-Length is 1*DIGIT; repeated values must agree.
        ("CL not a number", post("Content-Length: abc\r\n", ""), 400, bad("invalid Content-Length")),
        ("CL negative", post("Content-Length: -1\r\n", ""), 400, bad("invalid Content-Length")),
        ("CL conflicting", post("Content-Length: 3\r\nContent-Length: 4\r\n", "abc"), 400, bad("conflicting Content-Length headers")),
        ("TE in HTTP/1.0", format!("POST /release/echo HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes(), 400, bad("Transfer-Encoding in an HTTP/1.0 request")),
        // A chunked body that is not chunked syntax.
        ("bad chunk size", post("Transfer-Encoding: chunked\r\n", "zz\r\n"), 400, bad("invalid chunked body")),
        ("bad chunk end", post("Transfer-Encoding: chunked\r\n", "3\r\nabcX"), 400, bad("invalid chunked body")),
        // Transfer codings other than chunked: 501.
        ("TE gzip", post("Transfer-Encoding: gzip\r\n", ""), 501, not_implemented.clone()),
        ("TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", ""), 501, not_implemented.clone()),
        // A head over --max-header-bytes, or with more than 100 fields: 431.
        ("big head", get(&big_header), 431, head_too_large.clone()),
        ("101 headers", get(&many_headers), 431, head_too_large.clone()),
        // A body over --max-body-bytes: 413, by Content-Length (before the body is sent) ...
        ("CL over limit", post(&format!("Content-Length: {}\r\n", MAX_BODY_BYTES + 1), ""), 413, too_large.clone()),
        // ... or as a chunked body grows past it.
        ("chunked over limit", post("Transfer-Encoding: chunked\r\n", &format!("200\r\n{half}\r\n300\r\n")), 413, too_large.clone()),
        ("one huge chunk", post("Transfer-Encoding: chunked\r\n", "FFFFFFFFFFFF\r\n"), 413, too_large.clone()),
    ];
    let mut failures = Vec::new();
    for (label, request, status, body) in &cases {
        let mut client = gateway.connect();
        // The gateway may close before it has read everything: a failed write is not the point.
        let _ = client.try_send(request);
        let response = match client.try_read_response(false) {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("{label}: no response: {error}"));
                continue;
            }
        };
        if response.status != *status || response.text() != *body {
            failures.push(format!("{label}: got {} {} (expected {status} {body})", response.status, response.text()));
        }
        if !response.closes() {
            failures.push(format!("{label}: no `connection: close`"));
        }
        if response.header("x-api-requestid").is_none() {
            failures.push(format!("{label}: no x-api-requestid"));
        }
        if !client.closed_by_server() {
            failures.push(format!("{label}: the connection stayed open"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));

    // The limits themselves are allowed.
    let body = "b".repeat(MAX_BODY_BYTES);
    let response = gateway.request("POST", "/release/echo", &[], body.as_bytes());
    assert_eq!(n_and_body(&response).1, body);
    let response = gateway.request(
        "POST",
        "/release/echo",
        &[("Transfer-Encoding", "chunked")],
        format!("400\r\n{body}\r\n0\r\n\r\n").as_bytes(),
    );
    assert_eq!(n_and_body(&response).1, body);
    // The gateway still serves after all of that.
    assert_eq!(gateway.get("/release/echo").status, 200);
}

#[test]
fn a_client_that_stalls_mid_head_is_disconnected() {
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").arg("--header-timeout", "1").start();
    let mut slow = gateway.connect();
    slow.send(format!("GET /release/echo HTTP/1.1\r\nHost: {}\r\nX-Half: ", gateway.host()).as_bytes());

    // Another one trickles its head a byte at a time: the limit counts from its first byte, so
    // it is dropped as well (a write fails once the gateway has closed).
    let addr = gateway.addr();
    let trickle = thread::spawn(move || {
        let mut client = common::Client::connect(addr);
        let head = format!("GET /release/echo HTTP/1.1\r\nHost: x\r\nX-Long: {}", "a".repeat(200));
        for byte in head.as_bytes() {
            if client.try_send(&[*byte]).is_err() {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        false
    });

    // Meanwhile another client is served normally.
    let response = gateway.get("/release/echo?n=other");
    assert_eq!(n_and_body(&response).0, "other");

    // The slow client is dropped (upper bound: the client's read limit).
    assert!(slow.closed_by_server(), "a client stalled mid-head was not disconnected");
    assert!(trickle.join().unwrap(), "a client trickling its head was not disconnected");

    // A client that sends nothing is under the idle timeout (default 60 s), not the header
    // timeout: it may still send a request after the header timeout has passed.
    let mut quiet = gateway.connect();
    thread::sleep(Duration::from_millis(1500));
    quiet.send_request("GET", "/release/echo?n=late", &gateway.host(), &[], b"");
    assert_eq!(n_and_body(&quiet.read_response()).0, "late");
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").arg("--idle-timeout", "1").start();
    let mut client = gateway.connect();
    client.send_request("GET", "/release/echo?n=1", &gateway.host(), &[], b"");
    let response = client.read_response();
    assert!(!response.closes());
    assert_eq!(n_and_body(&response).0, "1");
    // Nothing more is sent: the gateway closes the idle connection.
    assert!(client.closed_by_server(), "an idle keep-alive connection was not closed");

    // A client that stops in the middle of its body is disconnected too.
    let mut stalled = gateway.connect();
    stalled.send(
        format!("POST /release/echo HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\n\r\nhalf", gateway.host()).as_bytes(),
    );
    assert!(stalled.closed_by_server(), "a client stalled mid-body was not disconnected");

    // A connection that never sends a byte is closed as well.
    let mut silent = gateway.connect();
    assert!(silent.closed_by_server(), "a silent connection was not closed");
}

#[test]
fn a_client_that_half_closes_still_gets_its_responses() {
    let gateway = start();
    let host = gateway.host();
    let mut client = gateway.connect();
    let mut bytes = common::request_bytes("GET", "/release/echo?n=1", &host, &[], b"");
    bytes.extend(common::request_bytes("POST", "/release/echo?n=2", &host, &[], b"two"));
    client.send(&bytes);
    // Like `printf ... | nc`: the client is done sending before it reads.
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(n_and_body(&client.read_response()), ("1".into(), "".into()));
    assert_eq!(n_and_body(&client.read_response()), ("2".into(), "two".into()));
    assert!(client.closed_by_server());
}

#[test]
fn large_bodies_round_trip() {
    // Default limits (6 MiB bodies): a 2 MiB body reaches the function whole, and the event that
    // carries it comes back whole.
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").start();
    let body: String = (0..2 * 1024 * 1024).map(|index| char::from(b'a' + (index % 26) as u8)).collect();
    let response = gateway.request("POST", "/release/echo", &[], body.as_bytes());
    assert_eq!(response.status, 200, "{}", &response.text()[..response.text().len().min(300)]);
    assert!(n_and_body(&response).1 == body, "Content-Length body changed on the way");

    // The same body chunked in 4 KiB chunks.
    let mut chunked = Vec::new();
    for piece in body.as_bytes().chunks(4096) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = gateway.request("POST", "/release/echo", &[("Transfer-Encoding", "chunked")], &chunked);
    assert_eq!(response.status, 200);
    assert!(n_and_body(&response).1 == body, "chunked body changed on the way");

    // A large body followed by a small request in the same write (pipelined past the read buffer).
    let host = gateway.host();
    let large = "L".repeat(256 * 1024);
    let mut bytes = common::request_bytes("POST", "/release/echo?n=big", &host, &[], large.as_bytes());
    bytes.extend(common::request_bytes("GET", "/release/echo?n=small", &host, &[], b""));
    let mut client = gateway.connect();
    client.send(&bytes);
    assert!(
        n_and_body(&client.read_response()) == ("big".into(), large),
        "the large pipelined body changed on the way"
    );
    assert_eq!(n_and_body(&client.read_response()).0, "small");
}

#[test]
fn requests_larger_than_an_idle_connections_buffer_are_read_whole() {
    // An idle connection waits in a 2 KiB buffer and moves a request's first bytes to a full
    // (pooled) one: heads and bodies past 2 KiB, alone and pipelined, on one connection.
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").start();
    let host = gateway.host();
    let mut client = gateway.connect();
    let big_header = "h".repeat(3000);
    let big_body = "b".repeat(6000);
    for round in 0..3 {
        client.send_request("GET", "/release/echo?n=small", &host, &[], b"");
        assert_eq!(n_and_body(&client.read_response()).0, "small", "round {round}");
        client.send_request("GET", "/release/echo?n=head", &host, &[("X-Big", &big_header)], b"");
        let response = client.read_response();
        assert_eq!(n_and_body(&response).0, "head", "round {round}");
        assert_eq!(response.json()["headers"]["x-big"].as_str(), Some(big_header.as_str()));
        client.send_request("POST", "/release/echo?n=body", &host, &[], big_body.as_bytes());
        assert_eq!(n_and_body(&client.read_response()), ("body".into(), big_body.clone()), "round {round}");
        // Pipelined: the first 2 KiB end inside the second request's head.
        let mut bytes = common::request_bytes("POST", "/release/echo?n=1", &host, &[], &[b'x'; 2000]);
        bytes.extend(common::request_bytes("GET", "/release/echo?n=2", &host, &[("X-Big", &big_header)], b""));
        bytes.extend(common::request_bytes("GET", "/release/echo?n=3", &host, &[], b""));
        client.send(&bytes);
        assert_eq!(n_and_body(&client.read_response()), ("1".into(), "x".repeat(2000)), "round {round}");
        assert_eq!(n_and_body(&client.read_response()).0, "2", "round {round}");
        assert_eq!(n_and_body(&client.read_response()).0, "3", "round {round}");
    }
}

#[test]
fn the_epoll_driver_serves_http_the_same() {
    // `--driver legacy` (epoll, used where io_uring is unavailable): the same wire behaviour.
    let gateway = Gateway::builder(CONFIG)
        .function("echo", "echo")
        .arg("--driver", "legacy")
        .arg("--idle-timeout", "1")
        .arg("--max-body-bytes", &MAX_BODY_BYTES.to_string())
        .start();
    assert!(gateway.output.text().contains("epoll"), "not on the epoll driver:\n{}", gateway.output.text());
    let host = gateway.host();
    let mut client = gateway.connect();
    // Keep-alive.
    for n in 0..3 {
        client.send_request("POST", &format!("/release/echo?n={n}"), &host, &[], format!("b{n}").as_bytes());
        assert_eq!(n_and_body(&client.read_response()), (n.to_string(), format!("b{n}")));
    }
    // Pipelining, with a chunked body.
    let mut bytes = common::request_bytes("GET", "/release/echo?n=p1", &host, &[], b"");
    bytes.extend(common::request_bytes(
        "POST",
        "/release/echo?n=p2",
        &host,
        &[("Transfer-Encoding", "chunked")],
        b"2\r\nab\r\n0\r\n\r\n",
    ));
    bytes.extend(common::request_bytes("GET", "/release/echo?n=p3", &host, &[], b""));
    client.send(&bytes);
    assert_eq!(n_and_body(&client.read_response()), ("p1".into(), "".into()));
    assert_eq!(n_and_body(&client.read_response()), ("p2".into(), "ab".into()));
    assert_eq!(n_and_body(&client.read_response()), ("p3".into(), "".into()));
    // 100-continue.
    client.send(
        format!("POST /release/echo HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(client.read_response().status, 100);
    client.send(b"ok");
    assert_eq!(n_and_body(&client.read_response()).1, "ok");
    // Idle close.
    assert!(client.closed_by_server(), "an idle connection was not closed");
    // A refusal closes.
    let mut client = gateway.connect();
    client.send(
        format!("POST /release/echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n", MAX_BODY_BYTES + 1)
            .as_bytes(),
    );
    assert_eq!(client.read_response().status, 413);
    assert!(client.closed_by_server());
}
