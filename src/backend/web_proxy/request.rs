//! The request a web function sees: its head (Tencent's fields added, the gateway's own and
//! hop-by-hop ones dropped) and its body, streamed through in steps and re-framed when chunked;
//! and the writes and reads on the function's connection both directions share.

use std::io;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Split};

use super::{Exchange, Stop, STEP};
use crate::backend::pool::BackendConnection;
use crate::config::Function;
use crate::error::GatewayError;
use crate::http::body::{ChunkedDecoder, ChunkedError};
use crate::http::parse::{trim, BodyFraming, RequestHead};
use crate::http::reader::ReadError;
use crate::http::response::{self, format_u64, itoa_buffer};

/// Whether a request body has a meaning for `method` (RFC 9110 §9.3: for GET, HEAD, DELETE,
/// OPTIONS and TRACE it has none, and servers commonly leave it unread).
pub(super) fn method_defines_body(method: &[u8]) -> bool {
    !matches!(method, b"GET" | b"HEAD" | b"DELETE" | b"OPTIONS" | b"TRACE")
}

// ---------------------------------------------------------------------------------------------
// The request.
// ---------------------------------------------------------------------------------------------

/// Whether the request asks for a WebSocket (RFC 6455 §4.1: `Upgrade: websocket` with
/// `Connection: upgrade`); such a request is passed through with its upgrade fields.
pub(super) fn is_websocket_upgrade(bytes: &[u8], head: &RequestHead) -> bool {
    let mut upgrade = false;
    let mut connection_upgrade = false;
    for field in &head.headers {
        let name = field.name.of_buffer(bytes);
        let value = field.value.of_buffer(bytes);
        if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade |= list_contains(value, b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection_upgrade |= list_contains(value, b"upgrade");
        }
    }
    upgrade && connection_upgrade && head.method.of_buffer(bytes) == b"GET"
}

pub(super) fn list_contains(value: &[u8], token: &[u8]) -> bool {
    value.split(|&byte| byte == b',').any(|item| trim(item).eq_ignore_ascii_case(token))
}

/// Request fields the gateway owns: hop-by-hop ones (RFC 9110 §7.6.1), framing (redone for the
/// hop to the function), and the ones it sets itself, which a client must not be able to forge
/// (spec §7.1: `X-Scf-*` are reserved).
pub(super) fn gateway_owned_request_field(name: &[u8]) -> bool {
    const OWNED: [&[u8]; 13] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"expect",
        b"x-api-requestid",
        b"x-b3-traceid",
        b"x-forwarded-for",
        b"x-forwarded-proto",
    ];
    (name.len() >= 6 && name[..6].eq_ignore_ascii_case(b"x-scf-"))
        || OWNED.iter().any(|owned| name.eq_ignore_ascii_case(owned))
}

/// Whether `name` is listed in one of the request's `Connection` fields (then it is hop-by-hop
/// too, RFC 9110 §7.6.1).
pub(super) fn named_by_connection(bytes: &[u8], head: &RequestHead, name: &[u8]) -> bool {
    head.headers.iter().any(|field| {
        field.name.of_buffer(bytes).eq_ignore_ascii_case(b"connection")
            && list_contains(field.value.of_buffer(bytes), name)
    })
}

