//! The function's return value as an HTTP response, in Tencent's two modes.
//!
//! - Pass-through (response integration off): the value must be JSON; it becomes the body of a
//!   200 with `Content-Type: application/json`.
//! - Integrated (on): the value is `{"isBase64Encoded", "statusCode", "headers", "body"}`; status,
//!   headers and (base64-decoded when asked) body are mapped onto the response. Anything else is
//!   Tencent's 403 invalid-response error.
//!
//! Both functions validate fully before writing anything, so on error `out` is untouched and the
//! caller writes the error response instead.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::json_scan::{is_valid_json, unescape_with, Invalid, Kind, RawString, Scanner};
use crate::config::{converted_status, StatusConversion};
use crate::error::GatewayError;
use crate::http::response;

/// How the mapped response is framed on the client connection.
#[derive(Debug, Clone, Copy)]
pub struct ResponseFraming<'a> {
    /// The request id, sent as `x-api-requestid`.
    pub request_id: &'a [u8],
    /// Close the connection after this response.
    pub close: bool,
    /// HEAD request: send the head only.
    pub head_only: bool,
}

/// Base64 as functions send it: standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the gateway changes in the function's response: the API's CORS and usage-plan header
/// lines (`crate::policy`) and its error-code conversions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseRules<'a> {
    /// Complete `name: value\r\n` lines.
    pub lines: &'a [u8],
    /// The gateway answers CORS for this API: the function's own `Access-Control-*` headers are
    /// dropped, so that none is sent twice.
    pub replaces_cors: bool,
    /// The API's error codes with `converted_code`: statuses the client sees as others.
    pub status_conversions: &'a [StatusConversion],
}

impl ResponseRules<'_> {
    /// The status the client gets for the function's `status`.
    pub fn status(&self, status: u16) -> u16 {
        converted_status(self.status_conversions, status)
    }
}

/// Pass-through: writes a 200 JSON response carrying `value`.
pub fn write_passthrough(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    write_passthrough_with(value, framing, ResponseRules::default(), out)
}

/// [`write_passthrough`], with the gateway's `extra` headers.
pub fn write_passthrough_with(
    value: &[u8],
    framing: ResponseFraming<'_>,
    extra: ResponseRules<'_>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    if !is_valid_json(value) {
        return Err(GatewayError::ResponseNotJson);
    }
    response::start(out, extra.status(200));
    response::header(out, b"content-type", b"application/json");
    out.extend_from_slice(extra.lines);
    response::header(out, b"x-api-requestid", framing.request_id);
    response::end_head(out, value.len(), framing.close);
    if !framing.head_only {
        out.extend_from_slice(value);
    }
    Ok(())
}

/// Integrated: maps `{statusCode, headers, body, isBase64Encoded}` onto a response.
pub fn write_integrated(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    write_integrated_with(value, framing, ResponseRules::default(), out)
}

/// [`write_integrated`], with the gateway's `extra` headers.
pub fn write_integrated_with(
    value: &[u8],
    framing: ResponseFraming<'_>,
    extra: ResponseRules<'_>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let fields = scan_integrated(value).map_err(|_| GatewayError::InvalidIntegratedResponse)?;
    let start = out.len();
    write_mapped(value, &fields, framing, extra, out).map_err(|_| {
        out.truncate(start);
        GatewayError::InvalidIntegratedResponse
    })
}

/// Where the integration fields are in the reply (first pass: syntax and shape).
struct IntegratedFields<'a> {
    status: u16,
    /// Position of the `headers` object, when present and not null.
    headers: Option<usize>,
    body: Option<RawString<'a>>,
    base64: bool,
}

fn scan_integrated(value: &[u8]) -> Result<IntegratedFields<'_>, Invalid> {
    std::str::from_utf8(value).map_err(|_| Invalid)?;
    let mut scanner = Scanner::new(value);
    scanner.begin_object()?;
    let mut fields = IntegratedFields { status: 0, headers: None, body: None, base64: false };
    let mut first = true;
    while let Some(key) = scanner.next_key(first)? {
        first = false;
        match key.raw {
            b"statusCode" => fields.status = parse_status(scanner.number()?)?,
            b"headers" => match scanner.peek_kind()? {
                Kind::Null => scanner.null()?,
                Kind::Object => {
                    fields.headers = Some(scanner.position());
                    scanner.skip_value()?;
                }
                _ => return Err(Invalid),
            },
            b"body" => match scanner.peek_kind()? {
                Kind::Null => {
                    scanner.null()?;
                    fields.body = None;
                }
                Kind::String => fields.body = Some(scanner.string()?),
                _ => return Err(Invalid),
            },
            // Tencent's examples show both `true` and `"true"`.
            b"isBase64Encoded" => match scanner.peek_kind()? {
                Kind::Bool => fields.base64 = scanner.boolean()?,
                Kind::Null => scanner.null()?,
                Kind::String => {
                    fields.base64 = match scanner.string()?.raw {
                        b"true" => true,
                        b"false" | b"" => false,
                        _ => return Err(Invalid),
                    }
                }
                _ => return Err(Invalid),
            },
            _ => scanner.skip_value()?,
        }
    }
    scanner.finish()?;
    if fields.status == 0 {
        return Err(Invalid);
    }
    Ok(fields)
}

