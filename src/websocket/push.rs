//! The reverse-push endpoint: functions `POST` `{"websocket":{"action":"data send"|"closing",
//! "secConnectionID","dataType","data"}}` with `Authorization: Bearer <push token>` to
//! `push_listen` (any path), and get `{"errNo":0,"errMsg":"ok"}`, or an error status with
//! `{"errNo":<status>,"errMsg":"<why>"}`.
//!
//! Every worker accepts on `push_listen` (SO_REUSEPORT) and on a private loopback port of its
//! own. A push for one of this worker's connections goes straight into its outbox; a push for
//! another worker's connection is forwarded to that worker's private port (see the module doc of
//! `crate::websocket`), whose path is a secret made at start, and the answer relayed. The bound
//! address, the token and the private ports are fixed at start: a reload does not move them.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use monoio::net::{TcpListener, TcpStream};

use super::event::{self, PushAction, PushError};
use super::frame::{close_code, Opcode};
use super::id::ConnectionId;
use super::outbox::Refused;
use super::WorkerSockets;
use crate::backend::invoke::{self, Endpoint, HEADROOM};
use crate::backend::pool::Pool;
use crate::config::Config;
use crate::error::GatewayError;
use crate::http::reader::{ReadError, RequestReader};
use crate::http::{response, RequestHead};
use crate::worker::WorkerContext;

/// How long a forwarded push may take on the worker that holds the connection.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a worker looks for the start of a shutdown, to close its WebSocket connections.
const DRAIN_TICK: Duration = Duration::from_millis(100);

/// The environment the function host gives function processes (`SCFGATE_PUSH_URL`, and
/// `SCFGATE_PUSH_TOKEN` when a token is set), set once when the endpoint is bound.
static FUNCTION_ENVIRONMENT: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// What a local function process is told about the push endpoint (empty without one).
pub fn function_environment() -> &'static [(String, String)] {
    FUNCTION_ENVIRONMENT.get().map_or(&[], Vec::as_slice)
}

/// Whether the push endpoint was opened at start (it opens only when the configuration then had a
/// WebSocket API, and cannot be added to running workers and function processes later).
pub fn is_running() -> bool {
    FUNCTION_ENVIRONMENT.get().is_some()
}

/// What every worker's push tasks share, fixed at start.
struct Shared {
    /// The bearer token; `None` only on a loopback `push_listen`.
    token: Option<String>,
    /// Per worker: its private port, with the secret path.
    peers: Vec<Endpoint>,
    /// The secret path of the private ports.
    forward_path: String,
}

/// The endpoint's sockets, bound on the main thread before the workers start.
pub struct PushListeners {
    workers: Vec<WorkerPush>,
    /// `push_listen` as bound (port 0 resolved).
    pub address: SocketAddr,
}

/// One worker's push sockets.
pub struct WorkerPush {
    /// Its `push_listen` sockets: one, or more when a binary upgrade handed over more sockets
    /// than there are workers.
    public: Vec<StdListener>,
    private: StdListener,
    shared: Arc<Shared>,
}

impl PushListeners {
    /// Each worker's sockets, by worker index.
    pub fn into_workers(self) -> Vec<WorkerPush> {
        self.workers
    }
}

/// Binds `push_listen` once per worker (or adopts the sockets a binary upgrade handed over) and
/// a private loopback port per worker, when some API is a WebSocket API (otherwise nothing
/// listens: `None`).
pub fn bind(config: &Config, sockets: &mut crate::listener::Sockets) -> io::Result<Option<PushListeners>> {
    if !config.apis.iter().any(|api| api.websocket.is_some()) {
        return Ok(None);
    }
    let settings = &config.gateway.websocket;
    let workers = config.gateway.workers;
    let bound = sockets
        .bind_all(crate::listener::Kind::Push, &[settings.push_listen], workers)
        .map_err(|error| io::Error::new(error.kind(), format!("WebSocket push endpoint: {error}")))?;
    let address = bound.addresses[0];
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let private = (0..workers).map(|_| crate::listener::bind_one(loopback, 1024)).collect::<io::Result<Vec<_>>>()?;
    let keys = RandomState::new();
    let forward_path = format!("/scfgate-forward/{:016x}{:016x}", keys.hash_one(1u8), keys.hash_one(2u8));
    let peers = private
        .iter()
        .map(|listener| {
            Ok(Endpoint {
                addr: listener.local_addr()?,
                host_header: "scfgate-push".into(),
                path: forward_path.clone(),
                web: None,
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let token = settings.push_token.as_ref().map(|token| token.0.clone());
    let shared = Arc::new(Shared { token: token.clone(), peers, forward_path });
    let workers = bound
        .per_worker
        .into_iter()
        .zip(private)
        .map(|(public, private)| WorkerPush { public, private, shared: shared.clone() })
        .collect();

    // A function on this machine reaches an unspecified address through loopback.
    let reachable = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), address.port())
        }
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port()),
        _ => address,
    };
    let mut environment = vec![("SCFGATE_PUSH_URL".to_owned(), format!("http://{reachable}/"))];
    if let Some(token) = token {
        environment.push((crate::config::validate::PUSH_TOKEN_ENV.to_owned(), token));
    }
    let _ = FUNCTION_ENVIRONMENT.set(environment);
    tracing::info!(token = settings.push_token.is_some(), "scfgate WebSocket push endpoint on http://{address}");
    Ok(Some(PushListeners { workers, address }))
}

