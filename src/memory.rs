//! What a worker may hold in memory for requests, and giving freed memory back to the system.
//!
//! An event API reads a request's body whole before it invokes the function (the event carries
//! it), so a client can make a worker hold `--max-body-bytes` per connection, and slowly: 100
//! connections each sending most of a 6 MiB body took the gateway from 20 MB to 869 MB. Each
//! worker therefore has a [`BodyBudget`], its share of `--body-memory`: a body larger than the
//! connection's read buffer is admitted only with a [`BodyReservation`] of [`COPIES_PER_BODY`]
//! times its size, held until its response has been written; a body that does not fit is refused at once with 503 and
//! `Retry-After` (before any of it is read), so the clients already admitted are served.
//! Bodies small enough for the read buffer and bodies streamed to web functions (in bounded
//! steps) are not counted: connections bound them (`--max-connections`).
//!
//! The budget is a `Cell`: per worker, no atomic, no lock; admitting a body is an add and a
//! compare.
//!
//! Freed memory: mimalloc returns freed pages to the system lazily, when the thread that owns
//! them allocates again. A worker that served a burst of large bodies and then fell idle would
//! keep them resident; [`return_freed_memory`], run by each worker's control task twice a
//! second (never on the request path), lets mimalloc purge them. It forces the purge: pages
//! freed by connection tasks that ended (a connection parked, `crate::connection::park`) are
//! otherwise kept for reuse, and 1,000 connections parked at once left about 2.5 KB each
//! resident instead of 1.7 KB (`loadtest/connections.py`). The walk covers only the worker's own
//! heap, twice a second.

use std::cell::Cell;

/// How many copies of a body an event request holds while its response is written: the body
/// as read, the event that carries it, and the answer, which for the functions such bodies go
/// to (uploads, echoes, transforms) is of its size. A body is admitted for this many times its
/// size (measured: `loadtest/memory.py`).
pub const COPIES_PER_BODY: usize = 3;

/// One worker's allowance for request bodies held whole (see the module docs). Its limit comes
/// with each reservation's growth, from the configuration the request is served with, so a
/// reload that changes `--body-memory` applies to the next body.
#[derive(Debug, Default)]
pub struct BodyBudget {
    held: Cell<usize>,
}

impl BodyBudget {
    /// Bytes held now by admitted bodies.
    pub fn held(&self) -> usize {
        self.held.get()
    }

    /// An empty reservation against this budget, grown with [`BodyReservation::grow_to`].
    pub fn reservation(&self) -> BodyReservation<'_> {
        BodyReservation { budget: self, bytes: 0 }
    }
}

/// Bytes of a [`BodyBudget`] held for one request's body; given back when dropped.
#[derive(Debug)]
pub struct BodyReservation<'a> {
    budget: &'a BodyBudget,
    bytes: usize,
}

impl BodyReservation<'_> {
    /// Holds `bytes` in all (no change when it holds that much already); `false`, holding what
    /// it held, when the budget's `limit` cannot spare the difference.
    pub fn grow_to(&mut self, bytes: usize, limit: usize) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        let more = bytes - self.bytes;
        let held = self.budget.held.get();
        if held + more > limit {
            return false;
        }
        self.budget.held.set(held + more);
        self.bytes = bytes;
        true
    }

    /// Bytes it holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for BodyReservation<'_> {
    fn drop(&mut self) {
        self.budget.held.set(self.budget.held.get() - self.bytes);
    }
}

/// Lets the allocator give this thread's freed pages back to the system now (see the module
/// docs). Costs a walk over the thread's heap: for the control task, not the request path.
pub fn return_freed_memory() {
    // SAFETY: `mi_collect` only inspects and purges the calling thread's own heap (and frees
    // what other threads gave back to it).
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_back_what_they_held() {
        let budget = BodyBudget::default();
        let mut first = budget.reservation();
        assert!(first.grow_to(6, 10));
        let mut second = budget.reservation();
        assert!(!second.grow_to(5, 10), "6 + 5 is over 10");
        assert_eq!((second.bytes(), budget.held()), (0, 6));
        assert!(second.grow_to(4, 10));
        assert!(first.grow_to(6, 10), "holding as much already");
        assert!(!first.grow_to(7, 10));
        assert_eq!((first.bytes(), budget.held()), (6, 10));
        drop(first);
        assert_eq!(budget.held(), 4);
        assert!(!second.grow_to(10, 9), "a smaller limit after a reload");
        assert!(second.grow_to(10, 10));
        drop(second);
        assert_eq!(budget.held(), 0);
    }
}
