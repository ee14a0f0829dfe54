//! One custom-runtime function as the host thread runs it (a unit, `super::units`): its queue
//! and its instances; per instance its process, the parked `/next` long-poll and the invocation
//! it holds. Single-threaded (`Rc`/`RefCell`).
//!
//! The host's supervisor (a 20 ms tick, `super::host`) owns each instance's life: it starts the
//! `instances` warm processes and restarts crashed ones with backoff; `dispatch` marks more
//! instances wanted, up to `max_instances`, while invocations wait and every instance is busy;
//! instances beyond `instances` idle longer than `idle_timeout` are stopped; a code change
//! (`--watch`) restarts each instance once it holds no invocation; a unit retired by a reload
//! stops its processes once its last invocations are done.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::TcpListener as StdListener;
use std::process::{Child, ExitStatus};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use super::output::{OutputTags, RunningRequest, StderrTail};
use super::process;
use super::units::{CustomSpec, CustomTuning};

/// Consecutive failed starts after which a function's waiting requests fail fast with 502.
const CRASH_LOOP_FAILURES: u32 = 3;
/// A retired unit whose instances hold no invocation stops this long after it was retired:
/// workers still serving the configuration before the reload may send it one more meanwhile.
const RETIRE_SETTLE: Duration = Duration::from_millis(500);

/// The end of one invocation.
pub enum Outcome {
    /// `/runtime/invocation/response`: the function's value.
    Response(Vec<u8>),
    /// `/runtime/invocation/error`: the error text.
    Error(Vec<u8>),
    /// The process died holding the invocation.
    Crashed(String),
    /// The invocation ran past its time limit; the process was killed.
    TimedOut,
    /// No room in the queue.
    Busy,
}

/// An invocation waiting for, or held by, an instance.
pub struct Invocation {
    pub request_id: String,
    pub event: Rc<[u8]>,
    pub time_limit_ms: u64,
    /// When the worker that sent it gives up (it answers 504 itself at that moment).
    pub expires_at: Instant,
    /// When it reached the host (its wait for an instance is measured from it).
    pub queued_at: Instant,
    pub reply: Option<oneshot::Sender<Outcome>>,
}

impl Invocation {
    /// An invocation nobody waits for any more: never worth starting.
    fn abandoned(&self, now: Instant) -> bool {
        now >= self.expires_at || self.reply.as_ref().is_none_or(|reply| reply.is_canceled())
    }

    pub fn finish(&mut self, outcome: Outcome) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(outcome);
        }
    }
}

pub struct Running {
    pub invocation: Invocation,
    pub(super) deadline: Instant,
}

/// One instance: a runtime-API port and, while it is wanted, a process behind it.
///
/// INVARIANT: `current` is `Some` only while `running_request` holds its request id; both change
/// together in [`InstanceState::begin`] and [`InstanceState::end`].
#[derive(Default)]
pub struct InstanceState {
    pub(super) child: Option<Child>,
    pub(super) started_at: Option<Instant>,
    /// Asked for work at least once since it started (`/next` or `/init/ready`).
    pub ready: bool,
    /// A parked `/next`: send to wake it when work is assigned.
    pub waiter: Option<oneshot::Sender<()>>,
    pub(super) current: Option<Running>,
    pub(super) restart_at: Option<Instant>,
    pub(super) failures: u32,
    /// Should have a process: the `instances` warm ones always, extras while there is work.
    pub(super) wanted: bool,
    /// Killed on purpose (scaled down, or restarted for new code): its exit is no crash.
    pub(super) stopping: bool,
    /// Its code changed (`--watch`): restart it as soon as it holds no invocation.
    pub(super) restart_when_idle: bool,
    /// When it last started, finished an invocation or was started: idleness is measured from it.
    pub(super) last_active: Option<Instant>,
    /// The request id the output pumps tag this instance's lines with.
    pub(super) running_request: RunningRequest,
    /// The last lines of the current process's stderr.
    pub(super) stderr_tail: StderrTail,
    /// An unplanned exit not logged yet: it waits for the process's last stderr lines.
    pub(super) exit_report: Option<ExitReport>,
    /// Its last process exited unasked: the next start is a restart (for metrics).
    pub(super) replaces_crashed: bool,
}