/// Writes the head the function sees into `staging`; `close` asks the function to close the
/// connection after its answer.
pub(super) fn write_request_head<S>(exchange: &mut Exchange<'_, S>, upgrade: bool, close: bool) {
    let bytes = exchange.reader.request_bytes();
    let head = exchange.head;
    let out = &mut *exchange.staging;
    out.clear();
    // The request line: the stage prefix removed (`/release/app/x` -> `/app/x`), the query kept.
    let path = &head.path.of_buffer(bytes)[exchange.api_path_start..];
    out.extend_from_slice(head.method.of_buffer(bytes));
    out.push(b' ');
    out.extend_from_slice(if path.is_empty() { b"/" } else { path });
    if !head.query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(head.query.of_buffer(bytes));
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let has_connection_field =
        head.headers.iter().any(|field| field.name.of_buffer(bytes).eq_ignore_ascii_case(b"connection"));
    let mut forwarded_for: Option<&[u8]> = None;
    let mut content_length_sent = false;
    for field in &head.headers {
        let name = field.name.of_buffer(bytes);
        let value = field.value.of_buffer(bytes);
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            // Joined below with the client's own address; several fields count as one list.
            forwarded_for = Some(value);
            continue;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length_sent = true;
        }
        if let Some(authority) = head.target_authority.filter(|_| name.eq_ignore_ascii_case(b"host")) {
            // RFC 9112 §3.2.2: an absolute-form target's authority replaces `Host` (it is what
            // the request was routed by).
            response::header(out, name, authority.of_buffer(bytes));
            continue;
        }
        // A name with an underscore is dropped (nginx's `underscores_in_headers off`): servers
        // that map fields to variables (CGI, WSGI, PHP) read `X_Scf_Name` as `X-Scf-Name`, and
        // `Transfer_Encoding` as framing, past the gateway's own checks.
        if gateway_owned_request_field(name)
            || name.contains(&b'_')
            || (has_connection_field && named_by_connection(bytes, head, name))
        {
            continue;
        }
        response::header(out, name, value);
    }
    if let Some(authority) = head.target_authority.filter(|_| head.host.is_none()) {
        // HTTP/1.0 may send an absolute-form target without `Host`: the function sees it as one.
        response::header(out, b"host", authority.of_buffer(bytes));
    }
    let mut digits = itoa_buffer();
    match head.framing {
        BodyFraming::Length(length) => response::header(out, b"content-length", format_u64(length, &mut digits)),
        BodyFraming::Chunked => response::header(out, b"transfer-encoding", b"chunked"),
        // `Content-Length: 0` as the client sent it: some servers want a length on every POST.
        BodyFraming::None if content_length_sent => response::header(out, b"content-length", b"0"),
        BodyFraming::None => {}
    }
    if upgrade {
        response::header(out, b"upgrade", b"websocket");
        response::header(out, b"connection", b"upgrade");
    } else if close {
        response::header(out, b"connection", b"close");
    }
    // Tencent's headers (spec §7.1), values as SCF sends them (timeout in milliseconds).
    let function = exchange.function;
    response::header(out, b"x-scf-request-id", exchange.request_id);
    response::header(out, b"x-scf-memory", format_u64(u64::from(function.memory_mb), &mut digits));
    response::header(out, b"x-scf-timeout", format_u64(exchange.api.timeout.as_millis() as u64, &mut digits));
    response::header(out, b"x-scf-version", function.qualifier.as_bytes());
    response::header(out, b"x-scf-name", function.name.as_bytes());
    response::header(out, b"x-scf-namespace", function.namespace.as_bytes());
    // `[gateway] region/appid/uin` (default `local`, `0`, `0`: no Tencent account behind a local gateway).
    let identity = &exchange.backends.config().gateway.identity;
    response::header(out, b"x-scf-region", identity.region.as_bytes());
    response::header(out, b"x-scf-appid", identity.appid.as_bytes());
    response::header(out, b"x-scf-uin", identity.uin.as_bytes());
    response::header(out, b"x-api-requestid", exchange.request_id);
    response::header(out, b"x-b3-traceid", exchange.trace_id);
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(earlier) = forwarded_for.filter(|earlier| !earlier.is_empty()) {
        out.extend_from_slice(earlier);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(exchange.source_ip);
    out.extend_from_slice(b"\r\n");
    response::header(out, b"x-forwarded-proto", if exchange.https { b"https" } else { b"http" });
    out.extend_from_slice(b"\r\n");
}

/// Progress through the request body.
pub(super) struct RequestBody {
    pub(super) framing: BodyFraming,
    /// Content-Length bytes still to pass on.
    pub(super) remaining: u64,
    pub(super) decoder: ChunkedDecoder,
    /// Chunked: decoded bytes so far (for `max_body_bytes`).
    pub(super) decoded: u64,
    /// The body has been staged to its end.
    pub(super) done: bool,
    /// Bytes after the head in the reader that the staged step used (dropped once sent).
    pub(super) staged_input: usize,
}

