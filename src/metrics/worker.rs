//! One worker's cells: its requests per API and stage, its gateway errors by kind, its client
//! connections, TLS handshakes, WebSocket sessions and backend connections. The worker is the
//! only writer of every cell here (see `super::cells`); the scrape reads them all.
//!
//! The per-API series a worker uses are looked up once per configuration generation
//! ([`WorkerMetrics::api_series`], when the worker swaps to it), keyed by their labels, so a
//! reload that keeps an API keeps counting into the same series and the request path indexes a
//! `Vec` with the API's id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::cells::{Counter, Gauge, Histogram};
use crate::config::{Config, Stage};

/// The labels of one API as served on one stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiLabels {
    /// The service's id (`service-...`).
    pub service: String,
    /// `release`, `test` or `prepub`.
    pub stage: &'static str,
    /// The API's name.
    pub api: String,
    /// The method the API declares (`ANY` included), never the request's.
    pub method: &'static str,
}

impl ApiLabels {
    /// The labels requests that matched no API are counted under.
    pub fn unmatched() -> Self {
        ApiLabels { service: String::new(), stage: "", api: String::new(), method: "" }
    }
}

/// Status classes counted apart: `1xx` to `5xx`.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One API on one stage, as one worker served it.
#[derive(Debug)]
pub struct ApiSeries {
    /// Its labels.
    pub labels: ApiLabels,
    /// Responses per status class ([`STATUS_CLASSES`]).
    pub responses: [Counter; 5],
    /// Request bytes: head and body as received.
    pub request_bytes: Counter,
    /// Response bytes: head and body as written.
    pub response_bytes: Counter,
    /// From the request's head parsed to its response written.
    pub duration: Histogram,
    /// The function's share: from the call to the function to its answer (event APIs), or to
    /// the end of its relayed response (web functions).
    pub function_duration: Histogram,
}

impl ApiSeries {
    fn new(labels: ApiLabels) -> Self {
        ApiSeries {
            labels,
            responses: Default::default(),
            request_bytes: Counter::default(),
            response_bytes: Counter::default(),
            duration: Histogram::default(),
            function_duration: Histogram::default(),
        }
    }

    /// Counts one answered request (its worker only).
    #[inline]
    pub fn record(&self, finished: &Finished) {
        let class = usize::from(finished.status / 100).clamp(1, 5) - 1;
        self.responses[class].increment();
        self.request_bytes.add(finished.request_bytes);
        self.response_bytes.add(finished.response_bytes);
        self.duration.observe(finished.duration);
        if let Some(function) = finished.function_duration {
            self.function_duration.observe(function);
        }
    }
}

/// What is known of a request once its response is written.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// The status sent.
    pub status: u16,
    /// Bytes received: head and body.
    pub request_bytes: u64,
    /// Bytes written: head and body.
    pub response_bytes: u64,
    /// The whole request, as the gateway saw it.
    pub duration: std::time::Duration,
    /// The function's part of it, when a function was called.
    pub function_duration: Option<std::time::Duration>,
}

/// TLS hellos accepted for one certificate host, as the certificates list it
/// (`api.example.com`, `*.example.com`).
#[derive(Debug)]
pub struct TlsSeries {
    /// The certificate host.
    pub sni: String,
    /// Hellos whose name it covers.
    pub accepted: Counter,
}

/// TLS handshakes, whatever the name.
#[derive(Debug, Default)]
pub struct TlsCounts {
    /// Completed.
    pub completed: Counter,
    /// Failed: refused by the certificate resolver, an alert, a protocol error, the client left.
    pub failed: Counter,
    /// Not finished within the header timeout.
    pub timed_out: Counter,
    /// Hellos refused for carrying no name (`crate::tls` counts hellos on the worker's thread;
    /// its control task adds them here).
    pub refused_no_sni: Counter,
    /// Hellos refused for a name no certificate covers.
    pub refused_unknown_name: Counter,
}

/// Client connections.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    /// Accepted and served.
    pub accepted: Counter,
    /// Accepted past `max_connections`: answered 503 and closed.
    pub refused: Counter,
    /// Open now, parked ones included (set by the worker's control task).
    pub open: Gauge,
    /// Idle and parked now: held by their descriptor alone (`crate::connection::park`).
    pub parked: Gauge,
    /// Parked connections that spoke again and went back to a task of their own.
    pub unparked: Counter,
}

/// WebSocket API sessions.
#[derive(Debug, Default)]
pub struct WebSocketCounts {
    /// Sessions opened (upgrades the register function accepted).
    pub opened: Counter,
    /// Open now (set by the worker's control task).
    pub open: Gauge,
    /// Messages received from clients (each handed to the transport function).
    pub messages_received: Counter,
    /// Messages sent to clients (pushes).
    pub messages_sent: Counter,
}

