//! A fast fixed-reply HTTP/1.1 server for load tests: every request on a keep-alive connection is
//! answered with the same body. It stands in for a function endpoint (event mode: it answers an
//! integration-format JSON to every POSTed event) and for a web function (plain mode), so that
//! scfgate, nginx and the direct baseline are measured against the same backend.
//!
//! Usage: scfgate-bench-backend ADDR [integrated|plain] [THREADS]

use std::io;
use std::net::SocketAddr;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

const INTEGRATED_BODY: &str = r#"{"isBase64Encoded":false,"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"world\"}"}"#;
const PLAIN_BODY: &str = r#"{"hello":"world"}"#;

fn main() -> io::Result<()> {
    let arguments: Vec<String> = std::env::args().collect();
    let address: SocketAddr = arguments.get(1).map(String::as_str).unwrap_or("127.0.0.1:9000").parse().expect("ADDR");
    let body = match arguments.get(2).map(String::as_str) {
        Some("plain") => PLAIN_BODY,
        _ => INTEGRATED_BODY,
    };
    let threads: usize = arguments.get(3).and_then(|text| text.parse().ok()).unwrap_or(1);
    let reply =
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}", body.len(), body)
            .into_bytes();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().expect("runtime");
                runtime.block_on(async move {
                    let options = monoio::net::ListenerOpts::new().reuse_port(true).backlog(4096);
                    let listener = TcpListener::bind_with_config(address, &options).expect("bind");
                    loop {
                        if let Ok((stream, _)) = listener.accept().await {
                            monoio::spawn(serve(stream, reply.clone()));
                        }
                    }
                })
            })
        })
        .collect();
    eprintln!("scfgate-bench-backend listening on http://{address}");
    for handle in handles {
        let _ = handle.join();
    }
    Ok(())
}

/// Answers every complete request head (and its Content-Length body) with `reply`.
async fn serve(mut stream: TcpStream, reply: Vec<u8>) {
    let _ = stream.set_nodelay(true);
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let length = buffer.len();
        if buffer.capacity() - length < 4096 {
            buffer.reserve(16 * 1024);
        }
        let capacity = buffer.capacity();
        let (result, slice) = stream.read(buffer.slice_mut(length..capacity)).await;
        buffer = slice.into_inner();
        match result {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut consumed = 0;
        while let Some(end) = complete_request(&buffer[consumed..]) {
            consumed += end;
            out.extend_from_slice(&reply);
        }
        buffer.drain(..consumed);
        if !out.is_empty() {
            let (result, returned) = stream.write_all(out).await;
            out = returned;
            out.clear();
            if result.is_err() {
                return;
            }
        }
    }
}

/// Length of the first complete request (head plus Content-Length body), if there is one.
fn complete_request(bytes: &[u8]) -> Option<usize> {
    let head_end = memchr::memmem::find(bytes, b"\r\n\r\n")? + 4;
    let head = &bytes[..head_end];
    let mut body = 0;
    for line in head.split(|&byte| byte == b'\n') {
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            body = std::str::from_utf8(&line[15..]).ok()?.trim().parse().ok()?;
        }
    }
    (bytes.len() >= head_end + body).then_some(head_end + body)
}
