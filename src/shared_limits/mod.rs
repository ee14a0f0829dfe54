//! Usage plans across a cluster (`--limits redis://HOST:PORT[/DB]`): the counts live in Redis,
//! and no request waits for it. Each worker decides locally from what Redis last told it,
//! through one Redis thread per node ([`agent`]). Rates (requests per second, windows of one
//! Unix second) and quotas (requests per UTC day) work alike:
//!
//! - Workers take **reservations** from Redis, which grants at most what is left of the window
//!   (atomically, in a Lua script), and admit from them. A worker asks for its next reservation
//!   when half of the last is used, sized `clamp(⌊left / (4 × workers)⌋, 1, 1024)`
//!   ([`quota_chunk`]), so reservations shrink to one request as the limit nears.
//! - Without a reservation in hand (its first request of a window, or one outran its next
//!   reservation) a worker admits **on credit**, at most `batch = clamp(⌊limit / (4 × workers)⌋,
//!   1, 64)` at a time ([`rate_batch`]), and reports it as used. Once Redis says a window is spent,
//!   the worker refuses until the window ends.
//! - So in any window the cluster admits at most `limit + Σ batch` over every worker of every
//!   node (the credits), and a reservation left unused when its window ends is lost (a rate may
//!   admit a little under its limit in a second; a quota only when a node stops holding one).
//!   Windows follow each node's clock: keep the nodes on NTP.
//! - Counts are Redis's: a node that restarts forgets nothing.
//! - A worker never holds more than `batch` credits waiting for Redis's answer: a burst larger
//!   than that within one round trip is refused (429), as over the limit.
//! - **Redis down or slow** (no answer within [`agent::STALE_AFTER`]): each worker falls back to its local token bucket and quota share, sized
//!   for its share of the last known cluster (`limit / workers in the cluster`), and logs it; the
//!   agent reconnects in the background.
//!
//! The number of workers in the cluster comes from Redis too: every node's agent registers its
//! workers under a key that expires when the node stops renewing it.

pub mod agent;
pub mod counts;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// Which count a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Requests in one second.
    Rate,
    /// Requests in one UTC day.
    Quota,
}

/// A worker's report to the agent: `admitted` requests to add to the count, `want` more to
/// reserve (quota; granted up to the limit).
#[derive(Debug)]
pub struct Ask {
    /// The asking worker (where the answer goes).
    pub worker: usize,
    /// The asking limiter's epoch: answers to an older configuration's limiter are dropped.
    pub epoch: u64,
    /// The bucket within the limiter.
    pub bucket: usize,
    /// Rate or quota.
    pub kind: Kind,
    /// The Redis key: prefix, plan, key, kind and window.
    pub key: String,
    /// The window (Unix second or day) the count is for.
    pub window: u64,
    /// Requests admitted since the last report.
    pub admitted: u64,
    /// Requests to reserve.
    pub want: u64,
    /// The plan's limit for the window.
    pub limit: u64,
}

/// Redis's answer to an [`Ask`].
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// The epoch of the limiter that asked.
    pub epoch: u64,
    /// The bucket that asked.
    pub bucket: usize,
    /// Rate or quota.
    pub kind: Kind,
    /// The window asked about.
    pub window: u64,
    /// The cluster's count for the window after this report and reservation.
    pub used: u64,
    /// Requests reserved for the asker.
    pub granted: u64,
}

/// What the agent tells every worker at no cost per request: whether Redis answers, and how
/// many workers the cluster has.
#[derive(Debug)]
pub struct Health {
    up: Arc<AtomicBool>,
    cluster_workers: AtomicU64,
}

impl Health {
    /// A node of `workers` workers that has not heard from Redis yet.
    pub fn new(workers: usize) -> Health {
        Health { up: Arc::new(AtomicBool::new(false)), cluster_workers: AtomicU64::new(workers as u64) }
    }

    /// Whether Redis answered lately.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The flag itself, for the metrics.
    pub fn up_flag(&self) -> Arc<AtomicBool> {
        self.up.clone()
    }

    /// Workers in the cluster, as last counted (at least this node's).
    pub fn cluster_workers(&self) -> u64 {
        self.cluster_workers.load(Ordering::Relaxed).max(1)
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn set_cluster_workers(&self, workers: u64) {
        self.cluster_workers.store(workers, Ordering::Relaxed);
    }
}

/// One worker's line to the agent, kept for the worker's life (limiters of each configuration
/// borrow it).
pub struct Link {
    /// This worker's index.
    pub worker: usize,
    asks: Sender<Ask>,
    answers: Receiver<Answer>,
    /// Shared with the agent.
    pub health: Arc<Health>,
    /// Where keys live in Redis (`--limits-prefix`).
    pub prefix: Arc<str>,
}

impl Link {
    /// Sends a report; a full or gone agent loses it (the worker's view then goes stale and it
    /// falls back to local limits).
    pub fn ask(&self, ask: Ask) {
        let _ = self.asks.send(ask);
    }

    /// The next answer waiting, if any.
    pub fn answer(&self) -> Option<Answer> {
        self.answers.try_recv().ok()
    }
}

/// How many of a worker's rate admissions may be uncounted in Redis at once.
pub fn rate_batch(limit: u64, cluster_workers: u64) -> u64 {
    (limit / (4 * cluster_workers.max(1))).clamp(1, 64)
}

/// How many requests of a quota a worker reserves at once, with `left` of it unreserved.
pub fn quota_chunk(left: u64, cluster_workers: u64) -> u64 {
    (left / (4 * cluster_workers.max(1))).clamp(1, 1024)
}

/// The agent's handle on every worker's line, made once before the workers start.
static LINKS: std::sync::Mutex<Vec<Option<Link>>> = std::sync::Mutex::new(Vec::new());

/// Worker `worker`'s line, when `--limits` is set (taken once, when the worker starts).
pub fn take_link(worker: usize) -> Option<Link> {
    LINKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get_mut(worker).and_then(Option::take)
}

pub(crate) fn install_links(links: Vec<Link>) {
    *LINKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = links.into_iter().map(Some).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_with_the_limit_and_the_cluster() {
        #[rustfmt::skip]
        let cases: &[(u64, u64, u64)] = &[
            // limit, workers in the cluster, batch
            (10, 3, 1),
            (10, 1, 2),
            (1_000, 3, 64),
            (100, 6, 4),
            (0, 3, 1),
        ];
        for &(limit, workers, batch) in cases {
            assert_eq!(rate_batch(limit, workers), batch, "{limit} over {workers}");
        }
        assert_eq!(quota_chunk(100, 3), 8);
        assert_eq!(quota_chunk(5, 3), 1);
        assert_eq!(quota_chunk(10_000_000, 2), 1024);
    }
}
