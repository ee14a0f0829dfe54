//! One client connection: read requests into an owned buffer, answer them in order (keep-alive and
//! pipelining), enforce the idle and header timeouts, and never let one bad request touch another
//! connection. The phases follow the request: read head -> route (`pipeline`) -> read body ->
//! policies and target (`pipeline`) -> write response. A request for a web function's API is
//! proxied from its head, its body streaming through (`backend::web_proxy`). A connection that waits long for
//! its next request is parked (`park`), plain or TLS: its task ends and a new one serves it when
//! it speaks again.

pub mod park;
mod pipeline;

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, Canceller, Split};
use monoio::net::TcpStream;

use crate::backend::CallBuffers;
use crate::buffer_pool::RequestBuffers;
use crate::error::{ErrorContext, GatewayError, Side};
use crate::http::reader::{ReadError, RequestReader};
use crate::http::trace::TraceId;
use crate::http::{response, BodyFraming, RequestHead};
use crate::metrics::worker::Finished;
use crate::policy::PolicyState;
use crate::route::PathParams;
use crate::route::Target;
use crate::worker::{RequestId, Serving, WorkerContext};

/// Serves one accepted connection until it closes or parks.
pub async fn serve(stream: TcpStream, peer: SocketAddr, worker: Rc<WorkerContext>) {
    let _ = stream.set_nodelay(true);
    serve_parkable(stream, peer, worker, false).await;
}

/// Serves a parked connection that has something to read (`park::run`). It counts as open from
/// the moment it leaves the lot (`open`), not from the task's first poll.
pub(crate) async fn serve_unparked(unparked: park::Unparked, open: crate::worker::OpenConnection) {
    let worker = open.context.clone();
    let stream = std::net::TcpStream::from(unparked.socket);
    // Only fails where the runtime cannot take another descriptor; the connection closes.
    let Ok(stream) = TcpStream::from_std(stream) else { return };
    match unparked.session {
        Some(session) => {
            let stream = crate::tls::stream::TlsStream::resume(stream, *session);
            serve_parkable(stream, unparked.peer, worker, true).await;
        }
        None => serve_parkable(stream, unparked.peer, worker, false).await,
    }
}

/// Serves a connection, then parks it if it ended its task to be parked.
pub(crate) async fn serve_parkable<S: ClientStream + AsRawFd>(
    stream: S,
    peer: SocketAddr,
    worker: Rc<WorkerContext>,
    https: bool,
) {
    let socket = stream.as_raw_fd();
    let Some((stream, deadline)) = serve_stream(stream, socket, peer, worker.clone(), https).await else { return };
    // The task ends here; the lot holds the descriptor (and a TLS connection's session). The
    // runtime may still hold the stream's own descriptor until the readiness wait given up at
    // `park_after` is reaped, so the lot takes a duplicate and the stream's is closed when the
    // runtime lets go of it. Whatever cannot be parked is closed, as its idle timeout would have.
    // SAFETY: `socket` is the stream's descriptor, open while `stream` is alive (here).
    let duplicate = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket) }.try_clone_to_owned();
    let session = stream.park();
    if let Ok(fd) = duplicate {
        let _ = worker.parking.park(fd, peer, deadline, session);
    }
}

/// Runs the worker's lot: wakes parked connections that have something to read into fresh
/// connection tasks, and closes those past their idle timeout, until shutdown closes the rest.
pub async fn run_parking_lot(worker: Rc<WorkerContext>) {
    let lot = &worker.parking;
    let Some(waiter) = lot.waiter() else { return };
    let mut events = park::ParkingLot::event_buffer();
    loop {
        if worker.is_draining() {
            lot.close_all();
            return;
        }
        let wake_at = lot.expire_and_next_wake(Instant::now());
        let _ = monoio::time::timeout_at(monoio::time::Instant::from_std(wake_at), waiter.readable(false)).await;
        lot.wake_ready(&mut events, |unparked| {
            worker.metrics.connections.unparked.increment();
            monoio::spawn(serve_unparked(unparked, crate::worker::OpenConnection::new(worker.clone())));
        });
    }
}

