//! Metrics: what the gateway counts, kept where it is counted, and merged only when scraped.
//!
//! Each worker counts into its own cells ([`worker::WorkerMetrics`]) and the function host into
//! each function's ([`functions::FunctionStats`]), one writer per cell with no lock and no
//! read-modify-write on the request path ([`cells`]). The [`Registry`] holds them all; a scrape
//! (`GET /metrics` on `--metrics-listen` or the admin listener, [`server`]) sums the workers'
//! cells per label set and writes them in the Prometheus or OpenMetrics text format
//! ([`exposition`]), with the process's own gauges ([`process`]). [`history`] keeps the last
//! hour per API for the console's charts, sampled off the request path.

pub mod cells;
pub mod exposition;
pub mod functions;
pub mod history;
pub mod process;
pub mod server;
pub mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cells::HistogramSnapshot;
use exposition::{Format, Kind, Writer};
use functions::FunctionStats;
use worker::{ApiLabels, WorkerMetrics, STATUS_CLASSES};

/// A counter family read from `T`: name, help, value.
type CountFamily<T> = (&'static str, &'static str, fn(&T) -> u64);
/// A histogram family read from an API's totals: name, help, histogram.
type HistogramFamily = (&'static str, &'static str, fn(&ApiTotals) -> &HistogramSnapshot);

