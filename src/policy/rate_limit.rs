//! Usage-plan limits: `max_requests_per_second` and `quota_per_day`, per key of a plan (or per
//! stage, for a plan without keys). Past them: 429 `API rate limit exceeded.` / `API quota
//! exceeded.` (spec §8), with `X-RateLimit-Limit` / `X-UsagePlan-Quota` on every response the plan
//! admits or refuses and `Retry-After` on a refusal.
//!
//! Thread-per-core, with nothing shared: each worker holds its own [`Limiter`] with a `1/workers`
//! share of every limit, so the shares add up to the plan's limit on this machine without a lock
//! or an atomic per request. The rate is a token bucket refilled at `limit / workers` tokens per
//! second holding at most one second's worth (at least one token); the daily quota is split into
//! integer shares (the first `quota % workers` workers get one more). What this gives, and what
//! it does not:
//!
//! - The sum over workers never exceeds the plan's rate (beyond one second of burst) or its quota.
//! - A client whose connections all land on one worker gets that worker's share only: with
//!   `max_requests_per_second = 10` and 4 workers, one keep-alive connection sees 2.5 requests
//!   per second. Many connections spread over the workers (SO_REUSEPORT hashes them) and see the
//!   whole limit.
//! - When the limit is below the worker count, bursts can reach one request per worker, and a
//!   quota below the worker count leaves some workers a share of zero.
//! - Quota days are UTC days; counts live in memory and start again when the gateway restarts.
//! - Several gateway machines do not share these counts: each enforces the whole limit on its
//!   own, so N machines behind a load balancer admit up to N times the plan, unless `--limits
//!   redis://...` counts them in Redis across the cluster (`crate::shared_limits`): then these
//!   buckets are the fallback for when Redis does not answer, sized for this node's share of
//!   the cluster's workers.

use std::rc::Rc;
use std::time::Instant;

use crate::config::{Config, PlanIndex, UsagePlan};
use crate::error::GatewayError;
use crate::http::response::{self, format_u64, itoa_buffer};
use crate::shared_limits::counts::{Refused, SharedCounts};
use crate::shared_limits::Link;

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `max_requests_per_second`.
    Rate,
    /// `quota_per_day`.
    Quota,
}

impl Exceeded {
    /// The refusal.
    pub fn error(self) -> GatewayError {
        match self {
            Exceeded::Rate => GatewayError::RateLimited,
            Exceeded::Quota => GatewayError::QuotaExceeded,
        }
    }
}

/// One worker's share of every usage plan's limits.
#[derive(Debug)]
pub struct Limiter {
    /// Per plan: where its buckets start (one per key, or one for a plan without keys).
    first_bucket: Vec<usize>,
    buckets: Vec<Bucket>,
    /// With `--limits`: the cluster's counts, which decide while Redis answers.
    shared: Option<SharedCounts>,
    /// This worker's index, and the worker count the shares are sized for.
    worker: usize,
    sized_for: usize,
}

#[derive(Debug, Clone)]
struct Bucket {
    /// Tokens per second; 0 when the plan sets no rate.
    rate: f64,
    capacity: f64,
    tokens: f64,
    refreshed: Option<Instant>,
    /// This worker's share of the daily quota; `None` when the plan sets none.
    quota: Option<u64>,
    day: u64,
    used: u64,
    /// The plan's own limits, for sizing shares again.
    plan_rate: Option<u64>,
    plan_quota: Option<u64>,
}

impl Limiter {
    /// Worker `worker`'s (of `workers`) shares of every plan in `config`; with a line to the
    /// cluster's counts, shares of the cluster's workers instead (the fallback), and the counts.
    pub fn new(config: &Config, worker: usize, workers: usize, link: Option<&Rc<Link>>) -> Limiter {
        let workers = match link {
            Some(link) => (link.health.cluster_workers() as usize).max(workers).max(1),
            None => workers.max(1),
        };
        let mut first_bucket = Vec::with_capacity(config.usage_plans.len());
        let mut buckets = Vec::new();
        for plan in &config.usage_plans {
            first_bucket.push(buckets.len());
            let mut bucket = Bucket {
                rate: 0.0,
                capacity: 1.0,
                tokens: 0.0,
                refreshed: None,
                quota: None,
                day: 0,
                used: 0,
                plan_rate: plan.max_requests_per_second,
                plan_quota: plan.quota_per_day,
            };
            bucket.size(worker, workers);
            bucket.tokens = bucket.capacity;
            buckets.extend(std::iter::repeat_n(bucket, plan.secrets.len().max(1)));
        }
        let shared = link.map(|link| {
            let specs = config.usage_plans.iter().flat_map(|plan| {
                let keys: Vec<&str> = if plan.secrets.is_empty() {
                    vec!["*"]
                } else {
                    plan.secrets.iter().map(|&secret| config.secrets[secret].id.as_str()).collect()
                };
                keys.into_iter()
                    .map(move |key| (plan.name.as_str(), key, plan.max_requests_per_second, plan.quota_per_day))
            });
            SharedCounts::new(link.clone(), specs, unix_day())
        });
        Limiter { first_bucket, buckets, shared, worker, sized_for: workers }
    }

