//! The `scfgate` binary: parse flags, load the configuration, start the function host and the
//! workers, and wait for a signal. Everything else lives in the library.

use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use scfgate::backend::invoke::Endpoint;
use scfgate::cli::Args;
use scfgate::config::{self, Config, FunctionRuntime};
use scfgate::function_host;
use scfgate::router::Router;
use scfgate::{listener, runtime, worker};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match config::load(&args.config, &args.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let router = match Router::build(&config) {
        Ok(router) => router,
        Err(error) => {
            eprintln!("error: {}", error.0);
            return ExitCode::from(2);
        }
    };
    if !config.certificates.is_empty() {
        // Certificates are read and checked here so --check catches a bad one too.
        if let Err(error) = scfgate::tls::server_config(&config.certificates) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    }
    if args.check {
        print!("{}", scfgate::check::route_table(&config));
        println!("{}: configuration is valid", config.source.display());
        return ExitCode::SUCCESS;
    }
    match serve(args, config, router) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args, config: Config, router: Router) -> Result<(), String> {
    let config = Arc::new(config);
    let driver = runtime::probe(config.gateway.driver)?;
    let workers = config.gateway.workers;
    let tls = if config.gateway.tls_listen.is_empty() {
        None
    } else {
        Some(scfgate::tls::server_config(&config.certificates).map_err(|error| error.to_string())?)
    };
    let bound = listener::bind_all(&config.gateway.listen, workers, args.backlog).map_err(|error| error.to_string())?;
    let bound_tls = listener::bind_all(&config.gateway.tls_listen, workers, args.backlog).map_err(|error| error.to_string())?;
    let host = function_host::start(config.clone(), driver).map_err(|error| format!("cannot start the function host: {error}"))?;
    let endpoints: Vec<Endpoint> = config
        .functions
        .iter()
        .enumerate()
        .map(|(id, function)| match &function.runtime {
            FunctionRuntime::Remote { addr, host_header, path, .. } => {
                Endpoint { addr: *addr, host_header: host_header.clone(), path: path.clone() }
            }
            FunctionRuntime::Custom { .. } => Endpoint {
                addr: host.as_ref().expect("a host runs every local function").invoke_address,
                host_header: "scfgate-function-host".into(),
                path: function_host::invoke_path(id),
            },
        })
        .collect();
    let endpoints = Arc::new(endpoints);
    let router = Arc::new(router);
    let cores = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(1);
    let mut tls_per_worker = bound_tls.per_worker.into_iter();
    for (index, listeners) in bound.per_worker.into_iter().enumerate() {
        let (config, router, endpoints) = (config.clone(), router.clone(), endpoints.clone());
        let tls_listeners = tls_per_worker.next().unwrap_or_default();
        let tls = tls.clone();
        let pin = args.pin_cores.then_some(index % cores);
        let ring_entries = args.ring_entries;
        std::thread::Builder::new()
            .name(format!("scfgate-worker-{index}"))
            .spawn(move || {
                if let Some(core) = pin {
                    pin_to_core(core);
                }
                let context = Rc::new(worker::WorkerContext::new(index, config, router, endpoints));
                let serving = worker::serve_all(context, listeners, tls_listeners, tls);
                if let Err(error) = runtime::block_on(driver, ring_entries, serving) {
                    tracing::error!(worker = index, %error, "worker runtime failed to start");
                    std::process::exit(1);
                }
            })
            .map_err(|error| format!("cannot start worker {index}: {error}"))?;
    }
    for address in &bound.addresses {
        tracing::info!(workers, driver = driver.describe(), "scfgate listening on http://{address}");
    }
    for address in &bound_tls.addresses {
        tracing::info!(workers, driver = driver.describe(), "scfgate listening on https://{address}");
    }
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|error| error.to_string())?;
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "shutting down: stopping function processes");
    }
    if let Some(host) = host {
        host.processes.kill_all();
    }
    Ok(())
}

fn pin_to_core(core: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, ...) affects only the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(core, "cannot pin worker to core");
        }
    }
}
