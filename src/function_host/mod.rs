//! Local functions: custom runtimes (`runtime = "custom"`), their `bootstrap` processes, the SCF
//! custom-runtime API they poll and the loopback invoke endpoint the workers send events to; and
//! web functions (`runtime = "web"`, [`web_supervisor`]), whose processes the workers reach on their own
//! ports.
//!
//! One host thread ([`host`]) runs every local function for the gateway's whole life, each as a
//! unit of its own ([`units`]): a reload compares each function with the unit that runs it, and
//! starts what is new, restarts what changed, retires what went away once its last requests are
//! done, and leaves the rest alone, warm, their requests in flight undisturbed. A function
//! process is a resource shared by all cores (one invocation at a time per instance), so it is
//! owned by one thread rather than locked; the hop costs a loopback round trip, small beside a
//! process's work.
//!
//! Per function: between `instances` and `max_instances` processes, each with its own
//! runtime-API port; a bounded queue of waiting invocations; a supervisor that scales with the
//! queue, restarts crashed or stuck processes with backoff and fails the request a dead process
//! held with a 502 (never a hang). Each process's output is logged line by line (`output`), and
//! with `--watch` a changed code folder restarts that function's processes (`watch`). Web
//! functions get the same life from their own supervisor (`web`), which shares each function's
//! instance states and loads with the workers through a board of atomics (`web_instances`).
//! Every process the gateway starts is reaped by the supervisor that started it, on every path.

mod host;
mod launch;
mod output;
mod ports;
mod process;
mod runtime_api;
mod standard;
mod state;
mod units;
mod var_lang;
mod watch;
pub mod web_instances;
pub mod web_supervisor;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use process::ProcessRegistry;
pub use units::Reach;

use crate::config::Config;
use crate::runtime::ActiveDriver;
use units::{Change, Units};

/// How long a reload waits for the host thread to take its changes (it does within a tick).
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// The changes the main thread hands the host thread, numbered so it can wait for them.
#[derive(Default)]
pub struct Inbox {
    pending: Mutex<(u64, Vec<Change>)>,
    applied: AtomicU64,
}

impl Inbox {
    /// Queues `changes`; returns their number.
    fn post(&self, changes: Vec<Change>) -> u64 {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.0 += 1;
        pending.1.extend(changes);
        pending.0
    }

    /// The changes queued since the last call, with the number of the last post.
    fn take(&self) -> Option<(u64, Vec<Change>)> {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pending.1.is_empty() && pending.0 == self.applied.load(Ordering::Acquire) {
            return None;
        }
        Some((pending.0, std::mem::take(&mut pending.1)))
    }

    /// The host carried out everything up to post `number`.
    fn applied(&self, number: u64) {
        self.applied.store(number, Ordering::Release);
    }

    /// Waits (bounded) until post `number` has been carried out.
    fn wait(&self, number: u64) {
        let deadline = Instant::now() + APPLY_WAIT;
        while self.applied.load(Ordering::Acquire) < number && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The gateway's side of the function host: the units it runs, and the thread that runs them.
pub struct FunctionHost {
    /// Where workers send `POST /invoke/{unit}`.
    pub invoke_address: SocketAddr,
    /// Live function processes, for shutdown.
    pub processes: ProcessRegistry,
    inbox: Arc<Inbox>,
    units: Units,
    stop: Arc<AtomicBool>,
    /// `--watch`: the watcher of the code folders, told of them at each reload.
    watcher: Option<watch::Watcher>,
}

impl FunctionHost {
    /// Binds the invoke endpoint and starts the host thread (with `--watch`, the watcher too);
    /// no function runs until [`update`](Self::update).
    pub fn start(driver: ActiveDriver, watch: bool) -> std::io::Result<FunctionHost> {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
        let invoke_listener = crate::listener::bind_one(loopback, 1024)?;
        let invoke_address = invoke_listener.local_addr()?;
        let processes = ProcessRegistry::default();
        let stop = Arc::new(AtomicBool::new(false));
        let inbox = Arc::new(Inbox::default());
        let (host_inbox, host_processes, host_stop) = (inbox.clone(), processes.clone(), stop.clone());
        std::thread::Builder::new().name("scfgate-functions".into()).spawn(move || {
            let run = host::run(host_inbox, invoke_listener, host_processes, host_stop);
            if let Err(error) = crate::runtime::block_on(driver, 256, run) {
                tracing::error!(%error, "function host runtime failed to start");
            }
        })?;
        let watcher = if watch { Some(watch::Watcher::start(stop.clone())?) } else { None };
        Ok(FunctionHost { invoke_address, processes, inbox, units: Units::default(), stop, watcher })
    }

    /// Runs `config`'s local functions (see the module docs) and returns how each function id
    /// is reached. Ports for new units are bound first: when that fails, nothing changes.
    pub fn update(&mut self, config: &Config) -> Result<Vec<Option<Reach>>, String> {
        let (plan, next) =
            self.units.plan(config).map_err(|error| format!("cannot bind the local functions' ports: {error}"))?;
        let number = self.inbox.post(plan.changes);
        self.inbox.wait(number);
        self.units.commit(next);
        if let Some(watcher) = &self.watcher {
            watcher.set(plan.code_folders);
        }
        Ok(plan.reach)
    }

    /// The metrics of the functions it runs now (after [`update`](Self::update)).
    pub fn stats(&self) -> Vec<Arc<crate::metrics::functions::FunctionStats>> {
        self.units.stats()
    }

    /// Whether any local function runs.
    pub fn runs_any(&self) -> bool {
        self.units.any()
    }

    /// Stops the host at shutdown: its processes are killed (and reaped) and its thread ends.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.processes.kill_all();
    }
}

/// The request target of a custom-runtime unit on the invoke endpoint.
pub fn invoke_path(unit: u64) -> String {
    format!("/invoke/{unit}")
}
