//! Reading a function's reply three ways, into the same client response:
//!
//! - `json_scan`: what scfgate does, through the public functions the request path calls
//!   (`backend::integration::write_integrated` and `write_passthrough`, built on
//!   `backend::json_scan`);
//! - `serde_json`: `#[derive(Deserialize)]` into a borrowed `Reply<'_>` (strings borrowed from the
//!   reply when they have no escapes, owned when they do), then the same mapping;
//! - `simd_json`: the same `Reply<'_>` through `simd_json::serde::from_slice_with_buffers`, which
//!   rewrites its input (strings are unescaped in place): the reply buffer is reused for the next
//!   request, so each call first copies the reply into a reused scratch buffer, and that copy is
//!   timed with it. Its `Buffers` are reused too.
//!
//! Before measuring, every reply below and a set of edge cases go through all three, which must
//! give byte-identical responses (or the same error), except that simd-json refuses a lone
//! surrogate escape in a pass-through value (`SIMD_REFUSES_LONE_SURROGATE`). Known differences,
//! left out of that check: a key given twice (json_scan keeps the last, serde's derive refuses the reply) and a
//! non-integer number as a header value (json_scan copies its text, serde reads an `f64`).
//!
//! A counting allocator around mimalloc (the binary's allocator) reports the heap allocations per
//! call of each variant before the timings.

use std::alloc::{GlobalAlloc, Layout};
use std::borrow::Cow;
use std::fmt;
use std::hint::black_box;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use scfgate::backend::integration::{write_integrated, write_passthrough, ResponseFraming};
use scfgate::error::GatewayError;
use scfgate::http::response;

mod common;
use common::ThreadTime;

