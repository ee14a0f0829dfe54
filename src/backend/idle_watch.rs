//! Watching a pooled backend connection while it is idle, so that one which speaks out of turn
//! is closed instead of handed to the next request.
//!
//! A connection back in the pool has finished a cleanly framed response. Anything that arrives
//! on it before the next request is sent (an unsolicited second response, the answer to a
//! request the function found in a body it did not read, a close) would otherwise be read as the
//! next client's response: one client's answer handed to another. nginx, HAProxy and Pingora
//! watch idle upstream connections for exactly this; so does the pool here.
//!
//! How: a readiness poll (`POLLIN`, which also fires on a close or an error) is armed on the
//! socket when the connection goes idle. On io_uring it rides in the worker's next
//! `io_uring_enter` and its completion is reaped with the others, so watching costs no syscall
//! of its own. Taking the connection looks at the poll without waiting ([`IdleWatch::spoke`])
//! and leaves it armed rather than cancel it (a cancelled operation costs a cancellation and, in
//! monoio, an allocation): the answer to the request then fires it, and the next idle period
//! arms a new one. So a request costs at most one poll submission.
//!
//! A poll fired by an answer can be reaped late, after its connection went idle again; so a
//! fired poll is confirmed with a non-blocking `MSG_PEEK` before the connection is given up (one
//! syscall, only then). Bytes that arrive after the worker last reaped completions are not seen:
//! the same window every event-loop proxy has, which is why requests whose bodies a function may
//! leave unread are also kept off reused connections (`crate::backend::web_proxy`).
//!
//! The poll needs a socket of its own to borrow for as long as it is armed, while the pool keeps
//! moving the connection: it is given a duplicate of the connection's descriptor (one `dup` per
//! connection, when it first goes idle), and the poll's future is built in place in a slot
//! allocated with the watch, so arming it allocates nothing.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Waker};

use monoio::net::TcpStream;

/// A readiness watch on one connection's socket (see the module docs).
pub struct IdleWatch {
    slot: Pin<Box<dyn Watch>>,
}

impl IdleWatch {
    /// A watch on the socket `fd` (which stays the caller's; the watch holds its own duplicate).
    pub fn new(fd: RawFd) -> io::Result<Self> {
        // SAFETY: `fd` is an open socket the caller owns; F_DUPFD_CLOEXEC returns a new
        // descriptor (or -1), which the std stream below then owns, and CLOEXEC keeps it out of
        // the function processes the gateway starts.
        let duplicate = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if duplicate < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = Rc::new(TcpStream::from_std(unsafe { std::net::TcpStream::from_raw_fd(duplicate) })?);
        let fd = socket.as_raw_fd();
        let make = move || {
            let socket = Rc::clone(&socket);
            // Not relaxed: on the epoll driver a relaxed poll reports ready at once.
            async move { socket.readable(false).await }
        };
        Ok(IdleWatch { slot: Box::pin(Slot { make, fd, armed: None, spoke: false }) })
    }

    /// Makes sure a poll is armed (the connection just went idle). One still armed from an
    /// earlier idle period has not fired since, so it watches this one too and is kept.
    pub fn ensure_armed(&mut self) {
        self.slot.as_mut().ensure_armed();
    }

    /// Whether bytes, a close or an error arrived since the poll was armed, as far as the worker
    /// has reaped; does not wait.
    pub fn spoke(&mut self) -> bool {
        self.slot.as_mut().spoke()
    }
}

/// The slot's operations, so that [`IdleWatch`] need not name the poll future's type.
trait Watch {
    fn ensure_armed(self: Pin<&mut Self>);
    fn spoke(self: Pin<&mut Self>) -> bool;
}

/// Makes poll futures (`make`) and holds the armed one in place.
struct Slot<F, M> {
    make: M,
    /// The watched socket (the duplicate the poll futures hold).
    fd: RawFd,
    armed: Option<F>,
    /// Bytes, a close or an error were seen (the poll fired and a peek confirmed it).
    spoke: bool,
}

impl<F, M> Slot<F, M> {
    /// (the maker, the armed future pinned in place, the socket, the flag).
    fn project(self: Pin<&mut Self>) -> (&mut M, Pin<&mut Option<F>>, RawFd, &mut bool) {
        // SAFETY: `armed` is structurally pinned (it is only ever polled, dropped or replaced in
        // place, never moved out); the other fields are not pinned.
        unsafe {
            let this = self.get_unchecked_mut();
            (&mut this.make, Pin::new_unchecked(&mut this.armed), this.fd, &mut this.spoke)
        }
    }
}

impl<F: Future<Output = io::Result<()>>, M: FnMut() -> F> Watch for Slot<F, M> {
    fn ensure_armed(self: Pin<&mut Self>) {
        let (make, mut armed, fd, spoke) = self.project();
        // A poll still pending watches on. One that fired (most often at the answer just read)
        // is replaced without a peek: whatever it saw has been read as that answer, and a new
        // poll reports anything still there.
        if armed.as_mut().as_pin_mut().is_some() && !poll_once(armed.as_mut()) {
            return;
        }
        armed.set(Some(make()));
        // The first poll submits it (on the epoll driver it looks at the socket at once, and
        // what it saw is confirmed as in `spoke`).
        *spoke = poll_once(armed) && peek_speaks(fd);
    }

    fn spoke(self: Pin<&mut Self>) -> bool {
        let (_, armed, fd, spoke) = self.project();
        if !*spoke && poll_once(armed) {
            // Fired: maybe by the last answer, reaped late. The socket says whether it still has
            // anything to read; if not, the next idle period arms a new poll.
            *spoke = peek_speaks(fd);
        }
        *spoke
    }
}

/// Polls the armed future once with a waker that does nothing (nobody waits on a watch: it is
/// looked at when the connection is taken); `true` when it completed, and then it is dropped.
fn poll_once<F: Future<Output = io::Result<()>>>(mut armed: Pin<&mut Option<F>>) -> bool {
    let ready = match armed.as_mut().as_pin_mut() {
        Some(future) => future.poll(&mut Context::from_waker(Waker::noop())).is_ready(),
        None => false,
    };
    if ready {
        armed.set(None);
    }
    ready
}

/// Whether the socket has bytes to read, has been closed by the peer, or has failed, now.
fn peek_speaks(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local; the socket stays open while the watch exists.
    let read = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    // 0: closed by the peer; > 0: bytes; < 0: nothing yet (EAGAIN), else a failure.
    read >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
}