/// An unplanned exit, logged with the process's last stderr lines once they have been read
/// (the client that lost its request was answered at once; only the log line waits).
pub(super) struct ExitReport {
    pub(super) status: ExitStatus,
    /// The request the process held when it died.
    pub(super) request_id: Option<String>,
    pub(super) restart_in: Option<Duration>,
    pub(super) stderr_tail: StderrTail,
    pub(super) at: Instant,
}

impl ExitReport {
    pub(super) fn log(self, slot: &FunctionSlot, instance: usize) {
        let ExitReport { status, request_id, restart_in, stderr_tail, .. } = self;
        let stderr_tail = stderr_tail.text();
        let restart_in_ms = restart_in.map(|backoff| backoff.as_millis() as u64);
        match request_id {
            Some(request_id) => {
                tracing::warn!(function = %slot.label, instance, %status, %request_id, restart_in_ms, ?stderr_tail, "function process exited while handling a request")
            }
            None => {
                tracing::warn!(function = %slot.label, instance, %status, restart_in_ms, ?stderr_tail, "function process exited")
            }
        }
    }
}

impl InstanceState {
    /// The process asked for work: it started fine, so earlier failed starts no longer count.
    pub fn mark_ready(&mut self) {
        if !self.ready {
            self.last_active = Some(Instant::now());
        }
        self.ready = true;
        self.failures = 0;
    }

    /// Whether new work may be assigned here: a process that is wanted and not being stopped.
    pub(super) fn accepts_work(&self) -> bool {
        self.wanted && !self.stopping && !self.restart_when_idle && self.child.is_some()
    }

    /// Parked in `/next` with nothing to do.
    fn idle(&self) -> bool {
        self.accepts_work() && self.current.is_none() && self.waiter.is_some()
    }

    fn begin(&mut self, invocation: Invocation) {
        self.running_request.set(&invocation.request_id);
        self.last_active = Some(Instant::now());
        self.current = Some(Running { deadline: deadline_for(&invocation), invocation });
    }

    /// The invocation this instance held, if any; it holds none afterwards.
    pub fn end(&mut self) -> Option<Running> {
        let running = self.current.take()?;
        self.running_request.clear();
        self.last_active = Some(Instant::now());
        Some(running)
    }

    /// The invocation in progress, for a repeated `/next`.
    pub fn current(&self) -> Option<&Running> {
        self.current.as_ref()
    }

    /// Kills the process on purpose (its parked `/next` is dropped, so it gets no more work);
    /// it is restarted once reaped if it is still `wanted`.
    pub(super) fn stop_process(&mut self) {
        self.waiter = None;
        match &self.child {
            Some(child) => {
                self.stopping = true;
                process::kill_group(child.id() as i32);
            }
            None => self.restart_at = self.wanted.then(Instant::now),
        }
    }
}

pub struct Instance {
    pub number: usize,
    pub port: u16,
    /// How the process's output is tagged (shares `running_request` with the state).
    pub(super) output: Arc<OutputTags>,
    pub state: RefCell<InstanceState>,
}

/// When a reload retired a unit, and how long its last invocations may take.
#[derive(Debug, Clone, Copy)]
struct Retirement {
    since: Instant,
    grace: Duration,
    /// Its processes have been told to stop.
    stopping: bool,
}

pub struct FunctionSlot {
    /// Its number (`super::units`): the invoke path is `/invoke/{unit}`.
    pub unit: u64,
    pub label: String,
    /// What its processes are started with.
    pub(super) spec: CustomSpec,
    pub memory_mb: u32,
    /// The settings that apply to running processes (a reload may change them).
    tuning: RefCell<CustomTuning>,
    pub queue: RefCell<VecDeque<Invocation>>,
    /// `max_instances` of them, each with its own port; those beyond the wanted ones have no process.
    pub instances: Vec<Rc<Instance>>,
    /// Bumped by `--watch` when the code changed, and the last bump acted on.
    code_version: Arc<AtomicU64>,
    code_seen: Cell<u64>,
    retirement: Cell<Option<Retirement>>,
    /// Dropped when the unit is gone: ends its runtime-API accept loops (and their listeners).
    listener_stops: RefCell<Vec<oneshot::Sender<()>>>,
    /// Its instances ready to take an event, for `crate::readiness` ([`publish_ready`](Self::publish_ready)).
    ready: Arc<AtomicUsize>,
    /// Its metrics; the host thread is their only writer.
    pub stats: Arc<crate::metrics::functions::FunctionStats>,
}

