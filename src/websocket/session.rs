//! One WebSocket connection, from the upgrade request to cleanup: the handshake, the register
//! function's verdict, the 101, then a reader and a writer running together on the connection's
//! task until the connection ends, then the cleanup function.
//!
//! The reader decodes the client's frames, answers pings (through the outbox), and invokes the
//! transport function once per message, one at a time and in order (the next frames wait in the
//! socket meanwhile). The writer writes whatever the outbox holds: pushes, pongs, the close
//! frame. Closing follows RFC 6455 §7: the client's close is echoed and ends the session; a
//! close the gateway starts (a push, a failed transport call, a protocol error, idleness,
//! shutdown) is sent, and the client gets [`CLOSE_TIMEOUT`] to answer it before the socket goes.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, Split};

use super::event::{self, Offer, Registration};
use super::frame::{close_code, Decoded, Decoder, Event, Opcode, MAX_HEAD};
use super::handshake;
use super::id;
use super::outbox::Outbox;
use super::split::{split, ReadHalf, WriteHalf};
use crate::backend::invoke::HEADROOM;
use crate::backend::{self, CallBuffers};
use crate::config::{ApiIndex, FunctionIndex};
use crate::error::GatewayError;
use crate::http::RequestHead;
use crate::worker::{Serving, WorkerContext};

/// How long the client has to answer a close frame the gateway sent.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The frame reader's buffer between messages, and what each read asks for beyond the frame it
/// waits on. Small, because an idle WebSocket waits in a read holding it (an io_uring read owns
/// its memory while in flight); a frame larger than this is read into a buffer grown to its size.
const IDLE_READ_BYTES: usize = 1024;

/// A buffer grown past this for a large message goes back to [`IDLE_READ_BYTES`] once empty.
const KEPT_READ_BYTES: usize = 64 * 1024;

/// An upgrade request routed to a WebSocket API, its policies passed, its API Gateway event
/// already written at `HEADROOM` of the connection's call buffer.
pub struct Upgrade<'a> {
    /// The generation the request was routed with; the connection keeps it to its end.
    pub serving: &'a Rc<Serving>,
    /// The WebSocket API.
    pub api: ApiIndex,
    /// The request's bytes (`head`'s spans point into them).
    pub buffer: &'a [u8],
    /// The parsed request head.
    pub head: &'a RequestHead,
    /// Bytes the client sent after the request: the first frames, if it did not wait for the 101.
    pub pipelined: &'a [u8],
    /// The request id (the 101's `x-api-requestid`, the register invocation's id).
    pub request_id: &'a [u8],
    /// Header lines the API's policies add to every response (CORS, usage plan).
    pub extra_headers: &'a [u8],
}

