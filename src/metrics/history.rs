//! The last hour of each API's traffic, for the console's charts: every [`STEP`] the sampler
//! thread takes the workers' totals and keeps, per API and stage, what happened since the step
//! before (requests, 4xx and 5xx, p50 and p99 latency). Small and fixed: 360 points of 24 bytes
//! per API that had traffic in the hour; an API without any for an hour is forgotten.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::worker::ApiLabels;
use super::{ApiTotals, Registry};

/// How often a point is taken.
pub const STEP: Duration = Duration::from_secs(10);
/// Points kept: one hour.
pub const POINTS: usize = 360;

/// One step of one API.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    /// The step's end, Unix seconds.
    pub at: u64,
    /// Requests answered in the step.
    pub requests: u64,
    /// Of those, answered 4xx.
    pub client_errors: u64,
    /// Of those, answered 5xx.
    pub server_errors: u64,
    /// Median latency in milliseconds (`null` without requests).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: Option<f64>,
}

/// One API's recent past.
#[derive(Debug, Default)]
struct Track {
    /// The totals at the last point taken.
    last: ApiTotals,
    points: VecDeque<Point>,
}

/// The console's hour.
#[derive(Debug, Default)]
pub struct History {
    tracks: Mutex<BTreeMap<ApiLabels, Track>>,
}

/// What `GET /v1/metrics/history` answers.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Seconds per point.
    pub step_seconds: u64,
    /// Per API and stage with traffic in the hour.
    pub apis: Vec<ApiReport>,
    /// The local functions' instances now.
    pub functions: Vec<FunctionReport>,
}

/// One API on one stage.
#[derive(Debug, Serialize)]
pub struct ApiReport {
    /// The service id.
    pub service: String,
    /// The stage.
    pub stage: &'static str,
    /// The API's name (empty for requests that matched no API).
    pub api: String,
    /// The API's method.
    pub method: &'static str,
    /// Oldest first; the last one is the step in progress, up to now.
    pub points: Vec<Point>,
}

/// One local function now.
#[derive(Debug, Serialize)]
pub struct FunctionReport {
    /// `namespace/name:qualifier`.
    pub function: String,
    /// `event` or `web`.
    pub kind: &'static str,
    /// Instances starting.
    pub starting: u64,
    /// Instances ready and idle.
    pub idle: u64,
    /// Instances holding an invocation.
    pub busy: u64,
    /// Processes started so far.
    pub starts: u64,
    /// Processes that exited unasked so far.
    pub crashes: u64,
}

impl History {
    /// Takes a point for every API from `totals` (the sampler, every [`STEP`]).
    pub fn sample(&self, totals: &BTreeMap<ApiLabels, ApiTotals>, at: u64) {
        let mut tracks = self.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (labels, now) in totals {
            let track = tracks.entry(labels.clone()).or_default();
            let point = point(now, &track.last, at);
            track.last = now.clone();
            if track.points.len() == POINTS {
                track.points.pop_front();
            }
            track.points.push_back(point);
        }
        // Gone from the configuration: forgotten. Quiet for the whole hour: only its totals are
        // kept (to measure the next step from).
        tracks.retain(|labels, _| totals.contains_key(labels));
        for track in tracks.values_mut() {
            if track.points.iter().all(|point| point.requests == 0) {
                track.points = VecDeque::new();
            }
        }
    }

    /// The hour, with the step in progress computed from `totals` now.
    pub fn report(&self, totals: &BTreeMap<ApiLabels, ApiTotals>, at: u64) -> Vec<ApiReport> {
        let tracks = self.tracks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let empty = Track::default();
        totals
            .iter()
            .filter_map(|(labels, now)| {
                let track = tracks.get(labels).unwrap_or(&empty);
                let current = point(now, &track.last, at);
                let mut points: Vec<Point> = track.points.iter().copied().collect();
                points.push(current);
                points.iter().any(|point| point.requests > 0).then(|| ApiReport {
                    service: labels.service.clone(),
                    stage: labels.stage,
                    api: labels.api.clone(),
                    method: labels.method,
                    points,
                })
            })
            .collect()
    }
}

