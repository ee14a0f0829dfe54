//! One worker's way to the functions of one configuration generation: where each function is
//! reached ([`invoke::Endpoint`]) and this worker's connections to them (event endpoints, web
//! function instances, Tencent Cloud's API). The worker owns one per generation it serves
//! (`crate::worker::Serving`); everything in `backend` takes it, so nothing here reaches back
//! into the worker.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::invoke::Endpoint;
use super::pool::{Pool, PoolStats};
use super::tencentcloud::CloudConnections;
use super::web_proxy::instance_choice::WorkerInstances;
use crate::config::{Config, FunctionIndex};

/// One worker's connections to one generation's functions.
pub struct Backends {
    /// The configuration.
    pub config: Arc<Config>,
    /// Per function id: where its invocations go.
    pub endpoints: Arc<Vec<Endpoint>>,
    /// This worker's keep-alive connections to the function endpoints.
    pub pool: RefCell<Pool>,
    /// This worker's HTTPS connections to Tencent Cloud's API (`runtime = "tencentcloud"`).
    pub cloud: CloudConnections,
    /// Per function id: this worker's side of a web function's instances (`None` for others).
    /// Kept from the previous generation while the same function host serves it, so requests
    /// still running on that generation stay counted.
    pub web_instances: Vec<Option<Rc<WorkerInstances>>>,
}

impl Backends {
    /// The connections for `config` and `endpoints`; a web function `previous` also had (the
    /// same board) keeps its side, with its pooled connections and counts.
    pub fn new(config: Arc<Config>, endpoints: Arc<Vec<Endpoint>>, previous: Option<&Backends>) -> Self {
        let web_instances = endpoints
            .iter()
            .enumerate()
            .map(|(position, endpoint)| {
                let board = endpoint.web.as_ref()?;
                let kept = previous.and_then(|previous| {
                    previous.web_instances.iter().flatten().find(|kept| Arc::ptr_eq(kept.board(), board)).cloned()
                });
                Some(kept.unwrap_or_else(|| {
                    Rc::new(WorkerInstances::new(
                        board.clone(),
                        &config.functions[FunctionIndex::new(position)].display_name(),
                        config.gateway.pool_size,
                        config.gateway.pool_idle_timeout,
                    ))
                }))
            })
            .collect();
        let pool = Pool::new(endpoints.len(), config.gateway.pool_size, config.gateway.pool_idle_timeout);
        let cloud = CloudConnections::new(&config);
        Backends { pool: RefCell::new(pool), cloud, web_instances, config, endpoints }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where `function`'s invocations go.
    pub fn endpoint(&self, function: FunctionIndex) -> &Endpoint {
        &self.endpoints[function.get()]
    }

    /// Closes the pooled connections (function endpoints, web function instances, Tencent
    /// Cloud's API) idle past `pool_idle_timeout` at `now`; returns how many.
    pub fn close_expired_connections(&self, now: Instant) -> usize {
        let web: usize = self.web_instances.iter().flatten().map(|instances| instances.close_expired(now)).sum();
        self.pool.borrow_mut().close_expired(now) + web + self.cloud.close_expired(now)
    }

    /// What the pools did since last asked, and the connections idle in them (the worker's
    /// metrics).
    pub fn take_pool_stats(&self) -> (PoolStats, usize) {
        let mut pool = self.pool.borrow_mut();
        let (mut stats, mut idle) = (pool.take_stats(), pool.idle_total());
        drop(pool);
        let web = self.web_instances.iter().flatten().map(|instances| instances.take_pool_stats());
        for (more, more_idle) in web.chain(std::iter::once(self.cloud.take_pool_stats())) {
            stats.add(more);
            idle += more_idle;
        }
        (stats, idle)
    }
}