// ---------------------------------------------------------------------------------------------
// Allocation count

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to mimalloc; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { mimalloc::MiMalloc.realloc(pointer, layout, new_size) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { mimalloc::MiMalloc.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// The replies

const FRAMING: ResponseFraming<'static> =
    ResponseFraming { request_id: b"3f2b9c1e-6d1f-4c55-9a1e-0b7f5d2a8c41", close: false, head_only: false };

/// The smallest real integrated reply: a JSON body of one field.
const SMALL: &str =
    r#"{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"ok\":1}","isBase64Encoded":false}"#;

/// A JSON array of `count` orders, as a Node.js or Python function serialises its body.
fn json_body(count: usize) -> String {
    let orders: Vec<serde_json::Value> = (0..count)
        .map(|index| {
            serde_json::json!({
                "id": format!("ord-{index:06}"),
                "customer": format!("customer-{}", index * 7 % 1000),
                "total": (index * 1301 % 100_000) as f64 / 100.0,
                "paid": index % 3 != 0,
                "items": [{"sku": format!("SKU-{}", index % 97), "qty": index % 5 + 1}],
            })
        })
        .collect();
    serde_json::to_string(&orders).unwrap()
}

/// JSON string contents as Python's `json.dumps` writes them (`ensure_ascii`): `\"`, `\\`, `\n`
/// and every non-ASCII character as `\uXXXX` (surrogate pairs above the BMP).
fn escape_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(character),
            _ => {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// An integrated reply in the order functions write it, with `body` (raw text, escaped here).
fn integrated(headers: &str, body: &str) -> String {
    format!(r#"{{"statusCode":200,"headers":{headers},"body":"{}","isBase64Encoded":false}}"#, escape_ascii(body))
}

const JSON_HEADERS: &str =
    r#"{"content-type":"application/json; charset=utf-8","cache-control":"no-store","x-trace-id":"7c1e4a90b2d35f68"}"#;

/// About 4 KB of French text with quotes, newlines and backslashes: as `json.dumps` writes it,
/// nearly one byte in five of the body is part of an escape.
fn escaped_text() -> String {
    let line = "Le caf\u{e9} \"cr\u{e8}me br\u{fb}l\u{e9}e\" co\u{fb}te 4,50 \u{20ac} \u{e0} C:\\menu\\desserts\n";
    line.repeat(4096 / line.len() + 1)
}

fn replies() -> Vec<(&'static str, String)> {
    let replies = vec![
        ("small", SMALL.to_string()),
        ("1k_json", integrated(JSON_HEADERS, &json_body(7))),
        ("64k_json", integrated(JSON_HEADERS, &json_body(470))),
        ("4k_escapes", integrated(r#"{"content-type":"text/plain; charset=utf-8"}"#, &escaped_text())),
    ];
    for (name, reply) in &replies {
        eprintln!("reply {name}: {} bytes, {} backslashes", reply.len(), reply.matches('\\').count());
    }
    replies
}

// ---------------------------------------------------------------------------------------------
// serde: the borrowed reply, its parsers, and the same mapping as `write_integrated`

/// A JSON string: borrowed from the reply when the parser can (no escapes for serde_json; always
/// for simd-json, which unescapes in place), owned otherwise.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A header's value: what `write_integrated` accepts.
enum HeaderValue<'a> {
    Text(Text<'a>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<Text<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for HeaderValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = HeaderValue<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string, number, boolean, null or array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(HeaderValue::Text(Text(Cow::Borrowed(text))))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(HeaderValue::Text(Text(Cow::Owned(text.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(HeaderValue::Text(Text(Cow::Owned(text))))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(HeaderValue::Unsigned(number))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(HeaderValue::Signed(number))
            }
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
                Ok(HeaderValue::Float(number))
            }
            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
                Ok(HeaderValue::Bool(flag))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderValue::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = sequence.next_element::<Text<'de>>()? {
                    values.push(value);
                }
                Ok(HeaderValue::List(values))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// The `headers` object, in order (a map would lose it).
struct Headers<'a>(Vec<(Text<'a>, HeaderValue<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Headers<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry::<Text<'de>, HeaderValue<'de>>()? {
                    fields.push(field);
                }
                Ok(Headers(fields))
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

/// `isBase64Encoded`: a boolean, null, or `"true"` / `"false"` / `""` (Tencent's examples show
/// both).
#[derive(Default)]
struct Base64Flag(bool);

impl<'de> Deserialize<'de> for Base64Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = Base64Flag;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
                Ok(Base64Flag(flag))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Base64Flag(false))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Base64Flag(false))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                match text {
                    "true" => Ok(Base64Flag(true)),
                    "false" | "" => Ok(Base64Flag(false)),
                    _ => Err(E::custom("not a boolean")),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// The integrated reply, borrowed from the reply text where the parser allows.
#[derive(serde::Deserialize)]
struct Reply<'a> {
    #[serde(rename = "statusCode")]
    status: u16,
    #[serde(borrow, default)]
    headers: Option<Headers<'a>>,
    #[serde(borrow, default)]
    body: Option<Text<'a>>,
    #[serde(rename = "isBase64Encoded", default)]
    base64: Base64Flag,
}

/// `write_integrated` with serde_json reading the reply.
fn serde_integrated(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    let reply: Reply<'_> = serde_json::from_slice(value).map_err(|_| GatewayError::InvalidIntegratedResponse)?;
    // serde_json borrows a string only when it has no escapes.
    map_reply(&reply, |name| matches!(name, Cow::Owned(_)), framing, out)
}

/// Reused by the simd-json variant: its input copy and its parser buffers.
struct SimdScratch {
    input: Vec<u8>,
    buffers: simd_json::Buffers,
}

impl SimdScratch {
    fn new() -> Self {
        SimdScratch { input: Vec::with_capacity(128 * 1024), buffers: simd_json::Buffers::new(128 * 1024) }
    }

    /// The reply copied into the reused buffer simd-json may rewrite.
    fn copy<'a>(&'a mut self, value: &[u8]) -> (&'a mut [u8], &'a mut simd_json::Buffers) {
        self.input.clear();
        self.input.extend_from_slice(value);
        (&mut self.input, &mut self.buffers)
    }
}

/// `write_integrated` with simd-json reading (a copy of) the reply.
fn simd_integrated(
    value: &[u8],
    scratch: &mut SimdScratch,
    framing: ResponseFraming<'_>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let (input, buffers) = scratch.copy(value);
    let base = input.as_ptr() as usize;
    let reply: Reply<'_> = simd_json::serde::from_slice_with_buffers(input, buffers)
        .map_err(|_| GatewayError::InvalidIntegratedResponse)?;
    // simd-json unescapes in place, so every string is borrowed from the copy: a name had escapes
    // when the reply's bytes where it lies differ from it (or are not followed by its quote).
    let escaped = |name: &Cow<'_, str>| {
        let offset = (name.as_ptr() as usize).wrapping_sub(base);
        value
            .get(offset..offset + name.len() + 1)
            .is_none_or(|raw| raw[..name.len()] != *name.as_bytes() || raw[name.len()] != b'"')
    };
    map_reply(&reply, escaped, framing, out)
}

