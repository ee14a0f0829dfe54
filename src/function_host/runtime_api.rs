//! The SCF custom-runtime API that one instance's `bootstrap` polls (Tencent's endpoints, no
//! version prefix): `POST /runtime/init/ready`, `GET /runtime/invocation/next` (long-poll; the
//! event as body, `request_id`, `memory_limit_in_mb`, `time_limit_in_ms` headers),
//! `POST /runtime/invocation/response`, `POST /runtime/invocation/error` (with `X-Scfgate-Next: 1`,
//! as scfgate's own runtimes send it, answered with the next invocation).

use std::rc::Rc;

use futures_channel::oneshot;
use monoio::net::{TcpListener, TcpStream};

use super::state::{FunctionSlot, Instance, Outcome};
use super::wire::{read_request, send, write_reply};
use crate::http::reader::RequestReader;
use crate::http::{response, RequestHead};

/// A request field scfgate's own runtimes send with an invocation's response or error: the reply
/// is then the next invocation, as `GET /runtime/invocation/next`'s.
const NEXT_FIELD: &[u8] = b"x-scfgate-next";

/// Accepts the instance's connections (a restarted process reconnects to the same port) until
/// `stopped` resolves: its unit is gone, and the listener closes with this task.
pub async fn serve_instance(
    listener: TcpListener,
    slot: Rc<FunctionSlot>,
    instance: Rc<Instance>,
    stopped: oneshot::Receiver<()>,
) {
    let mut stopped = std::pin::pin!(stopped);
    loop {
        monoio::select! {
            _ = stopped.as_mut() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    monoio::spawn(serve_connection(stream, slot.clone(), instance.clone()));
                }
                Err(error) => {
                    tracing::warn!(function = %slot.label, %error, "runtime API accept failed");
                    monoio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_connection(mut stream: TcpStream, slot: Rc<FunctionSlot>, instance: Rc<Instance>) {
    let mut reader = RequestReader::new(8 * 1024);
    let mut head = RequestHead::default();
    let mut out = Vec::with_capacity(4096);
    loop {
        if !read_request(&mut reader, &mut head, &mut stream).await {
            return;
        }
        let bytes = reader.request_bytes();
        let method = head.method.of_buffer(bytes);
        let path = head.path.of_buffer(bytes);
        match (method, path) {
            (b"POST", b"/runtime/init/ready") => {
                instance.state.borrow_mut().mark_ready();
                reader.finish_request();
                write_reply(&mut out, 200, None, b"");
            }
            (b"GET", b"/runtime/invocation/next") => {
                reader.finish_request();
                if !next_invocation(&slot, &instance, &mut out).await {
                    return;
                }
            }
            (b"POST", b"/runtime/invocation/response") | (b"POST", b"/runtime/invocation/error") => {
                let body = reader.body().to_vec();
                let is_error = path.ends_with(b"/error");
                // scfgate's own runtimes (`super::standard`) ask for their next event in the same
                // exchange: one round trip per invocation instead of two. Other bootstraps
                // never send it and get Tencent's empty 200.
                let then_next = head.headers.iter().any(|field| {
                    field.name.of_buffer(bytes).eq_ignore_ascii_case(NEXT_FIELD) && field.value.of_buffer(bytes) == b"1"
                });
                reader.finish_request();
                let running = instance.state.borrow_mut().end();
                match running {
                    Some(mut running) => {
                        running.invocation.finish(if is_error {
                            Outcome::Error(body)
                        } else {
                            Outcome::Response(body)
                        });
                        if then_next {
                            if !next_invocation(&slot, &instance, &mut out).await {
                                return;
                            }
                        } else {
                            write_reply(&mut out, 200, None, b"");
                        }
                    }
                    None => write_reply(&mut out, 400, None, br#"{"errorMessage":"no invocation in progress"}"#),
                }
            }
            _ => {
                reader.finish_request();
                write_reply(&mut out, 404, None, br#"{"errorMessage":"unknown runtime API endpoint"}"#);
            }
        }
        if !send(&mut stream, &mut out).await {
            return;
        }
    }
}

/// Waits until an invocation is assigned to this instance and writes it as the `/next` reply.
/// Calling `/next` again during the same invocation returns the same event, as Tencent documents.
async fn next_invocation(slot: &FunctionSlot, instance: &Instance, out: &mut Vec<u8>) -> bool {
    loop {
        let parked = {
            let mut state = instance.state.borrow_mut();
            state.mark_ready();
            if slot.assign_to(&mut state) {
                let running = state.current().expect("assigned");
                let invocation = &running.invocation;
                response::start(out, 200);
                response::header(out, b"content-type", b"application/json");
                response::header(out, b"request_id", invocation.request_id.as_bytes());
                let mut digits = response::itoa_buffer();
                response::header(out, b"memory_limit_in_mb", response::format_u64(slot.memory_mb as u64, &mut digits));
                response::header(out, b"time_limit_in_ms", response::format_u64(invocation.time_limit_ms, &mut digits));
                response::end_head(out, invocation.event.len(), false);
                out.extend_from_slice(&invocation.event);
                return true;
            }
            let (waiter, parked) = oneshot::channel();
            state.waiter = Some(waiter);
            parked
        };
        // Cancelled when the process is declared dead: drop this connection.
        if parked.await.is_err() {
            return false;
        }
    }
}
