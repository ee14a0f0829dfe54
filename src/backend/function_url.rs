//! Function URLs (`[[function]] url`, SCF 函数 URL; `shared/spec/tencent-migration.md` §6): the
//! event a function gets through its own URL, and whether its value is an integrated response.
//!
//! The event is the API Gateway event less `requestContext`, `pathParameters`,
//! `queryStringParameters`, `headerParameters`, `stageVariables` and `isBase64Encoded`:
//! `{"body", "headers", "httpMethod", "path", "queryString"}`, `path` the whole request path and
//! the client's address in the `x-scf-remote-addr` header (a client's copy is dropped). Where
//! Tencent is silent: a body that is not UTF-8 is sent base64-encoded and only then is
//! `"isBase64Encoded": true` added; `queryString` follows the API Gateway event (repeated keys
//! as arrays, `?i` as `true`).
//!
//! The response: a JSON object with a `statusCode` is an integrated response
//! (`{statusCode, headers, body, isBase64Encoded}`); any other JSON value is the body of a 200
//! `application/json` response, as Tencent documents.

use super::event::{write_body, write_client_headers, write_query, EventInput};
use super::json::write_string;
use super::json_scan::Scanner;

/// The header the platform sets; a client's copy is left out.
const REMOTE_ADDR: &[u8] = b"x-scf-remote-addr";

/// Appends the Function URL event for `input` to `out`; `scratch` is reused for percent-decoding.
pub fn write_event(out: &mut Vec<u8>, scratch: &mut Vec<u8>, input: &EventInput<'_>) {
    out.extend_from_slice(b"{\"body\":");
    let base64 = write_body(out, input.body, false);
    out.extend_from_slice(b",\"headers\":{");
    if !write_client_headers(out, input, &[REMOTE_ADDR]) {
        out.push(b',');
    }
    write_string(out, REMOTE_ADDR);
    out.push(b':');
    write_string(out, input.source_ip);
    out.extend_from_slice(b"},\"httpMethod\":");
    write_string(out, input.head.method.of_buffer(input.buffer));
    out.extend_from_slice(b",\"path\":");
    write_string(out, input.path);
    out.extend_from_slice(b",\"queryString\":");
    write_query(out, scratch, input.head.query.of_buffer(input.buffer));
    if base64 {
        out.extend_from_slice(b",\"isBase64Encoded\":true");
    }
    out.push(b'}');
}

/// Whether the function's value is meant as an integrated response: an object with a top-level
/// `statusCode` key. Anything else (or JSON that does not scan) is passed through as the body.
pub fn is_integrated(value: &[u8]) -> bool {
    let mut scanner = Scanner::new(value);
    if scanner.begin_object().is_err() {
        return false;
    }
    let mut first = true;
    while let Ok(Some(key)) = scanner.next_key(first) {
        first = false;
        if key.raw == b"statusCode" {
            return true;
        }
        if scanner.skip_value().is_err() {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrated_only_with_a_top_level_status_code() {
        #[rustfmt::skip]
        let cases: &[(&str, bool)] = &[
            (r#"{"statusCode":200,"body":"x"}"#, true),
            (r#"{"headers":{},"statusCode":404}"#, true),
            (r#"{"statusCode":"bad"}"#, true),                 // meant as one: its errors are the integrated 403
            (r#"{"ok":true}"#, false),
            (r#"{"a":{"statusCode":200}}"#, false),             // nested: not top level
            (r#"{"a":"statusCode"}"#, false),                   // a value, not a key
            (r#"[{"statusCode":200}]"#, false),
            (r#""statusCode""#, false),
            ("42", false),
        ];
        for (value, expected) in cases {
            assert_eq!(is_integrated(value.as_bytes()), *expected, "{value}");
        }
    }
}
