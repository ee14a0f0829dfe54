//! The JSON of Tencent's WebSocket model (spec §5.2), written into and read from reused buffers:
//! the connect event (the API Gateway event plus `websocket`), the `data recv` and `closing`
//! events, the register function's reply, and the reverse-push request.
//!
//! Decisions where Tencent is silent: the connect event carries the whole API Gateway event
//! (`headers`, `queryString`, `pathParameters`, ...) besides Tencent's `requestContext` and
//! `websocket`, so a register function can read a token from the query or a header; its
//! `requestContext` has both `serviceId` (as every other event here) and Tencent's WebSocket
//! `serviceName`. The `data recv` and `closing` events are exactly Tencent's shape.

use base64::Engine;

use crate::backend::json::write_string;
use crate::backend::json_scan::{unescape_with, Invalid, Kind, RawString, Scanner};

use super::id::ConnectionId;

/// What every API Gateway event starts with (`crate::backend::event`).
const EVENT_START: &[u8] = b"{\"requestContext\":{";

/// What the client offered in its handshake, for the connect event.
pub struct Offer<'a> {
    /// `Sec-WebSocket-Protocol` values, joined with `,` (none sent: `None`).
    pub protocols: Option<&'a [u8]>,
    /// `Sec-WebSocket-Extensions` values, joined with `,`.
    pub extensions: Option<&'a [u8]>,
}

/// Turns the API Gateway event at `buffer[start..]` into the connect event: `serviceName` and
/// `websocketEnable: true` go into `requestContext`, and the `websocket` object is appended.
pub fn make_connect_event(buffer: &mut Vec<u8>, start: usize, service_name: &str, id: &[u8], offer: &Offer<'_>) {
    debug_assert!(buffer[start..].starts_with(EVENT_START) && buffer.ends_with(b"}"));
    let mut context = Vec::with_capacity(64 + service_name.len());
    context.extend_from_slice(b"\"serviceName\":");
    write_string(&mut context, service_name.as_bytes());
    context.extend_from_slice(b",\"websocketEnable\":true,");
    let at = start + EVENT_START.len();
    buffer.splice(at..at, context);
    buffer.pop();
    buffer.extend_from_slice(b",\"websocket\":{\"action\":\"connecting\",\"secConnectionID\":");
    write_string(buffer, id);
    if let Some(protocols) = offer.protocols {
        buffer.extend_from_slice(b",\"secWebSocketProtocol\":");
        write_string(buffer, protocols);
    }
    if let Some(extensions) = offer.extensions {
        buffer.extend_from_slice(b",\"secWebSocketExtensions\":");
        write_string(buffer, extensions);
    }
    buffer.extend_from_slice(b"}}");
}

/// Appends `{"websocket":{"action":"data recv","secConnectionID","dataType","data"}}`; binary
/// data is base64.
pub fn write_data_event(out: &mut Vec<u8>, id: &[u8], binary: bool, data: &[u8]) {
    out.extend_from_slice(b"{\"websocket\":{\"action\":\"data recv\",\"secConnectionID\":");
    write_string(out, id);
    if binary {
        out.extend_from_slice(b",\"dataType\":\"binary\",\"data\":\"");
        let start = out.len();
        out.resize(start + base64::encoded_len(data.len(), true).unwrap_or(0), 0);
        let written = base64::engine::general_purpose::STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
        out.push(b'"');
    } else {
        // A text message was checked to be UTF-8 by the decoder.
        out.extend_from_slice(b",\"dataType\":\"text\",\"data\":");
        write_string(out, data);
    }
    out.extend_from_slice(b"}}");
}

/// Appends `{"websocket":{"action":"closing","secConnectionID":...}}`.
pub fn write_closing_event(out: &mut Vec<u8>, id: &[u8]) {
    out.extend_from_slice(b"{\"websocket\":{\"action\":\"closing\",\"secConnectionID\":");
    write_string(out, id);
    out.extend_from_slice(b"}}");
}

/// What the register function decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// `errNo` 0: the connection is accepted, with the subprotocol it chose, if any.
    Accepted {
        /// `websocket.secWebSocketProtocol` of the reply.
        protocol: Option<Vec<u8>>,
    },
    /// Any other `errNo`: refused.
    Refused {
        /// `errNo`.
        err_no: i64,
        /// `errMsg` (empty when absent).
        err_msg: String,
    },
}

