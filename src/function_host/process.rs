//! Starting and stopping one function process (`bootstrap`), and the registry of live process
//! groups that shutdown uses so no function outlives the gateway.

use std::collections::HashSet;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

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

/// What a started process needs to know about itself.
pub struct Launch<'a> {
    /// The function's code folder (holds `bootstrap`; becomes the working directory).
    pub code: &'a Path,
    /// `_HANDLER`.
    pub handler: &'a str,
    /// `SCF_FUNCTIONNAME`.
    pub name: &'a str,
    /// `SCF_NAMESPACE`.
    pub namespace: &'a str,
    /// `SCF_FUNCTIONVERSION`.
    pub qualifier: &'a str,
    /// `SCF_FUNCTIONMEMORYSIZE` (MB).
    pub memory_mb: u32,
    /// The port of this instance's runtime API.
    pub runtime_api_port: u16,
}

/// Starts `bootstrap` in its own process group, set to die with the gateway.
pub fn spawn(launch: &Launch<'_>, registry: &ProcessRegistry) -> io::Result<Child> {
    let mut command = Command::new(launch.code.join("bootstrap"));
    command
        .current_dir(launch.code)
        .env("SCF_RUNTIME_API", "127.0.0.1")
        .env("SCF_RUNTIME_API_PORT", launch.runtime_api_port.to_string())
        .env("_HANDLER", launch.handler)
        .env("SCF_FUNCTIONNAME", launch.name)
        .env("SCF_NAMESPACE", launch.namespace)
        .env("SCF_FUNCTIONVERSION", launch.qualifier)
        .env("SCF_FUNCTIONMEMORYSIZE", launch.memory_mb.to_string())
        .env("TENCENTCLOUD_RUNENV", "SCF")
        // With WebSocket APIs: where to push (`SCFGATE_PUSH_URL`) and the token it needs.
        .envs(crate::websocket::push::function_environment().iter().map(|(name, value)| (name, value)));
    spawn_command(command, registry)
}

/// Starts a prepared command (program, working directory, environment) the way every function
/// process starts: stdin closed, output to the gateway's, in its own process group, set to die
/// with the gateway, and registered for shutdown.
pub fn spawn_command(mut command: Command, registry: &ProcessRegistry) -> io::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        // Its own group, so a bootstrap script and everything it started stop together.
        .process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and only makes syscalls
    // (prctl, close_range, fcntl), which are async-signal-safe; it allocates nothing and touches
    // no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            // If the gateway dies without running its shutdown, the function dies too: no orphans.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            mark_inherited_descriptors_close_on_exec();
            Ok(())
        });
    }
    let child = command.spawn()?;
    registry.insert(child.id() as i32);
    Ok(child)
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
