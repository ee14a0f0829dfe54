//! The SCF API Gateway trigger event, written straight into a reused buffer: no intermediate
//! structs, no per-request allocation on the common path.
//!
//! Shape (Tencent's docs, `shared/spec/tencent-apigw-scf.md` §6.2): `requestContext` {serviceId,
//! path (the API's declared path), httpMethod (the API's method, `ANY` included), requestId,
//! identity, sourceIp, stage}, `headers` (names lower-cased), `body`, `pathParameters`,
//! `queryStringParameters`, `headerParameters`, `stageVariables`, `path` (without the stage),
//! `queryString`, `httpMethod` (the real one), `isBase64Encoded`.
//!
//! As captured events show it (`shared/spec/tencent-migration.md` §8, the Go library's fixtures):
//! a query key without `=` is `true` in `queryString` (`?i` gives `"i": true`, `?i=` gives
//! `"i": ""`); the gateway's headers include `endpoint-timeout` (the API's backend timeout in
//! seconds) and `x-qualifier` (the qualifier the API names: the alias that served, e.g.
//! `$DEFAULT`, even where it resolves to `$LATEST`).
//!
//! Decisions where Tencent is silent: a repeated query key becomes an array of its values in
//! `queryString`; repeated header fields are joined with `,` (RFC 9110 §5.3); a body that is not
//! UTF-8 is sent base64-encoded with `isBase64Encoded: true`.

use base64::Engine;

use super::json::{write_string, write_string_contents};
use crate::config::{Param, ParamPosition};
use crate::http::percent::{decode_into as percent_decode_into, needs_decoding as needs_percent_decoding};
use crate::http::RequestHead;
use crate::policy::params::ParamValue;
use crate::route::PathParams;

/// Headers the gateway sets itself in the event; a client's copy is dropped so it cannot spoof them.
const GATEWAY_HEADERS: [&[u8]; 7] = [
    b"x-api-requestid",
    b"x-b3-traceid",
    b"x-qualifier",
    b"x-api-scheme",
    b"requestsource",
    b"endpoint-timeout",
    b"x-anonymous-consumer",
];

/// Everything the event is made from. Byte slices point into the connection's buffers.
pub struct EventInput<'a> {
    /// `requestContext.serviceId`.
    pub service_id: &'a str,
    /// `requestContext.path`: the API's path as declared (without `=`/`^~`).
    pub api_path: &'a str,
    /// `requestContext.httpMethod`: the API's method.
    pub api_method: &'a str,
    /// The qualifier the API names (`$LATEST` unless given; `$DEFAULT` stays `$DEFAULT` though
    /// it serves the `$LATEST` function), sent as the `x-qualifier` header as Tencent does.
    pub qualifier: &'a str,
    /// The API's backend timeout in whole seconds, sent as the `endpoint-timeout` header.
    pub endpoint_timeout: u64,
    /// `requestContext.requestId`.
    pub request_id: &'a [u8],
    /// The `x-b3-traceid` header: the client's trace id (`crate::http::trace`), else the
    /// request id.
    pub trace_id: &'a [u8],
    /// `requestContext.sourceIp`.
    pub source_ip: &'a [u8],
    /// `requestContext.stage`.
    pub stage: &'a str,
    /// The buffer the head's spans point into.
    pub buffer: &'a [u8],
    /// The parsed request head.
    pub head: &'a RequestHead,
    /// The decoded request body.
    pub body: &'a [u8],
    /// Send the body base64-encoded even when it is UTF-8 (the API's Base64 setting matched).
    pub base64_body: bool,
    /// `path`: the request path without the stage prefix.
    pub path: &'a [u8],
    /// Names of the API's `{param}`s, in order.
    pub param_names: &'a [String],
    /// Their values, as ranges into `path`.
    pub params: &'a PathParams,
    /// `stageVariables`.
    pub stage_variables: &'a [(String, String)],
    /// `x-api-scheme`: `http` or `https`.
    pub scheme: &'a str,
}

