//! The HTTP/1.1 request parser and chunked decoder over arbitrary bytes, as a pipelined stream:
//! parse a head, frame its body, continue after it. No panic; offsets always inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfgate::http::body::ChunkedDecoder;
use scfgate::http::parse::ParseStatus;
use scfgate::http::{parse_request, BodyFraming, RequestHead};

fuzz_target!(|data: &[u8]| {
    let mut head = RequestHead::default();
    let mut rest = data;
    let mut decoded = Vec::new();
    for _ in 0..64 {
        match parse_request(rest, &mut head) {
            Ok(ParseStatus::Complete) => {}
            Ok(ParseStatus::Partial) | Err(_) => return,
        }
        assert!(head.head_len <= rest.len());
        for span in [head.method, head.path, head.query] {
            assert!(span.start <= span.end && span.end as usize <= rest.len());
        }
        for field in &head.headers {
            assert!(field.name.end as usize <= head.head_len && field.value.end as usize <= head.head_len);
        }
        let body = &rest[head.head_len..];
        let used = match head.framing {
            BodyFraming::None => 0,
            BodyFraming::Length(length) => {
                if (body.len() as u64) < length {
                    return;
                }
                length as usize
            }
            BodyFraming::Chunked => {
                decoded.clear();
                match ChunkedDecoder::new().decode(body, &mut decoded, 1 << 20) {
                    Ok((used, true)) => {
                        assert!(used <= body.len() && decoded.len() <= used);
                        used
                    }
                    _ => return,
                }
            }
        };
        rest = &body[used..];
    }
});
