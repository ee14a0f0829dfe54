//! The node's one Redis client (`scfgate-limits` thread): it takes the workers' reports, sends
//! them to Redis in one pipeline per batch, and hands each worker its answers. It also keeps this
//! node registered with its worker count, and reads the cluster's, every [`REGISTER_EVERY`].
//! A worker never waits for it; when Redis does not answer within [`STALE_AFTER`] the workers
//! are told ([`super::Health`]) and use their local shares until it answers again.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{install_links, Answer, Ask, Health, Link};

/// How long one exchange with Redis may take before Redis counts as down.
pub const STALE_AFTER: Duration = Duration::from_millis(500);
/// How often the node renews its registration (which expires after three periods).
const REGISTER_EVERY: Duration = Duration::from_secs(1);
/// Reports sent in one pipeline at most.
const BATCH: usize = 512;

/// Adds what was admitted, then reserves up to `want` of what is left; returns the count and
/// the reservation. KEYS[1]: the count; ARGV: admitted, want, limit, seconds to keep the key.
const COUNT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
local want, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local granted = 0
if want > 0 and used < limit then granted = math.min(want, limit - used) end
used = used + granted
redis.call('SET', KEYS[1], used, 'EX', ARGV[4])
return {used, granted}
";

/// Registers ARGV[1] (`node|workers`) until now + ARGV[2] ms, drops the expired, and returns
/// the workers of every node registered. KEYS[1]: the registry.
const REGISTER: &str = r"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local total = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + tonumber(string.match(member, '|(%d+)$') or '0')
end
return total
";

/// `--limits`: where Redis is, and the key prefix.
#[derive(Debug, Clone)]
pub struct LimitsSettings {
    /// `redis://HOST:PORT[/DB]` (or `rediss://`, `redis+unix://`: what the redis crate reads).
    pub url: String,
    /// Keys start with it (`--limits-prefix`).
    pub prefix: String,
}

/// Starts the agent for a node of `workers` workers and installs the workers' lines. Fails only
/// on a URL the client cannot read: Redis itself may be down at start (the shares then apply).
pub fn start(settings: &LimitsSettings, workers: usize) -> Result<Arc<Health>, String> {
    let client =
        redis::Client::open(settings.url.as_str()).map_err(|error| format!("--limits {}: {error}", settings.url))?;
    let health = Arc::new(Health::new(workers));
    let (asks, inbox) = channel();
    let prefix: Arc<str> = settings.prefix.as_str().into();
    let mut outboxes = Vec::with_capacity(workers);
    let mut links = Vec::with_capacity(workers);
    for worker in 0..workers {
        let (outbox, answers) = channel();
        outboxes.push(outbox);
        links.push(Link { worker, asks: asks.clone(), answers, health: health.clone(), prefix: prefix.clone() });
    }
    install_links(links);
    let node = format!("{}-{}-{:x}|{workers}", hostname(), std::process::id(), random_suffix());
    let agent = Agent {
        client,
        connection: None,
        inbox,
        outboxes,
        health: health.clone(),
        registry: format!("{}:nodes", settings.prefix),
        node,
        count: redis::Script::new(COUNT),
        register: redis::Script::new(REGISTER),
        url: settings.url.clone(),
        next_register: Instant::now(),
    };
    std::thread::Builder::new()
        .name("scfgate-limits".into())
        .spawn(move || agent.run())
        .map_err(|error| format!("cannot start the Redis thread: {error}"))?;
    Ok(health)
}

struct Agent {
    client: redis::Client,
    connection: Option<redis::Connection>,
    inbox: Receiver<Ask>,
    outboxes: Vec<Sender<Answer>>,
    health: Arc<Health>,
    registry: String,
    node: String,
    count: redis::Script,
    register: redis::Script,
    url: String,
    next_register: Instant,
}

impl Agent {
    fn run(mut self) {
        let mut asks = Vec::with_capacity(BATCH);
        loop {
            if Instant::now() >= self.next_register {
                self.next_register = Instant::now() + REGISTER_EVERY;
                self.register();
            }
            let wait = self.next_register.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(wait) {
                Ok(ask) => asks.push(ask),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while asks.len() < BATCH {
                match self.inbox.try_recv() {
                    Ok(ask) => asks.push(ask),
                    Err(_) => break,
                }
            }
            self.exchange(&mut asks);
        }
    }

    /// Connects when not connected; whether connected.
    fn connect(&mut self) -> bool {
        if self.connection.is_none() {
            match self.client.get_connection_with_timeout(STALE_AFTER) {
                Ok(mut connection) => {
                    let _ = connection.set_read_timeout(Some(STALE_AFTER));
                    let _ = connection.set_write_timeout(Some(STALE_AFTER));
                    // Pipelines call the script by its digest: Redis must know it (again, after a
                    // restart emptied its script cache).
                    if let Err(error) = redis::cmd("SCRIPT").arg("LOAD").arg(COUNT).query::<String>(&mut connection) {
                        self.down(&error);
                        return false;
                    }
                    self.connection = Some(connection);
                }
                Err(error) => {
                    self.down(&error);
                    return false;
                }
            }
        }
        true
    }

    fn down(&mut self, error: &redis::RedisError) {
        self.connection = None;
        if self.health.is_up() {
            tracing::warn!(redis = self.url, %error, "Redis does not answer: usage plans fall back to each node's share until it does");
        }
        self.health.set_up(false);
    }

    fn up(&self) {
        if !self.health.is_up() {
            tracing::info!(
                redis = self.url,
                workers = self.health.cluster_workers(),
                "usage plans are counted in Redis across the cluster"
            );
        }
        self.health.set_up(true);
    }

    fn register(&mut self) {
        let ttl_ms = (REGISTER_EVERY * 3).as_millis() as u64;
        if !self.connect() {
            return;
        }
        let Some(connection) = self.connection.as_mut() else { return };
        let registered = self.register.key(&self.registry).arg(&self.node).arg(ttl_ms).invoke::<u64>(connection);
        match registered {
            Ok(workers) => {
                self.health.set_cluster_workers(workers.max(1));
                self.up();
            }
            Err(error) => self.down(&error),
        }
    }

    fn exchange(&mut self, asks: &mut Vec<Ask>) {
        let mut pipeline = redis::pipe();
        for ask in asks.iter() {
            // Seconds' counts are kept a little past their second, days' a day past theirs.
            let keep = match ask.kind {
                super::Kind::Rate => 5,
                super::Kind::Quota => 2 * 86_400,
            };
            pipeline.invoke_script(self.count.key(&ask.key).arg(ask.admitted).arg(ask.want).arg(ask.limit).arg(keep));
        }
        if !self.connect() {
            asks.clear();
            return;
        }
        let Some(connection) = self.connection.as_mut() else { return };
        let answers: Result<Vec<(u64, u64)>, _> = pipeline.query(connection);
        match answers {
            Ok(answers) => {
                self.up();
                for (ask, (used, granted)) in asks.drain(..).zip(answers) {
                    let answer = Answer {
                        epoch: ask.epoch,
                        bucket: ask.bucket,
                        kind: ask.kind,
                        window: ask.window,
                        used,
                        granted,
                    };
                    if let Some(outbox) = self.outboxes.get(ask.worker) {
                        let _ = outbox.send(answer);
                    }
                }
            }
            Err(error) => {
                asks.clear();
                self.down(&error);
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "node".into())
}

fn random_suffix() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
