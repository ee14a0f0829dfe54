//! Idle keep-alive connections parked outside any task. A connection that has waited
//! `park_after` for its next request ends its task (its future, buffers and I/O state go) and
//! leaves its descriptor here: a slot of a few words in this worker's lot, registered with the
//! lot's epoll set. A TLS connection leaves its rustls session in the slot too, boxed (its keys,
//! sequence numbers and any bytes of a record begun: what the next request is decrypted with). One task per worker (`crate::connection::run_parking_lot`) waits on that
//! set; when a parked descriptor becomes readable (a request, or the client closing), it leaves
//! the lot and a fresh connection task serves it. Those past the idle timeout are closed here.
//! This module holds the lot alone (the worker owns one), not the connections' code.
//!
//! Why epoll beside io_uring: a parked connection must cost no submission, no timer and no task
//! of its own, and one epoll set watches any number of descriptors, each for the kernel's entry
//! alone. The lot's task sees the set's readiness as that of any descriptor (a poll on the
//! runtime's own driver), so nothing here blocks the worker.
//!
//! Owned by one worker and used from its thread only: `RefCell`, no lock, no atomic.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::worker::WorkerMetrics;

/// Events taken from the epoll set per call.
const EVENTS_PER_CALL: usize = 64;

/// The longest the lot's task sleeps with nothing to expire, so that it notices shutdown.
const LONGEST_SLEEP: Duration = Duration::from_secs(1);

/// One worker's parked connections.
pub struct ParkingLot {
    /// The epoll set the parked descriptors are registered with; `None` where epoll is not
    /// available, and then nothing parks.
    epoll: Option<OwnedFd>,
    state: RefCell<Lot>,
    /// Where the count of parked connections is published, as it changes (this worker is the
    /// gauge's only writer).
    metrics: Arc<WorkerMetrics>,
}

#[derive(Default)]
struct Lot {
    slots: Vec<Slot>,
    /// Slots without a connection, reused first.
    free: Vec<u32>,
    /// When each parked connection's idle timeout ends, earliest first. An entry whose slot has
    /// since been woken or reused (its tag differs) is skipped.
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    parked: usize,
}

/// A parked connection: its descriptor, its TLS session if it has one, and the peer its next
/// request's event names.
struct Slot {
    /// `-1` while the slot is free.
    fd: RawFd,
    /// Bumped each time the slot is vacated, so that a stale deadline or readiness event for an
    /// earlier occupant never touches the current one.
    tag: u32,
    peer: SocketAddr,
    session: Option<Box<rustls::ServerConnection>>,
}

/// A connection taken out of the lot.
pub struct Unparked {
    /// The client's socket, with something to read.
    pub socket: OwnedFd,
    /// The client's address, as accepted.
    pub peer: SocketAddr,
    /// Its TLS session, for a connection over TLS.
    pub session: Option<Box<rustls::ServerConnection>>,
}

