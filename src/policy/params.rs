//! Declared input parameters (`[[service.api.param]]`): a required one that is missing is
//! Tencent's 403 (`header <name> is required.`, `querystring <name> is required.`, `path variable
//! <name> is required.`, spec §2.2); a value that does not parse as the declared type is a 400
//! naming the param and the type. The values found are recorded as [`ParamValue`]s for the event's
//! `headerParameters` / `queryStringParameters`; nothing is copied.
//!
//! Decisions where Tencent is silent: a repeated query key counts by its first value (as nginx's
//! `$arg_name`); a repeated header is checked and sent joined with `,`, as the event's `headers`
//! are; an empty value is present (a `string` accepts it, the other types do not); query keys and
//! values, and path values, are checked percent-decoded.

use crate::config::{Param, ParamPosition, ParamType};
use crate::error::GatewayError;
use crate::http::percent::{decode_into as percent_decode_into, needs_decoding as needs_percent_decoding};
use crate::http::Span;

use super::Request;

/// What the request gave for one declared param.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue {
    /// Nothing: the event gets the param's default, or `""`.
    Absent,
    /// A header; every field with the param's name, joined with `,`.
    Header,
    /// The raw (percent-encoded) value of the key's first occurrence in the query.
    Query(Span),
    /// A `{name}` capture of the path (`pathParameters` already carries it).
    Path,
}

/// Checks every declared param and records its value in `values` (one per param, same order).
/// `scratch` holds decoded values while they are checked.
pub fn check(
    params: &[Param],
    request: &Request<'_>,
    scratch: &mut Vec<u8>,
    values: &mut Vec<ParamValue>,
) -> Result<(), GatewayError> {
    values.clear();
    for param in params {
        let value = match param.position {
            ParamPosition::Header => check_header(param, request, scratch)?,
            ParamPosition::Query => check_query(param, request, scratch)?,
            ParamPosition::Path => check_path(param, request, scratch)?,
        };
        if value == ParamValue::Absent && param.required {
            return Err(missing(param));
        }
        values.push(value);
    }
    Ok(())
}

fn check_header(param: &Param, request: &Request<'_>, scratch: &mut Vec<u8>) -> Result<ParamValue, GatewayError> {
    let mut fields = request.header_values(param.name.as_bytes());
    let Some(first) = fields.next() else {
        return Ok(ParamValue::Absent);
    };
    if param.kind == ParamType::String {
        return Ok(ParamValue::Header);
    }
    let value = match fields.next() {
        None => first,
        Some(second) => {
            // Repeated: checked as the event will carry it. Rare, and `scratch` keeps its capacity.
            scratch.clear();
            scratch.extend_from_slice(first);
            scratch.push(b',');
            scratch.extend_from_slice(second);
            for more in fields {
                scratch.push(b',');
                scratch.extend_from_slice(more);
            }
            &scratch[..]
        }
    };
    if !value_fits(param.kind, value) {
        return Err(invalid(param));
    }
    Ok(ParamValue::Header)
}

fn check_query(param: &Param, request: &Request<'_>, scratch: &mut Vec<u8>) -> Result<ParamValue, GatewayError> {
    let query_span = request.head.query;
    let query = query_span.of_buffer(request.buffer);
    let name = param.name.as_bytes();
    let mut offset = 0;
    for pair in query.split(|&byte| byte == b'&') {
        let pair_start = offset;
        offset += pair.len() + 1;
        if pair.is_empty() {
            continue;
        }
        let (key, value_start) = match memchr::memchr(b'=', pair) {
            Some(equals) => (&pair[..equals], equals + 1),
            None => (pair, pair.len()),
        };
        let matches = if needs_percent_decoding(key, true) {
            percent_decode_into(scratch, key, true);
            scratch.as_slice() == name
        } else {
            key == name
        };
        if !matches {
            continue;
        }
        let value = &pair[value_start..];
        if param.kind != ParamType::String {
            let decoded = if needs_percent_decoding(value, true) {
                percent_decode_into(scratch, value, true);
                &scratch[..]
            } else {
                value
            };
            if !value_fits(param.kind, decoded) {
                return Err(invalid(param));
            }
        }
        let start = query_span.start + (pair_start + value_start) as u32;
        return Ok(ParamValue::Query(Span { start, end: start + value.len() as u32 }));
    }
    Ok(ParamValue::Absent)
}