/// Reads the register function's value: `{"errNo":0,"errMsg":"ok","websocket":{...}}`.
/// `errNo` is required (a number, or a string holding one); a reply without it is not a
/// register reply.
pub fn parse_registration(body: &[u8]) -> Result<Registration, Invalid> {
    if std::str::from_utf8(body).is_err() {
        return Err(Invalid);
    }
    let mut scanner = Scanner::new(body);
    scanner.begin_object()?;
    let (mut err_no, mut err_msg, mut protocol) = (None, String::new(), None);
    let mut first = true;
    while let Some(key) = scanner.next_key(first)? {
        first = false;
        match key.raw {
            b"errNo" => {
                err_no = Some(match scanner.peek_kind()? {
                    Kind::Number => parse_integer(scanner.number()?)?,
                    Kind::String => parse_integer(&unescaped(scanner.string()?)?)?,
                    _ => return Err(Invalid),
                });
            }
            b"errMsg" if scanner.peek_kind()? == Kind::String => {
                err_msg = String::from_utf8(unescaped(scanner.string()?)?).map_err(|_| Invalid)?;
            }
            b"websocket" if scanner.peek_kind()? == Kind::Object => {
                scanner.begin_object()?;
                let mut first = true;
                while let Some(key) = scanner.next_key(first)? {
                    first = false;
                    if key.raw == b"secWebSocketProtocol" && scanner.peek_kind()? == Kind::String {
                        protocol = Some(unescaped(scanner.string()?)?).filter(|value| !value.is_empty());
                    } else {
                        scanner.skip_value()?;
                    }
                }
            }
            _ => scanner.skip_value()?,
        }
    }
    scanner.finish()?;
    match err_no.ok_or(Invalid)? {
        0 => Ok(Registration::Accepted { protocol }),
        err_no => Ok(Registration::Refused { err_no, err_msg }),
    }
}

fn parse_integer(text: &[u8]) -> Result<i64, Invalid> {
    std::str::from_utf8(text).ok().and_then(|text| text.trim().parse().ok()).ok_or(Invalid)
}

fn unescaped(raw: RawString<'_>) -> Result<Vec<u8>, Invalid> {
    let mut out = Vec::with_capacity(raw.raw.len());
    unescape_with(raw, |bytes| out.extend_from_slice(bytes))?;
    Ok(out)
}

/// What a reverse push asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAction {
    /// `data send`: a message (its payload was written to the caller's buffer).
    Send {
        /// `dataType: "binary"` (the `data` was base64 and has been decoded).
        binary: bool,
    },
    /// `closing`: close the connection.
    Close,
}

/// Why a push body was refused; the text goes into the error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushError(pub &'static str);

