//! Web functions (`runtime = "web"`, SCF's HTTP-native functions): the client's request is
//! proxied as HTTP to one of the function's own servers, over this worker's pooled keep-alive
//! connections, with both bodies streamed through in bounded steps (never held whole).
//!
//! It owns the request the function sees (the stage prefix removed, hop-by-hop fields and any
//! client-sent `X-Scf-*` / `X-Api-Requestid` dropped, Tencent's headers and `X-Forwarded-For`
//! added, spec §7.1), the response the client sees (status and fields passed on, framing redone,
//! the gateway's CORS and request-id fields added), and WebSocket upgrades, which become a byte
//! relay once the function answers 101. Routing and policies ran before, on the head alone
//! (`crate::connection`); the function processes are `crate::function_host::web`'s.
//!
//! Buffers: the request head and each request-body step are staged in the connection's reused
//! call buffer; response bytes are read into the pooled connection's own buffer and written to
//! the client from there. Nothing is allocated per request once these have grown to their
//! working size (a [`GatewayError`] carrying the function's name is built on the error path only).

use std::io;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Split, Splitable};

use super::integration::ExtraHeaders;
use super::pool::BackendConnection;
use super::web_choice::{self, Lease};
use crate::config::{Api, Function};
use crate::error::GatewayError;
use crate::http::body::{ChunkedDecoder, ChunkedError};
use crate::http::parse::{trim, BodyFraming, RequestHead};
use crate::http::reader::{ReadError, RequestReader};
use crate::http::response::{self, format_u64, itoa_buffer};
use crate::http::response_head::{parse_response_head, ResponseBody, ResponseHead, MAX_FIELDS};
use crate::worker::Serving;

/// A body is passed on in steps of at most this many bytes (each step is read, then written).
const STEP: usize = 64 * 1024;
/// Largest response head accepted from a function (spec §7.1: Tencent allows 4 KB of headers).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// The request being proxied, and what the connection lends for it.
pub struct Exchange<'a, S> {
    /// The configuration generation the request is served with.
    pub serving: &'a Serving,
    /// The API it was routed to.
    pub api: &'a Api,
    /// The API's function (a web function).
    pub function: &'a Function,
    /// The client connection.
    pub stream: &'a mut S,
    /// The client connection's reader, holding the request head (and what arrived after it).
    pub reader: &'a mut RequestReader,
    /// The parsed request head (spans into `reader`).
    pub head: &'a RequestHead,
    /// Where the path after `/{stage}` starts in the request path.
    pub api_path_start: usize,
    /// The request id (`x-api-requestid`, `X-Scf-Request-Id`).
    pub request_id: &'a [u8],
    /// The trace id the function gets as `X-B3-TraceId` (`crate::http::trace`).
    pub trace_id: &'a [u8],
    /// The client's address as text, appended to `X-Forwarded-For`.
    pub source_ip: &'a [u8],
    /// The request came over TLS.
    pub https: bool,
    /// The API's CORS and usage-plan response fields.
    pub extra: ExtraHeaders<'a>,
    /// Responses not yet written to the client (pipelined ones before this one), then this one.
    pub out: &'a mut Vec<u8>,
    /// Staging for what is sent to the function (the head, then each body step).
    pub staging: &'a mut Vec<u8>,
    /// This response closes the client connection (the client asked, or shutdown began).
    pub close: bool,
    /// Set once shutdown begins (the worker's): a response whose head is written after that
    /// closes the client connection too.
    pub draining: &'a std::cell::Cell<bool>,
    /// `--send-timeout`: a write to the client that makes no progress this long ends the exchange.
    pub send_timeout: Duration,
    /// `--max-body-bytes`.
    pub max_body_bytes: usize,
    /// How long the client may pause while sending its body.
    pub idle_timeout: Duration,
}