fn check_path(param: &Param, request: &Request<'_>, scratch: &mut Vec<u8>) -> Result<ParamValue, GatewayError> {
    // A `{name}` always captures one byte or more when its route matched; a missing capture can
    // only mean the API path and its params disagree, which config validation prevents.
    let Some(range) = param.capture.and_then(|index| request.captures.get(index)) else {
        return Ok(ParamValue::Absent);
    };
    let raw = &request.path[range];
    if param.kind != ParamType::String {
        let decoded = if needs_percent_decoding(raw, false) {
            percent_decode_into(scratch, raw, false);
            &scratch[..]
        } else {
            raw
        };
        if !value_fits(param.kind, decoded) {
            return Err(invalid(param));
        }
    }
    Ok(ParamValue::Path)
}

// Errors copy the param's name: a refusal may allocate, a request that passes does not.
fn missing(param: &Param) -> GatewayError {
    GatewayError::ParamMissing { position: param.position.message_word(), name: param.name.as_str().into() }
}

fn invalid(param: &Param) -> GatewayError {
    GatewayError::ParamInvalid {
        position: param.position.message_word(),
        name: param.name.as_str().into(),
        kind: param.kind.as_str(),
    }
}

/// Whether `value` parses as `kind`. Numbers follow Java's `int` (32-bit), `long` (64-bit),
/// `float`/`double` (finite) as Tencent's type names suggest; `boolean` is `true`/`false` in any
/// case; `date` is `YYYY-MM-DD` or an RFC 3339 date-time.
pub fn value_fits(kind: ParamType, value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return kind == ParamType::String;
    };
    match kind {
        ParamType::String => true,
        ParamType::Int => text.parse::<i32>().is_ok(),
        ParamType::Long => text.parse::<i64>().is_ok(),
        ParamType::Float => is_decimal(text) && text.parse::<f32>().is_ok_and(f32::is_finite),
        ParamType::Double => is_decimal(text) && text.parse::<f64>().is_ok_and(f64::is_finite),
        ParamType::Boolean => text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false"),
        ParamType::Date => is_date(value),
    }
}

/// Digits, sign, point and exponent only: Rust's float parser also takes `inf` and `NaN`.
fn is_decimal(text: &str) -> bool {
    text.bytes().any(|byte| byte.is_ascii_digit())
        && text.bytes().all(|byte| byte.is_ascii_digit() || matches!(byte, b'+' | b'-' | b'.' | b'e' | b'E'))
}

