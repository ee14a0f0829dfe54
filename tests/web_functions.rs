//! Web functions (`runtime = "web"`, issue 7): the real gateway in front of real web function
//! processes (the example function's `web` mode, an HTTP server started through `scf_bootstrap`),
//! driven over loopback by a raw HTTP client and a real WebSocket client.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{request_bytes, rss_kib, Client, Gateway, GatewayBuilder, FUNCTION_BIN};

/// How long a web function may take to accept connections after the gateway starts it.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// One service with web function APIs: `app` (two instances, `/app`), `strict` (a required int
/// query param), `quick` (1 s timeout); plus `extra` TOML appended.
fn config(extra: &str) -> String {
    format!(
        r#"
[[service]]
id = "service-web"
name = "web"

[[service.api]]
name = "app"
path = "/app"
method = "ANY"
function = {{ name = "app" }}

[[service.api]]
name = "strict"
path = "/strict"
method = "ANY"
function = {{ name = "app" }}

[[service.api.param]]
name = "id"
position = "query"
type = "int"
required = true

[[service.api]]
name = "quick"
path = "/quick"
method = "GET"
function = {{ name = "app" }}
timeout = 1

[[function]]
name = "app"
runtime = "web"
code = "app"
instances = 2
memory_limit_in_mb = 256
{extra}"#
    )
}

/// A gateway whose function folders hold `scf_bootstrap`s running the example function's web mode.
fn web_gateway(builder: GatewayBuilder, folders: &[&str]) -> Gateway {
    for folder in folders {
        builder
            .dir()
            .executable(&format!("{folder}/scf_bootstrap"), &format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" web\n"));
    }
    builder.start()
}

/// Waits until `count` web function instances have reported ready (in total, restarts included).
fn wait_ready(gateway: &Gateway, count: usize) {
    let ready = gateway.output.wait_for(READY_LIMIT, |lines| {
        lines.iter().filter(|line| line.contains("web function ready")).count() >= count
    });
    assert!(ready, "expected {count} web function instances ready; output:\n{}", gateway.output.text());
}

fn start(extra: &str, args: &[(&str, &str)]) -> Gateway {
    let mut builder = Gateway::builder(&config(extra));
    for (flag, value) in args {
        builder = builder.arg(flag, value);
    }
    let gateway = web_gateway(builder, &["app"]);
    wait_ready(&gateway, 2);
    gateway
}