/// Serves a WebSocket API's request. `Err`: the upgrade was refused and the connection may carry
/// on as HTTP (the caller writes the error response). `Ok`: the connection was upgraded and has
/// ended; the caller must close it. `out` holds responses to earlier pipelined requests, written
/// ahead of the 101.
pub async fn serve<S>(
    worker: &WorkerContext,
    upgrade: Upgrade<'_>,
    buffers: &mut CallBuffers,
    stream: &mut S,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError>
where
    S: AsyncReadRent + AsyncWriteRent + Split,
{
    let serving = upgrade.serving;
    let config = serving.config();
    let api = &config.apis[upgrade.api];
    let functions = api.websocket.expect("serve is only called for WebSocket APIs");
    let handshake = handshake::validate(upgrade.buffer, upgrade.head)?;

    let id = worker.websocket.next_id();
    let id_text = id.encode();
    let (mut protocols, mut extensions) = (Vec::new(), Vec::new());
    handshake::joined_values(upgrade.buffer, upgrade.head, b"sec-websocket-protocol", &mut protocols);
    handshake::joined_values(upgrade.buffer, upgrade.head, b"sec-websocket-extensions", &mut extensions);
    let offer = Offer {
        protocols: handshake.protocols.then_some(&protocols[..]),
        extensions: handshake.extensions.then_some(&extensions[..]),
    };
    event::make_connect_event(&mut buffers.request, HEADROOM, &config.services[api.service].name, &id_text, &offer);

    // Registered before the register function runs, so that it may already push (a greeting):
    // its frames wait in the outbox for the 101.
    let settings = &config.gateway.websocket;
    let outbox = Rc::new(Outbox::new(settings.max_message_bytes.saturating_mul(4).max(1 << 20)));
    let registered = worker.websocket.register(id, outbox.clone());
    let verdict = backend::invoke_value(
        &serving.backends,
        functions.register,
        api.timeout,
        buffers,
        upgrade.request_id,
        event::parse_registration,
    )
    .await;
    let protocol = match verdict? {
        Ok(Registration::Accepted { protocol }) => protocol,
        Ok(Registration::Refused { err_no, err_msg }) => {
            return Err(GatewayError::WebSocketRefused { err_no, err_msg })
        }
        Err(_) => return Err(GatewayError::InvalidRegisterResponse),
    };
    // RFC 6455 §4.1: a client fails the connection on a subprotocol it did not offer.
    let protocol = protocol.filter(|chosen| handshake::offered_protocols(upgrade.buffer, upgrade.head, chosen));
    let accept = handshake::accept_key(handshake.key.of_buffer(upgrade.buffer));
    handshake::write_switching(out, &accept, protocol.as_deref(), upgrade.extra_headers, upgrade.request_id);
    let send_timeout = config.gateway.send_timeout;
    let switched = crate::send::flush(stream, out, send_timeout).await;
    // The connection's response buffer carried the 101 and writes nothing more: an idle
    // WebSocket does not hold it (the writer batches in buffers of its own).
    *out = Vec::new();
    tracing::debug!(connection = %String::from_utf8_lossy(&id_text), api = %api.name, "WebSocket connection open");

    if switched {
        worker.metrics.websocket.opened.increment();
        let session = Session {
            worker,
            serving,
            transport: functions.transport,
            timeout: api.timeout,
            id: id_text,
            outbox: &outbox,
            max_message: settings.max_message_bytes,
            idle_timeout: settings.idle_timeout,
        };
        let (reader, writer) = split(stream);
        let mut reading = pin!(session.read(reader, buffers, upgrade.pipelined));
        let mut writing = pin!(write_loop(writer, &outbox, send_timeout));
        // Both run until the reader is done; then the writer gets `CLOSE_TIMEOUT` to flush the
        // rest (a client that stopped reading must not hold the session open forever).
        let mut writer_done = false;
        poll_fn(|context| {
            if !writer_done && writing.as_mut().poll(context).is_ready() {
                writer_done = true;
            }
            reading.as_mut().poll(context)
        })
        .await;
        if !writer_done {
            let _ = monoio::time::timeout(CLOSE_TIMEOUT, writing).await;
        }
    }
    drop(registered);

    // The cleanup function hears of every connection its register function accepted, whoever
    // ended it. Its value is not used.
    buffers.request.clear();
    buffers.request.resize(HEADROOM, 0);
    event::write_closing_event(&mut buffers.request, &id_text);
    let request_id = worker.next_request_id();
    let cleanup = backend::invoke_value(
        &serving.backends,
        functions.cleanup,
        api.timeout,
        buffers,
        request_id.as_bytes(),
        |_| (),
    )
    .await;
    if let Err(error) = cleanup {
        tracing::warn!(connection = %String::from_utf8_lossy(&id_text), api = %api.name, ?error, "WebSocket cleanup function failed");
    }
    tracing::debug!(connection = %String::from_utf8_lossy(&id_text), "WebSocket connection closed");
    Ok(())
}

/// What the reader needs.
struct Session<'a> {
    worker: &'a WorkerContext,
    serving: &'a Serving,
    transport: FunctionIndex,
    timeout: Duration,
    id: [u8; id::TEXT_LENGTH],
    outbox: &'a Outbox,
    max_message: usize,
    idle_timeout: Duration,
}