pub(super) enum BodyStop {
    /// Writing to the function failed: it may have answered early; its response is read next.
    Upstream,
    Stop(Stop),
}

impl RequestBody {
    pub(super) fn new(framing: BodyFraming) -> Self {
        let remaining = match framing {
            BodyFraming::Length(length) => length,
            _ => 0,
        };
        RequestBody {
            framing,
            remaining,
            decoder: ChunkedDecoder::new(),
            decoded: 0,
            done: framing == BodyFraming::None,
            staged_input: 0,
        }
    }

    /// Appends to `staging` the next step of the body from what the reader holds after the head
    /// (at most [`STEP`] bytes), and records how much of it that used.
    pub(super) fn stage_buffered<S>(&mut self, exchange: &mut Exchange<'_, S>) -> Result<(), GatewayError> {
        if self.done {
            return Ok(());
        }
        let input = exchange.reader.after_head(exchange.head.head_len);
        let input = &input[..input.len().min(STEP)];
        match self.framing {
            BodyFraming::None => {}
            BodyFraming::Length(_) => {
                let take = (input.len() as u64).min(self.remaining) as usize;
                exchange.staging.extend_from_slice(&input[..take]);
                self.remaining -= take as u64;
                self.staged_input = take;
                self.done = self.remaining == 0;
            }
            BodyFraming::Chunked => {
                let (used, done, data) =
                    reframe_chunked(&mut self.decoder, input, exchange.staging).map_err(GatewayError::from)?;
                self.decoded += data as u64;
                if self.decoded > exchange.max_body_bytes as u64 {
                    return Err(GatewayError::BodyTooLarge);
                }
                self.staged_input = used;
                self.done = done;
            }
        }
        Ok(())
    }
}

/// Passes the rest of the body on, a step at a time: read from the client, stage, write.
pub(super) async fn stream_request_body<S: AsyncReadRent + AsyncWriteRent + Split>(
    exchange: &mut Exchange<'_, S>,
    body: &mut RequestBody,
    connection: &mut BackendConnection,
) -> Result<(), BodyStop> {
    let timeout = exchange.api.timeout;
    if exchange.head.expect_continue {
        // RFC 9110 §10.1.1: the client waits for this before sending its body; the gateway
        // answers it (the `Expect` field is not passed on), so the body comes at once.
        exchange.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
            return Err(BodyStop::Stop(Stop::ClientGone));
        }
    }
    exchange.reader.reserve_for_streaming(STEP);
    while !body.done {
        if exchange.reader.after_head(exchange.head.head_len).is_empty() {
            let deadline = Instant::now() + exchange.idle_timeout;
            match exchange.reader.fill(exchange.stream, Some(deadline)).await {
                Ok(_) => {}
                Err(ReadError::Closed | ReadError::TimedOut | ReadError::Refused(_)) => {
                    return Err(BodyStop::Stop(Stop::ClientGone))
                }
            }
            continue;
        }
        exchange.staging.clear();
        body.stage_buffered(exchange).map_err(|error| BodyStop::Stop(Stop::Failed(error)))?;
        exchange.reader.drop_after_head(exchange.head.head_len, body.staged_input);
        body.staged_input = 0;
        if !exchange.staging.is_empty()
            && send_staged(connection, exchange.staging, Instant::now() + timeout).await.is_err()
        {
            return Err(BodyStop::Upstream);
        }
    }
    Ok(())
}

