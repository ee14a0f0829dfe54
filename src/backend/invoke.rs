//! The HTTP/1.1 client that sends an event to a function endpoint and reads its reply, over a
//! pooled keep-alive connection.
//!
//! The event is written at [`HEADROOM`] in the connection's event buffer, and the request head is
//! placed in the room before it, so head and event go out in one write with no copy.
//!
//! Retry rule (pingora's "reused only"): a request is sent again, once, on a fresh connection only
//! when it failed on a connection taken from the pool and failed before any reply byte arrived,
//! the sign of a keep-alive connection the endpoint had already closed. A fresh connection that
//! fails is never retried: the function may have run.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::pool::{BackendConnection, Pool};
use crate::error::{BackendCause, GatewayError};
use crate::http::body::ChunkedDecoder;
use crate::http::response::{format_u64, itoa_buffer};
use crate::http::response_head::{parse_response_head, ResponseBody};

/// Bytes reserved before the event for the request head.
pub const HEADROOM: usize = 512;

/// Largest reply head accepted from an endpoint.
const MAX_REPLY_HEAD: usize = 64 * 1024;

/// Where and how to reach one function.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host_header: String,
    /// Request target.
    pub path: String,
    /// A web function's instances (`runtime = "web"`), which `crate::backend::web_proxy` proxies to
    /// instead of invoking `addr`; `None` for every other function.
    pub web: Option<std::sync::Arc<crate::function_host::web_instances::WebInstances>>,
}

/// What the endpoint said about a failed invocation, from the `X-Scf-Error-Type` reply header
/// (the name Tencent's HTTP functions use for the same purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The function reported an error (`UserCodeError`).
    FunctionError,
    /// The function process died holding the request (`FunctionCrashed`).
    Crashed,
    /// No instance free and the queue is full (`FunctionBusy`).
    Busy,
    /// The function ran past its time limit and was stopped (`FunctionTimeout`).
    TimedOut,
}

/// A complete reply; its body lives in the connection's buffers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Set when the endpoint marked the reply as a failure.
    pub failure: Option<FailureKind>,
    body: ReplyBody,
    reusable: bool,
}

#[derive(Debug, Clone)]
enum ReplyBody {
    InBuffer(Range<usize>),
    Decoded,
}

impl Reply {
    /// The reply body.
    pub fn body<'a, S>(&self, connection: &'a BackendConnection<S>) -> &'a [u8] {
        match &self.body {
            ReplyBody::InBuffer(range) => &connection.read_buffer[range.clone()],
            ReplyBody::Decoded => &connection.decoded,
        }
    }
}

/// Places the request head for `endpoint` before the event that starts at [`HEADROOM`] in
/// `buffer`; returns where the request starts.
pub fn frame_request(buffer: &mut Vec<u8>, endpoint: &Endpoint, request_id: &[u8], timeout_ms: u64) -> usize {
    let event_length = buffer.len() - HEADROOM;
    let mut head = [0u8; HEADROOM];
    let mut length = 0;
    let mut digits = itoa_buffer();
    let mut timeout_digits = itoa_buffer();
    let parts: [&[u8]; 11] = [
        b"POST ",
        endpoint.path.as_bytes(),
        b" HTTP/1.1\r\nhost: ",
        endpoint.host_header.as_bytes(),
        b"\r\ncontent-type: application/json\r\nx-scf-request-id: ",
        request_id,
        b"\r\nx-scf-timeout: ",
        format_u64(timeout_ms, &mut timeout_digits),
        b"\r\ncontent-length: ",
        format_u64(event_length as u64, &mut digits),
        b"\r\n\r\n",
    ];
    let total: usize = parts.iter().map(|part| part.len()).sum();
    if total > HEADROOM {
        // A very long endpoint path or host: fall back to building the request anew.
        let mut request = Vec::with_capacity(total + event_length);
        parts.iter().for_each(|part| request.extend_from_slice(part));
        request.extend_from_slice(&buffer[HEADROOM..]);
        *buffer = request;
        return 0;
    }
    for part in parts {
        head[length..length + part.len()].copy_from_slice(part);
        length += part.len();
    }
    let start = HEADROOM - length;
    buffer[start..HEADROOM].copy_from_slice(&head[..length]);
    start
}

