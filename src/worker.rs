//! One worker: a thread with its own monoio runtime, its own listening sockets, its own read-only
//! view of the routes and its own backend connection pool. Nothing here is shared with another
//! worker through a lock.

use std::cell::{Cell, RefCell};
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::TcpListener;

use crate::backend::invoke::Endpoint;
use crate::backend::pool::Pool;
use crate::config::Config;
use crate::policy::WorkerPolicy;
use crate::router::Router;

/// Everything a worker's connections share (through `Rc`, within the one thread).
pub struct WorkerContext {
    /// The validated configuration (read-only, shared by all workers).
    pub config: Arc<Config>,
    /// Host, stage and path routing (read-only, shared by all workers).
    pub router: Arc<Router>,
    /// Per function id: where its invocations go.
    pub endpoints: Arc<Vec<Endpoint>>,
    /// This worker's keep-alive connections to function endpoints.
    pub pool: RefCell<Pool>,
    /// This worker's policy state: its share of every usage plan's limits (`config.gateway.workers`
    /// shares) and its verified OAuth tokens.
    pub policy: RefCell<WorkerPolicy>,
    request_ids: RequestIds,
    /// Client connections this worker holds open.
    open_connections: Cell<usize>,
    /// This worker's share of `max_connections`.
    max_connections: usize,
}

impl WorkerContext {
    /// A context for worker number `index`.
    pub fn new(index: usize, config: Arc<Config>, router: Arc<Router>, endpoints: Arc<Vec<Endpoint>>) -> Self {
        let pool = Pool::new(endpoints.len(), config.gateway.pool_size, config.gateway.pool_idle_timeout);
        let policy = RefCell::new(WorkerPolicy::new(&config, index, config.gateway.workers));
        let workers = config.gateway.workers.max(1);
        let max_connections = config.gateway.max_connections.div_ceil(workers).max(1);
        WorkerContext {
            config,
            router,
            endpoints,
            pool: RefCell::new(pool),
            policy,
            request_ids: RequestIds::new(index),
            open_connections: Cell::new(0),
            max_connections,
        }
    }

    /// A new request id, unique across workers and restarts.
    pub fn next_request_id(&self) -> RequestId {
        self.request_ids.next()
    }
}

/// A request id in UUID text form (36 bytes), on the stack.
#[derive(Clone, Copy)]
pub struct RequestId([u8; 36]);

impl RequestId {
    /// The id's text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Per-worker id source: 48 bits from the start time and pid, 16 bits of worker, 64-bit counter.
struct RequestIds {
    prefix: u64,
    counter: Cell<u64>,
}

impl RequestIds {
    fn new(worker: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0);
        let seed = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        RequestIds { prefix: (seed & 0xffff_ffff_ffff_0000) | (worker as u64 & 0xffff), counter: Cell::new(0) }
    }

    fn next(&self) -> RequestId {
        let count = self.counter.get().wrapping_add(1);
        self.counter.set(count);
        let value = (u128::from(self.prefix) << 64) | u128::from(count);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut nibble = 0;
        for (position, slot) in text.iter_mut().enumerate() {
            if matches!(position, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = HEX[((value >> (124 - 4 * nibble)) & 0xf) as usize];
            nibble += 1;
        }
        RequestId(text)
    }
}

/// Runs one worker's plain-HTTP accept loops until the process exits.
pub async fn run(context: Rc<WorkerContext>, listeners: Vec<StdListener>) {
    serve_all(context, listeners, Vec::new(), None).await;
}

/// Runs one worker's accept loops, HTTP and HTTPS, until the process exits.
pub async fn serve_all(
    context: Rc<WorkerContext>,
    listeners: Vec<StdListener>,
    tls_listeners: Vec<StdListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let mut accept_loops = Vec::new();
    let tls_listeners = tls_listeners.into_iter().map(|listener| (listener, tls.clone()));
    for (listener, tls) in listeners.into_iter().map(|listener| (listener, None)).chain(tls_listeners) {
        match TcpListener::from_std(listener) {
            Ok(listener) => accept_loops.push(monoio::spawn(accept_loop(listener, context.clone(), tls))),
            Err(error) => tracing::error!(%error, "cannot use a listening socket"),
        }
    }
    for accept_loop in accept_loops {
        accept_loop.await;
    }
}

async fn accept_loop(listener: TcpListener, context: Rc<WorkerContext>, tls: Option<Arc<rustls::ServerConfig>>) {
    let acceptor = tls.map(monoio_rustls::TlsAcceptor::from);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if context.open_connections.get() >= context.max_connections {
                    monoio::spawn(refuse_connection(stream));
                    continue;
                }
                let guard = OpenConnection::new(context.clone());
                match acceptor.clone() {
                    None => {
                        monoio::spawn(async move {
                            crate::connection::serve(stream, peer, guard.context.clone()).await;
                            drop(guard);
                        });
                    }
                    Some(acceptor) => {
                        monoio::spawn(async move {
                            serve_tls(acceptor, stream, peer, guard.context.clone()).await;
                            drop(guard);
                        });
                    }
                }
            }
            Err(error) => {
                // Out of descriptors or memory: back off instead of spinning; existing
                // connections keep being served.
                tracing::warn!(%error, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs the TLS handshake on this worker's own runtime (no hop to another thread), within the
/// header timeout, then serves the connection. A hello without SNI, or with a name no
/// certificate covers, fails the handshake with an alert (`crate::tls`).
async fn serve_tls(acceptor: monoio_rustls::TlsAcceptor, stream: monoio::net::TcpStream, peer: std::net::SocketAddr, context: Rc<WorkerContext>) {
    let _ = stream.set_nodelay(true);
    let handshake = acceptor.accept(stream);
    match monoio::time::timeout(context.config.gateway.header_timeout, handshake).await {
        Ok(Ok(tls_stream)) => crate::connection::serve_stream(tls_stream, peer, context, true).await,
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake refused"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection {
    context: Rc<WorkerContext>,
}

impl OpenConnection {
    fn new(context: Rc<WorkerContext>) -> Self {
        context.open_connections.set(context.open_connections.get() + 1);
        OpenConnection { context }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.context.open_connections.set(self.context.open_connections.get() - 1);
    }
}

/// Past `max_connections`: a short 503 and close, so the client learns why instead of hanging.
async fn refuse_connection(mut stream: monoio::net::TcpStream) {
    use monoio::io::AsyncWriteRentExt;
    const BODY: &str = r#"{"message":"Service Unavailable: too many connections."}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.write_all(response.into_bytes()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let ids = RequestIds::new(3);
        let first = ids.next();
        let second = ids.next();
        let text = std::str::from_utf8(first.as_bytes()).unwrap();
        assert_eq!(text.len(), 36);
        assert_eq!(text.matches('-').count(), 4);
        assert_ne!(first.as_bytes(), second.as_bytes());
    }
}
