//! The small HTTP/1.1 server side the host speaks on loopback (the invoke endpoint, the runtime
//! API): read a whole request, write a reply.

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

use crate::http::reader::RequestReader;
use crate::http::{response, RequestHead};

/// Reads one whole request (head and body) with no deadline; `false` when the peer went away or
/// sent something unusable.
pub async fn read_request(reader: &mut RequestReader, head: &mut RequestHead, stream: &mut TcpStream) -> bool {
    loop {
        match reader.try_head(head, 64 * 1024) {
            Ok(true) => break,
            Ok(false) => {}
            Err(_) => return false,
        }
        if reader.fill(stream, None).await.is_err() {
            return false;
        }
    }
    loop {
        match reader.try_body(head, 64 << 20) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        if reader.fill(stream, None).await.is_err() {
            return false;
        }
    }
}

/// Appends a reply with an optional `X-Scf-Error-Type`.
pub fn write_reply(out: &mut Vec<u8>, status: u16, error_type: Option<&[u8]>, body: &[u8]) {
    response::start(out, status);
    if let Some(error_type) = error_type {
        response::header(out, b"x-scf-error-type", error_type);
    }
    response::end_head(out, body.len(), false);
    out.extend_from_slice(body);
}

/// Writes and clears `out`; `false` when the peer is gone.
pub async fn send(stream: &mut TcpStream, out: &mut Vec<u8>) -> bool {
    let buffer = std::mem::take(out);
    let (result, mut buffer) = stream.write_all(buffer).await;
    buffer.clear();
    // A large event or value grew it: the connection may stay open (a worker's pooled one, a
    // function's long poll) for long after, and should not keep that much.
    if buffer.capacity() > 64 * 1024 {
        buffer = Vec::with_capacity(4096);
    }
    *out = buffer;
    result.is_ok()
}
