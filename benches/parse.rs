//! Request-head parsing (`scfgate::http::parse_request`) and chunked body decoding
//! (`scfgate::http::body::ChunkedDecoder`). Throughput is bytes of input.
//!
//! Beside them, httparse alone with a 100-entry header array (`MAX_HEADERS`) initialised per call
//! (`[EMPTY_HEADER; 100]`, as `parse_request` does) and left uninitialised
//! (`parse_with_uninit_headers`): how much of a parse the array's initialisation costs.

use std::hint::black_box;
use std::mem::MaybeUninit;

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

fn httparse_zeroed(buffer: &[u8]) -> usize {
    let mut fields = [httparse::EMPTY_HEADER; scfgate::http::parse::MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length + request.headers.len(),
        _ => 0,
    }
}

fn httparse_uninit(buffer: &[u8]) -> usize {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; scfgate::http::parse::MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(buffer, &mut fields) {
        Ok(httparse::Status::Complete(length)) => length + request.headers.len(),
        _ => 0,
    }
}

fn header_array(c: &mut Criterion<ThreadTime>) {
    let mut group = c.benchmark_group("httparse_100_headers_array");
    for (name, request) in [("small_get", common::SMALL_GET), ("browser_get_15_headers", common::BROWSER_GET)] {
        assert_eq!(httparse_zeroed(request), httparse_uninit(request));
        assert_ne!(httparse_zeroed(request), 0);
        group.throughput(Throughput::Bytes(request.len() as u64));
        group.bench_function(format!("zeroed/{name}"), |b| b.iter(|| black_box(httparse_zeroed(black_box(request)))));
        group.bench_function(format!("uninit/{name}"), |b| b.iter(|| black_box(httparse_uninit(black_box(request)))));
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
    targets = parse_heads, header_array, decode_chunked
}
criterion_main!(benches);