/// `requestContext.identity`: who the frontend policies say the caller is (spec §3.1: `{"secretId":
/// ...}` for key pairs, `{}` otherwise; for OAuth, the verified JWT's claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// `auth = "none"`: `{}`, and the `x-anonymous-consumer: true` header.
    Anonymous,
    /// A key pair's SecretId.
    SecretId(&'a [u8]),
    /// A verified JWT's claims: a JSON object, written as it is.
    Claims(&'a [u8]),
}

/// What the API's frontend policies (`crate::policy`) add to the event.
#[derive(Debug, Clone, Copy)]
pub struct PolicyFields<'a> {
    /// `requestContext.identity`.
    pub identity: Identity<'a>,
    /// The API's declared params.
    pub params: &'a [Param],
    /// What the request gave for each of `params` (same order), from `crate::policy::params`.
    pub values: &'a [ParamValue],
}

impl PolicyFields<'static> {
    /// An API with no policies: anonymous, no declared params.
    pub const NONE: PolicyFields<'static> = PolicyFields { identity: Identity::Anonymous, params: &[], values: &[] };
}

/// Appends the event JSON to `out`, for an API with no frontend policies. `scratch` is a reused
/// buffer for percent-decoding.
pub fn write_event(out: &mut Vec<u8>, scratch: &mut Vec<u8>, input: &EventInput<'_>) {
    write_event_with(out, scratch, input, &PolicyFields::NONE);
}

/// Appends the event JSON to `out`, with what the API's policies found: the identity and the
/// declared `queryStringParameters` / `headerParameters`.
pub fn write_event_with(out: &mut Vec<u8>, scratch: &mut Vec<u8>, input: &EventInput<'_>, policy: &PolicyFields<'_>) {
    out.extend_from_slice(b"{\"requestContext\":{\"serviceId\":");
    write_string(out, input.service_id.as_bytes());
    out.extend_from_slice(b",\"path\":");
    write_string(out, input.api_path.as_bytes());
    out.extend_from_slice(b",\"httpMethod\":");
    write_string(out, input.api_method.as_bytes());
    out.extend_from_slice(b",\"requestId\":");
    write_string(out, input.request_id);
    out.extend_from_slice(b",\"identity\":");
    match policy.identity {
        Identity::Anonymous => out.extend_from_slice(b"{}"),
        Identity::SecretId(id) => {
            out.extend_from_slice(b"{\"secretId\":");
            write_string(out, id);
            out.push(b'}');
        }
        // Parsed as a JSON object by the OAuth check: valid JSON, written as it is.
        Identity::Claims(claims) => out.extend_from_slice(claims),
    }
    out.extend_from_slice(b",\"sourceIp\":");
    write_string(out, input.source_ip);
    out.extend_from_slice(b",\"stage\":");
    write_string(out, input.stage.as_bytes());
    out.extend_from_slice(b"},\"headers\":");
    write_headers(out, input, policy.identity == Identity::Anonymous);
    out.extend_from_slice(b",\"body\":");
    let base64_encoded = write_body(out, input.body, input.base64_body);
    out.extend_from_slice(b",\"pathParameters\":{");
    for (index, (name, range)) in input.param_names.iter().zip(input.params.iter()).enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, name.as_bytes());
        out.push(b':');
        write_decoded_string(out, scratch, &input.path[range], false);
    }
    out.extend_from_slice(b"},\"queryStringParameters\":");
    write_declared(out, scratch, input, policy, ParamPosition::Query);
    out.extend_from_slice(b",\"headerParameters\":");
    write_declared(out, scratch, input, policy, ParamPosition::Header);
    out.extend_from_slice(b",\"stageVariables\":{");
    for (index, (name, value)) in input.stage_variables.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, name.as_bytes());
        out.push(b':');
        write_string(out, value.as_bytes());
    }
    out.extend_from_slice(b"},\"path\":");
    write_string(out, input.path);
    out.extend_from_slice(b",\"queryString\":");
    write_query(out, scratch, input.head.query.of_buffer(input.buffer));
    out.extend_from_slice(b",\"httpMethod\":");
    write_string(out, input.head.method.of_buffer(input.buffer));
    out.extend_from_slice(if base64_encoded { b",\"isBase64Encoded\":true}" } else { b",\"isBase64Encoded\":false}" });
}

