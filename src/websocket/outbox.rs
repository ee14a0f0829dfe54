//! What one connection will send: frames already encoded, waiting for the connection's writer.
//! Pushes, pongs and the close frame go in; the writer takes everything pending in one swap and
//! writes it in one call. Single-threaded (`Cell`/`RefCell`, wakers kept by hand): the outbox
//! lives on the worker that holds the connection, and pushes from other cores reach it through
//! that worker (`super::push`).
//!
//! States: open (frames may be queued) → closing (the close frame is queued; nothing more may
//! follow it, RFC 6455 §5.5.1) → finished (the session's reader is done; the writer drains and
//! stops). A reader waiting for the client is woken with a *stop* when a push closes the
//! connection or the writer finds the client gone.

use std::cell::{Cell, RefCell};
use std::task::{Context, Poll, Waker};

use super::frame::{self, Opcode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closing,
    Finished,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The connection is closing or closed: no data may follow a close frame.
    Closing,
    /// More than the limit is already waiting (the client is not reading).
    Backlog,
}

/// One connection's outgoing frames.
pub struct Outbox {
    pending: RefCell<Vec<u8>>,
    state: Cell<State>,
    stop: Cell<bool>,
    writer: Cell<Option<Waker>>,
    reader: Cell<Option<Waker>>,
    /// Most bytes that may wait for the writer.
    limit: usize,
}

impl Outbox {
    /// An open outbox holding at most `limit` bytes not yet written.
    pub fn new(limit: usize) -> Self {
        Outbox {
            pending: RefCell::new(Vec::new()),
            state: Cell::new(State::Open),
            stop: Cell::new(false),
            writer: Cell::new(None),
            reader: Cell::new(None),
            limit,
        }
    }

    /// Queues a data or pong frame. Pongs count against the limit too: a client that pings
    /// without reading must not grow the queue (RFC 6455 §5.5.3 lets pongs be skipped).
    pub fn send(&self, opcode: Opcode, payload: &[u8]) -> Result<(), Refused> {
        if self.state.get() != State::Open {
            return Err(Refused::Closing);
        }
        let mut pending = self.pending.borrow_mut();
        if pending.len() + payload.len() > self.limit {
            return Err(Refused::Backlog);
        }
        frame::write_frame(&mut pending, opcode, payload);
        drop(pending);
        wake(&self.writer);
        Ok(())
    }

    /// Queues the close frame (once; later calls only add `stop_reader`). `stop_reader` wakes a
    /// reader waiting for the client so that it starts waiting for the client's close instead.
    pub fn close(&self, code: Option<u16>, reason: &str, stop_reader: bool) {
        if self.state.get() == State::Open {
            frame::write_close(&mut self.pending.borrow_mut(), code, reason);
            self.state.set(State::Closing);
            wake(&self.writer);
        }
        if stop_reader {
            self.stop.set(true);
            wake(&self.reader);
        }
    }

    /// Whether the close frame is queued (or the connection is done).
    pub fn is_closing(&self) -> bool {
        self.state.get() != State::Open
    }

    /// The reader is done: the writer drains what is pending, then stops.
    pub fn finish(&self) {
        self.state.set(State::Finished);
        wake(&self.writer);
    }

    /// The writer found the client gone: drop what is pending and stop the reader.
    pub fn fail(&self) {
        self.state.set(State::Finished);
        self.pending.borrow_mut().clear();
        self.stop.set(true);
        wake(&self.reader);
    }

    /// For the writer: swaps everything pending into `batch` (which must be empty) and says
    /// `true`, or says `false` once finished and drained.
    pub fn poll_batch(&self, context: &mut Context<'_>, batch: &mut Vec<u8>) -> Poll<bool> {
        let mut pending = self.pending.borrow_mut();
        if !pending.is_empty() {
            std::mem::swap(&mut *pending, batch);
            return Poll::Ready(true);
        }
        if self.state.get() == State::Finished {
            return Poll::Ready(false);
        }
        self.writer.set(Some(context.waker().clone()));
        Poll::Pending
    }

    /// For the reader: ready once it should stop waiting for the client's next frame.
    pub fn poll_stop(&self, context: &mut Context<'_>) -> Poll<()> {
        if self.stop.get() {
            return Poll::Ready(());
        }
        self.reader.set(Some(context.waker().clone()));
        Poll::Pending
    }

    /// Whether the reader was asked to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.get()
    }
}

fn wake(slot: &Cell<Option<Waker>>) {
    if let Some(waker) = slot.take() {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(outbox: &Outbox) -> Poll<Vec<u8>> {
        let mut context = Context::from_waker(Waker::noop());
        let mut batch = Vec::new();
        match outbox.poll_batch(&mut context, &mut batch) {
            Poll::Ready(true) => Poll::Ready(batch),
            Poll::Ready(false) => Poll::Ready(Vec::new()),
            Poll::Pending => Poll::Pending,
        }
    }

    #[test]
    fn frames_queue_until_the_close_frame() {
        let outbox = Outbox::new(8);
        assert!(batch(&outbox).is_pending());
        outbox.send(Opcode::Text, b"hi").unwrap();
        outbox.send(Opcode::Binary, &[1]).unwrap();
        assert_eq!(batch(&outbox), Poll::Ready(vec![0x81, 2, b'h', b'i', 0x82, 1, 1]));
        // Over the limit: refused, nothing queued (pongs too); the close frame always goes.
        assert_eq!(outbox.send(Opcode::Text, b"123456789"), Err(Refused::Backlog));
        outbox.send(Opcode::Pong, b"12345678").unwrap();
        assert_eq!(outbox.send(Opcode::Pong, b"1"), Err(Refused::Backlog));
        outbox.close(Some(1000), "", false);
        assert!(outbox.is_closing() && !outbox.stop_requested());
        assert_eq!(outbox.send(Opcode::Text, b"late"), Err(Refused::Closing));
        outbox.close(Some(1001), "again", true);
        assert!(outbox.stop_requested());
        let mut expected = vec![0x8a, 8];
        expected.extend_from_slice(b"12345678");
        expected.extend_from_slice(&[0x88, 2, 0x03, 0xe8]);
        assert_eq!(batch(&outbox), Poll::Ready(expected));
        assert!(batch(&outbox).is_pending());
        outbox.finish();
        assert_eq!(batch(&outbox), Poll::Ready(Vec::new()));
    }

    #[test]
    fn a_failed_writer_stops_the_reader() {
        let outbox = Outbox::new(64);
        let mut context = Context::from_waker(Waker::noop());
        assert!(outbox.poll_stop(&mut context).is_pending());
        outbox.send(Opcode::Text, b"lost").unwrap();
        outbox.fail();
        assert!(outbox.poll_stop(&mut context).is_ready());
        assert_eq!(batch(&outbox), Poll::Ready(Vec::new()));
    }
}
