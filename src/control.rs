//! Process-wide control between the main thread and the workers: which configuration generation
//! to serve (reload) and whether to drain (graceful shutdown).
//!
//! The main thread writes; each worker's control task reads on a short timer, never per request,
//! so nothing here is touched on the request path. A worker swaps to a new generation between
//! requests; a request already running keeps the generation it started with, so no request is
//! served by a half-applied change.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::backend::invoke::Endpoint;
use crate::config::Config;
use crate::route::Router;

/// One complete, validated configuration with everything compiled from it.
pub struct Generation {
    /// Increases with every reload; 1 for the configuration loaded at start.
    pub number: u64,
    /// The configuration.
    pub config: Arc<Config>,
    /// Its compiled routes.
    pub router: Arc<Router>,
    /// Per function id: where its invocations go.
    pub endpoints: Arc<Vec<Endpoint>>,
    /// The HTTPS server configuration (certificates by SNI), when HTTPS is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Shared between the main thread and every worker.
pub struct Control {
    latest: Mutex<Arc<Generation>>,
    latest_number: AtomicU64,
    draining: AtomicBool,
    /// Per worker: requests in flight (published by the worker's control task).
    in_flight: Vec<AtomicUsize>,
    /// Per worker: client connections open.
    connections: Vec<AtomicUsize>,
    /// Per worker: it has stopped accepting.
    stopped_accepting: Vec<AtomicBool>,
    /// Per worker: the generation it serves.
    serving: Vec<AtomicU64>,
    /// Every worker's and function's metrics, for the scrape.
    pub metrics: Arc<crate::metrics::Registry>,
}

impl Control {
    /// Control for `workers` workers starting on `generation`.
    pub fn new(generation: Generation, workers: usize) -> Arc<Control> {
        Arc::new(Control {
            latest_number: AtomicU64::new(generation.number),
            latest: Mutex::new(Arc::new(generation)),
            draining: AtomicBool::new(false),
            in_flight: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            connections: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            stopped_accepting: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            serving: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            metrics: Arc::new(crate::metrics::Registry::new(workers)),
        })
    }

    /// Makes `generation` the one every worker serves from its next request on.
    pub fn publish(&self, generation: Generation) {
        let number = generation.number;
        *self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(generation);
        self.latest_number.store(number, Ordering::Release);
        self.metrics.set_generation(number);
    }

    /// The number of the latest published generation.
    pub fn latest_number(&self) -> u64 {
        self.latest_number.load(Ordering::Acquire)
    }

    /// The latest published generation.
    pub fn latest(&self) -> Arc<Generation> {
        self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Asks every worker to stop accepting and to close connections after their current request.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// A worker reports its state (called by its control task).
    pub fn report(
        &self,
        worker: usize,
        generation: u64,
        in_flight: usize,
        connections: usize,
        stopped_accepting: bool,
    ) {
        if let Some(serving) = self.serving.get(worker) {
            serving.store(generation, Ordering::Release);
        }
        if let Some(count) = self.in_flight.get(worker) {
            count.store(in_flight, Ordering::Release);
        }
        if let Some(count) = self.connections.get(worker) {
            count.store(connections, Ordering::Release);
        }
        if let Some(stopped) = self.stopped_accepting.get(worker) {
            stopped.store(stopped_accepting, Ordering::Release);
        }
    }

    /// Every worker stopped accepting and has no request in flight.
    pub fn drained(&self) -> bool {
        self.stopped_accepting.iter().all(|stopped| stopped.load(Ordering::Acquire))
            && self.in_flight.iter().all(|count| count.load(Ordering::Acquire) == 0)
    }

    /// Whether every worker serves generation `number` (or a later one).
    pub fn all_serving(&self, number: u64) -> bool {
        self.serving.iter().all(|serving| serving.load(Ordering::Acquire) >= number)
    }

    /// Requests in flight, all workers together (for logs).
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.iter().map(|count| count.load(Ordering::Acquire)).sum()
    }

    /// Client connections open, all workers together.
    pub fn connections_open(&self) -> usize {
        self.connections.iter().map(|count| count.load(Ordering::Acquire)).sum()
    }
}