/// A client stream, and what a connection over it keeps when parked: plain TCP its descriptor
/// alone; TLS its descriptor and its session (boxed: a few KB, the deframer's buffer with it).
pub trait ClientStream: AsyncReadRent + AsyncWriteRent + Split {
    /// Lets go of the stream (its descriptor is closed; the lot holds a duplicate), keeping what
    /// else a parked connection needs.
    fn park(self) -> Option<Box<rustls::ServerConnection>>;

    /// What a connection keeps between its waits for a next request (see `wait_for_request`).
    type IdleWait: Default;

    /// Waits for an idle connection's next request until `park_at`, reading what comes into
    /// `reader` (`Ok(true)`; the idle `deadline` does not come first, as it is later). `Ok(false)`:
    /// nothing came, and nothing was taken from the socket, so the connection can be parked with
    /// its bytes still there.
    fn wait_for_request(
        &mut self,
        reader: &mut RequestReader,
        kept: &mut Self::IdleWait,
        park_at: Instant,
        deadline: Instant,
    ) -> impl Future<Output = Result<bool, ReadError>>;
}

impl ClientStream for TcpStream {
    /// The canceller of the read an idle connection waits in; made at the first wait and kept,
    /// so that waits allocate nothing.
    type IdleWait = Option<Canceller>;

    fn park(self) -> Option<Box<rustls::ServerConnection>> {
        None
    }

    async fn wait_for_request(
        &mut self,
        reader: &mut RequestReader,
        canceller: &mut Option<Canceller>,
        park_at: Instant,
        _deadline: Instant,
    ) -> Result<bool, ReadError> {
        // In a read that is cancelled at `park_at` (one submission per request, where a readiness
        // wait and then a read cost two).
        Ok(reader.fill_unless_idle(self, canceller, park_at).await?.is_some())
    }
}

impl ClientStream for crate::tls::stream::TlsStream {
    /// Nothing: the TLS stream reads only once the socket is readable, so it waits for that.
    type IdleWait = ();

    fn park(self) -> Option<Box<rustls::ServerConnection>> {
        Some(Box::new(crate::tls::stream::TlsStream::park(self)))
    }

    async fn wait_for_request(
        &mut self,
        reader: &mut RequestReader,
        _kept: &mut (),
        park_at: Instant,
        deadline: Instant,
    ) -> Result<bool, ReadError> {
        if !crate::tls::stream::TlsStream::readable_before(self, park_at).await {
            return Ok(false);
        }
        reader.fill(self, Some(deadline)).await.map(|_| true)
    }
}

/// Serves one connection over any stream (plain TCP, or TLS once its handshake is done); `https`
/// says which, for the event's `x-api-scheme` and the APIs' `protocol`.
/// `socket` is the underlying TCP socket (for noticing a client that has gone).
/// The stream comes back when the connection is to be parked, with its idle deadline.
pub async fn serve_stream<S: ClientStream>(
    stream: S,
    socket: std::os::fd::RawFd,
    peer: SocketAddr,
    worker: Rc<WorkerContext>,
    https: bool,
) -> Option<(S, Instant)> {
    let read_buffer_bytes = worker.serving().config().gateway.read_buffer_bytes;
    let mut connection = Connection {
        stream,
        // It waits for its first request in its small buffer (see `idle_read`).
        reader: RequestReader::with_buffer(
            Vec::with_capacity(read_buffer_bytes.min(IDLE_READ_BYTES)),
            read_buffer_bytes,
        ),
        idle_read: Vec::new(),
        read_buffer_bytes,
        head: RequestHead::default(),
        out: Vec::new(),
        buffers: CallBuffers::empty(),
        holds_buffers: false,
        params: PathParams::default(),
        source_ip: SourceIp::new(peer),
        https,
        socket,
        worker: worker.clone(),
        unanswered: 0,
        policy: PolicyState::default(),
        upgraded: false,
        routed: None,
        function_time: None,
        gateway_error: false,
        park_until: None,
        idle_wait: S::IdleWait::default(),
    };
    connection.run(&worker).await;
    // Whatever it had not answered when it ended is no longer in flight.
    worker.requests_finished(connection.unanswered);
    connection.give_back_buffers();
    let deadline = connection.park_until?;
    Some((connection.stream, deadline))
}

