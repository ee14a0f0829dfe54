//! Whether the local functions meant to be warm (`instances > 0`) are ready to take requests:
//! what `READY=1` waits for (`crate::notify`), and what a binary upgrade waits for before the
//! old process is told to drain (`crate::upgrade`), so that the new one never takes traffic its
//! functions cannot serve yet. It decides nothing about the functions; it only looks.
//!
//! - Web functions: an instance is ready when the board the workers read says `Ready` (its port
//!   accepts connections).
//! - Custom runtimes (standard runtimes included): an instance is ready once its process has
//!   asked for work (`/init/ready` or `/next`), as SCF defines it; the function host counts them
//!   once per tick for each function ([`Reach::Invoke`]'s `ready`).
//!
//! It runs at start and during an upgrade, never on the request path.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, FunctionRuntime};
use crate::control::Control;
use crate::function_host::web_instances::InstanceState;
use crate::function_host::Reach;

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

/// The warm local functions not ready yet. `reach`: how the function host runs each function
/// id (`crate::function_host::FunctionHost::update`).
pub fn pending(config: &Config, reach: &[Option<Reach>]) -> Vec<Pending> {
    let mut pending = Vec::new();
    for (function, reach) in config.functions.iter().zip(reach) {
        let wanted = match &function.runtime {
            FunctionRuntime::Custom { instances, .. } | FunctionRuntime::Web { instances, .. } if *instances > 0 => {
                *instances
            }
            _ => continue,
        };
        let ready = match reach {
            Some(Reach::Invoke { ready, .. }) => ready.load(Ordering::Acquire),
            Some(Reach::Web { board }) => {
                (0..board.slots()).filter(|&slot| board.status(slot).state == InstanceState::Ready).count()
            }
            None => 0,
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
/// need looking at 50 times a second).
pub fn wait(config: &Config, reach: &[Option<Reach>], limit: Duration, mut stop: impl FnMut() -> bool) -> Vec<Pending> {
    let started = Instant::now();
    let deadline = started + limit;
    loop {
        let now_pending = pending(config, reach);
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
pub fn announce(control: Arc<Control>, config: Arc<Config>, reach: Vec<Option<Reach>>) {
    let spawned = std::thread::Builder::new().name("scfgate-ready".into()).spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !control.all_serving(1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let waiting = pending(&config, &reach);
        if !waiting.is_empty() {
            crate::notify::status(&format!("starting: waiting for local functions: {}", describe(&waiting)));
        }
        let waiting = wait(&config, &reach, limit(&config) + Duration::from_secs(1), || control.is_draining());
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn a_warm_function_is_pending_until_its_host_counts_enough_ready() {
        let text = "[[service]]\nid = \"service-r\"\nname = \"r\"\n[[function]]\nname = \"remote\"\nruntime = \"remote\"\ninvoke_url = \"http://127.0.0.1:9/\"\n";
        let mut config =
            crate::config::validate::parse_str(text, std::path::Path::new("/tmp/readiness.toml"), &Default::default())
                .unwrap();
        // Pretend the remote function were a warm custom one of 2 instances.
        config.functions[0].runtime = FunctionRuntime::Custom {
            code: "/tmp".into(),
            launcher: crate::config::Launcher::Bootstrap,
            handler: String::new(),
            instances: 2,
            init_timeout: Duration::from_secs(1),
            max_instances: 2,
            idle_timeout: Duration::from_secs(1),
            environment: Vec::new(),
        };
        let ready = Arc::new(AtomicUsize::new(1));
        let reach = vec![Some(Reach::Invoke { unit: 0, ready: ready.clone() })];
        assert_eq!(describe(&pending(&config, &reach)), "default/remote:$LATEST 1/2 ready");
        ready.store(2, Ordering::Release);
        assert!(pending(&config, &reach).is_empty());
    }
}
