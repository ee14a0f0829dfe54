//! The host thread's state: per function a queue and its instances; per instance its process, the
//! parked `/next` long-poll and the invocation it holds. Single-threaded (`Rc`/`RefCell`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Child;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use monoio::io::AsyncWriteRentExt;
use monoio::net::{TcpListener, TcpStream};

use super::process::{self, Launch, ProcessRegistry};
use crate::config::{Config, FunctionRuntime};
use crate::http::reader::RequestReader;
use crate::http::{response, RequestHead};

/// How often the supervisor looks at processes, deadlines and restarts.
const SUPERVISOR_TICK: Duration = Duration::from_millis(20);
/// Consecutive failed starts after which a function's waiting requests fail fast with 502.
const CRASH_LOOP_FAILURES: u32 = 3;
/// A process that ran this long before exiting is not counted as crash-looping.
const STABLE_RUN: Duration = Duration::from_secs(10);

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

#[derive(Default)]
pub struct InstanceState {
    child: Option<Child>,
    started_at: Option<Instant>,
    /// Asked for work at least once since it started (`/next` or `/init/ready`).
    pub ready: bool,
    /// A parked `/next`: send to wake it when work is assigned.
    pub waiter: Option<oneshot::Sender<()>>,
    pub current: Option<Running>,
    restart_at: Option<Instant>,
    failures: u32,
}

impl InstanceState {
    /// The process asked for work: it started fine, so earlier failed starts no longer count.
    pub fn mark_ready(&mut self) {
        self.ready = true;
        self.failures = 0;
    }
}

pub struct Instance {
    pub number: usize,
    pub port: u16,
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
    init_timeout: Duration,
    queue_depth: usize,
    pub queue: RefCell<VecDeque<Invocation>>,
    pub instances: Vec<Rc<Instance>>,
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

    /// Every instance keeps dying before it takes work: waiting for one would only end in a 504.
    fn crash_looping(&self) -> bool {
        self.instances.iter().all(|instance| {
            let state = instance.state.borrow();
            !state.ready && state.failures >= CRASH_LOOP_FAILURES
        })
    }

    fn crash_loop_message(&self) -> String {
        format!("function {} is not running: its bootstrap keeps exiting or failing to start (see the gateway log)", self.label)
    }

    /// Fails every queued invocation when the function is crash-looping.
    fn fail_queue_if_crash_looping(&self) {
        if !self.crash_looping() {
            return;
        }
        let waiting: Vec<Invocation> = self.queue.borrow_mut().drain(..).collect();
        for mut invocation in waiting {
            invocation.finish(Outcome::Crashed(self.crash_loop_message()));
        }
    }