/// How a proxied request ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's response was relayed whole.
    Relayed {
        /// The function's status.
        status: u16,
        /// Body bytes relayed.
        bytes: u64,
        /// The client connection may serve another request.
        keep_alive: bool,
    },
    /// Nothing reached the client: answer with `error`. `request_consumed` says whether the
    /// request body was read to its end (if not, the connection must close after the answer).
    Failed {
        /// What went wrong.
        error: GatewayError,
        /// The request body was read whole.
        request_consumed: bool,
    },
    /// The connection cannot go on: the client left, or the function failed after its response
    /// had started (the client sees it cut short), or a WebSocket relayed through ended.
    Ended {
        /// The function's status, when its response head was relayed.
        status: u16,
        /// Body bytes relayed.
        bytes: u64,
    },
}

/// Why an exchange stopped early, before it is turned into an [`Outcome`].
enum Stop {
    /// Before anything reached the client.
    Failed(GatewayError),
    /// The client connection is unusable.
    ClientGone,
}

/// Proxies the request to the function and relays its response (see the module docs).
pub async fn proxy<S: AsyncReadRent + AsyncWriteRent + Split>(exchange: Exchange<'_, S>) -> Outcome {
    let mut exchange = exchange;
    let framing = exchange.head.framing;
    if let BodyFraming::Length(length) = framing {
        // Known up front: refused before the function sees anything.
        if length > exchange.max_body_bytes as u64 {
            return Outcome::Failed { error: GatewayError::BodyTooLarge, request_consumed: false };
        }
    }
    let Some(instances) = exchange.serving.web_instances.get(exchange.api.function).cloned().flatten() else {
        return Outcome::Failed { error: GatewayError::BackendUnreachable, request_consumed: false };
    };
    let upgrade = is_websocket_upgrade(exchange.reader.request_bytes(), exchange.head);
    let carries_body = framing != BodyFraming::None;
    // A body the function may leave unread would be read by it as the next request on this
    // connection, and its answer handed to the next client: such a request asks the function to
    // close the connection after answering (and it is not pooled). That is a body on a method
    // that gives it no meaning (RFC 9110 §9.3: functions commonly ignore it), or any body once
    // this function has shown that it leaves bodies unread (`web_choice`).
    let close_after = carries_body
        && (!method_defines_body(exchange.head.method.of_buffer(exchange.reader.request_bytes()))
            || instances.closes_after_bodies());
    write_request_head(&mut exchange, upgrade, close_after);
    let mut body = RequestBody::new(framing);
    // The body's first step goes out with the head when it is already here (small requests: one write).
    if let Err(error) = body.stage_buffered(&mut exchange) {
        return Outcome::Failed { error, request_consumed: false };
    }
    let timeout = exchange.api.timeout;
    // One deadline bounds the whole call, as the API's backend timeout does in Tencent's
    // gateway: waiting for an instance, sending the request and its response head. (A body
    // streamed from the client restarts it once sent: a slow upload is the client's time.) It
    // also keeps the clock reads and timers per request to a few.
    let arrived = Instant::now();
    let mut deadline = arrived + timeout;
    // Waits for an instance to be ready, or to have room, as `web_choice` says; the lease
    // counts the request on its instance until the exchange ends.
    let (mut lease, mut connection, reused) =
        match web_choice::acquire(&instances, exchange.function, arrived, deadline, None).await {
            Ok(found) => found,
            Err(error) => return Outcome::Failed { error, request_consumed: false },
        };
    // A request that went out whole in its first write can be sent again on a fresh connection
    // when a pooled one turns out to be closed (no response byte came back): pingora's "reused
    // only" rule, as for event functions (`backend::invoke`). Its instance may have just died:
    // the fresh connection may then go to another instance, or wait for it to restart.
    let mut replayable = reused && body.done;
    let mut sent = send_staged(&mut connection, exchange.staging, deadline).await;
    if sent.is_err() && replayable {
        replayable = false;
        match web_choice::reconnect(lease, &instances, exchange.function, deadline).await {
            Ok((again, fresh)) => {
                (lease, connection) = (again, fresh);
                sent = send_staged(&mut connection, exchange.staging, deadline).await;
            }
            Err(error) => return Outcome::Failed { error, request_consumed: false },
        }
    }
    exchange.reader.drop_after_head(exchange.head.head_len, body.staged_input);
    body.staged_input = 0;
    // A function that answers before reading the whole body (and closes) is heard out below.
    let mut request_sent = sent.is_ok();
    if request_sent && !body.done {
        match stream_request_body(&mut exchange, &mut body, &mut connection).await {
            Ok(()) => {}
            Err(BodyStop::Upstream) => request_sent = false,
            Err(BodyStop::Stop(Stop::ClientGone)) => return Outcome::Ended { status: 0, bytes: 0 },
            Err(BodyStop::Stop(Stop::Failed(error))) => return Outcome::Failed { error, request_consumed: false },
        }
        deadline = Instant::now() + timeout;
    }
    let request_consumed = body.done;
    let head_request = exchange.head.method.of_buffer(exchange.reader.request_bytes()) == b"HEAD";
    let head = loop {
        match read_response_head(&mut connection, deadline, head_request).await {
            Ok(head) => break head,
            Err(HeadStop::Closed) if replayable && request_sent => {
                replayable = false;
                (lease, connection) = match web_choice::reconnect(lease, &instances, exchange.function, deadline).await
                {
                    Ok(again) => again,
                    Err(error) => return Outcome::Failed { error, request_consumed },
                };
                if send_staged(&mut connection, exchange.staging, deadline).await.is_err() {
                    return Outcome::Failed { error: closed_early(exchange.function), request_consumed };
                }
            }
            Err(HeadStop::Closed) => {
                return Outcome::Failed { error: closed_early(exchange.function), request_consumed }
            }
            Err(HeadStop::TimedOut) => {
                return Outcome::Failed { error: GatewayError::BackendTimeout, request_consumed }
            }
            Err(HeadStop::Invalid) => {
                return Outcome::Failed { error: GatewayError::BackendUnreachable, request_consumed }
            }
        }
    };
    if head.status == 101 {
        if !upgrade {
            // Switching protocols on a request that asked for none: nothing the client can read.
            return Outcome::Failed { error: GatewayError::BackendUnreachable, request_consumed };
        }
        return relay_upgrade(&mut exchange, connection, &head).await;
    }
    // The connection may serve another request only if this one reached the function whole and
    // nothing of it can be mistaken for a next request.
    connection.carried_body = carries_body;
    let reusable = request_sent && request_consumed && !close_after;
    relay_response(&mut exchange, connection, &head, request_consumed, &lease, reusable).await
}

