//! `secConnectionID`: 128 bits, sent as standard base64 (24 characters, ending `==`, like the
//! sample in Tencent's docs), that say which worker holds the connection.
//!
//! Layout, big-endian: 16 bits of worker index, 48 bits of the worker's connection counter (the
//! key in its connection table), 64 bits that are unpredictable (SipHash of the counter under
//! keys std seeds from the OS). The worker index routes a push to the right core with no lookup
//! anywhere else; the random half makes a stale or guessed id miss. The push token, not the id,
//! is what keeps strangers out.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use base64::Engine;

/// Length of the text form.
pub const TEXT_LENGTH: usize = 24;

/// A connection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId([u8; 16]);

impl ConnectionId {
    /// The worker that holds the connection.
    pub fn worker(&self) -> usize {
        usize::from(u16::from_be_bytes([self.0[0], self.0[1]]))
    }

    /// The connection's key in its worker's table.
    pub fn key(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes[2..].copy_from_slice(&self.0[2..8]);
        u64::from_be_bytes(bytes)
    }

    /// The text form sent to functions.
    pub fn encode(&self) -> [u8; TEXT_LENGTH] {
        let mut text = [0u8; TEXT_LENGTH];
        let written = base64::engine::general_purpose::STANDARD.encode_slice(self.0, &mut text);
        debug_assert_eq!(written, Ok(TEXT_LENGTH));
        text
    }

    /// Parses the text form; `None` for anything that is not exactly an id.
    pub fn decode(text: &[u8]) -> Option<ConnectionId> {
        if text.len() != TEXT_LENGTH {
            return None;
        }
        let mut bytes = [0u8; 18];
        match base64::engine::general_purpose::STANDARD.decode_slice(text, &mut bytes) {
            Ok(16) => Some(ConnectionId(bytes[..16].try_into().expect("16 bytes"))),
            _ => None,
        }
    }
}

/// One worker's id source.
pub struct IdSource {
    worker: u16,
    counter: Cell<u64>,
    keys: RandomState,
}

impl IdSource {
    /// The source of worker `worker` (workers are numbered below 65536).
    pub fn new(worker: usize) -> Self {
        IdSource { worker: worker as u16, counter: Cell::new(0), keys: RandomState::new() }
    }

    /// A new id, never handed out before by this worker.
    pub fn next(&self) -> ConnectionId {
        let count = (self.counter.get() + 1) & 0xffff_ffff_ffff;
        self.counter.set(count);
        let random = self.keys.hash_one(count);
        let mut bytes = [0u8; 16];
        bytes[..2].copy_from_slice(&self.worker.to_be_bytes());
        bytes[2..8].copy_from_slice(&count.to_be_bytes()[2..]);
        bytes[8..].copy_from_slice(&random.to_be_bytes());
        ConnectionId(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_worker_and_round_trip() {
        for worker in [0usize, 1, 7, 65535] {
            let source = IdSource::new(worker);
            let first = source.next();
            let second = source.next();
            assert_ne!(first, second);
            assert_eq!((first.worker(), first.key(), second.key()), (worker, 1, 2));
            let text = first.encode();
            assert_eq!(text.len(), 24);
            assert!(text.ends_with(b"=="), "{}", String::from_utf8_lossy(&text));
            assert_eq!(ConnectionId::decode(&text), Some(first));
        }
    }

    #[test]
    fn the_random_half_differs_between_sources() {
        // Two workers' sources (or two runs) give different ids for the same counter value.
        let (one, two) = (IdSource::new(0), IdSource::new(0));
        assert_ne!(one.next(), two.next());
    }

    #[test]
    fn decode_refuses_what_is_not_an_id() {
        for text in
            [&b""[..], b"short", b"AAAAAAAAAAAAAAAAAAAAAA", b"AAAAAAAAAAAAAAAAAAAAAA=!", b"AAAAAAAAAAAAAAAAAAAAAAAA"]
        {
            assert_eq!(ConnectionId::decode(text), None, "{}", String::from_utf8_lossy(text));
        }
    }
}
