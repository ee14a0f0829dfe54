//! The function-reply mappers over arbitrary bytes: no panic; the JSON check agrees with
//! serde_json; an accepted integrated reply becomes a well-formed response whose
//! Content-Length equals its body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfgate::backend::integration::{write_integrated, write_passthrough, ResponseFraming};

fuzz_target!(|data: &[u8]| {
    let framing = ResponseFraming { request_id: b"fuzz", close: false, head_only: false };
    let mut out = Vec::new();
    let passthrough = write_passthrough(data, framing, &mut out).is_ok();
    // JSON text is UTF-8 (RFC 8259 §8.1); serde_json's IgnoredAny skips strings without checking
    // that, so the two agree on UTF-8 input and we alone refuse the rest.
    let serde_accepts =
        std::str::from_utf8(data).is_ok() && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    assert_eq!(passthrough, serde_accepts, "{:?}", String::from_utf8_lossy(data));
    out.clear();
    if write_integrated(data, framing, &mut out).is_err() {
        assert!(out.is_empty(), "a refused reply leaves no partial response");
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 256];
    let mut response = httparse::Response::new(&mut headers);
    let head_length = match response.parse(&out) {
        Ok(httparse::Status::Complete(length)) => length,
        other => panic!("mapped response does not parse: {other:?} {:?}", String::from_utf8_lossy(&out)),
    };
    let declared: usize = response
        .headers
        .iter()
        .filter(|header| header.name == "content-length")
        .map(|header| std::str::from_utf8(header.value).unwrap().parse().unwrap())
        .next_back()
        .expect("content-length");
    let status = response.code.unwrap();
    if status != 204 && status != 304 {
        assert_eq!(declared, out.len() - head_length);
    }
});