/// Decodes chunked bytes from `input` and appends their data to `out` as one chunk (the
/// sender's chunk sizes, extensions and trailers are not passed on: the body is re-framed, so a
/// function never parses framing the gateway did not check). Returns (input bytes used, the body
/// ended, data bytes).
pub(super) fn reframe_chunked(
    decoder: &mut ChunkedDecoder,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(usize, bool, usize), ChunkedError> {
    /// Room for a chunk-size line: up to 16 hex digits and CRLF.
    const ROOM: usize = 18;
    let mark = out.len();
    out.resize(mark + ROOM, 0);
    let (used, done) = decoder.decode(input, out, usize::MAX)?;
    let data = out.len() - mark - ROOM;
    if data == 0 {
        out.truncate(mark);
    } else {
        let mut line = [0u8; ROOM];
        let length = hex_line(data, &mut line);
        out[mark + ROOM - length..mark + ROOM].copy_from_slice(&line[..length]);
        out.drain(mark..mark + ROOM - length);
        out.extend_from_slice(b"\r\n");
    }
    if done {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    Ok((used, done, data))
}

/// `{value:x}\r\n` into `line`; returns its length.
pub(super) fn hex_line(value: usize, line: &mut [u8; 18]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = ((usize::BITS - value.leading_zeros()).div_ceil(4)).max(1) as usize;
    for index in 0..digits {
        line[digits - 1 - index] = HEX[(value >> (4 * index)) & 0xf];
    }
    line[digits] = b'\r';
    line[digits + 1] = b'\n';
    digits + 2
}

// ---------------------------------------------------------------------------------------------
// The connection to the function.
// ---------------------------------------------------------------------------------------------

pub(super) fn closed_early(function: &Function) -> GatewayError {
    GatewayError::WebFunctionFailed(format!(
        "web function {} closed the connection before answering",
        function.display_name()
    ))
}

/// Writes `staging` to the function by `deadline`; the buffer comes back for reuse.
pub(super) async fn send_staged(
    connection: &mut BackendConnection,
    staging: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(), ()> {
    let buffer = std::mem::take(staging);
    match monoio::time::timeout_at(deadline.into(), connection.stream.write_all(buffer)).await {
        Ok((result, buffer)) => {
            *staging = buffer;
            result.map(|_| ()).map_err(|_| ())
        }
        Err(_) => {
            // The buffer went down with the cancelled write; the connection is not reused.
            *staging = Vec::with_capacity(STEP);
            Err(())
        }
    }
}

/// Reads more of the function's response into the connection's buffer by `deadline`.
pub(super) async fn read_upstream(connection: &mut BackendConnection, deadline: Instant) -> io::Result<usize> {
    let buffer = &mut connection.read_buffer;
    if buffer.capacity() - buffer.len() < 4096 {
        buffer.reserve(STEP);
    }
    let length = buffer.len();
    let capacity = buffer.capacity();
    let owned = std::mem::take(buffer);
    match monoio::time::timeout_at(deadline.into(), connection.stream.read(owned.slice_mut(length..capacity))).await {
        Ok((result, slice)) => {
            connection.read_buffer = slice.into_inner();
            result
        }
        Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut)),
    }
}

// ---------------------------------------------------------------------------------------------
// The response.
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reframes_chunked_bodies_as_one_chunk_per_step() {
        // (input, output, body ended) — the sender's sizes, extensions and trailers are not kept.
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", b"b\r\nhello world\r\n0\r\n\r\n", true),
            (b"3\r\nabc\r\n", b"3\r\nabc\r\n", false),
            (b"0\r\n\r\n", b"0\r\n\r\n", true),
            (b"1", b"", false),
        ];
        for (input, expected, ended) in cases {
            let mut out = b"HEAD".to_vec();
            let (used, done, _) = reframe_chunked(&mut ChunkedDecoder::new(), input, &mut out).unwrap();
            assert_eq!((&out[4..], done, used), (*expected, *ended, input.len()), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn hex_lines() {
        let mut line = [0u8; 18];
        for (value, text) in [
            (1usize, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (65536, "10000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let length = hex_line(value, &mut line);
            assert_eq!(&line[..length], text.as_bytes());
        }
    }

    #[test]
    fn owned_request_fields() {
        for name in [
            "X-Scf-Request-Id",
            "x-scf-anything",
            "X-Api-RequestId",
            "Connection",
            "Transfer-Encoding",
            "Expect",
            "X-Forwarded-Proto",
        ] {
            assert!(gateway_owned_request_field(name.as_bytes()), "{name}");
        }
        for name in ["Host", "Content-Type", "X-Scf", "Authorization", "Cookie", "X-Custom"] {
            assert!(!gateway_owned_request_field(name.as_bytes()), "{name}");
        }
    }
}
