//! Putting a configuration into service: a SIGHUP reload (the file loaded and validated again)
//! or an admin change both end in [`apply`]; `/readyz` asks [`readiness_probe`].

use std::sync::Arc;

use crate::cli::Args;
use crate::config::{self, Config};
use crate::control::{Control, Generation};
use crate::route::Router;

use super::hosts::{FunctionHosts, Published};

/// SIGHUP: load and validate the file again; on success every worker switches to it between
/// requests (requests in flight finish on the old one); on failure the old one keeps serving.
/// Returns whether it was applied.
pub(super) fn reload(args: &Args, control: &Control, hosts: &mut FunctionHosts) -> bool {
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
pub(super) fn readiness_probe(
    control: Arc<Control>,
    published: Arc<std::sync::Mutex<Published>>,
) -> crate::metrics::ReadinessProbe {
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
        let pending = crate::readiness::pending(config, &published.reach);
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("local functions not ready: {}", crate::readiness::describe(&pending)))
        }
    })
}

/// Puts a validated configuration into service: compiles its routes and TLS, starts changed
/// local functions, publishes it as the next generation and returns once every worker serves it
/// (or after a bounded wait). SIGHUP reloads and the admin API's publishes both come here.
pub(super) fn apply(config: Config, control: &Control, hosts: &mut FunctionHosts) -> Result<u64, String> {
    if config.apis.iter().any(|api| api.websocket.is_some()) && !crate::websocket::push::is_running() {
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
pub(super) fn lock(hosts: &std::sync::Mutex<FunctionHosts>) -> std::sync::MutexGuard<'_, FunctionHosts> {
    hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn tls_config(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    if config.gateway.tls_listen.is_empty() {
        return Ok(None);
    }
    crate::tls::server_config(&config.certificates).map(Some).map_err(|error| error.to_string())
}