/// Whether a request body has a meaning for `method` (RFC 9110 §9.3: for GET, HEAD, DELETE,
/// OPTIONS and TRACE it has none, and servers commonly leave it unread).
fn method_defines_body(method: &[u8]) -> bool {
    !matches!(method, b"GET" | b"HEAD" | b"DELETE" | b"OPTIONS" | b"TRACE")
}

// ---------------------------------------------------------------------------------------------
// The request.
// ---------------------------------------------------------------------------------------------

/// Whether the request asks for a WebSocket (RFC 6455 §4.1: `Upgrade: websocket` with
/// `Connection: upgrade`); such a request is passed through with its upgrade fields.
fn is_websocket_upgrade(bytes: &[u8], head: &RequestHead) -> bool {
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

fn list_contains(value: &[u8], token: &[u8]) -> bool {
    value.split(|&byte| byte == b',').any(|item| trim(item).eq_ignore_ascii_case(token))
}

/// Request fields the gateway owns: hop-by-hop ones (RFC 9110 §7.6.1), framing (redone for the
/// hop to the function), and the ones it sets itself, which a client must not be able to forge
/// (spec §7.1: `X-Scf-*` are reserved).
fn gateway_owned_request_field(name: &[u8]) -> bool {
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
fn named_by_connection(bytes: &[u8], head: &RequestHead, name: &[u8]) -> bool {
    head.headers.iter().any(|field| {
        field.name.of_buffer(bytes).eq_ignore_ascii_case(b"connection")
            && list_contains(field.value.of_buffer(bytes), name)
    })
}

/// Writes the head the function sees into `staging`; `close` asks the function to close the
/// connection after its answer.
fn write_request_head<S>(exchange: &mut Exchange<'_, S>, upgrade: bool, close: bool) {
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
    let identity = &exchange.serving.config().gateway.identity;
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
struct RequestBody {
    framing: BodyFraming,
    /// Content-Length bytes still to pass on.
    remaining: u64,
    decoder: ChunkedDecoder,
    /// Chunked: decoded bytes so far (for `max_body_bytes`).
    decoded: u64,
    /// The body has been staged to its end.
    done: bool,
    /// Bytes after the head in the reader that the staged step used (dropped once sent).
    staged_input: usize,
}

enum BodyStop {
    /// Writing to the function failed: it may have answered early; its response is read next.
    Upstream,
    Stop(Stop),
}

impl RequestBody {
    fn new(framing: BodyFraming) -> Self {
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
    fn stage_buffered<S>(&mut self, exchange: &mut Exchange<'_, S>) -> Result<(), GatewayError> {
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
async fn stream_request_body<S: AsyncReadRent + AsyncWriteRent + Split>(
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
fn reframe_chunked(
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
fn hex_line(value: usize, line: &mut [u8; 18]) -> usize {
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

fn closed_early(function: &Function) -> GatewayError {
    GatewayError::WebFunctionFailed(format!(
        "web function {} closed the connection before answering",
        function.display_name()
    ))
}

/// Writes `staging` to the function by `deadline`; the buffer comes back for reuse.
async fn send_staged(connection: &mut BackendConnection, staging: &mut Vec<u8>, deadline: Instant) -> Result<(), ()> {
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
async fn read_upstream(connection: &mut BackendConnection, deadline: Instant) -> io::Result<usize> {
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

enum HeadStop {
    /// Closed (or reset) before a single response byte.
    Closed,
    TimedOut,
    Invalid,
}

async fn read_response_head(
    connection: &mut BackendConnection,
    deadline: Instant,
    head_request: bool,
) -> Result<ResponseHead, HeadStop> {
    connection.read_buffer.clear();
    loop {
        match parse_response_head(&connection.read_buffer, head_request, |_, _| {}) {
            Ok(Some(head)) if head.status == 100 || (102..200).contains(&head.status) => {
                // Interim (100 Continue, 103 Early Hints): dropped, the final response follows.
                connection.read_buffer.drain(..head.length);
                continue;
            }
            Ok(Some(head)) => return Ok(head),
            Ok(None) if connection.read_buffer.len() > MAX_RESPONSE_HEAD => return Err(HeadStop::Invalid),
            Ok(None) => {}
            Err(_) => return Err(HeadStop::Invalid),
        }
        match read_upstream(connection, deadline).await {
            Ok(0) => return Err(if connection.read_buffer.is_empty() { HeadStop::Closed } else { HeadStop::Invalid }),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::TimedOut => return Err(HeadStop::TimedOut),
            Err(_) if connection.read_buffer.is_empty() => return Err(HeadStop::Closed),
            Err(_) => return Err(HeadStop::Invalid),
        }
    }
}

/// Response fields the gateway owns: hop-by-hop and framing ones (redone for the client hop),
/// and its own request id.
fn gateway_owned_response_field(name: &[u8], upgrade: bool) -> bool {
    const OWNED: [&[u8]; 8] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"content-length",
        b"x-api-requestid",
    ];
    (!upgrade && name.eq_ignore_ascii_case(b"upgrade")) || OWNED.iter().any(|owned| name.eq_ignore_ascii_case(owned))
}

/// Appends the client's response head: the function's status line and fields (less the
/// gateway's own), the API's CORS and usage-plan fields, the request id, and the framing given.
fn write_response_head(
    exchange: &mut Exchange<'_, impl Sized>,
    buffer: &[u8],
    head: &ResponseHead,
    upgrade: bool,
) -> Result<(), ()> {
    let mut fields = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut []);
    httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut response, &buffer[..head.length], &mut fields)
        .map_err(|_| ())?;
    let out = &mut *exchange.out;
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut digits = itoa_buffer();
    out.extend_from_slice(format_u64(u64::from(head.status), &mut digits));
    out.push(b' ');
    match response.reason.filter(|reason| !reason.is_empty()) {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => out.extend_from_slice(response::reason(head.status).as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    let head_request = head.body == ResponseBody::None;
    let connection_values = || {
        response.headers.iter().filter(|field| field.name.eq_ignore_ascii_case("connection")).map(|field| field.value)
    };
    let has_connection_field = connection_values().next().is_some();
    for field in response.headers.iter() {
        let name = field.name.as_bytes();
        // Fields the function's `Connection` names are hop-by-hop (RFC 9110 §7.6.1): for the
        // hop to the gateway only (but a 101's `Upgrade`, which the client needs).
        if has_connection_field
            && !(upgrade && name.eq_ignore_ascii_case(b"upgrade"))
            && connection_values().any(|value| list_contains(value, name))
        {
            continue;
        }
        let keep_length = head_request && name.eq_ignore_ascii_case(b"content-length") && head.status != 204;
        if (gateway_owned_response_field(name, upgrade) && !keep_length)
            || (exchange.extra.replaces_cors && name.len() >= 15 && name[..15].eq_ignore_ascii_case(b"access-control-"))
        {
            continue;
        }
        response::header(out, name, field.value);
    }
    out.extend_from_slice(exchange.extra.lines);
    response::header(out, b"x-api-requestid", exchange.request_id);
    Ok(())
}

/// Relays the function's response: head, then body in steps, re-framed for the client.
async fn relay_response<S: AsyncReadRent + AsyncWriteRent + Split>(
    exchange: &mut Exchange<'_, S>,
    mut connection: BackendConnection,
    head: &ResponseHead,
    request_consumed: bool,
    lease: &Lease,
    reusable: bool,
) -> Outcome {
    let timeout = exchange.api.timeout;
    let http10 = exchange.head.http10;
    // The client connection goes on only when this request was read whole and its response can
    // be delimited: a body that runs to the close of the function's connection is sent chunked
    // to an HTTP/1.1 client; an HTTP/1.0 client gets it until the close.
    let client_chunked = !http10 && matches!(head.body, ResponseBody::Chunked | ResponseBody::UntilClose);
    let delimited = !matches!(head.body, ResponseBody::Chunked | ResponseBody::UntilClose) || client_chunked;
    let keep_alive = !exchange.close && !exchange.draining.get() && request_consumed && delimited;
    let buffer = std::mem::take(&mut connection.read_buffer);
    let written = write_response_head(exchange, &buffer, head, false);
    connection.read_buffer = buffer;
    if written.is_err() {
        return Outcome::Failed { error: GatewayError::BackendUnreachable, request_consumed };
    }
    let out = &mut *exchange.out;
    let mut digits = itoa_buffer();
    match head.body {
        ResponseBody::Length(length) => response::header(out, b"content-length", format_u64(length, &mut digits)),
        ResponseBody::Chunked | ResponseBody::UntilClose if client_chunked => {
            response::header(out, b"transfer-encoding", b"chunked")
        }
        _ => {}
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let status = head.status;
    let ended = |bytes| Outcome::Ended { status, bytes };
    // What followed the head in the first read is the start of the body.
    connection.read_buffer.drain(..head.length);
    let mut bytes: u64 = 0;
    let complete = match head.body {
        ResponseBody::None => {
            if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
                return ended(0);
            }
            true
        }
        ResponseBody::Length(length) => {
            // The head goes out with what followed it in the first read; later steps are written
            // to the client straight from the connection's read buffer.
            let take = (connection.read_buffer.len() as u64).min(length) as usize;
            exchange.out.extend_from_slice(&connection.read_buffer[..take]);
            connection.read_buffer.drain(..take);
            bytes += take as u64;
            if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
                return ended(bytes);
            }
            while bytes < length {
                connection.read_buffer.clear();
                match read_upstream(&mut connection, Instant::now() + timeout).await {
                    Ok(count) if count > 0 => {}
                    _ => return ended(bytes),
                }
                let take = (connection.read_buffer.len() as u64).min(length - bytes) as usize;
                let buffer = std::mem::take(&mut connection.read_buffer);
                let (result, slice) =
                    crate::send::write_all(exchange.stream, buffer.slice(..take), exchange.send_timeout).await;
                let Some(slice) = slice else { return ended(bytes) };
                connection.read_buffer = slice.into_inner();
                connection.read_buffer.drain(..take);
                if result.is_err() {
                    return ended(bytes);
                }
                bytes += take as u64;
            }
            true
        }
        ResponseBody::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            loop {
                let result = if client_chunked {
                    reframe_chunked(&mut decoder, &connection.read_buffer, exchange.out)
                } else {
                    let before = exchange.out.len();
                    decoder
                        .decode(&connection.read_buffer, exchange.out, usize::MAX)
                        .map(|(used, done)| (used, done, exchange.out.len() - before))
                };
                let Ok((used, done, data)) = result else { return ended(bytes) };
                connection.read_buffer.drain(..used);
                bytes += data as u64;
                if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
                    return ended(bytes);
                }
                if done {
                    break connection.read_buffer.is_empty();
                }
                match read_upstream(&mut connection, Instant::now() + timeout).await {
                    Ok(count) if count > 0 => {}
                    _ => return ended(bytes),
                }
            }
        }
        ResponseBody::UntilClose => loop {
            let data = connection.read_buffer.len();
            if data > 0 {
                if client_chunked {
                    let mut line = [0u8; 18];
                    let length = hex_line(data, &mut line);
                    exchange.out.extend_from_slice(&line[..length]);
                }
                exchange.out.extend_from_slice(&connection.read_buffer);
                if client_chunked {
                    exchange.out.extend_from_slice(b"\r\n");
                }
                connection.read_buffer.clear();
                bytes += data as u64;
            }
            match read_upstream(&mut connection, Instant::now() + timeout).await {
                Ok(0) => {
                    if client_chunked {
                        exchange.out.extend_from_slice(b"0\r\n\r\n");
                    }
                    if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
                        return ended(bytes);
                    }
                    break false;
                }
                Ok(_) => {
                    if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
                        return ended(bytes);
                    }
                }
                Err(_) => return ended(bytes),
            }
        },
    };
    // Back to the pool only after a whole, cleanly delimited response with nothing after it.
    if complete && !connection.read_buffer.is_empty() {
        // Bytes after a whole response: the function spoke out of turn (this connection closes).
        lease.spoke_out_of_turn(&connection);
    } else if reusable && complete && !head.close {
        lease.release(connection);
    }
    if keep_alive {
        Outcome::Relayed { status, bytes, keep_alive }
    } else {
        ended(bytes)
    }
}

/// The function accepted a WebSocket upgrade: the 101 goes to the client, then bytes are copied
/// both ways, unframed, until each side has closed its half.
async fn relay_upgrade<S: AsyncReadRent + AsyncWriteRent + Split>(
    exchange: &mut Exchange<'_, S>,
    mut connection: BackendConnection,
    head: &ResponseHead,
) -> Outcome {
    let buffer = std::mem::take(&mut connection.read_buffer);
    let written = write_response_head(exchange, &buffer, head, true);
    let mut early_frames = buffer;
    if written.is_err() {
        return Outcome::Failed { error: GatewayError::BackendUnreachable, request_consumed: true };
    }
    // RFC 9110 §7.8: a 101 names the upgrade in `Connection` (the function's own field is a
    // hop-by-hop one, replaced like every other).
    exchange.out.extend_from_slice(b"connection: upgrade\r\n\r\n");
    // Frames the function sent right behind its 101.
    exchange.out.extend_from_slice(&early_frames[head.length..]);
    early_frames.clear();
    if !crate::send::flush(exchange.stream, exchange.out, exchange.send_timeout).await {
        return Outcome::Ended { status: 101, bytes: 0 };
    }
    // Frames the client sent right behind its upgrade request.
    let pending = exchange.reader.after_head(exchange.head.head_len);
    if !pending.is_empty() {
        let length = pending.len();
        early_frames.extend_from_slice(pending);
        let (result, _) = connection.stream.write_all(early_frames).await;
        if result.is_err() {
            return Outcome::Ended { status: 101, bytes: 0 };
        }
        exchange.reader.drop_after_head(exchange.head.head_len, length);
    }
    let idle_timeout = exchange.serving.config().gateway.websocket.idle_timeout;
    let (mut function_read, mut function_write) = connection.stream.into_split();
    let (mut client_read, mut client_write) = crate::websocket::split::split(exchange.stream);
    let mut bytes = 0;
    {
        let to_function = std::pin::pin!(copy_until_idle(&mut client_read, &mut function_write, idle_timeout));
        let mut to_client =
            std::pin::pin!(copy_to_client(&mut function_read, &mut client_write, exchange.send_timeout));
        monoio::select! {
            client_half = to_function => match client_half {
                // The client closed its half: the function may still answer until it closes.
                ClientHalf::Closed => bytes = to_client.as_mut().await.unwrap_or(0),
                // Nothing from the client for `websocket_idle_timeout`: the relay ends. The
                // bytes are not framed here, so no close frame can be slipped in safely; both
                // sides see their connection close.
                ClientHalf::Idle => tracing::debug!(idle_timeout_s = idle_timeout.as_secs_f64(), "closing a WebSocket relayed to a web function: idle"),
            },
            // The function closed: nothing more can reach it.
            copied = to_client.as_mut() => bytes = copied.unwrap_or(0),
        }
    }
    let _ = function_write.shutdown().await;
    let _ = client_write.shutdown().await;
    Outcome::Ended { status: 101, bytes }
}

/// Copies the function's bytes to the client until the function closes (or the client stops
/// reading for `send_timeout`); returns how many.
async fn copy_to_client<R: AsyncReadRent, W: AsyncWriteRent>(
    from: &mut R,
    to: &mut W,
    send_timeout: Duration,
) -> io::Result<u64> {
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut copied = 0;
    loop {
        let (read, returned) = from.read(buffer).await;
        let count = read?;
        if count == 0 {
            return Ok(copied);
        }
        let (written, returned) = crate::send::write_all(to, returned, send_timeout).await;
        written?;
        copied += count as u64;
        buffer = returned.unwrap_or_default();
        buffer.clear();
    }
}

/// How the client's half of a relayed WebSocket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientHalf {
    /// It closed (or failed); the function was told with a FIN.
    Closed,
    /// It sent nothing for the idle timeout.
    Idle,
}

/// Copies the client's bytes to the function until the client closes its half (then shuts the
/// function's write half) or sends nothing for `idle_timeout` (the gateway's
/// `websocket_idle_timeout`, as for WebSocket APIs: client frames are what keep a connection
/// alive, and a client that pings sends them).
async fn copy_until_idle<R: AsyncReadRent, W: AsyncWriteRent>(
    from: &mut R,
    to: &mut W,
    idle_timeout: Duration,
) -> ClientHalf {
    let mut buffer = Vec::with_capacity(16 * 1024);
    loop {
        match monoio::time::timeout(idle_timeout, from.read(buffer)).await {
            // Timed out: the read is dropped with its buffer, and the relay ends.
            Err(_) => return ClientHalf::Idle,
            Ok((Ok(count), returned)) if count > 0 => {
                let (written, mut returned) = to.write_all(returned).await;
                if written.is_err() {
                    return ClientHalf::Closed;
                }
                returned.clear();
                buffer = returned;
            }
            Ok(_) => {
                let _ = to.shutdown().await;
                return ClientHalf::Closed;
            }
        }
    }
}

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
