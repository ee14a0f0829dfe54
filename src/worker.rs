//! One worker: a thread with its own monoio runtime, its own listening sockets, its own view of
//! the routes and its own backend connection pools. Nothing here is shared with another worker
//! through a lock on the request path.
//!
//! A worker serves one configuration generation at a time ([`Serving`]); its control task checks
//! `crate::control` on a short timer and swaps to a newly published generation between requests
//! (a request in flight keeps the generation it started with), closes pooled backend connections
//! idle past `pool_idle_timeout`, and on shutdown stops accepting and reports its requests in
//! flight until they are done.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::Canceller;

use crate::backend::invoke::Endpoint;
use crate::backend::Backends;
use crate::buffer_pool::BufferPool;
use crate::config::Config;
use crate::control::{Control, Generation};
use crate::policy::WorkerPolicy;
use crate::route::Router;

/// How often a worker looks for a new generation or a shutdown.
const CONTROL_TICK: Duration = Duration::from_millis(50);
/// How often a worker closes its pooled backend connections idle past `pool_idle_timeout` (so
/// one is closed at most this long after it expired).
const POOL_SWEEP: Duration = Duration::from_millis(500);

/// One configuration generation as this worker serves it: shared read-only parts, plus this
/// worker's own connections, policy state and counts for it.
pub struct Serving {
    /// The generation (configuration, routes, endpoints, TLS).
    pub generation: Arc<Generation>,
    /// This worker's connections to the generation's functions.
    pub backends: Backends,
    /// This worker's share of every usage plan's limits and its verified OAuth tokens.
    pub policy: RefCell<WorkerPolicy>,
    /// This worker's request counts per API and stage, indexed `api * 3 + stage`.
    pub api_metrics: Vec<Arc<crate::metrics::worker::ApiSeries>>,
    /// This worker's TLS hello counts per certificate host (`crate::tls::drain_hellos`).
    pub tls_metrics: std::collections::HashMap<String, Arc<crate::metrics::worker::TlsSeries>>,
}

impl Serving {
    fn new(
        generation: Arc<Generation>,
        worker: usize,
        previous: Option<&Serving>,
        metrics: &crate::metrics::worker::WorkerMetrics,
        limits: Option<&Rc<crate::shared_limits::Link>>,
    ) -> Self {
        let config = &generation.config;
        let backends =
            Backends::new(config.clone(), generation.endpoints.clone(), previous.map(|previous| &previous.backends));
        Serving {
            api_metrics: metrics.api_series(config),
            tls_metrics: metrics.tls_series(config),
            policy: RefCell::new(WorkerPolicy::new(config, worker, config.gateway.workers, limits)),
            backends,
            generation,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.generation.config
    }

    /// The compiled routes.
    pub fn router(&self) -> &Router {
        &self.generation.router
    }

    /// The request counts of API `api` on `stage`.
    pub fn api_metrics(
        &self,
        api: crate::config::ApiIndex,
        stage: crate::config::Stage,
    ) -> &crate::metrics::worker::ApiSeries {
        &self.api_metrics[api.get() * crate::config::Stage::ALL.len() + stage.index()]
    }
}

/// Everything a worker's connections share (through `Rc`, within the one thread).
pub struct WorkerContext {
    index: usize,
    /// This worker's line to the cluster's usage-plan counts (`--limits`).
    limits: Option<Rc<crate::shared_limits::Link>>,
    control: Arc<Control>,
    serving: RefCell<Rc<Serving>>,
    request_ids: RequestIds,
    /// Client connections this worker holds open.
    pub(crate) open_connections: Cell<usize>,
    /// This worker's share of `max_connections`.
    pub(crate) max_connections: usize,
    /// Requests read and not yet answered (written to their connection).
    in_flight: Cell<usize>,
    /// Shutdown has begun: stop accepting, close connections after their current request.
    pub(crate) draining: Cell<bool>,
    /// Cancels the accept loops' pending accepts at shutdown.
    pub(crate) accept_canceller: RefCell<Option<Canceller>>,
    /// This worker's WebSocket connections (reached by pushes) and connection ids.
    pub websocket: crate::websocket::WorkerSockets,
    /// The buffers this worker's connections use while they serve a request, pooled between
    /// requests so that idle connections do not each hold a set.
    pub buffer_pool: BufferPool,
    /// This worker's parked idle connections (`crate::connection::park`).
    pub parking: crate::connection::park::ParkingLot,
    /// The request bodies this worker holds whole (event APIs), against its share of
    /// `--body-memory` (`crate::memory`).
    pub body_budget: crate::memory::BodyBudget,
    /// This worker's metrics; it is their only writer (`crate::metrics::cells`).
    pub metrics: Arc<crate::metrics::worker::WorkerMetrics>,
}

impl WorkerContext {
    /// A context for worker number `index` following `control`.
    pub fn with_control(index: usize, control: Arc<Control>) -> Self {
        let generation = control.latest();
        let workers = generation.config.gateway.workers.max(1);
        let max_connections = generation.config.gateway.max_connections.div_ceil(workers).max(1);
        let metrics = control.metrics.worker(index);
        let parking = crate::connection::park::ParkingLot::new(metrics.clone());
        let limits = crate::shared_limits::take_link(index).map(Rc::new);
        WorkerContext {
            index,
            serving: RefCell::new(Rc::new(Serving::new(generation, index, None, &metrics, limits.as_ref()))),
            limits,
            metrics,
            control,
            request_ids: RequestIds::new(index),
            open_connections: Cell::new(0),
            max_connections,
            in_flight: Cell::new(0),
            draining: Cell::new(false),
            accept_canceller: RefCell::new(Some(Canceller::new())),
            websocket: crate::websocket::WorkerSockets::new(index),
            buffer_pool: BufferPool::new(),
            parking,
            body_budget: crate::memory::BodyBudget::default(),
        }
    }

