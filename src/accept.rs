//! A worker's accept loops: plain HTTP and HTTPS (the TLS handshake on the worker's own
//! runtime), each accepted connection counted as open and served by `crate::connection`, or
//! answered 503 past the worker's share of `max_connections`; stopped when draining begins.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::time::Duration;

use monoio::io::Canceller;
use monoio::net::{TcpListener, TcpStream};

use crate::worker::{control_task, OpenConnection, RequestId, WorkerContext};

/// Runs one worker's plain-HTTP accept loops until the process exits.
pub async fn run(context: Rc<WorkerContext>, listeners: Vec<StdListener>) {
    serve_all(context, listeners, Vec::new()).await;
}

/// Runs one worker: its accept loops (HTTP and HTTPS) and its control task, until shutdown has
/// stopped the accept loops.
pub async fn serve_all(context: Rc<WorkerContext>, listeners: Vec<StdListener>, tls_listeners: Vec<StdListener>) {
    monoio::spawn(control_task(context.clone()));
    monoio::spawn(crate::connection::run_parking_lot(context.clone()));
    let mut accept_loops = Vec::new();
    let all = listeners
        .into_iter()
        .map(|listener| (listener, false))
        .chain(tls_listeners.into_iter().map(|listener| (listener, true)));
    for (listener, tls) in all {
        match TcpListener::from_std(listener) {
            Ok(listener) => accept_loops.push(monoio::spawn(accept_loop(listener, context.clone(), tls))),
            Err(error) => tracing::error!(%error, "cannot use a listening socket"),
        }
    }
    for accept_loop in accept_loops {
        accept_loop.await;
    }
    // Accepting has stopped; keep the runtime alive for the connections still finishing. The
    // process exits once every worker reports no request in flight (or at the shutdown timeout).
    std::future::pending::<()>().await;
}

async fn accept_loop(listener: TcpListener, context: Rc<WorkerContext>, tls: bool) {
    loop {
        let Some(cancel) = context.accept_canceller.borrow().as_ref().map(Canceller::handle) else { return };
        let accepted = listener.cancelable_accept(cancel).await;
        // Draining began: dropping the listener closes this worker's socket, so new connections
        // go to no one here (the kernel's other SO_REUSEPORT sockets close too as their workers
        // drain). After a binary upgrade the new process holds the same socket, which stays
        // open: what is queued on it is accepted there.
        let last = context.draining.get();
        match accepted {
            Ok((stream, peer)) => {
                // A connection accepted as the accept was being cancelled is connected all the
                // same: it is served (its response closes it), not dropped unanswered.
                if context.connections_held() >= context.max_connections && !last {
                    context.metrics.connections.refused.increment();
                    monoio::spawn(refuse_connection(stream, context.next_request_id()));
                    continue;
                }
                context.metrics.connections.accepted.increment();
                let guard = OpenConnection::new(context.clone());
                if tls {
                    monoio::spawn(async move {
                        serve_tls(stream, peer, guard.context.clone()).await;
                        drop(guard);
                    });
                } else {
                    monoio::spawn(async move {
                        crate::connection::serve(stream, peer, guard.context.clone()).await;
                        drop(guard);
                    });
                }
            }
            Err(_) if last => {}
            Err(error) => {
                // Out of descriptors or memory: back off instead of spinning; existing
                // connections keep being served.
                tracing::warn!(%error, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if last {
            return;
        }
    }
}

/// Runs the TLS handshake on this worker's own runtime (no hop to another thread), within the
/// header timeout, then serves the connection. A hello without SNI, or with a name no
/// certificate covers, fails the handshake with an alert (`crate::tls`).
async fn serve_tls(stream: TcpStream, peer: SocketAddr, context: Rc<WorkerContext>) {
    let _ = stream.set_nodelay(true);
    let serving = context.serving();
    let Some(tls) = serving.generation.tls.clone() else { return };
    let header_timeout = serving.config().gateway.header_timeout;
    drop(serving);
    let handshake = crate::tls::stream::TlsStream::accept(stream, tls);
    let outcome = monoio::time::timeout(header_timeout, handshake).await;
    let tls = &context.metrics.tls;
    match outcome {
        Ok(Ok(tls_stream)) => {
            tls.completed.increment();
            crate::connection::serve_parkable(tls_stream, peer, context, true).await;
        }
        Ok(Err(error)) => {
            tls.failed.increment();
            tracing::debug!(%peer, %error, "TLS handshake refused")
        }
        Err(_) => {
            tls.timed_out.increment();
            tracing::debug!(%peer, "TLS handshake timed out")
        }
    }
}

/// Past `max_connections`: a short 503 and close, so the client learns why instead of hanging.
async fn refuse_connection(mut stream: TcpStream, request_id: RequestId) {
    use monoio::io::AsyncWriteRentExt;
    const BODY: &str = r#"{"message":"Service Unavailable: too many connections."}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-api-requestid: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        String::from_utf8_lossy(request_id.as_bytes()),
        BODY.len()
    );
    let _ = stream.write_all(response.into_bytes()).await;
}
