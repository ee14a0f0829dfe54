//! Binary upgrades that refuse no connection, as nginx's `USR2` and Pingora's graceful upgrade
//! do (not WebSocket's HTTP `Upgrade`, which is `crate::websocket`'s). It owns the hand-over
//! between the running process and the new binary; the sockets' bookkeeping is
//! `crate::listener::Sockets`'s, deciding that functions are ready `crate::readiness`'s.
//!
//! **The running process**, on SIGUSR2 (`scfgate --upgrade` sends it and waits for the outcome,
//! [`request`]):
//! 1. refuses admin changes for the while and lets go of the state directory's lock, so that
//!    the new process reads a state nobody changes any more;
//! 2. starts the binary it was started from (the path as it was then: a package upgrade has
//!    replaced the file since), with its own arguments and environment, and one end of a
//!    socketpair as `SCFGATE_UPGRADE_FD`;
//! 3. sends every listening socket it serves over it (HTTP, HTTPS, admin, push: one per worker
//!    per address), each named by its kind and configured address ([`channel`]);
//! 4. waits for the new process to say it serves, for at most [`HANDOVER_LIMIT`];
//! 5. then drains ([`drain`]): it stops accepting, answers each connection's next request with
//!    `Connection: close`, and exits once its last connection closed (or at
//!    `--shutdown-timeout`), stopping its function processes last.
//!
//! If the new process fails (it exits, reports an error, or does not make it in time), this one
//! takes the state directory back and keeps serving as if nothing had happened: it never
//! stopped accepting. The outcome goes to the log, to `<pid file>.upgrade` for `--upgrade`, and
//! to systemd (`RELOADING=1` at the start, `READY=1` again after a failure).
//!
//! **The new process** ([`inherit`]) receives the sockets before it binds anything and adopts
//! them instead of binding, starts its own function processes and waits until the warm ones
//! are ready (a local function's processes do not carry over: each gateway runs its own, and
//! the old one's stop when it has drained), then starts its workers, writes the pid file, tells
//! the old process, and tells systemd it is the main process now (`MAINPID=`, `READY=1`).
//!
//! Why the same sockets rather than new SO_REUSEPORT ones beside them: a listening socket that
//! closes resets the connections queued on it, and the kernel spreads new connections over every
//! socket of the port, the closing ones included. Passed with `SCM_RIGHTS`, a socket is one
//! kernel object open in both processes, so when the old one stops accepting, its queue is
//! accepted from by the new one.
//!
//! A web function with a fixed `port` cannot run in both processes at once; an upgrade whose
//! new configuration keeps such a port that the old one holds is refused (restart instead).

mod channel;
pub mod inherit;

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use inherit::{receive, report_failure, Inheritance};

use crate::admin::Management;
use crate::config::{Config, FunctionRuntime};
use crate::control::Control;
use crate::listener::Sockets;
use channel::Channel;

/// The variable naming the new process's end of the hand-over channel.
pub const FD_ENV: &str = "SCFGATE_UPGRADE_FD";

/// The longest the running process waits for a new one to take over: SCF's longest
/// `init_timeout` (300 s, which the new process's functions may need) and a minute to load its
/// configuration and certificates. The new process gives up on its own before that.
pub const HANDOVER_LIMIT: Duration = Duration::from_secs(360);

/// The binary this process was started from, as its path was then.
static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Remembers the binary's path (at start: an upgrade later starts the file now at that path).
pub fn remember_program() {
    PROGRAM.get_or_init(|| match std::env::current_exe() {
        Ok(path) => path,
        Err(_) => PathBuf::from(std::env::args_os().next().unwrap_or_else(|| "scfgate".into())),
    });
}

/// The file `scfgate --upgrade` reads the outcome of the upgrade it asked for from.
pub fn outcome_path(pid_file: &Path) -> PathBuf {
    let mut name = pid_file.as_os_str().to_owned();
    name.push(".upgrade");
    PathBuf::from(name)
}

/// What an upgrade attempt works with.
pub struct Attempt<'a> {
    /// Every listening socket this process serves.
    pub sockets: &'a Sockets,
    /// The configuration served now (its web functions' fixed ports go along).
    pub config: &'a Config,
    /// `--pid-file`, beside which the outcome is written.
    pub pid_file: Option<&'a Path>,
    /// The management plane, whose state directory goes to the new process.
    pub management: Option<&'a Management>,
}

