//! Clients that never read (issue 14): `--send-timeout` closes a connection whose writes make no
//! progress, and what it held (the exchange with a web function, pooled buffers) is released. A
//! client that reads slowly but steadily is served whole.

mod common;

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use common::{request_bytes, Gateway, RemoteEndpoint, Reply, FUNCTION_BIN};

/// Far more than the socket buffers between the gateway and the client hold (a few MiB).
const BIG: usize = 64 << 20;

/// Reads until the server closes (or resets) the connection; returns the bytes read.
fn read_to_close(stream: &mut TcpStream) -> usize {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut total = 0;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return total,
            Ok(count) => total += count,
        }
    }
}

#[test]
fn a_client_that_stops_reading_a_web_functions_response_is_cut_off_and_the_exchange_ends() {
    let config = r#"
[[service]]
id = "service-slow"
name = "slow"
[[service.api]]
name = "app"
path = "/app"
method = "GET"
function = { name = "app" }
[[function]]
name = "app"
runtime = "web"
code = "app"
"#;
    let builder = Gateway::builder(config).arg("--send-timeout", "0.5").flag("--access-log");
    builder.dir().executable("app/scf_bootstrap", &format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" web\n"));
    let gateway = builder.start();
    assert!(gateway.output.wait_for_line("web function ready", Duration::from_secs(20)), "{}", gateway.output.text());

    let mut client = TcpStream::connect(gateway.addr()).unwrap();
    use std::io::Write;
    client
        .write_all(&request_bytes("GET", &format!("/release/app/big?bytes={BIG}"), &gateway.host(), &[], b""))
        .unwrap();
    // The client reads nothing: the gateway's writes stall once the socket buffers are full.
    let ended = gateway.output.wait_for_line(" access: ", Duration::from_secs(20));
    assert!(ended, "the exchange never ended; output:\n{}", gateway.output.text());
    let received = read_to_close(&mut client);
    assert!(received < BIG, "the whole {BIG}-byte body arrived ({received} bytes read): nothing was cut off");
    // The function is free for the next client.
    assert_eq!(gateway.get("/release/app/after").status, 200);
}

#[test]
fn a_slow_but_steady_reader_gets_the_whole_response() {
    let body = format!("\"{}\"", "x".repeat(3 << 20));
    let endpoint = RemoteEndpoint::start(Reply::ok(&body));
    let config = format!(
        r#"
[[service]]
id = "service-slow"
name = "slow"
[[service.api]]
name = "remote"
path = "/remote"
method = "GET"
function = {{ name = "remote" }}
[[function]]
name = "remote"
runtime = "remote"
invoke_url = "{}"
"#,
        endpoint.url("/")
    );
    let gateway = Gateway::builder(&config).arg("--send-timeout", "1").start();
    let mut client = TcpStream::connect(gateway.addr()).unwrap();
    use std::io::Write;
    client
        .write_all(&request_bytes("GET", "/release/remote", &gateway.host(), &[("Connection", "close")], b""))
        .unwrap();
    // 3 MiB read 256 KiB at a time with pauses shorter than the timeout: progress all along,
    // though the whole takes longer than the timeout.
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 256 << 10];
    loop {
        thread::sleep(Duration::from_millis(100));
        match client.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) => panic!("read failed after {} bytes: {error}", received.len()),
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{}", &text[..text.len().min(200)]);
    assert!(text.ends_with(&body), "the body arrived cut short ({} bytes in all)", received.len());
    let _ = client.shutdown(Shutdown::Both);
}

#[test]
fn a_client_that_pipelines_requests_and_never_reads_is_cut_off() {
    let body = format!("\"{}\"", "y".repeat(1 << 20));
    let endpoint = RemoteEndpoint::start(Reply::ok(&body));
    let config = format!(
        r#"
[[service]]
id = "service-slow"
name = "slow"
[[service.api]]
name = "remote"
path = "/remote"
method = "GET"
function = {{ name = "remote" }}
[[function]]
name = "remote"
runtime = "remote"
invoke_url = "{}"
"#,
        endpoint.url("/")
    );
    let gateway = Gateway::builder(&config).arg("--send-timeout", "0.5").start();
    let mut client = TcpStream::connect(gateway.addr()).unwrap();
    use std::io::Write;
    let request = request_bytes("GET", "/release/remote", &gateway.host(), &[], b"");
    let pipelined = 64;
    // Sent from a thread: once the gateway stops reading, these writes would block this one.
    let mut writer = client.try_clone().unwrap();
    let all: Vec<u8> = (0..pipelined).flat_map(|_| request.iter().copied()).collect();
    let sender = thread::spawn(move || {
        let _ = writer.write_all(&all);
    });
    // Nothing read for well past the timeout.
    thread::sleep(Duration::from_secs(3));
    let received = read_to_close(&mut client);
    let _ = sender.join();
    let whole = pipelined * body.len();
    assert!(received < whole, "all {pipelined} responses arrived ({received} bytes): nothing was cut off");
    assert!(endpoint.requests() < pipelined, "the gateway kept invoking for a client that never read");
}
