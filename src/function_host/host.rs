//! The function host thread: it runs every local function's unit (`super::units`) for the
//! gateway's whole life, taking the changes a reload makes between its ticks, so a function a
//! reload did not change keeps its processes and its requests in flight.
//!
//! Each tick (20 ms) it applies pending changes (custom-runtime units here, web functions'
//! handed to their supervisor, `super::web`), then looks after every custom-runtime unit's
//! processes: reaps exits, enforces time limits and init timeouts, scales, restarts, and stops
//! retired units once their last invocations are done. It also serves the invoke endpoint the
//! workers send events to, and each instance's runtime API (`super::runtime_api`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use monoio::net::{TcpListener, TcpStream};

use super::launch::{self, Launch};
use super::process::{self, FunctionEnvironment, ProcessRegistry};
use super::state::{ExitReport, FunctionSlot, Instance, InstanceState, Invocation, Outcome};
use super::units::Change;
use super::wire::{read_request, send, write_reply};
use super::Inbox;
use crate::http::reader::RequestReader;
use crate::http::RequestHead;

/// How often the supervisor looks at processes, deadlines, restarts and pending changes.
const SUPERVISOR_TICK: Duration = Duration::from_millis(20);
/// How long an exit's log line waits for the rest of the process's stderr (a process it started
/// may keep the pipe open).
const EXIT_REPORT_WAIT: Duration = Duration::from_secs(1);

/// Everything the host thread owns.
pub struct Host {
    /// Custom-runtime units by number, retired ones included until their processes are reaped.
    units: RefCell<HashMap<u64, Rc<FunctionSlot>>>,
    processes: ProcessRegistry,
}

/// Runs the host until `stop` is set: the invoke endpoint, the units `inbox` brings, and the web
/// functions' supervisor; then kills and reaps every function process.
pub async fn run(inbox: Arc<Inbox>, invoke_listener: StdListener, processes: ProcessRegistry, stop: Arc<AtomicBool>) {
    let host = Rc::new(Host { units: RefCell::new(HashMap::new()), processes: processes.clone() });
    match TcpListener::from_std(invoke_listener) {
        Ok(listener) => {
            monoio::spawn(serve_invocations(listener, host.clone()));
        }
        Err(error) => tracing::error!(%error, "cannot serve the invoke endpoint"),
    }
    let web_changes: Rc<RefCell<Vec<Change>>> = Rc::default();
    monoio::spawn(super::web_supervisor::supervise(web_changes.clone(), processes.clone(), stop.clone()));
    let mut ticks: u32 = 0;
    while !stop.load(Ordering::Acquire) {
        if let Some((number, changes)) = inbox.take() {
            for change in changes {
                host.apply(change, &web_changes);
            }
            inbox.applied(number);
        }
        host.supervise();
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(25) {
            // Events of large bodies passed through here: their pages go back to the system
            // when the host falls idle, as the workers' do (`crate::memory`).
            crate::memory::return_freed_memory();
        }
        monoio::time::sleep(SUPERVISOR_TICK).await;
    }
    // Stopped: no restarts from here; whatever is still running is killed, and reaped.
    processes.kill_all();
    for slot in host.units.borrow().values() {
        for instance in &slot.instances {
            if let Some(mut child) = instance.state.borrow_mut().child.take() {
                let _ = child.wait();
            }
        }
    }
}

impl Host {
    /// Carries out one change of a reload (web functions' go to their supervisor).
    fn apply(&self, change: Change, web_changes: &RefCell<Vec<Change>>) {
        match change {
            Change::StartCustom { unit, spec, tuning, listeners, code_version, ready, stats } => {
                let (slot, served) = FunctionSlot::new(unit, spec, tuning, listeners, code_version, ready, stats);
                for (instance, (socket, stopped)) in slot.instances.iter().zip(served) {
                    match TcpListener::from_std(socket) {
                        Ok(listener) => {
                            monoio::spawn(super::runtime_api::serve_instance(
                                listener,
                                slot.clone(),
                                instance.clone(),
                                stopped,
                            ));
                        }
                        Err(error) => tracing::error!(function = %slot.label, %error, "cannot serve the runtime API"),
                    }
                }
                self.units.borrow_mut().insert(unit, slot);
            }
            Change::TuneCustom { unit, tuning } => {
                if let Some(slot) = self.units.borrow().get(&unit) {
                    slot.retune(tuning);
                }
            }
            Change::Retire { unit, grace } => match self.units.borrow().get(&unit) {
                Some(slot) => slot.retire(grace),
                None => web_changes.borrow_mut().push(Change::Retire { unit, grace }),
            },
            web @ (Change::StartWeb { .. } | Change::TuneWeb { .. }) => web_changes.borrow_mut().push(web),
        }
    }

    /// Reaps exited processes, enforces time limits and init timeouts, scales, (re)starts
    /// processes, and drops retired units once they are gone.
    fn supervise(&self) {
        let now = Instant::now();
        let slots: Vec<Rc<FunctionSlot>> = self.units.borrow().values().cloned().collect();
        for slot in slots {
            if slot.code_changed() {
                slot.restart_for_new_code();
            }
            let mut init_timed_out = false;
            for instance in &slot.instances {
                let mut state = instance.state.borrow_mut();
                init_timed_out |= self.supervise_instance(&slot, instance, &mut state, now);
            }
            if slot.retire_step(now) {
                self.units.borrow_mut().remove(&slot.unit);
                continue;
            }
            if init_timed_out {
                slot.fail_queue_after_init_timeout();
            }
            slot.fail_queue_if_crash_looping();
            slot.dispatch();
            slot.scale_down(now);
            slot.publish_ready();
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
            if !state.ready && state.started_at.is_some_and(|started| now - started > slot.init_timeout()) {
                // Once: the process is killed and reaped as a failed start.
                state.started_at = None;
                tracing::error!(
                    function = %slot.label,
                    instance = instance.number,
                    init_timeout_s = slot.init_timeout().as_secs_f64(),
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
        slot.stats.crashes.increment();
        state.replaces_crashed = true;
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
        let spec = &slot.spec;
        let launch = Launch {
            code: &spec.code,
            launcher: &spec.launcher,
            handler: &spec.handler,
            runtime_api_port: instance.port,
            function: FunctionEnvironment {
                name: &spec.name,
                namespace: &spec.namespace,
                qualifier: &spec.qualifier,
                memory_mb: spec.memory_mb,
                identity: &spec.identity,
                environment: &spec.environment,
            },
            output: &instance.output,
        };
        match launch::spawn(&launch, &self.processes) {
            Ok((child, stderr_tail)) => {
                tracing::info!(function = %slot.label, instance = instance.number, pid = child.id(), runtime_api_port = instance.port, "started function process");
                state.child = Some(child);
                state.stderr_tail = stderr_tail;
                state.started_at = Some(now);
                state.last_active = Some(now);
                slot.stats.starts.increment();
                if std::mem::take(&mut state.replaces_crashed) {
                    slot.stats.restarts.increment();
                }
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

/// The invoke endpoint: `POST /invoke/{unit}` with the event as body, answered with the
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
            .and_then(|unit| std::str::from_utf8(unit).ok()?.parse::<u64>().ok())
            .and_then(|unit| host.units.borrow().get(&unit).cloned());
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
        let queued_at = Instant::now();
        slot.submit(Invocation { request_id, event, time_limit_ms, expires_at, queued_at, reply: Some(reply) });
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
