//! The `scfgate` binary: parse flags, load the configuration, start the function host and the
//! workers, and wait for a signal. Everything else lives in the library.

use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

use scfgate::admin::Management;
use scfgate::backend::invoke::Endpoint;
use scfgate::cli::{AccessLogFormat, Args};
use scfgate::config::{self, Config, FunctionRuntime};
use scfgate::control::{Control, Generation};
use scfgate::function_host::{self, FunctionHost, Reach};
use scfgate::listener::{Kind, Sockets};
use scfgate::router::Router;
use scfgate::{notify, runtime, upgrade, worker};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(import) = scfgate::cli::ImportArgs::from_command_line() {
        return scfgate::import::main(import);
    }
    let args = Args::parse();
    let _log_writer = init_logging(&args);
    if (args.reload || args.upgrade) && args.state_dir().is_some() {
        // The running gateway holds the state; only the file's own tables need checking here.
        let parsed = std::fs::read_to_string(&args.config)
            .map_err(|error| format!("{}: cannot read the file: {error}", args.config.display()))
            .and_then(|text| config::validate::parse_file(&text, &args.config).map_err(|error| error.to_string()));
        if let Err(error) = parsed {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        return if args.upgrade { request_upgrade(&args) } else { signal_reload(&args) };
    }
    // With a state directory, the management plane's state decides what is served.
    let loaded = match args.state_dir() {
        Some(dir) => Management::open(&args.config, &dir, &args.overrides(), args.max_releases, args.check)
            .map(|(management, config)| (Some(management), config)),
        None => config::load(&args.config, &args.overrides())
            .map(|config| (None, config))
            .map_err(|error| error.to_string()),
    };
    let (management, config) = match loaded {
        Ok(loaded) => loaded,
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
    if args.reload {
        return signal_reload(&args);
    }
    if args.upgrade {
        return request_upgrade(&args);
    }
    if args.check {
        print!("{}", scfgate::check::route_table(&config));
        println!("{}: configuration is valid", config.source.display());
        return ExitCode::SUCCESS;
    }
    match serve(args, config, router, management) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // When this process was started by an upgrade, the running one hears why it failed.
            upgrade::report_failure(&error);
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr through a writer thread (`tracing_appender`): a worker formats its line
/// and hands it over, never waiting on the pipe or the journal; when the writer falls behind by
/// more than its buffer, lines are dropped rather than workers stalled. The access log is its
/// own target, off unless asked for (it costs a line per request), in the text or JSON format.
/// The returned guard flushes what is buffered when `main` returns.
fn init_logging(args: &Args) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(true).finish(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let filter = format!("{},access=off", args.log);
    let general = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_ansi(ansi)
        .with_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info,access=off".into()));
    let access_only = tracing_subscriber::filter::Targets::new().with_target("access", tracing::Level::INFO);
    // Without an access layer at all when it is off: then `tracing::enabled!(target: "access")`
    // is false and a request pays nothing for the access log.
    let registry = tracing_subscriber::registry().with(general);
    match args.access_log_format {
        Some(AccessLogFormat::Json) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(writer)
                    .with_filter(access_only),
            )
            .init(),
        Some(AccessLogFormat::Text) | None if args.access_log || args.access_log_format.is_some() => registry
            .with(tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).with_filter(access_only))
            .init(),
        _ => registry.init(),
    }
    guard
}

/// Raises the open-file soft limit to the hard limit: every connection is a descriptor, and
/// running out would leave new connections waiting in the backlog instead of being answered.
fn raise_descriptor_limit() {
    // SAFETY: getrlimit/setrlimit on a stack struct for this process's RLIMIT_NOFILE.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                tracing::debug!(open_files = limit.rlim_cur, "raised the open-file limit");
            }
        }
    }
}

