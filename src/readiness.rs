//! Whether the local functions meant to be warm (`instances > 0`) are ready to take requests:
//! what `READY=1` waits for (`crate::notify`), and what a binary upgrade waits for before the
//! old process is told to drain (`crate::upgrade`), so that the new one never takes traffic its
//! functions cannot serve yet. It decides nothing about the functions; it only looks.
//!
//! - Web functions: an instance is ready when the board the workers read says `Ready` (its port
//!   accepts connections).
//! - Custom runtimes: the function host keeps its instances' readiness to itself, so it is
//!   observed the way SCF defines it: an instance is ready once its process has asked for work,
//!   which it does over a connection to its runtime API that it then holds (`/init/ready`, then
//!   `/next` long-polls). The gateway's own child processes are found in `/proc`, each one's
//!   function and runtime-API port read from the variables SCF gives it (`SCF_NAMESPACE`,
//!   `SCF_FUNCTIONNAME`, `SCF_FUNCTIONVERSION`, `SCF_RUNTIME_API_PORT`), and the port looked up
//!   among the established connections of `/proc/self/net/tcp`, where the host's end of such a
//!   connection has the port as its local one. A process of the old gateway during an upgrade is
//!   not our child, so it is never counted.
//!
//! It runs at start and during an upgrade, never on the request path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, FunctionRuntime};
use crate::control::Control;
use crate::function_host::web_instances::{InstanceState, WebInstances};

/// A warm local function with fewer instances ready than it should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// `namespace/name:qualifier`.
    pub function: String,
    /// Instances ready now.
    pub ready: usize,
    /// Its `instances`.
    pub wanted: usize,
}

impl std::fmt::Display for Pending {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}/{} ready", self.function, self.ready, self.wanted)
    }
}

/// Lists pending functions, as one line for logs and `STATUS=`.
pub fn describe(pending: &[Pending]) -> String {
    pending.iter().map(Pending::to_string).collect::<Vec<_>>().join(", ")
}

/// How long the warm local functions may take to become ready: the longest `init_timeout`
/// among them (past it, the function host restarts an instance that did not make it, and waiting
/// longer only delays what will not come). Zero when none is warm.
pub fn limit(config: &Config) -> Duration {
    config
        .functions
        .iter()
        .filter_map(|function| match &function.runtime {
            FunctionRuntime::Custom { instances, init_timeout, .. }
            | FunctionRuntime::Web { instances, init_timeout, .. }
                if *instances > 0 =>
            {
                Some(*init_timeout)
            }
            _ => None,
        })
        .max()
        .unwrap_or_default()
}

/// The warm local functions not ready yet. `boards` are the function host's web-function
/// boards, by function id.
pub fn pending(config: &Config, boards: &[Option<Arc<WebInstances>>]) -> Vec<Pending> {
    let wants_custom = config
        .functions
        .iter()
        .any(|function| matches!(function.runtime, FunctionRuntime::Custom { instances, .. } if instances > 0));
    let custom = if wants_custom { custom_ready() } else { HashMap::new() };
    let mut pending = Vec::new();
    for (id, function) in config.functions.iter().enumerate() {
        let (ready, wanted) = match &function.runtime {
            FunctionRuntime::Custom { instances, .. } if *instances > 0 => {
                let key = (function.namespace.clone(), function.name.clone(), function.qualifier.clone());
                (custom.get(&key).map_or(0, HashSet::len), *instances)
            }
            FunctionRuntime::Web { instances, .. } if *instances > 0 => {
                let ready = boards.get(id).and_then(Option::as_ref).map_or(0, |board| {
                    (0..board.slots()).filter(|&slot| board.status(slot).state == InstanceState::Ready).count()
                });
                (ready, *instances)
            }
            _ => continue,
        };
        if ready < wanted {
            pending.push(Pending { function: function.display_name(), ready, wanted });
        }
    }
    pending
}

/// Waits until no warm local function is pending, for at most `limit`; `stop` is asked on each
/// look and ends the wait early when it says so. Returns what was still pending when the wait
/// ended (empty: all ready). It looks every 20 ms for the first second (functions that start
/// quickly, and an upgrade waits on this), then every 200 ms (one that takes its time does not
/// cost a /proc scan 50 times a second).
pub fn wait(
    config: &Config,
    boards: &[Option<Arc<WebInstances>>],
    limit: Duration,
    mut stop: impl FnMut() -> bool,
) -> Vec<Pending> {
    let started = Instant::now();
    let deadline = started + limit;
    loop {
        let now_pending = pending(config, boards);
        if now_pending.is_empty() || Instant::now() >= deadline || stop() {
            return now_pending;
        }
        let pause = if started.elapsed() < Duration::from_secs(1) { 20 } else { 200 };
        std::thread::sleep(Duration::from_millis(pause));
    }
}

