//! Local functions (`runtime = "custom"`): their `bootstrap` processes, the SCF custom-runtime API
//! they poll, and the loopback invoke endpoint the workers send events to.
//!
//! One host thread owns every local function; the workers reach it over loopback HTTP through the
//! same pooled invoke client they use for remote functions. A function process is a resource
//! shared by all cores (one invocation at a time per instance), so it is owned by one thread
//! rather than locked; the hop costs a loopback round trip, small beside a process's work.
//!
//! Per function: `instances` processes, each with its own runtime-API port; a bounded queue of
//! waiting invocations; a supervisor that restarts crashed or stuck processes with backoff and
//! fails the request a dead process held with a 502 (never a hang).

mod process;
mod runtime_api;
mod state;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use process::ProcessRegistry;

use crate::config::{Config, FunctionRuntime};
use crate::runtime::ActiveDriver;

/// What the rest of the gateway needs from a running host.
pub struct FunctionHostHandle {
    /// Where workers send `POST /invoke/{function id}`.
    pub invoke_address: SocketAddr,
    /// Live function processes, for shutdown.
    pub processes: ProcessRegistry,
    stop: Arc<AtomicBool>,
}

impl FunctionHostHandle {
    /// Stops the host: its processes are killed and its thread ends (after a reload replaced it,
    /// or at shutdown).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.processes.kill_all();
    }
}

/// The request target of function `id` on the invoke endpoint.
pub fn invoke_path(function_id: usize) -> String {
    format!("/invoke/{function_id}")
}

/// Binds the invoke endpoint and one runtime-API port per instance on loopback, then starts the
/// host thread, which starts the processes. Returns `None` when no function runs locally.
pub fn start(config: Arc<Config>, driver: ActiveDriver) -> io::Result<Option<FunctionHostHandle>> {
    let local = config.functions.iter().any(|function| matches!(function.runtime, FunctionRuntime::Custom { .. }));
    if !local {
        return Ok(None);
    }
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    let invoke_listener = crate::listener::bind_one(loopback, 1024)?;
    let invoke_address = invoke_listener.local_addr()?;
    let mut instance_listeners: Vec<Vec<TcpListener>> = Vec::new();
    for function in &config.functions {
        let count = match function.runtime {
            FunctionRuntime::Custom { instances, .. } => instances,
            FunctionRuntime::Remote { .. } | FunctionRuntime::TencentCloud(_) => 0,
        };
        let listeners = (0..count).map(|_| crate::listener::bind_one(loopback, 64)).collect::<io::Result<Vec<_>>>()?;
        instance_listeners.push(listeners);
    }
    let processes = ProcessRegistry::default();
    let host_processes = processes.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let host_stop = stop.clone();
    std::thread::Builder::new().name("scfgate-functions".into()).spawn(move || {
        let run = async move {
            let host = Rc::new(state::Host::new(&config, instance_listeners, host_processes));
            host.run(invoke_listener, host_stop).await;
        };
        if let Err(error) = crate::runtime::block_on(driver, 256, run) {
            tracing::error!(%error, "function host runtime failed to start");
        }
    })?;
    Ok(Some(FunctionHostHandle { invoke_address, processes, stop }))
}
