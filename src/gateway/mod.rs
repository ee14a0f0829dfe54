//! The gateway's life as a process: start (function host, workers, listeners, the admin and
//! metrics listeners), then signals: SIGHUP reloads, SIGUSR2 upgrades, SIGTERM/SIGINT drain and
//! stop. The binary parses flags and calls [`serve`]; [`apply`] puts each new configuration
//! into service (reloads and the admin API alike); [`hosts`] keeps the local functions running
//! across them.

mod apply;
mod hosts;

use std::rc::Rc;
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::admin::Management;
use crate::cli::Args;
use crate::config::Config;
use crate::control::{Control, Generation};
use crate::listener::{Kind, Sockets};
use crate::route::Router;
use crate::{notify, runtime, upgrade, worker};

use apply::{apply, lock, readiness_probe, reload, tls_config};
use hosts::FunctionHosts;

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

/// Serves `config` until a signal ends it: binds (or, in an upgrade, adopts) the listening
/// sockets, starts the function host, the workers and the admin and metrics listeners, then
/// answers SIGHUP (reload), SIGUSR2 (upgrade) and SIGTERM/SIGINT (drain, stop the functions).
/// `Err` says why it could not start.
pub fn serve(args: Args, config: Config, router: Router, management: Option<Arc<Management>>) -> Result<(), String> {
    raise_descriptor_limit();
    // A binary upgrade's new process adopts the running one's listening sockets (crate::upgrade).
    let inheritance = upgrade::receive()?;
    let upgrading = inheritance.is_some();
    let mut inheritance = inheritance.unwrap_or_default();
    let mut sockets = Sockets::new(std::mem::take(&mut inheritance.sockets), args.backlog);
    // Refused before anything starts: an admin API off loopback without a token.
    let admin = match args.admin_listen {
        Some(address) => {
            let token = crate::admin::admin_token(args.admin_token_file.as_deref(), address)?;
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
    // Before the workers start: each takes its line to the cluster's usage-plan counts.
    let limits_health = match &args.limits {
        Some(url) => {
            let settings =
                crate::shared_limits::agent::LimitsSettings { url: url.clone(), prefix: args.limits_prefix.clone() };
            Some(crate::shared_limits::agent::start(&settings, workers)?)
        }
        None => None,
    };
    let tls = tls_config(&config)?;
    let bound = sockets.bind_all(Kind::Http, &config.gateway.listen, workers).map_err(|error| error.to_string())?;
    let bound_tls =
        sockets.bind_all(Kind::Https, &config.gateway.tls_listen, workers).map_err(|error| error.to_string())?;
    // Before the function host starts: its processes are told where to push.
    let push = crate::websocket::push::bind(&config, &mut sockets).map_err(|error| error.to_string())?;
    let mut push_per_worker =
        push.map(crate::websocket::push::PushListeners::into_workers).unwrap_or_default().into_iter();
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
    if let Some(health) = &limits_health {
        metrics.add_dependency("redis", health.up_flag());
    }
    metrics.set_functions(lock(&hosts).stats());
    metrics.set_readiness(readiness_probe(control.clone(), lock(&hosts).published.clone()));
    metrics.start_sampler();
    if let Some(listener) = metrics_listener {
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        crate::metrics::server::serve(listener, metrics.clone())
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
                        crate::websocket::push::start(&context, push);
                    }
                    crate::accept::serve_all(context, listeners, tls_listeners).await
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
        let apply: crate::admin::Apply = Box::new(move |config| {
            let applied = apply(config, &control, &mut lock(&hosts));
            control.metrics.record_reload(applied.is_ok());
            applied
        });
        management.attach(apply, bound.addresses.clone());
        management.set_metrics(metrics.clone());
        management.follow_store();
        if let Some((listener, token)) = admin {
            let address = listener.local_addr().map_err(|error| error.to_string())?;
            management.serve(listener, token);
            tracing::info!("scfgate admin API listening on http://{address}");
        }
    }
    if upgrading {
        upgrade::inherit::take_over(&control);
    } else {
        crate::readiness::announce(control.clone(), config.clone(), reach);
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