impl FunctionSlot {
    /// A unit for a custom-runtime function, one instance per runtime-API listener; returns it
    /// with the listeners, each paired with the receiver that ends its accept loop.
    pub fn new(
        unit: u64,
        spec: CustomSpec,
        tuning: CustomTuning,
        listeners: Vec<StdListener>,
        code_version: Arc<AtomicU64>,
        ready: Arc<AtomicUsize>,
        stats: Arc<crate::metrics::functions::FunctionStats>,
    ) -> (Rc<FunctionSlot>, Vec<(StdListener, oneshot::Receiver<()>)>) {
        let label = spec.label.clone();
        let mut stops = Vec::with_capacity(listeners.len());
        let mut served = Vec::with_capacity(listeners.len());
        let instances = listeners
            .into_iter()
            .enumerate()
            .map(|(number, socket)| {
                let running_request = RunningRequest::default();
                let warm = number < tuning.instances;
                let port = socket.local_addr().map(|address| address.port()).unwrap_or(0);
                let (stop, stopped) = oneshot::channel();
                stops.push(stop);
                served.push((socket, stopped));
                Rc::new(Instance {
                    number,
                    port,
                    output: Arc::new(OutputTags {
                        function: label.clone(),
                        instance: number,
                        running_request: running_request.clone(),
                    }),
                    state: RefCell::new(InstanceState {
                        wanted: warm,
                        restart_at: warm.then(Instant::now),
                        running_request,
                        ..Default::default()
                    }),
                })
            })
            .collect();
        let code_seen = Cell::new(code_version.load(Ordering::Acquire));
        let slot = Rc::new(FunctionSlot {
            unit,
            label: label.to_string(),
            memory_mb: spec.memory_mb,
            spec,
            tuning: RefCell::new(tuning),
            queue: RefCell::new(VecDeque::new()),
            instances,
            code_version,
            code_seen,
            retirement: Cell::new(None),
            listener_stops: RefCell::new(stops),
            ready,
            stats,
        });
        (slot, served)
    }

    /// New settings from a reload: the warm instances it now wants start; extras beyond them
    /// fall to idleness as usual.
    pub fn retune(&self, tuning: CustomTuning) {
        let warm = tuning.instances.min(self.instances.len());
        *self.tuning.borrow_mut() = tuning;
        let now = Instant::now();
        for instance in &self.instances[..warm] {
            let mut state = instance.state.borrow_mut();
            if !state.wanted {
                state.wanted = true;
                state.restart_at = state.restart_at.or(Some(now));
            }
        }
        tracing::info!(function = %self.label, "applied new settings to the running function");
    }

    /// A reload replaced or removed the function: it stops once its last invocations are done,
    /// after `grace` at the latest.
    pub fn retire(&self, grace: Duration) {
        self.retirement.set(Some(Retirement { since: Instant::now(), grace, stopping: false }));
    }

    /// Whether `--watch` saw its code change since the last call.
    pub(super) fn code_changed(&self) -> bool {
        let version = self.code_version.load(Ordering::Acquire);
        version != self.code_seen.replace(version)
    }

    /// Retired: stops its processes once its last invocations are done (or its grace is over),
    /// failing what is still queued. Returns whether the unit is gone: stopped, every process
    /// reaped.
    pub(super) fn retire_step(&self, now: Instant) -> bool {
        let Some(mut retirement) = self.retirement.get() else { return false };
        if !retirement.stopping {
            let busy = !self.queue.borrow().is_empty()
                || self.instances.iter().any(|instance| instance.state.borrow().current.is_some());
            let elapsed = now.saturating_duration_since(retirement.since);
            if (busy || elapsed < RETIRE_SETTLE) && elapsed < retirement.grace {
                return false;
            }
            retirement.stopping = true;
            self.retirement.set(Some(retirement));
            self.fail_queue(&format!("function {} was replaced or removed by a reload", self.label));
            for instance in &self.instances {
                let mut state = instance.state.borrow_mut();
                state.wanted = false;
                state.restart_at = None;
                state.stop_process();
            }
            tracing::info!(function = %self.label, unit = self.unit, "stopping a function a reload replaced or removed");
        }
        let gone = self.instances.iter().all(|instance| instance.state.borrow().child.is_none());
        if gone {
            self.listener_stops.borrow_mut().clear();
        }
        gone
    }