/// Connections to functions and endpoints (event functions' endpoints, web function instances,
/// Tencent Cloud's API), summed over this worker's pools by its control task.
#[derive(Debug, Default)]
pub struct BackendCounts {
    /// Requests sent over a pooled connection.
    pub reused: Counter,
    /// Requests that found no pooled connection (a new one was opened for them).
    pub opened: Counter,
    /// Pooled connections closed after `pool_idle_timeout`.
    pub closed_idle: Counter,
    /// Pooled connections closed because the function spoke out of turn or closed them.
    pub closed_by_backend: Counter,
    /// Connections closed because the pool was full.
    pub closed_pool_full: Counter,
    /// Connections idle in the pools now.
    pub idle: Gauge,
}

/// One worker's cells.
#[derive(Debug)]
pub struct WorkerMetrics {
    /// The worker's index.
    pub index: usize,
    /// The API series of the generation this worker serves, by labels: for the scrape, and
    /// for reuse by the next generation. An API a reload removed leaves it (a request still
    /// running on the old generation counts into a series no longer reported).
    apis: Mutex<HashMap<ApiLabels, Arc<ApiSeries>>>,
    /// Requests that matched no API (unknown host, stage or path, wrong method, malformed).
    pub unmatched: Arc<ApiSeries>,
    /// Gateway errors per kind ([`crate::error::GatewayError::metric_kind`]).
    pub errors: [Counter; crate::error::ERROR_KINDS.len()],
    /// Client connections.
    pub connections: ConnectionCounts,
    /// TLS handshakes.
    pub tls: TlsCounts,
    /// TLS handshakes completed by name, kept across reloads like the API series.
    tls_names: Mutex<HashMap<String, Arc<TlsSeries>>>,
    /// WebSocket sessions and messages.
    pub websocket: WebSocketCounts,
    /// Backend connections.
    pub backend: BackendCounts,
}

impl WorkerMetrics {
    /// Worker `index`'s empty cells.
    pub fn new(index: usize) -> Self {
        WorkerMetrics {
            index,
            apis: Mutex::new(HashMap::new()),
            unmatched: Arc::new(ApiSeries::new(ApiLabels::unmatched())),
            errors: std::array::from_fn(|_| Counter::default()),
            connections: ConnectionCounts::default(),
            tls: TlsCounts::default(),
            tls_names: Mutex::new(HashMap::new()),
            websocket: WebSocketCounts::default(),
            backend: BackendCounts::default(),
        }
    }

    /// The series for each of `config`'s APIs on each stage, indexed `api * 3 + stage` (a stage
    /// its service is not published to has none of its own); made when the worker starts
    /// serving a generation, off the request path.
    pub fn api_series(&self, config: &Config) -> Vec<Arc<ApiSeries>> {
        let mut known = lock(&self.apis);
        let mut kept = HashMap::with_capacity(config.apis.len() * Stage::ALL.len());
        let mut series = Vec::with_capacity(config.apis.len() * Stage::ALL.len());
        for api in &config.apis {
            let service = &config.services[api.service];
            for stage in Stage::ALL {
                if !service.stages.contains(&stage) {
                    // Routing never reaches a stage the service is not published to: its slot
                    // shares one placeholder rather than holding cells of its own.
                    series.push(self.unmatched.clone());
                    continue;
                }
                let labels = ApiLabels {
                    service: service.id.clone(),
                    stage: stage.as_str(),
                    api: api.name.clone(),
                    method: api.method.as_str(),
                };
                let found = known.remove(&labels).unwrap_or_else(|| Arc::new(ApiSeries::new(labels.clone())));
                series.push(found.clone());
                kept.insert(labels, found);
            }
        }
        *known = kept;
        series
    }

    /// The TLS series for each certificate host of `config`, by the host as written
    /// (lower-cased), as `crate::tls::drain_hellos` names them.
    pub fn tls_series(&self, config: &Config) -> HashMap<String, Arc<TlsSeries>> {
        let mut known = lock(&self.tls_names);
        let names = config
            .certificates
            .iter()
            .flat_map(|certificate| certificate.hosts.iter().map(|host| host.to_ascii_lowercase()));
        let series: HashMap<String, Arc<TlsSeries>> = names
            .map(|name| {
                let found = known
                    .remove(&name)
                    .unwrap_or_else(|| Arc::new(TlsSeries { sni: name.clone(), accepted: Counter::default() }));
                (name, found)
            })
            .collect();
        *known = series.clone();
        series
    }

    /// Every API series this worker has used (the scrape).
    pub fn all_api_series(&self) -> Vec<Arc<ApiSeries>> {
        let mut all: Vec<_> = lock(&self.apis).values().cloned().collect();
        all.push(self.unmatched.clone());
        all
    }

    /// Every TLS series this worker has used (the scrape).
    pub fn all_tls_series(&self) -> Vec<Arc<TlsSeries>> {
        lock(&self.tls_names).values().cloned().collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