/// Reads `{"websocket":{"action":"data send"|"closing","secConnectionID","dataType","data"}}`.
/// For `data send`, the message payload (JSON-unescaped, base64-decoded for binary) is written
/// to `payload`, cleared first. `dataType` defaults to `text`.
pub fn parse_push(body: &[u8], payload: &mut Vec<u8>) -> Result<(ConnectionId, PushAction), PushError> {
    const SHAPE: PushError =
        PushError("the body must be {\"websocket\":{\"action\":\"data send\"|\"closing\",\"secConnectionID\":...,\"dataType\":\"text\"|\"binary\",\"data\":...}}");
    if std::str::from_utf8(body).is_err() {
        return Err(PushError("the body is not UTF-8 JSON"));
    }
    let mut scanner = Scanner::new(body);
    let mut fields = PushFields::default();
    let shape = |_: Invalid| SHAPE;
    scanner.begin_object().map_err(shape)?;
    let mut first = true;
    let mut seen_websocket = false;
    while let Some(key) = scanner.next_key(first).map_err(shape)? {
        first = false;
        if key.raw == b"websocket" && scanner.peek_kind() == Ok(Kind::Object) {
            seen_websocket = true;
            fields.read(&mut scanner).map_err(shape)?;
        } else {
            scanner.skip_value().map_err(shape)?;
        }
    }
    scanner.finish().map_err(shape)?;
    if !seen_websocket {
        return Err(SHAPE);
    }
    let id = fields.id.ok_or(PushError("secConnectionID is missing"))?;
    let id = ConnectionId::decode(id.raw)
        .filter(|_| !id.escaped)
        .ok_or(PushError("secConnectionID is not a connection id"))?;
    match fields.action.map(|action| action.raw) {
        Some(b"closing") => Ok((id, PushAction::Close)),
        Some(b"data send") => {
            let binary = match fields.data_type.map(|kind| kind.raw) {
                None | Some(b"text") => false,
                Some(b"binary") => true,
                Some(_) => return Err(PushError("dataType must be \"text\" or \"binary\"")),
            };
            let data = fields.data.ok_or(PushError("data is missing"))?;
            payload.clear();
            if binary {
                let mut text = Vec::new();
                unescape_with(data, |bytes| text.extend_from_slice(bytes)).map_err(|_| SHAPE)?;
                base64::engine::general_purpose::STANDARD
                    .decode_vec(&text, payload)
                    .map_err(|_| PushError("data of a binary message must be base64"))?;
            } else {
                unescape_with(data, |bytes| payload.extend_from_slice(bytes))
                    .map_err(|_| PushError("data is not valid text"))?;
            }
            Ok((id, PushAction::Send { binary }))
        }
        _ => Err(PushError("action must be \"data send\" or \"closing\"")),
    }
}

/// The members of a push's `websocket` object, as raw strings.
#[derive(Default)]
struct PushFields<'a> {
    action: Option<RawString<'a>>,
    id: Option<RawString<'a>>,
    data_type: Option<RawString<'a>>,
    data: Option<RawString<'a>>,
}