fn serve(args: Args, config: Config, router: Router, management: Option<Arc<Management>>) -> Result<(), String> {
    raise_descriptor_limit();
    // A binary upgrade's new process adopts the running one's listening sockets (crate::upgrade).
    let inheritance = upgrade::receive()?;
    let upgrading = inheritance.is_some();
    let mut inheritance = inheritance.unwrap_or_default();
    let mut sockets = Sockets::new(std::mem::take(&mut inheritance.sockets), args.backlog);
    // Refused before anything starts: an admin API off loopback without a token.
    let admin = match args.admin_listen {
        Some(address) => {
            let token = scfgate::admin::admin_token(args.admin_token_file.as_deref(), address)?;
            let listener = sockets
                .bind_plain(Kind::Admin, address)
                .map_err(|error| format!("cannot listen on {address} for the admin API: {error}"))?;
            Some((listener, token))
        }
        None => None,
    };
    let metrics_listener = match args.metrics_listen {
        Some(address) => Some(
            sockets
                .bind_plain(Kind::Metrics, address)
                .map_err(|error| format!("cannot listen on {address} for metrics: {error}"))?,
        ),
        None => None,
    };
    // Before anything is announced: SIGHUP's default action would end the process, so a reload
    // asked for right after "listening" must already find the handler in place.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR2]).map_err(|error| error.to_string())?;
    let config = Arc::new(config);
    let driver = runtime::probe(config.gateway.driver)?;
    let workers = config.gateway.workers;
    let tls = tls_config(&config)?;
    let bound = sockets.bind_all(Kind::Http, &config.gateway.listen, workers).map_err(|error| error.to_string())?;
    let bound_tls =
        sockets.bind_all(Kind::Https, &config.gateway.tls_listen, workers).map_err(|error| error.to_string())?;
    // Before the function host starts: its processes are told where to push.
    let push = scfgate::websocket::push::bind(&config, &mut sockets).map_err(|error| error.to_string())?;
    let mut push_per_worker =
        push.map(scfgate::websocket::push::PushListeners::into_workers).unwrap_or_default().into_iter();
    upgrade::inherit::check(&inheritance, &sockets, &config)?;
    let hosts = FunctionHosts::start(&config, driver, args.watch)?;
    let reach = hosts.reach.clone();
    if upgrading {
        // Before any worker accepts: if they do not get ready, the running process serves on.
        upgrade::inherit::await_functions(&config, &reach)?;
    }
    let endpoints = hosts.endpoints(&config);
    let hosts = Arc::new(std::sync::Mutex::new(hosts));
    let generation = Generation { number: 1, config: config.clone(), router: Arc::new(router), endpoints, tls };
    let control = Control::new(generation, workers);
    let metrics = control.metrics.clone();
    metrics.set_functions(lock(&hosts).stats());
    metrics.set_readiness(readiness_probe(control.clone(), lock(&hosts).published.clone()));
    metrics.start_sampler();
    if let Some(listener) = metrics_listener {
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        scfgate::metrics::server::serve(listener, metrics.clone())
            .map_err(|error| format!("cannot start the metrics listener: {error}"))?;
        tracing::info!("scfgate metrics on http://{address}/metrics (and /healthz, /readyz)");
    }
    let cores = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(1);
    let mut tls_per_worker = bound_tls.per_worker.into_iter();
    for (index, listeners) in bound.per_worker.into_iter().enumerate() {
        let control = control.clone();
        let tls_listeners = tls_per_worker.next().unwrap_or_default();
        let push = push_per_worker.next();
        let pin = args.pin_cores.then_some(index % cores);
        let ring_entries = args.ring_entries;
        std::thread::Builder::new()
            .name(format!("scfgate-worker-{index}"))
            .spawn(move || {
                if let Some(core) = pin {
                    pin_to_core(core);
                }
                let context = Rc::new(worker::WorkerContext::with_control(index, control));
                let serving = async move {
                    if let Some(push) = push {
                        scfgate::websocket::push::start(&context, push);
                    }
                    worker::serve_all(context, listeners, tls_listeners).await
                };
                if let Err(error) = runtime::block_on(driver, ring_entries, serving) {
                    tracing::error!(worker = index, %error, "worker runtime failed to start");
                    std::process::exit(1);
                }
            })
            .map_err(|error| format!("cannot start worker {index}: {error}"))?;
    }
    let pid_file = args.pid_file.clone();
    if let Some(path) = &pid_file {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|error| format!("cannot write the pid file {}: {error}", path.display()))?;
    }
    for address in &bound.addresses {
        tracing::info!(workers, driver = driver.describe(), "scfgate listening on http://{address}");
    }
    for address in &bound_tls.addresses {
        tracing::info!(workers, driver = driver.describe(), "scfgate listening on https://{address}");
    }
    if let Some(management) = &management {
        let (control, hosts) = (control.clone(), hosts.clone());
        let apply: scfgate::admin::Apply = Box::new(move |config| {
            let applied = apply(config, &control, &mut lock(&hosts));
            control.metrics.record_reload(applied.is_ok());
            applied
        });
        management.attach(apply, bound.addresses.clone());
        management.set_metrics(metrics.clone());
        if let Some((listener, token)) = admin {
            let address = listener.local_addr().map_err(|error| error.to_string())?;
            management.serve(listener, token);
            tracing::info!("scfgate admin API listening on http://{address}");
        }
    }
    if upgrading {
        upgrade::inherit::take_over(&control);
    } else {
        scfgate::readiness::announce(control.clone(), config.clone(), reach);
    }
    for signal in signals.forever() {
        if signal == SIGHUP {
            notify::reloading("reloading the configuration");
            match &management {
                // An applied reload was counted by the admin's apply; one refused before it is
                // counted here.
                Some(management) => match management.reload_file() {
                    Ok(generation) => tracing::info!(generation, "configuration reloaded"),
                    Err(error) => {
                        metrics.record_reload(false);
                        tracing::error!("reload refused, still serving the previous configuration: {error}")
                    }
                },
                None => metrics.record_reload(reload(&args, &control, &mut lock(&hosts))),
            }
            notify::reloaded(&format!("serving configuration generation {}", control.latest_number()));
            continue;
        }
        if signal == SIGUSR2 {
            if upgrade::upgrade_and_drain(&control, &mut sockets, pid_file.as_deref(), management.as_deref()) {
                break;
            }
            continue;
        }
        // The workers' sockets then close with them, refusing new connections.
        sockets.close_held();
        drain(&control);
        break;
    }
    lock(&hosts).stop_all();
    if let Some(path) = &pid_file {
        // After an upgrade the file names the new process.
        let ours = std::fs::read_to_string(path).is_ok_and(|text| text.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }
    tracing::info!("scfgate stopped");
    Ok(())
}

