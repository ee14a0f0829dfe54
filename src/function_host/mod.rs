//! Local functions (`runtime = "custom"`): their `bootstrap` processes, the SCF custom-runtime API
//! they poll, and the loopback invoke endpoint the workers send events to; and the processes of
//! web functions (`runtime = "web"`, [`web`]), which the workers reach on their own ports.
//!
//! One host thread owns every local function; the workers reach it over loopback HTTP through the
//! same pooled invoke client they use for remote functions. A function process is a resource
//! shared by all cores (one invocation at a time per instance), so it is owned by one thread
//! rather than locked; the hop costs a loopback round trip, small beside a process's work.
//!
//! Per function: between `instances` and `max_instances` processes, each with its own
//! runtime-API port; a bounded queue of waiting invocations; a supervisor that scales with the
//! queue, restarts crashed or stuck processes with backoff and fails the request a dead process
//! held with a 502 (never a hang). Each process's output is logged line by line (`output`), and
//! with `--watch` a changed code folder restarts that function's processes (`watch`). Web
//! functions get the same life from their own supervisor (`web`), which shares each function's
//! instance states and loads with the workers through a board of atomics (`web_instances`).

mod output;
mod process;
mod runtime_api;
mod state;
mod watch;
pub mod web;
pub mod web_instances;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// By function id: a web function's instances as the workers see them (`None` for others).
    pub web_instances: Vec<Option<Arc<web_instances::WebInstances>>>,
    stop: Arc<AtomicBool>,
    /// The code folder of each local function, by function id, for `--watch`.
    code_folders: Vec<(usize, PathBuf)>,
    /// Per function id: bumped when its code folder changed; the host restarts its processes.
    code_changes: Arc<[AtomicU64]>,
}

impl FunctionHostHandle {
    /// Stops the host: its processes are killed and its thread ends (after a reload replaced it,
    /// or at shutdown).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.processes.kill_all();
    }

    /// `--watch`: starts a thread that restarts a function's processes when a file under its
    /// code folder changes; it ends when the host stops.
    pub fn watch_code_folders(&self) -> io::Result<()> {
        watch::start(self.code_folders.clone(), self.code_changes.clone(), self.stop.clone())
    }
}

/// The request target of function `id` on the invoke endpoint.
pub fn invoke_path(function_id: usize) -> String {
    format!("/invoke/{function_id}")
}

/// Binds the invoke endpoint and one runtime-API port per instance on loopback, then starts the
/// host thread, which starts the processes. Returns `None` when no function runs locally.
///
/// Ports are bound for `max_instances` up front, not when scaling: a port that cannot be bound
/// fails the start (or the reload) instead of a burst of traffic later, and scaling up is then
/// only starting a process. The cost is one idle listening socket per possible instance.
pub fn start(config: Arc<Config>, driver: ActiveDriver) -> io::Result<Option<FunctionHostHandle>> {
    let local = config
        .functions
        .iter()
        .any(|function| matches!(function.runtime, FunctionRuntime::Custom { .. } | FunctionRuntime::Web { .. }));
    if !local {
        return Ok(None);
    }
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    let invoke_listener = crate::listener::bind_one(loopback, 1024)?;
    let invoke_address = invoke_listener.local_addr()?;
    let mut instance_listeners: Vec<Vec<TcpListener>> = Vec::new();
    let mut code_folders = Vec::new();
    for (id, function) in config.functions.iter().enumerate() {
        let count = match &function.runtime {
            FunctionRuntime::Custom { max_instances, code, .. } => {
                code_folders.push((id, code.clone()));
                *max_instances
            }
            FunctionRuntime::Web { code, .. } => {
                code_folders.push((id, code.clone()));
                0
            }
            FunctionRuntime::Remote { .. } | FunctionRuntime::TencentCloud(_) => 0,
        };
        let listeners = (0..count).map(|_| crate::listener::bind_one(loopback, 64)).collect::<io::Result<Vec<_>>>()?;
        instance_listeners.push(listeners);
    }
    let web_ports = web::choose_ports(&config)?;
    let web_instances = web::boards(&config, &web_ports);
    let supervised_boards = web_instances.clone();
    let processes = ProcessRegistry::default();
    let host_processes = processes.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let host_stop = stop.clone();
    let code_changes: Arc<[AtomicU64]> = config.functions.iter().map(|_| AtomicU64::new(0)).collect();
    let host_code_changes = code_changes.clone();
    std::thread::Builder::new().name("scfgate-functions".into()).spawn(move || {
        let run = async move {
            // Web functions' processes are supervised beside the custom runtime's, on this thread.
            monoio::spawn(web::supervise(
                config.clone(),
                web_ports,
                supervised_boards,
                host_processes.clone(),
                host_code_changes.clone(),
                host_stop.clone(),
            ));
            let host = Rc::new(state::Host::new(&config, instance_listeners, host_processes, host_code_changes));
            host.run(invoke_listener, host_stop).await;
        };
        if let Err(error) = crate::runtime::block_on(driver, 256, run) {
            tracing::error!(%error, "function host runtime failed to start");
        }
    })?;
    Ok(Some(FunctionHostHandle { invoke_address, processes, web_instances, stop, code_folders, code_changes }))
}
