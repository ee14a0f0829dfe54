//! The new process's side of a binary upgrade: receive the running process's listening sockets
//! before binding anything, wait for the warm local functions before taking traffic, and say
//! `ready` (or why not) over the channel once the workers serve.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::channel::Channel;
use super::FD_ENV;
use crate::config::{Config, FunctionRuntime};
use crate::control::Control;
use crate::listener::{Handed, Kind, Sockets};

/// What the running process handed over.
#[derive(Default)]
pub struct Inheritance {
    /// Its listening sockets, each with its kind and configured address.
    pub sockets: Vec<Handed>,
    /// The ports its web functions hold (`port = N`), which this process cannot bind too.
    pub fixed_ports: Vec<u16>,
}

/// The channel to the process being replaced, until this one has said how it went.
static CHANNEL: Mutex<Option<Channel>> = Mutex::new(None);

/// How long each message of the hand-over may take: the running process sends them all at once.
const MESSAGE_LIMIT: Duration = Duration::from_secs(10);

/// At start: `None` for a plain start; for an upgrade (`SCFGATE_UPGRADE_FD` set), the sockets
/// and fixed ports the running process handed over. Remembers the binary's path either way.
pub fn receive() -> Result<Option<Inheritance>, String> {
    super::remember_program();
    let Some(value) = std::env::var_os(FD_ENV) else { return Ok(None) };
    let fd: i32 = value
        .to_str()
        .and_then(|text| text.parse().ok())
        .filter(|fd| *fd > 2)
        .ok_or_else(|| format!("{FD_ENV}={value:?} does not name a descriptor"))?;
    // Close-on-exec from here: function processes must not inherit the channel.
    // SAFETY: fcntl(2) on a descriptor number; F_SETFD fails harmlessly when it is not open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(format!("{FD_ENV}={fd}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the descriptor is open (F_SETFD succeeded) and was passed to this process alone,
    // to own: nothing else in it uses the number.
    let channel = Channel::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut inheritance = Inheritance::default();
    loop {
        let message = channel
            .receive(MESSAGE_LIMIT)
            .map_err(|error| format!("upgrade: cannot receive the listening sockets: {error}"))?
            .ok_or("upgrade: the running process closed the hand-over channel")?;
        let text: serde_json::Value = serde_json::from_slice(&message.text)
            .map_err(|error| format!("upgrade: a hand-over message is not JSON: {error}"))?;
        if text["scfgate_upgrade"] != 1 {
            return Err("upgrade: the running scfgate speaks another hand-over version; restart instead".into());
        }
        let described = text["sockets"].as_array().cloned().unwrap_or_default();
        if described.len() != message.fds.len() {
            return Err("upgrade: a hand-over message's sockets and descriptors do not match".into());
        }
        for (description, socket) in described.iter().zip(message.fds) {
            let kind = description["kind"].as_str().and_then(Kind::from_name);
            let configured = description["address"].as_str().and_then(|address| address.parse().ok());
            let (Some(kind), Some(configured)) = (kind, configured) else {
                return Err(format!("upgrade: a socket described as {description} cannot be adopted"));
            };
            inheritance.sockets.push(Handed { kind, configured, socket });
        }
        let fixed = text["fixed_ports"].as_array().cloned().unwrap_or_default();
        inheritance.fixed_ports.extend(fixed.iter().filter_map(|port| u16::try_from(port.as_u64()?).ok()));
        if text["last"] == true {
            break;
        }
    }
    tracing::info!(sockets = inheritance.sockets.len(), "upgrade: received the running process's listening sockets");
    *CHANNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(channel);
    Ok(Some(inheritance))
}

/// Before the function host starts: a web function whose fixed port the running process's
/// instance holds cannot start here until that one stops, which it does only after this process
/// has taken over, so the upgrade is refused. Handed-over sockets the configuration no longer
/// names are logged (they close when the running process drains).
pub fn check(inheritance: &Inheritance, sockets: &Sockets, config: &Config) -> Result<(), String> {
    for (kind, address) in sockets.unclaimed() {
        tracing::info!(
            kind = kind.name(),
            "upgrade: {address} is no longer configured; the previous process closes it"
        );
    }
    for function in &config.functions {
        if let FunctionRuntime::Web { port: Some(port), .. } = &function.runtime {
            if inheritance.fixed_ports.contains(port) {
                return Err(format!(
                    "web function {} has the fixed port {port} (`port = {port}`), which the running process's instance holds; both cannot run at once, so this upgrade is refused: restart instead, or remove `port` and let the gateway choose one",
                    function.display_name()
                ));
            }
        }
    }
    Ok(())
}

/// Waits, before any worker accepts, until the warm local functions are ready; an error when
/// they are not within their `init_timeout` (the running process then keeps serving).
pub fn await_functions(config: &Config, reach: &[Option<crate::function_host::Reach>]) -> Result<(), String> {
    let limit = crate::readiness::limit(config) + Duration::from_secs(1);
    let pending = crate::readiness::wait(config, reach, limit, || false);
    if pending.is_empty() {
        return Ok(());
    }
    Err(format!(
        "local functions were not ready within their init_timeout ({} s): {}",
        limit.as_secs_f64(),
        crate::readiness::describe(&pending)
    ))
}

/// Once the workers are started: waits until each serves, then tells the running process to
/// drain, and systemd that this is the service's main process now.
pub fn take_over(control: &Control) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !control.all_serving(1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = std::process::id();
    if let Some(channel) = CHANNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
        if let Err(error) = channel.send(format!("ready {pid}").as_bytes(), &[]) {
            tracing::warn!(%error, "upgrade: cannot tell the previous process to drain");
        }
    }
    tracing::info!(pid, "upgrade: took over the listening sockets; the previous process drains");
    crate::notify::took_over(&format!("serving (took over from an upgrade), pid {pid}"));
}

/// Tells the running process why this one gives up (nothing without an upgrade in progress).
pub fn report_failure(reason: &str) {
    if let Some(channel) = CHANNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
        let mut end = reason.len().min(8 * 1024);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let _ = channel.send(format!("failed {}", &reason[..end]).as_bytes(), &[]);
    }
}
