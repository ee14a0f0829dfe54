//! The opening handshake (RFC 6455 §4.2): which upgrade requests a WebSocket API accepts, the
//! `Sec-WebSocket-Accept` key, and the 101 response.
//!
//! Checks run in Tencent's order as far as it is documented: a missing `Sec-WebSocket-Key`, then
//! a missing `Sec-WebSocket-Version`, get Tencent's 403 (`need header Sec-WebSocket-Key.`); a
//! version other than 13 gets RFC 6455's 426 with `Sec-WebSocket-Version: 13`; a request that
//! is not an upgrade at all, or has a malformed key, gets 400.

use base64::Engine;
use ring::digest;

use crate::error::GatewayError;
use crate::http::{response, RequestHead, Span};

/// RFC 6455 §1.3: the GUID appended to the client's key before hashing.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A valid upgrade request, as spans into the request buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// `Sec-WebSocket-Key`.
    pub key: Span,
    /// The client sent `Sec-WebSocket-Protocol` (read with [`joined_values`]).
    pub protocols: bool,
    /// The client sent `Sec-WebSocket-Extensions`.
    pub extensions: bool,
}

/// Checks the upgrade request in `buffer` (parsed into `head`).
pub fn validate(buffer: &[u8], head: &RequestHead) -> Result<Handshake, GatewayError> {
    let mut key = None;
    let mut keys = 0;
    let mut version = None;
    let (mut upgrade, mut connection_upgrade) = (false, false);
    let (mut protocols, mut extensions) = (false, false);
    for field in &head.headers {
        let name = field.name.of_buffer(buffer);
        let value = field.value.of_buffer(buffer);
        if name.eq_ignore_ascii_case(b"sec-websocket-key") {
            key = Some(field.value);
            keys += 1;
        } else if name.eq_ignore_ascii_case(b"sec-websocket-version") {
            version = Some(value);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade |= has_token(value, b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection_upgrade |= has_token(value, b"upgrade");
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            protocols = true;
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            extensions = true;
        }
    }
    let Some(key) = key else {
        return Err(GatewayError::WebSocketHeaderMissing("Sec-WebSocket-Key"));
    };
    let Some(version) = version else {
        return Err(GatewayError::WebSocketHeaderMissing("Sec-WebSocket-Version"));
    };
    if version != b"13" {
        return Err(GatewayError::WebSocketVersion);
    }
    if !upgrade || !connection_upgrade {
        return Err(GatewayError::WebSocketHandshake(
            "a WebSocket API expects `Upgrade: websocket` and `Connection: Upgrade`",
        ));
    }
    if head.http10 {
        return Err(GatewayError::WebSocketHandshake("a WebSocket handshake needs HTTP/1.1"));
    }
    // §4.2.1: the key is the base64 of 16 bytes, sent once.
    let mut decoded = [0u8; 18];
    let length = base64::engine::general_purpose::STANDARD.decode_slice(key.of_buffer(buffer), &mut decoded);
    if keys != 1 || length != Ok(16) {
        return Err(GatewayError::WebSocketHandshake("Sec-WebSocket-Key is not the base64 of 16 bytes"));
    }
    Ok(Handshake { key, protocols, extensions })
}

/// Whether a comma-separated header value lists `token` (case-insensitively).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&byte| byte == b',').any(|item| crate::http::parse::trim(item).eq_ignore_ascii_case(token))
}

/// Every value of the header `name`, joined with `,` as sent (for the connect event's
/// `secWebSocketProtocol` / `secWebSocketExtensions`).
pub fn joined_values(buffer: &[u8], head: &RequestHead, name: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for field in head.headers.iter().filter(|field| field.name.of_buffer(buffer).eq_ignore_ascii_case(name)) {
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(field.value.of_buffer(buffer));
    }
}

/// Whether the client offered `protocol` in its `Sec-WebSocket-Protocol` fields (RFC 6455 §4.1:
/// a client fails the connection if the server picks one it did not offer).
pub fn offered_protocols(buffer: &[u8], head: &RequestHead, protocol: &[u8]) -> bool {
    head.headers
        .iter()
        .filter(|field| field.name.of_buffer(buffer).eq_ignore_ascii_case(b"sec-websocket-protocol"))
        .any(|field| has_token(field.value.of_buffer(buffer), protocol))
}

/// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut hasher = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    hasher.update(key);
    hasher.update(ACCEPT_GUID);
    let digest = hasher.finish();
    let mut accept = [0u8; 28];
    let written = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut accept);
    debug_assert_eq!(written, Ok(28));
    accept
}

