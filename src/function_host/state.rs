//! The host thread's state: per function a queue and its instances; per instance its process, the
//! parked `/next` long-poll and the invocation it holds. Single-threaded (`Rc`/`RefCell`).
//!
//! The supervisor (a 20 ms tick) owns each instance's life: it starts the `instances` warm
//! processes and restarts crashed ones with backoff; `dispatch` marks more instances wanted, up
//! to `max_instances`, while invocations wait and every instance is busy; instances beyond
//! `instances` idle longer than `idle_timeout` are stopped; a code change (`--watch`) restarts
//! each instance once it holds no invocation.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use monoio::io::AsyncWriteRentExt;
use monoio::net::{TcpListener, TcpStream};

use super::output::{OutputTags, RunningRequest, StderrTail};
use super::process::{self, FunctionEnvironment, Launch, ProcessRegistry};
use crate::config::{Config, FunctionRuntime, TencentIdentity};
use crate::http::reader::RequestReader;
use crate::http::{response, RequestHead};

/// How often the supervisor looks at processes, deadlines and restarts.
const SUPERVISOR_TICK: Duration = Duration::from_millis(20);
/// Consecutive failed starts after which a function's waiting requests fail fast with 502.
const CRASH_LOOP_FAILURES: u32 = 3;
/// How long an exit's log line waits for the rest of the process's stderr (a process it started
/// may keep the pipe open).
const EXIT_REPORT_WAIT: Duration = Duration::from_secs(1);

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
    deadline: Instant,
}

/// One instance: a runtime-API port and, while it is wanted, a process behind it.
///
/// INVARIANT: `current` is `Some` only while `running_request` holds its request id; both change
/// together in [`InstanceState::begin`] and [`InstanceState::end`].
#[derive(Default)]
pub struct InstanceState {
    child: Option<Child>,
    started_at: Option<Instant>,
    /// Asked for work at least once since it started (`/next` or `/init/ready`).
    pub ready: bool,
    /// A parked `/next`: send to wake it when work is assigned.
    pub waiter: Option<oneshot::Sender<()>>,
    current: Option<Running>,
    restart_at: Option<Instant>,
    failures: u32,
    /// Should have a process: the `instances` warm ones always, extras while there is work.
    wanted: bool,
    /// Killed on purpose (scaled down, or restarted for new code): its exit is no crash.
    stopping: bool,
    /// Its code changed (`--watch`): restart it as soon as it holds no invocation.
    restart_when_idle: bool,
    /// When it last started, finished an invocation or was started: idleness is measured from it.
    last_active: Option<Instant>,
    /// The request id the output pumps tag this instance's lines with.
    running_request: RunningRequest,
    /// The last lines of the current process's stderr.
    stderr_tail: StderrTail,
    /// An unplanned exit not logged yet: it waits for the process's last stderr lines.
    exit_report: Option<ExitReport>,
}

/// An unplanned exit, logged with the process's last stderr lines once they have been read
/// (the client that lost its request was answered at once; only the log line waits).
struct ExitReport {
    status: ExitStatus,
    /// The request the process held when it died.
    request_id: Option<String>,
    restart_in: Option<Duration>,
    stderr_tail: StderrTail,
    at: Instant,
}