impl<'a> PushFields<'a> {
    fn read(&mut self, scanner: &mut Scanner<'a>) -> Result<(), Invalid> {
        scanner.begin_object()?;
        let mut first = true;
        while let Some(key) = scanner.next_key(first)? {
            first = false;
            let slot = match key.raw {
                b"action" => &mut self.action,
                b"secConnectionID" => &mut self.id,
                b"dataType" => &mut self.data_type,
                b"data" => &mut self.data,
                _ => {
                    scanner.skip_value()?;
                    continue;
                }
            };
            if scanner.peek_kind()? == Kind::String {
                *slot = Some(scanner.string()?);
            } else {
                scanner.skip_value()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::id::IdSource;
    use serde_json::{json, Value};

    #[test]
    fn connect_event_extends_the_gateway_event() {
        let mut buffer = b"headroom".to_vec();
        buffer.extend_from_slice(br#"{"requestContext":{"serviceId":"service-1","stage":"release"},"headers":{"a":"b"},"isBase64Encoded":false}"#);
        let offer = Offer { protocols: Some(b"chat,binary"), extensions: None };
        make_connect_event(&mut buffer, 8, "svc", b"ID==", &offer);
        let event: Value = serde_json::from_slice(&buffer[8..]).unwrap();
        assert_eq!(
            event,
            json!({
                "requestContext": {"serviceName": "svc", "websocketEnable": true, "serviceId": "service-1", "stage": "release"},
                "headers": {"a": "b"},
                "isBase64Encoded": false,
                "websocket": {"action": "connecting", "secConnectionID": "ID==", "secWebSocketProtocol": "chat,binary"}
            })
        );
    }

    #[test]
    fn data_and_closing_events() {
        #[rustfmt::skip]
        let cases: &[(bool, &[u8], Value)] = &[
            (false, b"hi \"there\"\n", json!({"websocket": {"action": "data recv", "secConnectionID": "X", "dataType": "text", "data": "hi \"there\"\n"}})),
            (true, &[0, 0xff, 0x41], json!({"websocket": {"action": "data recv", "secConnectionID": "X", "dataType": "binary", "data": "AP9B"}})),
            (true, b"", json!({"websocket": {"action": "data recv", "secConnectionID": "X", "dataType": "binary", "data": ""}})),
        ];
        for (binary, data, expected) in cases {
            let mut out = Vec::new();
            write_data_event(&mut out, b"X", *binary, data);
            assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), *expected);
        }
        let mut out = Vec::new();
        write_closing_event(&mut out, b"X");
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"websocket": {"action": "closing", "secConnectionID": "X"}})
        );
    }

    #[test]
    fn register_replies() {
        let accepted = |protocol: Option<&str>| {
            Ok(Registration::Accepted { protocol: protocol.map(|text| text.as_bytes().to_vec()) })
        };
        let refused = |err_no, err_msg: &str| Ok(Registration::Refused { err_no, err_msg: err_msg.into() });
        #[rustfmt::skip]
        let cases: &[(&str, Result<Registration, Invalid>)] = &[
            // spec §5.2's register reply.
            (r#"{"errNo":0,"errMsg":"ok","websocket":{"action":"connecting","secConnectionID":"x==","secWebSocketProtocol":"chat","secWebSocketExtensions":"ext1"}}"#, accepted(Some("chat"))),
            (r#"{"errNo":0,"errMsg":"ok"}"#, accepted(None)),
            (r#"{"errNo":"0"}"#, accepted(None)),
            (r#" {"errMsg":"ok","errNo":0,"websocket":{"secWebSocketProtocol":""}} "#, accepted(None)),
            (r#"{"errNo":403,"errMsg":"not \"allowed\""}"#, refused(403, "not \"allowed\"")),
            (r#"{"errNo":-1}"#, refused(-1, "")),
            (r#"{"errMsg":"ok"}"#, Err(Invalid)),
            (r#"{"errNo":0.5}"#, Err(Invalid)),
            (r#"{"errNo":null}"#, Err(Invalid)),
            (r#"[0]"#, Err(Invalid)),
            ("not json", Err(Invalid)),
            (r#"{"errNo":0} trailing"#, Err(Invalid)),
        ];
        for (body, expected) in cases {
            assert_eq!(parse_registration(body.as_bytes()), *expected, "{body}");
        }
    }

    #[test]
    fn push_requests() {
        let id = IdSource::new(3).next();
        let text = String::from_utf8(id.encode().to_vec()).unwrap();
        let push = |members: &str| format!(r#"{{"websocket":{{"secConnectionID":"{text}",{members}}}}}"#);
        type Expected = Result<(PushAction, &'static [u8]), &'static str>;
        #[rustfmt::skip]
        let cases: Vec<(String, Expected)> = vec![
            (push(r#""action":"data send","dataType":"text","data":"hi\nthere é""#), Ok((PushAction::Send { binary: false }, "hi\nthere é".as_bytes()))),
            (push(r#""action":"data send","data":"plain""#), Ok((PushAction::Send { binary: false }, b"plain"))),
            (push(r#""action":"data send","dataType":"binary","data":"AP9B""#), Ok((PushAction::Send { binary: true }, &[0, 0xff, 0x41]))),
            (push(r#""action":"closing""#), Ok((PushAction::Close, b""))),
            (push(r#""action":"data send","dataType":"binary","data":"***""#), Err("data of a binary message must be base64")),
            (push(r#""action":"data send","dataType":"xml","data":"x""#), Err("dataType must be \"text\" or \"binary\"")),
            (push(r#""action":"data send""#), Err("data is missing")),
            (push(r#""action":"data recv","data":"x""#), Err("action must be \"data send\" or \"closing\"")),
            (r#"{"websocket":{"action":"closing"}}"#.into(), Err("secConnectionID is missing")),
            (r#"{"websocket":{"action":"closing","secConnectionID":"nope"}}"#.into(), Err("secConnectionID is not a connection id")),
            (r#"{"action":"closing"}"#.into(), Err("the body must be {\"websocket\":{\"action\":\"data send\"|\"closing\",\"secConnectionID\":...,\"dataType\":\"text\"|\"binary\",\"data\":...}}")),
        ];
        for (body, expected) in cases {
            let mut payload = Vec::new();
            let outcome = parse_push(body.as_bytes(), &mut payload);
            match expected {
                Ok((action, data)) => {
                    assert_eq!(outcome, Ok((id, action)), "{body}");
                    assert_eq!(payload, data, "{body}");
                }
                Err(message) => assert_eq!(outcome, Err(PushError(message)), "{body}"),
            }
        }
    }
}