    /// Gives queued invocations to instances parked in `/next`.
    pub fn dispatch(&self) {
        for instance in &self.instances {
            let mut state = instance.state.borrow_mut();
            if state.current.is_some() || state.waiter.is_none() {
                continue;
            }
            let Some(invocation) = self.next_live_invocation() else { return };
            state.current = Some(Running { deadline: deadline_for(&invocation), invocation });
            if let Some(waiter) = state.waiter.take() {
                let _ = waiter.send(());
            }
        }
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

    /// Assigns the next queued invocation to `instance` if it is idle; used by `/next`.
    pub fn assign_to(&self, state: &mut InstanceState) -> bool {
        if state.current.is_some() {
            return true;
        }
        match self.next_live_invocation() {
            Some(invocation) => {
                state.current = Some(Running { deadline: deadline_for(&invocation), invocation });
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
}

impl Host {
    pub fn new(config: &Config, listeners: Vec<Vec<StdListener>>, processes: ProcessRegistry) -> Self {
        let functions = config
            .functions
            .iter()
            .zip(&listeners)
            .map(|(function, sockets)| match &function.runtime {
                FunctionRuntime::Custom { code, handler, init_timeout, .. } => Some(Rc::new(FunctionSlot {
                    label: function.display_name(),
                    code: code.clone(),
                    handler: handler.clone(),
                    name: function.name.clone(),
                    namespace: function.namespace.clone(),
                    qualifier: function.qualifier.clone(),
                    memory_mb: function.memory_mb,
                    init_timeout: *init_timeout,
                    queue_depth: config.gateway.queue_depth,
                    queue: RefCell::new(VecDeque::new()),
                    instances: sockets
                        .iter()
                        .enumerate()
                        .map(|(number, socket)| {
                            Rc::new(Instance {
                                number,
                                port: socket.local_addr().map(|address| address.port()).unwrap_or(0),
                                state: RefCell::new(InstanceState { restart_at: Some(Instant::now()), ..Default::default() }),
                            })
                        })
                        .collect(),
                })),
                FunctionRuntime::Remote { .. } | FunctionRuntime::TencentCloud(_) => None,
            })
            .collect();
        Host { functions, listeners: RefCell::new(listeners), processes }
    }

    /// Serves the runtime APIs and the invoke endpoint, and supervises processes, forever.
    pub async fn run(self: Rc<Self>, invoke_listener: StdListener, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
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
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            self.supervise();
            monoio::time::sleep(SUPERVISOR_TICK).await;
        }
        // Stopped: no restarts from here; whatever is still running is killed.
        self.processes.kill_all();
    }

    /// Reaps exited processes, enforces time limits and init timeouts, and (re)starts processes.
    fn supervise(&self) {
        let now = Instant::now();
        for slot in self.functions.iter().flatten() {
            for instance in &slot.instances {
                let mut state = instance.state.borrow_mut();
                self.supervise_instance(slot, instance, &mut state, now);
            }
            slot.fail_queue_if_crash_looping();
            slot.dispatch();
        }
    }

    fn supervise_instance(&self, slot: &FunctionSlot, instance: &Instance, state: &mut InstanceState, now: Instant) {
        if let Some(child) = state.child.as_mut() {
            let pid = child.id() as i32;
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.processes.remove(pid);
                    state.child = None;
                    state.ready = false;
                    state.waiter = None;
                    let ran_for = state.started_at.map(|started| now - started).unwrap_or_default();
                    state.failures = if ran_for > STABLE_RUN { 1 } else { state.failures + 1 };
                    let backoff = backoff(state.failures);
                    state.restart_at = Some(now + backoff);
                    if let Some(mut running) = state.current.take() {
                        tracing::warn!(function = %slot.label, instance = instance.number, %status, request_id = %running.invocation.request_id, "function process exited while handling a request");
                        running.invocation.finish(Outcome::Crashed(format!(
                            "function {} exited ({status}) while handling the request",
                            slot.label
                        )));
                    } else {
                        tracing::warn!(function = %slot.label, instance = instance.number, %status, restart_in_ms = backoff.as_millis() as u64, "function process exited");
                    }
                    return;
                }
                Ok(None) => {}
                Err(error) => tracing::error!(function = %slot.label, %error, "cannot check a function process"),
            }
            if let Some(running) = state.current.as_mut() {
                if now >= running.deadline {
                    tracing::warn!(function = %slot.label, instance = instance.number, request_id = %running.invocation.request_id, "function ran past its time limit; stopping the process");
                    running.invocation.finish(Outcome::TimedOut);
                    state.current = None;
                    process::kill_group(pid);
                    return;
                }
            }
            if !state.ready && state.started_at.is_some_and(|started| now - started > slot.init_timeout) {
                tracing::error!(function = %slot.label, instance = instance.number, init_timeout_s = slot.init_timeout.as_secs_f64(), "function did not ask for an invocation within init_timeout; restarting it");
                process::kill_group(pid);
            }
            return;
        }
        if state.restart_at.is_some_and(|at| now >= at) {
            state.restart_at = None;
            let launch = Launch {
                code: &slot.code,
                handler: &slot.handler,
                name: &slot.name,
                namespace: &slot.namespace,
                qualifier: &slot.qualifier,
                memory_mb: slot.memory_mb,
                runtime_api_port: instance.port,
            };
            match process::spawn(&launch, &self.processes) {
                Ok(child) => {
                    tracing::info!(function = %slot.label, instance = instance.number, pid = child.id(), runtime_api_port = instance.port, "started function process");
                    state.child = Some(child);
                    state.started_at = Some(now);
                }
                Err(error) => {
                    state.failures += 1;
                    let backoff = backoff(state.failures);
                    tracing::error!(function = %slot.label, instance = instance.number, %error, retry_in_ms = backoff.as_millis() as u64, "cannot start the function's bootstrap");
                    state.restart_at = Some(now + backoff);
                }
            }
        }
    }
}

/// 100 ms doubling to 5 s: quick recovery from a one-off crash, no hot loop for a broken function.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_millis(100 << exponent).min(Duration::from_secs(5))
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
        let time_limit_ms = header(b"x-scf-timeout")
            .and_then(|value| std::str::from_utf8(value).ok()?.parse().ok())
            .unwrap_or(15_000);
        let event: Rc<[u8]> = Rc::from(reader.body());
        reader.finish_request();
        let (reply, outcome) = oneshot::channel();
        let expires_at = Instant::now() + Duration::from_millis(time_limit_ms);
        slot.submit(Invocation { request_id, event, time_limit_ms, expires_at, reply: Some(reply) });
        let outcome = outcome.await.unwrap_or_else(|_| Outcome::Crashed(format!("function {} was stopped", slot.label)));
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
    *out = buffer;
    result.is_ok()
}