#[test]
fn requests_reach_the_function_without_the_stage_with_tencents_headers_and_no_forged_ones() {
    let gateway = start("", &[]);
    let mut client = gateway.connect();
    let forged = [
        ("X-Scf-Name", "forged"),
        ("X-Scf-Request-Id", "forged"),
        ("x-scf-uin", "forged"),
        ("X-Api-Requestid", "forged"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-B3-TraceId", "not a trace id"),
        ("X-Custom", "kept"),
        // Look-alikes that servers mapping fields to variables (CGI, WSGI) read as the real ones.
        ("X_Scf_Name", "forged"),
        ("Transfer_Encoding", "chunked"),
        ("X_Custom", "dropped"),
    ];
    client.send(&request_bytes("GET", "/release/app/items/7?a=1&b=two", &gateway.host(), &forged, b""));
    let response = client.read_response();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-function-mode"), Some("web"), "the function's own headers pass through");
    let echo = response.json();
    assert_eq!(
        (echo["method"].as_str(), echo["path"].as_str(), echo["query"].as_str()),
        (Some("GET"), Some("/app/items/7"), Some("a=1&b=two"))
    );
    let headers = &echo["headers"];
    let request_id = response.request_id();
    #[rustfmt::skip]
    let expected = [
        ("x-scf-request-id", request_id), ("x-api-requestid", request_id),
        ("x-scf-name", "app"), ("x-scf-namespace", "default"), ("x-scf-version", "$LATEST"),
        ("x-scf-memory", "256"), ("x-scf-timeout", "15000"), ("x-scf-region", "local"),
        ("x-scf-appid", "0"), ("x-scf-uin", "0"),
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1"), ("x-forwarded-proto", "http"),
        ("x-custom", "kept"), ("x-b3-traceid", request_id),
    ];
    for (name, value) in expected {
        assert_eq!(headers[name].as_str(), Some(value), "{name} in {headers}");
    }
    assert!(headers.get("connection").is_none(), "hop-by-hop fields are not passed on: {headers}");
    let underscored: Vec<&String> = headers.as_object().unwrap().keys().filter(|name| name.contains('_')).collect();
    assert!(underscored.is_empty(), "fields with underscores reached the function: {underscored:?}");

    // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host, for the function too.
    client
        .send(format!("GET http://alpha.test/release/app/abs HTTP/1.1\r\nHost: {}\r\n\r\n", gateway.host()).as_bytes());
    let echo = client.read_response().json();
    assert_eq!((echo["path"].as_str(), echo["headers"]["host"].as_str()), (Some("/app/abs"), Some("alpha.test")));

    // A client's W3C trace context: its trace id becomes X-B3-TraceId, and it passes on as sent.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    client.send(&request_bytes("GET", "/release/app/traced", &gateway.host(), &[("traceparent", traceparent)], b""));
    let echo = client.read_response().json();
    assert_eq!(echo["headers"]["x-b3-traceid"].as_str(), Some("4bf92f3577b34da6a3ce929d0e0e4736"), "{echo}");
    assert_eq!(echo["headers"]["traceparent"].as_str(), Some(traceparent), "{echo}");

    // The function's own hop-by-hop fields (named in its `Connection`) stay on its hop.
    client.send(&request_bytes("GET", "/release/app/hop", &gateway.host(), &[], b""));
    let response = client.read_response();
    assert_eq!((response.status, response.text()), (200, r#"{"hop":true}"#.to_string()));
    assert_eq!(response.header("x-end-to-end"), Some("kept"));
    assert_eq!(response.header("x-hop-secret"), None, "{:?}", response.headers);

    // The same connection goes on: a body by Content-Length, then a chunked one.
    client.send(&request_bytes(
        "POST",
        "/release/app",
        &gateway.host(),
        &[("Content-Type", "text/plain")],
        b"plain body",
    ));
    let echo = client.read_response().json();
    assert_eq!((echo["path"].as_str(), echo["body"].as_str()), (Some("/app"), Some("plain body")));
    assert_eq!(echo["headers"]["content-length"].as_str(), Some("10"));
    client.send(&request_bytes(
        "PUT",
        "/release/app/c",
        &gateway.host(),
        &[("Transfer-Encoding", "chunked")],
        b"4;x=y\r\nchun\r\n6\r\nked!!!\r\n0\r\nTrailer: t\r\n\r\n",
    ));
    let echo = client.read_response().json();
    assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("PUT"), Some("chunked!!!")));
    assert_eq!(echo["headers"]["transfer-encoding"].as_str(), Some("chunked"));
    // `/release` alone addresses the API path `/`... which no API has here: Tencent's 404.
    client.send(&request_bytes("GET", "/release/nothing", &gateway.host(), &[], b""));
    assert_eq!(client.read_response().status, 404);
}

#[test]
fn error_codes_with_a_converted_code_change_the_status_the_client_sees() {
    // Tencent's error-code conversion (`NeedConvert`, `ConvertedCode`): the API documents 418
    // and 503 and converts 503; what the function answered is otherwise passed on as it was.
    let extra = r#"
[[service.api]]
name = "converted"
path = "/converted"
method = "GET"
function = { name = "app" }

[[service.api.error_code]]
code = 503
message = "the store is closed"
converted_code = 502

[[service.api.error_code]]
code = 418
message = "documented only"
"#;
    let gateway = start(extra, &[]);
    // (target, status, reason phrase)
    let cases = [
        // Converted: the client gets the new status with its own reason phrase; the body is the function's.
        ("/release/converted/status?code=503", 502, "Bad Gateway"),
        // Listed without converted_code, or not listed: as the function answered.
        ("/release/converted/status?code=418", 418, "Function Says"),
        ("/release/converted/status?code=201", 201, "Function Says"),
        // Another API of the same function converts nothing.
        ("/release/app/status?code=503", 503, "Function Says"),
    ];
    for (target, status, reason) in cases {
        let response = gateway.get(target);
        let code = target.rsplit('=').next().unwrap();
        assert_eq!(
            (response.status, response.reason.as_str(), response.text()),
            (status, reason, format!(r#"{{"status":{code}}}"#)),
            "{target}"
        );
    }
}

#[test]
fn policies_refuse_before_the_function_is_called() {
    let gateway = start("", &[]);
    // (target, status, body) — README "Policies": missing required 403, wrong type 400.
    let cases = [
        ("/release/strict", 403, r#"{"message":"querystring id is required."}"#),
        ("/release/strict?id=abc", 400, r#"{"message":"querystring id is not a valid int."}"#),
    ];
    for (target, status, body) in cases {
        let response = gateway.get(target);
        assert_eq!((response.status, response.text().as_str()), (status, body), "{target}");
    }
    assert_eq!(gateway.get("/release/strict?id=5").json()["query"], "id=5");
    // A refused request's body was never read: the connection closes after the answer.
    let mut client = gateway.connect();
    client.send(&request_bytes("POST", "/release/strict", &gateway.host(), &[], b"unread"));
    let response = client.read_response();
    assert_eq!((response.status, response.closes()), (403, true));
    assert!(client.closed_by_server());
}

/// Byte `i` of the example function's `/big` body and of the bodies sent to `/upload`.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// Samples the gateway's RSS while `work` runs; returns (RSS before, largest RSS seen).
fn peak_rss_during(pid: u32, work: impl FnOnce()) -> (u64, u64) {
    let before = rss_kib(pid);
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    work();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    (before, peak.load(Ordering::SeqCst).max(rss_kib(pid)))
}

/// Reads a chunked body from `client`'s stream, checking every byte against [`pattern`] without
/// keeping it; returns its length.
fn count_chunked_pattern(stream: &mut impl Read) -> u64 {
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, stream);
    let mut total: u64 = 0;
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        let size = u64::from_str_radix(line.trim(), 16).unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        if size == 0 {
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            return total;
        }
        let mut left = size;
        while left > 0 {
            let available = std::io::BufRead::fill_buf(&mut reader).unwrap();
            assert!(!available.is_empty(), "body cut short after {total} bytes");
            let take = (available.len() as u64).min(left) as usize;
            for (index, &byte) in available[..take].iter().enumerate() {
                assert_eq!(byte, pattern(total + index as u64), "byte {}", total + index as u64);
            }
            std::io::BufRead::consume(&mut reader, take);
            total += take as u64;
            left -= take as u64;
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).unwrap();
        assert_eq!(&crlf, b"\r\n");
    }
}

/// Reads a response head byte by byte (so nothing of the body is consumed); returns it as text.
fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed inside a head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn hundred_megabyte_bodies_stream_both_ways_in_bounded_gateway_memory() {
    const SIZE: u64 = 100 * 1024 * 1024;
    /// Growth allowed while 100 MiB passes: well under the body, a few buffers per connection.
    const LIMIT_KIB: u64 = 32 * 1024;
    let gateway = start("", &[("--max-body-bytes", "209715200")]);
    let pid = gateway.pid();
    // Warm up both directions (pools, buffers at their working size).
    assert_eq!(gateway.get("/release/app/big?bytes=100000").status, 200);
    assert_eq!(gateway.request("POST", "/release/app/upload", &[], &[7u8; 100_000]).json()["bytes"], 100_000);

    // Upload: Content-Length, sent in 64 KiB writes.
    let mut upload_answer = String::new();
    let (before, peak) = peak_rss_during(pid, || {
        let mut client = gateway.connect();
        let head =
            format!("POST /release/app/upload HTTP/1.1\r\nHost: {}\r\nContent-Length: {SIZE}\r\n\r\n", gateway.host());
        client.send(head.as_bytes());
        let mut block = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < SIZE {
            let length = (SIZE - sent).min(block.len() as u64) as usize;
            for (index, byte) in block[..length].iter_mut().enumerate() {
                *byte = pattern(sent + index as u64);
            }
            client.send(&block[..length]);
            sent += length as u64;
        }
        upload_answer = client.read_response().text();
    });
    let checksum = (0..SIZE).fold(0u64, |sum, offset| sum.wrapping_add(u64::from(pattern(offset))));
    let answer: serde_json::Value = serde_json::from_str(&upload_answer).unwrap();
    assert_eq!((answer["bytes"].as_u64(), answer["checksum"].as_u64()), (Some(SIZE), Some(checksum)));
    println!("100 MiB upload (Content-Length): gateway RSS {before} KiB -> peak {peak} KiB (+{} KiB)", peak - before);
    assert!(peak - before < LIMIT_KIB, "gateway RSS grew {} KiB during a 100 MiB upload", peak - before);

    // Upload: chunked, 1 MiB chunks.
    let (before, peak) = peak_rss_during(pid, || {
        let mut client = gateway.connect();
        let head = format!(
            "POST /release/app/upload HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            gateway.host()
        );
        client.send(head.as_bytes());
        let mut block = vec![0u8; 1024 * 1024];
        let mut sent = 0u64;
        while sent < SIZE {
            for (index, byte) in block.iter_mut().enumerate() {
                *byte = pattern(sent + index as u64);
            }
            client.send(format!("{:x}\r\n", block.len()).as_bytes());
            client.send(&block);
            client.send(b"\r\n");
            sent += block.len() as u64;
        }
        client.send(b"0\r\n\r\n");
        let answer = client.read_response().json();
        assert_eq!((answer["bytes"].as_u64(), answer["checksum"].as_u64()), (Some(SIZE), Some(checksum)));
    });
    println!("100 MiB upload (chunked): gateway RSS {before} KiB -> peak {peak} KiB (+{} KiB)", peak - before);
    assert!(peak - before < LIMIT_KIB, "gateway RSS grew {} KiB during a chunked 100 MiB upload", peak - before);

    // Download: the function sends chunked; read at the client's pace and checked byte by byte.
    let (before, peak) = peak_rss_during(pid, || {
        let mut client = gateway.connect();
        client.send(&request_bytes("GET", &format!("/release/app/big?bytes={SIZE}"), &gateway.host(), &[], b""));
        let head = read_head(&mut client.stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
        assert_eq!(count_chunked_pattern(&mut client.stream), SIZE);
    });
    println!("100 MiB download (chunked): gateway RSS {before} KiB -> peak {peak} KiB (+{} KiB)", peak - before);
    assert!(peak - before < LIMIT_KIB, "gateway RSS grew {} KiB during a 100 MiB download", peak - before);

    // A body with no framing at all (until the function closes) reaches an HTTP/1.1 client chunked.
    let mut client = gateway.connect();
    client.send(&request_bytes("GET", "/release/app/big-close?bytes=300000", &gateway.host(), &[], b""));
    let head = read_head(&mut client.stream);
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(count_chunked_pattern(&mut client.stream), 300_000);
    // ... and the client connection goes on.
    client.send(&request_bytes("GET", "/release/app/again", &gateway.host(), &[], b""));
    assert_eq!(client.read_response().json()["path"], "/app/again");
}

#[test]
fn a_body_over_the_limit_is_refused_before_the_function_sees_it() {
    let gateway = start("", &[("--max-body-bytes", "1000")]);
    let response = gateway.request("POST", "/release/app/upload", &[], &[1u8; 1001]);
    assert_eq!((response.status, response.text().as_str()), (413, r#"{"message":"Request Entity Too Large."}"#));
    assert_eq!(gateway.request("POST", "/release/app/upload", &[], &[1u8; 1000]).json()["bytes"], 1000);
}

#[test]
fn websocket_upgrades_pass_through_to_the_function() {
    use tungstenite::Message;
    let gateway = start("", &[]);
    let (mut socket, response) = tungstenite::connect(format!("ws://{}/release/app/ws", gateway.addr()))
        .expect("WebSocket handshake through the gateway");
    assert_eq!(response.status(), 101);
    assert!(response.headers().contains_key("x-api-requestid"));
    socket.send(Message::Text("hello through the gateway".into())).unwrap();
    assert_eq!(socket.read().unwrap(), Message::Text("hello through the gateway".into()));
    let big: Vec<u8> = (0..200_000u64).map(pattern).collect();
    socket.send(Message::Binary(big.clone().into())).unwrap();
    assert_eq!(socket.read().unwrap(), Message::Binary(big.into()));
    socket.close(None).unwrap();
    loop {
        match socket.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // Plain requests still work next to it.
    assert_eq!(gateway.get("/release/app/after").status, 200);
}

#[test]
fn a_crashed_function_answers_502_naming_it_and_comes_back() {
    let gateway = start("", &[]);
    let response = gateway.get("/release/app/crash");
    assert_eq!(response.status, 502, "{}", response.text());
    let error = response.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("web function default/app:$LATEST"), "{error}");
    assert!(gateway.output.wait_for_line("web function process exited", READY_LIMIT));
    // Restarted (2 instances at start, one restart).
    wait_ready(&gateway, 3);
    for _ in 0..4 {
        assert_eq!(gateway.get("/release/app/again").status, 200);
    }
}

#[test]
fn a_function_that_never_listens_is_502_and_restarted_after_init_timeout() {
    let extra = r#"
[[service.api]]
name = "deaf"
path = "/deaf"
method = "GET"
function = { name = "deaf" }

[[function]]
name = "deaf"
runtime = "web"
code = "deaf"
init_timeout = 0.5
"#;
    let builder = Gateway::builder(&config(extra));
    builder.dir().executable("deaf/scf_bootstrap", "#!/bin/sh\nexec sleep 1000\n");
    let gateway = web_gateway(builder, &["app"]);
    let response = gateway.get("/release/deaf");
    assert_eq!(response.status, 502, "{}", response.text());
    let error = response.json()["error"].as_str().unwrap_or_default().to_string();
    // The request waited for init_timeout (0.5 s) for the function to listen, then gave up.
    assert!(
        error.contains("web function default/deaf:$LATEST did not accept connections within its init_timeout"),
        "{error}"
    );
    assert!(gateway.output.wait_for_line("did not accept connections on its port within init_timeout", READY_LIMIT));
    // The other function is unaffected.
    wait_ready(&gateway, 2);
    assert_eq!(gateway.get("/release/app").status, 200);
}

#[test]
fn a_function_slower_than_the_api_timeout_is_504() {
    let gateway = start("", &[]);
    let response = gateway.get("/release/quick/slow?ms=3000");
    assert_eq!((response.status, response.text().as_str()), (504, r#"{"message":"Gateway Time-out."}"#));
    assert_eq!(gateway.get("/release/quick/fast").status, 200);
}

#[test]
fn the_api_timeout_bounds_the_cold_start_wait_and_the_answer_together() {
    // The function listens only once the test says so, 600 ms after the request arrived; then
    // it takes 600 ms to answer. Each part is within the API's 1 s timeout, the whole is not:
    // Tencent's backend timeout counts the whole call, so this is a 504.
    let extra = r#"
[[service.api]]
name = "late"
path = "/late"
method = "GET"
function = { name = "late" }
timeout = 1

[[function]]
name = "late"
runtime = "web"
code = "late"
init_timeout = 30
"#;
    let builder = Gateway::builder(&config(extra));
    let go = builder.dir().path.join("late-go");
    builder.dir().executable(
        "late/scf_bootstrap",
        &format!("#!/bin/sh\nwhile [ ! -e \"{}\" ]; do sleep 0.05; done\nexec \"{FUNCTION_BIN}\" web\n", go.display()),
    );
    let gateway = web_gateway(builder, &["app"]);
    let mut client = gateway.connect();
    client.send(&request_bytes("GET", "/release/late/slow?ms=600", &gateway.host(), &[], b""));
    thread::sleep(Duration::from_millis(600));
    std::fs::write(&go, b"").expect("let the function start");
    let response = client.read_response();
    assert_eq!((response.status, response.text().as_str()), (504, r#"{"message":"Gateway Time-out."}"#));
    // Once warm, the same API answers within its timeout.
    wait_ready(&gateway, 3);
    assert_eq!(gateway.get("/release/late/fast").status, 200);
}

/// An API `/fixed` whose web function `fixed` (folder `fixed`) listens on `port` of its choosing.
fn fixed_port_function(port: u16) -> String {
    format!(
        r#"
[[service.api]]
name = "fixed"
path = "/fixed"
method = "GET"
function = {{ name = "fixed" }}

[[function]]
name = "fixed"
runtime = "web"
code = "fixed"
port = {port}
"#
    )
}

#[test]
fn a_function_that_insists_on_its_port_gets_it() {
    let port = common::closed_port();
    let extra = fixed_port_function(port);
    let gateway = web_gateway(Gateway::builder(&config(&extra)), &["app", "fixed"]);
    wait_ready(&gateway, 3);
    assert!(gateway
        .output
        .lines()
        .iter()
        .any(|line| line.contains("web function ready") && line.contains(&format!("port={port}"))));
    let response = gateway.get("/release/fixed/x");
    assert_eq!((response.status, response.json()["path"].as_str()), (200, Some("/fixed/x")));
    // The same port answers directly too: it is the function's own server.
    let mut direct = Client::connect(format!("127.0.0.1:{port}").parse().unwrap());
    direct.stream.write_all(b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(direct.read_response().json()["path"], "/direct");
}

/// A web function `env` whose `scf_bootstrap` records its environment, with an `environment`
/// table, and a key pair whose secret is in the gateway's environment.
const ENVIRONMENT_CONFIG: &str = r#"
[[service]]
id = "service-web-env"
name = "web-env"
[[service.api]]
name = "env"
path = "/env"
method = "GET"
function = { name = "env" }

[[function]]
name = "env"
runtime = "web"
code = "env"
environment = { GREETING = "hello from the table", DATABASE_URL = "postgres://db.internal/app" }

[[secret]]
id = "AKIDpair"
key_env = "PAIR_SECRET_KEY"
"#;

#[test]
fn a_web_function_gets_its_environment_table_and_none_of_the_gateways_secrets() {
    let builder = Gateway::builder(ENVIRONMENT_CONFIG).operator_environment();
    builder.dir().environment_recorder("env/scf_bootstrap", "web");
    let gateway = builder.start();
    wait_ready(&gateway, 1);
    let response = gateway.get("/release/env");
    assert_eq!(response.status, 200, "{}", response.text());
    let environment = gateway.dir.recorded_environment("env");
    for (name, value) in [
        ("GREETING", "hello from the table"),
        ("DATABASE_URL", "postgres://db.internal/app"),
        ("SCF_FUNCTIONNAME", "env"),
        ("SCF_NAMESPACE", "default"),
        ("SCF_FUNCTIONVERSION", "$LATEST"),
        ("SCF_FUNCTIONMEMORYSIZE", "128"),
        ("TENCENTCLOUD_RUNENV", "SCF"),
        ("TENCENTCLOUD_REGION", "local"),
    ] {
        assert_eq!(environment.get(name).map(String::as_str), Some(value), "{name} in {environment:#?}");
    }
    assert!(environment.get("PORT").is_some_and(|port| port.parse::<u16>().is_ok()), "{environment:#?}");
    common::environment::assert_only_allowed_environment(
        &environment,
        &[
            "GREETING",
            "DATABASE_URL",
            "PORT",
            "SCF_FUNCTIONNAME",
            "SCF_NAMESPACE",
            "SCF_FUNCTIONVERSION",
            "SCF_FUNCTIONMEMORYSIZE",
            "TENCENTCLOUD_RUNENV",
            "TENCENTCLOUD_REGION",
            "TENCENTCLOUD_APPID",
            "TENCENTCLOUD_UIN",
        ],
    );
}

/// Established TCP connections (IPv4) whose far end is `port` on this machine: the gateway's
/// connections to a web function listening there.
fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&port) && fields[3] == "01"
        })
        .count()
}

#[test]
fn pooled_connections_to_a_web_function_are_closed_after_the_pool_idle_timeout() {
    let port = common::closed_port();
    let extra = fixed_port_function(port);
    let builder = Gateway::builder(&config(&extra)).arg("--pool-idle-timeout", "1");
    let gateway = web_gateway(builder, &["app", "fixed"]);
    wait_ready(&gateway, 3);
    // Four requests at once, each answered after 300 ms: four connections to the function.
    let mut clients: Vec<_> = (0..4).map(|_| gateway.connect()).collect();
    for client in &mut clients {
        client.send(&request_bytes("GET", "/release/fixed/slow?ms=300", &gateway.host(), &[], b""));
    }
    for client in &mut clients {
        assert_eq!(client.read_response().status, 200);
    }
    assert_eq!(established_to(port), 4, "four pooled connections to the function");
    // No more traffic: the gateway closes them once idle for a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while established_to(port) > 0 && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(established_to(port), 0, "idle pooled connections are closed after --pool-idle-timeout");
    clients[0].send_request("GET", "/release/fixed/again", &gateway.host(), &[], b"");
    let response = clients[0].read_response();
    assert_eq!((response.status, response.json()["path"].as_str()), (200, Some("/fixed/again")));
}

/// The same streams over HTTPS, through the gateway's TLS stream (thousands of records each
/// way): a 100 MiB upload and a 100 MiB download, checked byte by byte, then the connection
/// serves another request.
#[test]
fn hundred_megabyte_bodies_stream_both_ways_over_https() {
    use rustls::pki_types::ServerName;
    const SIZE: u64 = 100 * 1024 * 1024;
    let certified = rcgen::generate_simple_self_signed(vec!["web.example".to_string()]).unwrap();
    let extra = "[[certificate]]\nhosts = [\"web.example\"]\ncert = \"web.crt\"\nkey = \"web.key\"\n";
    let builder =
        Gateway::builder(&config(extra)).arg("--tls-listen", "127.0.0.1:0").arg("--max-body-bytes", "209715200");
    builder.dir().write("web.crt", &certified.cert.pem());
    builder.dir().write("web.key", &certified.signing_key.serialize_pem());
    let gateway = web_gateway(builder, &["app"]);
    wait_ready(&gateway, 2);
    let address = gateway.https_addr();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("web.example").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let socket = std::net::TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let read_json = |stream: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>| {
        let head = read_head(stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length = head
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .expect("a content-length")
            .parse()
            .unwrap();
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).unwrap();
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };

    let head = format!("POST /release/app/upload HTTP/1.1\r\nHost: web.example\r\nContent-Length: {SIZE}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut block = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < SIZE {
        let length = (SIZE - sent).min(block.len() as u64) as usize;
        for (index, byte) in block[..length].iter_mut().enumerate() {
            *byte = pattern(sent + index as u64);
        }
        stream.write_all(&block[..length]).unwrap();
        sent += length as u64;
    }
    let checksum = (0..SIZE).fold(0u64, |sum, offset| sum.wrapping_add(u64::from(pattern(offset))));
    let answer = read_json(&mut stream);
    assert_eq!((answer["bytes"].as_u64(), answer["checksum"].as_u64()), (Some(SIZE), Some(checksum)));

    let get = format!("GET /release/app/big?bytes={SIZE} HTTP/1.1\r\nHost: web.example\r\n\r\n");
    stream.write_all(get.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(count_chunked_pattern(&mut stream), SIZE);

    stream
        .write_all(b"POST /release/app/upload HTTP/1.1\r\nHost: web.example\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_json(&mut stream)["bytes"], 3);
}
