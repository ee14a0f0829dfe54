//! The management plane: the admin API (`--admin-listen`), the state it edits (`--state-dir`),
//! publishing and rollback, generated API documentation and OpenAPI import/export.
//!
//! It owns the state directory and one thread of its own per admin connection; it never runs on
//! a worker. It reaches the data plane only through the `Apply` function main.rs gives it (the
//! same path as a SIGHUP reload: validate, compile, `Control::publish`, wait until every worker
//! serves it). The config file keeps `[gateway]` and `[[certificate]]`; the state directory holds
//! services, APIs, releases, functions, usage plans and key pairs.
//!
//! - [`store`]: `state.json`, versions, releases, and the config files derived from them.
//! - [`api`]: the endpoints; [`http`]: the small blocking HTTP/1.1 server, with [`connections`]
//!   deciding which connection gives way when too many are open; [`error`]: failures and their
//!   one status mapping.
//! - [`docs`]: per service and stage HTML documentation; [`openapi`]: OpenAPI 3.0 export/import.
//! - [`console`]: the web console's files, served at `/console/`.

pub mod api;
pub mod connections;
pub mod console;
pub mod docs;
pub mod error;
pub mod etcd;
pub mod http;
pub mod openapi;
pub mod seal;
pub mod storage;
pub mod store;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{self, file, Config, Overrides};
use crate::route::Router;
use error::AdminError;
use storage::{Storage, StoreChoice, StoreError};
use store::State;

/// The environment variable holding the admin token.
pub const TOKEN_ENV: &str = "SCFGATE_ADMIN_TOKEN";

/// Puts a validated configuration into service on every worker and returns its generation
/// number once every worker serves it (main.rs's reload path).
pub type Apply = Box<dyn FnMut(Config) -> Result<u64, String> + Send>;

/// The management plane's state, shared by the admin connections and the main thread (SIGHUP).
/// The lock is held for a whole change, so changes apply one after another; no worker ever
/// touches it.
pub struct Management {
    inner: Mutex<Inner>,
    /// The admin listener accepts while this holds (a binary upgrade clears it).
    accepting: Arc<AtomicBool>,
    /// Set while the accept loop runs (cleared when it has left, after `accepting` is cleared).
    accept_loop: Arc<AtomicBool>,
    /// The gateway's metrics, for `/metrics`, `/healthz`, `/readyz` and the console's charts;
    /// read without the state's lock, so a long publish never holds up a scrape.
    metrics: std::sync::OnceLock<Arc<crate::metrics::Registry>>,
    /// Whether the store (etcd) answered the last call made to it.
    store_up: Arc<AtomicBool>,
}

struct Inner {
    store: Storage,
    state: State,
    /// `[gateway]` and `[[certificate]]` of the operator's config file (its other tables are
    /// the store's).
    base: file::ConfigFile,
    config_path: PathBuf,
    overrides: Overrides,
    /// Releases kept per service besides those a stage serves (`--max-releases`).
    max_releases: usize,
    apply: Option<Apply>,
    /// Where the data plane listens (for the console's test requests).
    data_plane: Vec<SocketAddr>,
    generation: u64,
    /// While a binary upgrade hands the state to a new process, why changes are refused.
    frozen: Option<String>,
}

/// Which parts of the system a change reaches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Drafts only: validated, stored; the data plane is unchanged until a publish.
    Draft,
    /// Also what the data plane serves (publish, rollback, functions, usage plans, key pairs).
    DataPlane,
}