/// `--reload`: the file was just validated; signal the running gateway to load it.
fn signal_reload(args: &Args) -> ExitCode {
    let path = args.pid_file.as_ref().expect("clap requires --pid-file with --reload");
    let pid = match std::fs::read_to_string(path).ok().and_then(|text| text.trim().parse::<i32>().ok()) {
        Some(pid) if pid > 0 => pid,
        _ => {
            eprintln!("error: {}: no gateway pid in this file (is scfgate running with --pid-file?)", path.display());
            return ExitCode::from(2);
        }
    };
    // SAFETY: kill(2) sends a signal to a process id; no memory is involved.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        eprintln!("error: cannot signal pid {pid}: {}", std::io::Error::last_os_error());
        return ExitCode::from(2);
    }
    println!("{}: valid; asked scfgate (pid {pid}) to reload it", args.config.display());
    ExitCode::SUCCESS
}

/// `--upgrade`: the file was just validated; ask the running gateway to upgrade and wait.
fn request_upgrade(args: &Args) -> ExitCode {
    let path = args.pid_file.as_ref().expect("clap requires --pid-file with --upgrade");
    match upgrade::request(path) {
        Ok(outcome) => {
            println!("{outcome}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// SIGTERM/SIGINT: stop accepting, let requests in flight finish (up to the shutdown timeout),
/// then return so the function processes are stopped and the process exits.
fn drain(control: &Control) {
    let timeout = control.latest().config.gateway.shutdown_timeout;
    notify::stopping("shutting down: finishing requests in flight");
    tracing::info!(
        timeout_s = timeout.as_secs_f64(),
        "shutting down: no new connections; finishing requests in flight"
    );
    control.start_draining();
    let deadline = std::time::Instant::now() + timeout;
    while !control.drained() {
        if std::time::Instant::now() >= deadline {
            tracing::warn!(
                in_flight = control.requests_in_flight(),
                "shutdown timeout reached with requests still in flight"
            );
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGHUP: load and validate the file again; on success every worker switches to it between
/// requests (requests in flight finish on the old one); on failure the old one keeps serving.
/// Returns whether it was applied.
fn reload(args: &Args, control: &Control, hosts: &mut FunctionHosts) -> bool {
    let result = config::load(&args.config, &args.overrides()).map_err(|error| error.to_string()).and_then(|config| {
        let (apis, functions) = (config.apis.len(), config.functions.len());
        apply(config, control, hosts).map(|generation| (generation, apis, functions))
    });
    match result {
        Ok((generation, apis, functions)) => {
            tracing::info!(generation, apis, functions, "configuration reloaded");
            true
        }
        Err(error) => {
            tracing::error!(
                generation = control.latest_number(),
                "reload refused, still serving the previous configuration: {error}"
            );
            false
        }
    }
}

/// What `/readyz` asks: every worker serves the latest generation, and the warm local functions
/// of the configuration the function host last ran have their instances ready.
fn readiness_probe(
    control: Arc<Control>,
    published: Arc<std::sync::Mutex<Published>>,
) -> scfgate::metrics::ReadinessProbe {
    Box::new(move || {
        if control.is_draining() {
            return Err("shutting down".into());
        }
        let latest = control.latest_number();
        if !control.all_serving(latest) {
            return Err(format!("not every worker serves configuration generation {latest} yet"));
        }
        let published = published.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(config) = &published.config else { return Ok(()) };
        let pending = scfgate::readiness::pending(config, &published.reach);
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("local functions not ready: {}", scfgate::readiness::describe(&pending)))
        }
    })
}

/// Puts a validated configuration into service: compiles its routes and TLS, starts changed
/// local functions, publishes it as the next generation and returns once every worker serves it
/// (or after a bounded wait). SIGHUP reloads and the admin API's publishes both come here.
fn apply(config: Config, control: &Control, hosts: &mut FunctionHosts) -> Result<u64, String> {
    if config.apis.iter().any(|api| api.websocket.is_some()) && !scfgate::websocket::push::is_running() {
        // Its sockets, token and the functions' SCFGATE_PUSH_URL are set up once, at start: a
        // WebSocket API served without them could never send its clients anything.
        return Err("WebSocket APIs need the reverse-push endpoint (push_listen), which opens at start only when the configuration has a WebSocket API; restart scfgate to serve the first one".into());
    }
    let current = control.latest();
    let config = Arc::new(config);
    let router = Arc::new(Router::build(&config).map_err(|error| error.0)?);
    let tls = tls_config(&config)?;
    let old = &current.config.gateway;
    if config.gateway.listen != old.listen
        || config.gateway.tls_listen != old.tls_listen
        || config.gateway.workers != old.workers
    {
        tracing::warn!(
            "listen, tls_listen and workers changes take effect at the next restart; keeping the current listeners"
        );
    }
    hosts.update(&config)?;
    control.metrics.set_functions(hosts.stats());
    let endpoints = hosts.endpoints(&config);
    let number = current.number + 1;
    control.publish(Generation { number, config, router, endpoints, tls });
    // Applied means every worker serves it: they swap between requests on their next tick.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !control.all_serving(number) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(number)
}

/// The function hosts are used by the main thread (SIGHUP) and the admin thread (publish).
fn lock(hosts: &std::sync::Mutex<FunctionHosts>) -> std::sync::MutexGuard<'_, FunctionHosts> {
    hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tls_config(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    if config.gateway.tls_listen.is_empty() {
        return Ok(None);
    }
    scfgate::tls::server_config(&config.certificates).map(Some).map_err(|error| error.to_string())
}

/// The function host, started when a configuration first has a local function; from then on it
/// runs every configuration's local functions, keeping those a reload did not change
/// (`function_host::units`).
struct FunctionHosts {
    host: Option<FunctionHost>,
    driver: runtime::ActiveDriver,
    /// `--watch`: the host restarts a function's processes when its code changes.
    watch: bool,
    /// How each function id of the configuration last applied is reached locally.
    reach: Vec<Option<Reach>>,
    /// The same with its configuration, for `/readyz` (which must not wait on a reload).
    published: Arc<std::sync::Mutex<Published>>,
}

/// A configuration the function host runs, with how it reaches each function.
#[derive(Default)]
struct Published {
    config: Option<Arc<Config>>,
    reach: Vec<Option<Reach>>,
}

impl FunctionHosts {
    fn start(config: &Arc<Config>, driver: runtime::ActiveDriver, watch: bool) -> Result<Self, String> {
        let mut hosts = FunctionHosts { host: None, driver, watch, reach: Vec::new(), published: Default::default() };
        hosts.update(config)?;
        Ok(hosts)
    }

    /// Runs `config`'s local functions: new ones start, changed ones restart, removed ones stop
    /// once their requests are done, the rest keep running.
    fn update(&mut self, config: &Arc<Config>) -> Result<(), String> {
        let local = config
            .functions
            .iter()
            .any(|function| matches!(function.runtime, FunctionRuntime::Custom { .. } | FunctionRuntime::Web { .. }));
        let host = match &mut self.host {
            Some(host) => host,
            None if !local => {
                self.reach = vec![None; config.functions.len()];
                self.publish(config);
                return Ok(());
            }
            None => self.host.insert(
                FunctionHost::start(self.driver, self.watch)
                    .map_err(|error| format!("cannot start the function host: {error}"))?,
            ),
        };
        self.reach = host.update(config)?;
        self.publish(config);
        Ok(())
    }

    fn publish(&self, config: &Arc<Config>) {
        let mut published = self.published.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *published = Published { config: Some(config.clone()), reach: self.reach.clone() };
    }

    /// The metrics of the local functions running now.
    fn stats(&self) -> Vec<Arc<scfgate::metrics::functions::FunctionStats>> {
        self.host.as_ref().map(FunctionHost::stats).unwrap_or_default()
    }

    fn endpoints(&self, config: &Config) -> Arc<Vec<Endpoint>> {
        let endpoints = config
            .functions
            .iter()
            .zip(&self.reach)
            .map(|(function, reach)| match (&function.runtime, reach) {
                (FunctionRuntime::Remote { addr, host_header, path, .. }, _) => {
                    Endpoint { addr: *addr, host_header: host_header.clone(), path: path.clone(), web: None }
                }
                // Reached through `backend::tencentcloud`'s own TLS pool; listed so ids line up.
                (FunctionRuntime::TencentCloud(cloud), _) => {
                    Endpoint { addr: cloud.addr, host_header: cloud.host.clone(), path: "/".into(), web: None }
                }
                (_, Some(Reach::Invoke { unit, .. })) => Endpoint {
                    addr: self.host.as_ref().expect("a host runs every local function").invoke_address,
                    host_header: "scfgate-function-host".into(),
                    path: function_host::invoke_path(*unit),
                    web: None,
                },
                (_, Some(Reach::Web { board })) => Endpoint {
                    addr: board.address(0),
                    host_header: String::new(),
                    path: String::new(),
                    web: Some(board.clone()),
                },
                (_, None) => unreachable!("every local function has a unit once update succeeded"),
            })
            .collect();
        Arc::new(endpoints)
    }

    fn stop_all(&self) {
        if let Some(host) = &self.host {
            host.stop();
        }
    }
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