/// How a read for more bytes ended.
enum Read {
    Bytes,
    Closed,
    TimedOut,
    Stopped,
}

impl Session<'_> {
    /// Reads and handles the client's frames until the connection is over, then tells the
    /// writer to finish.
    async fn read<S: AsyncReadRent>(&self, mut half: ReadHalf<'_, S>, buffers: &mut CallBuffers, pipelined: &[u8]) {
        let mut buffer = Vec::with_capacity(pipelined.len().max(IDLE_READ_BYTES));
        buffer.extend_from_slice(pipelined);
        let mut decoder = Decoder::new(self.max_message);
        self.serve_frames(&mut half, &mut buffer, &mut decoder, buffers).await;
        self.outbox.finish();
    }

    async fn serve_frames<S: AsyncReadRent>(
        &self,
        half: &mut ReadHalf<'_, S>,
        buffer: &mut Vec<u8>,
        decoder: &mut Decoder,
        buffers: &mut CallBuffers,
    ) {
        let mut position = 0;
        let mut idle_deadline = Instant::now() + self.idle_timeout;
        loop {
            if self.outbox.stop_requested() {
                return self.await_close(half, buffer, decoder, position).await;
            }
            let need = match decoder.next(buffer, &mut position) {
                Err(violation) => {
                    tracing::debug!(connection = %self.label(), code = violation.code, reason = violation.reason, "WebSocket protocol violation");
                    self.outbox.close(Some(violation.code), violation.reason, false);
                    return self.drain(half, Instant::now() + CLOSE_TIMEOUT).await;
                }
                Ok(Decoded::NeedMore(need)) => need,
                Ok(Decoded::Event(event)) => {
                    idle_deadline = Instant::now() + self.idle_timeout;
                    match event {
                        Event::Text(data) | Event::Binary(data) => {
                            self.worker.metrics.websocket.messages_received.increment();
                            let binary = matches!(event, Event::Binary(_));
                            buffers.request.clear();
                            buffers.request.resize(HEADROOM, 0);
                            event::write_data_event(&mut buffers.request, &self.id, binary, data);
                            if let Err(error) = self.transport(buffers).await {
                                tracing::warn!(connection = %self.label(), ?error, "WebSocket transport function failed; closing the connection");
                                self.outbox.close(Some(close_code::INTERNAL_ERROR), "transport function failed", false);
                                return self.await_close(half, buffer, decoder, position).await;
                            }
                            decoder.shrink();
                        }
                        Event::Ping(payload) => {
                            let _ = self.outbox.send(Opcode::Pong, payload);
                        }
                        Event::Pong => {}
                        // RFC 6455 §5.5.1: answer with a close frame echoing the code; the
                        // client's close ends the session.
                        Event::Close { code, .. } => {
                            self.outbox.close(code, "", false);
                            return;
                        }
                    }
                    continue;
                }
            };
            buffer.drain(..position);
            position = 0;
            if buffer.is_empty() && buffer.capacity() > KEPT_READ_BYTES {
                *buffer = Vec::with_capacity(IDLE_READ_BYTES);
            }
            match read_more(half, buffer, need, idle_deadline, Some(self.outbox)).await {
                Read::Bytes => {}
                Read::Closed => return,
                Read::Stopped => return self.await_close(half, buffer, decoder, 0).await,
                Read::TimedOut => {
                    self.outbox.close(Some(close_code::GOING_AWAY), "idle timeout", false);
                    return self.await_close(half, buffer, decoder, 0).await;
                }
            }
        }
    }

    /// Invokes the transport function with the `data recv` event in `buffers`.
    async fn transport(&self, buffers: &mut CallBuffers) -> Result<(), GatewayError> {
        let request_id = self.worker.next_request_id();
        backend::invoke_value(
            &self.serving.backends,
            self.transport,
            self.timeout,
            buffers,
            request_id.as_bytes(),
            |_| (),
        )
        .await
    }

    /// The gateway sent a close frame: wait (bounded) for the client's, ignoring anything else.
    async fn await_close<S: AsyncReadRent>(
        &self,
        half: &mut ReadHalf<'_, S>,
        buffer: &mut Vec<u8>,
        decoder: &mut Decoder,
        mut position: usize,
    ) {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            let need = match decoder.next(buffer, &mut position) {
                Ok(Decoded::Event(Event::Close { .. })) => return,
                Ok(Decoded::Event(_)) => continue,
                Ok(Decoded::NeedMore(need)) => need,
                Err(_) => return self.drain(half, deadline).await,
            };
            buffer.drain(..position);
            position = 0;
            if !matches!(read_more(half, buffer, need, deadline, None).await, Read::Bytes) {
                return;
            }
        }
    }

    /// After a protocol error: read and drop whatever the client still sends, until it closes or
    /// the deadline, so that the socket is not closed with unread bytes (which would reset the
    /// connection and could destroy the close frame before the client reads it).
    async fn drain<S: AsyncReadRent>(&self, half: &mut ReadHalf<'_, S>, deadline: Instant) {
        let mut scratch = Vec::with_capacity(16 * 1024);
        loop {
            scratch.clear();
            if !matches!(read_more(half, &mut scratch, 0, deadline, None).await, Read::Bytes) {
                return;
            }
        }
    }

    fn label(&self) -> String {
        String::from_utf8_lossy(&self.id).into_owned()
    }
}