/// `statusCode`: an integer from 200 to 599 (1xx would break the connection's framing).
fn parse_status(text: &[u8]) -> Result<u16, Invalid> {
    if text.is_empty() || text.len() > 3 || !text.iter().all(u8::is_ascii_digit) {
        return Err(Invalid);
    }
    let status = text.iter().fold(0u16, |total, &digit| total * 10 + u16::from(digit - b'0'));
    if (200..=599).contains(&status) {
        Ok(status)
    } else {
        Err(Invalid)
    }
}

/// Second pass: writes the response; on error the caller truncates `out`.
fn write_mapped(
    value: &[u8],
    fields: &IntegratedFields<'_>,
    framing: ResponseFraming<'_>,
    extra: ResponseRules<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Invalid> {
    response::start(out, extra.status(fields.status));
    if let Some(position) = fields.headers {
        write_headers(&mut Scanner::at(value, position), extra.replaces_cors, out)?;
    }
    out.extend_from_slice(extra.lines);
    response::header(out, b"x-api-requestid", framing.request_id);
    // RFC 9110 §6.4.1: 204 and 304 carry no body.
    let bodyless = fields.status == 204 || fields.status == 304;
    let body = fields.body.unwrap_or(RawString { raw: b"", escaped: false });
    if bodyless {
        response::end_head(out, 0, framing.close);
        return Ok(());
    }
    if !fields.base64 {
        let mut length = 0;
        unescape_with(body, |bytes| length += bytes.len())?;
        response::end_head(out, length, framing.close);
        if !framing.head_only {
            unescape_with(body, |bytes| out.extend_from_slice(bytes))?;
        }
        return Ok(());
    }
    // Base64 text has no escapes in practice; an escaped one (`\/`) is resolved into a copy.
    let unescaped;
    let text: &[u8] = if body.escaped {
        let mut copy = Vec::with_capacity(body.raw.len());
        unescape_with(body, |bytes| copy.extend_from_slice(bytes))?;
        unescaped = copy;
        &unescaped
    } else {
        body.raw
    };
    let text = crate::http::parse::trim(text);
    let length = decoded_length(text).ok_or(Invalid)?;
    response::end_head(out, length, framing.close);
    if !framing.head_only {
        let start = out.len();
        out.resize(start + length + 3, 0);
        let written = BASE64.decode_slice(text, &mut out[start..]).map_err(|_| Invalid)?;
        if written != length {
            return Err(Invalid);
        }
        out.truncate(start + length);
    }
    Ok(())
}

/// The exact decoded length of valid base64 text (padding optional); `None` if it cannot be valid.
fn decoded_length(text: &[u8]) -> Option<usize> {
    let unpadded = text.iter().rposition(|&byte| byte != b'=').map_or(0, |last| last + 1);
    if text.len() - unpadded > 2 || unpadded % 4 == 1 {
        return None;
    }
    Some(unpadded / 4 * 3 + (unpadded % 4).saturating_sub(1))
}

/// Writes the `headers` object's fields; a value may be a string, a number, a boolean, or an
/// array of strings (one field each, e.g. several `Set-Cookie`). With `drop_cors`, the gateway
/// sends the API's CORS headers itself and the function's `Access-Control-*` are left out.
fn write_headers(scanner: &mut Scanner<'_>, drop_cors: bool, out: &mut Vec<u8>) -> Result<(), Invalid> {
    scanner.begin_object()?;
    let mut first = true;
    while let Some(name) = scanner.next_key(first)? {
        first = false;
        if name.escaped || !is_token(name.raw) {
            return Err(Invalid);
        }
        let owned_by_gateway = is_framing_header(name.raw) || (drop_cors && is_cors_header(name.raw));
        match scanner.peek_kind()? {
            Kind::String => {
                let value = scanner.string()?;
                if !owned_by_gateway {
                    write_field(out, name.raw, value)?;
                }
            }
            Kind::Number => {
                let text = scanner.number()?;
                if !owned_by_gateway {
                    response::header(out, name.raw, text);
                }
            }
            Kind::Bool => {
                let flag = scanner.boolean()?;
                if !owned_by_gateway {
                    response::header(out, name.raw, if flag { b"true" } else { b"false" });
                }
            }
            Kind::Null => scanner.null()?,
            Kind::Array => {
                scanner.begin_array()?;
                let mut first_element = true;
                while scanner.next_element(first_element)? {
                    first_element = false;
                    let value = scanner.string()?;
                    if !owned_by_gateway {
                        write_field(out, name.raw, value)?;
                    }
                }
            }
            Kind::Object => return Err(Invalid),
        }
    }
    Ok(())
}

/// One header field; a value that would inject CR, LF or NUL is refused.
fn write_field(out: &mut Vec<u8>, name: &[u8], value: RawString<'_>) -> Result<(), Invalid> {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    let mut valid = true;
    unescape_with(value, |bytes| {
        valid &= bytes.iter().all(|&byte| byte == b'\t' || (byte >= 0x20 && byte != 0x7f));
        out.extend_from_slice(bytes);
    })?;
    out.extend_from_slice(b"\r\n");
    if valid {
        Ok(())
    } else {
        Err(Invalid)
    }
}

/// Headers the gateway owns: the function cannot set the connection's framing.
fn is_framing_header(name: &[u8]) -> bool {
    [&b"content-length"[..], b"transfer-encoding", b"connection", b"keep-alive", b"upgrade", b"x-api-requestid"]
        .iter()
        .any(|owned| name.eq_ignore_ascii_case(owned))
}

fn is_cors_header(name: &[u8]) -> bool {
    name.len() >= 15 && name[..15].eq_ignore_ascii_case(b"access-control-")
}

fn is_token(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAMING: ResponseFraming<'static> = ResponseFraming { request_id: b"rid", close: false, head_only: false };

    fn integrated(value: &str) -> Result<String, GatewayError> {
        let mut out = Vec::new();
        write_integrated(value.as_bytes(), FRAMING, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn maps_integrated_responses() {
        // (function value, expected response) — Tencent's integration format, spec §6.3
        let cases: &[(&str, &str)] = &[
            (
                r#"{"isBase64Encoded":false,"statusCode":201,"headers":{"Content-Type":"text/html"},"body":"<h1>hi</h1>"}"#,
                "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nx-api-requestid: rid\r\ncontent-length: 11\r\n\r\n<h1>hi</h1>",
            ),
            (
                r#"{"isBase64Encoded":"true","statusCode":200,"headers":{},"body":"aGk="}"#,
                "HTTP/1.1 200 OK\r\nx-api-requestid: rid\r\ncontent-length: 2\r\n\r\nhi",
            ),
            (
                r#"{"statusCode":200,"headers":{"Set-Cookie":["a=1","b=2"],"X-N":3,"Content-Length":"99"}}"#,
                "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-N: 3\r\nx-api-requestid: rid\r\ncontent-length: 0\r\n\r\n",
            ),
            (r#"{"statusCode":204,"body":"ignored"}"#, "HTTP/1.1 204 No Content\r\nx-api-requestid: rid\r\ncontent-length: 0\r\n\r\n"),
        ];
        for (value, expected) in cases {
            assert_eq!(integrated(value).as_deref(), Ok(*expected), "{value}");
        }
    }

    #[test]
    fn refuses_what_is_not_the_integration_format() {
        let cases = [
            r#"{"hello":"world"}"#,
            r#""just a string""#,
            r#"{"statusCode":"200"}"#,
            r#"{"statusCode":99}"#,
            r#"{"statusCode":200,"body":{"not":"a string"}}"#,
            r#"{"statusCode":200,"headers":{"X":"a\r\nInjected: 1"}}"#,
            r#"{"statusCode":200,"headers":{"Bad Name":"v"}}"#,
            r#"{"statusCode":200,"isBase64Encoded":true,"body":"***"}"#,
            "not json",
        ];
        for value in cases {
            assert_eq!(integrated(value), Err(GatewayError::InvalidIntegratedResponse), "{value}");
        }
    }

    #[test]
    fn gateway_headers_join_the_response() {
        let extra = ResponseRules {
            lines: b"access-control-allow-origin: *\r\nx-ratelimit-limit: 5\r\n",
            replaces_cors: true,
            status_conversions: &[],
        };
        let value = br#"{"statusCode":200,"headers":{"Access-Control-Allow-Origin":"https://fn.example","X-Own":"1"},"body":"hi"}"#;
        let mut out = Vec::new();
        write_integrated_with(value, FRAMING, extra, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nX-Own: 1\r\naccess-control-allow-origin: *\r\nx-ratelimit-limit: 5\r\nx-api-requestid: rid\r\ncontent-length: 2\r\n\r\nhi"
        );
        let mut out = Vec::new();
        write_passthrough_with(b"{}", FRAMING, ResponseRules { replaces_cors: false, ..extra }, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\naccess-control-allow-origin: *\r\nx-ratelimit-limit: 5\r\nx-api-requestid: rid\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn passthrough_requires_json() {
        let mut out = Vec::new();
        assert_eq!(write_passthrough(b"not json", FRAMING, &mut out), Err(GatewayError::ResponseNotJson));
        assert!(out.is_empty());
        write_passthrough(br#"{"a":1}"#, ResponseFraming { head_only: true, ..FRAMING }, &mut out).unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-api-requestid: rid\r\ncontent-length: 7\r\n\r\n"
        );
    }
}
