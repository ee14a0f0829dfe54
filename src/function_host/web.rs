//! Web functions (`runtime = "web"`): their `scf_bootstrap` processes, each an HTTP server on a
//! loopback port of its own, started, watched until the port accepts connections, and restarted
//! with backoff when they exit or do not come up within `init_timeout`.
//!
//! Requests never pass through here: each worker proxies them straight to the ports
//! (`crate::backend::web`) over its own pooled connections. This task runs on the function host
//! thread, beside the custom runtime's supervisor, and shares only the process registry with it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::output::{OutputTags, RunningRequest, StderrTail};
use super::process::{self, ProcessRegistry};
use crate::config::{Config, FunctionRuntime};

/// How often processes are looked at (exits, readiness, restarts).
const TICK: Duration = Duration::from_millis(20);
/// How long one readiness probe may take to connect.
const PROBE_LIMIT: Duration = Duration::from_millis(200);

/// The loopback port of each instance of each web function, by function id (empty for other
/// runtimes). A function that insists on a port gets it; every other instance gets a free port
/// found by binding `127.0.0.1:0`.
pub fn choose_ports(config: &Config) -> io::Result<Vec<Vec<u16>>> {
    // Every probe socket stays bound until all ports are chosen, so no two instances get the same
    // one; the function binds its port moments later (a port taken in between shows up as a
    // process that cannot start, and is retried like any other failed start).
    let mut probes: Vec<TcpListener> = Vec::new();
    let mut ports = Vec::with_capacity(config.functions.len());
    for function in &config.functions {
        let chosen = match &function.runtime {
            FunctionRuntime::Web { port: Some(port), .. } => vec![*port],
            FunctionRuntime::Web { instances, port: None, .. } => (0..*instances)
                .map(|_| {
                    let probe = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
                    let port = probe.local_addr()?.port();
                    probes.push(probe);
                    Ok(port)
                })
                .collect::<io::Result<Vec<u16>>>()?,
            _ => Vec::new(),
        };
        ports.push(chosen);
    }
    Ok(ports)
}

