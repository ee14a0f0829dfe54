//! What a web function's supervisor (`function_host::web_supervisor`, on the host thread) and the workers
//! share, and nothing else: per instance its address, its state (stopped, starting, ready,
//! draining) and its load as the supervisor last summed it; per worker the requests it has in
//! flight on each instance and those waiting for one.
//!
//! Written rarely, read often. The supervisor stores an instance's state when it changes and its
//! load when that changes (at most once per 20 ms tick); each worker stores its own counts on its
//! control tick (50 ms), into cache lines no other worker writes. A request only loads a few of
//! these (relaxed: a slightly stale value costs a less even spread, never a wrong answer, since
//! a connection to an instance that just stopped is refused and retried), and stores none.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Where an instance is in its life, as the workers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// No process, none wanted: not a candidate.
    Stopped = 0,
    /// Wanted and not accepting yet (starting, or waiting out a restart backoff): requests may
    /// wait for it.
    Starting = 1,
    /// Accepting connections: requests may be sent to it.
    Ready = 2,
    /// Being stopped (scaled down, or replaced by new code): no new request goes to it.
    Draining = 3,
}

impl InstanceState {
    fn from_bits(bits: u64) -> Self {
        match bits & 0xff {
            1 => InstanceState::Starting,
            2 => InstanceState::Ready,
            3 => InstanceState::Draining,
            _ => InstanceState::Stopped,
        }
    }
}

/// One instance's state and which process it is (its incarnation: bumped at every start, so a
/// pooled connection to an earlier process on the same port is recognised and dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceStatus {
    /// Where it is in its life.
    pub state: InstanceState,
    /// Which start of the instance this is.
    pub incarnation: u64,
}

/// Counters on a cache line of their own, so that one writer's stores do not slow another's.
#[repr(align(64))]
#[derive(Default)]
struct Line([AtomicUsize; 8]);

const PER_LINE: usize = 8;

#[repr(align(64))]
struct InstanceBoard {
    /// `incarnation << 8 | state`.
    status: AtomicU64,
    /// Requests in flight on it, all workers together, as last summed by the supervisor.
    load: AtomicUsize,
}

/// Shared by one web function's supervisor and every worker (see the module docs).
pub struct WebInstances {
    addresses: Box<[SocketAddr]>,
    instances: Box<[InstanceBoard]>,
    /// Per worker, `lines_per_worker` lines: counter 0 is its waiting requests, counter `1 + i`
    /// its requests in flight on instance `i`.
    reports: Box<[Line]>,
    lines_per_worker: usize,
    workers: usize,
    /// Every wanted instance keeps failing to start and none is ready: waiting is pointless.
    failing: AtomicBool,
    /// Why, when the supervisor knows (read only by requests that fail for it).
    failure: std::sync::Mutex<Option<std::sync::Arc<str>>>,
    /// Requests one instance takes before another is wanted.
    pub concurrency: usize,
    /// Most instances running at once (not counting one replacing another on new code).
    pub max_instances: usize,
    /// How long a request waits for an instance to start before its 502.
    pub init_timeout: Duration,
}

