//! Request-head parsing (`scfgate::http::parse_request`) and chunked body decoding
//! (`scfgate::http::body::ChunkedDecoder`). Throughput is bytes of input.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scfgate::http::body::ChunkedDecoder;
use scfgate::http::{parse_request, RequestHead};

mod common;
use common::ThreadTime;

fn parse_heads(c: &mut Criterion<ThreadTime>) {
    let post = common::post_request();
    let many = common::get_100_headers();
    let cases: [(&str, &[u8]); 4] = [
        ("small_get", common::SMALL_GET),
        ("browser_get_15_headers", common::BROWSER_GET),
        ("post_json_1k_head", &post),
        ("get_100_headers", &many),
    ];
    let mut group = c.benchmark_group("parse_request");
    for (name, request) in cases {
        let mut head = RequestHead::default();
        parse_request(request, &mut head).expect("fixture parses");
        // Only the head is parsed (the POST body follows it in the buffer, as on the wire).
        group.throughput(Throughput::Bytes(head.head_len as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let status = parse_request(black_box(request), &mut head);
                black_box(status).unwrap();
            })
        });
    }
    group.finish();
}

fn decode_chunked(c: &mut Criterion<ThreadTime>) {
    let body = common::json_body_1k();
    let mut group = c.benchmark_group("chunked_decode_1k");
    for chunk in [1024usize, 128] {
        let encoded = common::chunked(&body, chunk);
        let mut out = Vec::with_capacity(2048);
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        group.bench_function(format!("{}_chunks_of_{chunk}", body.len().div_ceil(chunk)), |b| {
            b.iter(|| {
                out.clear();
                let mut decoder = ChunkedDecoder::new();
                let (used, done) = decoder.decode(black_box(&encoded), &mut out, 1 << 20).unwrap();
                assert!(done && used == encoded.len());
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = parse_heads, decode_chunked
}
criterion_main!(benches);