    /// Counts one request against `plan` for key position `key` (0 for a plan without keys).
    /// `now` drives the local rate, `second` (Unix seconds) the cluster's, `day` (Unix days)
    /// the quota. A refused request uses nothing.
    pub fn admit(&mut self, plan: PlanIndex, key: usize, now: Instant, second: u64, day: u64) -> Result<(), Exceeded> {
        let index = self.first_bucket[plan.get()] + key;
        let bucket = &mut self.buckets[index];
        let Some(shared) = self.shared.as_mut().filter(|shared| shared.is_up()) else {
            return bucket.admit(now, day);
        };
        shared.take_answers();
        shared.decide(index, second, day).map_err(|refused| match refused {
            Refused::Rate => Exceeded::Rate,
            Refused::Quota => Exceeded::Quota,
        })?;
        shared.commit(index);
        Ok(())
    }

    /// Takes in the cluster's answers and reports what is due (between requests), and sizes
    /// the local shares for the cluster's worker count as it changes.
    pub fn flush(&mut self) {
        let Some(shared) = &mut self.shared else { return };
        shared.flush();
        let workers = (shared.cluster_workers() as usize).max(1);
        if workers != self.sized_for {
            self.sized_for = workers;
            for bucket in &mut self.buckets {
                bucket.size(self.worker, workers);
            }
        }
    }
}

impl Bucket {
    /// Sizes the bucket as worker `worker`'s share of `workers`.
    fn size(&mut self, worker: usize, workers: usize) {
        self.rate = self.plan_rate.map_or(0.0, |limit| limit as f64 / workers as f64);
        self.capacity = self.rate.max(1.0);
        self.tokens = self.tokens.min(self.capacity);
        self.quota = self.plan_quota.map(|quota| quota_share(quota, worker % workers, workers));
    }

    /// The local decision, on the quota share and the token bucket.
    fn admit(&mut self, now: Instant, day: u64) -> Result<(), Exceeded> {
        if let Some(share) = self.quota {
            if self.day != day {
                self.day = day;
                self.used = 0;
            }
            if self.used >= share {
                return Err(Exceeded::Quota);
            }
        }
        if self.rate > 0.0 {
            if let Some(refreshed) = self.refreshed {
                let elapsed = now.saturating_duration_since(refreshed).as_secs_f64();
                self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
            }
            self.refreshed = Some(now);
            if self.tokens < 1.0 {
                return Err(Exceeded::Rate);
            }
            self.tokens -= 1.0;
        }
        self.used += 1;
        Ok(())
    }
}

fn unix_day() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() / 86_400)
}

/// Worker `worker`'s integer share of `quota` split over `workers`.
pub fn quota_share(quota: u64, worker: usize, workers: usize) -> u64 {
    let workers = workers as u64;
    quota / workers + u64::from((worker as u64) < quota % workers)
}

/// Appends the plan's limit headers: `X-RateLimit-Limit` (requests per second) and
/// `X-UsagePlan-Quota` (requests per day), each when the plan sets it. Tencent's documented
/// responses carry `X-RateLimit-Limit`; the quota header name is one of the gateway headers its
/// CORS list exposes.
pub fn write_headers(out: &mut Vec<u8>, plan: &UsagePlan) {
    let mut digits = itoa_buffer();
    if let Some(limit) = plan.max_requests_per_second {
        response::header(out, b"x-ratelimit-limit", format_u64(limit, &mut digits));
    }
    if let Some(quota) = plan.quota_per_day {
        response::header(out, b"x-usageplan-quota", format_u64(quota, &mut digits));
    }
}

