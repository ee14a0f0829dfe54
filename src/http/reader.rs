//! The read side of one HTTP/1.1 server connection: an owned buffer that monoio reads into, the
//! request head parsed over it, and the body located in place (Content-Length) or decoded beside it
//! (chunked). Pipelined bytes after a request stay buffered for the next one.
//!
//! The reader never blocks on its own: `try_*` steps say whether more bytes are needed and
//! [`RequestReader::fill`] reads them, so the caller can flush pending responses before it waits.

use std::io;
use std::ops::Range;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, CancelableAsyncReadRent, Canceller};

use super::body::ChunkedDecoder;
use super::parse::{parse_request, BodyFraming, ParseStatus, RequestHead};
use crate::error::GatewayError;

/// Why reading stopped without a request.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection (or it failed) before a whole request arrived.
    Closed,
    /// A deadline passed while waiting for bytes.
    TimedOut,
    /// The bytes received are refused; answer with this error and close.
    Refused(GatewayError),
}

impl From<GatewayError> for ReadError {
    fn from(error: GatewayError) -> Self {
        ReadError::Refused(error)
    }
}

#[derive(Debug, Clone)]
enum BodyLocation {
    /// Bytes of `buffer`, relative to the request start.
    InBuffer(Range<usize>),
    /// Decoded into `decoded`.
    Decoded,
}

/// Owned read buffer and body state for one connection.
pub struct RequestReader {
    buffer: Vec<u8>,
    /// Where the current request starts in `buffer`.
    start: usize,
    /// Bytes of the current request consumed so far (head, then body).
    consumed: usize,
    body: BodyLocation,
    decoded: Vec<u8>,
    decoder: ChunkedDecoder,
    /// Encoded bytes of a chunked body consumed so far (the decoder may have consumed fewer than
    /// are buffered).
    chunked_consumed: usize,
    initial_capacity: usize,
}

impl RequestReader {
    /// A reader whose buffer starts at `capacity` bytes (it grows up to the limits the caller sets).
    pub fn new(capacity: usize) -> Self {
        Self::with_buffer(Vec::with_capacity(capacity), capacity)
    }

    /// A reader that reads into `buffer` (emptied) first; `capacity` is what it sizes a buffer
    /// it replaces to, as [`Self::new`]'s.
    pub fn with_buffer(mut buffer: Vec<u8>, capacity: usize) -> Self {
        buffer.clear();
        RequestReader {
            buffer,
            start: 0,
            consumed: 0,
            body: BodyLocation::InBuffer(0..0),
            decoded: Vec::new(),
            decoder: ChunkedDecoder::new(),
            chunked_consumed: 0,
            initial_capacity: capacity,
        }
    }