/// Reads more bytes onto `buffer` (making room for a frame of `need` bytes) until `deadline`,
/// or until `stop` says the reader must stop waiting. A read given up on takes its buffer with
/// it (the kernel may still write into it), so `buffer` is replaced.
async fn read_more<S: AsyncReadRent>(
    half: &mut ReadHalf<'_, S>,
    buffer: &mut Vec<u8>,
    need: usize,
    deadline: Instant,
    stop: Option<&Outbox>,
) -> Read {
    let wanted = need.max(buffer.len() + IDLE_READ_BYTES).max(MAX_HEAD);
    if buffer.capacity() < wanted {
        buffer.reserve(wanted - buffer.len());
    }
    let length = buffer.len();
    let capacity = buffer.capacity();
    let owned = std::mem::take(buffer);
    let read = monoio::time::timeout_at(
        monoio::time::Instant::from_std(deadline),
        half.read(owned.slice_mut(length..capacity)),
    );
    let mut read = pin!(read);
    let outcome = poll_fn(|context| {
        if let Poll::Ready(done) = read.as_mut().poll(context) {
            return Poll::Ready(Some(done));
        }
        match stop {
            Some(outbox) => outbox.poll_stop(context).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await;
    match outcome {
        None => Read::Stopped,
        Some(Err(_elapsed)) => Read::TimedOut,
        Some(Ok((result, slice))) => {
            *buffer = slice.into_inner();
            match result {
                Ok(0) => Read::Closed,
                Ok(_) => Read::Bytes,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Read::Bytes,
                Err(_) => Read::Closed,
            }
        }
    }
}

/// Writes what the outbox holds until it is finished, then shuts the write side down (a TCP FIN,
/// or TLS close_notify first), so the client sees the end before the cleanup function runs.
/// A write that makes no progress for `send_timeout` fails the connection.
///
/// Each batch written is dropped, so an idle WebSocket holds no write buffer: the outbox
/// allocates one when something is sent (a push, a pong), once per batch.
async fn write_loop<S: AsyncWriteRent>(mut half: WriteHalf<'_, S>, outbox: &Outbox, send_timeout: Duration) {
    let mut batch = Vec::new();
    while poll_fn(|context| outbox.poll_batch(context, &mut batch)).await {
        // A client that stops reading for `send_timeout` fails the connection (its outbox is
        // bounded too, `outbox`).
        if !crate::send::flush(&mut half, &mut batch, send_timeout).await {
            outbox.fail();
            return;
        }
        batch = Vec::new();
    }
    let _ = half.shutdown().await;
}