impl ParkingLot {
    /// A lot with its own epoll set (or none, if the set cannot be made: nothing parks then),
    /// publishing its count to `metrics`.
    pub fn new(metrics: Arc<WorkerMetrics>) -> Self {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new descriptor
        // this lot owns from here on.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let epoll = if epoll >= 0 {
            // SAFETY: `epoll` was just created and is owned by nothing else.
            Some(unsafe { OwnedFd::from_raw_fd(epoll) })
        } else {
            tracing::warn!(error = %io::Error::last_os_error(), "no epoll set: idle connections are not parked");
            None
        };
        ParkingLot { epoll, state: RefCell::new(Lot::default()), metrics }
    }

    /// Whether connections can park here.
    pub fn available(&self) -> bool {
        self.epoll.is_some()
    }

    /// Connections parked now.
    pub fn parked(&self) -> usize {
        self.state.borrow().parked
    }

    /// Parks `socket` (with its TLS session, if any) until it is readable or `deadline` passes.
    /// On failure the socket is given back (the caller closes it; the session goes).
    pub fn park(
        &self,
        socket: OwnedFd,
        peer: SocketAddr,
        deadline: Instant,
        session: Option<Box<rustls::ServerConnection>>,
    ) -> Result<(), OwnedFd> {
        let Some(epoll) = &self.epoll else { return Err(socket) };
        let mut lot = self.state.borrow_mut();
        let index = match lot.free.pop() {
            Some(index) => index,
            None => {
                let Ok(index) = u32::try_from(lot.slots.len()) else { return Err(socket) };
                lot.slots.push(Slot { fd: -1, tag: 0, peer, session: None });
                index
            }
        };
        let tag = lot.slots[index as usize].tag;
        let mut event = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, u64: key(index, tag) };
        // SAFETY: both descriptors are open (the lot owns `epoll`, the caller gave `socket`), and
        // `event` is a valid epoll_event for the call's duration.
        let added = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, socket.as_raw_fd(), &mut event) };
        if added != 0 {
            lot.free.push(index);
            return Err(socket);
        }
        let slot = &mut lot.slots[index as usize];
        slot.fd = socket.into_raw_fd();
        slot.peer = peer;
        slot.session = session;
        lot.deadlines.push(Reverse((deadline, index, tag)));
        lot.parked += 1;
        self.metrics.connections.parked.set(lot.parked as u64);
        Ok(())
    }

    /// Takes the connection out of slot `index` if it still holds the one tagged `tag`.
    fn take(&self, index: u32, tag: u32) -> Option<Unparked> {
        let mut lot = self.state.borrow_mut();
        let slot = lot.slots.get_mut(index as usize)?;
        if slot.tag != tag || slot.fd < 0 {
            return None;
        }
        let fd = std::mem::replace(&mut slot.fd, -1);
        slot.tag = slot.tag.wrapping_add(1);
        let peer = slot.peer;
        let session = slot.session.take();
        if let Some(epoll) = &self.epoll {
            // SAFETY: `fd` is open (the slot owned it); a null event is allowed for EPOLL_CTL_DEL.
            unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
        }
        lot.free.push(index);
        lot.parked -= 1;
        self.metrics.connections.parked.set(lot.parked as u64);
        // SAFETY: the slot owned `fd` and has just let go of it.
        Some(Unparked { socket: unsafe { OwnedFd::from_raw_fd(fd) }, peer, session })
    }

    /// Closes every parked connection whose idle timeout has passed; when the next one ends.
    fn expire(&self, now: Instant) -> Option<Instant> {
        loop {
            let (deadline, index, tag) = {
                let lot = self.state.borrow();
                let Reverse(next) = *lot.deadlines.peek()?;
                next
            };
            if deadline > now {
                return Some(deadline);
            }
            self.state.borrow_mut().deadlines.pop();
            // Dropping the descriptor closes the connection (and takes it out of the set).
            drop(self.take(index, tag));
        }
    }

    /// Closes every parked connection (shutdown: they have no request in flight).
    pub fn close_all(&self) {
        let entries: Vec<_> = self.state.borrow_mut().deadlines.drain().collect();
        for Reverse((_, index, tag)) in entries {
            drop(self.take(index, tag));
        }
        let mut lot = self.state.borrow_mut();
        lot.slots = Vec::new();
        lot.free = Vec::new();
    }

    /// The connections whose descriptors are readable now (or whose clients hung up).
    fn ready(&self, events: &mut [libc::epoll_event]) -> usize {
        let Some(epoll) = &self.epoll else { return 0 };
        // SAFETY: `events` is writable for `events.len()` entries; a zero timeout never blocks.
        let count = unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, 0) };
        usize::try_from(count).unwrap_or(0)
    }

    /// Takes out every parked connection that is readable now (or whose client hung up),
    /// handing each to `serve`; `events` is scratch space, reused from call to call.
    pub fn wake_ready(&self, events: &mut [libc::epoll_event], mut serve: impl FnMut(Unparked)) {
        loop {
            let count = self.ready(events);
            for event in &events[..count] {
                let Some(unparked) = self.take(event.u64 as u32, (event.u64 >> 32) as u32) else { continue };
                // A client that closed with nothing sent is closed here (dropping the socket),
                // not given a task only to read the end of its stream.
                if event.events & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
                    && nothing_to_read(&unparked.socket)
                {
                    continue;
                }
                serve(unparked);
            }
            if count < events.len() {
                return;
            }
        }
    }

    /// Closes the connections past their idle timeout; when to look again (at the next
    /// deadline, and at least every second so that shutdown is noticed).
    pub fn expire_and_next_wake(&self, now: Instant) -> Instant {
        let latest = now + LONGEST_SLEEP;
        self.expire(now).map_or(latest, |next| next.min(latest))
    }

    /// Scratch space for [`wake_ready`](Self::wake_ready).
    pub fn event_buffer() -> Vec<libc::epoll_event> {
        vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_CALL]
    }

    /// A runtime stream over a second descriptor of the epoll set, for waiting on its readiness
    /// (it is never read or written).
    pub fn waiter(&self) -> Option<monoio::net::TcpStream> {
        let epoll = self.epoll.as_ref()?.try_clone().ok()?;
        // SAFETY: the runtime only polls this descriptor for readability (`readable`), which
        // any pollable descriptor supports; it owns the duplicate and closes it when dropped.
        let stream = unsafe { std::net::TcpStream::from_raw_fd(epoll.into_raw_fd()) };
        monoio::net::TcpStream::from_std(stream).ok()
    }
}