/// The size of the buffer an idle connection waits for its next request in (when
/// `read_buffer_bytes` is larger; otherwise it keeps its read buffer). A request's first bytes
/// are read into it, then copied to a full read buffer (`read_buffer_bytes`) from the worker's
/// pool, so that an idle connection does not hold one. When more than this many bytes are there
/// to read at once, the rest takes one more read; a request of at most this many bytes (most API
/// requests) costs no more reads than before, only the copy.
const IDLE_READ_BYTES: usize = 2048;

/// Whether the client has closed its side: a write would still seem to succeed (the kernel
/// takes it and the client answers with a reset), so look for the end of its stream instead.
fn peer_closed(socket: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: recv(2) with MSG_PEEK | MSG_DONTWAIT into a one-byte stack buffer; it neither
    // consumes data nor blocks, and `socket` is this connection's open descriptor.
    let received = unsafe { libc::recv(socket, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    received == 0
}

/// Milliseconds to the microsecond, for the access log.
fn milliseconds(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// The peer address as text, formatted once per connection.
struct SourceIp {
    text: [u8; 48],
    length: usize,
}

impl SourceIp {
    fn new(peer: SocketAddr) -> Self {
        use std::io::Write;
        let mut text = [0u8; 48];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        let _ = write!(cursor, "{}", peer.ip().to_canonical());
        let length = cursor.position() as usize;
        SourceIp { text, length }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.text[..self.length]
    }
}

/// A routed request: the generation that routed it (what its metrics count under), its API and
/// its stage.
type Routed = (Rc<Serving>, crate::config::ApiIndex, crate::config::Stage);

struct Connection<S: ClientStream> {
    stream: S,
    /// Arrived over TLS.
    https: bool,
    /// The TCP socket under `stream`.
    socket: std::os::fd::RawFd,
    reader: RequestReader,
    /// While the connection holds a set of buffers, the small buffer it waits for a request in
    /// (the reader has the set's full one); otherwise empty (the reader has the small one).
    idle_read: Vec<u8>,
    /// `read_buffer_bytes` when the connection started.
    read_buffer_bytes: usize,
    head: RequestHead,
    /// Responses not yet written; pipelined responses are batched into one write.
    out: Vec<u8>,
    buffers: CallBuffers,
    /// `out`, `buffers`, `policy` and the reader's read and decoding buffers are a set from the
    /// worker's pool (`crate::buffer_pool`), taken when a request's first bytes have arrived and
    /// given back when the connection waits for its next request with nothing buffered and
    /// nothing left to write. Between requests they are empty, without capacity, and the reader
    /// reads into the connection's small buffer.
    holds_buffers: bool,
    params: PathParams,
    source_ip: SourceIp,
    /// The current request's policy results; its `headers` go on every response to it.
    policy: PolicyState,
    /// The worker, for counting requests in flight (graceful shutdown waits for them).
    worker: Rc<WorkerContext>,
    /// Requests read whose responses are not yet written.
    unanswered: usize,
    /// The last request upgraded the connection to a WebSocket, whose session has ended.
    upgraded: bool,
    /// The current request's API and stage, once routed, with the generation that routed it
    /// (what its metrics count under); cleared when the request is over, so that an idle
    /// connection does not keep an old generation alive.
    routed: Option<Routed>,
    /// How long the current request's function took, once it was called.
    function_time: Option<Duration>,
    /// The current request was answered with a gateway error (not the function's answer).
    gateway_error: bool,
    /// Set when the connection ended its task to be parked: its idle deadline.
    park_until: Option<Instant>,
    /// What the stream keeps between waits for a next request (plain TCP: its read's canceller).
    idle_wait: S::IdleWait,
}

/// The gateway settings a connection reads between requests (a reload may change them).
#[derive(Clone, Copy)]
struct Limits {
    max_header_bytes: usize,
    max_body_bytes: usize,
    idle_timeout: std::time::Duration,
    park_after: std::time::Duration,
    header_timeout: std::time::Duration,
    send_timeout: std::time::Duration,
    /// A body larger than the read buffer counts against the worker's body budget.
    read_buffer_bytes: usize,
    /// This worker's share of `--body-memory`.
    body_memory_share: usize,
}

impl Limits {
    fn of(worker: &WorkerContext) -> Self {
        let serving = worker.serving();
        let settings = &serving.config().gateway;
        Limits {
            max_header_bytes: settings.max_header_bytes,
            max_body_bytes: settings.max_body_bytes,
            idle_timeout: settings.idle_timeout,
            park_after: settings.park_after,
            header_timeout: settings.header_timeout,
            send_timeout: settings.send_timeout,
            read_buffer_bytes: settings.read_buffer_bytes,
            body_memory_share: settings.body_memory / settings.workers.max(1),
        }
    }
}

impl<S: ClientStream> Connection<S> {
    async fn run(&mut self, worker: &WorkerContext) {
        loop {
            let settings = Limits::of(worker);
            // Phase 1: the request head, within the idle timeout for its first byte and the
            // header timeout for the rest.
            let mut header_deadline: Option<Instant> = None;
            loop {
                match self.reader.try_head(&mut self.head, settings.max_header_bytes) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(error) => return self.refuse(worker, error).await,
                }
                if !self.out.is_empty() && !self.flush().await {
                    return;
                }
                // Nothing left to write: unless part of a next head is buffered, the set goes back
                // and the connection waits holding its small read buffer only.
                self.give_back_buffers();
                let idle = self.reader.buffered() == 0;
                let deadline = if idle {
                    Instant::now() + settings.idle_timeout
                } else {
                    *header_deadline.get_or_insert_with(|| Instant::now() + settings.header_timeout)
                };
                let read = if idle && settings.park_after < settings.idle_timeout && worker.parking.available() {
                    let park_at = Instant::now() + settings.park_after;
                    let waited = self.stream.wait_for_request(&mut self.reader, &mut self.idle_wait, park_at, deadline);
                    match waited.await {
                        Ok(true) => Ok(0),
                        Ok(false) => {
                            if !worker.is_draining() && self.unanswered == 0 {
                                self.park_until = Some(deadline);
                            }
                            return;
                        }
                        Err(error) => Err(error),
                    }
                } else {
                    self.reader.fill(&mut self.stream, Some(deadline)).await
                };
                match read {
                    Ok(_) => {}
                    Err(ReadError::Refused(error)) => return self.refuse(worker, error).await,
                    Err(ReadError::Closed | ReadError::TimedOut) => return,
                }
                // A request has begun: its buffers, the full read buffer among them.
                self.take_buffers();
            }
            debug_assert!(self.holds_buffers, "a head is parsed only in a full read buffer");
            worker.request_started();
            self.unanswered += 1;
            let access_log = tracing::enabled!(target: "access", tracing::Level::INFO);
            let started = Instant::now();
            self.routed = None;
            self.function_time = None;
            self.gateway_error = false;
            let request_id = worker.next_request_id();
            // Phase 2: the route, once, from the head, with the generation that serves this
            // request start to finish whatever a reload does: the API, and what serves it. A
            // request that does not route is answered once its body has been read.
            let serving = worker.serving();
            let routed = self.route(&serving);
            if let Ok((resolved, preflight)) = &routed {
                let (resolved, preflight) = (*resolved, *preflight);
                if resolved.target == Target::Web {
                    // A web function is served from the head; the body streams through to it
                    // instead of being read here first.
                    let serve = self.serve_web(
                        worker,
                        &serving,
                        resolved,
                        preflight,
                        &settings,
                        &request_id,
                        started,
                        access_log,
                    );
                    match serve.await {
                        true => continue,
                        false => return,
                    }
                }
            }
            // Phase 3: the body, held whole for the event. One larger than the read buffer is
            // admitted only within the worker's share of `--body-memory` (`crate::memory`),
            // refused before any of it is read (and before a `100 Continue` invites it). It
            // counts as the copies of it the request holds: the body, the event, the answer.
            let mut body_held = worker.body_budget.reservation();
            if let BodyFraming::Length(length) = self.head.framing {
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                if length > settings.read_buffer_bytes && length <= settings.max_body_bytes {
                    let buffer = self.reader.held_bytes().max(self.head.head_len + length + 4096);
                    let needed = buffer + (crate::memory::COPIES_PER_BODY - 1) * length;
                    if !body_held.grow_to(needed, settings.body_memory_share) {
                        return self.refuse(worker, GatewayError::BodyMemoryExhausted).await;
                    }
                    self.reader.reserve_body(self.head.head_len, length);
                }
            }
            if self.head.expect_continue && !self.reader.body_is_buffered(&self.head) {
                match self.reader.try_body(&self.head, settings.max_body_bytes) {
                    Err(error) => return self.refuse(worker, error).await,
                    Ok(true) => {}
                    Ok(false) => {
                        // RFC 9110 §10.1.1: the client waits for this before sending the body.
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        if !self.flush().await {
                            return;
                        }
                    }
                }
            }
            loop {
                match self.reader.try_body(&self.head, settings.max_body_bytes) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(error) => return self.refuse(worker, error).await,
                }
                let deadline = Instant::now() + settings.idle_timeout;
                match self.reader.fill(&mut self.stream, Some(deadline)).await {
                    Ok(_) => {}
                    Err(ReadError::Refused(error)) => return self.refuse(worker, error).await,
                    Err(ReadError::Closed | ReadError::TimedOut) => return,
                }
                // A chunked body's size shows only as it arrives.
                let held = crate::memory::COPIES_PER_BODY * self.reader.held_bytes();
                if held > settings.read_buffer_bytes.max(body_held.bytes())
                    && !body_held.grow_to(held, settings.body_memory_share)
                {
                    return self.refuse(worker, GatewayError::BodyMemoryExhausted).await;
                }
            }
            // Phases 4-5: policies, the function, the response. Once shutdown has begun, this
            // response closes the connection.
            let mut close = !self.head.keep_alive || worker.is_draining();
            let response_start = self.out.len();
            let handled = match routed {
                Ok(routed) => self.handle(worker, &serving, routed, &request_id, close).await,
                Err(error) => Err(error),
            };
            if let Err(error) = handled {
                self.write_error(&error, &request_id, close);
            }
            if self.upgraded {
                // It became a WebSocket connection, which has ended (`crate::websocket`).
                return;
            }
            if !close && worker.is_draining() {
                // Shutdown began while the function ran: this is the connection's last response.
                response::mark_close(&mut self.out, response_start);
                close = true;
            }
            let status = response::status_of(&self.out[response_start..]);
            let bytes = self.out.len() - response_start;
            if access_log {
                // Logged once the response is written, so a client that left shows as 499
                // (Tencent's "Client closed connection."), not as the status it never got.
                let client_left = peer_closed(self.socket);
                let written = self.flush().await;
                let logged = if written && !client_left { status } else { 499 };
                self.finish(&request_id, logged, bytes as u64, started, true);
                if !written {
                    return;
                }
            } else {
                self.finish(&request_id, status, bytes as u64, started, false);
            }
            self.reader.finish_request();
            if close {
                self.flush().await;
                return;
            }
        }
    }

    /// Appends the error's response.
    fn write_error(&mut self, error: &GatewayError, request_id: &RequestId, close: bool) {
        let bytes = self.reader.request_bytes();
        let path = if self.head.path.is_empty() { &b""[..] } else { self.head.path.of_buffer(bytes) };
        let stage_end = path
            .get(1..)
            .and_then(|rest| rest.iter().position(|&byte| byte == b'/'))
            .map_or(path.len(), |slash| slash + 1);
        let context = ErrorContext {
            path,
            host: self.head.authority().map(|span| span.of_buffer(bytes)).unwrap_or_default(),
            stage: path.get(1..stage_end).unwrap_or_default(),
            request_id: request_id.as_bytes(),
        };
        self.worker.metrics.errors[error.metric_kind()].increment();
        self.gateway_error = true;
        self.log_failure(error, request_id);
        let mut body = Vec::with_capacity(128);
        error.write_body(&context, &mut body);
        response::start(&mut self.out, error.status());
        response::header(&mut self.out, b"content-type", b"application/json");
        // The API's CORS and usage-plan headers: a refusal must reach a browser's script too.
        self.out.extend_from_slice(&self.policy.headers);
        error.write_extra_headers(&mut self.out);
        if *error == GatewayError::HttpsRequired {
            // The same target on https, at the default port: the public HTTPS port is not known
            // here (a proxy or NAT may stand in front). The error path only: one allocation.
            let mut location = b"https://".to_vec();
            location.extend_from_slice(crate::route::strip_port(context.host));
            location.extend_from_slice(path);
            if !self.head.query.is_empty() {
                location.push(b'?');
                location.extend_from_slice(self.head.query.of_buffer(bytes));
            }
            response::header(&mut self.out, b"location", &location);
        }
        response::header(&mut self.out, b"x-api-requestid", request_id.as_bytes());
        response::end_head(&mut self.out, body.len(), close || error.closes_connection());
        if self.head.method.of_buffer(bytes) != b"HEAD" || error.closes_connection() {
            self.out.extend_from_slice(&body);
        }
    }

    /// Says why a request failed when the cause is on the function's side or the gateway's (a
    /// client's own mistake is its answer alone, logged at debug): the cause a 502 keeps, with
    /// the request id the client got and the API and function it was for.
    fn log_failure(&self, error: &GatewayError, request_id: &RequestId) {
        let side = error.side();
        if side == Side::Client && !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let request_id = String::from_utf8_lossy(request_id.as_bytes());
        let (api, function) = match &self.routed {
            Some((serving, api, _)) => {
                let api = &serving.config().apis[*api];
                (api.name.as_str(), serving.config().functions[api.function].display_name())
            }
            None => ("", String::new()),
        };
        match side {
            Side::Backend => {
                tracing::warn!(%request_id, api, %function, ?error, status = error.status(), "the function's side failed")
            }
            Side::Gateway => {
                tracing::warn!(%request_id, api, %function, ?error, status = error.status(), "the gateway refused the request")
            }
            Side::Client => {
                tracing::debug!(%request_id, api, ?error, status = error.status(), "the request was refused")
            }
        }
    }

    /// Answers a request whose framing we refuse, then closes: the following bytes cannot be
    /// trusted to start a request.
    async fn refuse(&mut self, worker: &WorkerContext, error: GatewayError) {
        self.take_buffers();
        // The head may be unparsed: nothing of it goes into the body.
        self.head = RequestHead::default();
        self.policy.clear();
        self.routed = None;
        self.function_time = None;
        let request_id = worker.next_request_id();
        let started = Instant::now();
        self.write_error(&error, &request_id, true);
        let bytes = self.out.len() as u64;
        self.flush().await;
        self.finish(&request_id, error.status(), bytes, started, false);
    }

    /// A request is over, its response written (or its client gone): counts it under its API
    /// and stage (or as matching none), and writes its access-log line when that is on.
    fn finish(&mut self, request_id: &RequestId, status: u16, response_bytes: u64, started: Instant, access_log: bool) {
        let body_bytes = match self.head.framing {
            BodyFraming::Length(length) => length,
            BodyFraming::Chunked => self.reader.body().len() as u64,
            BodyFraming::None => 0,
        };
        let finished = Finished {
            status,
            request_bytes: self.head.head_len as u64 + body_bytes,
            response_bytes,
            duration: started.elapsed(),
            function_duration: self.function_time,
        };
        let routed = self.routed.take();
        match &routed {
            Some((serving, api, stage)) => serving.api_metrics(*api, *stage).record(&finished),
            None => self.worker.metrics.unmatched.record(&finished),
        }
        if access_log {
            self.log_access(request_id, &finished, routed.as_ref());
        }
    }

    /// One access-log line (target `access`; on with `--access-log`, text or JSON).
    fn log_access(&self, request_id: &RequestId, finished: &Finished, routed: Option<&Routed>) {
        let request = self.reader.request_bytes();
        let (mut service, mut stage, mut api_name, mut function) = ("", "", "", String::new());
        if let Some((serving, api, served_stage)) = routed {
            let config = serving.config();
            let api = &config.apis[*api];
            (service, stage, api_name) = (&config.services[api.service].id, served_stage.as_str(), &api.name);
            function = config.functions[api.function].display_name();
        }
        // The function's own status: what it answered, when its answer made the response.
        let upstream_status = (self.function_time.is_some() && !self.gateway_error).then_some(finished.status);
        let trace = TraceId::of_request(request, &self.head, request_id.as_bytes());
        tracing::info!(
            target: "access",
            request_id = %String::from_utf8_lossy(request_id.as_bytes()),
            trace_id = %String::from_utf8_lossy(trace.as_bytes()),
            client = %String::from_utf8_lossy(self.source_ip.as_bytes()),
            method = %String::from_utf8_lossy(self.head.method.of_buffer(request)),
            path = %String::from_utf8_lossy(self.head.path.of_buffer(request)),
            service,
            stage,
            api = api_name,
            function = function.as_str(),
            status = finished.status,
            upstream_status,
            request_bytes = finished.request_bytes,
            bytes = finished.response_bytes,
            duration_ms = milliseconds(finished.duration),
            function_ms = finished.function_duration.map(milliseconds),
            tls = self.https,
        );
    }

    /// Whether the reader waits for a request in a small buffer rather than a full one.
    fn reads_idle_into_small_buffer(&self) -> bool {
        self.read_buffer_bytes > IDLE_READ_BYTES
    }

    /// Takes a set of per-request buffers from the worker's pool, unless it holds one already;
    /// what the reader has buffered moves to the set's read buffer.
    fn take_buffers(&mut self) {
        if self.holds_buffers {
            return;
        }
        let mut set = self.worker.buffer_pool.take();
        if self.reads_idle_into_small_buffer() {
            if set.read.capacity() == 0 {
                // A fresh set (or one another connection did not read into).
                set.read = Vec::with_capacity(self.read_buffer_bytes);
            }
            self.idle_read = self.reader.replace_buffer(set.read);
        }
        self.out = set.out;
        self.buffers = set.call;
        self.policy = set.policy;
        // The reader's own is the empty one it was given back with.
        drop(self.reader.replace_decoded(set.decoded));
        self.holds_buffers = true;
    }

    /// Gives the per-request buffers back to the worker's pool (their contents are dropped), unless
    /// bytes of a next request are buffered (a pipelined head not yet whole): the set is kept
    /// for it.
    fn give_back_buffers(&mut self) {
        if !self.holds_buffers || self.reader.buffered() > 0 {
            return;
        }
        self.holds_buffers = false;
        let empty = RequestBuffers::empty();
        let read = if self.reads_idle_into_small_buffer() {
            self.reader.replace_buffer(std::mem::take(&mut self.idle_read))
        } else {
            empty.read
        };
        let set = RequestBuffers {
            read,
            out: std::mem::replace(&mut self.out, empty.out),
            call: std::mem::replace(&mut self.buffers, empty.call),
            policy: std::mem::replace(&mut self.policy, empty.policy),
            decoded: self.reader.replace_decoded(empty.decoded),
        };
        self.worker.buffer_pool.give_back(set);
    }

    /// Writes everything in `out`; `false` if the client is gone.
    async fn flush(&mut self) -> bool {
        let send_timeout = self.worker.serving().config().gateway.send_timeout;
        let written = crate::send::flush(&mut self.stream, &mut self.out, send_timeout).await;
        self.worker.requests_finished(self.unanswered);
        self.unanswered = 0;
        written
    }
}
