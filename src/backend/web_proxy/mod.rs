//! Web functions (`runtime = "web"`, SCF's HTTP-native functions): the client's request is
//! proxied as HTTP to one of the function's own servers, over this worker's pooled keep-alive
//! connections, with both bodies streamed through in bounded steps (never held whole).
//!
//! It owns the request the function sees (the stage prefix removed, hop-by-hop fields and any
//! client-sent `X-Scf-*` / `X-Api-Requestid` dropped, Tencent's headers and `X-Forwarded-For`
//! added, spec §7.1), the response the client sees (status and fields passed on, framing redone,
//! the gateway's CORS and request-id fields added), and WebSocket upgrades, which become a byte
//! relay once the function answers 101. Routing and policies ran before, on the head alone
//! (`crate::connection`); the function processes are `crate::function_host::web_supervisor`'s.
//!
//! Buffers: the request head and each request-body step are staged in the connection's reused
//! call buffer; response bytes are read into the pooled connection's own buffer and written to
//! the client from there. Nothing is allocated per request once these have grown to their
//! working size (a [`GatewayError`] carrying the function's name is built on the error path only).
//!
//! This module runs the exchange ([`proxy`]); [`instance_choice`] picks the instance (or waits
//! for one), [`request`] writes what the function sees and streams the body to it, [`relay`]
//! reads its response and passes it on, [`upgrade`] relays a WebSocket the function accepted.

use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, Split};

use crate::backend::integration::ResponseRules;
use crate::backend::Backends;
use crate::config::{Api, Function};
use crate::error::{BackendCause, GatewayError};
use crate::http::parse::{BodyFraming, RequestHead};
use crate::http::reader::RequestReader;

pub mod instance_choice;
mod relay;
mod request;
mod upgrade;

use relay::{read_response_head, relay_response, HeadStop};
use request::{
    closed_early, is_websocket_upgrade, method_defines_body, send_staged, stream_request_body, write_request_head,
    BodyStop, RequestBody,
};
use upgrade::relay_upgrade;

/// A body is passed on in steps of at most this many bytes (each step is read, then written).
const STEP: usize = 64 * 1024;
/// Largest response head accepted from a function (spec §7.1: Tencent allows 4 KB of headers).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// The request being proxied, and what the connection lends for it.
pub struct Exchange<'a, S> {
    /// The configuration generation the request is served with.
    pub backends: &'a Backends,
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
    pub extra: ResponseRules<'a>,
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
    let Some(instances) = exchange.backends.web_instances.get(exchange.api.function.get()).cloned().flatten() else {
        return Outcome::Failed {
            error: GatewayError::BackendUnreachable(BackendCause::NoInstance),
            request_consumed: false,
        };
    };
    let upgrade = is_websocket_upgrade(exchange.reader.request_bytes(), exchange.head);
    let carries_body = framing != BodyFraming::None;
    // A body the function may leave unread would be read by it as the next request on this
    // connection, and its answer handed to the next client: such a request asks the function to
    // close the connection after answering (and it is not pooled). That is a body on a method
    // that gives it no meaning (RFC 9110 §9.3: functions commonly ignore it), or any body once
    // this function has shown that it leaves bodies unread (`instance_choice`).
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
    // Waits for an instance to be ready, or to have room, as `instance_choice` says; the lease
    // counts the request on its instance until the exchange ends.
    let (mut lease, mut connection, reused) =
        match instance_choice::acquire(&instances, exchange.function, arrived, deadline, None).await {
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
        match instance_choice::reconnect(lease, &instances, exchange.function, deadline).await {
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
                (lease, connection) =
                    match instance_choice::reconnect(lease, &instances, exchange.function, deadline).await {
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
                return Outcome::Failed {
                    error: GatewayError::BackendUnreachable(BackendCause::MalformedReply),
                    request_consumed,
                }
            }
        }
    };
    if head.status == 101 {
        if !upgrade {
            // Switching protocols on a request that asked for none: nothing the client can read.
            return Outcome::Failed {
                error: GatewayError::BackendUnreachable(BackendCause::Unusable(
                    "101 to a request that asked for no upgrade",
                )),
                request_consumed,
            };
        }
        return relay_upgrade(&mut exchange, connection, &head).await;
    }
    // The connection may serve another request only if this one reached the function whole and
    // nothing of it can be mistaken for a next request.
    connection.carried_body = carries_body;
    let reusable = request_sent && request_consumed && !close_after;
    relay_response(&mut exchange, connection, &head, request_consumed, &lease, reusable).await
}
