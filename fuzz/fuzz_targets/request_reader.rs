//! The request reader that serves both client connections and the custom-runtime API: arbitrary
//! bytes arriving in arbitrary pieces, requests framed and finished one after another. No panic;
//! the same bytes in one piece or many give the same requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfgate::http::reader::RequestReader;
use scfgate::http::RequestHead;

fn frame_all(pieces: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut reader = RequestReader::new(64);
    let mut head = RequestHead::default();
    let mut requests = Vec::new();
    let mut in_body = false;
    for piece in pieces {
        reader.push_bytes(piece);
        loop {
            if !in_body {
                match reader.try_head(&mut head, 4096) {
                    Ok(true) => in_body = true,
                    Ok(false) => break,
                    Err(_) => return requests,
                }
            }
            match reader.try_body(&head, 4096) {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => return requests,
            }
            let bytes = reader.request_bytes();
            requests.push((
                head.method.of_buffer(bytes).to_vec(),
                head.path.of_buffer(bytes).to_vec(),
                reader.body().to_vec(),
            ));
            reader.finish_request();
            in_body = false;
        }
    }
    requests
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else { return };
    let whole = frame_all(&[data]);
    let step = usize::from(split % 16) + 1;
    let pieces: Vec<&[u8]> = data.chunks(step).collect();
    let split_up = frame_all(&pieces);
    assert_eq!(whole, split_up);
});