/// `YYYY-MM-DD`, optionally followed by `T` (or a space) and `HH:MM:SS[.fraction](Z|±HH:MM)`
/// (RFC 3339 §5.6).
fn is_date(value: &[u8]) -> bool {
    if value.len() < 10 || value[4] != b'-' || value[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(&value[0..4]), digits(&value[5..7]), digits(&value[8..10]))
    else {
        return false;
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    match value.get(10) {
        None => true,
        Some(b'T' | b't' | b' ') => is_time(&value[11..]),
        Some(_) => false,
    }
}

fn is_time(value: &[u8]) -> bool {
    if value.len() < 9 || value[2] != b':' || value[5] != b':' {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) = (digits(&value[0..2]), digits(&value[3..5]), digits(&value[6..8]))
    else {
        return false;
    };
    if hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = &value[8..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let count = fraction.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if count == 0 {
            return false;
        }
        rest = &fraction[count..];
    }
    match rest {
        b"Z" | b"z" => true,
        [b'+' | b'-', offset @ ..] if offset.len() == 5 && offset[2] == b':' => {
            matches!((digits(&offset[0..2]), digits(&offset[3..5])), (Some(hours), Some(minutes)) if hours <= 23 && minutes <= 59)
        }
        _ => false,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |total, &byte| byte.is_ascii_digit().then(|| total * 10 + u32::from(byte - b'0')))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, RequestHead};
    use crate::route::{ApiIndex, ApiMethod, ApiPath, PathKind, PathParams, RouteSpec, RouteTable};

    #[test]
    fn values_by_type() {
        use ParamType::*;
        #[rustfmt::skip]
        let cases: &[(ParamType, &str, bool)] = &[
            (String, "", true),
            (String, "anything at all", true),
            (Int, "42", true),
            (Int, "-2147483648", true),
            (Int, "2147483648", false),          // past i32 (Java int)
            (Int, "4.0", false),
            (Int, "", false),
            (Int, "abc", false),
            (Long, "9223372036854775807", true),
            (Long, "9223372036854775808", false),
            (Float, "1.5", true),
            (Float, "-2e3", true),
            (Float, "1e39", false),              // overflows f32
            (Float, "inf", false),
            (Double, "NaN", false),
            (Double, "1e308", true),
            (Double, ".5", true),
            (Double, "1,5", false),
            (Boolean, "true", true),
            (Boolean, "FALSE", true),
            (Boolean, "1", false),
            (Boolean, "yes", false),
            (Date, "2024-02-29", true),          // leap year
            (Date, "2023-02-29", false),
            (Date, "1900-02-29", false),         // not a leap year
            (Date, "2000-02-29", true),
            (Date, "2024-13-01", false),
            (Date, "2024-04-31", false),
            (Date, "2024-5-1", false),
            (Date, "2024-05-01T08:00:00Z", true),
            (Date, "2024-05-01t08:00:00.123+08:00", true),
            (Date, "2024-05-01 23:59:60-05:30", true),
            (Date, "2024-05-01T24:00:00Z", false),
            (Date, "2024-05-01T08:00:00", false), // RFC 3339 needs an offset
            (Date, "2024-05-01T08:00:00.Z", false),
            (Date, "20240501", false),
        ];
        for (kind, value, expected) in cases {
            assert_eq!(value_fits(*kind, value.as_bytes()), *expected, "{} {value:?}", kind.as_str());
        }
    }

    fn param(name: &str, position: ParamPosition, kind: ParamType, required: bool) -> Param {
        let capture = (position == ParamPosition::Path).then_some(0);
        Param { name: name.into(), position, kind, required, default: None, desc: None, sample: None, capture }
    }

    /// Checks one declared param against a request whose API path is `/item/{id}` (capture 0 =
    /// everything after `/item/`).
    fn run(declared: Param, raw: &str) -> Result<Option<String>, GatewayError> {
        let raw = &crate::policy::with_host(raw);
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let buffer = raw.as_bytes();
        let full_path = head.path.of_buffer(buffer);
        let path = &full_path[b"/release".len()..];
        // `/item/{id}` captures what follows `/item/`; plain `/item` catches the rest uncaptured.
        let item = ApiPath { kind: PathKind::Param, path: "/item/{id}".into(), params: vec!["id".into()] };
        let fallback = ApiPath { kind: PathKind::Prefix, path: "/item".into(), params: vec![] };
        let table = RouteTable::build(&[
            RouteSpec { api: ApiIndex::new(0), path: &item, method: ApiMethod::Any },
            RouteSpec { api: ApiIndex::new(1), path: &fallback, method: ApiMethod::Any },
        ])
        .unwrap();
        let mut captures = PathParams::default();
        table.lookup(b"GET", path, &mut captures);
        let request = Request { buffer, head: &head, path, captures: &captures, https: false };
        let mut values = Vec::new();
        check(std::slice::from_ref(&declared), &request, &mut Vec::new(), &mut values)?;
        Ok(match values[0] {
            ParamValue::Absent => None,
            ParamValue::Header => Some(
                request
                    .header_values(declared.name.as_bytes())
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ParamValue::Query(span) => Some(String::from_utf8_lossy(span.of_buffer(buffer)).into_owned()),
            ParamValue::Path => Some("<path>".into()),
        })
    }

    #[test]
    fn required_missing_and_invalid() {
        use ParamPosition::*;
        use ParamType::*;
        let missing = |position: ParamPosition, name: &str| {
            Err(GatewayError::ParamMissing { position: position.message_word(), name: name.into() })
        };
        let invalid = |position: ParamPosition, name: &str, kind: ParamType| {
            Err(GatewayError::ParamInvalid {
                position: position.message_word(),
                name: name.into(),
                kind: kind.as_str(),
            })
        };
        let found = |text: &str| Ok(Some(text.to_string()));
        type Case<'a> = (Param, &'a str, Result<Option<std::string::String>, GatewayError>);
        #[rustfmt::skip]
        let cases: Vec<Case<'_>> = vec![
            // spec §2.2: missing required params are 403 with Tencent's words.
            (param("X-Token", Header, String, true), "GET /release/item HTTP/1.1\r\nHost: h\r\n\r\n", missing(Header, "X-Token")),
            (param("page", Query, Int, true), "GET /release/item?size=1 HTTP/1.1\r\nHost: h\r\n\r\n", missing(Query, "page")),
            (param("id", Path, Int, true), "GET /release/item/ HTTP/1.1\r\nHost: h\r\n\r\n", missing(Path, "id")),
            // Present values, by position.
            (param("x-token", Header, String, true), "GET /release/item HTTP/1.1\r\nX-TOKEN: abc\r\n\r\n", found("abc")),
            (param("x-n", Header, Int, false), "GET /release/item HTTP/1.1\r\nX-N: 1\r\nx-n: 2\r\n\r\n", invalid(Header, "x-n", Int)),
            (param("x-n", Header, String, false), "GET /release/item HTTP/1.1\r\nX-N: 1\r\nx-n: 2\r\n\r\n", found("1,2")),
            (param("page", Query, Int, true), "GET /release/item?page=7&page=x HTTP/1.1\r\n\r\n", found("7")),
            (param("page", Query, Int, true), "GET /release/item?page=x&page=7 HTTP/1.1\r\n\r\n", invalid(Query, "page", Int)),
            (param("page", Query, Int, false), "GET /release/item?page= HTTP/1.1\r\n\r\n", invalid(Query, "page", Int)),
            (param("q", Query, String, true), "GET /release/item?q HTTP/1.1\r\n\r\n", found("")),
            (param("a b", Query, Double, true), "GET /release/item?a+b=%2D1.5 HTTP/1.1\r\n\r\n", found("%2D1.5")),
            (param("when", Query, Date, false), "GET /release/item?when=2024-01-01T00:00:00%2B08:00 HTTP/1.1\r\n\r\n", found("2024-01-01T00:00:00%2B08:00")),
            (param("flag", Query, Boolean, false), "GET /release/item?x=1 HTTP/1.1\r\n\r\n", Ok(None)),
            (param("id", Path, Long, true), "GET /release/item/12 HTTP/1.1\r\n\r\n", found("<path>")),
            (param("id", Path, Long, true), "GET /release/item/1%32 HTTP/1.1\r\n\r\n", found("<path>")),
            (param("id", Path, Long, true), "GET /release/item/a HTTP/1.1\r\n\r\n", invalid(Path, "id", Long)),
        ];
        for (declared, raw, expected) in cases {
            let label = format!("{:?} {} on {raw:?}", declared.position, declared.name);
            assert_eq!(run(declared, raw), expected, "{label}");
        }
    }
}