/// Appends the 101 response: the accept key, the protocol the register function chose (if
/// any), the gateway's extra header lines (CORS, usage plan), and the request id.
pub fn write_switching(out: &mut Vec<u8>, accept: &[u8; 28], protocol: Option<&[u8]>, extra: &[u8], request_id: &[u8]) {
    response::start(out, 101);
    response::header(out, b"upgrade", b"websocket");
    response::header(out, b"connection", b"Upgrade");
    response::header(out, b"sec-websocket-accept", accept);
    if let Some(protocol) = protocol {
        response::header(out, b"sec-websocket-protocol", protocol);
    }
    out.extend_from_slice(extra);
    response::header(out, b"x-api-requestid", request_id);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    fn check(headers: &str) -> Result<Handshake, GatewayError> {
        let raw = format!("GET /release/ws HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        validate(raw.as_bytes(), &head)
    }

    const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    const VERSION: &str = "Sec-WebSocket-Version: 13\r\n";
    const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n";

    #[test]
    fn handshake_checks() {
        use GatewayError::*;
        let bad_key = WebSocketHandshake("Sec-WebSocket-Key is not the base64 of 16 bytes");
        let not_upgrade = WebSocketHandshake("a WebSocket API expects `Upgrade: websocket` and `Connection: Upgrade`");
        #[rustfmt::skip]
        let cases: Vec<(String, Option<GatewayError>)> = vec![
            (format!("{UPGRADE}{KEY}{VERSION}"), None),
            // Browsers send these forms.
            (format!("Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n{KEY}{VERSION}"), None),
            // spec §5.2: Tencent's 403s, key first.
            (format!("{UPGRADE}{VERSION}"), Some(WebSocketHeaderMissing("Sec-WebSocket-Key"))),
            (String::new(), Some(WebSocketHeaderMissing("Sec-WebSocket-Key"))),
            (format!("{UPGRADE}{KEY}"), Some(WebSocketHeaderMissing("Sec-WebSocket-Version"))),
            // RFC 6455 §4.4: another version -> 426.
            (format!("{UPGRADE}{KEY}Sec-WebSocket-Version: 8\r\n"), Some(WebSocketVersion)),
            // RFC 6455 §4.2.1: an upgrade, with a 16-byte key sent once.
            (format!("{KEY}{VERSION}"), Some(not_upgrade.clone())),
            (format!("Upgrade: websocket\r\n{KEY}{VERSION}"), Some(not_upgrade.clone())),
            (format!("Upgrade: h2c\r\nConnection: Upgrade\r\n{KEY}{VERSION}"), Some(not_upgrade)),
            (format!("{UPGRADE}Sec-WebSocket-Key: c2hvcnQ=\r\n{VERSION}"), Some(bad_key.clone())),
            (format!("{UPGRADE}Sec-WebSocket-Key: !!!\r\n{VERSION}"), Some(bad_key.clone())),
            (format!("{UPGRADE}{KEY}{KEY}{VERSION}"), Some(bad_key)),
        ];
        for (headers, expected) in cases {
            let outcome = check(&headers);
            match expected {
                None => assert!(outcome.is_ok(), "{headers:?}: {outcome:?}"),
                Some(error) => assert_eq!(outcome.unwrap_err(), error, "{headers:?}"),
            }
        }
    }

    #[test]
    fn accept_key_of_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn protocols_and_extensions() {
        let raw = "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Protocol: binary\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let mut out = Vec::new();
        joined_values(raw.as_bytes(), &head, b"sec-websocket-protocol", &mut out);
        assert_eq!(out, b"chat, superchat,binary");
        assert!(offered_protocols(raw.as_bytes(), &head, b"superchat"));
        assert!(offered_protocols(raw.as_bytes(), &head, b"binary"));
        assert!(!offered_protocols(raw.as_bytes(), &head, b"super"));
        joined_values(raw.as_bytes(), &head, b"sec-websocket-extensions", &mut out);
        assert_eq!(out, b"permessage-deflate");
    }

    #[test]
    fn switching_response() {
        let mut out = Vec::new();
        write_switching(&mut out, &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), Some(b"chat"), b"x-extra: 1\r\n", b"req-1");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nsec-websocket-protocol: chat\r\nx-extra: 1\r\nx-api-requestid: req-1\r\n\r\n"
        );
    }
}
