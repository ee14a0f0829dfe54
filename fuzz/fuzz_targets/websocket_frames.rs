//! The WebSocket frame decoder and the push / register-reply readers over arbitrary bytes: no
//! panic; decoding the bytes whole or cut in two gives the same events; every text message is
//! UTF-8 and no message is over the limit; a connection id round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfgate::websocket::event::{parse_push, parse_registration};
use scfgate::websocket::frame::{Decoded, Decoder, Event};

const LIMIT: usize = 256;

/// Every event (owned) until more bytes are needed or a violation (its close code, last).
fn decode(chunks: &[&[u8]]) -> Vec<(u8, Vec<u8>)> {
    let mut decoder = Decoder::new(LIMIT);
    let mut buffer = Vec::new();
    let mut position = 0;
    let mut seen = Vec::new();
    for chunk in chunks {
        buffer.drain(..position);
        position = 0;
        buffer.extend_from_slice(chunk);
        loop {
            match decoder.next(&mut buffer, &mut position) {
                Ok(Decoded::NeedMore(need)) => {
                    assert!(need > buffer.len() - position, "asked for bytes it has");
                    break;
                }
                Ok(Decoded::Event(event)) => seen.push(match event {
                    Event::Text(data) => {
                        assert!(std::str::from_utf8(data).is_ok() && data.len() <= LIMIT);
                        (1, data.to_vec())
                    }
                    Event::Binary(data) => {
                        assert!(data.len() <= LIMIT);
                        (2, data.to_vec())
                    }
                    Event::Ping(data) => (9, data.to_vec()),
                    Event::Pong => (10, Vec::new()),
                    Event::Close { code, reason } => (8, [code.unwrap_or(0).to_be_bytes().as_slice(), reason].concat()),
                }),
                Err(violation) => {
                    assert!(matches!(violation.code, 1002 | 1007 | 1009));
                    seen.push((0, violation.code.to_be_bytes().to_vec()));
                    return seen;
                }
            }
        }
    }
    seen
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(&[data]);
    let cut = data.first().map_or(0, |&byte| byte as usize % (data.len() + 1));
    assert_eq!(decode(&[&data[..cut], &data[cut..]]), whole);
    let mut payload = Vec::new();
    if let Ok((id, _)) = parse_push(data, &mut payload) {
        assert_eq!(scfgate::websocket::id::ConnectionId::decode(&id.encode()), Some(id));
    }
    let _ = parse_registration(data);
});
