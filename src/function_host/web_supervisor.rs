//! Web functions (`runtime = "web"`): the life of their `scf_bootstrap` processes, each an HTTP
//! server on a loopback port of its own. Per function, between `instances` and `max_instances`
//! of them: started, probed until the port accepts connections, restarted with backoff when they
//! exit or do not come up within `init_timeout`, scaled with the requests in flight, drained and
//! stopped when idle past `idle_timeout`, and replaced one by one when their code changes
//! (`--watch`).
//!
//! Requests never pass through here: each worker proxies them straight to the ports
//! (`crate::backend::web_proxy`) over its own pooled connections. What the two sides share is the
//! function's [`WebInstances`] board: this supervisor publishes each instance's state there,
//! and reads the requests every worker has in flight. It runs on the function host thread,
//! beside the custom runtime's supervisor, and shares only the process registry with it. A
//! reload hands it new functions, new settings for running ones and retirements
//! (`super::units`); a function it is not told about keeps running as it was. A function that
//! insists on a port (`port = 9000`) starts a process only once the port is free, so its
//! replacement waits for the process it replaces to stop instead of failing to bind.

use std::cell::RefCell;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::output::{OutputTags, RunningRequest, StderrTail};
use super::ports::{instance_address, port_is_free};
use super::process::{self, FunctionEnvironment, ProcessRegistry};
use super::units::{Change, WebSpec, WebTuning};
use super::web_instances::{InstanceState, InstanceStatus, WebInstances};
use crate::config::TencentIdentity;

/// How often processes are looked at (exits, readiness, load, restarts).
const TICK: Duration = Duration::from_millis(20);
/// How long one readiness probe may take to connect.
const PROBE_LIMIT: Duration = Duration::from_millis(200);
/// A draining instance is stopped no sooner than this after it stopped taking requests: workers
/// report their counts every 50 ms, so a request sent to it just before then shows up by now.
const DRAIN_SETTLE: Duration = Duration::from_millis(200);
/// Consecutive failed starts of every wanted instance after which requests fail at once.
const CRASH_LOOP_FAILURES: u32 = 3;
/// The port SCF's web functions listen on, whatever `PORT` says (spec tencent-migration §2).
const TENCENT_PORT: u16 = 9000;
/// How long a starting instance may listen elsewhere than its port before the gateway concludes
/// it listens on [`TENCENT_PORT`] instead (it is then stopped, and requests told the fix).
const WRONG_PORT_GRACE: Duration = Duration::from_millis(300);

/// One web function: what its processes are started with, its instance slots, and its board.
struct WebFunction {
    /// Its number (`super::units`).
    unit: u64,
    spec: Spec,
    slots: Vec<Slot>,
    board: Arc<WebInstances>,
    /// Bumped by `--watch` when its code changed.
    code_counter: Arc<AtomicU64>,
    /// The last code change acted on; processes started since run this code.
    code_version: u64,
    /// Per slot, the load just summed from the workers' reports (reused between ticks).
    loads: Vec<usize>,
    /// A reload replaced or removed it: its instances drain and stop, and it is dropped once
    /// every process has been reaped.
    retired: bool,
    /// Why it cannot start, when known: told to requests while it is failing.
    failure: Option<String>,
    /// Its metrics; this supervisor is their only writer.
    stats: Arc<crate::metrics::functions::FunctionStats>,
}

/// What starting, scaling and logging an instance needs of its function.
struct Spec {
    label: Arc<str>,
    code: PathBuf,
    name: String,
    namespace: String,
    qualifier: String,
    memory_mb: u32,
    identity: TencentIdentity,
    /// The function's `environment` table.
    environment: Vec<(String, String)>,
    init_timeout: Duration,
    /// `instances`: never scaled down below this.
    min_instances: usize,
    max_instances: usize,
    idle_timeout: Duration,
    concurrency: usize,
    /// The longest a request to it may take (its APIs' longest timeout, plus a second): a
    /// draining instance is stopped after this even if a worker still counts a request on it.
    drain_limit: Duration,
    /// It insists on its port: a process starts there only once the port is free.
    fixed_port: bool,
}

impl Spec {
    fn new(spec: WebSpec, tuning: &WebTuning) -> Self {
        Spec {
            label: spec.label,
            code: spec.code,
            name: spec.name,
            namespace: spec.namespace,
            qualifier: spec.qualifier,
            memory_mb: spec.memory_mb,
            identity: spec.identity,
            environment: spec.environment,
            init_timeout: spec.init_timeout,
            min_instances: tuning.instances,
            max_instances: spec.max_instances,
            idle_timeout: tuning.idle_timeout,
            concurrency: spec.concurrency,
            drain_limit: tuning.drain_limit,
            fixed_port: spec.port.is_some(),
        }
    }
}

