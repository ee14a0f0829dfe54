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

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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

/// Pass-through: writes a 200 JSON response carrying `value`.
pub fn write_passthrough(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    if serde_json::from_slice::<de::IgnoredAny>(value).is_err() {
        return Err(GatewayError::ResponseNotJson);
    }
    response::start(out, 200);
    response::header(out, b"content-type", b"application/json");
    response::header(out, b"x-api-requestid", framing.request_id);
    response::end_head(out, value.len(), framing.close);
    if !framing.head_only {
        out.extend_from_slice(value);
    }
    Ok(())
}

/// Integrated: maps `{statusCode, headers, body, isBase64Encoded}` onto a response.
pub fn write_integrated(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    let parsed: IntegratedResponse<'_> =
        serde_json::from_slice(value).map_err(|_| GatewayError::InvalidIntegratedResponse)?;
    if !(100..=599).contains(&parsed.status_code) || (100..200).contains(&parsed.status_code) {
        return Err(GatewayError::InvalidIntegratedResponse);
    }
    for (name, values) in &parsed.headers.0 {
        if !is_token(name.as_bytes()) || values.iter().any(|value| !is_field_value(value.as_bytes())) {
            return Err(GatewayError::InvalidIntegratedResponse);
        }
    }
    let body_text = parsed.body.as_deref().unwrap_or("");
    // Decoding allocates; only functions that ask for base64 pay for it.
    let decoded;
    let body: &[u8] = if parsed.is_base64_encoded.0 {
        decoded = base64::engine::general_purpose::STANDARD
            .decode(body_text.trim())
            .map_err(|_| GatewayError::InvalidIntegratedResponse)?;
        &decoded
    } else {
        body_text.as_bytes()
    };
    response::start(out, parsed.status_code);
    for (name, values) in &parsed.headers.0 {
        if is_framing_header(name) {
            continue;
        }
        for value in values {
            response::header(out, name.as_bytes(), value.as_bytes());
        }
    }
    response::header(out, b"x-api-requestid", framing.request_id);
    // RFC 9110 §6.4.1: 204 and 304 carry no body.
    let bodyless = parsed.status_code == 204 || parsed.status_code == 304;
    response::end_head(out, if bodyless { 0 } else { body.len() }, framing.close);
    if !framing.head_only && !bodyless {
        out.extend_from_slice(body);
    }
    Ok(())
}

/// Headers the gateway owns: the function cannot set the connection's framing.
fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "x-api-requestid"]
        .iter()
        .any(|owned| name.eq_ignore_ascii_case(owned))
}

fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&byte| byte == b'\t' || (byte >= 0x20 && byte != 0x7f))
}

#[derive(Deserialize)]
struct IntegratedResponse<'a> {
    #[serde(rename = "statusCode")]
    status_code: u16,
    #[serde(default, borrow)]
    headers: HeaderList<'a>,
    #[serde(default, borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: Flag,
}

/// `headers` in file order; a value may be a string, an array of strings (one field each, e.g.
/// several `Set-Cookie`), a number or a boolean.
#[derive(Default)]
struct HeaderList<'a>(Vec<(Cow<'a, str>, Vec<Cow<'a, str>>)>);

impl<'de: 'a, 'a> Deserialize<'de> for HeaderList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ListVisitor<'a> {
            type Value = HeaderList<'a>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object of header names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderList::default())
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut list = Vec::new();
                while let Some((name, value)) = map.next_entry::<Cow<'a, str>, HeaderValues<'a>>()? {
                    list.push((name, value.0));
                }
                Ok(HeaderList(list))
            }
        }
        deserializer.deserialize_any(ListVisitor(std::marker::PhantomData))
    }
}

struct HeaderValues<'a>(Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for HeaderValues<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValuesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ValuesVisitor<'a> {
            type Value = HeaderValues<'a>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a header value: string, number, boolean or array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(HeaderValues(vec![Cow::Borrowed(value)]))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(HeaderValues(vec![Cow::Owned(value.to_owned())]))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                Ok(HeaderValues(vec![Cow::Owned(value.to_string())]))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                Ok(HeaderValues(vec![Cow::Owned(value.to_string())]))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
                Ok(HeaderValues(vec![Cow::Owned(value.to_string())]))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
                Ok(HeaderValues(vec![Cow::Borrowed(if value { "true" } else { "false" })]))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut sequence: S) -> Result<Self::Value, S::Error> {
                let mut values = Vec::new();
                while let Some(value) = sequence.next_element::<Cow<'a, str>>()? {
                    values.push(value);
                }
                Ok(HeaderValues(values))
            }
        }
        deserializer.deserialize_any(ValuesVisitor(std::marker::PhantomData))
    }
}

/// `isBase64Encoded`: a boolean, or the strings `"true"`/`"false"` seen in Tencent's examples.
#[derive(Default)]
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("true, false, \"true\" or \"false\"")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Flag, E> {
                Ok(Flag(value))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Flag, E> {
                match value {
                    "true" => Ok(Flag(true)),
                    "false" | "" => Ok(Flag(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(value), &self)),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
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
