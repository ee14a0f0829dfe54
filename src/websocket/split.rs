//! A connection's stream borrowed as a read half and a write half, so that a session can wait
//! for the client's next frame and write a push at the same time, on one task.
//!
//! monoio's `Splitable::into_split` does this for a stream it owns; the session only borrows
//! the connection's stream (the connection keeps it, generic over plain TCP and TLS), so this is
//! the same contract on a borrow. Cancelling a read to write instead is not an option: an
//! io_uring read that completes as it is cancelled loses its bytes.

use std::cell::UnsafeCell;
use std::future::Future;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Split};
use monoio::BufResult;

/// The reading half.
pub struct ReadHalf<'a, S>(&'a UnsafeCell<S>);

/// The writing half.
pub struct WriteHalf<'a, S>(&'a UnsafeCell<S>);

/// Splits a borrowed stream. `S: Split` is the stream's promise (monoio's, for `TcpStream`, and
/// the gateway's own TLS stream's, `crate::tls::stream`) that a read and a write may be in
/// progress together.
pub fn split<S: Split>(stream: &mut S) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
    let cell = UnsafeCell::from_mut(stream);
    (ReadHalf(cell), WriteHalf(cell))
}

impl<S: AsyncReadRent> AsyncReadRent for ReadHalf<'_, S> {
    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        // SAFETY: only the two halves reach the stream; this half makes one read at a time (it
        // is borrowed mutably for the read) and the write half only writes, which `S: Split`
        // allows concurrently. Both halves borrow the stream, so neither outlives it.
        let stream = unsafe { &mut *self.0.get() };
        stream.read(buf)
    }

    fn readv<T: IoVecBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        // SAFETY: as in `read`.
        let stream = unsafe { &mut *self.0.get() };
        stream.readv(buf)
    }
}

impl<S: AsyncWriteRent> AsyncWriteRent for WriteHalf<'_, S> {
    fn write<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        // SAFETY: the mirror of `ReadHalf::read`: this half only writes, one write at a time.
        let stream = unsafe { &mut *self.0.get() };
        stream.write(buf)
    }

    fn writev<T: IoVecBuf>(&mut self, buf_vec: T) -> impl Future<Output = BufResult<usize, T>> {
        // SAFETY: as in `write`.
        let stream = unsafe { &mut *self.0.get() };
        stream.writev(buf_vec)
    }

    fn flush(&mut self) -> impl Future<Output = std::io::Result<()>> {
        // SAFETY: as in `write`.
        let stream = unsafe { &mut *self.0.get() };
        stream.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = std::io::Result<()>> {
        // SAFETY: as in `write`; shutting down the write side does not touch a pending read.
        let stream = unsafe { &mut *self.0.get() };
        stream.shutdown()
    }
}
