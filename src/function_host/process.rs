//! Starting and stopping one function process (`bootstrap`): its environment, its memory limit,
//! its output pipes, and the registry of live process groups that shutdown uses so no function
//! outlives the gateway.
//!
//! **Environment.** A function is code the gateway's operator did not necessarily write, so it
//! inherits nothing of the gateway's environment, which holds the admin API's token
//! (`SCFGATE_ADMIN_TOKEN`), Tencent Cloud API keys (`TENCENTCLOUD_SECRET_KEY`), key-pair secrets
//! named by `key_env`, and whatever else the operator exported. [`function_command`] starts
//! from an empty environment and adds, in this order (a later one wins): the few variables of
//! [`PASSED_THROUGH`] that the gateway has, the function's own `environment` table, and what SCF
//! sets for a function (spec tencent-migration §1.5, apigw-scf §7.2). Both custom runtimes and
//! web functions start through it.
//!
//! **Memory limit.** `memory_limit_in_mb` is enforced with `RLIMIT_DATA` (soft and hard) set in
//! the child before exec, at the limit plus [`MEMORY_HEADROOM_MB`]. Since Linux 4.7 it counts the
//! process's private writable memory: heap, anonymous `mmap`, thread stacks. It does not count
//! code, shared libraries, shared memory or address space only reserved (`PROT_NONE`, as V8, Go
//! and the JVM reserve theirs), which `RLIMIT_AS` would and which breaks those runtimes. It is
//! virtual memory, not resident memory: an allocation that would pass the limit fails (the
//! runtime usually aborts), whether or not its pages were touched. Each process of the
//! function's group has its own limit (a bootstrap script and the program it starts are limited
//! separately). A cgroup v2 `memory.max` would limit resident memory of the whole group, but
//! needs a delegated cgroup the gateway can move its children into; that is not done here.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::output::{self, OutputTags, StderrTail};
use crate::config::TencentIdentity;

/// Added to `memory_limit_in_mb` for `RLIMIT_DATA`: the runtime's own bookkeeping and thread
/// stacks count as data too, and a function sized to its limit should not fail on them.
pub const MEMORY_HEADROOM_MB: u64 = 64;

/// Process-group ids of running function processes. Touched on start, exit and shutdown only,
/// never per request.
#[derive(Clone, Default)]
pub struct ProcessRegistry(Arc<Mutex<HashSet<i32>>>);

impl ProcessRegistry {
    fn insert(&self, pid: i32) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(pid);
    }

    /// Forgets a process that has been reaped.
    pub fn remove(&self, pid: i32) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&pid);
    }

    /// Kills every registered process group (SIGKILL): used at shutdown.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain().collect();
        for group in groups {
            kill_group(group);
        }
    }
}

/// The only variables a function process takes from the gateway's environment (with every
/// `LC_*`), none of them a secret. SCF sets each of them for its functions too (spec
/// tencent-migration §1.5); here they come from the machine the gateway runs on:
/// - `PATH`: interpreters and tools found by name (`#!/usr/bin/env python3`; Tencent's own
///   `scf_bootstrap` templates run `npm run start`, spec §2).
/// - `HOME`, `USER`, `LOGNAME`, `SHELL`: who the process runs as; package managers and
///   language runtimes look for their caches and settings under `HOME`.
/// - `LANG`, `LC_*`: the locale, without which text is ASCII to some runtimes.
/// - `TZ`: the local time zone the operator chose.
/// - `TMPDIR`: where temporary files go, when the gateway was told to put them elsewhere.
///
/// Anything else a function needs goes in its `environment` table, where it is visible in the
/// config. Left out on purpose, among others: proxy settings (`HTTP_PROXY` may carry a
/// password), `SSH_AUTH_SOCK`, `LD_PRELOAD`/`LD_LIBRARY_PATH` and the gateway's own `SCFGATE_*`
/// and `RUST_LOG`.
pub const PASSED_THROUGH: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR"];

/// Whether the gateway's variable `name` reaches function processes: [`PASSED_THROUGH`] and
/// `LC_*`.
pub fn passed_through(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b"LC_") || PASSED_THROUGH.iter().any(|allowed| allowed.as_bytes() == name)
}

/// What SCF tells any function process about its function, custom runtime or web alike.
pub struct FunctionEnvironment<'a> {
    /// `SCF_FUNCTIONNAME`.
    pub name: &'a str,
    /// `SCF_NAMESPACE`.
    pub namespace: &'a str,
    /// `SCF_FUNCTIONVERSION`.
    pub qualifier: &'a str,
    /// `SCF_FUNCTIONMEMORYSIZE` (MB).
    pub memory_mb: u32,
    /// `TENCENTCLOUD_REGION`, `TENCENTCLOUD_APPID`, `TENCENTCLOUD_UIN`.
    pub identity: &'a TencentIdentity,
    /// The function's `environment` table.
    pub environment: &'a [(String, String)],
}

/// A command for `program`, run in `code`, whose environment holds only what the module doc
/// lists: the caller adds its runtime's own variables (`_HANDLER`, `PORT`, ...) after these.
pub fn function_command(program: &Path, code: &Path, function: &FunctionEnvironment<'_>) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(code)
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| passed_through(name)))
        // The table may replace a passed-through variable (its own `PATH`, `TZ`); validation
        // keeps it off the platform's names, which are set after it anyway.
        .envs(function.environment.iter().map(|(name, value)| (name, value)))
        .env("SCF_FUNCTIONNAME", function.name)
        .env("SCF_NAMESPACE", function.namespace)
        .env("SCF_FUNCTIONVERSION", function.qualifier)
        .env("SCF_FUNCTIONMEMORYSIZE", function.memory_mb.to_string())
        .env("TENCENTCLOUD_RUNENV", "SCF")
        .envs(function.identity.environment())
        // With WebSocket APIs: where to push (`SCFGATE_PUSH_URL`) and the token it needs.
        .envs(crate::websocket::push::function_environment().iter().map(|(name, value)| (name, value)));
    command
}