/// Sends pushes for other workers' connections to them, over pooled loopback connections.
pub struct Forwarder {
    shared: Arc<Shared>,
    pool: RefCell<Pool>,
}

/// Starts this worker's push tasks (inside its runtime): the public and private accept loops,
/// and the watch that closes its WebSocket connections when shutdown begins.
pub fn start(context: &Rc<WorkerContext>, push: WorkerPush) {
    let pool = Pool::new(push.shared.peers.len(), 16, Duration::from_secs(30));
    *context.websocket.forwarder.borrow_mut() =
        Some(Rc::new(Forwarder { shared: push.shared, pool: RefCell::new(pool) }));
    let public = push.public.into_iter().map(|listener| (listener, false));
    for (listener, private) in public.chain([(push.private, true)]) {
        match TcpListener::from_std(listener) {
            Ok(listener) => {
                monoio::spawn(accept_loop(listener, context.clone(), private));
            }
            Err(error) => tracing::error!(%error, "cannot use the WebSocket push socket"),
        }
    }
    monoio::spawn(close_at_shutdown(context.clone()));
}

async fn accept_loop(listener: TcpListener, context: Rc<WorkerContext>, private: bool) {
    loop {
        // The public socket stops with the worker's other listeners when draining begins (after
        // a binary upgrade the new process accepts on it); the private one carries other
        // workers' pushes until the end.
        let accepted = if private {
            listener.accept().await
        } else {
            let Some(cancel) = context.accept_cancel_handle() else { return };
            listener.cancelable_accept(cancel).await
        };
        if !private && context.is_draining() {
            if let Ok((stream, _)) = accepted {
                // Accepted as the accept was cancelled: the client is connected, answer it.
                monoio::spawn(serve_connection(stream, context.clone(), private));
            }
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(serve_connection(stream, context.clone(), private));
            }
            Err(error) => {
                tracing::warn!(%error, "WebSocket push accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Shutdown: every WebSocket connection of this worker is sent 1001 (going away), again on each
/// tick for connections that opened since, until the process exits.
async fn close_at_shutdown(context: Rc<WorkerContext>) {
    loop {
        monoio::time::sleep(DRAIN_TICK).await;
        if context.is_draining() {
            context.websocket.close_all(close_code::GOING_AWAY, "server shutting down");
        }
    }
}

/// The answer to one push.
enum Answer {
    Ok,
    Refused(u16, &'static str),
    /// A forwarded push's answer, as the other worker gave it.
    Relayed(u16, Vec<u8>),
}

/// One push connection: keep-alive HTTP/1.1, one push per request.
async fn serve_connection(mut stream: TcpStream, context: Rc<WorkerContext>, private: bool) {
    let mut reader = RequestReader::new(4096);
    let mut head = RequestHead::default();
    let mut out = Vec::with_capacity(256);
    let mut payload = Vec::new();
    loop {
        let (max_header_bytes, max_body_bytes, idle_timeout, send_timeout) = {
            let serving = context.serving();
            let gateway = &serving.config().gateway;
            (gateway.max_header_bytes, gateway.max_body_bytes, gateway.idle_timeout, gateway.send_timeout)
        };
        let read =
            read_request(&mut reader, &mut head, &mut stream, max_header_bytes, max_body_bytes, idle_timeout).await;
        let answer = match &read {
            Ok(()) => handle(&context, &reader, &head, private, &mut payload).await,
            Err(ReadError::Refused(error)) => Answer::Refused(error.status(), refusal_text(error)),
            Err(ReadError::Closed | ReadError::TimedOut) => return,
        };
        let close = read.is_err() || !head.keep_alive;
        match answer {
            Answer::Ok => write_answer(&mut out, 200, br#"{"errNo":0,"errMsg":"ok"}"#, close),
            Answer::Refused(status, text) => {
                let mut body = Vec::with_capacity(64 + text.len());
                body.extend_from_slice(b"{\"errNo\":");
                let mut digits = response::itoa_buffer();
                body.extend_from_slice(response::format_u64(u64::from(status), &mut digits));
                body.extend_from_slice(b",\"errMsg\":");
                crate::backend::json::write_string(&mut body, text.as_bytes());
                body.push(b'}');
                write_answer(&mut out, status, &body, close);
            }
            Answer::Relayed(status, body) => write_answer(&mut out, status, &body, close),
        }
        if read.is_ok() {
            reader.finish_request();
        }
        if !crate::send::flush(&mut stream, &mut out, send_timeout).await || close {
            return;
        }
    }
}

fn refusal_text(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::HeadersTooLarge => "the request head is too large",
        GatewayError::BodyTooLarge => "the body is larger than max_body_bytes",
        _ => "malformed HTTP request",
    }
}

fn write_answer(out: &mut Vec<u8>, status: u16, body: &[u8], close: bool) {
    response::start(out, status);
    response::header(out, b"content-type", b"application/json");
    response::end_head(out, body.len(), close);
    out.extend_from_slice(body);
}

async fn read_request(
    reader: &mut RequestReader,
    head: &mut RequestHead,
    stream: &mut TcpStream,
    max_header_bytes: usize,
    max_body_bytes: usize,
    idle_timeout: Duration,
) -> Result<(), ReadError> {
    while !reader.try_head(head, max_header_bytes)? {
        reader.fill(stream, Some(Instant::now() + idle_timeout)).await?;
    }
    while !reader.try_body(head, max_body_bytes)? {
        reader.fill(stream, Some(Instant::now() + idle_timeout)).await?;
    }
    Ok(())
}

async fn handle(
    context: &WorkerContext,
    reader: &RequestReader,
    head: &RequestHead,
    private: bool,
    payload: &mut Vec<u8>,
) -> Answer {
    let Some(forwarder) = context.websocket.forwarder.borrow().clone() else {
        return Answer::Refused(503, "the push endpoint is not running on this worker");
    };
    let bytes = reader.request_bytes();
    if private {
        if head.path.of_buffer(bytes) != forwarder.shared.forward_path.as_bytes() {
            return Answer::Refused(404, "not found");
        }
    } else if !authorized(bytes, head, forwarder.shared.token.as_deref()) {
        return Answer::Refused(401, "a valid `Authorization: Bearer <push token>` header is required");
    }
    if head.method.of_buffer(bytes) != b"POST" {
        return Answer::Refused(405, "pushes are POST requests");
    }
    let body = reader.body();
    let (id, action) = match event::parse_push(body, payload) {
        Ok(parsed) => parsed,
        Err(PushError(text)) => return Answer::Refused(400, text),
    };
    let target = id.worker();
    if target == context.websocket.index() {
        let sends = matches!(action, PushAction::Send { .. });
        let answer = deliver(&context.websocket, &id, action, payload);
        if sends && matches!(answer, Answer::Ok) {
            context.metrics.websocket.messages_sent.increment();
        }
        return answer;
    }
    if private || target >= forwarder.shared.peers.len() {
        return Answer::Refused(404, UNKNOWN_CONNECTION);
    }
    let request_id = context.next_request_id();
    forward(&forwarder, target, body, request_id.as_bytes()).await
}

const UNKNOWN_CONNECTION: &str = "no open WebSocket connection has this secConnectionID";

/// Hands a push to the connection's outbox on this worker.
fn deliver(sockets: &WorkerSockets, id: &ConnectionId, action: PushAction, payload: &[u8]) -> Answer {
    let Some(outbox) = sockets.find(id) else {
        return Answer::Refused(404, UNKNOWN_CONNECTION);
    };
    match action {
        PushAction::Close => {
            outbox.close(Some(close_code::NORMAL), "", true);
            Answer::Ok
        }
        PushAction::Send { binary } => match outbox.send(if binary { Opcode::Binary } else { Opcode::Text }, payload) {
            Ok(()) => Answer::Ok,
            Err(Refused::Closing) => Answer::Refused(410, "the connection is closing"),
            Err(Refused::Backlog) => {
                Answer::Refused(503, "the client is not reading: too much is already waiting to be sent to it")
            }
        },
    }
}

/// Sends the push to the worker that holds the connection and relays its answer.
async fn forward(forwarder: &Forwarder, target: usize, body: &[u8], request_id: &[u8]) -> Answer {
    let endpoint = &forwarder.shared.peers[target];
    let mut request = Vec::with_capacity(HEADROOM + body.len());
    request.resize(HEADROOM, 0);
    request.extend_from_slice(body);
    let start = invoke::frame_request(&mut request, endpoint, request_id, FORWARD_TIMEOUT.as_millis() as u64);
    let exchange = invoke::invoke(&forwarder.pool, target, endpoint, request, start, 64 * 1024);
    match monoio::time::timeout(FORWARD_TIMEOUT, exchange).await {
        Err(_) => Answer::Refused(504, "the worker holding the connection did not answer in time"),
        Ok((_, Err(_))) => Answer::Refused(502, "the worker holding the connection could not be reached"),
        Ok((_, Ok((connection, reply)))) => {
            let answer = Answer::Relayed(reply.status, reply.body(&connection).to_vec());
            invoke::release(&forwarder.pool, target, connection, &reply);
            answer
        }
    }
}

/// `Authorization: Bearer <token>` with the configured token (any request, without one),
/// compared in constant time.
fn authorized(bytes: &[u8], head: &RequestHead, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    let mut fields =
        head.headers.iter().filter(|field| field.name.of_buffer(bytes).eq_ignore_ascii_case(b"authorization"));
    let (Some(field), None) = (fields.next(), fields.next()) else { return false };
    let value = field.value.of_buffer(bytes);
    let Some(given) = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|_| crate::http::parse::trim(&value[7..]))
    else {
        return false;
    };
    let expected = token.as_bytes();
    given.len() == expected.len()
        && given.iter().zip(expected).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    #[test]
    fn bearer_tokens() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("", None, true),
            ("", Some("s3cret"), false),
            ("Authorization: Bearer s3cret\r\n", Some("s3cret"), true),
            ("authorization: bearer  s3cret \r\n", Some("s3cret"), true),
            ("Authorization: Bearer s3cre\r\n", Some("s3cret"), false),
            ("Authorization: Bearer s3cretx\r\n", Some("s3cret"), false),
            ("Authorization: Basic s3cret\r\n", Some("s3cret"), false),
            ("Authorization: s3cret\r\n", Some("s3cret"), false),
            ("Authorization: Bearer s3cret\r\nAuthorization: Bearer s3cret\r\n", Some("s3cret"), false),
        ];
        for (headers, token, expected) in cases {
            let raw = format!("POST / HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
            let mut head = RequestHead::default();
            parse_request(raw.as_bytes(), &mut head).unwrap();
            assert_eq!(authorized(raw.as_bytes(), &head, *token), *expected, "{headers:?} {token:?}");
        }
    }

    #[test]
    fn delivery_to_this_worker() {
        let sockets = WorkerSockets::new(0);
        let id = sockets.next_id();
        let outbox = Rc::new(super::super::outbox::Outbox::new(4));
        let registered = sockets.register(id, outbox.clone());
        let status = |answer: Answer| match answer {
            Answer::Ok => 200,
            Answer::Refused(status, _) => status,
            Answer::Relayed(status, _) => status,
        };
        assert_eq!(status(deliver(&sockets, &id, PushAction::Send { binary: false }, b"hi")), 200);
        assert_eq!(status(deliver(&sockets, &id, PushAction::Send { binary: true }, b"12345")), 503);
        assert_eq!(status(deliver(&sockets, &id, PushAction::Close, b"")), 200);
        assert!(outbox.stop_requested());
        assert_eq!(status(deliver(&sockets, &id, PushAction::Send { binary: false }, b"x")), 410);
        drop(registered);
        assert_eq!(status(deliver(&sockets, &id, PushAction::Close, b"")), 404);
    }
}