/// At a plain start, on a thread of its own: once every worker serves and the warm local
/// functions are ready, logs it and sends `READY=1`. After their longest `init_timeout` it sends
/// `READY=1` all the same, naming what is not ready: the gateway serves its other APIs, and one
/// function that never starts should not keep the whole service from starting (nor get it
/// killed by systemd's start timeout). Nothing is sent once a shutdown has begun.
pub fn announce(control: Arc<Control>, config: Arc<Config>, boards: Vec<Option<Arc<WebInstances>>>) {
    let spawned = std::thread::Builder::new().name("scfgate-ready".into()).spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !control.all_serving(1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let waiting = pending(&config, &boards);
        if !waiting.is_empty() {
            crate::notify::status(&format!("starting: waiting for local functions: {}", describe(&waiting)));
        }
        let waiting = wait(&config, &boards, limit(&config) + Duration::from_secs(1), || control.is_draining());
        if control.is_draining() {
            return;
        }
        let serving = format!("serving {} APIs with {} workers", config.apis.len(), config.gateway.workers);
        if waiting.is_empty() {
            tracing::info!("ready: every worker serves and the warm local functions are ready");
            crate::notify::ready(&serving);
        } else {
            let waiting = describe(&waiting);
            tracing::warn!(%waiting, "ready, but some local functions are not: they were not ready within their init_timeout");
            crate::notify::ready(&format!("{serving}; not ready: {waiting}"));
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the readiness thread; READY=1 is sent now");
        crate::notify::ready("serving");
    }
}

/// `(namespace, name, qualifier)` of a custom-runtime function.
type FunctionKey = (String, String, String);

/// Per custom function, the runtime-API ports of this process's children that hold a
/// connection to their runtime API.
fn custom_ready() -> HashMap<FunctionKey, HashSet<u16>> {
    let connected = established_local_ports(&std::fs::read_to_string("/proc/self/net/tcp").unwrap_or_default());
    let mut ready: HashMap<FunctionKey, HashSet<u16>> = HashMap::new();
    for pid in children(std::process::id()) {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if let Some((key, port)) = runtime_api_of(&environ) {
            if connected.contains(&port) {
                ready.entry(key).or_default().insert(port);
            }
        }
    }
    ready
}

/// The pids whose parent is `parent` (scanning `/proc`).
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parent_of(&stat))
                .is_some_and(|ppid| ppid == parent)
        })
        .collect()
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid ...`, where `comm` may
/// hold spaces and parentheses, so the fields are read after its last `)`.
fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A custom-runtime process's function and runtime-API port, from its environment
/// (`/proc/<pid>/environ`: `NAME=value` entries separated by NUL).
fn runtime_api_of(environ: &[u8]) -> Option<(FunctionKey, u16)> {
    let mut found: [Option<&str>; 4] = [None; 4];
    const NAMES: [&str; 4] = ["SCF_NAMESPACE=", "SCF_FUNCTIONNAME=", "SCF_FUNCTIONVERSION=", "SCF_RUNTIME_API_PORT="];
    for entry in environ.split(|&byte| byte == 0) {
        let Ok(entry) = std::str::from_utf8(entry) else { continue };
        for (slot, name) in found.iter_mut().zip(NAMES) {
            if let Some(value) = entry.strip_prefix(name) {
                *slot = Some(value);
            }
        }
    }
    let [Some(namespace), Some(name), Some(qualifier), Some(port)] = found else { return None };
    Some(((namespace.to_owned(), name.to_owned(), qualifier.to_owned()), port.parse().ok()?))
}

/// Local ports of the established connections in a `/proc/net/tcp` table (`sl local_address
/// rem_address st ...`, addresses as `HEXIP:HEXPORT`, state `01` = ESTABLISHED).
fn established_local_ports(table: &str) -> HashSet<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != "01" {
                return None;
            }
            u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_the_command_name() {
        assert_eq!(parent_of("4242 (boot strap) (x)) S 17 4242 4242 0 -1"), Some(17));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn a_runtime_api_process_is_known_by_its_scf_variables() {
        let environ = b"PATH=/usr/bin\0SCF_NAMESPACE=default\0SCF_FUNCTIONNAME=hello\0SCF_FUNCTIONVERSION=$LATEST\0SCF_RUNTIME_API=127.0.0.1\0SCF_RUNTIME_API_PORT=40123\0";
        let ((namespace, name, qualifier), port) = runtime_api_of(environ).unwrap();
        assert_eq!(
            (namespace.as_str(), name.as_str(), qualifier.as_str(), port),
            ("default", "hello", "$LATEST", 40123)
        );
        // A web function's process has no runtime API.
        assert_eq!(
            runtime_api_of(b"SCF_NAMESPACE=default\0SCF_FUNCTIONNAME=site\0SCF_FUNCTIONVERSION=1\0PORT=9000\0"),
            None
        );
    }

    #[test]
    fn only_established_connections_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9CBB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:9CBB 0100007F:D6D8 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D6DA 06 00000000:00000000 03:00000B9D 00000000     0        0 0 3 0
";
        assert_eq!(established_local_ports(table), HashSet::from([0x9CBB]));
    }
}
