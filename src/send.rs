//! Writes to clients, bounded by `--send-timeout`: a client that stops reading cannot keep its
//! connection, and what the connection holds for it (buffers, a pooled backend connection, a web
//! function instance's slot), forever.
//!
//! As nginx's `send_timeout`, the limit is on progress, not on the whole response: each write
//! operation must move some bytes within it, so a slow reader of a large response is served as
//! long as it keeps reading. The cost is one timer per write operation (monoio's wheel, no
//! syscall).

use std::io;
use std::time::Duration;

use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRent;

/// Writes all of `buffer`, each write making progress within `timeout`. Returns the buffer for
/// reuse, unless it went down with a write cut off by the timeout (then the connection must
/// close, as it must on any error).
pub async fn write_all<S: AsyncWriteRent, B: IoBuf>(
    stream: &mut S,
    buffer: B,
    timeout: Duration,
) -> (io::Result<()>, Option<B>) {
    let length = buffer.bytes_init();
    let mut buffer = buffer;
    let mut written = 0;
    while written < length {
        match monoio::time::timeout(timeout, stream.write(buffer.slice(written..length))).await {
            Err(_) => return (Err(io::ErrorKind::TimedOut.into()), None),
            Ok((Ok(0), slice)) => return (Err(io::ErrorKind::WriteZero.into()), Some(slice.into_inner())),
            Ok((Ok(count), slice)) => {
                written += count;
                buffer = slice.into_inner();
            }
            Ok((Err(error), slice)) => return (Err(error), Some(slice.into_inner())),
        }
    }
    (Ok(()), Some(buffer))
}

/// [`write_all`] for the reused `Vec` buffers connections write from: `out` is written, then
/// left empty (a fresh one when the old went down with a cut-off write). `false` when the client
/// is gone or stopped reading.
pub async fn flush<S: AsyncWriteRent>(stream: &mut S, out: &mut Vec<u8>, timeout: Duration) -> bool {
    if out.is_empty() {
        return true;
    }
    let (result, buffer) = write_all(stream, std::mem::take(out), timeout).await;
    if let Some(mut buffer) = buffer {
        buffer.clear();
        *out = buffer;
    }
    result.is_ok()
}