/// The address the gateway reaches an instance on.
pub fn instance_address(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// One web function: what its processes are started with, and its instances.
struct WebFunction {
    spec: Spec,
    instances: Vec<Instance>,
}

/// What starting and logging an instance needs of its function.
struct Spec {
    label: Arc<str>,
    code: PathBuf,
    name: String,
    namespace: String,
    qualifier: String,
    memory_mb: u32,
    init_timeout: Duration,
}

#[derive(Default)]
struct Instance {
    port: u16,
    child: Option<Child>,
    started_at: Option<Instant>,
    /// Its port has accepted a connection since it started.
    ready: bool,
    restart_at: Option<Instant>,
    /// The last lines its process wrote to stderr, for the log when it fails to start.
    stderr_tail: Option<StderrTail>,
    /// Consecutive starts that ended before the process had been up a while.
    failures: u32,
}

/// A process that ran this long before exiting is not counted as crash-looping.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// Supervises every web function of `config` until `stop` is set (the host then kills every
/// registered process).
pub async fn supervise(config: Arc<Config>, ports: Vec<Vec<u16>>, processes: ProcessRegistry, stop: Arc<AtomicBool>) {
    let now = Instant::now();
    let mut functions: Vec<WebFunction> = config
        .functions
        .iter()
        .zip(ports)
        .filter_map(|(function, ports)| match &function.runtime {
            FunctionRuntime::Web { code, init_timeout, .. } => Some(WebFunction {
                spec: Spec {
                    label: function.display_name().into(),
                    code: code.clone(),
                    name: function.name.clone(),
                    namespace: function.namespace.clone(),
                    qualifier: function.qualifier.clone(),
                    memory_mb: function.memory_mb,
                    init_timeout: *init_timeout,
                },
                instances: ports.into_iter().map(|port| Instance { port, restart_at: Some(now), ..Default::default() }).collect(),
            }),
            _ => None,
        })
        .collect();
    if functions.is_empty() {
        return;
    }
    while !stop.load(Ordering::Acquire) {
        for function in &mut functions {
            for (number, instance) in function.instances.iter_mut().enumerate() {
                supervise_instance(&function.spec, number, instance, &processes).await;
            }
        }
        monoio::time::sleep(TICK).await;
    }
}

async fn supervise_instance(function: &Spec, number: usize, instance: &mut Instance, processes: &ProcessRegistry) {
    let now = Instant::now();
    if let Some(child) = instance.child.as_mut() {
        let pid = child.id() as i32;
        match child.try_wait() {
            Ok(Some(status)) => {
                processes.remove(pid);
                instance.child = None;
                let ran_for = instance.started_at.map(|started| now - started).unwrap_or_default();
                instance.failures = if ran_for > STABLE_RUN { 1 } else { instance.failures + 1 };
                let backoff = backoff(instance.failures);
                instance.restart_at = Some(now + backoff);
                instance.ready = false;
                tracing::warn!(function = %function.label, instance = number, port = instance.port, %status, restart_in_ms = backoff.as_millis() as u64, "web function process exited");
                return;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(function = %function.label, %error, "cannot check a web function process"),
        }
        if instance.ready {
            return;
        }
        let address = instance_address(instance.port);
        let probe = monoio::time::timeout(PROBE_LIMIT, monoio::net::TcpStream::connect_addr(address)).await;
        if matches!(probe, Ok(Ok(_))) {
            instance.ready = true;
            tracing::info!(function = %function.label, instance = number, port = instance.port, pid, "web function ready");
        } else if instance.started_at.is_some_and(|started| now - started > function.init_timeout) {
            let stderr_tail = instance.stderr_tail.as_ref().map(StderrTail::text).unwrap_or_default();
            tracing::error!(function = %function.label, instance = number, port = instance.port, init_timeout_s = function.init_timeout.as_secs_f64(), %stderr_tail, "web function did not accept connections on its port within init_timeout; restarting it");
            process::kill_group(pid);
        }
        return;
    }
    if instance.restart_at.is_none_or(|at| now < at) {
        return;
    }
    instance.restart_at = None;
    // Web requests do not pass through the host, so output lines carry no request id.
    let output = Arc::new(OutputTags { function: function.label.clone(), instance: number, running_request: RunningRequest::default() });
    match process::spawn_command(command(function, instance.port), function.memory_mb, &output, processes) {
        Ok((child, stderr_tail)) => {
            instance.stderr_tail = Some(stderr_tail);
            tracing::info!(function = %function.label, instance = number, pid = child.id(), port = instance.port, "started function process");
            instance.child = Some(child);
            instance.started_at = Some(now);
        }
        Err(error) => {
            instance.failures += 1;
            let backoff = backoff(instance.failures);
            tracing::error!(function = %function.label, instance = number, %error, retry_in_ms = backoff.as_millis() as u64, "cannot start the web function's scf_bootstrap");
            instance.restart_at = Some(now + backoff);
        }
    }
}

/// `scf_bootstrap` with the environment SCF gives a web function: the port to listen on (`PORT`;
/// Tencent's own servers listen on 9000 without being told, hence `port = 9000` for them) and
/// the function's identity, as the custom runtime gets it.
fn command(function: &Spec, port: u16) -> Command {
    let mut command = Command::new(function.code.join("scf_bootstrap"));
    command
        .current_dir(&function.code)
        .env("PORT", port.to_string())
        .env("SCF_FUNCTIONNAME", &function.name)
        .env("SCF_NAMESPACE", &function.namespace)
        .env("SCF_FUNCTIONVERSION", &function.qualifier)
        .env("SCF_FUNCTIONMEMORYSIZE", function.memory_mb.to_string())
        .env("TENCENTCLOUD_RUNENV", "SCF")
        .envs(crate::websocket::push::function_environment().iter().map(|(name, value)| (name, value)));
    command
}

/// 100 ms doubling to 5 s, as for custom-runtime processes: quick recovery from a one-off crash,
/// no hot loop for a broken function.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_millis(100 << exponent).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_seconds() {
        let steps: Vec<u64> = (1..=8).map(|failures| backoff(failures).as_millis() as u64).collect();
        assert_eq!(steps, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