/// Sends the request in `request[start..]` to `endpoint` and reads the reply. Returns the request
/// buffer (for reuse) and the connection holding the reply, which the caller hands to
/// [`release`] once it has used the body.
pub async fn invoke(
    pool: &RefCell<Pool>,
    endpoint_index: usize,
    endpoint: &Endpoint,
    request: Vec<u8>,
    start: usize,
    max_reply_bytes: usize,
) -> (Vec<u8>, Result<(BackendConnection, Reply), GatewayError>) {
    let connect = || async {
        match TcpStream::connect_addr(endpoint.addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                Ok(BackendConnection::tcp(stream))
            }
            Err(error) => Err(GatewayError::BackendUnreachable(BackendCause::Connect(error.kind()))),
        }
    };
    exchange_with_retry(pool, endpoint_index, request, start, max_reply_bytes, connect).await
}

/// Sends `request[start..]` on a pooled connection to `endpoint_index`, or on the one `connect`
/// opens (called only when needed), following the retry rule in the module doc; any stream works.
/// `connect` is a function rather than a future so that its state is not held beside the pooled
/// attempt's: this future lives inside every client connection's task.
pub(crate) async fn exchange_with_retry<
    S: AsyncReadRent + AsyncWriteRent,
    C: Future<Output = Result<BackendConnection<S>, GatewayError>>,
>(
    pool: &RefCell<Pool<S>>,
    endpoint_index: usize,
    request: Vec<u8>,
    start: usize,
    max_reply_bytes: usize,
    connect: impl FnOnce() -> C,
) -> (Vec<u8>, Result<(BackendConnection<S>, Reply), GatewayError>) {
    let pooled = pool.borrow_mut().take(endpoint_index);
    let mut request = request;
    if let Some(connection) = pooled {
        let (returned, outcome) = exchange(connection, request, start, max_reply_bytes).await;
        request = returned;
        match outcome {
            Ok(done) => return (request, Ok(done)),
            Err(Failure::Stale) => {} // retried below on a fresh connection
            Err(Failure::Gateway(error)) => return (request, Err(error)),
        }
    }
    let connection = match connect().await {
        Ok(connection) => connection,
        Err(error) => return (request, Err(error)),
    };
    let (request, outcome) = exchange(connection, request, start, max_reply_bytes).await;
    let outcome = outcome.map_err(|failure| match failure {
        Failure::Stale => GatewayError::BackendUnreachable(BackendCause::ClosedEarly),
        Failure::Gateway(error) => error,
    });
    (request, outcome)
}

/// Gives a connection back to the pool if its reply left it reusable; otherwise closes it.
pub fn release<S>(pool: &RefCell<Pool<S>>, endpoint_index: usize, connection: BackendConnection<S>, reply: &Reply) {
    if reply.reusable {
        pool.borrow_mut().put(endpoint_index, connection);
    }
}

enum Failure {
    /// Failed before any reply byte: safe to retry if the connection was pooled.
    Stale,
    Gateway(GatewayError),
}

async fn exchange<S: AsyncReadRent + AsyncWriteRent>(
    mut connection: BackendConnection<S>,
    request: Vec<u8>,
    start: usize,
    max_reply_bytes: usize,
) -> (Vec<u8>, Result<(BackendConnection<S>, Reply), Failure>) {
    let (written, request) = connection.stream.write_all(request.slice(start..)).await;
    let request = request.into_inner();
    if written.is_err() {
        return (request, Err(Failure::Stale));
    }
    let outcome = read_reply(&mut connection, max_reply_bytes).await;
    (request, outcome.map(|reply| (connection, reply)))
}

async fn read_more<S: AsyncReadRent>(connection: &mut BackendConnection<S>) -> io::Result<usize> {
    let buffer = &mut connection.read_buffer;
    if buffer.capacity() - buffer.len() < 4096 {
        buffer.reserve(buffer.capacity().max(8192));
    }
    let length = buffer.len();
    let capacity = buffer.capacity();
    let owned = std::mem::take(buffer);
    let (result, slice) = connection.stream.read(owned.slice_mut(length..capacity)).await;
    connection.read_buffer = slice.into_inner();
    result
}

struct ReplyHead {
    status: u16,
    head_length: usize,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
    failure: Option<FailureKind>,
}