    /// A context serving one fixed configuration (tests, benches, embedding).
    pub fn new(index: usize, config: Arc<Config>, router: Arc<Router>, endpoints: Arc<Vec<Endpoint>>) -> Self {
        let workers = config.gateway.workers.max(1);
        let generation = Generation { number: 1, config, router, endpoints, tls: None };
        WorkerContext::with_control(index, Control::new(generation, workers))
    }

    /// The generation to serve the next request with.
    pub fn serving(&self) -> Rc<Serving> {
        self.serving.borrow().clone()
    }

    /// A new request id, unique across workers and restarts.
    pub fn next_request_id(&self) -> RequestId {
        self.request_ids.next()
    }

    /// Client connections this worker holds: served by a task, or parked.
    pub fn connections_held(&self) -> usize {
        self.open_connections.get() + self.parking.parked()
    }

    /// Shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// What cancels this worker's accepts when draining begins (`None` once it has begun), for
    /// accept loops beside the worker's own (the WebSocket push endpoint's).
    pub fn accept_cancel_handle(&self) -> Option<monoio::io::CancelHandle> {
        self.accept_canceller.borrow().as_ref().map(Canceller::handle)
    }

    /// The flag behind [`is_draining`](Self::is_draining), for code that must look again later.
    pub fn draining_flag(&self) -> &std::cell::Cell<bool> {
        &self.draining
    }

    /// A request was read and is being handled.
    pub fn request_started(&self) {
        self.in_flight.set(self.in_flight.get() + 1);
    }

    /// `count` requests were answered (their responses written, or their connection gone).
    pub fn requests_finished(&self, count: usize) {
        self.in_flight.set(self.in_flight.get().saturating_sub(count));
    }
}

/// A request id: 128 bits as 32 lower-case hex digits, on the stack. Tencent's captured events
/// carry `x-api-requestid` in this form (32 hex digits, no dashes; `shared/spec` §6.2, §8), and it
/// is also a valid B3/W3C trace id, so the `x-b3-traceid` fallback to it is well-formed.
#[derive(Clone, Copy)]
pub struct RequestId([u8; 32]);

impl RequestId {
    /// The id's text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Per-worker id source: 48 bits from the start time and pid, 16 bits of worker, 64-bit counter.
struct RequestIds {
    prefix: u64,
    counter: Cell<u64>,
}

impl RequestIds {
    fn new(worker: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0);
        let seed = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        RequestIds { prefix: (seed & 0xffff_ffff_ffff_0000) | (worker as u64 & 0xffff), counter: Cell::new(0) }
    }