    /// Counts its instances that asked for work and still run, for whoever waits for the
    /// function to be ready (systemd's READY, a binary upgrade): once per supervisor tick.
    /// Its instances by state and its queue go to its metrics at the same time.
    pub(super) fn publish_ready(&self) {
        let (mut starting, mut idle, mut busy) = (0, 0, 0);
        for instance in &self.instances {
            let state = instance.state.borrow();
            match (state.child.is_some(), state.ready, state.current.is_some()) {
                (false, ..) => {}
                (true, _, true) => busy += 1,
                (true, true, false) => idle += 1,
                (true, false, false) => starting += 1,
            }
        }
        self.ready.store(idle + busy, Ordering::Release);
        self.stats.starting.set(starting as u64);
        self.stats.idle.set(idle as u64);
        self.stats.busy.set(busy as u64);
        self.stats.queue_depth.set(self.queue.borrow().len() as u64);
    }

    /// Whether a reload retired it.
    pub fn retired(&self) -> bool {
        self.retirement.get().is_some()
    }

    pub(super) fn init_timeout(&self) -> Duration {
        self.tuning.borrow().init_timeout
    }

    /// Queues an invocation (or refuses it when the queue is full) and hands out work.
    pub fn submit(&self, mut invocation: Invocation) {
        if self.crash_looping() {
            invocation.finish(Outcome::Crashed(self.crash_loop_message()));
            return;
        }
        if self.queue.borrow().len() >= self.tuning.borrow().queue_depth {
            invocation.finish(Outcome::Busy);
            return;
        }
        self.queue.borrow_mut().push_back(invocation);
        self.dispatch();
    }

    /// Every wanted instance keeps dying before it takes work: waiting for one would only end
    /// in a 504.
    fn crash_looping(&self) -> bool {
        let mut wanted =
            self.instances.iter().map(|instance| instance.state.borrow()).filter(|state| state.wanted).peekable();
        wanted.peek().is_some() && wanted.all(|state| !state.ready && state.failures >= CRASH_LOOP_FAILURES)
    }

    fn crash_loop_message(&self) -> String {
        format!(
            "function {} is not running: its bootstrap keeps exiting or failing to start (see the gateway log)",
            self.label
        )
    }

    /// Fails every queued invocation with `message`.
    fn fail_queue(&self, message: &str) {
        let waiting: Vec<Invocation> = self.queue.borrow_mut().drain(..).collect();
        for mut invocation in waiting {
            invocation.finish(Outcome::Crashed(message.to_owned()));
        }
    }

    /// Fails every queued invocation when the function is crash-looping.
    pub(super) fn fail_queue_if_crash_looping(&self) {
        if self.crash_looping() {
            self.fail_queue(&self.crash_loop_message());
        }
    }

    /// An instance did not get ready within `init_timeout`: when no instance is ready to take
    /// the queued invocations, they get a 502 now rather than a 504 later.
    pub(super) fn fail_queue_after_init_timeout(&self) {
        let any_ready = self.instances.iter().any(|instance| {
            let state = instance.state.borrow();
            state.ready && state.accepts_work()
        });
        if !any_ready {
            self.fail_queue(&format!(
                "function {} did not become ready within its init_timeout ({} s); see the gateway log",
                self.label,
                self.init_timeout().as_secs_f64()
            ));
        }
    }

    /// Gives queued invocations to instances parked in `/next`, then starts more instances if
    /// invocations are still waiting.
    pub fn dispatch(&self) {
        for instance in &self.instances {
            let mut state = instance.state.borrow_mut();
            if !state.idle() {
                continue;
            }
            let Some(invocation) = self.next_live_invocation() else { return };
            state.begin(invocation);
            if let Some(waiter) = state.waiter.take() {
                let _ = waiter.send(());
            }
        }
        self.scale_up();
    }

