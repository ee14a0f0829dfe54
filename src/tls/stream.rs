//! The server side of a client's TLS connection: a rustls session over the connection's TCP
//! socket, read and written as a monoio stream (`AsyncReadRent`, `AsyncWriteRent`, `Split`).
//!
//! It owns the session and the socket, and no I/O buffer of its own. monoio-rustls keeps two
//! 16 KiB buffers per connection for the connection's life (its reads and writes are io_uring
//! operations, which need memory they own while in flight); an idle keep-alive connection paid
//! for them while waiting. Here I/O waits for readiness first (a poll on the runtime's driver,
//! which holds no memory), then moves bytes with non-blocking `recv`/`sendmsg` straight between
//! the socket and rustls's own buffers: rustls reads ciphertext into its deframer and writes
//! records out of its queue, which empties as the socket takes them.
//!
//! Waiting for readiness rather than in a read also means that a read given up (a timeout drops
//! its future) has nothing in flight: no bytes can be lost with it. What has arrived stays in
//! the socket or in the session.
//!
//! All access to the session goes through a `RefCell` borrow that never spans an await, so a
//! read and a write in progress together (the two halves of a WebSocket session, `Split`) take
//! turns at it between their waits.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Split};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::{ServerConfig, ServerConnection};

/// A client's TLS connection, its handshake done.
pub struct TlsStream {
    tcp: TcpStream,
    session: RefCell<ServerConnection>,
    /// The last read from the socket took less than it asked for: the socket is most likely
    /// empty, so the next read waits for readiness first instead of trying a `recv` that would
    /// only say so (a system call saved per keep-alive request).
    drained: Cell<bool>,
}

// SAFETY: a read and a write may be in progress together: neither holds the session across an
// await (each borrows it for a non-blocking step, then waits for the socket's readiness), and
// the socket is only waited on (`&self`) and used through non-blocking system calls.
unsafe impl Split for TlsStream {}

