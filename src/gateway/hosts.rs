//! The local functions across configurations: one function host, started with the first
//! configuration that has a local function, told each new configuration (`function_host::units`
//! keeps what did not change), and what `/readyz` and the workers' endpoints need from it.

use std::sync::Arc;

use crate::backend::invoke::Endpoint;
use crate::config::{Config, FunctionRuntime};
use crate::function_host::{self, FunctionHost, Reach};
use crate::runtime;

/// The function host, started when a configuration first has a local function; from then on it
/// runs every configuration's local functions, keeping those a reload did not change
/// (`function_host::units`).
pub(super) struct FunctionHosts {
    pub(super) host: Option<FunctionHost>,
    pub(super) driver: runtime::ActiveDriver,
    /// `--watch`: the host restarts a function's processes when its code changes.
    pub(super) watch: bool,
    /// How each function id of the configuration last applied is reached locally.
    pub(super) reach: Vec<Option<Reach>>,
    /// The same with its configuration, for `/readyz` (which must not wait on a reload).
    pub(super) published: Arc<std::sync::Mutex<Published>>,
}

/// A configuration the function host runs, with how it reaches each function.
#[derive(Default)]
pub(super) struct Published {
    pub(super) config: Option<Arc<Config>>,
    pub(super) reach: Vec<Option<Reach>>,
}

impl FunctionHosts {
    pub(super) fn start(config: &Arc<Config>, driver: runtime::ActiveDriver, watch: bool) -> Result<Self, String> {
        let mut hosts = FunctionHosts { host: None, driver, watch, reach: Vec::new(), published: Default::default() };
        hosts.update(config)?;
        Ok(hosts)
    }

    /// Runs `config`'s local functions: new ones start, changed ones restart, removed ones stop
    /// once their requests are done, the rest keep running.
    pub(super) fn update(&mut self, config: &Arc<Config>) -> Result<(), String> {
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

    pub(super) fn publish(&self, config: &Arc<Config>) {
        let mut published = self.published.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *published = Published { config: Some(config.clone()), reach: self.reach.clone() };
    }

    /// The metrics of the local functions running now.
    pub(super) fn stats(&self) -> Vec<Arc<crate::metrics::functions::FunctionStats>> {
        self.host.as_ref().map(FunctionHost::stats).unwrap_or_default()
    }

    pub(super) fn endpoints(&self, config: &Config) -> Arc<Vec<Endpoint>> {
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

    pub(super) fn stop_all(&self) {
        if let Some(host) = &self.host {
            host.stop();
        }
    }
}