/// One instance slot: a port, and while it is wanted (or draining) a process behind it.
struct Slot {
    port: u16,
    child: Option<Child>,
    started_at: Option<Instant>,
    /// Its port has accepted a connection since it started.
    ready: bool,
    /// Should have a process: the warm ones always, extras while the load needs them.
    wanted: bool,
    restart_at: Option<Instant>,
    /// The last lines its process wrote to stderr, for the log when it fails to start.
    stderr_tail: Option<StderrTail>,
    /// Consecutive starts that ended before the process had been up a while.
    failures: u32,
    /// Bumped at every start (published, so workers drop pooled connections to older processes).
    incarnation: u64,
    /// The code version its process was started with.
    code_version: u64,
    /// When it last had a request in flight (or became ready): idleness is measured from it.
    last_busy: Instant,
    /// Requests in flight on it, all workers together.
    load: usize,
    /// Taking no new requests; stopped once its requests are done.
    draining_since: Option<Instant>,
    /// Killed on purpose (drained): its exit is no crash.
    stopping: bool,
    /// Started with new code to take over from this slot (`--watch`), which drains once this is ready.
    replaces: Option<usize>,
    /// What the workers were last told.
    published: InstanceStatus,
    /// Its fixed port is still held by another process (logged once).
    waiting_for_port: bool,
    /// Nothing listened on [`TENCENT_PORT`] when its process started.
    tencent_port_free_at_start: bool,
    /// Its last process exited unasked: the next start is a restart (for metrics).
    replaces_crashed: bool,
}

impl Slot {
    fn new(port: u16, wanted: bool, now: Instant) -> Self {
        Slot {
            port,
            child: None,
            started_at: None,
            ready: false,
            wanted,
            restart_at: wanted.then_some(now),
            stderr_tail: None,
            failures: 0,
            incarnation: 0,
            code_version: 0,
            last_busy: now,
            load: 0,
            draining_since: None,
            stopping: false,
            replaces: None,
            published: InstanceStatus { state: InstanceState::Stopped, incarnation: 0 },
            replaces_crashed: false,
            waiting_for_port: false,
            tencent_port_free_at_start: false,
        }
    }

    fn state(&self) -> InstanceState {
        if self.draining_since.is_some() {
            InstanceState::Draining
        } else if self.ready && self.child.is_some() {
            InstanceState::Ready
        } else if self.wanted {
            InstanceState::Starting
        } else {
            InstanceState::Stopped
        }
    }

    /// Counts toward the function's instances: wanted and not on its way out.
    fn live(&self) -> bool {
        self.wanted && self.draining_since.is_none()
    }

    /// Neither wanted nor holding a process: free to start a new instance in.
    fn free(&self) -> bool {
        !self.wanted && self.child.is_none() && self.draining_since.is_none()
    }

    /// Stops taking requests; the process is stopped once they are done. `restart`: it starts
    /// again afterwards (on the current code), as when new code cannot start beside it.
    fn drain(&mut self, restart: bool, now: Instant) {
        self.wanted = restart;
        if self.child.is_some() {
            self.draining_since = Some(now);
        }
    }
}

/// Supervises the web functions `changes` brings (filled by the host thread at reloads) until
/// `stop` is set (the host then kills every registered process).
pub async fn supervise(changes: Rc<RefCell<Vec<Change>>>, processes: ProcessRegistry, stop: Arc<AtomicBool>) {
    let mut functions: Vec<WebFunction> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let pending = std::mem::take(&mut *changes.borrow_mut());
        for change in pending {
            apply(&mut functions, change);
        }
        for function in &mut functions {
            function.tick(&processes).await;
        }
        // Retired and every process reaped: gone (workers still holding its board see it stopped).
        functions.retain(|function| !(function.retired && function.slots.iter().all(|slot| slot.child.is_none())));
        monoio::time::sleep(TICK).await;
    }
    // Stopped: the host killed every process; reap them.
    for slot in functions.iter_mut().flat_map(|function| function.slots.iter_mut()) {
        if let Some(mut child) = slot.child.take() {
            let _ = child.wait();
        }
    }
}