    /// The bytes of the current request (the head's spans are relative to this slice).
    #[inline]
    pub fn request_bytes(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// Bytes buffered beyond the requests already finished.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Parses the head of the next request from what is buffered. `Ok(false)`: more bytes are
    /// needed. Refuses heads over `max_header_bytes` with 431.
    pub fn try_head(&mut self, head: &mut RequestHead, max_header_bytes: usize) -> Result<bool, GatewayError> {
        let available = &self.buffer[self.start..];
        // Parse only within the limit, so a huge head cannot be scanned past it.
        let window = &available[..available.len().min(max_header_bytes)];
        match parse_request(window, head)? {
            ParseStatus::Complete => {
                self.consumed = head.head_len;
                self.body = BodyLocation::InBuffer(head.head_len..head.head_len);
                self.decoded.clear();
                self.decoder = ChunkedDecoder::new();
                self.chunked_consumed = 0;
                Ok(true)
            }
            ParseStatus::Partial if available.len() >= max_header_bytes => Err(GatewayError::HeadersTooLarge),
            ParseStatus::Partial => Ok(false),
        }
    }

    /// Whether the body is already complete in the buffer (no read needed), without consuming.
    pub fn body_is_buffered(&self, head: &RequestHead) -> bool {
        match head.framing {
            BodyFraming::None => true,
            BodyFraming::Length(length) => (self.buffered() - head.head_len) as u64 >= length,
            BodyFraming::Chunked => false,
        }
    }

    /// Sizes the buffer for a `Content-Length` body of `length` bytes after a head of `head_len`
    /// bytes, exactly (plus room for a pipelined request's start), so that reading it does not
    /// grow the buffer by doubling to up to twice the body. Returns the bytes the buffer holds.
    pub fn reserve_body(&mut self, head_len: usize, length: usize) -> usize {
        let wanted = self.start + head_len + length + 4096;
        if self.buffer.capacity() < wanted {
            self.buffer.reserve_exact(wanted - self.buffer.len());
        }
        self.held_bytes()
    }

    /// Bytes this reader's buffers hold (their capacity): what a body being read costs.
    pub fn held_bytes(&self) -> usize {
        self.buffer.capacity() + self.decoded.capacity()
    }

    /// Frames the body from what is buffered. `Ok(false)`: more bytes are needed. Refuses bodies
    /// over `max_body_bytes` with 413.
    pub fn try_body(&mut self, head: &RequestHead, max_body_bytes: usize) -> Result<bool, GatewayError> {
        match head.framing {
            BodyFraming::None => Ok(true),
            BodyFraming::Length(length) => {
                if length > max_body_bytes as u64 {
                    return Err(GatewayError::BodyTooLarge);
                }
                let end = head.head_len + length as usize;
                if self.buffered() < end {
                    return Ok(false);
                }
                self.body = BodyLocation::InBuffer(head.head_len..end);
                self.consumed = end;
                Ok(true)
            }
            BodyFraming::Chunked => {
                let from = head.head_len + self.chunked_consumed;
                let input = &self.buffer[self.start + from..];
                let (used, done) = self.decoder.decode(input, &mut self.decoded, max_body_bytes)?;
                self.chunked_consumed += used;
                // Chunk framing may at most double a body (1-byte chunks cost 6 bytes each);
                // bound what a client can make us buffer regardless.
                if self.chunked_consumed > max_body_bytes.saturating_mul(8).max(64 * 1024) {
                    return Err(GatewayError::BodyTooLarge);
                }
                if done {
                    self.body = BodyLocation::Decoded;
                    self.consumed = head.head_len + self.chunked_consumed;
                }
                Ok(done)
            }
        }
    }

    /// The current request's body (valid after `try_body` returned `Ok(true)`).
    pub fn body(&self) -> &[u8] {
        match &self.body {
            BodyLocation::InBuffer(range) => &self.buffer[self.start + range.start..self.start + range.end],
            BodyLocation::Decoded => &self.decoded,
        }
    }

    /// Bytes buffered after the current request: the next request, or, after a WebSocket
    /// upgrade, the client's first frames.
    pub fn pipelined(&self) -> &[u8] {
        &self.buffer[self.start + self.consumed..]
    }

    /// Reads into `buffer` from now on and returns the buffer it read into, emptied. What is
    /// buffered moves along (the head's spans and the body's location are relative to the
    /// request's start, so they stay valid). The connection reads a request into a pooled buffer
    /// (`crate::buffer_pool`) and waits for the next one in a small one of its own.
    pub fn replace_buffer(&mut self, mut buffer: Vec<u8>) -> Vec<u8> {
        buffer.clear();
        buffer.extend_from_slice(&self.buffer[self.start..]);
        self.start = 0;
        let mut old = std::mem::replace(&mut self.buffer, buffer);
        old.clear();
        old
    }

    /// Hands the reader `buffer` to decode chunked bodies into and returns the one it had: the
    /// connection lends it its pooled buffer while it serves a request (`crate::buffer_pool`)
    /// and takes it back, with an empty one, before it goes idle.
    pub fn replace_decoded(&mut self, buffer: Vec<u8>) -> Vec<u8> {
        std::mem::replace(&mut self.decoded, buffer)
    }

    /// Marks the current request finished; buffered bytes after it start the next one.
    pub fn finish_request(&mut self) {
        self.start += self.consumed;
        self.consumed = 0;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
            // A large body grew the buffer; give the memory back for idle keep-alive connections.
            if self.buffer.capacity() > 16 * self.initial_capacity.max(4096) {
                self.buffer = Vec::with_capacity(self.initial_capacity);
            }
            if self.decoded.capacity() > 1 << 20 {
                self.decoded = Vec::new();
            }
        }
    }

    /// Bytes buffered after the current request's head (`head_len` bytes): the start of a body
    /// being streamed through (`crate::backend::web_proxy`), possibly followed by a pipelined request.
    pub fn after_head(&self, head_len: usize) -> &[u8] {
        &self.buffer[self.start + head_len..]
    }

    /// Drops `count` bytes right after the head, which stays in place (its spans stay valid):
    /// body bytes that have been passed on, so a streamed body never accumulates here.
    pub fn drop_after_head(&mut self, head_len: usize, count: usize) {
        let at = self.start + head_len;
        self.buffer.drain(at..at + count);
    }

    /// Makes room for reads of at least `bytes` (a body streamed through reads in larger steps
    /// than requests are read in).
    pub fn reserve_for_streaming(&mut self, bytes: usize) {
        if self.buffer.capacity() - self.buffer.len() < bytes {
            self.buffer.reserve(bytes);
        }
    }

