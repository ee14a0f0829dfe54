//! The response the client sees: the function's head read strictly, its fields passed on with
//! the framing redone and the gateway's CORS and request-id fields added, its body relayed in
//! steps; and whether the connection can go back to the pool afterwards.

use std::io;
use std::time::Instant;

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRent, Split};

use super::instance_choice::Lease;
use super::request::{hex_line, list_contains, read_upstream, reframe_chunked};
use super::{Exchange, Outcome, MAX_RESPONSE_HEAD};
use crate::backend::pool::BackendConnection;
use crate::error::{BackendCause, GatewayError};
use crate::http::body::ChunkedDecoder;
use crate::http::response::{self, format_u64, itoa_buffer};
use crate::http::response_head::{parse_response_head, ResponseBody, ResponseHead, MAX_FIELDS};

pub(super) enum HeadStop {
    /// Closed (or reset) before a single response byte.
    Closed,
    TimedOut,
    Invalid,
}

pub(super) async fn read_response_head(
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
pub(super) fn gateway_owned_response_field(name: &[u8], upgrade: bool) -> bool {
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
pub(super) fn write_response_head(
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
    let status = exchange.extra.status(head.status);
    out.extend_from_slice(format_u64(u64::from(status), &mut digits));
    out.push(b' ');
    // The function's own reason phrase goes with its own status only.
    match response.reason.filter(|reason| !reason.is_empty() && status == head.status) {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => out.extend_from_slice(response::reason(status).as_bytes()),
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
pub(super) async fn relay_response<S: AsyncReadRent + AsyncWriteRent + Split>(
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
        return Outcome::Failed {
            error: GatewayError::BackendUnreachable(BackendCause::Unusable(
                "a response head the client connection could not take",
            )),
            request_consumed,
        };
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
    let status = exchange.extra.status(head.status);
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
