//! systemd's service notification protocol (sd_notify(3)), spoken without libsystemd: one
//! datagram of `KEY=VALUE` lines to the Unix socket `NOTIFY_SOCKET` names. It owns what the
//! gateway tells its service manager and when; deciding that functions are ready is
//! `crate::readiness`'s, handing sockets to a new binary `crate::upgrade`'s.
//!
//! What is sent (with `Type=notify` the unit counts as started at the first `READY=1`):
//! - `READY=1` once every worker serves and the local functions with `instances > 0` are ready;
//! - `RELOADING=1` (with `MONOTONIC_USEC`, as systemd 253 asks) when a SIGHUP reload or a binary
//!   upgrade begins, and `READY=1` when it is over, applied or refused;
//! - `MAINPID=<pid>` with `READY=1` from the process an upgrade started, once it has taken over,
//!   so that systemd follows it rather than the process that is draining (the unit needs
//!   `NotifyAccess=all`: the new process is not the one systemd started);
//! - `STOPPING=1` when a shutdown drain begins;
//! - `STATUS=` lines on the way (`systemctl status` shows the last one).
//!
//! Without `NOTIFY_SOCKET` every call does nothing. A datagram that cannot be sent is logged at
//! debug level and never stops the gateway: the service manager is told, not asked.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Where notifications go, resolved once from `NOTIFY_SOCKET`.
struct Target {
    socket: UnixDatagram,
    address: SocketAddr,
}

static TARGET: OnceLock<Option<Target>> = OnceLock::new();
/// The first `READY=1` has gone out: from then on a reload's end is `READY=1` again, while
/// before it a `READY=1` would tell systemd that start-up is over before it is.
static STARTED: AtomicBool = AtomicBool::new(false);

fn target() -> Option<&'static Target> {
    TARGET
        .get_or_init(|| {
            let name = std::env::var_os("NOTIFY_SOCKET")?;
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
            // `@name` is a socket in the abstract namespace (sd_notify(3)).
            let address = match bytes.strip_prefix(b"@") {
                Some(abstract_name) => {
                    <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(abstract_name).ok()?
                }
                None => SocketAddr::from_pathname(&name).ok()?,
            };
            let socket = UnixDatagram::unbound().ok()?;
            Some(Target { socket, address })
        })
        .as_ref()
}

/// Sends one notification (lines joined by `\n`); true when it was sent.
pub fn send(lines: &[String]) -> bool {
    let Some(target) = target() else { return false };
    let message = lines.join("\n");
    match target.socket.send_to_addr(message.as_bytes(), &target.address) {
        Ok(_) => true,
        Err(error) => {
            tracing::debug!(%error, "cannot notify the service manager (NOTIFY_SOCKET)");
            false
        }
    }
}

/// A `STATUS=` line: one line of text, whatever the caller had.
fn status_line(status: &str) -> String {
    let text: String = status.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("STATUS={text}")
}

/// `CLOCK_MONOTONIC` in microseconds, as `MONOTONIC_USEC=` wants it beside `RELOADING=1`.
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) writes into the timespec on this stack frame.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

/// Only a status line (`systemctl status` shows it).
pub fn status(status: &str) {
    send(&[status_line(status)]);
}

/// Start-up is over: every worker serves and the warm local functions are ready.
pub fn ready(status: &str) {
    STARTED.store(true, Ordering::Release);
    send(&["READY=1".into(), status_line(status)]);
}

/// A reload (SIGHUP) or a binary upgrade has begun.
pub fn reloading(status: &str) {
    send(&["RELOADING=1".into(), format!("MONOTONIC_USEC={}", monotonic_usec()), status_line(status)]);
}

/// A reload or upgrade attempt is over (applied or refused): the gateway serves again as before.
pub fn reloaded(status: &str) {
    if STARTED.load(Ordering::Acquire) {
        send(&["READY=1".into(), status_line(status)]);
    } else {
        send(&[status_line(status)]);
    }
}

/// This process took over from the one it upgraded: it is the service's main process now.
pub fn took_over(status: &str) {
    STARTED.store(true, Ordering::Release);
    send(&[format!("MAINPID={}", std::process::id()), "READY=1".into(), status_line(status)]);
}

/// A shutdown drain has begun.
pub fn stopping(status: &str) {
    send(&["STOPPING=1".into(), status_line(status)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_one_line() {
        assert_eq!(status_line("reload refused:\nbad\tfile"), "STATUS=reload refused: bad file");
    }

    #[test]
    fn monotonic_time_moves_forward() {
        let first = monotonic_usec();
        assert!(first > 0);
        assert!(monotonic_usec() >= first);
    }
}