/// Whether the socket has reached its end (or failed) with no byte left to read.
fn nothing_to_read(socket: &OwnedFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: recv(2) with MSG_PEEK | MSG_DONTWAIT into a one-byte stack buffer on an open
    // descriptor: it neither consumes data nor blocks.
    let peeked = unsafe {
        libc::recv(socket.as_raw_fd(), (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)
    };
    peeked == 0 || (peeked < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock)
}

fn key(index: u32, tag: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    #[test]
    fn a_parked_socket_is_reported_when_readable_and_taken_once() {
        let lot = ParkingLot::new(Arc::new(WorkerMetrics::new(0)));
        let (ours, theirs) = UnixStream::pair().unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        lot.park(OwnedFd::from(ours), peer(), far, None).unwrap();
        assert_eq!(lot.parked(), 1);
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 4];
        assert_eq!(lot.ready(&mut events), 0, "nothing to read yet");
        use std::io::Write;
        (&theirs).write_all(b"GET").unwrap();
        assert_eq!(lot.ready(&mut events), 1);
        let key = events[0].u64;
        let taken = lot.take(key as u32, (key >> 32) as u32).expect("taken");
        assert_eq!(taken.peer, peer());
        assert!(lot.take(key as u32, (key >> 32) as u32).is_none(), "a stale event takes nothing");
        assert_eq!(lot.parked(), 0);
        // Its deadline is stale too: expiring it leaves the next occupant of the slot alone.
        let (again, _theirs_again) = UnixStream::pair().unwrap();
        lot.park(OwnedFd::from(again), peer(), far, None).unwrap();
        assert_eq!(lot.expire(Instant::now() + Duration::from_secs(61)), None);
        assert_eq!(lot.parked(), 0, "the second occupant's own deadline passed as well");
    }

    #[test]
    fn a_client_that_hung_up_is_closed_here_and_one_that_sent_a_request_first_is_served() {
        use std::io::Write;
        let lot = ParkingLot::new(Arc::new(WorkerMetrics::new(0)));
        let far = Instant::now() + Duration::from_secs(60);
        let (silent, silent_peer) = UnixStream::pair().unwrap();
        let (speaking, speaking_peer) = UnixStream::pair().unwrap();
        lot.park(OwnedFd::from(silent), peer(), far, None).unwrap();
        lot.park(OwnedFd::from(speaking), peer(), far, None).unwrap();
        drop(silent_peer);
        (&speaking_peer).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        speaking_peer.shutdown(std::net::Shutdown::Write).unwrap();
        let mut served = 0;
        lot.wake_ready(&mut ParkingLot::event_buffer(), |_| served += 1);
        assert_eq!((served, lot.parked()), (1, 0));
    }

    #[test]
    fn connections_past_their_deadline_are_closed_and_the_others_kept() {
        let lot = ParkingLot::new(Arc::new(WorkerMetrics::new(0)));
        let now = Instant::now();
        let (early, early_peer) = UnixStream::pair().unwrap();
        let (late, late_peer) = UnixStream::pair().unwrap();
        lot.park(OwnedFd::from(late), peer(), now + Duration::from_secs(30), None).unwrap();
        lot.park(OwnedFd::from(early), peer(), now + Duration::from_secs(5), None).unwrap();
        let next = lot.expire(now + Duration::from_secs(10));
        assert_eq!(next, Some(now + Duration::from_secs(30)));
        assert_eq!(lot.parked(), 1);
        // The early one's client sees its connection closed; the late one's does not.
        use std::io::Read;
        early_peer.set_nonblocking(true).unwrap();
        late_peer.set_nonblocking(true).unwrap();
        assert_eq!((&early_peer).read(&mut [0u8; 1]).unwrap(), 0);
        assert_eq!((&late_peer).read(&mut [0u8; 1]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        lot.close_all();
        assert_eq!(lot.parked(), 0);
        assert_eq!((&late_peer).read(&mut [0u8; 1]).unwrap(), 0);
    }
}
