//! One worker's free list of the buffers a client connection needs only while it serves a
//! request ([`RequestBuffers`]): the read buffer, the response buffer, the backend call's
//! buffers, the policy results and the chunked-body decoding buffer. A connection takes a set
//! once a request's first bytes have arrived and gives it back when it waits for its next request
//! with nothing buffered and nothing left to write, so an idle keep-alive connection holds only
//! the small buffer it waits in; a set comes back with its capacity, so requests in steady state
//! still allocate nothing.
//!
//! Owned by one worker ([`crate::worker::WorkerContext`]) and used from its thread only: a
//! `RefCell`, no lock, no atomic.

use std::cell::RefCell;

use crate::backend::CallBuffers;
use crate::policy::params::ParamValue;
use crate::policy::PolicyState;

/// Sets kept for reuse per worker, at most. A set is out of the pool while its request is in
/// progress, so the pool only has to cover the requests a worker serves at once; the sets a
/// burst beyond that made are dropped as they come back, instead of staying allocated for the
/// worker's whole life. At the usual size of a set (about 17 KB with the default 8 KiB read
/// buffer) a full pool holds about 4.4 MB.
pub const MAX_FREE_SETS: usize = 256;

/// A set with a buffer grown past this many bytes (a large head or body read, response, event or
/// chunked body) is dropped rather than pooled: every set the pool hands out would otherwise come
/// to hold that much, for good. A request that grew one moved a lot of data, next to which a
/// fresh allocation for the next such request is cheap.
pub const MAX_POOLED_BYTES: usize = 64 * 1024;

/// The response buffer's starting capacity.
const OUT_CAPACITY: usize = 4096;

/// The buffers one request in progress uses, kept with their capacity from request to request.
pub struct RequestBuffers {
    /// The read buffer the request is read into (lent to the connection's `RequestReader`;
    /// without capacity until a connection that uses it sizes it).
    pub read: Vec<u8>,
    /// Responses not yet written.
    pub out: Vec<u8>,
    /// The outgoing event or request to the function, and its scratch.
    pub call: CallBuffers,
    /// The request's policy results.
    pub policy: PolicyState,
    /// A chunked request body, decoded (lent to the connection's `RequestReader`).
    pub decoded: Vec<u8>,
}

impl RequestBuffers {
    /// A fresh set, sized for typical requests.
    pub fn new() -> Self {
        RequestBuffers {
            read: Vec::new(),
            out: Vec::with_capacity(OUT_CAPACITY),
            call: CallBuffers::new(),
            policy: PolicyState::default(),
            decoded: Vec::new(),
        }
    }

    /// A set without capacity (allocates nothing): what a connection holds between requests.
    pub fn empty() -> Self {
        RequestBuffers {
            read: Vec::new(),
            out: Vec::new(),
            call: CallBuffers::empty(),
            policy: PolicyState::default(),
            decoded: Vec::new(),
        }
    }

    /// Forgets the last request's contents; capacity stays.
    fn clear(&mut self) {
        self.read.clear();
        self.out.clear();
        self.call.request.clear();
        self.call.scratch.clear();
        self.policy.clear();
        self.policy.claims.clear();
        self.policy.scratch.clear();
        self.decoded.clear();
    }

    /// The largest buffer's capacity, in bytes.
    fn largest(&self) -> usize {
        let policy = &self.policy;
        [
            self.read.capacity(),
            self.out.capacity(),
            self.call.request.capacity(),
            self.call.scratch.capacity(),
            policy.headers.capacity(),
            policy.claims.capacity(),
            policy.scratch.capacity(),
            policy.values.capacity() * std::mem::size_of::<ParamValue>(),
            self.decoded.capacity(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

impl Default for RequestBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// One worker's free sets.
pub struct BufferPool {
    free: RefCell<Vec<RequestBuffers>>,
}

impl BufferPool {
    /// An empty pool (its list has room for every set it may keep, so giving back never grows it).
    pub fn new() -> Self {
        BufferPool { free: RefCell::new(Vec::with_capacity(MAX_FREE_SETS)) }
    }

    /// A set for a request: a pooled one if there is one, else a fresh one.
    pub fn take(&self) -> RequestBuffers {
        self.free.borrow_mut().pop().unwrap_or_default()
    }

    /// Takes a set back, emptied, unless the pool is full or the set grew too large for it.
    pub fn give_back(&self, mut set: RequestBuffers) {
        let mut free = self.free.borrow_mut();
        if free.len() < MAX_FREE_SETS && set.largest() <= MAX_POOLED_BYTES {
            set.clear();
            free.push(set);
        }
    }

    /// Sets in the pool now.
    pub fn free_sets(&self) -> usize {
        self.free.borrow().len()
    }
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_come_back_empty_with_their_capacity() {
        let pool = BufferPool::new();
        let mut set = pool.take();
        set.out.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        set.call.request.extend_from_slice(b"event");
        set.policy.headers.extend_from_slice(b"access-control-allow-origin: *\r\n");
        set.policy.claims.extend_from_slice(b"{\"sub\":\"alice\"}");
        set.decoded.extend_from_slice(b"body");
        let out = set.out.as_ptr();
        pool.give_back(set);
        assert_eq!(pool.free_sets(), 1);
        let again = pool.take();
        assert_eq!(again.out.as_ptr(), out, "the same buffer, reused");
        assert!(again.out.is_empty() && again.call.request.is_empty() && again.decoded.is_empty());
        assert!(again.policy.headers.is_empty() && again.policy.claims.is_empty());
        assert!(again.out.capacity() >= OUT_CAPACITY);
        assert_eq!(pool.free_sets(), 0);
    }

    #[test]
    fn the_pool_is_bounded_and_drops_grown_sets() {
        let pool = BufferPool::new();
        let sets: Vec<_> = (0..MAX_FREE_SETS + 10).map(|_| pool.take()).collect();
        for set in sets {
            pool.give_back(set);
        }
        assert_eq!(pool.free_sets(), MAX_FREE_SETS);

        let pool = BufferPool::new();
        let mut grown = pool.take();
        grown.out.reserve(MAX_POOLED_BYTES + 1);
        pool.give_back(grown);
        assert_eq!(pool.free_sets(), 0);
        let mut grown = pool.take();
        grown.decoded.reserve(MAX_POOLED_BYTES + 1);
        pool.give_back(grown);
        let mut grown = pool.take();
        grown.read.reserve(MAX_POOLED_BYTES + 1);
        pool.give_back(grown);
        assert_eq!(pool.free_sets(), 0);
    }

    #[test]
    fn an_empty_set_allocates_nothing() {
        let set = RequestBuffers::empty();
        assert_eq!(set.largest(), 0);
    }
}
