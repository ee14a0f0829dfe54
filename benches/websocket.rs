//! WebSocket framing (`scfgate::websocket::frame`): decoding masked client frames (unmasking in
//! place, UTF-8 checks, reassembly) and writing the `data recv` event. Throughput is bytes of
//! input.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scfgate::websocket::event::write_data_event;
use scfgate::websocket::frame::{unmask, Decoded, Decoder, Event};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with 16-bit or 7-bit length.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&MASK);
    let mut masked = payload.to_vec();
    unmask(&mut masked, MASK);
    frame.extend_from_slice(&masked);
    frame
}

fn decode_frames(c: &mut Criterion) {
    let text_64 = "{\"type\":\"chat\",\"room\":7,\"text\":\"hello, everyone here!\"}   ".as_bytes();
    let binary_4k: Vec<u8> = (0..4096u32).map(|index| index as u8).collect();
    let mut fragmented = client_frame(0x01, &text_64[..32]);
    fragmented.extend(client_frame(0x80, &text_64[32..]));
    let cases: [(&str, Vec<u8>, usize); 3] = [
        ("text_64b_x100", client_frame(0x81, text_64).repeat(100), 100),
        ("binary_4k", client_frame(0x82, &binary_4k), 1),
        ("text_64b_in_2_fragments_x100", fragmented.repeat(100), 100),
    ];
    let mut group = c.benchmark_group("websocket_decode");
    for (name, input, messages) in cases {
        let mut buffer = input.clone();
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                // The decoder unmasks in place: start each run from the masked bytes.
                buffer.copy_from_slice(&input);
                let mut decoder = Decoder::new(1 << 20);
                let mut position = 0;
                let mut seen = 0;
                while let Decoded::Event(event) = decoder.next(black_box(&mut buffer), &mut position).unwrap() {
                    assert!(matches!(event, Event::Text(_) | Event::Binary(_)));
                    seen += 1;
                }
                assert_eq!(seen, messages);
            })
        });
    }
    group.finish();
}

fn write_events(c: &mut Criterion) {
    let text = "hello, everyone here! ".repeat(3);
    let binary: Vec<u8> = (0..1024u32).map(|index| index as u8).collect();
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("websocket_data_event");
    for (name, binary_message, data) in [("text_66b", false, text.as_bytes()), ("binary_1k_base64", true, &binary[..])]
    {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                write_data_event(&mut out, b"AAEAAAAAAAGq7K9PMl5xQA==", binary_message, black_box(data));
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = decode_frames, write_events
}
criterion_main!(benches);