impl Management {
    /// Opens the state directory (seeding it from the config file when it is empty) and returns
    /// the configuration the data plane should start with. `check_only` (`--check`) reads
    /// without locking or writing the directory, so it works beside a running gateway. A history
    /// longer than `max_releases` (lowered since it was written) is trimmed and stored now.
    pub fn open(
        config_path: &Path,
        choice: StoreChoice,
        overrides: &Overrides,
        max_releases: u64,
        check_only: bool,
    ) -> Result<(Arc<Management>, Config), String> {
        let max_releases = usize::try_from(max_releases).unwrap_or(usize::MAX);
        let text = std::fs::read_to_string(config_path)
            .map_err(|error| format!("{}: cannot read the file: {error}", config_path.display()))?;
        let parsed = config::validate::parse_file(&text, config_path).map_err(|error| error.to_string())?;
        let (mut store, mut stored) = Storage::open(choice, !check_only)?;
        let state_dir = store.describe();
        if stored.is_none() && !check_only {
            // Several nodes may start on an empty etcd at once: one seeds it, the others read
            // what it seeded.
            let seeded = State::seeded_from(&parsed, config_path);
            config::validate::validate(seeded.draft_file(&parsed), config_path, overrides)
                .map_err(|error| error.to_string())?;
            match store.save(&seeded) {
                Ok(()) => {
                    tracing::info!(
                        state_dir,
                        services = seeded.services.len(),
                        "state seeded from {}",
                        config_path.display()
                    );
                    stored = Some(seeded);
                }
                Err(StoreError::Moved) => {
                    let Storage::Etcd(etcd) = &mut store else { unreachable!("only etcd reports a lost swap") };
                    stored = etcd.load().map_err(|error| format!("cannot read the state from etcd: {error}"))?;
                }
                Err(error) => return Err(error.to_string()),
            }
        }
        let state = match stored {
            Some(mut state) => {
                let dropped = state.prune_releases(max_releases);
                if dropped > 0 && !check_only {
                    if let Err(error) = store.save(&state) {
                        // Another node may have trimmed it first; it is trimmed at the next change.
                        tracing::warn!(%error, "cannot store the trimmed release history now");
                    } else {
                        tracing::info!(
                            dropped,
                            max_releases,
                            "dropped releases past --max-releases that no stage serves"
                        );
                    }
                }
                if !parsed.services.is_empty() || !parsed.functions.is_empty() {
                    tracing::info!(
                        state_dir,
                        "the state directory is the source of truth: the services, functions, usage plans and key pairs of {} are not used (its [gateway] and certificates are)",
                        config_path.display()
                    );
                }
                state
            }
            None => {
                // --check on an empty store: what seeding it would give.
                let state = State::seeded_from(&parsed, config_path);
                config::validate::validate(state.draft_file(&parsed), config_path, overrides)
                    .map_err(|error| error.to_string())?;
                state
            }
        };
        let base = base_of(parsed);
        let served = config::validate::validate(state.served_file(&base), config_path, overrides).map_err(|error| {
            format!("{} (the state in {}): {}", config_path.display(), state_dir, AdminError::Invalid(error).message())
        })?;
        let management = Management {
            inner: Mutex::new(Inner {
                store,
                state,
                base,
                config_path: config_path.to_owned(),
                overrides: overrides.clone(),
                max_releases,
                apply: None,
                data_plane: Vec::new(),
                generation: 1,
                frozen: None,
            }),
            accepting: Arc::new(AtomicBool::new(true)),
            accept_loop: Arc::new(AtomicBool::new(false)),
            metrics: std::sync::OnceLock::new(),
            store_up: Arc::new(AtomicBool::new(true)),
        };
        Ok((Arc::new(management), served))
    }

    /// Connects the management plane to the running data plane.
    pub fn attach(&self, apply: Apply, data_plane: Vec<SocketAddr>) {
        let mut inner = self.lock();
        inner.apply = Some(apply);
        inner.data_plane = data_plane;
    }

    /// Serves the gateway's metrics beside the admin API.
    pub fn set_metrics(&self, registry: Arc<crate::metrics::Registry>) {
        if matches!(self.lock().store, storage::Storage::Etcd(_)) {
            registry.add_dependency("etcd", self.store_up.clone());
        }
        let _ = self.metrics.set(registry);
    }

    /// The gateway's metrics, when set.
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::Registry>> {
        self.metrics.get()
    }

    /// SIGHUP with a state directory: the config file's `[gateway]` and certificates are read
    /// again and served with the state's published services.
    pub fn reload_file(&self) -> Result<u64, String> {
        let mut inner = self.lock();
        let text = std::fs::read_to_string(&inner.config_path)
            .map_err(|error| format!("{}: cannot read the file: {error}", inner.config_path.display()))?;
        let parsed = config::validate::parse_file(&text, &inner.config_path).map_err(|error| error.to_string())?;
        let base = base_of(parsed);
        let config = config::validate::validate(inner.state.served_file(&base), &inner.config_path, &inner.overrides)
            .map_err(|error| error.to_string())?;
        let generation = inner.apply(config).map_err(|error| error.message())?;
        inner.base = base;
        Ok(generation)
    }