    fn next(&self) -> RequestId {
        let count = self.counter.get().wrapping_add(1);
        self.counter.set(count);
        let value = (u128::from(self.prefix) << 64) | u128::from(count);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'0'; 32];
        for (nibble, slot) in text.iter_mut().enumerate() {
            *slot = HEX[((value >> (124 - 4 * nibble)) & 0xf) as usize];
        }
        RequestId(text)
    }
}

/// Follows `crate::control`: swaps to newly published generations, publishes this worker's
/// requests in flight per web function instance, and at shutdown stops the accept loops and
/// reports requests in flight.
pub(crate) async fn control_task(context: Rc<WorkerContext>) {
    let mut last_sweep = Instant::now();
    loop {
        let latest = context.control.latest_number();
        if latest != context.serving.borrow().generation.number {
            let generation = context.control.latest();
            tracing::debug!(worker = context.index, generation = generation.number, "serving a new configuration");
            let serving = Rc::new(Serving::new(
                generation,
                context.index,
                Some(&context.serving()),
                &context.metrics,
                context.limits.as_ref(),
            ));
            *context.serving.borrow_mut() = serving;
        }
        // Usage plans counted across the cluster: answers in, reports out, between requests.
        if context.limits.is_some() {
            context.serving().policy.borrow_mut().limiter.flush();
        }
        // Web functions scale on the requests every worker has in flight: this worker's counts.
        for instances in context.serving().backends.web_instances.iter().flatten() {
            instances.report(context.index);
        }
        if context.control.is_draining() && !context.draining.get() {
            context.draining.set(true);
            if let Some(canceller) = context.accept_canceller.borrow_mut().take() {
                canceller.cancel();
            }
        }
        let now = Instant::now();
        if now.duration_since(last_sweep) >= POOL_SWEEP {
            last_sweep = now;
            let closed = context.serving().backends.close_expired_connections(now);
            if closed > 0 {
                tracing::debug!(
                    worker = context.index,
                    closed,
                    "closed pooled backend connections idle past pool_idle_timeout"
                );
            }
            // Off the request path: pages freed since (large bodies served, connections closed)
            // go back to the system even if no request comes to make the allocator do it.
            crate::memory::return_freed_memory();
        }
        publish_metrics(&context);
        let serving = context.serving.borrow().generation.number;
        context.control.report(
            context.index,
            serving,
            context.in_flight.get(),
            context.connections_held(),
            context.draining.get(),
        );
        monoio::time::sleep(CONTROL_TICK).await;
    }
}

/// Moves what this worker counted outside its cells into them: its pools' traffic, the TLS
/// hellos its handshakes saw, the connections and sessions it holds (each tick, off the request
/// path).
fn publish_metrics(context: &WorkerContext) {
    let metrics = &context.metrics;
    let serving = context.serving();
    let (pool, idle) = serving.backends.take_pool_stats();
    let backend = &metrics.backend;
    backend.reused.add(pool.reused);
    backend.opened.add(pool.missed);
    backend.closed_idle.add(pool.closed_idle);
    backend.closed_by_backend.add(pool.closed_spoke);
    backend.closed_pool_full.add(pool.closed_full);
    backend.idle.set(idle as u64);
    crate::tls::drain_hellos(|hello, count| match hello {
        crate::tls::Hello::Accepted(host) => {
            if let Some(series) = serving.tls_metrics.get(host) {
                series.accepted.add(count);
            }
        }
        crate::tls::Hello::NoName => metrics.tls.refused_no_sni.add(count),
        crate::tls::Hello::UnknownName => metrics.tls.refused_unknown_name.add(count),
    });
    metrics.connections.open.set(context.connections_held() as u64);
    metrics.websocket.open.set(context.websocket.open_connections() as u64);
}

/// Counts a connection as open for as long as it lives.
pub(crate) struct OpenConnection {
    pub(crate) context: Rc<WorkerContext>,
}

impl OpenConnection {
    pub(crate) fn new(context: Rc<WorkerContext>) -> Self {
        context.open_connections.set(context.open_connections.get() + 1);
        OpenConnection { context }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.context.open_connections.set(self.context.open_connections.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_hex_digits_and_distinct() {
        let ids = RequestIds::new(3);
        let first = ids.next();
        let second = ids.next();
        let text = std::str::from_utf8(first.as_bytes()).unwrap();
        assert_eq!(text.len(), 32);
        assert!(text.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)), "{text}");
        assert_ne!(first.as_bytes(), second.as_bytes());
    }
}