/// Carries out one change of a reload.
fn apply(functions: &mut Vec<WebFunction>, change: Change) {
    match change {
        Change::StartWeb { unit, spec, tuning, ports, board, code_version, stats } => {
            let now = Instant::now();
            let slots: Vec<Slot> = ports
                .iter()
                .enumerate()
                .map(|(number, &port)| Slot::new(port, number < tuning.instances, now))
                .collect();
            let mut function = WebFunction {
                unit,
                spec: Spec::new(spec, &tuning),
                loads: vec![0; slots.len()],
                slots,
                board,
                code_version: code_version.load(Ordering::Acquire),
                code_counter: code_version,
                retired: false,
                failure: None,
                stats,
            };
            function.publish();
            functions.push(function);
        }
        Change::TuneWeb { unit, tuning } => {
            if let Some(function) = functions.iter_mut().find(|function| function.unit == unit) {
                function.spec.min_instances = tuning.instances;
                function.spec.idle_timeout = tuning.idle_timeout;
                function.spec.drain_limit = tuning.drain_limit;
                tracing::info!(function = %function.spec.label, "applied new settings to the running web function");
            }
        }
        Change::Retire { unit, .. } => {
            if let Some(function) = functions.iter_mut().find(|function| function.unit == unit) {
                function.retire(Instant::now());
            }
        }
        Change::StartCustom { .. } | Change::TuneCustom { .. } => {}
    }
}

impl WebFunction {
    /// A reload replaced or removed it: every instance takes no more requests and stops once its
    /// requests are done (`drain_limit` at the latest); none starts again.
    fn retire(&mut self, now: Instant) {
        self.retired = true;
        for slot in &mut self.slots {
            slot.replaces = None;
            slot.restart_at = None;
            slot.drain(false, now);
        }
        tracing::info!(function = %self.spec.label, unit = self.unit, "stopping a web function a reload replaced or removed");
    }

    async fn tick(&mut self, processes: &ProcessRegistry) {
        let now = Instant::now();
        let code_version = self.code_counter.load(Ordering::Acquire);
        if code_version != self.code_version && !self.retired {
            self.code_version = code_version;
            for slot in &mut self.slots {
                slot.failures = 0;
            }
            tracing::info!(function = %self.spec.label, code = %self.spec.code.display(), "reloaded function code: restarting its instances");
        }
        let waiting = self.board.sum_reports(&mut self.loads);
        for (slot, &load) in self.slots.iter_mut().zip(&self.loads) {
            slot.load = load;
            if load > 0 {
                slot.last_busy = now;
            }
        }
        for number in 0..self.slots.len() {
            self.supervise_slot(number, processes, now).await;
        }
        let rolling = !self.retired && self.roll_new_code(now);
        if !rolling && !self.retired {
            let demand = self.loads.iter().sum::<usize>() + waiting;
            self.scale(demand, now);
        }
        self.publish();
    }

    /// Tells the workers what changed: each slot's state and load, and whether the function is
    /// failing to start.
    fn publish(&mut self) {
        for (number, slot) in self.slots.iter_mut().enumerate() {
            let status = InstanceStatus { state: slot.state(), incarnation: slot.incarnation };
            if status != slot.published {
                self.board.set_status(number, status);
                slot.published = status;
            }
            self.board.set_load(number, slot.load);
        }
        let mut wanted = self.slots.iter().filter(|slot| slot.wanted).peekable();
        let failing = wanted.peek().is_some() && wanted.all(|slot| !slot.ready && slot.failures >= CRASH_LOOP_FAILURES);
        if !failing && self.slots.iter().any(|slot| slot.ready) {
            self.failure = None;
        }
        self.board.set_failing(failing, if failing { self.failure.as_deref() } else { None });
        let (mut starting, mut idle, mut busy) = (0, 0, 0);
        for slot in &self.slots {
            match slot.state() {
                InstanceState::Starting => starting += 1,
                InstanceState::Ready if slot.load > 0 => busy += 1,
                InstanceState::Ready => idle += 1,
                InstanceState::Draining | InstanceState::Stopped => {}
            }
        }
        self.stats.starting.set(starting);
        self.stats.idle.set(idle);
        self.stats.busy.set(busy);
    }

