//! What event APIs hold for request bodies (issue 14): a body larger than the read buffer is
//! admitted only within the worker's share of `--body-memory` (counted three times: the body,
//! the event, the answer); one that does not fit gets 503
//! with `Retry-After` before any of it is read, the bodies already admitted are served, and the
//! room comes back when they are done.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::{rss_kib, Client, Gateway};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// One worker, the example function's echo mode behind `/echo` (its answer is the event), and
/// `--body-memory BYTES`.
fn gateway(body_memory: usize) -> Gateway {
    let config = r#"
[[service]]
id = "service-bodies"
name = "bodies"
[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }
timeout = 30
[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;
    Gateway::builder(config)
        .workers(1)
        .function("echo", "echo")
        .arg("--body-memory", &body_memory.to_string())
        .arg("--max-body-bytes", &(6 * MIB).to_string())
        .start()
}

fn post_head(gateway: &Gateway, length: usize) -> Vec<u8> {
    format!(
        "POST /release/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n",
        gateway.host()
    )
    .into_bytes()
}

#[test]
fn a_body_past_the_budget_gets_503_and_the_admitted_ones_are_served() {
    // Room for one 600 KiB body (three copies), not two.
    let gateway = gateway(2 * MIB);
    // 600 KiB declared and half sent: admitted, and held.
    let mut first = Client::connect(gateway.addr());
    first.send(&post_head(&gateway, 600 * KIB));
    first.send(&vec![b'a'; 300 * KIB]);
    // Another 600 KiB does not fit beside it: refused at once, nothing of it read.
    let mut second = Client::connect(gateway.addr());
    second.send(&post_head(&gateway, 600 * KIB));
    let refused = second.read_response();
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.closes(), "the unread body closes the connection");
    assert!(refused.text().contains("retry shortly"), "{}", refused.text());
    // Small bodies never count: served while the large one is held.
    assert_eq!(gateway.request("POST", "/release/echo", &[], b"small").status, 200);
    // The admitted body finishes and is answered whole.
    first.send(&vec![b'a'; 300 * KIB]);
    let answered = first.read_response();
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json()["body"].as_str().map(str::len), Some(600 * KIB));
    // Its room came back: the same body is admitted now.
    let again = gateway.request("POST", "/release/echo", &[], &vec![b'b'; 600 * KIB]);
    assert_eq!(again.status, 200, "{}", again.text());
}

#[test]
fn a_chunked_body_growing_past_the_budget_is_cut_off_with_503() {
    let gateway = gateway(2 * MIB);
    let mut stream = TcpStream::connect(gateway.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!("POST /release/echo HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n", gateway.host());
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * KIB, "c".repeat(64 * KIB));
    // Up to 4 MiB, in 64 KiB chunks, until the gateway stops taking them.
    for _ in 0..64 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{}", &text[..text.len().min(300)]);
}

#[test]
fn many_held_bodies_cost_the_budget_not_their_sum() {
    let gateway = gateway(8 * MIB);
    let before = rss_kib(gateway.pid());
    // 24 clients each declare 2 MiB and send all but its last byte: 48 MiB offered, one body
    // (three copies of 2 MiB) admitted.
    let mut statuses = Vec::new();
    let mut held = Vec::new();
    for _ in 0..24 {
        let mut stream = TcpStream::connect(gateway.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = stream.write_all(&post_head(&gateway, 2 * MIB));
        let _ = stream.write_all(&vec![b'h'; 2 * MIB - 1]);
        held.push(stream);
    }
    thread::sleep(Duration::from_millis(500));
    let during = rss_kib(gateway.pid());
    for stream in &mut held {
        let mut first = [0u8; 12];
        statuses.push(match stream.set_nonblocking(true).and_then(|_| stream.read(&mut first)) {
            Ok(count) if count >= 12 => String::from_utf8_lossy(&first[9..12]).into_owned(),
            _ => "held".to_string(),
        });
    }
    let refused = statuses.iter().filter(|status| *status == "503").count();
    let admitted = statuses.iter().filter(|status| *status == "held").count();
    assert_eq!(admitted, 1, "held bodies of 2 MiB in an 8 MiB budget: {statuses:?}");
    assert_eq!(refused + admitted, 24, "{statuses:?}");
    // What the bodies cost: about the one admitted, far from 48 MiB (or the 96 MiB of buffers
    // grown by doubling). Generous: other allocations come and go.
    let grown_mib = during.saturating_sub(before) / 1024;
    assert!(grown_mib < 24, "RSS grew by {grown_mib} MiB while one 2 MiB body was admitted");
}