/// `queryStringParameters` or `headerParameters`: the declared params of that position only,
/// absent ones as their default or `""` (spec §2.1).
fn write_declared(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    input: &EventInput<'_>,
    policy: &PolicyFields<'_>,
    position: ParamPosition,
) {
    out.push(b'{');
    let mut first = true;
    for (param, value) in policy.params.iter().zip(policy.values) {
        if param.position != position {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_string(out, param.name.as_bytes());
        out.push(b':');
        match *value {
            ParamValue::Query(span) => write_decoded_string(out, scratch, span.of_buffer(input.buffer), true),
            ParamValue::Header => {
                out.push(b'"');
                let name = param.name.as_bytes();
                let fields = input
                    .head
                    .headers
                    .iter()
                    .filter(|field| field.name.of_buffer(input.buffer).eq_ignore_ascii_case(name));
                for (index, field) in fields.enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write_string_contents(out, field.value.of_buffer(input.buffer));
                }
                out.push(b'"');
            }
            ParamValue::Absent | ParamValue::Path => {
                write_string(out, param.default.as_deref().unwrap_or("").as_bytes())
            }
        }
    }
    out.push(b'}');
}

fn write_headers(out: &mut Vec<u8>, input: &EventInput<'_>, anonymous: bool) {
    out.push(b'{');
    let first = write_client_headers(out, input, &GATEWAY_HEADERS);
    write_gateway_headers(out, input, anonymous, first);
}

/// Writes the request's header fields as members of the `headers` object (names lower-cased,
/// repeated fields joined), leaving out those named in `reserved`; returns whether it wrote none.
pub(super) fn write_client_headers(out: &mut Vec<u8>, input: &EventInput<'_>, reserved: &[&[u8]]) -> bool {
    let buffer = input.buffer;
    // The parser yields at most MAX_HEADERS fields; the clamp keeps the hash table in bounds.
    let headers = &input.head.headers[..input.head.headers.len().min(crate::http::parse::MAX_HEADERS)];
    let mut first = true;
    // Repeated fields are found by comparing names pairwise; a case-insensitive hash of each name,
    // computed once, makes that pass compare integers (100 fields: 72.6 us before, see PERF.md).
    let mut name_hashes = [0u64; crate::http::parse::MAX_HEADERS];
    for (slot, header) in name_hashes.iter_mut().zip(headers) {
        *slot = name_hash(header.name.of_buffer(buffer));
    }
    let same_name = |left: usize, right: usize| {
        name_hashes[left] == name_hashes[right]
            && headers[left].name.of_buffer(buffer).eq_ignore_ascii_case(headers[right].name.of_buffer(buffer))
    };
    for (index, header) in headers.iter().enumerate() {
        let name = header.name.of_buffer(buffer);
        if reserved.iter().any(|reserved| name.eq_ignore_ascii_case(reserved)) {
            continue;
        }
        // A repeated field was already written, joined, where it first appeared.
        if (0..index).any(|earlier| same_name(earlier, index)) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        let name_start = out.len();
        write_string_contents(out, name);
        out[name_start..].make_ascii_lowercase();
        out.extend_from_slice(b"\":\"");
        // RFC 9112 §3.2.2: an absolute-form target's authority replaces `Host` (it is what the
        // request was routed by).
        if let Some(authority) = input.head.target_authority.filter(|_| name.eq_ignore_ascii_case(b"host")) {
            write_string_contents(out, authority.of_buffer(buffer));
            out.push(b'"');
            continue;
        }
        write_string_contents(out, header.value.of_buffer(buffer));
        for (later_index, later) in headers.iter().enumerate().skip(index + 1) {
            if same_name(index, later_index) {
                out.push(b',');
                write_string_contents(out, later.value.of_buffer(buffer));
            }
        }
        out.push(b'"');
    }
    if let Some(authority) = input.head.target_authority.filter(|_| input.head.host.is_none()) {
        // HTTP/1.0 may send an absolute-form target without `Host`: the function sees it as one.
        if !first {
            out.push(b',');
        }
        first = false;
        write_string(out, b"host");
        out.push(b':');
        write_string(out, authority.of_buffer(buffer));
    }
    first
}