    async fn supervise_slot(&mut self, number: usize, processes: &ProcessRegistry, now: Instant) {
        let spec = &self.spec;
        let slot = &mut self.slots[number];
        if let Some(child) = slot.child.as_mut() {
            let pid = child.id() as i32;
            match child.try_wait() {
                Ok(Some(status)) => {
                    processes.remove(pid);
                    slot.child = None;
                    slot.ready = false;
                    slot.draining_since = None;
                    if std::mem::take(&mut slot.stopping) {
                        tracing::debug!(function = %spec.label, instance = number, port = slot.port, %status, "web function process stopped");
                        slot.restart_at = slot.wanted.then_some(now);
                        return;
                    }
                    slot.failures = process::failures_after_exit(slot.started_at, slot.failures, now);
                    let backoff = process::backoff(slot.failures);
                    slot.restart_at = slot.wanted.then_some(now + backoff);
                    let restart_in_ms = slot.wanted.then_some(backoff.as_millis() as u64);
                    self.stats.crashes.increment();
                    slot.replaces_crashed = true;
                    tracing::warn!(function = %spec.label, instance = number, port = slot.port, %status, restart_in_ms, "web function process exited");
                    return;
                }
                Ok(None) => {}
                Err(error) => tracing::error!(function = %spec.label, %error, "cannot check a web function process"),
            }
            if slot.stopping {
                return;
            }
            if let Some(since) = slot.draining_since {
                let done = now - since >= DRAIN_SETTLE && slot.load == 0;
                if done || now - since >= spec.drain_limit {
                    tracing::debug!(function = %spec.label, instance = number, pid, in_flight = slot.load, "stopping a drained web function process");
                    slot.stopping = true;
                    process::kill_group(pid);
                }
                return;
            }
            if slot.ready {
                return;
            }
            let address = instance_address(slot.port);
            let probe = monoio::time::timeout(PROBE_LIMIT, monoio::net::TcpStream::connect_addr(address)).await;
            if matches!(probe, Ok(Ok(_))) {
                slot.ready = true;
                slot.failures = 0;
                slot.last_busy = now;
                tracing::info!(function = %spec.label, instance = number, port = slot.port, pid, "web function ready");
                if let Some(old) = slot.replaces.take() {
                    // New code is serving: the instance it replaces takes no more requests.
                    self.slots[old].drain(false, now);
                }
            } else if slot.port != TENCENT_PORT
                && slot.tencent_port_free_at_start
                && slot.started_at.is_some_and(|started| now - started >= WRONG_PORT_GRACE)
                && !port_is_free(TENCENT_PORT)
            {
                // Tencent's contract is port 9000, and its templates listen there whatever `PORT`
                // says (`export PORT=9000`): say so at once rather than wait out init_timeout.
                let message = format!("web function {} listens on port {TENCENT_PORT} (SCF's port) instead of the PORT it was given ({}): set `port = {TENCENT_PORT}` in its [[function]] (it then runs one instance)", spec.label, slot.port);
                tracing::error!(function = %spec.label, instance = number, port = slot.port, "{message}");
                self.failure = Some(message);
                slot.failures = slot.failures.max(CRASH_LOOP_FAILURES);
                slot.started_at = None;
                process::kill_group(pid);
            } else if slot.started_at.is_some_and(|started| now - started > spec.init_timeout) {
                let stderr_tail = slot.stderr_tail.as_ref().map(StderrTail::text).unwrap_or_default();
                tracing::error!(function = %spec.label, instance = number, port = slot.port, init_timeout_s = spec.init_timeout.as_secs_f64(), %stderr_tail, "web function did not accept connections on its port within init_timeout; restarting it");
                // Once: the process is killed and reaped as a failed start.
                slot.started_at = None;
                process::kill_group(pid);
            }
            return;
        }
        if !slot.wanted || slot.restart_at.is_none_or(|at| now < at) {
            return;
        }
        if spec.fixed_port && !port_is_free(slot.port) {
            // The process this one replaces (a reload, new code) still holds the port: starting
            // now would only fail to bind. Requests wait for the instance meanwhile.
            if !slot.waiting_for_port {
                slot.waiting_for_port = true;
                tracing::info!(function = %spec.label, instance = number, port = slot.port, "waiting for the web function's port to be free before starting it");
            }
            return;
        }
        slot.waiting_for_port = false;
        slot.restart_at = None;
        // Web requests do not pass through the host, so output lines carry no request id.
        let output = Arc::new(OutputTags {
            function: spec.label.clone(),
            instance: number,
            running_request: RunningRequest::default(),
        });
        let started = command(spec, slot.port)
            .and_then(|command| process::spawn_command(command, spec.memory_mb, &output, processes));
        match started {
            Ok((child, stderr_tail)) => {
                tracing::info!(function = %spec.label, instance = number, pid = child.id(), port = slot.port, "started function process");
                slot.tencent_port_free_at_start = slot.port != TENCENT_PORT && port_is_free(TENCENT_PORT);
                slot.stderr_tail = Some(stderr_tail);
                slot.child = Some(child);
                slot.started_at = Some(now);
                slot.incarnation += 1;
                slot.code_version = self.code_version;
                self.stats.starts.increment();
                if std::mem::take(&mut slot.replaces_crashed) {
                    self.stats.restarts.increment();
                }
            }
            Err(error) => {
                slot.failures += 1;
                let backoff = process::backoff(slot.failures);
                tracing::error!(function = %spec.label, instance = number, %error, retry_in_ms = backoff.as_millis() as u64, "cannot start the web function's scf_bootstrap");
                slot.restart_at = Some(now + backoff);
                self.failure = Some(format!("web function {} cannot start: {error}", spec.label));
            }
        }
    }