/// One upgrade (SIGUSR2). `Ok(pid)` once a new process serves on this one's sockets (the caller
/// then drains); `Err(why)` when it did not, and this process serves on as before.
pub fn attempt(attempt: Attempt<'_>) -> Result<u32, String> {
    crate::notify::reloading("upgrading: starting the new binary");
    let started = Instant::now();
    let result = hold_state_and_start(&attempt);
    if let (Ok(_), Some(management)) = (&result, attempt.management) {
        // Before anyone is told: an admin request sent after the upgrade reported success must
        // reach the new process, not this one, whose state is frozen.
        management.stop_accepting();
    }
    let outcome = match &result {
        Ok(pid) => {
            tracing::info!(
                new_pid = pid,
                seconds = started.elapsed().as_secs_f64(),
                "upgrade: the new process serves; draining this one"
            );
            format!("upgraded {pid}\n")
        }
        Err(error) => {
            tracing::error!("upgrade failed, still serving: {error}");
            crate::notify::reloaded(&format!("serving; the upgrade failed: {error}"));
            format!("failed: {error}\n")
        }
    };
    if let Some(path) = attempt.pid_file.map(outcome_path) {
        // Written whole, then renamed: `--upgrade` never reads half of it.
        let partial = path.with_extension("upgrade.partial");
        let written = std::fs::write(&partial, outcome).and_then(|()| std::fs::rename(&partial, &path));
        if let Err(error) = written {
            tracing::warn!(%error, "upgrade: cannot write the outcome to {}", path.display());
        }
    }
    result
}

fn hold_state_and_start(attempt: &Attempt<'_>) -> Result<u32, String> {
    if let Some(management) = attempt.management {
        management.hand_over_state()?;
    }
    let result = start_and_hand_over(attempt);
    if let (Err(_), Some(management)) = (&result, attempt.management) {
        if let Err(error) = management.keep_state() {
            tracing::error!("upgrade: {error}; admin changes are refused until a restart");
        }
    }
    result
}

