//! A WebSocket upgrade a web function accepted (101): from then on a byte relay both ways until
//! either side closes or the connection idles past its timeout.

use std::io;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Split, Splitable};

use super::relay::write_response_head;
use super::{Exchange, Outcome};
use crate::backend::pool::BackendConnection;
use crate::error::{BackendCause, GatewayError};
use crate::http::response_head::ResponseHead;

/// The function accepted a WebSocket upgrade: the 101 goes to the client, then bytes are copied
/// both ways, unframed, until each side has closed its half.
pub(super) async fn relay_upgrade<S: AsyncReadRent + AsyncWriteRent + Split>(
    exchange: &mut Exchange<'_, S>,
    mut connection: BackendConnection,
    head: &ResponseHead,
) -> Outcome {
    let buffer = std::mem::take(&mut connection.read_buffer);
    let written = write_response_head(exchange, &buffer, head, true);
    let mut early_frames = buffer;
    if written.is_err() {
        return Outcome::Failed {
            error: GatewayError::BackendUnreachable(BackendCause::Unusable(
                "a 101 head the client connection could not take",
            )),
            request_consumed: true,
        };
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
    let idle_timeout = exchange.backends.config().gateway.websocket.idle_timeout;
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
pub(super) async fn copy_to_client<R: AsyncReadRent, W: AsyncWriteRent>(
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
pub(super) enum ClientHalf {
    /// It closed (or failed); the function was told with a FIN.
    Closed,
    /// It sent nothing for the idle timeout.
    Idle,
}

/// Copies the client's bytes to the function until the client closes its half (then shuts the
/// function's write half) or sends nothing for `idle_timeout` (the gateway's
/// `websocket_idle_timeout`, as for WebSocket APIs: client frames are what keep a connection
/// alive, and a client that pings sends them).
pub(super) async fn copy_until_idle<R: AsyncReadRent, W: AsyncWriteRent>(
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