    /// `--watch`: replaces instances running older code, one at a time. A ready one gets a
    /// replacement started in a free slot and drains once that is ready, so requests never lack
    /// an instance; with no free slot (a fixed `port`) it drains and restarts in place, and
    /// requests wait for it. One not ready yet is simply restarted. Returns whether a
    /// replacement is under way (scaling waits for it to finish).
    fn roll_new_code(&mut self, now: Instant) -> bool {
        let current = self.code_version;
        for slot in &mut self.slots {
            if slot.live() && !slot.ready && !slot.stopping && slot.replaces.is_none() && slot.code_version != current {
                if let Some(child) = &slot.child {
                    slot.stopping = true;
                    process::kill_group(child.id() as i32);
                }
            }
        }
        if self.slots.iter().any(|slot| slot.replaces.is_some()) {
            return true;
        }
        let outdated = self.slots.iter().position(|slot| slot.live() && slot.ready && slot.code_version != current);
        let Some(outdated) = outdated else { return false };
        match self.slots.iter().position(Slot::free) {
            Some(free) => {
                let replacement = &mut self.slots[free];
                replacement.wanted = true;
                replacement.restart_at = Some(now);
                replacement.failures = 0;
                replacement.replaces = Some(outdated);
                true
            }
            None => {
                self.slots[outdated].drain(true, now);
                false
            }
        }
    }

    /// Starts instances while the requests in flight (and waiting) exceed `concurrency` per
    /// instance, up to `max_instances`; drains extras idle longer than `idle_timeout`, the
    /// newest first, down to what the load needs. The `instances` longest running are the warm
    /// ones, never stopped for idleness.
    fn scale(&mut self, demand: usize, now: Instant) {
        let spec = &self.spec;
        let needed = demand.div_ceil(spec.concurrency).clamp(spec.min_instances, spec.max_instances);
        let live = self.slots.iter().filter(|slot| slot.live()).count();
        if needed > live {
            let mut added = 0;
            for slot in self.slots.iter_mut().filter(|slot| slot.free()).take(needed - live) {
                slot.wanted = true;
                slot.restart_at = Some(now);
                slot.failures = 0;
                added += 1;
            }
            if added > 0 {
                tracing::info!(function = %spec.label, instances = live + added, in_flight = demand, concurrency = spec.concurrency, "scaled up: requests in flight exceed concurrency on every instance");
            }
            return;
        }
        let keep = needed.max(spec.min_instances);
        if live <= keep {
            return;
        }
        // The warm instances are the `instances` longest running: never stopped for idleness.
        let mut extras: Vec<usize> = (0..self.slots.len()).filter(|&number| self.slots[number].live()).collect();
        extras.sort_by_key(|&number| (self.slots[number].started_at.is_none(), self.slots[number].started_at));
        extras.drain(..spec.min_instances.min(extras.len()));
        let mut running = live;
        let mut stopped = 0;
        // The newest first.
        for &number in extras.iter().rev() {
            let slot = &mut self.slots[number];
            if running <= keep {
                break;
            }
            if slot.ready && slot.load == 0 && now.saturating_duration_since(slot.last_busy) > spec.idle_timeout {
                slot.drain(false, now);
                running -= 1;
                stopped += 1;
            }
        }
        if stopped > 0 {
            tracing::info!(function = %spec.label, instances = running, stopped, idle_timeout_s = spec.idle_timeout.as_secs_f64(), "scaled down: stopped idle instances");
        }
    }
}

/// `scf_bootstrap` with the environment SCF gives a web function (`process::function_command`)
/// and the port to listen on (`PORT`; Tencent's own servers listen on 9000 without being told,
/// hence `port = 9000` for them).
fn command(function: &Spec, port: u16) -> io::Result<Command> {
    let environment = FunctionEnvironment {
        name: &function.name,
        namespace: &function.namespace,
        qualifier: &function.qualifier,
        memory_mb: function.memory_mb,
        identity: &function.identity,
        environment: &function.environment,
    };
    // Tencent's templates call interpreters by their paths in SCF's image: mapped to this machine's.
    let bootstrap = super::var_lang::bootstrap(&function.code)?;
    let mut command = process::function_command(&bootstrap, &function.code, &environment);
    command.env("PORT", port.to_string());
    Ok(command)
}