/// Starts a prepared command (program, working directory, environment) the way every function
/// process starts: stdin closed, output logged with `output`'s tags (the stderr tail kept in the
/// returned [`StderrTail`]), its memory limited to `memory_mb` plus headroom, in its own process
/// group, set to die with the gateway, and registered for shutdown.
pub fn spawn_command(
    mut command: Command,
    memory_mb: u32,
    output: &Arc<OutputTags>,
    registry: &ProcessRegistry,
) -> io::Result<(Child, StderrTail)> {
    let memory_limit = data_limit(memory_mb);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a bootstrap script and everything it started stop together.
        .process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and only makes syscalls
    // (prctl, setrlimit, close_range, fcntl), which are async-signal-safe; it allocates nothing
    // and only reads `memory_limit`, a plain value copied into it.
    unsafe {
        command.pre_exec(move || {
            // If the gateway dies without running its shutdown, the function dies too: no orphans.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setrlimit(libc::RLIMIT_DATA, &memory_limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            mark_inherited_descriptors_close_on_exec();
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    registry.insert(child.id() as i32);
    let tail = StderrTail::default();
    if let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) {
        output::pump(stdout, stderr, output, &tail);
    }
    Ok((child, tail))
}

/// The `RLIMIT_DATA` for a function of `memory_mb`: the limit plus the headroom, soft and hard
/// (so the function cannot raise it), never above the gateway's own hard limit (which only root
/// could raise).
fn data_limit(memory_mb: u32) -> libc::rlimit {
    let wanted = (u64::from(memory_mb) + MEMORY_HEADROOM_MB) << 20;
    // SAFETY: getrlimit on a stack struct for this process.
    let mut current: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: as above; on failure `current` stays zeroed and is not used.
    let hard = if unsafe { libc::getrlimit(libc::RLIMIT_DATA, &mut current) } == 0 {
        current.rlim_max
    } else {
        libc::RLIM_INFINITY
    };
    let limit = if hard == libc::RLIM_INFINITY { wanted } else { wanted.min(hard as u64) };
    libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t }
}

/// Every descriptor above stderr closes at exec: the function must not inherit client
/// connections or listening sockets (monoio's io_uring accept does not set `SOCK_CLOEXEC`, and a
/// function holding a client's socket would keep it open past `Connection: close` and could read
/// another client's traffic). Marked rather than closed, so std's exec-error pipe still works.
///
/// # Safety
/// Only for the child between fork and exec: it changes descriptor flags process-wide.
unsafe fn mark_inherited_descriptors_close_on_exec() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets flags on descriptors (Linux 5.11+).
    if unsafe { libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) } == 0 {
        return;
    }
    // Older kernels: one fcntl per possible descriptor (bounded by the descriptor limit).
    // SAFETY: sysconf and fcntl on integers; a closed descriptor just returns EBADF.
    let limit = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as libc::c_int;
    for descriptor in 3..limit {
        // SAFETY: as above.
        unsafe {
            libc::fcntl(descriptor, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// SIGKILL to a whole process group.
pub fn kill_group(group: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// A process that ran this long before exiting is not counted as crash-looping.
const STABLE_RUN: std::time::Duration = std::time::Duration::from_secs(10);

/// Consecutive failed starts after a process exited at `now`: counting again from 1 when it had
/// run at least [`STABLE_RUN`], one more otherwise. Every runtime's supervisor uses it.
pub fn failures_after_exit(started_at: Option<std::time::Instant>, failures: u32, now: std::time::Instant) -> u32 {
    let ran_for = started_at.map(|started| now - started).unwrap_or_default();
    if ran_for > STABLE_RUN {
        1
    } else {
        failures + 1
    }
}

/// The wait before the next start after `failures` consecutive failed ones: 100 ms doubling to
/// 5 s, quick recovery from a one-off crash and no hot loop for a broken function.
pub fn backoff(failures: u32) -> std::time::Duration {
    let exponent = failures.saturating_sub(1).min(6);
    std::time::Duration::from_millis(100 << exponent).min(std::time::Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allow_list_is_passed_through() {
        #[rustfmt::skip]
        let cases = [
            ("PATH", true), ("HOME", true), ("LANG", true), ("LC_ALL", true), ("LC_TIME", true),
            ("TZ", true), ("TMPDIR", true),
            ("SCFGATE_ADMIN_TOKEN", false), ("TENCENTCLOUD_SECRET_KEY", false), ("HTTP_PROXY", false),
            ("SSH_AUTH_SOCK", false), ("LD_PRELOAD", false), ("PATHS", false), ("path", false), ("LC", false),
        ];
        for (name, expected) in cases {
            assert_eq!(passed_through(OsStr::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn restarts_back_off_until_a_process_has_run_a_while() {
        let steps: Vec<u64> = (1..=8).map(|failures| backoff(failures).as_millis() as u64).collect();
        assert_eq!(steps, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        let now = std::time::Instant::now();
        let crashed_at_start = now - std::time::Duration::from_millis(50);
        assert_eq!(failures_after_exit(Some(crashed_at_start), 3, now), 4);
        assert_eq!(failures_after_exit(None, 0, now), 1);
        let ran_long = now - std::time::Duration::from_secs(11);
        assert_eq!(failures_after_exit(Some(ran_long), 5, now), 1);
    }
}