    /// Starts the admin listener on its own thread.
    pub fn serve(self: &Arc<Management>, listener: TcpListener, token: Option<String>) {
        let management = self.clone();
        let (accepting, running) = (self.accepting.clone(), self.accept_loop.clone());
        running.store(true, Ordering::Release);
        let server = http::Server {
            token,
            handler: move |request| api::handle(&management, request),
            public: console::serve,
            accepting,
            running,
        };
        let spawned = std::thread::Builder::new().name("scfgate-admin".into()).spawn(move || server.run(listener));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the admin listener thread");
        }
    }

    /// A binary upgrade begins: changes are refused (503) and the state directory's lock is let
    /// go, so the new process reads a state nobody changes any more and locks it in turn.
    pub fn hand_over_state(&self) -> Result<(), String> {
        let mut inner = self.lock();
        inner.store.set_locked(false)?;
        inner.frozen = Some(
            "scfgate is being upgraded: changes are refused until the new process serves; try again in a moment".into(),
        );
        Ok(())
    }

    /// The upgrade failed and the new process is gone: this process keeps the state again.
    pub fn keep_state(&self) -> Result<(), String> {
        let mut inner = self.lock();
        inner.store.set_locked(true)?;
        inner.frozen = None;
        Ok(())
    }

    /// Stops accepting admin connections (the new process accepts them); those open are served
    /// until they close, and changes stay refused.
    /// Returns once this process accepts none any more (the accept loop has left, at most a
    /// poll period later), so a client told the upgrade succeeded reaches the new process.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::Release);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.accept_loop.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// With etcd: follows the changes other nodes make. The watch runs on the etcd client's
    /// thread and wakes a thread of this plane, which reads the new state and serves it (the
    /// same validation and live swap as a publish through this node). Call once, after
    /// [`Management::attach`]. Without etcd, nothing to follow.
    pub fn follow_store(self: &Arc<Management>) {
        let (sender, receiver) = std::sync::mpsc::channel::<Option<i64>>();
        {
            let inner = self.lock();
            let storage::Storage::Etcd(store) = &inner.store else { return };
            store.watch(move |revision| {
                let _ = sender.send(revision);
            });
        }
        let management = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("scfgate-follow".into()).spawn(move || {
            while let Ok(first) = receiver.recv() {
                // Several changes heard at once are read once: the newest state covers them.
                let mut revision = first;
                while let Ok(next) = receiver.try_recv() {
                    revision = match (revision, next) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                let Some(management) = management.upgrade() else { return };
                let mut inner = management.lock();
                let followed = inner.follow_store(revision);
                let reachable = !matches!(followed, Err(AdminError::Unavailable(_)));
                if management.store_up.swap(reachable, Ordering::Relaxed) != reachable {
                    if reachable {
                        tracing::info!(store = inner.store.describe(), "etcd answers again");
                    } else {
                        tracing::warn!(
                            store = inner.store.describe(),
                            "etcd does not answer: serving the last configuration; admin changes get 503 until it does"
                        );
                    }
                }
                if let Err(error) = followed.as_ref() {
                    if reachable {
                        tracing::warn!(
                            error = error.message(),
                            "cannot serve the state another node stored; serving the last one"
                        );
                    }
                }
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the thread that follows etcd");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Validates `next` (drafts always; what the data plane would serve for [`Scope::DataPlane`]),
    /// stores it, and applies it. Either all of that happens or nothing changes. Releases past
    /// `--max-releases` that no stage serves are dropped on the way, so the history stays bounded
    /// whatever the change (a publish adds one; a rollback or publish may free an old one).
    fn commit(&mut self, mut next: State, scope: Scope) -> Result<Option<u64>, AdminError> {
        if let Some(reason) = &self.frozen {
            return Err(AdminError::Unavailable(reason.clone()));
        }
        next.prune_releases(self.max_releases);
        self.validate_draft(&next)?;
        let served = match scope {
            Scope::Draft => None,
            Scope::DataPlane => {
                let config =
                    config::validate::validate(next.served_file(&self.base), &self.config_path, &self.overrides)
                        .map_err(AdminError::Invalid)?;
                // Services of different ids on one host may collide only once both are served.
                Router::build(&config)
                    .map_err(|error| AdminError::Invalid(route_conflict(&self.config_path, error.0)))?;
                Some(config)
            }
        };
        self.store.save(&next).map_err(AdminError::from_store)?;
        let generation = match served {
            None => None,
            Some(config) => match self.apply(config) {
                Ok(generation) => Some(generation),
                Err(error) => {
                    if let Err(restore) = self.store.save(&self.state) {
                        tracing::error!(%restore, "admin: cannot restore the previous state file");
                    }
                    return Err(error);
                }
            },
        };
        self.state = next;
        Ok(generation)
    }

    /// Reads the state from etcd when it is newer than this node's (`revision`: the one a watch
    /// reported; `None`: read whatever it is) and serves it. Returns whether it changed. A
    /// state that does not validate here (written by a newer scfgate, or needing a function
    /// this node lacks) is not served; this node keeps serving its last one.
    fn follow_store(&mut self, revision: Option<i64>) -> Result<bool, AdminError> {
        let storage::Storage::Etcd(store) = &mut self.store else { return Ok(false) };
        let before = store.revision();
        if revision.is_some_and(|revision| revision <= before) {
            return Ok(false);
        }
        let state = store.load().map_err(AdminError::from_store)?;
        let Some(state) = state else { return Ok(false) };
        if store.revision() == before {
            return Ok(false);
        }
        let served = state.served_file(&self.base);
        let serves_the_same =
            serde_json::to_value(&served).ok() == serde_json::to_value(self.state.served_file(&self.base)).ok();
        // The state is the cluster's from now on, served or not: a change made here must build on
        // it, or its swap would overwrite what the other node stored.
        self.state = state;
        if !serves_the_same {
            let config =
                config::validate::validate(served, &self.config_path, &self.overrides).map_err(AdminError::Invalid)?;
            Router::build(&config).map_err(|error| AdminError::Invalid(route_conflict(&self.config_path, error.0)))?;
            let generation = self.apply(config)?;
            tracing::info!(store = self.store.describe(), generation, "serving the state another node stored");
        }
        Ok(true)
    }

    /// Checks the drafts of `state` as one config file, as the console shows errors inline.
    fn validate_draft(&self, state: &State) -> Result<(), AdminError> {
        config::validate::validate(state.draft_file(&self.base), &self.config_path, &self.overrides)
            .map(drop)
            .map_err(AdminError::Invalid)
    }

    fn apply(&mut self, config: Config) -> Result<u64, AdminError> {
        match self.apply.as_mut() {
            // Before the data plane runs (never reached: attach comes first), nothing to do.
            None => Ok(self.generation),
            Some(apply) => {
                let generation = apply(config).map_err(|error| {
                    AdminError::Failed(format!("the change is valid but could not be put into service: {error}"))
                })?;
                self.generation = generation;
                Ok(generation)
            }
        }
    }
}

/// The operator's file without the tables the state owns.
fn base_of(parsed: file::ConfigFile) -> file::ConfigFile {
    file::ConfigFile {
        gateway: parsed.gateway,
        services: Vec::new(),
        functions: Vec::new(),
        usage_plans: Vec::new(),
        secrets: Vec::new(),
        certificates: parsed.certificates,
    }
}

/// A route conflict between two served services, as a configuration error without the file.
fn route_conflict(config_path: &Path, message: String) -> config::ConfigError {
    let prefix = format!("{}: ", config_path.display());
    let message = message.strip_prefix(&prefix).map(str::to_owned).unwrap_or(message);
    config::ConfigError { file: config_path.to_owned(), line_column: None, location: None, field: None, message }
}

/// The admin token: `SCFGATE_ADMIN_TOKEN`, else the first line of `--admin-token-file`. There is
/// no default token; without one the listener must be on loopback.
pub fn admin_token(token_file: Option<&Path>, listen: SocketAddr) -> Result<Option<String>, String> {
    let token = match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        _ => match token_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("--admin-token-file {}: {error}", path.display()))?;
                let token = text.lines().next().unwrap_or_default().trim().to_owned();
                if token.is_empty() {
                    return Err(format!("--admin-token-file {}: the file is empty", path.display()));
                }
                Some(token)
            }
        },
    };
    if token.is_none() {
        if !listen.ip().is_loopback() {
            return Err(format!(
                "the admin API on {listen} (not loopback) needs a token: set {TOKEN_ENV} or --admin-token-file"
            ));
        }
        tracing::warn!(%listen, "the admin API is unauthenticated (loopback only); set {TOKEN_ENV} or --admin-token-file to require a token");
    }
    Ok(token)
}
