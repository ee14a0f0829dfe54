//! One worker's view of the cluster's counts, per usage-plan bucket: what Redis last said, what
//! this worker admitted since, and what it reserved. It decides each request without waiting
//! (see the module above for the rules and their bounds); `crate::policy::rate_limit` asks it
//! while Redis answers and keeps its local token buckets for when it does not.

use std::rc::Rc;

use super::{quota_chunk, rate_batch, Answer, Ask, Kind, Link};

/// Which limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Requests per second.
    Rate,
    /// Requests per day.
    Quota,
}

/// One limit's count in its current window (a second for the rate, a day for the quota).
#[derive(Debug, Default)]
struct Window {
    window: u64,
    /// Reserved and not yet used.
    tokens: u64,
    /// The size of the last reservation granted.
    last_chunk: u64,
    /// Admitted on credit and not yet reported.
    credit: u64,
    credit_in_flight: u64,
    asking: bool,
    /// Redis answered in this window.
    heard: bool,
    /// The window's count, as Redis last answered.
    used: u64,
}

impl Window {
    /// Whether a request may be admitted in `window` under `limit`.
    fn decide(&mut self, window: u64, limit: u64, workers: u64, refused: Refused) -> Result<(), Refused> {
        if self.window != window {
            *self = Window { window, ..Window::default() };
        }
        if self.tokens > 0 {
            Ok(())
        } else if self.heard && self.used >= limit {
            Err(refused)
        } else if self.credit + self.credit_in_flight >= rate_batch(limit, workers) {
            // More than a batch in one round trip to Redis: refused, which keeps the bound (a
            // Redis that stops answering is another matter: the local shares take over).
            Err(refused)
        } else {
            Ok(())
        }
    }

    /// Uses a token, or credit; whether to ask Redis now.
    fn commit(&mut self, limit: u64) -> bool {
        if self.tokens > 0 {
            self.tokens -= 1;
        } else {
            self.credit += 1;
        }
        let half_used = self.tokens * 2 <= self.last_chunk;
        !self.asking && (self.credit > 0 || (half_used && self.used < limit))
    }

    fn answered(&mut self, answer: &Answer) {
        if self.window != answer.window {
            return;
        }
        self.asking = false;
        self.heard = true;
        self.credit_in_flight = 0;
        self.used = answer.used;
        self.tokens += answer.granted;
        self.last_chunk = answer.granted.max(1);
    }
}

#[derive(Debug)]
struct SharedBucket {
    /// `prefix:plan:key:` (the kind and window are added per report).
    key: String,
    rate_limit: Option<u64>,
    quota_limit: Option<u64>,
    rate: Window,
    quota: Window,
}

/// Every bucket of one limiter (one configuration generation), in the limiter's order.
pub struct SharedCounts {
    link: Rc<Link>,
    epoch: u64,
    buckets: Vec<SharedBucket>,
}

impl std::fmt::Debug for SharedCounts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SharedCounts").field("epoch", &self.epoch).field("buckets", &self.buckets).finish()
    }
}

/// A limiter's buckets: `(plan name, key id, rate limit, quota limit)` each.
pub type BucketSpec<'a> = (&'a str, &'a str, Option<u64>, Option<u64>);

