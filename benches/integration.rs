//! Mapping a function's reply onto the client response: `write_integrated` (parse the integration
//! JSON, validate, write status, headers and body) and `write_passthrough` (validate JSON, frame it
//! as a 200) on typical replies. Throughput is bytes of function reply.

use std::hint::black_box;

use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scfgate::backend::integration::{write_integrated, write_passthrough, ResponseFraming};

mod common;
use common::ThreadTime;

const FRAMING: ResponseFraming<'static> =
    ResponseFraming { request_id: b"3f2b9c1e-6d1f-4c55-9a1e-0b7f5d2a8c41", close: false, head_only: false };

/// The reply of the example's hello function and of the load-test backend.
const SMALL_JSON: &str = r#"{"isBase64Encoded":false,"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"world\"}"}"#;

/// An HTML page of about 4 KB, with the quotes and newlines that JSON has to escape.
fn html_4k() -> String {
    let mut html = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Orders</title>\n<link rel=\"stylesheet\" href=\"/static/app.css\"></head>\n<body>\n<table class=\"orders\">\n");
    let mut row = 0;
    while html.len() < 4000 {
        html.push_str(&format!(
            "  <tr data-id=\"{row}\"><td class=\"id\">#{row}</td><td>Widget {row}</td><td class=\"price\">&yen;{}.00</td></tr>\n",
            row * 7 % 100
        ));
        row += 1;
    }
    html.push_str("</table>\n</body>\n</html>\n");
    html
}

fn integrated(status: u16, content_type: &str, body: &str, base64: bool) -> String {
    serde_json::json!({
        "isBase64Encoded": base64,
        "statusCode": status,
        "headers": {"Content-Type": content_type, "Cache-Control": "no-cache", "Set-Cookie": ["a=1; Path=/", "b=2; Path=/"]},
        "body": body,
    })
    .to_string()
}

fn replies() -> Vec<(&'static str, String)> {
    let html = html_4k();
    // A 3 KB PNG-like binary body: 4 KB once base64-encoded.
    let binary: Vec<u8> = (0..3072u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&binary);
    vec![
        ("small_json", SMALL_JSON.to_string()),
        ("html_4k", integrated(200, "text/html; charset=utf-8", &html, false)),
        ("base64_3k_binary", integrated(200, "image/png", &encoded, true)),
    ]
}

fn map_replies(c: &mut Criterion<ThreadTime>) {
    let mut group = c.benchmark_group("integration");
    let mut out = Vec::with_capacity(16 * 1024);
    for (name, reply) in replies() {
        let reply = reply.into_bytes();
        group.throughput(Throughput::Bytes(reply.len() as u64));
        out.clear();
        write_integrated(&reply, FRAMING, &mut out).expect("valid integrated reply");
        group.bench_function(BenchmarkId::new("write_integrated", name), |b| {
            b.iter(|| {
                out.clear();
                write_integrated(black_box(&reply), FRAMING, &mut out).unwrap();
                black_box(&out);
            })
        });
        // Pass-through takes any JSON value: the same documents, sent on as the body.
        group.bench_function(BenchmarkId::new("write_passthrough", name), |b| {
            b.iter(|| {
                out.clear();
                write_passthrough(black_box(&reply), FRAMING, &mut out).unwrap();
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = map_replies
}
criterion_main!(benches);
