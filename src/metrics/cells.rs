//! The counting cells behind every metric: a counter, a gauge and a latency histogram, each
//! written by one thread only and read by the scrape.
//!
//! A worker writes its own cells with a plain load and store (`Relaxed`), never a
//! read-modify-write: on x86 and ARM that is an ordinary `mov`, with no lock prefix and no
//! cache line taken from another core, so counting costs the request path what a `Cell` would.
//! The scrape, on another thread, reads them with `Relaxed` loads; it may see a count a few
//! requests old, never a torn one. The price of the plain store is the single-writer rule: a
//! cell has exactly one thread that writes it (its worker, or the function host), which every
//! owner of cells documents.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count, written by one thread.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `amount` (the owning thread only).
    #[inline]
    pub fn add(&self, amount: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(amount), Ordering::Relaxed);
    }

    /// Adds one (the owning thread only).
    #[inline]
    pub fn increment(&self) {
        self.add(1);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down, set by one thread.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value (the owning thread only).
    #[inline]
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value last set.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The upper bounds of the latency buckets, in microseconds: 0.5 ms to 30 s, about three per
/// decade (the API timeout is at most 1800 s; slower lands in `+Inf`).
pub const BUCKET_BOUNDS_US: [u64; 15] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 30_000_000,
];

/// Buckets: one per bound, then `+Inf`.
pub const BUCKETS: usize = BUCKET_BOUNDS_US.len() + 1;

/// A latency histogram with fixed buckets, written by one thread. Each bucket counts the
/// observations that fell in it alone; the scrape sums them into Prometheus's cumulative `le`
/// buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [Counter; BUCKETS],
    sum_us: Counter,
}

impl Histogram {
    /// Records one observation (the owning thread only).
    #[inline]
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.observe_us(micros);
    }

    /// Records one observation of `micros` microseconds (the owning thread only).
    #[inline]
    pub fn observe_us(&self, micros: u64) {
        let bucket = BUCKET_BOUNDS_US.iter().position(|&bound| micros <= bound).unwrap_or(BUCKETS - 1);
        self.buckets[bucket].increment();
        self.sum_us.add(micros);
    }

    /// The counts per bucket (not cumulative) and the sum in microseconds, read now.
    pub fn read(&self) -> HistogramSnapshot {
        let mut snapshot = HistogramSnapshot::default();
        for (into, bucket) in snapshot.buckets.iter_mut().zip(&self.buckets) {
            *into = bucket.get();
        }
        snapshot.sum_us = self.sum_us.get();
        snapshot
    }
}

/// A histogram's counts at one moment; snapshots add up (across workers) and subtract (across
/// time, for the console's history).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations per bucket, not cumulative; the last is `+Inf`.
    pub buckets: [u64; BUCKETS],
    /// The observations' sum, in microseconds.
    pub sum_us: u64,
}

impl HistogramSnapshot {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (into, from) in self.buckets.iter_mut().zip(&other.buckets) {
            *into += from;
        }
        self.sum_us += other.sum_us;
    }

    /// What was observed since `earlier` (a counter reset, as after a restart, gives zeros).
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let mut delta = HistogramSnapshot::default();
        for ((into, now), before) in delta.buckets.iter_mut().zip(&self.buckets).zip(&earlier.buckets) {
            *into = now.saturating_sub(*before);
        }
        delta.sum_us = self.sum_us.saturating_sub(earlier.sum_us);
        delta
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The `quantile` (0..=1) in microseconds, interpolated linearly within its bucket as
    /// Prometheus's `histogram_quantile` does; `None` without observations. One in `+Inf`
    /// reports the largest finite bound.
    pub fn quantile_us(&self, quantile: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = quantile.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (index, &count) in self.buckets.iter().enumerate() {
            if count > 0 && (below + count) as f64 >= rank {
                let Some(&upper) = BUCKET_BOUNDS_US.get(index) else {
                    return Some(BUCKET_BOUNDS_US[BUCKET_BOUNDS_US.len() - 1] as f64);
                };
                let lower = if index == 0 { 0 } else { BUCKET_BOUNDS_US[index - 1] };
                let within = (rank - below as f64) / count as f64;
                return Some(lower as f64 + (upper - lower) as f64 * within);
            }
            below += count;
        }
        Some(BUCKET_BOUNDS_US[BUCKET_BOUNDS_US.len() - 1] as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_holds_them() {
        let cases: &[(u64, usize)] = &[(0, 0), (500, 0), (501, 1), (1_000, 1), (30_000_000, 14), (30_000_001, 15)];
        for &(micros, bucket) in cases {
            let histogram = Histogram::default();
            histogram.observe_us(micros);
            let snapshot = histogram.read();
            assert_eq!(snapshot.buckets[bucket], 1, "{micros} µs");
            assert_eq!(snapshot.count(), 1);
            assert_eq!(snapshot.sum_us, micros);
        }
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let histogram = Histogram::default();
        for _ in 0..50 {
            histogram.observe_us(200); // bucket (0, 500]
        }
        for _ in 0..50 {
            histogram.observe_us(2_000); // bucket (1000, 2500]
        }
        let snapshot = histogram.read();
        assert_eq!(snapshot.quantile_us(0.5), Some(500.0));
        assert_eq!(snapshot.quantile_us(0.75), Some(1_750.0));
        assert_eq!(snapshot.quantile_us(1.0), Some(2_500.0));
        assert_eq!(HistogramSnapshot::default().quantile_us(0.5), None);
    }

    #[test]
    fn snapshots_merge_and_subtract() {
        let histogram = Histogram::default();
        histogram.observe_us(10);
        let earlier = histogram.read();
        histogram.observe_us(700);
        histogram.observe_us(700);
        let delta = histogram.read().since(&earlier);
        assert_eq!(delta.count(), 2);
        assert_eq!(delta.sum_us, 1_400);
        let mut merged = earlier;
        merged.merge(&delta);
        assert_eq!(merged, histogram.read());
        assert_eq!(earlier.since(&histogram.read()).count(), 0, "a reset reads as nothing new");
    }

    #[test]
    fn counters_and_gauges_read_what_was_written() {
        let counter = Counter::default();
        counter.increment();
        counter.add(41);
        assert_eq!(counter.get(), 42);
        let gauge = Gauge::default();
        gauge.set(7);
        gauge.set(3);
        assert_eq!(gauge.get(), 3);
    }
}