/// SIGTERM or SIGINT during an attempt: the attempt ends (the signal stays pending for the
/// caller's loop, which then shuts down).
struct StopRequested {
    flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl StopRequested {
    fn watch() -> StopRequested {
        let flag = Arc::new(AtomicBool::new(false));
        let ids = [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT]
            .into_iter()
            .filter_map(|signal| signal_hook::flag::register(signal, flag.clone()).ok())
            .collect();
        StopRequested { flag, ids }
    }

    fn requested(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

impl Drop for StopRequested {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

fn start_and_hand_over(attempt: &Attempt<'_>) -> Result<u32, String> {
    let stop = StopRequested::watch();
    let program = PROGRAM.get().cloned().unwrap_or_else(|| PathBuf::from("scfgate"));
    let (ours, theirs) = Channel::pair().map_err(|error| format!("cannot make the hand-over channel: {error}"))?;
    let inherited = theirs.as_raw_fd();
    let mut command = Command::new(&program);
    command.args(std::env::args_os().skip(1)).env(FD_ENV, inherited.to_string());
    // SAFETY: fcntl(2) is async-signal-safe, as code between fork and exec must be; it only
    // clears close-on-exec on the channel's end, which the child inherited from this process.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::fcntl(inherited, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|error| format!("cannot start {}: {error}", program.display()))?;
    drop(theirs);
    let pid = child.id();
    tracing::info!(
        new_pid = pid,
        program = %program.display(),
        sockets = attempt.sockets.held().len(),
        "upgrade: started the new binary; handing over the listening sockets"
    );
    crate::notify::status(&format!("upgrading: the new process (pid {pid}) is starting"));
    let result = send_sockets(&ours, attempt).and_then(|()| await_takeover(&ours, &mut child, &stop));
    if result.is_err() {
        // It may still be starting (interrupted, too slow): it goes, and its functions with it.
        let waited = Instant::now();
        while matches!(child.try_wait(), Ok(None)) {
            if waited.elapsed() > Duration::from_secs(10) || stop.requested() {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    result
}

/// Sends the sockets in messages of at most `channel::MAX_FDS`, each with its list of
/// `{kind, address}`; the first also carries the fixed ports of this process's web functions.
fn send_sockets(channel: &Channel, attempt: &Attempt<'_>) -> Result<(), String> {
    let fixed_ports: Vec<u16> = attempt
        .config
        .functions
        .iter()
        .filter_map(|function| match &function.runtime {
            FunctionRuntime::Web { port, .. } => *port,
            _ => None,
        })
        .collect();
    let held = attempt.sockets.held();
    let batches: Vec<_> = held.chunks(channel::MAX_FDS).collect();
    let count = batches.len().max(1);
    for index in 0..count {
        let batch = batches.get(index).copied().unwrap_or_default();
        let sockets: Vec<_> = batch
            .iter()
            .map(|socket| serde_json::json!({"kind": socket.kind.name(), "address": socket.configured.to_string()}))
            .collect();
        let message = serde_json::json!({
            "scfgate_upgrade": 1,
            "fixed_ports": if index == 0 { fixed_ports.clone() } else { Vec::new() },
            "sockets": sockets,
            "last": index + 1 == count,
        });
        let fds: Vec<_> = batch.iter().map(|socket| socket.socket.as_fd()).collect();
        channel
            .send(message.to_string().as_bytes(), &fds)
            .map_err(|error| format!("cannot hand over the listening sockets: {error}"))?;
    }
    Ok(())
}

/// Waits for the new process's word: `ready <pid>` or `failed <why>`.
fn await_takeover(channel: &Channel, child: &mut std::process::Child, stop: &StopRequested) -> Result<u32, String> {
    let deadline = Instant::now() + HANDOVER_LIMIT;
    loop {
        match channel.receive(Duration::from_millis(100)) {
            Ok(Some(message)) => {
                let text = String::from_utf8_lossy(&message.text).into_owned();
                if let Some(pid) = text.strip_prefix("ready ").and_then(|pid| pid.trim().parse().ok()) {
                    return Ok(pid);
                }
                return Err(text.strip_prefix("failed ").unwrap_or(&text).to_owned());
            }
            Ok(None) => {
                // The channel closes as the new process exits; give it a moment to be reaped (the
                // caller kills it if it has not gone by then).
                let waited = Instant::now();
                loop {
                    match child.try_wait() {
                        Ok(Some(status)) => {
                            return Err(format!(
                                "the new process exited ({status}) before it took over; its log lines above say why"
                            ))
                        }
                        Ok(None) if waited.elapsed() < Duration::from_secs(10) => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        _ => return Err("the new process closed the hand-over channel without taking over".into()),
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
            Err(error) => return Err(format!("the hand-over channel failed: {error}")),
        }
        if stop.requested() {
            return Err("a shutdown was asked for while the new process was starting".into());
        }
        if Instant::now() >= deadline {
            return Err(format!("the new process did not take over within {} s", HANDOVER_LIMIT.as_secs()));
        }
    }
}

/// SIGUSR2: one upgrade attempt with what this process serves now; after a successful one, the
/// drain ([`drain`]). True when this process should exit (its successor serves).
pub fn upgrade_and_drain(
    control: &Control,
    sockets: &mut Sockets,
    pid_file: Option<&Path>,
    management: Option<&Management>,
) -> bool {
    let latest = control.latest();
    let upgraded = attempt(Attempt { sockets, config: &latest.config, pid_file, management }).is_ok();
    if upgraded {
        drain(control, sockets, management);
    }
    upgraded
}

/// After a successful upgrade: stop accepting everywhere (the new process accepts on the same
/// sockets), let every connection finish, and return once the last one has closed or at the
/// shutdown timeout. Each connection's next response carries `Connection: close`, so a client
/// reconnects (to the new process) between requests rather than finding its idle connection
/// closed under a request it was sending; idle keep-alive connections that never speak again
/// are closed at the timeout.
pub fn drain(control: &Control, sockets: &mut Sockets, management: Option<&Management>) {
    let timeout = control.latest().config.gateway.shutdown_timeout;
    tracing::info!(
        timeout_s = timeout.as_secs_f64(),
        "upgrade: no new connections here; finishing the requests and connections this process holds"
    );
    if let Some(management) = management {
        management.stop_accepting();
    }
    control.start_draining();
    sockets.close_held();
    let started = Instant::now();
    let deadline = started + timeout;
    while !(control.drained() && control.connections_open() == 0) {
        if Instant::now() >= deadline {
            tracing::warn!(
                in_flight = control.requests_in_flight(),
                connections = control.connections_open(),
                "upgrade: shutdown timeout reached; closing what is left"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "upgrade: every connection of this process has closed");
}

/// `scfgate --upgrade`: asks the gateway whose pid is in `pid_file` to upgrade (SIGUSR2) and
/// waits for the outcome it writes beside the pid file. `Ok` says which process serves now.
pub fn request(pid_file: &Path) -> Result<String, String> {
    let pid = std::fs::read_to_string(pid_file).ok().and_then(|text| text.trim().parse::<i32>().ok());
    let Some(pid) = pid.filter(|pid| *pid > 0) else {
        return Err(format!(
            "{}: no gateway pid in this file (is scfgate running with --pid-file?)",
            pid_file.display()
        ));
    };
    let outcome = outcome_path(pid_file);
    let _ = std::fs::remove_file(&outcome);
    // SAFETY: kill(2) sends a signal to a process id; no memory is involved.
    if unsafe { libc::kill(pid, libc::SIGUSR2) } != 0 {
        return Err(format!("cannot signal pid {pid}: {}", std::io::Error::last_os_error()));
    }
    let deadline = Instant::now() + HANDOVER_LIMIT + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&outcome) {
            let text = text.trim();
            return match text.strip_prefix("upgraded ") {
                Some(new_pid) => Ok(format!(
                    "upgraded: pid {new_pid} serves now; pid {pid} finishes its requests and exits (within --shutdown-timeout)"
                )),
                None => Err(format!("upgrade refused, pid {pid} still serves: {}", text.trim_start_matches("failed: "))),
            };
        }
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return Err(format!("the gateway (pid {pid}) exited during the upgrade; see its log"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no outcome from pid {pid} within {} s; see its log", (HANDOVER_LIMIT.as_secs() + 30)))
}