impl std::fmt::Debug for WebInstances {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WebInstances")
            .field("addresses", &self.addresses)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl WebInstances {
    /// The board of a function whose instances listen on `addresses`, for `workers` workers.
    pub fn new(
        addresses: Vec<SocketAddr>,
        workers: usize,
        concurrency: usize,
        max_instances: usize,
        init_timeout: Duration,
    ) -> Self {
        let lines_per_worker = (addresses.len() + 1).div_ceil(PER_LINE);
        let workers = workers.max(1);
        WebInstances {
            instances: addresses
                .iter()
                .map(|_| InstanceBoard { status: AtomicU64::new(0), load: AtomicUsize::new(0) })
                .collect(),
            addresses: addresses.into_boxed_slice(),
            reports: (0..workers * lines_per_worker).map(|_| Line::default()).collect(),
            lines_per_worker,
            workers,
            failing: AtomicBool::new(false),
            failure: std::sync::Mutex::new(None),
            concurrency: concurrency.max(1),
            max_instances,
            init_timeout,
        }
    }

    /// How many instance slots there are (`max_instances`, plus a spare one for code reloads
    /// when the gateway picks the ports).
    pub fn slots(&self) -> usize {
        self.addresses.len()
    }

    /// The address of instance `slot`.
    pub fn address(&self, slot: usize) -> SocketAddr {
        self.addresses[slot]
    }

    /// Instance `slot`'s state (workers, per request).
    pub fn status(&self, slot: usize) -> InstanceStatus {
        let bits = self.instances[slot].status.load(Ordering::Relaxed);
        InstanceStatus { state: InstanceState::from_bits(bits), incarnation: bits >> 8 }
    }

    /// Requests in flight on instance `slot`, all workers together, a tick or two ago.
    pub fn load(&self, slot: usize) -> usize {
        self.instances[slot].load.load(Ordering::Relaxed)
    }

    /// Whether the function cannot start at all right now (see [`WebInstances::set_failing`]).
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn counter(&self, worker: usize, index: usize) -> &AtomicUsize {
        let line = worker * self.lines_per_worker + index / PER_LINE;
        &self.reports[line].0[index % PER_LINE]
    }

    /// A worker's counts (its control task, every tick): requests waiting for an instance, and
    /// requests in flight per instance.
    pub fn report(&self, worker: usize, waiting: usize, in_flight: impl Iterator<Item = usize>) {
        if worker >= self.workers {
            return;
        }
        self.counter(worker, 0).store(waiting, Ordering::Relaxed);
        for (slot, count) in in_flight.take(self.slots()).enumerate() {
            self.counter(worker, 1 + slot).store(count, Ordering::Relaxed);
        }
    }

    /// Sums every worker's reports (supervisor): fills `loads` per instance and returns the
    /// requests waiting for one.
    pub fn sum_reports(&self, loads: &mut [usize]) -> usize {
        loads.iter_mut().for_each(|load| *load = 0);
        let mut waiting = 0;
        for worker in 0..self.workers {
            waiting += self.counter(worker, 0).load(Ordering::Relaxed);
            for (slot, load) in loads.iter_mut().enumerate().take(self.slots()) {
                *load += self.counter(worker, 1 + slot).load(Ordering::Relaxed);
            }
        }
        waiting
    }

    /// Publishes instance `slot`'s state (supervisor, when it changes).
    pub fn set_status(&self, slot: usize, status: InstanceStatus) {
        self.instances[slot].status.store(status.incarnation << 8 | status.state as u64, Ordering::Relaxed);
    }

    /// Publishes instance `slot`'s summed load (supervisor, when it changes).
    pub fn set_load(&self, slot: usize, load: usize) {
        if self.instances[slot].load.load(Ordering::Relaxed) != load {
            self.instances[slot].load.store(load, Ordering::Relaxed);
        }
    }

    /// Marks the function as unable to start (every wanted instance keeps failing, none is
    /// ready): requests then fail at once instead of waiting out `init_timeout`.
    /// `reason`: why, when known (requests that fail for it are told).
    pub fn set_failing(&self, failing: bool, reason: Option<&str>) {
        if self.failing.load(Ordering::Relaxed) != failing {
            let mut failure = self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *failure = reason.map(std::sync::Arc::from);
            self.failing.store(failing, Ordering::Relaxed);
        }
    }

    /// Why the function cannot start, when the supervisor knows (see [`set_failing`](Self::set_failing)).
    pub fn failure(&self) -> Option<std::sync::Arc<str>> {
        self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_summed_per_instance_and_states_round_trip() {
        let addresses: Vec<SocketAddr> = (0..9).map(|port| SocketAddr::from(([127, 0, 0, 1], 9000 + port))).collect();
        let board = WebInstances::new(addresses, 3, 1, 8, Duration::from_secs(1));
        board.report(0, 2, [1, 0, 0, 0, 0, 0, 0, 0, 4].into_iter());
        board.report(2, 1, [1, 3].into_iter());
        board.report(7, 9, [9].into_iter()); // no such worker: ignored
        let mut loads = vec![0; 9];
        assert_eq!(board.sum_reports(&mut loads), 3);
        assert_eq!(loads, [2, 3, 0, 0, 0, 0, 0, 0, 4]);
        for state in [InstanceState::Stopped, InstanceState::Starting, InstanceState::Ready, InstanceState::Draining] {
            let status = InstanceStatus { state, incarnation: 12345 };
            board.set_status(8, status);
            assert_eq!(board.status(8), status);
        }
    }
}
