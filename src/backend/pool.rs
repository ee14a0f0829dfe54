//! Per-worker keep-alive pool of connections to function endpoints. One pool per core, owned by
//! the worker: no locks, no `Arc`.
//!
//! Three verbs and a rule: [`Pool::take`] gives an idle connection (most recently used first, the
//! one most likely still open), [`Pool::put`] returns one that is known reusable, and dropping a
//! [`BackendConnection`] closes it. Only a connection that came from the pool may be retried.
//!
//! An idle connection is watched (`super::idle_watch`): one that became readable while idle (the
//! function spoke out of turn, or closed it) is closed, never handed out, so no response can
//! reach a request it was not the answer to. [`Pool::close_expired`], called by the worker's
//! control task off the request path, closes those and the connections idle past the timeout:
//! with most recently used first, the oldest would otherwise stay open (and, once the function
//! has closed its end, half-closed) for as long as traffic never drains the pool down to them.
//!
//! Generic over the stream so that plain TCP (function endpoints) and TLS (Tencent Cloud's API,
//! `backend::tencentcloud`) connections follow the same rules.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use super::idle_watch::IdleWatch;

/// A connection to a function endpoint, with its own reused read buffer.
pub struct BackendConnection<S = TcpStream> {
    /// The socket.
    pub stream: S,
    /// Response bytes; reused across requests.
    pub read_buffer: Vec<u8>,
    /// Decoded chunked response bodies; reused across requests.
    pub decoded: Vec<u8>,
    /// When it last went idle.
    pub idle_since: Instant,
    /// The last request on it carried a body (which the function may have left unread).
    pub carried_body: bool,
    /// The socket under `stream`, watched while the connection is idle.
    socket: Option<RawFd>,
    /// Made when the connection first goes idle.
    watch: Option<IdleWatch>,
}

impl<S> BackendConnection<S> {
    /// Wraps a freshly connected stream; see [`with_socket`](Self::with_socket).
    pub fn new(stream: S) -> Self {
        BackendConnection {
            stream,
            read_buffer: Vec::with_capacity(8192),
            decoded: Vec::new(),
            idle_since: Instant::now(),
            carried_body: false,
            socket: None,
            watch: None,
        }
    }

    /// Names the socket under the stream (a TLS stream hides it), so that the pool watches it
    /// while idle. A connection without one is pooled unwatched (tests only).
    pub fn with_socket(mut self, socket: RawFd) -> Self {
        self.socket = Some(socket);
        self
    }

    /// Arms the idle watch; `false` when it cannot be made (out of descriptors): such a
    /// connection is not pooled.
    fn arm(&mut self) -> bool {
        let Some(socket) = self.socket else { return true };
        if self.watch.is_none() {
            match IdleWatch::new(socket) {
                Ok(watch) => self.watch = Some(watch),
                Err(_) => return false,
            }
        }
        if let Some(watch) = &mut self.watch {
            watch.ensure_armed();
        }
        true
    }

    /// Whether the connection became readable while idle.
    fn spoke(&mut self) -> bool {
        self.watch.as_mut().is_some_and(IdleWatch::spoke)
    }
}

impl BackendConnection<TcpStream> {
    /// A plain TCP connection, watched while idle.
    pub fn tcp(stream: TcpStream) -> Self {
        let socket = stream.as_raw_fd();
        BackendConnection::new(stream).with_socket(socket)
    }
}

impl Spoken {
    fn record<S>(&mut self, connection: &BackendConnection<S>) {
        self.closed += 1;
        self.after_body += usize::from(connection.carried_body);
    }
}

/// Idle connections per endpoint (endpoints are numbered by the worker).
pub struct Pool<S = TcpStream> {
    idle: Vec<Vec<BackendConnection<S>>>,
    max_idle_per_endpoint: usize,
    idle_timeout: Duration,
    /// Connections closed because they spoke while idle, and of those, how many had carried a
    /// request body (the caller reads and resets these: [`Pool::take_spoken`]).
    spoken: Spoken,
    /// What happened to connections since the worker's metrics last took it.
    stats: PoolStats,
}

/// A pool's traffic since last asked ([`Pool::take_stats`]), for the worker's metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Takes that found a connection.
    pub reused: u64,
    /// Takes that found none (the caller opens one).
    pub missed: u64,
    /// Closed after `pool_idle_timeout`.
    pub closed_idle: u64,
    /// Closed because the other end spoke out of turn or closed while idle.
    pub closed_spoke: u64,
    /// Not kept because the pool was full.
    pub closed_full: u64,
}

impl PoolStats {
    /// Adds `other` to these.
    pub fn add(&mut self, other: PoolStats) {
        self.reused += other.reused;
        self.missed += other.missed;
        self.closed_idle += other.closed_idle;
        self.closed_spoke += other.closed_spoke;
        self.closed_full += other.closed_full;
    }
}

/// Idle connections that spoke out of turn, since last asked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Spoken {
    /// Closed in all.
    pub closed: usize,
    /// Of those, after a request that carried a body.
    pub after_body: usize,
}