async fn read_reply<S: AsyncReadRent>(
    connection: &mut BackendConnection<S>,
    max_reply_bytes: usize,
) -> Result<Reply, Failure> {
    connection.read_buffer.clear();
    let head = loop {
        match parse_reply_head(&connection.read_buffer) {
            Ok(Some(head)) if (100..200).contains(&head.status) => {
                // An interim reply (e.g. 100 Continue): drop it and read the final one.
                connection.read_buffer.drain(..head.head_length);
                continue;
            }
            Ok(Some(head)) => break head,
            Ok(None) if connection.read_buffer.len() > MAX_REPLY_HEAD => {
                return Err(Failure::Gateway(GatewayError::BackendUnreachable(BackendCause::MalformedReply)))
            }
            Ok(None) => {}
            Err(()) => return Err(Failure::Gateway(GatewayError::BackendUnreachable(BackendCause::MalformedReply))),
        }
        let had_bytes = !connection.read_buffer.is_empty();
        match read_more(connection).await {
            Ok(0) | Err(_) if !had_bytes => return Err(Failure::Stale),
            Ok(0) => return Err(Failure::Gateway(GatewayError::BackendUnreachable(BackendCause::ClosedEarly))),
            Err(error) => {
                return Err(Failure::Gateway(GatewayError::BackendUnreachable(BackendCause::Io(error.kind()))))
            }
            Ok(_) => {}
        }
    };
    let truncated = Failure::Gateway(GatewayError::BackendUnreachable(BackendCause::ClosedEarly));
    let too_large = || Failure::Gateway(GatewayError::ResponseTooLarge);
    let body_start = head.head_length;
    if head.chunked {
        connection.decoded.clear();
        let mut decoder = ChunkedDecoder::new();
        let mut position = body_start;
        loop {
            let input = &connection.read_buffer[position..];
            let (used, done) = decoder
                .decode(input, &mut connection.decoded, max_reply_bytes)
                .map_err(|_| Failure::Gateway(GatewayError::ResponseTooLarge))?;
            position += used;
            if done {
                let reusable = !head.close && position == connection.read_buffer.len();
                return Ok(Reply { status: head.status, failure: head.failure, body: ReplyBody::Decoded, reusable });
            }
            if connection.read_buffer.len() > max_reply_bytes.saturating_mul(2) + MAX_REPLY_HEAD {
                return Err(too_large());
            }
            if !matches!(read_more(connection).await, Ok(count) if count > 0) {
                return Err(truncated);
            }
        }
    }
    if let Some(length) = head.content_length {
        if length > max_reply_bytes {
            return Err(too_large());
        }
        let end = body_start + length;
        while connection.read_buffer.len() < end {
            if !matches!(read_more(connection).await, Ok(count) if count > 0) {
                return Err(truncated);
            }
        }
        let reusable = !head.close && connection.read_buffer.len() == end;
        return Ok(Reply {
            status: head.status,
            failure: head.failure,
            body: ReplyBody::InBuffer(body_start..end),
            reusable,
        });
    }
    // No framing: the body runs to the end of the connection (RFC 9112 §6.3 rule 8).
    loop {
        if connection.read_buffer.len() - body_start > max_reply_bytes {
            return Err(too_large());
        }
        match read_more(connection).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(truncated),
        }
    }
    let end = connection.read_buffer.len();
    Ok(Reply {
        status: head.status,
        failure: head.failure,
        body: ReplyBody::InBuffer(body_start..end),
        reusable: false,
    })
}

fn parse_reply_head(buffer: &[u8]) -> Result<Option<ReplyHead>, ()> {
    let mut failure = None;
    let head = parse_response_head(buffer, false, |name, value| {
        if name.eq_ignore_ascii_case(b"x-scf-error-type") {
            failure = Some(match crate::http::parse::trim(value) {
                b"FunctionCrashed" => FailureKind::Crashed,
                b"FunctionBusy" => FailureKind::Busy,
                b"FunctionTimeout" => FailureKind::TimedOut,
                _ => FailureKind::FunctionError,
            });
        }
    })
    .map_err(|_| ())?;
    let Some(head) = head else { return Ok(None) };
    let (content_length, chunked) = match head.body {
        ResponseBody::None => (Some(0), false),
        ResponseBody::Length(length) => (Some(usize::try_from(length).map_err(|_| ())?), false),
        ResponseBody::Chunked => (None, true),
        ResponseBody::UntilClose => (None, false),
    };
    Ok(Some(ReplyHead {
        status: head.status,
        head_length: head.length,
        content_length,
        chunked,
        close: head.close,
        failure,
    }))
}