/// The `headers` object's remainder: the gateway's own headers, and the closing brace.
fn write_gateway_headers(out: &mut Vec<u8>, input: &EventInput<'_>, anonymous: bool, mut first: bool) {
    let mut digits = crate::http::response::itoa_buffer();
    let gateway_headers: [(&[u8], &[u8]); 7] = [
        (b"x-api-requestid", input.request_id),
        (b"x-b3-traceid", input.trace_id),
        (b"x-qualifier", input.qualifier.as_bytes()),
        (b"x-api-scheme", input.scheme.as_bytes()),
        (b"requestsource", b"APIGW"),
        (b"endpoint-timeout", crate::http::response::format_u64(input.endpoint_timeout, &mut digits)),
        (b"x-anonymous-consumer", b"true"),
    ];
    // Tencent sends `x-anonymous-consumer` only when the API needs no authentication.
    let count = if anonymous { gateway_headers.len() } else { gateway_headers.len() - 1 };
    for (name, value) in gateway_headers.into_iter().take(count) {
        if !first {
            out.push(b',');
        }
        first = false;
        write_string(out, name);
        out.push(b':');
        write_string(out, value);
    }
    out.push(b'}');
}

/// FNV-1a over the ASCII-lower-cased name: equal for names that compare equal ignoring case.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Writes the body as a JSON string; returns whether it had to be base64-encoded.
pub(super) fn write_body(out: &mut Vec<u8>, body: &[u8], base64: bool) -> bool {
    if !base64 && std::str::from_utf8(body).is_ok() {
        write_string(out, body);
        return false;
    }
    out.push(b'"');
    let start = out.len();
    let encoded_length = base64::encoded_len(body.len(), true).unwrap_or(0);
    out.resize(start + encoded_length, 0);
    let written = base64::engine::general_purpose::STANDARD.encode_slice(body, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
    true
}

fn write_decoded_string(out: &mut Vec<u8>, scratch: &mut Vec<u8>, raw: &[u8], plus_as_space: bool) {
    if needs_percent_decoding(raw, plus_as_space) {
        percent_decode_into(scratch, raw, plus_as_space);
        write_string(out, scratch);
    } else {
        write_string(out, raw);
    }
}

/// A query pair: the key and the value, `None` for a key written without `=` (`?i`).
type QueryPair<'a> = (&'a [u8], Option<&'a [u8]>);

/// `queryString`: every parameter, percent-decoded; a repeated key becomes an array.
pub(super) fn write_query(out: &mut Vec<u8>, scratch: &mut Vec<u8>, query: &[u8]) {
    const INLINE_PAIRS: usize = 16;
    let pairs = || query.split(|&byte| byte == b'&').filter(|pair| !pair.is_empty()).map(split_pair);
    let count = pairs().count();
    if count <= INLINE_PAIRS {
        // Ordinary queries: spans on the stack, repeats found by comparing keys pairwise (at most
        // 120 short comparisons).
        let mut spans: [QueryPair<'_>; INLINE_PAIRS] = [(&[], None); INLINE_PAIRS];
        for (slot, pair) in spans.iter_mut().zip(pairs()) {
            *slot = pair;
        }
        let spans = &spans[..count];
        let mut next_same = [NO_REPEAT; INLINE_PAIRS];
        let mut repeated = [false; INLINE_PAIRS];
        for index in 0..count {
            if repeated[index] {
                continue;
            }
            let mut previous = index;
            for later in index + 1..count {
                if spans[later].0 == spans[index].0 {
                    next_same[previous] = later as u32;
                    repeated[later] = true;
                    previous = later;
                }
            }
        }
        write_query_pairs(out, scratch, spans, &next_same[..count], &repeated[..count]);
    } else {
        // Thousands of pairs fit in a head: comparing them pairwise would make one request cost
        // 26 ms of CPU per request (1,500 pairs; 91 us this way). These buffers are the only
        // allocations of an event, and only for queries past 16 pairs.
        let spans: Vec<QueryPair<'_>> = pairs().collect();
        let mut next_same = vec![NO_REPEAT; count];
        let mut repeated = vec![false; count];
        let mut last_of_key: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::with_capacity(count);
        for (index, (key, _)) in spans.iter().enumerate() {
            if let Some(previous) = last_of_key.insert(key, index) {
                next_same[previous] = index as u32;
                repeated[index] = true;
            }
        }
        write_query_pairs(out, scratch, &spans, &next_same, &repeated);
    }
}

/// No later pair has this pair's key.
const NO_REPEAT: u32 = u32::MAX;

/// Writes `queryString` from the pairs, each key at its first appearance: `next_same[i]` is the
/// next pair with pair `i`'s key, and `repeated[i]` says pair `i`'s key appeared before it.
fn write_query_pairs(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    pairs: &[QueryPair<'_>],
    next_same: &[u32],
    repeated: &[bool],
) {
    out.push(b'{');
    let mut first = true;
    for (index, &(key, value)) in pairs.iter().enumerate() {
        if repeated[index] {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_decoded_string(out, scratch, key, true);
        out.push(b':');
        if next_same[index] == NO_REPEAT {
            write_query_value(out, scratch, value);
            continue;
        }
        out.push(b'[');
        let mut current = index;
        loop {
            write_query_value(out, scratch, pairs[current].1);
            let next = next_same[current];
            if next == NO_REPEAT {
                break;
            }
            out.push(b',');
            current = next as usize;
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// A value as a JSON string, or `true` for a key that had no `=` (as Tencent's events show it).
fn write_query_value(out: &mut Vec<u8>, scratch: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => write_decoded_string(out, scratch, value, true),
        None => out.extend_from_slice(b"true"),
    }
}

fn split_pair(pair: &[u8]) -> QueryPair<'_> {
    match memchr::memchr(b'=', pair) {
        Some(equals) => (&pair[..equals], Some(&pair[equals + 1..])),
        None => (pair, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;
    use serde_json::{json, Value};

    fn event_for(raw: &[u8], body: &[u8], path: &[u8]) -> Value {
        event_with(raw, body, path, &PolicyFields::NONE)
    }

    fn event_with(raw: &[u8], body: &[u8], path: &[u8], policy: &PolicyFields<'_>) -> Value {
        event_encoded(raw, body, path, policy, false)
    }

    fn event_encoded(raw: &[u8], body: &[u8], path: &[u8], policy: &PolicyFields<'_>, base64_body: bool) -> Value {
        let mut head = RequestHead::default();
        parse_request(raw, &mut head).unwrap();
        let params = PathParams::default();
        let variables = vec![("greeting".to_string(), "hi".to_string())];
        let input = EventInput {
            service_id: "service-abc",
            api_path: "/echo",
            api_method: "ANY",
            qualifier: "$LATEST",
            endpoint_timeout: 15,
            request_id: b"req-1",
            trace_id: b"req-1",
            source_ip: b"127.0.0.1",
            stage: "release",
            buffer: raw,
            head: &head,
            body,
            base64_body,
            path,
            param_names: &[],
            params: &params,
            stage_variables: &variables,
            scheme: "http",
        };
        let mut out = Vec::new();
        write_event_with(&mut out, &mut Vec::new(), &input, policy);
        serde_json::from_slice(&out).unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn policy_fields() {
        use crate::config::ParamType;
        use crate::http::Span;
        let raw = b"GET /release/echo?page=2&q=a%20b HTTP/1.1\r\nHost: h\r\nX-Token: t1\r\nx-token: t2\r\nX-Anonymous-Consumer: spoofed\r\n\r\n";
        let param = |name: &str, position, default: Option<&str>| Param {
            name: name.into(),
            position,
            kind: ParamType::String,
            required: false,
            default: default.map(str::to_owned),
            desc: None,
            sample: None,
            capture: None,
        };
        let params = [
            param("q", ParamPosition::Query, None),
            param("X-Token", ParamPosition::Header, None),
            param("lang", ParamPosition::Query, Some("en")),
            param("X-Trace", ParamPosition::Header, None),
        ];
        let start = raw.windows(5).position(|window| window == b"a%20b").unwrap() as u32;
        let q_value = Span { start, end: start + 5 };
        let values = [ParamValue::Query(q_value), ParamValue::Header, ParamValue::Absent, ParamValue::Absent];
        #[rustfmt::skip]
        let cases: &[(Identity<'_>, Value, bool)] = &[
            (Identity::Anonymous, json!({}), true),
            (Identity::SecretId(b"AKIDgold"), json!({"secretId": "AKIDgold"}), false),
            (Identity::Claims(br#"{"sub":"alice","exp":1}"#), json!({"sub": "alice", "exp": 1}), false),
        ];
        for (identity, expected, anonymous) in cases {
            let policy = PolicyFields { identity: *identity, params: &params, values: &values };
            let event = event_with(raw, b"", b"/echo", &policy);
            assert_eq!(event["requestContext"]["identity"], *expected);
            assert_eq!(event["queryStringParameters"], json!({"q": "a b", "lang": "en"}));
            assert_eq!(event["headerParameters"], json!({"X-Token": "t1,t2", "X-Trace": ""}));
            // spec §3: `x-anonymous-consumer` only when the API needs no authentication; a
            // client's copy never passes.
            assert_eq!(event["headers"].get("x-anonymous-consumer").is_some(), *anonymous, "{identity:?}");
        }
    }

    #[test]
    fn query_repeats_group_the_same_below_and_above_the_inline_pair_count() {
        for pair_count in [1usize, 10, 16, 17, 500] {
            // Keys k0..k6 repeat; every third pair has a key of its own.
            let pairs: Vec<(String, String)> = (0..pair_count)
                .map(|index| {
                    (if index % 3 == 0 { format!("u{index}") } else { format!("k{}", index % 7) }, format!("v{index}"))
                })
                .collect();
            let query = pairs.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join("&");
            let mut expected = serde_json::Map::new();
            for (key, _) in &pairs {
                let values: Vec<&String> =
                    pairs.iter().filter(|(other, _)| other == key).map(|(_, value)| value).collect();
                let value = if values.len() == 1 { json!(values[0]) } else { json!(values) };
                expected.insert(key.clone(), value);
            }
            let raw = format!("GET /release/echo?{query} HTTP/1.1\r\nHost: h\r\n\r\n");
            let event = event_for(raw.as_bytes(), b"", b"/echo");
            assert_eq!(event["queryString"], Value::Object(expected), "{pair_count} pairs");
        }
    }

    #[test]
    fn event_has_tencent_fields() {
        let raw = b"POST /release/echo?a=1&b=x%20y&a=2&flag HTTP/1.1\r\nHost: h\r\nX-Custom: One\r\nx-custom: two\r\nX-Api-RequestId: spoofed\r\n\r\n";
        let event = event_for(raw, b"{\"k\":1}", b"/echo");
        assert_eq!(
            event["requestContext"],
            json!({"serviceId":"service-abc","path":"/echo","httpMethod":"ANY","requestId":"req-1","identity":{},"sourceIp":"127.0.0.1","stage":"release"})
        );
        assert_eq!(event["headers"]["x-custom"], "One,two");
        assert_eq!(event["headers"]["host"], "h");
        assert_eq!(event["headers"]["x-api-requestid"], "req-1");
        assert_eq!(event["body"], "{\"k\":1}");
        assert_eq!(event["isBase64Encoded"], false);
        assert_eq!(event["queryString"], json!({"a":["1","2"],"b":"x y","flag":true}));
        assert_eq!(event["headers"]["endpoint-timeout"], "15");
        assert_eq!(event["path"], "/echo");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["stageVariables"], json!({"greeting":"hi"}));
        assert_eq!(event["pathParameters"], json!({}));
    }

    #[test]
    fn binary_body_is_base64() {
        let raw = b"POST /release/echo HTTP/1.1\r\nHost: h\r\n\r\n";
        let event = event_for(raw, &[0xff, 0x00, 0x41], b"/echo");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wBB");
    }

    #[test]
    fn base64_setting_encodes_a_utf8_body_too() {
        let raw = b"POST /release/echo HTTP/1.1\r\nHost: x\r\nContent-Type: image/svg+xml\r\n\r\n";
        let event = event_encoded(raw, b"<svg/>", b"/echo", &PolicyFields::NONE, true);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "PHN2Zy8+");
        let event = event_encoded(raw, b"", b"/echo", &PolicyFields::NONE, true);
        assert_eq!((event["isBase64Encoded"].clone(), event["body"].clone()), (Value::Bool(true), Value::from("")));
    }
}