impl ExitReport {
    fn log(self, slot: &FunctionSlot, instance: usize) {
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
    fn accepts_work(&self) -> bool {
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
    fn stop_process(&mut self) {
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
    output: Arc<OutputTags>,
    pub state: RefCell<InstanceState>,
}

pub struct FunctionSlot {
    pub label: String,
    code: PathBuf,
    handler: String,
    name: String,
    namespace: String,
    qualifier: String,
    pub memory_mb: u32,
    /// The function's `environment` table.
    environment: Vec<(String, String)>,
    init_timeout: Duration,
    /// `instances`: the warm ones, numbered `0..min_instances`, never stopped for idleness.
    min_instances: usize,
    idle_timeout: Duration,
    queue_depth: usize,
    pub queue: RefCell<VecDeque<Invocation>>,
    /// `max_instances` of them, each with its own port; those beyond the wanted ones have no process.
    pub instances: Vec<Rc<Instance>>,
    /// The last code change (`--watch`) this slot has acted on.
    code_version: Cell<u64>,
}

impl FunctionSlot {
    /// Queues an invocation (or refuses it when the queue is full) and hands out work.
    pub fn submit(&self, mut invocation: Invocation) {
        if self.crash_looping() {
            invocation.finish(Outcome::Crashed(self.crash_loop_message()));
            return;
        }
        if self.queue.borrow().len() >= self.queue_depth {
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
    fn fail_queue_if_crash_looping(&self) {
        if self.crash_looping() {
            self.fail_queue(&self.crash_loop_message());
        }
    }

    /// An instance did not get ready within `init_timeout`: when no instance is ready to take
    /// the queued invocations, they get a 502 now rather than a 504 later.
    fn fail_queue_after_init_timeout(&self) {
        let any_ready = self.instances.iter().any(|instance| {
            let state = instance.state.borrow();
            state.ready && state.accepts_work()
        });
        if !any_ready {
            self.fail_queue(&format!(
                "function {} did not become ready within its init_timeout ({} s); see the gateway log",
                self.label,
                self.init_timeout.as_secs_f64()
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
        if waiting == 0 || self.crash_looping() {
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
    fn scale_down(&self, now: Instant) {
        let mut stopped = 0;
        for instance in &self.instances[self.min_instances.min(self.instances.len())..] {
            let mut state = instance.state.borrow_mut();
            let idle_for = state.last_active.map(|at| now.saturating_duration_since(at)).unwrap_or_default();
            if state.idle() && idle_for > self.idle_timeout {
                state.wanted = false;
                state.stop_process();
                stopped += 1;
            }
        }
        if stopped > 0 {
            let running = self.instances.iter().filter(|instance| instance.state.borrow().wanted).count();
            tracing::info!(function = %self.label, instances = running, stopped, idle_timeout_s = self.idle_timeout.as_secs_f64(), "scaled down: stopped idle instances");
        }
    }

    /// Its code changed: every instance restarts on the new code, a busy one once its current
    /// invocation is done. Earlier failed starts are forgiven (the new code may fix them).
    fn restart_for_new_code(&self) {
        for instance in &self.instances {
            let mut state = instance.state.borrow_mut();
            state.failures = 0;
            if state.wanted {
                state.restart_when_idle = true;
            }
        }
        tracing::info!(function = %self.label, code = %self.code.display(), "reloaded function code: restarting its instances");
    }

    /// The next queued invocation whose client is still waiting.
    pub fn next_live_invocation(&self) -> Option<Invocation> {
        let now = Instant::now();
        let mut queue = self.queue.borrow_mut();
        while let Some(mut invocation) = queue.pop_front() {
            if !invocation.abandoned(now) {
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

fn deadline_for(invocation: &Invocation) -> Instant {
    // A little grace past the API's timeout: the worker answers 504 itself; this only frees the instance.
    invocation.expires_at + Duration::from_millis(200)
}

/// Everything the host thread owns.
pub struct Host {
    /// By function id; `None` for functions that do not run locally.
    pub functions: Vec<Option<Rc<FunctionSlot>>>,
    listeners: RefCell<Vec<Vec<StdListener>>>,
    processes: ProcessRegistry,
    /// Per function id, bumped by the `--watch` thread when the code folder changed.
    code_changes: Arc<[AtomicU64]>,
    /// The account and region every process is told about (`TENCENTCLOUD_*`).
    identity: TencentIdentity,
}

impl Host {
    pub fn new(
        config: &Config,
        listeners: Vec<Vec<StdListener>>,
        processes: ProcessRegistry,
        code_changes: Arc<[AtomicU64]>,
    ) -> Self {
        let functions = config
            .functions
            .iter()
            .zip(&listeners)
            .map(|(function, sockets)| match &function.runtime {
                FunctionRuntime::Custom {
                    code, handler, init_timeout, instances, idle_timeout, environment, ..
                } => {
                    let label: Arc<str> = function.display_name().into();
                    Some(Rc::new(FunctionSlot {
                        label: label.to_string(),
                        code: code.clone(),
                        handler: handler.clone(),
                        name: function.name.clone(),
                        namespace: function.namespace.clone(),
                        qualifier: function.qualifier.clone(),
                        memory_mb: function.memory_mb,
                        environment: environment.clone(),
                        init_timeout: *init_timeout,
                        min_instances: *instances,
                        idle_timeout: *idle_timeout,
                        queue_depth: config.gateway.queue_depth,
                        queue: RefCell::new(VecDeque::new()),
                        instances: sockets
                            .iter()
                            .enumerate()
                            .map(|(number, socket)| {
                                let running_request = RunningRequest::default();
                                let warm = number < *instances;
                                Rc::new(Instance {
                                    number,
                                    port: socket.local_addr().map(|address| address.port()).unwrap_or(0),
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
                            .collect(),
                        code_version: Cell::new(0),
                    }))
                }
                FunctionRuntime::Remote { .. } | FunctionRuntime::Web { .. } | FunctionRuntime::TencentCloud(_) => None,
            })
            .collect();
        Host {
            functions,
            listeners: RefCell::new(listeners),
            processes,
            code_changes,
            identity: config.gateway.identity.clone(),
        }
    }

    /// Serves the runtime APIs and the invoke endpoint, and supervises processes, forever.
    pub async fn run(
        self: Rc<Self>,
        invoke_listener: StdListener,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        let listeners = std::mem::take(&mut *self.listeners.borrow_mut());
        for (slot, sockets) in self.functions.iter().zip(listeners) {
            let Some(slot) = slot else { continue };
            for (instance, socket) in slot.instances.iter().zip(sockets) {
                match TcpListener::from_std(socket) {
                    Ok(listener) => {
                        monoio::spawn(super::runtime_api::serve_instance(listener, slot.clone(), instance.clone()));
                    }
                    Err(error) => tracing::error!(function = %slot.label, %error, "cannot serve the runtime API"),
                }
            }
        }
        match TcpListener::from_std(invoke_listener) {
            Ok(listener) => {
                monoio::spawn(serve_invocations(listener, self.clone()));
            }
            Err(error) => tracing::error!(%error, "cannot serve the invoke endpoint"),
        }
        let mut ticks: u32 = 0;
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            self.supervise();
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(25) {
                // Events of large bodies passed through here: their pages go back to the system
                // when the host falls idle, as the workers' do (`crate::memory`).
                crate::memory::return_freed_memory();
            }
            monoio::time::sleep(SUPERVISOR_TICK).await;
        }
        // Stopped: no restarts from here; whatever is still running is killed.
        self.processes.kill_all();
    }

    /// Reaps exited processes, enforces time limits and init timeouts, scales, and (re)starts
    /// processes.
    fn supervise(&self) {
        let now = Instant::now();
        for (id, slot) in self.functions.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let code_version = self.code_changes.get(id).map_or(0, |changes| changes.load(Ordering::Acquire));
            if code_version != slot.code_version.get() {
                slot.code_version.set(code_version);
                slot.restart_for_new_code();
            }
            let mut init_timed_out = false;
            for instance in &slot.instances {
                let mut state = instance.state.borrow_mut();
                init_timed_out |= self.supervise_instance(slot, instance, &mut state, now);
            }
            if init_timed_out {
                slot.fail_queue_after_init_timeout();
            }
            slot.fail_queue_if_crash_looping();
            slot.dispatch();
            slot.scale_down(now);
        }
    }

    /// Looks after one instance; true when its process was just found past its init timeout.
    fn supervise_instance(
        &self,
        slot: &FunctionSlot,
        instance: &Instance,
        state: &mut InstanceState,
        now: Instant,
    ) -> bool {
        let report_due = state
            .exit_report
            .as_ref()
            .is_some_and(|report| report.stderr_tail.closed() || now - report.at >= EXIT_REPORT_WAIT);
        if report_due {
            if let Some(report) = state.exit_report.take() {
                report.log(slot, instance.number);
            }
        }
        if let Some(child) = state.child.as_mut() {
            let pid = child.id() as i32;
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped(slot, instance, state, status, now);
                    return false;
                }
                Ok(None) => {}
                Err(error) => tracing::error!(function = %slot.label, %error, "cannot check a function process"),
            }
            if state.stopping {
                return false;
            }
            if let Some(running) = state.current.as_mut() {
                if now >= running.deadline {
                    tracing::warn!(function = %slot.label, instance = instance.number, request_id = %running.invocation.request_id, "function ran past its time limit; stopping the process");
                    running.invocation.finish(Outcome::TimedOut);
                    state.end();
                    process::kill_group(pid);
                    return false;
                }
            }
            if state.restart_when_idle && state.current.is_none() {
                state.stop_process();
                return false;
            }
            if !state.ready && state.started_at.is_some_and(|started| now - started > slot.init_timeout) {
                // Once: the process is killed and reaped as a failed start.
                state.started_at = None;
                tracing::error!(
                    function = %slot.label,
                    instance = instance.number,
                    init_timeout_s = slot.init_timeout.as_secs_f64(),
                    stderr_tail = ?state.stderr_tail.text(),
                    "function did not become ready within init_timeout (it never asked for an invocation); restarting it"
                );
                process::kill_group(pid);
                return true;
            }
            return false;
        }
        if state.restart_when_idle {
            // No process to stop: the next start runs the new code; one waiting out a backoff
            // starts now.
            state.restart_when_idle = false;
            if state.wanted {
                state.restart_at = Some(now);
            }
        }
        if state.wanted && state.restart_at.is_some_and(|at| now >= at) {
            state.restart_at = None;
            self.start_process(slot, instance, state, now);
        }
        false
    }

    /// A process exited: a planned stop is restarted at once if still wanted; anything else is a
    /// crash, which fails the invocation it held and restarts it after a backoff.
    fn reaped(
        &self,
        slot: &FunctionSlot,
        instance: &Instance,
        state: &mut InstanceState,
        status: ExitStatus,
        now: Instant,
    ) {
        if let Some(child) = state.child.take() {
            self.processes.remove(child.id() as i32);
        }
        state.ready = false;
        state.waiter = None;
        state.restart_when_idle = false;
        let held = state.end();
        if std::mem::take(&mut state.stopping) && held.is_none() {
            tracing::debug!(function = %slot.label, instance = instance.number, %status, "function process stopped");
            state.restart_at = state.wanted.then_some(now);
            return;
        }
        state.failures = process::failures_after_exit(state.started_at, state.failures, now);
        let backoff = process::backoff(state.failures);
        state.restart_at = state.wanted.then_some(now + backoff);
        let request_id = held.map(|mut running| {
            running.invocation.finish(Outcome::Crashed(format!(
                "function {} exited ({status}) while handling the request",
                slot.label
            )));
            running.invocation.request_id
        });
        let report = ExitReport {
            status,
            request_id,
            restart_in: state.wanted.then_some(backoff),
            stderr_tail: state.stderr_tail.clone(),
            at: now,
        };
        if let Some(earlier) = state.exit_report.replace(report) {
            earlier.log(slot, instance.number);
        }
    }

    fn start_process(&self, slot: &FunctionSlot, instance: &Instance, state: &mut InstanceState, now: Instant) {
        let launch = Launch {
            code: &slot.code,
            handler: &slot.handler,
            runtime_api_port: instance.port,
            function: FunctionEnvironment {
                name: &slot.name,
                namespace: &slot.namespace,
                qualifier: &slot.qualifier,
                memory_mb: slot.memory_mb,
                identity: &self.identity,
                environment: &slot.environment,
            },
            output: &instance.output,
        };
        match process::spawn(&launch, &self.processes) {
            Ok((child, stderr_tail)) => {
                tracing::info!(function = %slot.label, instance = instance.number, pid = child.id(), runtime_api_port = instance.port, "started function process");
                state.child = Some(child);
                state.stderr_tail = stderr_tail;
                state.started_at = Some(now);
                state.last_active = Some(now);
            }
            Err(error) => {
                state.failures += 1;
                let backoff = process::backoff(state.failures);
                tracing::error!(function = %slot.label, instance = instance.number, %error, retry_in_ms = backoff.as_millis() as u64, "cannot start the function's bootstrap");
                state.restart_at = Some(now + backoff);
            }
        }
    }
}

/// The invoke endpoint: `POST /invoke/{function id}` with the event as body, answered with the
/// function's value (200) or a failure marked by `X-Scf-Error-Type`.
async fn serve_invocations(listener: TcpListener, host: Rc<Host>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(serve_invoke_connection(stream, host.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "invoke endpoint accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_invoke_connection(mut stream: TcpStream, host: Rc<Host>) {
    let mut reader = RequestReader::new(16 * 1024);
    let mut head = RequestHead::default();
    let mut out = Vec::with_capacity(4096);
    loop {
        if !read_request(&mut reader, &mut head, &mut stream).await {
            return;
        }
        let bytes = reader.request_bytes();
        let path = head.path.of_buffer(bytes);
        let slot = path
            .strip_prefix(b"/invoke/")
            .and_then(|id| std::str::from_utf8(id).ok()?.parse::<usize>().ok())
            .and_then(|id| host.functions.get(id)?.clone());
        let Some(slot) = slot else {
            write_reply(&mut out, 404, None, b"no such local function");
            reader.finish_request();
            if !send(&mut stream, &mut out).await {
                return;
            }
            continue;
        };
        let header = |name: &[u8]| {
            head.headers
                .iter()
                .find(|field| field.name.of_buffer(bytes).eq_ignore_ascii_case(name))
                .map(|field| field.value.of_buffer(bytes))
        };
        let request_id = String::from_utf8_lossy(header(b"x-scf-request-id").unwrap_or_default()).into_owned();
        let time_limit_ms =
            header(b"x-scf-timeout").and_then(|value| std::str::from_utf8(value).ok()?.parse().ok()).unwrap_or(15_000);
        let event: Rc<[u8]> = Rc::from(reader.body());
        reader.finish_request();
        let (reply, outcome) = oneshot::channel();
        let expires_at = Instant::now() + Duration::from_millis(time_limit_ms);
        slot.submit(Invocation { request_id, event, time_limit_ms, expires_at, reply: Some(reply) });
        let outcome =
            outcome.await.unwrap_or_else(|_| Outcome::Crashed(format!("function {} was stopped", slot.label)));
        match outcome {
            Outcome::Response(value) => write_reply(&mut out, 200, None, &value),
            Outcome::Error(text) => write_reply(&mut out, 500, Some(b"UserCodeError"), &text),
            Outcome::Crashed(text) => write_reply(&mut out, 502, Some(b"FunctionCrashed"), text.as_bytes()),
            Outcome::TimedOut => write_reply(&mut out, 504, Some(b"FunctionTimeout"), b"function timed out"),
            Outcome::Busy => write_reply(&mut out, 503, Some(b"FunctionBusy"), b"function queue is full"),
        }
        if !send(&mut stream, &mut out).await {
            return;
        }
    }
}

/// Reads one whole request (head and body) with no deadline; `false` when the peer went away or
/// sent something unusable.
pub async fn read_request(reader: &mut RequestReader, head: &mut RequestHead, stream: &mut TcpStream) -> bool {
    loop {
        match reader.try_head(head, 64 * 1024) {
            Ok(true) => break,
            Ok(false) => {}
            Err(_) => return false,
        }
        if reader.fill(stream, None).await.is_err() {
            return false;
        }
    }
    loop {
        match reader.try_body(head, 64 << 20) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        if reader.fill(stream, None).await.is_err() {
            return false;
        }
    }
}

/// Appends a reply with an optional `X-Scf-Error-Type`.
pub fn write_reply(out: &mut Vec<u8>, status: u16, error_type: Option<&[u8]>, body: &[u8]) {
    response::start(out, status);
    if let Some(error_type) = error_type {
        response::header(out, b"x-scf-error-type", error_type);
    }
    response::end_head(out, body.len(), false);
    out.extend_from_slice(body);
}

/// Writes and clears `out`; `false` when the peer is gone.
pub async fn send(stream: &mut TcpStream, out: &mut Vec<u8>) -> bool {
    let buffer = std::mem::take(out);
    let (result, mut buffer) = stream.write_all(buffer).await;
    buffer.clear();
    // A large event or value grew it: the connection may stay open (a worker's pooled one, a
    // function's long poll) for long after, and should not keep that much.
    if buffer.capacity() > 64 * 1024 {
        buffer = Vec::with_capacity(4096);
    }
    *out = buffer;
    result.is_ok()
}