impl TlsStream {
    /// Runs the server side of the handshake over `tcp`. The caller bounds it in time: dropping
    /// the future at any await leaves nothing in flight.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        let stream = TlsStream::resume(tcp, session);
        stream.handshake().await?;
        Ok(stream)
    }

    /// A stream over a session that was set aside with [`park`](Self::park).
    pub fn resume(tcp: TcpStream, session: ServerConnection) -> TlsStream {
        TlsStream { tcp, session: RefCell::new(session), drained: Cell::new(false) }
    }

    /// Lets go of the socket (closing this stream's descriptor) and hands back the session, for
    /// a parked connection to keep beside a duplicate of the descriptor. No close_notify: the
    /// connection goes on.
    pub fn park(self) -> ServerConnection {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: each field is read out exactly once and `this` is never used or dropped
        // again, so nothing is dropped twice; `Drop` (the close_notify) is skipped on purpose.
        let (tcp, session) = unsafe { (std::ptr::read(&this.tcp), std::ptr::read(&this.session)) };
        drop(tcp);
        session.into_inner()
    }

    async fn handshake(&self) -> io::Result<()> {
        loop {
            // Written before looking whether it is done: the server's last flight (and, over
            // TLS 1.3, its session tickets) goes out before the connection is served.
            self.send().await?;
            if !self.session.borrow().is_handshaking() {
                return Ok(());
            }
            match self.receive() {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the client left mid-handshake")),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.tcp.readable(false).await?,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn socket(&self) -> Socket {
        Socket(self.tcp.as_raw_fd())
    }

    /// Reads what the socket has now into the session and processes it, without waiting: how
    /// many bytes (0: the client closed its side), or `WouldBlock`.
    fn receive(&self) -> io::Result<usize> {
        let mut session = self.session.borrow_mut();
        let mut reader = Reader { fd: self.tcp.as_raw_fd(), short: false };
        let read = session.read_tls(&mut reader);
        self.drained.set(reader.short);
        let read = read?;
        if let Err(error) = session.process_new_packets() {
            // rustls queued an alert saying why; it goes if the socket takes it now.
            let _ = session.write_tls(&mut self.socket());
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
        if session.wants_write() {
            // An answer to what was read (a key update): sent now if the socket takes it, or
            // ahead of the next write's records otherwise.
            let _ = session.write_tls(&mut self.socket());
        }
        Ok(read)
    }

    /// Writes every record the session has queued, waiting for the socket to take them.
    async fn send(&self) -> io::Result<()> {
        loop {
            let written = {
                let mut session = self.session.borrow_mut();
                if !session.wants_write() {
                    return Ok(());
                }
                session.write_tls(&mut self.socket())
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.tcp.writable(false).await?,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Decrypts into `into` what the session holds, reading from the socket (after waiting for
    /// it) when it holds nothing: how many bytes, 0 once the client has closed (with
    /// close_notify; an end without it is `UnexpectedEof`).
    async fn read_into(&self, into: &mut [u8]) -> io::Result<usize> {
        if into.is_empty() {
            return Ok(0);
        }
        loop {
            match self.session.borrow_mut().reader().read(into) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            if self.drained.replace(false) {
                self.tcp.readable(false).await?;
            }
            match self.receive() {
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    // Waited for here: the next turn goes straight to the socket.
                    self.drained.set(false);
                    self.tcp.readable(false).await?
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Encrypts what of `data` the session's queue takes (up to its limit, 64 KiB) and writes
    /// it out: how many bytes of `data` that was.
    async fn write_from(&self, data: &[u8]) -> io::Result<usize> {
        // What an earlier write left queued (its future dropped mid-way) goes first, and leaves
        // the queue room for this one.
        self.send().await?;
        let taken = self.session.borrow_mut().writer().write(data)?;
        self.send().await?;
        Ok(taken)
    }

    /// Whether the client sent something (or closed) before `until`. Nothing is read from the
    /// socket, so nothing is lost when `until` comes first.
    pub async fn readable_before(&self, until: Instant) -> bool {
        let buffered = match self.session.borrow_mut().process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
            // The read that follows reports it.
            Err(_) => true,
        };
        if buffered {
            return true;
        }
        let wait = self.tcp.readable(false);
        // An error counts as readable: the read that follows reports it.
        monoio::time::timeout_at(monoio::time::Instant::from_std(until), wait).await.is_ok()
    }
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}

impl Drop for TlsStream {
    /// Says close_notify if the socket takes it now (a client may tell a truncated response
    /// from a complete one by it); the connection is closing either way, so nothing waits.
    fn drop(&mut self) {
        let session = self.session.get_mut();
        if session.is_handshaking() {
            return;
        }
        session.send_close_notify();
        let _ = session.write_tls(&mut Socket(self.tcp.as_raw_fd()));
    }
}

impl AsyncReadRent for TlsStream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: `write_ptr` is valid for `bytes_total` bytes, which rustls only writes to
        // (plaintext copied in); the buffer stays ours until returned.
        let into = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), buf.bytes_total()) };
        let result = self.read_into(into).await;
        if let Ok(count) = result {
            // SAFETY: the first `count` bytes were just written.
            unsafe { buf.set_init(count) };
        }
        (result, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // Into the first non-empty buffer: a short read is allowed.
        let iovecs: &[libc::iovec] =
            // SAFETY: `IoVecBufMut` promises `write_iovec_len` iovecs at `write_iovec_ptr`.
            unsafe { std::slice::from_raw_parts(buf.write_iovec_ptr(), buf.write_iovec_len()) };
        let Some(first) = iovecs.iter().find(|iovec| iovec.iov_len > 0) else { return (Ok(0), buf) };
        // SAFETY: as in `read`: the iovec's memory is writable and stays ours until returned.
        let into = unsafe { std::slice::from_raw_parts_mut(first.iov_base.cast::<u8>(), first.iov_len) };
        let result = self.read_into(into).await;
        if let Ok(count) = result {
            // SAFETY: the first `count` bytes of the first non-empty buffer were written, and
            // the buffers before it are empty.
            unsafe { buf.set_init(count) };
        }
        (result, buf)
    }
}

impl AsyncWriteRent for TlsStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr` is valid for `bytes_init` bytes while we hold the buffer.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let result = self.write_from(data).await;
        (result, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf_vec: T) -> BufResult<usize, T> {
        let iovecs: &[libc::iovec] =
            // SAFETY: `IoVecBuf` promises `read_iovec_len` iovecs at `read_iovec_ptr`.
            unsafe { std::slice::from_raw_parts(buf_vec.read_iovec_ptr(), buf_vec.read_iovec_len()) };
        let Some(first) = iovecs.iter().find(|iovec| iovec.iov_len > 0) else { return (Ok(0), buf_vec) };
        // SAFETY: the iovec's memory is readable while we hold the buffers. One buffer per call:
        // a short write is allowed, and the caller goes on with the rest.
        let data = unsafe { std::slice::from_raw_parts(first.iov_base.cast::<u8>(), first.iov_len) };
        let result = self.write_from(data).await;
        (result, buf_vec)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.send().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.session.borrow_mut().send_close_notify();
        self.send().await?;
        // SAFETY: shutdown(2) on the socket this stream owns; no memory is passed.
        match unsafe { libc::shutdown(self.tcp.as_raw_fd(), libc::SHUT_WR) } {
            -1 => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    }
}

/// The socket under the session, written without blocking whatever the descriptor's mode (the
/// runtime may have it blocking): `WouldBlock` sends the caller to wait for readiness.
struct Socket(RawFd);

/// The socket read without blocking, noting whether a read came back short (or empty).
struct Reader {
    fd: RawFd,
    short: bool,
}

impl Read for Reader {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        // SAFETY: recv(2) into a writable slice of `into.len()` bytes on an open descriptor.
        let received = unsafe { libc::recv(self.fd, into.as_mut_ptr().cast(), into.len(), libc::MSG_DONTWAIT) };
        if received < 0 {
            let error = io::Error::last_os_error();
            self.short = error.kind() == io::ErrorKind::WouldBlock;
            return Err(error);
        }
        // End of stream is short too, but nothing waits after it: the session reports it.
        self.short = (received as usize) < into.len() && received > 0;
        Ok(received as usize)
    }
}

impl Write for Socket {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(data)])
    }

    /// rustls hands its queued records over together: one system call for all of them.
    fn write_vectored(&mut self, data: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: an all-zero msghdr is valid (no address, no control data).
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        // `IoSlice` is ABI-compatible with `iovec` on Unix; sendmsg only reads them.
        message.msg_iov = data.as_ptr() as *mut libc::iovec;
        message.msg_iovlen = data.len().min(libc::UIO_MAXIOV as usize) as _;
        // SAFETY: `message` points at `data`, readable for the call's duration. MSG_NOSIGNAL: a
        // client gone is an error here, not a SIGPIPE.
        let sent = unsafe { libc::sendmsg(self.0, &message, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