impl SharedCounts {
    /// The counts of a new limiter; each quota bucket asks for its first reservation at once,
    /// so that a worker is rarely without one at its first request.
    pub fn new<'a>(link: Rc<Link>, buckets: impl Iterator<Item = BucketSpec<'a>>, day: u64) -> SharedCounts {
        static EPOCHS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let epoch = EPOCHS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let buckets = buckets
            .map(|(plan, key, rate_limit, quota_limit)| SharedBucket {
                key: format!("{}:{plan}:{key}:", link.prefix),
                rate_limit,
                quota_limit,
                rate: Window::default(),
                quota: Window::default(),
            })
            .collect();
        let mut counts = SharedCounts { link, epoch, buckets };
        if counts.link.health.is_up() {
            for index in 0..counts.buckets.len() {
                if counts.buckets[index].quota_limit.is_some() {
                    counts.buckets[index].quota = Window { window: day, ..Window::default() };
                    counts.ask(index, Kind::Quota);
                }
            }
        }
        counts
    }

    /// Workers in the cluster, as Redis last counted them.
    pub fn cluster_workers(&self) -> u64 {
        self.link.health.cluster_workers()
    }

    /// Whether Redis answers: when not, the local shares decide everything.
    pub fn is_up(&self) -> bool {
        self.link.health.is_up()
    }

    /// Takes in Redis's answers waiting for this worker.
    pub fn take_answers(&mut self) {
        while let Some(answer) = self.link.answer() {
            self.apply(answer);
        }
    }

    fn apply(&mut self, answer: Answer) {
        if answer.epoch != self.epoch {
            return;
        }
        let Some(bucket) = self.buckets.get_mut(answer.bucket) else { return };
        match answer.kind {
            Kind::Rate => bucket.rate.answered(&answer),
            Kind::Quota => bucket.quota.answered(&answer),
        }
    }

    /// How bucket `index` may admit a request now (`second` and `day` since the Unix epoch);
    /// nothing is counted until [`SharedCounts::commit`].
    pub fn decide(&mut self, index: usize, second: u64, day: u64) -> Result<(), Refused> {
        let workers = self.link.health.cluster_workers();
        let bucket = &mut self.buckets[index];
        if let Some(limit) = bucket.quota_limit {
            bucket.quota.decide(day, limit, workers, Refused::Quota)?;
        }
        if let Some(limit) = bucket.rate_limit {
            bucket.rate.decide(second, limit, workers, Refused::Rate)?;
        }
        Ok(())
    }

    /// Counts an admitted request in bucket `index` and asks Redis for what is due.
    pub fn commit(&mut self, index: usize) {
        let bucket = &mut self.buckets[index];
        if let Some(limit) = bucket.quota_limit {
            if bucket.quota.commit(limit) {
                self.ask(index, Kind::Quota);
            }
        }
        let bucket = &mut self.buckets[index];
        if let Some(limit) = bucket.rate_limit {
            if bucket.rate.commit(limit) {
                self.ask(index, Kind::Rate);
            }
        }
    }

    /// Sends what is due and not on the way (the control task calls it between requests, so
    /// credits are reported even when no request follows).
    pub fn flush(&mut self) {
        self.take_answers();
        if !self.is_up() {
            // What was on the way when Redis went away gets no answer: ask afresh once it is back.
            for bucket in &mut self.buckets {
                for count in [&mut bucket.rate, &mut bucket.quota] {
                    count.asking = false;
                    count.credit_in_flight = 0;
                }
            }
            return;
        }
        for index in 0..self.buckets.len() {
            if self.buckets[index].quota.credit > 0 && !self.buckets[index].quota.asking {
                self.ask(index, Kind::Quota);
            }
            if self.buckets[index].rate.credit > 0 && !self.buckets[index].rate.asking {
                self.ask(index, Kind::Rate);
            }
        }
    }

    /// Reports bucket `index`'s credit for `kind` and asks for its next reservation.
    fn ask(&mut self, index: usize, kind: Kind) {
        let workers = self.link.health.cluster_workers();
        let bucket = &mut self.buckets[index];
        let (limit, count, letter) = match kind {
            Kind::Rate => (bucket.rate_limit, &mut bucket.rate, 'r'),
            Kind::Quota => (bucket.quota_limit, &mut bucket.quota, 'q'),
        };
        let Some(limit) = limit else { return };
        count.asking = true;
        count.credit_in_flight = count.credit;
        count.credit = 0;
        let ask = Ask {
            worker: self.link.worker,
            epoch: self.epoch,
            bucket: index,
            kind,
            key: format!("{}{letter}:{}", bucket.key, count.window),
            window: count.window,
            admitted: count.credit_in_flight,
            want: quota_chunk(limit.saturating_sub(count.used), workers),
            limit,
        };
        self.link.ask(ask);
    }
}