/// Base64 as functions send it: standard alphabet, padding optional (as scfgate decodes it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The mapping `backend::integration` does after its scan, on a parsed reply; on error `out` is
/// left as it was.
/// `escaped` says whether a header name had escapes in the reply (json_scan refuses those).
fn map_reply(
    reply: &Reply<'_>,
    escaped: impl Fn(&Cow<'_, str>) -> bool,
    framing: ResponseFraming<'_>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let start = out.len();
    write_reply(reply, escaped, framing, out).map_err(|()| {
        out.truncate(start);
        GatewayError::InvalidIntegratedResponse
    })
}

fn write_reply(
    reply: &Reply<'_>,
    escaped: impl Fn(&Cow<'_, str>) -> bool,
    framing: ResponseFraming<'_>,
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    if !(200..=599).contains(&reply.status) {
        return Err(());
    }
    response::start(out, reply.status);
    for (name, value) in reply.headers.iter().flat_map(|headers| &headers.0) {
        // json_scan refuses a name with escapes.
        if escaped(&name.0) {
            return Err(());
        }
        let name = name.0.as_bytes();
        if !is_token(name) {
            return Err(());
        }
        let owned_by_gateway = is_framing_header(name);
        match value {
            HeaderValue::Text(text) => {
                if !owned_by_gateway {
                    write_field(out, name, text)?;
                }
            }
            HeaderValue::Unsigned(number) => {
                if !owned_by_gateway {
                    write_number(out, name, number);
                }
            }
            HeaderValue::Signed(number) => {
                if !owned_by_gateway {
                    write_number(out, name, number);
                }
            }
            HeaderValue::Float(number) => {
                if !owned_by_gateway {
                    write_number(out, name, number);
                }
            }
            HeaderValue::Bool(flag) => {
                if !owned_by_gateway {
                    response::header(out, name, if *flag { b"true" } else { b"false" });
                }
            }
            HeaderValue::Null => {}
            HeaderValue::List(values) => {
                for text in values {
                    if !owned_by_gateway {
                        write_field(out, name, text)?;
                    }
                }
            }
        }
    }
    response::header(out, b"x-api-requestid", framing.request_id);
    if reply.status == 204 || reply.status == 304 {
        response::end_head(out, 0, framing.close);
        return Ok(());
    }
    let body = reply.body.as_ref().map_or(&b""[..], |body| body.0.as_bytes());
    if !reply.base64.0 {
        response::end_head(out, body.len(), framing.close);
        if !framing.head_only {
            out.extend_from_slice(body);
        }
        return Ok(());
    }
    let text = scfgate::http::parse::trim(body);
    let length = decoded_length(text).ok_or(())?;
    response::end_head(out, length, framing.close);
    if !framing.head_only {
        let start = out.len();
        out.resize(start + length + 3, 0);
        let written = BASE64.decode_slice(text, &mut out[start..]).map_err(|_| ())?;
        if written != length {
            return Err(());
        }
        out.truncate(start + length);
    }
    Ok(())
}

fn write_number(out: &mut Vec<u8>, name: &[u8], number: &dyn fmt::Display) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    write!(out, "{number}").unwrap();
    out.extend_from_slice(b"\r\n");
}

fn write_field(out: &mut Vec<u8>, name: &[u8], value: &Text<'_>) -> Result<(), ()> {
    let value = value.0.as_bytes();
    if !value.iter().all(|&byte| byte == b'\t' || (byte >= 0x20 && byte != 0x7f)) {
        return Err(());
    }
    response::header(out, name, value);
    Ok(())
}

fn decoded_length(text: &[u8]) -> Option<usize> {
    let unpadded = text.iter().rposition(|&byte| byte != b'=').map_or(0, |last| last + 1);
    if text.len() - unpadded > 2 || unpadded % 4 == 1 {
        return None;
    }
    Some(unpadded / 4 * 3 + (unpadded % 4).saturating_sub(1))
}

fn is_framing_header(name: &[u8]) -> bool {
    [&b"content-length"[..], b"transfer-encoding", b"connection", b"keep-alive", b"upgrade", b"x-api-requestid"]
        .iter()
        .any(|owned| name.eq_ignore_ascii_case(owned))
}

fn is_token(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// Pass-through's framing, after the value was found to be JSON.
fn frame_passthrough(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) {
    response::start(out, 200);
    response::header(out, b"content-type", b"application/json");
    response::header(out, b"x-api-requestid", framing.request_id);
    response::end_head(out, value.len(), framing.close);
    if !framing.head_only {
        out.extend_from_slice(value);
    }
}

/// `write_passthrough` with serde_json validating the value.
fn serde_passthrough(value: &[u8], framing: ResponseFraming<'_>, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    // Skipping a string, serde_json does not check its UTF-8: checked first, as json_scan does.
    let text = std::str::from_utf8(value).map_err(|_| GatewayError::ResponseNotJson)?;
    serde_json::from_str::<IgnoredAny>(text).map_err(|_| GatewayError::ResponseNotJson)?;
    frame_passthrough(value, framing, out);
    Ok(())
}

/// `write_passthrough` with simd-json validating (a copy of) the value.
fn simd_passthrough(
    value: &[u8],
    scratch: &mut SimdScratch,
    framing: ResponseFraming<'_>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let (input, buffers) = scratch.copy(value);
    simd_json::serde::from_slice_with_buffers::<IgnoredAny>(input, buffers)
        .map_err(|_| GatewayError::ResponseNotJson)?;
    frame_passthrough(value, framing, out);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Same results

/// Replies beyond the benchmarked ones on which the three must agree.
const EDGE_CASES: &[&str] = &[
    r#"{"isBase64Encoded":false,"statusCode":201,"headers":{"Content-Type":"text/html"},"body":"<h1>hi</h1>"}"#,
    r#"{"isBase64Encoded":"true","statusCode":200,"headers":{},"body":"aGk="}"#,
    r#"{"isBase64Encoded":true,"statusCode":200,"body":" \/\/8= "}"#,
    r#"{"statusCode":200,"headers":{"Set-Cookie":["a=1","b=2"],"X-N":3,"X-Neg":-4,"X-B":true,"X-Null":null,"Content-Length":"99"}}"#,
    r#"{"statusCode":204,"body":"ignored"}"#,
    r#"{"statusCode":200,"headers":null,"body":null,"isBase64Encoded":null}"#,
    r#"{"statusCode":200,"isBase64Encoded":"","body":"x"}"#,
    r#"{"statusCode":200,"extra":{"a":[1,2.5e3,{"b":null}],"c":"\u00e9"},"body":"x"}"#,
    "{\n  \"statusCode\" : 200 ,\n  \"headers\" : { \"X-A\" : \"1\" } ,\n  \"body\" : \"pretty\"\n}\n",
    r#"{"statusCode":200,"body":"\ud83d\ude00 \u4e2d \t\/"}"#,
    r#"{"statusCode":200,"headers":{"X-V":"tab\there"},"body":""}"#,
    // Refused by all three.
    r#"{"hello":"world"}"#,
    r#""just a string""#,
    r#"{"statusCode":"200"}"#,
    r#"{"statusCode":99}"#,
    r#"{"statusCode":600}"#,
    r#"{"statusCode":200.0}"#,
    r#"{"statusCode":-200}"#,
    r#"{"statusCode":200,"body":{"not":"a string"}}"#,
    r#"{"statusCode":200,"body":7}"#,
    r#"{"statusCode":200,"headers":[]}"#,
    r#"{"statusCode":200,"headers":{"X":{"a":1}}}"#,
    r#"{"statusCode":200,"headers":{"X":[1]}}"#,
    r#"{"statusCode":200,"headers":{"X":"a\r\nInjected: 1"}}"#,
    r#"{"statusCode":200,"headers":{"X":"\u0000"}}"#,
    r#"{"statusCode":200,"headers":{"Bad Name":"v"}}"#,
    r#"{"statusCode":200,"headers":{"X\u002dA":"v"}}"#,
    r#"{"statusCode":200,"isBase64Encoded":true,"body":"***"}"#,
    r#"{"statusCode":200,"isBase64Encoded":"yes","body":"aGk="}"#,
    SIMD_REFUSES_LONE_SURROGATE,
    r#"{"statusCode":200,"body":"a\x"}"#,
    r#"{"statusCode":200}x"#,
    r#"{"statusCode":200,}"#,
    "{\"statusCode\":200,\"body\":\"a\nb\"}",
    "not json",
    "",
];

/// The one difference found: passed on by json_scan and serde_json in pass-through mode (all three
/// refuse it as an integrated reply, whose body must decode).
const SIMD_REFUSES_LONE_SURROGATE: &str = r#"{"statusCode":200,"body":"\udc00"}"#;

/// One way of writing the response, for the check.
type Checked<'a> = dyn FnMut(&[u8], &mut Vec<u8>) -> Result<(), GatewayError> + 'a;

fn check_same_results(replies: &[(&str, String)], scratch: &mut SimdScratch) {
    let mut cases: Vec<Vec<u8>> = replies.iter().map(|(_, reply)| reply.clone().into_bytes()).collect();
    cases.extend(EDGE_CASES.iter().map(|case| case.as_bytes().to_vec()));
    // Invalid UTF-8 in a string.
    cases.push(b"{\"statusCode\":200,\"body\":\"\xff\"}".to_vec());
    let mut refused = 0;
    for case in &cases {
        let shown = String::from_utf8_lossy(case);
        let shown = shown.get(..120).unwrap_or(&shown);
        let run = |write: &mut Checked<'_>| {
            let mut out = b"previous response".to_vec();
            write(case, &mut out).map(|()| out)
        };
        let scan = run(&mut |value, out| write_integrated(value, FRAMING, out));
        let serde = run(&mut |value, out| serde_integrated(value, FRAMING, out));
        let simd = run(&mut |value, out| simd_integrated(value, scratch, FRAMING, out));
        assert_eq!(serde, scan, "integrated, serde_json vs json_scan: {shown}");
        assert_eq!(simd, scan, "integrated, simd-json vs json_scan: {shown}");
        refused += usize::from(scan.is_err());
        let scan = run(&mut |value, out| write_passthrough(value, FRAMING, out));
        let serde = run(&mut |value, out| serde_passthrough(value, FRAMING, out));
        let simd = run(&mut |value, out| simd_passthrough(value, scratch, FRAMING, out));
        assert_eq!(serde, scan, "pass-through, serde_json vs json_scan: {shown}");
        if SIMD_REFUSES_LONE_SURROGATE.as_bytes() == case.as_slice() {
            // A lone surrogate escape is valid JSON grammar (RFC 8259 §8.2): json_scan and
            // serde_json pass the value on, simd-json refuses it.
            assert!(scan.is_ok() && simd.is_err(), "pass-through, simd-json vs json_scan: {shown}");
            continue;
        }
        assert_eq!(simd, scan, "pass-through, simd-json vs json_scan: {shown}");
    }
    eprintln!("same results: {} replies ({refused} refused), integrated and pass-through", cases.len());
}

/// Heap allocations per call, in steady state.
fn allocations_per_call(mut call: impl FnMut()) -> f64 {
    for _ in 0..10 {
        call();
    }
    const CALLS: u64 = 1000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..CALLS {
        call();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

/// One way of writing the response, for the timings (panics on a refusal).
type Variant<'a> = dyn FnMut(&[u8], &mut Vec<u8>) + 'a;

fn json_replies(c: &mut Criterion<ThreadTime>) {
    let replies = replies();
    let mut scratch = SimdScratch::new();
    check_same_results(&replies, &mut scratch);
    let mut out = Vec::with_capacity(128 * 1024);

    for (mode, integrated) in [("integrated", true), ("passthrough", false)] {
        let mut group = c.benchmark_group(format!("json_reply_{mode}"));
        for (name, reply) in &replies {
            let reply = reply.as_bytes();
            group.throughput(Throughput::Bytes(reply.len() as u64));
            let mut variants: [(&str, Box<Variant<'_>>); 3] = if integrated {
                [
                    ("json_scan", Box::new(|value, out| write_integrated(value, FRAMING, out).unwrap())),
                    ("serde_json", Box::new(|value, out| serde_integrated(value, FRAMING, out).unwrap())),
                    ("simd_json", Box::new(|value, out| simd_integrated(value, &mut scratch, FRAMING, out).unwrap())),
                ]
            } else {
                [
                    ("json_scan", Box::new(|value, out| write_passthrough(value, FRAMING, out).unwrap())),
                    ("serde_json", Box::new(|value, out| serde_passthrough(value, FRAMING, out).unwrap())),
                    ("simd_json", Box::new(|value, out| simd_passthrough(value, &mut scratch, FRAMING, out).unwrap())),
                ]
            };
            for (variant, call) in &mut variants {
                let allocations = allocations_per_call(|| {
                    out.clear();
                    call(reply, &mut out);
                });
                eprintln!("allocations per call: {mode}/{variant}/{name}: {allocations}");
                group.bench_function(BenchmarkId::new(*variant, name), |b| {
                    b.iter(|| {
                        out.clear();
                        call(black_box(reply), &mut out);
                        black_box(&out);
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = json_replies
}
criterion_main!(benches);