fn point(now: &ApiTotals, last: &ApiTotals, at: u64) -> Point {
    let delta = |index: usize| now.responses[index].saturating_sub(last.responses[index]);
    let latency = now.duration.since(&last.duration);
    Point {
        at,
        requests: (0..5).map(delta).sum(),
        client_errors: delta(3),
        server_errors: delta(4),
        p50_ms: latency.quantile_us(0.5).map(|micros| (micros / 10.0).round() / 100.0),
        p99_ms: latency.quantile_us(0.99).map(|micros| (micros / 10.0).round() / 100.0),
    }
}

impl Registry {
    /// The console's report: the hour per API, and the functions now.
    pub fn history_report(&self) -> Report {
        let totals = self.api_totals();
        let apis = self.history.report(&totals, unix_seconds());
        let functions = self
            .functions()
            .iter()
            .map(|function| FunctionReport {
                function: function.function.clone(),
                kind: function.kind,
                starting: function.starting.get(),
                idle: function.idle.get(),
                busy: function.busy.get(),
                starts: function.starts.get(),
                crashes: function.crashes.get(),
            })
            .collect();
        Report { step_seconds: STEP.as_secs(), apis, functions }
    }

    /// Starts the thread that takes a point every [`STEP`], for the process's life.
    pub fn start_sampler(self: &Arc<Self>) {
        let registry = Arc::downgrade(self);
        let started = std::thread::Builder::new().name("scfgate-metrics".into()).spawn(move || loop {
            std::thread::sleep(STEP);
            let Some(registry) = registry.upgrade() else { return };
            registry.history.sample(&registry.api_totals(), unix_seconds());
        });
        if let Err(error) = started {
            tracing::warn!(%error, "cannot start the metrics history thread; the console's charts stay empty");
        }
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests_2xx: u64, requests_5xx: u64, latency_us: u64) -> BTreeMap<ApiLabels, ApiTotals> {
        let mut total = ApiTotals::default();
        total.responses[1] = requests_2xx;
        total.responses[4] = requests_5xx;
        total.duration.buckets[0] = requests_2xx + requests_5xx;
        total.duration.sum_us = latency_us;
        let labels = ApiLabels { service: "service-a".into(), stage: "release", api: "hello".into(), method: "GET" };
        BTreeMap::from([(labels, total)])
    }

    #[test]
    fn each_point_holds_what_happened_since_the_one_before() {
        let history = History::default();
        history.sample(&totals(10, 0, 100), 10);
        history.sample(&totals(25, 2, 200), 20);
        let report = history.report(&totals(26, 2, 210), 25);
        let points: Vec<(u64, u64, u64)> =
            report[0].points.iter().map(|point| (point.at, point.requests, point.server_errors)).collect();
        assert_eq!(points, [(10, 10, 0), (20, 17, 2), (25, 1, 0)]);
        assert_eq!(report[0].points[1].p50_ms, Some(0.25), "half the first bucket (0.5 ms)");
    }

    #[test]
    fn an_api_quiet_for_the_hour_or_gone_is_forgotten() {
        let history = History::default();
        history.sample(&totals(5, 0, 10), 10);
        for step in 0..POINTS as u64 {
            history.sample(&totals(5, 0, 10), 20 + step);
        }
        assert!(history.report(&totals(5, 0, 10), 9_999).is_empty(), "no request in the hour");
        assert!(history.tracks.lock().unwrap().values().all(|track| track.points.is_empty()));
        history.sample(&totals(6, 0, 10), 10_000);
        assert_eq!(history.report(&totals(6, 0, 10), 10_001).len(), 1);
        history.sample(&BTreeMap::new(), 10_002);
        assert!(history.tracks.lock().unwrap().is_empty(), "removed by a reload");
    }
}