/// Appends `Retry-After` for a refusal: one second for the rate, the rest of the UTC day for the
/// quota. `unix_now` is Unix seconds.
pub fn write_retry_after(out: &mut Vec<u8>, exceeded: Exceeded, unix_now: i64) {
    let seconds = match exceeded {
        Exceeded::Rate => 1,
        Exceeded::Quota => 86_400 - unix_now.rem_euclid(86_400) as u64,
    };
    let mut digits = itoa_buffer();
    response::header(out, b"retry-after", format_u64(seconds, &mut digits));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, GatewaySettings, SecretIndex};
    use std::time::Duration;

    fn config(plans: Vec<UsagePlan>) -> Config {
        Config {
            source: "test.toml".into(),
            gateway: GatewaySettings {
                listen: vec![],
                tls_listen: vec![],
                workers: 2,
                driver: crate::config::DriverChoice::Legacy,
                max_header_bytes: 1,
                max_body_bytes: 1,
                max_response_bytes: 1,
                idle_timeout: Duration::from_secs(1),
                park_after: Duration::from_secs(1),
                header_timeout: Duration::from_secs(1),
                body_memory: 1 << 20,
                send_timeout: Duration::from_secs(60),
                queue_depth: 1,
                max_connections: 1,
                read_buffer_bytes: 1,
                shutdown_timeout: Duration::from_secs(1),
                pool_size: 1,
                pool_idle_timeout: Duration::from_secs(1),
                websocket: crate::config::WebSocketSettings {
                    push_listen: "127.0.0.1:0".parse().unwrap(),
                    push_token: None,
                    max_message_bytes: 1,
                    idle_timeout: Duration::from_secs(1),
                },
                identity: Default::default(),
            },
            services: vec![],
            apis: vec![],
            functions: vec![],
            usage_plans: plans,
            secrets: vec![],
            certificates: vec![],
        }
    }

    fn plan(rate: Option<u64>, quota: Option<u64>, keys: usize) -> UsagePlan {
        UsagePlan {
            name: "p".into(),
            secrets: SecretIndex::all(keys).collect(),
            max_requests_per_second: rate,
            quota_per_day: quota,
            environments: vec![],
        }
    }

    #[test]
    fn quota_shares_add_up() {
        #[rustfmt::skip]
        let cases: &[(u64, usize, &[u64])] = &[
            (10, 2, &[5, 5]),
            (10, 3, &[4, 3, 3]),
            (2, 4, &[1, 1, 0, 0]),
            (0, 1, &[0]),
        ];
        for (quota, workers, shares) in cases {
            let got: Vec<u64> = (0..*workers).map(|worker| quota_share(*quota, worker, *workers)).collect();
            assert_eq!(got, *shares, "{quota} over {workers}");
            assert_eq!(got.iter().sum::<u64>(), *quota);
        }
    }

    /// Admits `count` requests at the instants `start + offsets[i]` and returns the outcomes.
    fn run(limiter: &mut Limiter, key: usize, offsets_ms: &[u64], day: u64) -> Vec<Result<(), Exceeded>> {
        let start = Instant::now();
        offsets_ms
            .iter()
            .map(|&offset| {
                limiter.admit(PlanIndex::new(0), key, start + Duration::from_millis(offset), offset / 1000, day)
            })
            .collect()
    }

    #[test]
    fn rate_is_split_over_workers() {
        use Exceeded::*;
        // 4 per second over 2 workers: each worker refills 2 per second and holds at most 2.
        let config = config(vec![plan(Some(4), None, 1)]);
        let mut limiter = Limiter::new(&config, 0, 2, None);
        #[rustfmt::skip]
        let outcomes = run(&mut limiter, 0, &[0, 0, 0, 250, 750, 1000, 1000, 5000, 5000, 5000], 0);
        assert_eq!(
            outcomes,
            [Ok(()), Ok(()), Err(Rate), Err(Rate), Ok(()), Ok(()), Err(Rate), Ok(()), Ok(()), Err(Rate)]
        );
    }

    #[test]
    fn low_rates_keep_one_token() {
        // 1 per second over 4 workers: a quarter token per second, but a bucket of one.
        let config = config(vec![plan(Some(1), None, 1)]);
        let mut limiter = Limiter::new(&config, 3, 4, None);
        let outcomes = run(&mut limiter, 0, &[0, 1000, 3000, 4000], 0);
        assert_eq!(outcomes, [Ok(()), Err(Exceeded::Rate), Err(Exceeded::Rate), Ok(())]);
    }

    #[test]
    fn quota_per_key_and_day() {
        use Exceeded::*;
        let config = config(vec![plan(None, Some(5), 2)]);
        let mut limiter = Limiter::new(&config, 0, 2, None); // share 3
        assert_eq!(run(&mut limiter, 0, &[0, 0, 0, 0], 100), [Ok(()), Ok(()), Ok(()), Err(Quota)]);
        // Each key of the plan has its own quota.
        assert_eq!(run(&mut limiter, 1, &[0, 0, 0, 0], 100), [Ok(()), Ok(()), Ok(()), Err(Quota)]);
        // A new UTC day starts over.
        assert_eq!(run(&mut limiter, 0, &[0], 101), [Ok(())]);
        let mut second = Limiter::new(&config, 1, 2, None); // share 2
        assert_eq!(run(&mut second, 0, &[0, 0, 0], 100), [Ok(()), Ok(()), Err(Quota)]);
    }

    #[test]
    fn refused_requests_use_nothing() {
        use Exceeded::*;
        // A request refused by the rate does not count against the quota.
        let config = config(vec![plan(Some(1), Some(3), 1)]);
        let mut limiter = Limiter::new(&config, 0, 1, None);
        assert_eq!(
            run(&mut limiter, 0, &[0, 0, 0, 1000, 2000, 3000], 7),
            [Ok(()), Err(Rate), Err(Rate), Ok(()), Ok(()), Err(Quota)]
        );
    }

    #[test]
    fn headers() {
        let mut out = Vec::new();
        write_headers(&mut out, &plan(Some(500), Some(10_000), 0));
        write_retry_after(&mut out, Exceeded::Rate, 0);
        write_retry_after(&mut out, Exceeded::Quota, 86_400 * 3 + 86_000);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x-ratelimit-limit: 500\r\nx-usageplan-quota: 10000\r\nretry-after: 1\r\nretry-after: 400\r\n"
        );
    }
}