    /// Invocations wait and every instance is busy: mark more instances wanted (the supervisor
    /// starts them on its next tick), one per waiting invocation that no starting instance will
    /// take, up to `max_instances`.
    fn scale_up(&self) {
        let waiting = self.queue.borrow().len();
        if waiting == 0 || self.crash_looping() || self.retired() {
            return;
        }
        // Instances on their way (starting, or restarting after a crash) will take work soon.
        let (mut wanted, mut coming) = (0, 0);
        for instance in &self.instances {
            let state = instance.state.borrow();
            if state.wanted {
                wanted += 1;
                coming += usize::from(!state.ready);
            }
        }
        let mut needed = waiting.saturating_sub(coming);
        let mut added = 0;
        let now = Instant::now();
        for instance in &self.instances {
            if needed == 0 {
                break;
            }
            let mut state = instance.state.borrow_mut();
            if state.wanted {
                continue;
            }
            state.wanted = true;
            // One still being stopped restarts as soon as it is reaped.
            if !state.stopping {
                state.restart_at = Some(now);
            }
            state.failures = 0;
            needed -= 1;
            added += 1;
        }
        if added > 0 {
            tracing::info!(function = %self.label, instances = wanted + added, waiting, "scaled up: invocations are waiting and every instance is busy");
        }
    }

    /// Stops extra instances (those numbered from `instances` on) that have been idle longer than
    /// `idle_timeout`. The warm ones are never stopped for idleness, and dispatch fills the
    /// lowest-numbered instances first, so the extras are the first to fall idle.
    pub(super) fn scale_down(&self, now: Instant) {
        let (warm, idle_timeout) = {
            let tuning = self.tuning.borrow();
            (tuning.instances, tuning.idle_timeout)
        };
        let mut stopped = 0;
        for instance in &self.instances[warm.min(self.instances.len())..] {
            let mut state = instance.state.borrow_mut();
            let idle_for = state.last_active.map(|at| now.saturating_duration_since(at)).unwrap_or_default();
            if state.idle() && idle_for > idle_timeout {
                state.wanted = false;
                state.stop_process();
                stopped += 1;
            }
        }
        if stopped > 0 {
            let running = self.instances.iter().filter(|instance| instance.state.borrow().wanted).count();
            tracing::info!(function = %self.label, instances = running, stopped, idle_timeout_s = idle_timeout.as_secs_f64(), "scaled down: stopped idle instances");
        }
    }

    /// Its code changed: every instance restarts on the new code, a busy one once its current
    /// invocation is done. Earlier failed starts are forgiven (the new code may fix them).
    pub(super) fn restart_for_new_code(&self) {
        for instance in &self.instances {
            let mut state = instance.state.borrow_mut();
            state.failures = 0;
            if state.wanted {
                state.restart_when_idle = true;
            }
        }
        tracing::info!(function = %self.label, code = %self.spec.code.display(), "reloaded function code: restarting its instances");
    }

    /// The next queued invocation whose client is still waiting.
    pub fn next_live_invocation(&self) -> Option<Invocation> {
        let now = Instant::now();
        let mut queue = self.queue.borrow_mut();
        while let Some(mut invocation) = queue.pop_front() {
            if !invocation.abandoned(now) {
                self.stats.queue_wait.observe(now.saturating_duration_since(invocation.queued_at));
                return Some(invocation);
            }
            invocation.finish(Outcome::TimedOut);
        }
        None
    }

    /// Assigns the next queued invocation to `instance` if it is idle; used by `/next`. An
    /// instance being stopped gets nothing and stays parked until it is killed.
    pub fn assign_to(&self, state: &mut InstanceState) -> bool {
        if state.current.is_some() {
            return true;
        }
        if !state.accepts_work() {
            return false;
        }
        match self.next_live_invocation() {
            Some(invocation) => {
                state.begin(invocation);
                true
            }
            None => false,
        }
    }
}

pub(super) fn deadline_for(invocation: &Invocation) -> Instant {
    // A little grace past the API's timeout: the worker answers 504 itself; this only frees the instance.
    invocation.expires_at + Duration::from_millis(200)
}