impl<S> Pool<S> {
    /// A pool for `endpoints` endpoints.
    pub fn new(endpoints: usize, max_idle_per_endpoint: usize, idle_timeout: Duration) -> Self {
        Pool {
            idle: (0..endpoints).map(|_| Vec::new()).collect(),
            max_idle_per_endpoint,
            idle_timeout,
            spoken: Spoken::default(),
            stats: PoolStats::default(),
        }
    }

    /// An idle connection to `endpoint` that is fresh enough and has stayed silent.
    pub fn take(&mut self, endpoint: usize) -> Option<BackendConnection<S>> {
        let idle = &mut self.idle[endpoint];
        while let Some(mut connection) = idle.pop() {
            if connection.idle_since.elapsed() >= self.idle_timeout {
                // Expired: dropped, so closed. The older ones below it are older still.
                self.stats.closed_idle += 1 + idle.len() as u64;
                idle.clear();
                break;
            }
            if connection.spoke() {
                self.spoken.record(&connection);
                self.stats.closed_spoke += 1;
                continue;
            }
            self.stats.reused += 1;
            return Some(connection);
        }
        self.stats.missed += 1;
        None
    }

    /// Returns a connection that finished a whole response and may be reused.
    pub fn put(&mut self, endpoint: usize, mut connection: BackendConnection<S>) {
        let idle = &mut self.idle[endpoint];
        if idle.len() >= self.max_idle_per_endpoint {
            self.stats.closed_full += 1;
            return;
        }
        if !connection.arm() {
            self.stats.closed_spoke += 1;
            return;
        }
        connection.idle_since = Instant::now();
        if connection.read_buffer.capacity() > 1 << 20 {
            connection.read_buffer = Vec::with_capacity(8192);
        }
        if connection.decoded.capacity() > 1 << 20 {
            connection.decoded = Vec::new();
        }
        idle.push(connection);
    }

    /// Closes every connection idle for `idle_timeout` or longer at `now`, and every one that
    /// spoke while idle; returns how many.
    pub fn close_expired(&mut self, now: Instant) -> usize {
        let idle_timeout = self.idle_timeout;
        let mut closed = 0;
        for idle in &mut self.idle {
            // Oldest first: `put` appends, `take` pops from the end.
            let expired =
                idle.partition_point(|connection| now.saturating_duration_since(connection.idle_since) >= idle_timeout);
            if expired > 0 {
                idle.drain(..expired);
                closed += expired;
                self.stats.closed_idle += expired as u64;
            }
            let (spoken, stats) = (&mut self.spoken, &mut self.stats);
            idle.retain_mut(|connection| {
                let silent = !connection.spoke();
                if !silent {
                    spoken.record(connection);
                    stats.closed_spoke += 1;
                    closed += 1;
                }
                silent
            });
        }
        closed
    }

    /// Closes every idle connection to `endpoint` (the process behind it is gone).
    pub fn close_all(&mut self, endpoint: usize) {
        let idle = &mut self.idle[endpoint];
        self.stats.closed_spoke += idle.len() as u64;
        idle.clear();
    }

    /// Counts a take that found nothing usable without looking (the caller knew).
    pub fn take_stats_miss(&mut self) {
        self.stats.missed += 1;
    }

    /// What happened to connections since the last call.
    pub fn take_stats(&mut self) -> PoolStats {
        std::mem::take(&mut self.stats)
    }

    /// Idle connections held, all endpoints together.
    pub fn idle_total(&self) -> usize {
        self.idle.iter().map(Vec::len).sum()
    }

    /// The idle connections closed for speaking out of turn since the last call.
    pub fn take_spoken(&mut self) -> Spoken {
        std::mem::take(&mut self.spoken)
    }

    /// Idle connections held for `endpoint` (for tests and metrics).
    pub fn idle_count(&self, endpoint: usize) -> usize {
        self.idle[endpoint].len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_expired_closes_the_connections_idle_too_long_and_keeps_the_rest() {
        let mut pool: Pool<u32> = Pool::new(2, 8, Duration::from_secs(10));
        for id in 0..3 {
            pool.put(0, BackendConnection::new(id));
        }
        pool.put(1, BackendConnection::new(7));
        let start = Instant::now();
        for (connection, went_idle) in
            pool.idle[0].iter_mut().zip([start, start + Duration::from_secs(2), start + Duration::from_secs(8)])
        {
            connection.idle_since = went_idle;
        }
        pool.idle[1][0].idle_since = start + Duration::from_secs(5);

        // At start + 12 s: idle 12, 10 and 4 s on endpoint 0, 7 s on endpoint 1.
        assert_eq!(pool.close_expired(start + Duration::from_secs(12)), 2);
        assert_eq!((pool.idle_count(0), pool.idle_count(1)), (1, 1));
        assert_eq!(pool.idle[0][0].stream, 2);
        assert_eq!(pool.close_expired(start + Duration::from_secs(12)), 0);
        assert_eq!(pool.close_expired(start + Duration::from_secs(18)), 2);
        assert_eq!((pool.idle_count(0), pool.idle_count(1)), (0, 0));
    }
}
