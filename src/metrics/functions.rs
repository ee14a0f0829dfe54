//! The local functions' cells: instances by state, starts, crashes, the invocation queue. The
//! function host's thread is the only writer (see `super::cells`); a web function's instance
//! states are read from the board the workers read (`crate::function_host::web_instances`).

use super::cells::{Counter, Gauge, Histogram};

/// One local function as the function host runs it.
#[derive(Debug)]
pub struct FunctionStats {
    /// `namespace/name:qualifier`.
    pub function: String,
    /// `event` (custom and standard runtimes) or `web`.
    pub kind: &'static str,
    /// Instances started and not yet ready (custom runtimes; web functions read their board).
    pub starting: Gauge,
    /// Instances ready and holding no invocation.
    pub idle: Gauge,
    /// Instances holding an invocation.
    pub busy: Gauge,
    /// Processes started: the warm ones, scale-ups, and replacements.
    pub starts: Counter,
    /// Of those, the ones that replaced a process that exited unasked.
    pub restarts: Counter,
    /// Processes that exited without being asked to (crashes, killed at their time limit).
    pub crashes: Counter,
    /// Invocations waiting for an instance now.
    pub queue_depth: Gauge,
    /// How long invocations waited for an instance.
    pub queue_wait: Histogram,
}

impl FunctionStats {
    /// Empty cells for `function`.
    pub fn new(function: String, kind: &'static str) -> Self {
        FunctionStats {
            function,
            kind,
            starting: Gauge::default(),
            idle: Gauge::default(),
            busy: Gauge::default(),
            starts: Counter::default(),
            restarts: Counter::default(),
            crashes: Counter::default(),
            queue_depth: Gauge::default(),
            queue_wait: Histogram::default(),
        }
    }
}