/// Whether the gateway is ready: `Err` names what is not.
pub type ReadinessProbe = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Every cell of the process, for the scrape.
pub struct Registry {
    workers: Vec<Arc<WorkerMetrics>>,
    functions: Mutex<Vec<Arc<FunctionStats>>>,
    generation: AtomicU64,
    reloads: Mutex<Reloads>,
    readiness: Mutex<Option<ReadinessProbe>>,
    /// Services a cluster node depends on (etcd, Redis) and whether each answers.
    dependencies: Mutex<Vec<(&'static str, Arc<std::sync::atomic::AtomicBool>)>>,
    /// The console's last hour.
    pub history: history::History,
}

#[derive(Default)]
struct Reloads {
    applied: u64,
    refused: u64,
    /// The last one's outcome and when (Unix seconds).
    last: Option<(bool, f64)>,
}

impl Registry {
    /// Cells for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Registry {
            workers: (0..workers.max(1)).map(|index| Arc::new(WorkerMetrics::new(index))).collect(),
            functions: Mutex::new(Vec::new()),
            generation: AtomicU64::new(1),
            reloads: Mutex::new(Reloads::default()),
            readiness: Mutex::new(None),
            dependencies: Mutex::new(Vec::new()),
            history: history::History::default(),
        }
    }

    /// Worker `index`'s cells (a worker takes its own once, at start).
    pub fn worker(&self, index: usize) -> Arc<WorkerMetrics> {
        self.workers[index % self.workers.len()].clone()
    }

    /// The local functions the function host runs now (after each start or reload).
    pub fn set_functions(&self, functions: Vec<Arc<FunctionStats>>) {
        *lock(&self.functions) = functions;
    }

    /// The configuration generation now published.
    pub fn set_generation(&self, number: u64) {
        self.generation.store(number, Ordering::Relaxed);
    }

    /// A reload (SIGHUP) or an admin change was applied (`true`) or refused.
    pub fn record_reload(&self, applied: bool) {
        let mut reloads = lock(&self.reloads);
        if applied {
            reloads.applied += 1;
        } else {
            reloads.refused += 1;
        }
        reloads.last = Some((applied, unix_now()));
    }

    /// Reports whether `dependency` (`etcd`, `redis`) answers, as its client last found.
    pub fn add_dependency(&self, dependency: &'static str, up: Arc<std::sync::atomic::AtomicBool>) {
        lock(&self.dependencies).push((dependency, up));
    }

    /// Sets what `/readyz` asks.
    pub fn set_readiness(&self, probe: ReadinessProbe) {
        *lock(&self.readiness) = Some(probe);
    }

    /// `Ok` when every worker serves the latest generation and every warm local function is
    /// ready; else what is not. Ready when nothing was set (nothing to wait for).
    pub fn readiness(&self) -> Result<(), String> {
        match &*lock(&self.readiness) {
            Some(probe) => probe(),
            None => Ok(()),
        }
    }

    /// The API series summed over the workers, by labels.
    pub fn api_totals(&self) -> BTreeMap<ApiLabels, ApiTotals> {
        let mut merged: BTreeMap<ApiLabels, ApiTotals> = BTreeMap::new();
        for worker in &self.workers {
            for series in worker.all_api_series() {
                let totals = merged.entry(series.labels.clone()).or_default();
                for (into, from) in totals.responses.iter_mut().zip(&series.responses) {
                    *into += from.get();
                }
                totals.request_bytes += series.request_bytes.get();
                totals.response_bytes += series.response_bytes.get();
                totals.duration.merge(&series.duration.read());
                totals.function_duration.merge(&series.function_duration.read());
            }
        }
        merged
    }

    /// The local functions as the function host last reported them.
    pub fn functions(&self) -> Vec<Arc<FunctionStats>> {
        lock(&self.functions).clone()
    }

    /// The whole exposition.
    pub fn render(&self, format: Format) -> String {
        let mut out = Writer::new(format);
        self.render_requests(&mut out);
        self.render_gateway(&mut out);
        self.render_functions(&mut out);
        self.render_process(&mut out);
        out.finish()
    }

    fn render_requests(&self, out: &mut Writer) {
        // A series appears with its first request: an API on a stage it is not published to,
        // or never called, would only add empty series.
        let mut totals = self.api_totals();
        totals.retain(|_, total| total.responses.iter().any(|count| *count > 0));
        let labels = |labels: &ApiLabels| -> [(&'static str, String); 4] {
            [
                ("service", labels.service.clone()),
                ("stage", labels.stage.to_string()),
                ("api", labels.api.clone()),
                ("method", labels.method.to_string()),
            ]
        };
        out.family(
            "scfgate_requests",
            Kind::Counter,
            "Requests answered, by API, stage and status class (requests that matched no API have empty API labels).",
        );
        for (key, total) in &totals {
            let owned = labels(key);
            for (class, count) in STATUS_CLASSES.iter().zip(&total.responses) {
                if *count > 0 {
                    let mut pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    pairs.push(("code", class));
                    out.counter("scfgate_requests", &pairs, *count);
                }
            }
        }
        let families: [CountFamily<ApiTotals>; 2] = [
            ("scfgate_request_bytes", "Request bytes received (head and body), by API and stage.", |total| {
                total.request_bytes
            }),
            ("scfgate_response_bytes", "Response bytes written (head and body), by API and stage.", |total| {
                total.response_bytes
            }),
        ];
        for (name, help, value) in families {
            out.family(name, Kind::Counter, help);
            for (key, total) in &totals {
                let owned = labels(key);
                let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                out.counter(name, &pairs, value(total));
            }
        }
        let histograms: [HistogramFamily; 2] = [
            ("scfgate_request_duration_seconds", "Time from a request's head parsed to its response written, by API and stage.", |total| &total.duration),
            ("scfgate_function_duration_seconds", "Time spent in the function: from the call to its answer (event APIs) or to the end of its relayed response (web functions).", |total| &total.function_duration),
        ];
        for (name, help, value) in histograms {
            out.family(name, Kind::Histogram, help);
            for (key, total) in &totals {
                if name == "scfgate_function_duration_seconds" && total.function_duration.count() == 0 {
                    continue;
                }
                let owned = labels(key);
                let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                out.histogram(name, &pairs, value(total));
            }
        }
    }

    fn render_gateway(&self, out: &mut Writer) {
        let sum =
            |read: &dyn Fn(&WorkerMetrics) -> u64| -> u64 { self.workers.iter().map(|worker| read(worker)).sum() };
        out.family(
            "scfgate_gateway_errors",
            Kind::Counter,
            "Requests the gateway answered with an error of its own, by kind.",
        );
        for (index, kind) in crate::error::ERROR_KINDS.iter().enumerate() {
            out.counter("scfgate_gateway_errors", &[("kind", kind)], sum(&|worker| worker.errors[index].get()));
        }
        out.family(
            "scfgate_usage_plan_throttled",
            Kind::Counter,
            "Requests refused with 429 by a usage plan, by the limit they hit.",
        );
        let rate = crate::error::ERROR_KINDS.iter().position(|kind| *kind == "rate_limited").unwrap_or(0);
        let quota = crate::error::ERROR_KINDS.iter().position(|kind| *kind == "quota_exceeded").unwrap_or(0);
        out.counter(
            "scfgate_usage_plan_throttled",
            &[("limit", "requests_per_second")],
            sum(&|worker| worker.errors[rate].get()),
        );
        out.counter(
            "scfgate_usage_plan_throttled",
            &[("limit", "quota_per_day")],
            sum(&|worker| worker.errors[quota].get()),
        );

        out.family("scfgate_connections_accepted", Kind::Counter, "Client connections accepted and served.");
        out.counter("scfgate_connections_accepted", &[], sum(&|worker| worker.connections.accepted.get()));
        out.family(
            "scfgate_connections_refused",
            Kind::Counter,
            "Client connections answered 503 and closed at --max-connections.",
        );
        out.counter("scfgate_connections_refused", &[], sum(&|worker| worker.connections.refused.get()));
        out.family("scfgate_connections_open", Kind::Gauge, "Client connections open now.");
        out.gauge("scfgate_connections_open", &[], sum(&|worker| worker.connections.open.get()) as f64);
        out.family(
            "scfgate_connections_parked",
            Kind::Gauge,
            "Idle keep-alive connections parked now (counted in scfgate_connections_open): held by their descriptor alone.",
        );
        out.gauge("scfgate_connections_parked", &[], sum(&|worker| worker.connections.parked.get()) as f64);
        out.family(
            "scfgate_connections_unparked",
            Kind::Counter,
            "Parked connections that spoke again and were given a task of their own.",
        );
        out.counter("scfgate_connections_unparked", &[], sum(&|worker| worker.connections.unparked.get()));

        out.family("scfgate_tls_handshakes", Kind::Counter, "TLS handshakes by result.");
        out.counter("scfgate_tls_handshakes", &[("result", "completed")], sum(&|worker| worker.tls.completed.get()));
        out.counter("scfgate_tls_handshakes", &[("result", "failed")], sum(&|worker| worker.tls.failed.get()));
        out.counter("scfgate_tls_handshakes", &[("result", "timed_out")], sum(&|worker| worker.tls.timed_out.get()));
        out.family("scfgate_tls_hellos_by_sni", Kind::Counter, "TLS hellos given a certificate, by the certificate host (as configured) covering the name the client asked for.");
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        for worker in &self.workers {
            for series in worker.all_tls_series() {
                *by_name.entry(series.sni.clone()).or_default() += series.accepted.get();
            }
        }
        for (sni, count) in &by_name {
            out.counter("scfgate_tls_hellos_by_sni", &[("sni", sni)], *count);
        }
        out.family(
            "scfgate_tls_sni_refused",
            Kind::Counter,
            "TLS hellos refused for their name: none sent, or one no certificate covers.",
        );
        out.counter("scfgate_tls_sni_refused", &[("reason", "no_sni")], sum(&|worker| worker.tls.refused_no_sni.get()));
        out.counter(
            "scfgate_tls_sni_refused",
            &[("reason", "unknown_name")],
            sum(&|worker| worker.tls.refused_unknown_name.get()),
        );

        out.family("scfgate_websocket_sessions", Kind::Counter, "WebSocket API sessions opened.");
        out.counter("scfgate_websocket_sessions", &[], sum(&|worker| worker.websocket.opened.get()));
        out.family("scfgate_websocket_sessions_open", Kind::Gauge, "WebSocket API sessions open now.");
        out.gauge("scfgate_websocket_sessions_open", &[], sum(&|worker| worker.websocket.open.get()) as f64);
        out.family(
            "scfgate_websocket_messages",
            Kind::Counter,
            "WebSocket messages, received from clients and sent to them.",
        );
        out.counter(
            "scfgate_websocket_messages",
            &[("direction", "received")],
            sum(&|worker| worker.websocket.messages_received.get()),
        );
        out.counter(
            "scfgate_websocket_messages",
            &[("direction", "sent")],
            sum(&|worker| worker.websocket.messages_sent.get()),
        );

        out.family(
            "scfgate_backend_requests",
            Kind::Counter,
            "Requests to functions and endpoints, by whether a pooled connection carried them or a new one was opened.",
        );
        out.counter(
            "scfgate_backend_requests",
            &[("connection", "reused")],
            sum(&|worker| worker.backend.reused.get()),
        );
        out.counter("scfgate_backend_requests", &[("connection", "new")], sum(&|worker| worker.backend.opened.get()));
        out.family(
            "scfgate_backend_connections_closed",
            Kind::Counter,
            "Pooled backend connections closed, by reason.",
        );
        out.counter(
            "scfgate_backend_connections_closed",
            &[("reason", "idle_timeout")],
            sum(&|worker| worker.backend.closed_idle.get()),
        );
        out.counter(
            "scfgate_backend_connections_closed",
            &[("reason", "backend")],
            sum(&|worker| worker.backend.closed_by_backend.get()),
        );
        out.counter(
            "scfgate_backend_connections_closed",
            &[("reason", "pool_full")],
            sum(&|worker| worker.backend.closed_pool_full.get()),
        );
        out.family("scfgate_backend_connections_idle", Kind::Gauge, "Backend connections idle in the pools now.");
        out.gauge("scfgate_backend_connections_idle", &[], sum(&|worker| worker.backend.idle.get()) as f64);

        out.family(
            "scfgate_config_generation",
            Kind::Gauge,
            "The configuration generation published (1 at start, one more per applied reload or admin change).",
        );
        out.gauge("scfgate_config_generation", &[], self.generation.load(Ordering::Relaxed) as f64);
        // The family is always declared (with no sample on a node that is not in a cluster), so
        // dashboards and alerts find it.
        let dependencies = lock(&self.dependencies);
        out.family(
            "scfgate_dependency_up",
            Kind::Gauge,
            "Whether a cluster service answers (1) or not (0): etcd (the state; serving goes on, changes wait) and Redis (usage plans; local shares apply meanwhile).",
        );
        for (dependency, up) in dependencies.iter() {
            let value = if up.load(Ordering::Relaxed) { 1.0 } else { 0.0 };
            out.gauge("scfgate_dependency_up", &[("dependency", dependency)], value);
        }
        drop(dependencies);
        let reloads = lock(&self.reloads);
        out.family("scfgate_config_reloads", Kind::Counter, "Reloads (SIGHUP) and admin changes, applied or refused.");
        out.counter("scfgate_config_reloads", &[("result", "applied")], reloads.applied);
        out.counter("scfgate_config_reloads", &[("result", "refused")], reloads.refused);
        if let Some((applied, at)) = reloads.last {
            out.family(
                "scfgate_config_last_reload_successful",
                Kind::Gauge,
                "Whether the last reload or admin change was applied (1) or refused (0).",
            );
            out.gauge("scfgate_config_last_reload_successful", &[], if applied { 1.0 } else { 0.0 });
            out.family(
                "scfgate_config_last_reload_timestamp_seconds",
                Kind::Gauge,
                "When the last reload or admin change was tried, in Unix seconds.",
            );
            out.gauge("scfgate_config_last_reload_timestamp_seconds", &[], at.floor());
        }
    }

    fn render_functions(&self, out: &mut Writer) {
        let functions = self.functions();
        out.family(
            "scfgate_function_instances",
            Kind::Gauge,
            "Local function instances by state: starting, idle (ready, no invocation) or busy.",
        );
        for function in &functions {
            for (state, gauge) in [("starting", &function.starting), ("idle", &function.idle), ("busy", &function.busy)]
            {
                let labels = [("function", function.function.as_str()), ("kind", function.kind), ("state", state)];
                out.gauge("scfgate_function_instances", &labels, gauge.get() as f64);
            }
        }
        let counters: [CountFamily<FunctionStats>; 3] = [
            (
                "scfgate_function_starts",
                "Local function processes started (cold starts): warm ones, scale-ups and replacements.",
                |f| f.starts.get(),
            ),
            (
                "scfgate_function_restarts",
                "Local function processes started to replace one that exited unasked.",
                |f| f.restarts.get(),
            ),
            (
                "scfgate_function_crashes",
                "Local function processes that exited unasked (crashed, or killed at their time limit).",
                |f| f.crashes.get(),
            ),
        ];
        for (name, help, value) in counters {
            out.family(name, Kind::Counter, help);
            for function in &functions {
                out.counter(
                    name,
                    &[("function", function.function.as_str()), ("kind", function.kind)],
                    value(function),
                );
            }
        }
        out.family(
            "scfgate_function_queue_depth",
            Kind::Gauge,
            "Invocations waiting for an instance of a local event function now.",
        );
        for function in functions.iter().filter(|function| function.kind == "event") {
            out.gauge(
                "scfgate_function_queue_depth",
                &[("function", function.function.as_str())],
                function.queue_depth.get() as f64,
            );
        }
        out.family(
            "scfgate_function_queue_wait_seconds",
            Kind::Histogram,
            "How long invocations of a local event function waited for an instance.",
        );
        for function in functions.iter().filter(|function| function.kind == "event") {
            out.histogram(
                "scfgate_function_queue_wait_seconds",
                &[("function", function.function.as_str())],
                &function.queue_wait.read(),
            );
        }
    }

    fn render_process(&self, out: &mut Writer) {
        let sample = process::sample();
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                sample.resident_bytes.map(|bytes| bytes as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                sample.virtual_bytes.map(|bytes| bytes as f64),
            ),
            ("process_open_fds", "Open file descriptors.", sample.open_fds.map(|count| count as f64)),
            ("process_max_fds", "The open file descriptor limit.", sample.max_fds.map(|count| count as f64)),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds.",
                sample.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                out.family(name, Kind::Gauge, help);
                out.gauge(name, &[], value);
            }
        }
        if let Some(cpu) = sample.cpu_seconds {
            // A counter in seconds, fractional: written as a gauge sample under the counter's name.
            out.family("process_cpu_seconds", Kind::Counter, "User and system CPU time spent, in seconds.");
            out.gauge("process_cpu_seconds_total", &[], cpu);
        }
        out.family("scfgate_build_info", Kind::Gauge, "The scfgate version running (always 1).");
        out.gauge("scfgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    }
}

/// One API on one stage, all workers together.
#[derive(Debug, Default, Clone)]
pub struct ApiTotals {
    /// Responses per status class.
    pub responses: [u64; 5],
    /// Request bytes.
    pub request_bytes: u64,
    /// Response bytes.
    pub response_bytes: u64,
    /// The gateway's total time.
    pub duration: HistogramSnapshot,
    /// The function's time.
    pub function_duration: HistogramSnapshot,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|since| since.as_secs_f64()).unwrap_or(0.0)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