    /// Appends bytes as if they had been read (for fuzzing and tests that drive the reader
    /// without a socket).
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Reads more bytes from `stream`, waiting until `deadline` at most. Returns how many bytes
    /// arrived (0: the peer closed).
    pub async fn fill<S: AsyncReadRent>(
        &mut self,
        stream: &mut S,
        deadline: Option<Instant>,
    ) -> Result<usize, ReadError> {
        let (buffer, length, capacity) = self.prepare_read();
        let read = stream.read(buffer.slice_mut(length..capacity));
        let (result, slice) = match deadline {
            None => read.await,
            Some(deadline) => match monoio::time::timeout_at(monoio::time::Instant::from_std(deadline), read).await {
                Ok(done) => done,
                // The buffer went down with the cancelled read; the connection closes anyway.
                Err(_) => {
                    self.buffer = Vec::with_capacity(self.initial_capacity);
                    return Err(ReadError::TimedOut);
                }
            },
        };
        self.buffer = slice.into_inner();
        read_outcome(result)
    }

    /// Waits in a read for the next request's first bytes until `give_up_at`, then gives up
    /// without losing any: the read is cancelled and its outcome awaited, so bytes that raced the
    /// cancellation are kept. `Ok(None)`: nothing came. One read submission, where a readiness
    /// wait followed by a read costs two (a keep-alive request pays this on every request).
    /// `canceller` is the connection's, kept so that a wait allocates nothing.
    pub async fn fill_unless_idle<S: CancelableAsyncReadRent>(
        &mut self,
        stream: &mut S,
        canceller: &mut Option<Canceller>,
        give_up_at: Instant,
    ) -> Result<Option<usize>, ReadError> {
        let (buffer, length, capacity) = self.prepare_read();
        let handle = canceller.get_or_insert_with(Canceller::new).handle();
        let read = stream.cancelable_read(buffer.slice_mut(length..capacity), handle);
        let mut read = std::pin::pin!(read);
        let give_up_at = monoio::time::Instant::from_std(give_up_at);
        let (cancelled, (result, slice)) = match monoio::time::timeout_at(give_up_at, read.as_mut()).await {
            Ok(done) => (false, done),
            Err(_) => {
                // `cancel` hands back a fresh canceller for the next wait.
                *canceller = canceller.take().map(Canceller::cancel);
                (true, read.await)
            }
        };
        self.buffer = slice.into_inner();
        match result {
            // A cancelled read ends in ECANCELED, or EINTR where the kernel had handed it to a
            // worker thread: either way it read nothing.
            Err(error)
                if cancelled
                    && (error.raw_os_error() == Some(libc::ECANCELED)
                        || error.kind() == io::ErrorKind::Interrupted) =>
            {
                Ok(None)
            }
            other => read_outcome(other).map(Some),
        }
    }

    /// Compacts the buffer and makes room for a read: the buffer, taken out for the read, with
    /// where the read starts and ends.
    fn prepare_read(&mut self) -> (Vec<u8>, usize, usize) {
        if self.start > 0 {
            // Keep the current request at the front so the buffer does not creep.
            self.buffer.copy_within(self.start.., 0);
            self.buffer.truncate(self.buffer.len() - self.start);
            self.start = 0;
        }
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(self.buffer.capacity().max(4096));
        }
        let length = self.buffer.len();
        let capacity = self.buffer.capacity();
        (std::mem::take(&mut self.buffer), length, capacity)
    }
}

/// What a finished read means for the connection: bytes, or the peer gone (an error counts as
/// gone; an interrupted read as no bytes yet).
fn read_outcome(result: io::Result<usize>) -> Result<usize, ReadError> {
    match result {
        Ok(0) => Err(ReadError::Closed),
        Ok(count) => Ok(count),
        Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(_) => Err(ReadError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_requests_move_to_another_buffer_whole() {
        let mut reader = RequestReader::with_buffer(Vec::with_capacity(16), 64);
        let mut head = RequestHead::default();
        reader.push_bytes(
            b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c",
        );
        assert!(reader.try_head(&mut head, 1024).unwrap());
        assert!(reader.try_body(&head, 1024).unwrap());
        // Mid-request: the head's spans and the body's location stay valid.
        let small = reader.replace_buffer(Vec::with_capacity(256));
        assert!(small.is_empty());
        assert_eq!(head.path.of_buffer(reader.request_bytes()), b"/a");
        assert_eq!(reader.body(), b"hello");
        reader.finish_request();
        // Between requests (the next one not at the buffer's start): what follows moves along.
        let full = reader.replace_buffer(small);
        assert!(full.is_empty() && full.capacity() >= 256);
        assert!(reader.try_head(&mut head, 1024).unwrap());
        assert_eq!(head.path.of_buffer(reader.request_bytes()), b"/b");
        reader.finish_request();
        assert_eq!(reader.request_bytes(), b"GET /c");
        reader.push_bytes(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(reader.try_head(&mut head, 1024).unwrap());
        assert_eq!(head.path.of_buffer(reader.request_bytes()), b"/c");
        reader.finish_request();
        assert_eq!(reader.buffered(), 0);
    }
}
