//! The management plane's state and where it lives: `state.json` in the state directory,
//! replaced atomically on every change, and one file per release under `releases/`. `state.json`
//! holds the draft services (in the config file's own model, `crate::config::file`), the release
//! history (bounded by `--max-releases`) and which release each stage serves, and the functions,
//! usage plans and key pairs. A release's snapshot of its service never changes, so it is
//! written once, when it is published, and removed when the history drops it: a change rewrites
//! only `state.json`, whose size does not grow with the history.
//!
//! What the data plane serves is derived from it by [`State::served_file`]; what the console
//! edits is checked whole by [`State::draft_file`]. Both go through `config::validate`, the code
//! that checks a config file, so an API accepted here is one a file could hold.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::config::file;

/// The layout version of `state.json`; a state written by a newer layout is refused. 1 held each
/// release's snapshot inline; 2 keeps it in `releases/` (a state of 1 is upgraded when opened).
pub const FORMAT: u32 = 2;
const STATE_FILE: &str = "state.json";
const RELEASES_DIR: &str = "releases";
const LOCK_FILE: &str = "lock";

/// Every stage, in Tencent's names.
pub const STAGES: [&str; 3] = ["release", "test", "prepub"];

/// Why the state could not be stored.
#[derive(Debug)]
pub enum StoreError {
    /// etcd's state changed since this node read it: read it again and retry the change.
    Moved,
    /// etcd did not answer or refused: nothing changed; try later.
    Unavailable(String),
    /// The state could not be written or read (a file system error, an undecodable value).
    Failed(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Moved => formatter.write_str("the state changed in etcd meanwhile"),
            StoreError::Unavailable(message) | StoreError::Failed(message) => formatter.write_str(message),
        }
    }
}

/// One resource with its optimistic-concurrency version and times (seconds since the epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record<T> {
    /// The state revision at the resource's last change; an update must name it.
    pub version: u64,
    /// When it was created.
    pub created_at: u64,
    /// When it last changed.
    pub updated_at: u64,
    /// The resource, as a config file writes it.
    pub spec: T,
}

impl<T> Record<T> {
    /// A resource created at revision `version`.
    pub fn new(spec: T, version: u64) -> Record<T> {
        let now = now();
        Record { version, created_at: now, updated_at: now, spec }
    }

    /// Replaces the resource at revision `version`.
    pub fn replace(&mut self, spec: T, version: u64) {
        self.spec = spec;
        self.touch(version);
    }

    /// Records a change at revision `version`.
    pub fn touch(&mut self, version: u64) {
        self.version = version;
        self.updated_at = now();
    }
}

/// One published snapshot of a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    /// 1, 2, ... per service, in publishing order.
    pub id: u64,
    /// The stage it was published to (it may later serve others through rollback).
    pub stage: String,
    /// When it was published.
    pub created_at: u64,
    /// What the publisher wrote (console: 发布描述).
    pub description: String,
    /// The snapshot's file in `releases/`: named once, when the release is made, and never
    /// reused, so a file that exists holds this release. Empty in a format-1 state.
    #[serde(default)]
    pub snapshot: String,
    /// The service and its APIs as they were when published. Not in `state.json` (format 1 had
    /// it there) but in `snapshot`; shared, so copying the state for a change copies none.
    #[serde(skip_serializing, default, deserialize_with = "shared")]
    pub service: Arc<file::Service>,
}

impl Release {
    /// Release `id` of service `service_id`, made now from `service`.
    pub fn new(service_id: &str, id: u64, stage: String, description: String, service: file::Service) -> Release {
        Release {
            id,
            stage,
            created_at: now(),
            description,
            snapshot: snapshot_name(service_id, id),
            service: Arc::new(service),
        }
    }
}

fn shared<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<file::Service>, D::Error> {
    file::Service::deserialize(deserializer).map(Arc::new)
}

/// `<service>.<release>.<time>-<count>.json`: readable, and unique even when a release id is
/// given again (after a publish that could not be applied, or to a service deleted and made
/// anew), so a snapshot file is never overwritten.
fn snapshot_name(service_id: &str, id: u64) -> String {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let service: String = service_id
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    format!("{service}.{id}.{nanos:x}-{}.json", MADE.fetch_add(1, Ordering::Relaxed))
}

/// Which release a stage serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Serving {
    /// The release's id.
    pub release_id: u64,
    /// When the stage started serving it (publish or rollback).
    pub since: u64,
}

/// A service: its draft, its releases and what each stage serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The service's own fields; `spec.apis` is always empty here (see `apis`).
    #[serde(flatten)]
    pub record: Record<file::Service>,
    /// The draft APIs, each versioned on its own so two people can edit two APIs at once.
    pub apis: Vec<Record<file::Api>>,
    /// The release history, oldest first: the newest `--max-releases`, and older ones only while
    /// a stage serves them ([`ServiceRecord::prune_releases`]).
    pub releases: Vec<Release>,
    /// Stage name -> the release it serves. A stage absent here serves nothing of the service.
    pub serving: BTreeMap<String, Serving>,
}

impl ServiceRecord {
    /// The service id.
    pub fn id(&self) -> &str {
        self.record.spec.id.as_deref().unwrap_or_default()
    }

    /// The draft as one `[[service]]` table, APIs included.
    pub fn draft(&self) -> file::Service {
        let mut service = self.record.spec.clone();
        service.apis = self.apis.iter().map(|api| api.spec.clone()).collect();
        service
    }

    /// A release by id.
    pub fn release(&self, id: u64) -> Option<&Release> {
        self.releases.iter().find(|release| release.id == id)
    }

    /// A release by id, or why there is none: never published, or dropped from the history.
    pub fn kept_release(&self, id: u64) -> Result<&Release, String> {
        self.release(id).ok_or_else(|| {
            let service = self.id();
            // Ids are given in order and never reused, so a missing one below the newest was dropped.
            match self.releases.last() {
                Some(newest) if id >= 1 && id < newest.id => format!(
                    "service `{service}`: release {id} is no longer kept (the history keeps the newest \
                     --max-releases releases and those a stage serves; GET /v1/services/{service}/releases \
                     lists them)"
                ),
                _ => format!("service `{service}` has no release `{id}`"),
            }
        })
    }

    /// Drops the releases that are neither among the newest `keep` nor served by a stage;
    /// returns how many.
    pub fn prune_releases(&mut self, keep: usize) -> usize {
        let before = self.releases.len();
        let first_kept = before.saturating_sub(keep);
        let serving = &self.serving;
        let mut index = 0;
        self.releases.retain(|release| {
            let kept = index >= first_kept || serving.values().any(|serving| serving.release_id == release.id);
            index += 1;
            kept
        });
        before - self.releases.len()
    }

    /// The draft API named `name`.
    pub fn api_index(&self, name: &str) -> Option<usize> {
        self.apis.iter().position(|api| api.spec.name.as_deref() == Some(name))
    }
}

/// Everything the management plane holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// Increases with every change; a changed resource takes the new revision as its version.
    pub revision: u64,
    /// Services, in creation order.
    pub services: Vec<ServiceRecord>,
    /// `[[function]]`s. They are live, like SCF functions: a change applies to the data plane at
    /// once, without publishing.
    pub functions: Vec<Record<file::Function>>,
    /// `[[usage_plan]]`s; live, like Tencent's (binding a plan to a stage needs no publish).
    pub usage_plans: Vec<Record<file::UsagePlan>>,
    /// `[[secret]]` key pairs; live.
    pub secrets: Vec<Record<file::Secret>>,
}

impl State {
    fn empty() -> State {
        State {
            format: FORMAT,
            revision: 0,
            services: Vec::new(),
            functions: Vec::new(),
            usage_plans: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// A first state from a config file: its services become drafts, and each is published
    /// (release 1) to the stages the file gives it, so the gateway serves what the file says.
    pub fn seeded_from(config: &file::ConfigFile, source: &Path) -> State {
        let mut state = State::empty();
        let version = state.next_revision();
        for service in &config.services {
            let mut spec = service.clone();
            let apis = std::mem::take(&mut spec.apis).into_iter().map(|api| Record::new(api, version)).collect();
            let stages: Vec<String> =
                service.stages.clone().unwrap_or_else(|| STAGES.iter().map(|stage| stage.to_string()).collect());
            let release = Release::new(
                service.id.as_deref().unwrap_or_default(),
                1,
                stages.first().cloned().unwrap_or_default(),
                format!("seeded from {}", source.display()),
                service.clone(),
            );
            let serving = stages.into_iter().map(|stage| (stage, Serving { release_id: 1, since: now() })).collect();
            state.services.push(ServiceRecord {
                record: Record::new(spec, version),
                apis,
                releases: vec![release],
                serving,
            });
        }
        state.functions = config.functions.iter().map(|function| Record::new(function.clone(), version)).collect();
        state.usage_plans = config.usage_plans.iter().map(|plan| Record::new(plan.clone(), version)).collect();
        state.secrets = config.secrets.iter().map(|secret| Record::new(secret.clone(), version)).collect();
        state
    }

    /// [`ServiceRecord::prune_releases`] for every service; returns how many were dropped.
    pub fn prune_releases(&mut self, keep: usize) -> usize {
        self.services.iter_mut().map(|service| service.prune_releases(keep)).sum()
    }

    /// The snapshots the release history names (what a store must keep).
    pub fn snapshot_names(&self) -> HashSet<&str> {
        self.services.iter().flat_map(|service| &service.releases).map(|release| release.snapshot.as_str()).collect()
    }

    /// Takes the next revision (the version of whatever changes now).
    pub fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// The service with this id.
    pub fn service(&self, id: &str) -> Option<usize> {
        self.services.iter().position(|service| service.id() == id)
    }

    /// The config file that holds the drafts: every service with its draft APIs on the stages its
    /// draft lists, plus the live functions, plans and keys. `base` supplies `[gateway]` and the
    /// certificates.
    pub fn draft_file(&self, base: &file::ConfigFile) -> file::ConfigFile {
        file::ConfigFile {
            gateway: base.gateway.clone(),
            services: self.services.iter().map(ServiceRecord::draft).collect(),
            functions: self.functions.iter().map(|record| record.spec.clone()).collect(),
            usage_plans: self.usage_plans.iter().map(|record| record.spec.clone()).collect(),
            secrets: self.secrets.iter().map(|record| record.spec.clone()).collect(),
            certificates: base.certificates.clone(),
        }
    }

    /// The config file the data plane serves: for each service, one `[[service]]` table per
    /// release some stage serves, listing those stages (a service whose stages serve different
    /// releases becomes several tables with one id and disjoint stages). Usage plans keep only
    /// the environments that are served.
    pub fn served_file(&self, base: &file::ConfigFile) -> file::ConfigFile {
        let mut services = Vec::new();
        let mut served: Vec<(String, String)> = Vec::new();
        for record in &self.services {
            let mut by_release: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            for (stage, serving) in &record.serving {
                by_release.entry(serving.release_id).or_default().push(stage.clone());
                served.push((record.id().to_owned(), stage.clone()));
            }
            for (release_id, stages) in by_release {
                let Some(release) = record.release(release_id) else { continue };
                let mut service = file::Service::clone(&release.service);
                // The table serves exactly the stages on this release, with their variables only.
                service.stage_variables.retain(|stage, _| stages.contains(stage));
                service.stages = Some(stages);
                services.push(service);
            }
        }
        let usage_plans = self
            .usage_plans
            .iter()
            .filter_map(|record| {
                let mut plan = record.spec.clone();
                plan.environments.retain(|environment| match (&environment.service, &environment.stage) {
                    (Some(service), Some(stage)) => {
                        served.iter().any(|(id, served_stage)| id == service && served_stage == stage)
                    }
                    _ => true,
                });
                (!plan.environments.is_empty()).then_some(plan)
            })
            .collect();
        file::ConfigFile {
            gateway: base.gateway.clone(),
            services,
            functions: self.functions.iter().map(|record| record.spec.clone()).collect(),
            usage_plans,
            secrets: self.secrets.iter().map(|record| record.spec.clone()).collect(),
            certificates: base.certificates.clone(),
        }
    }
}

/// The state directory: `state.json`, the release snapshots in `releases/`, and a lock that
/// keeps a second gateway out of it.
pub struct Store {
    dir: PathBuf,
    /// The files in `releases/`, as found at open and written or removed since.
    snapshots: HashSet<String>,
    /// Held (flock) for the life of the store.
    lock: std::fs::File,
}

impl Store {
    /// Opens (creating) the directory and, when `exclusive`, locks it. Returns the stored state,
    /// or `None` when the directory holds none yet. Opened `exclusive`, a format-1 state is
    /// rewritten in this layout, and files of `releases/` that the state does not name (left by
    /// a crash between writing a snapshot and `state.json`) are removed.
    pub fn open(dir: &Path, exclusive: bool) -> Result<(Store, Option<State>), String> {
        std::fs::create_dir_all(dir.join(RELEASES_DIR))
            .map_err(|error| format!("cannot create the state directory {}: {error}", dir.display()))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|error| format!("cannot open {}: {error}", lock_path.display()))?;
        // SAFETY: flock(2) on a descriptor this function owns; no memory is involved.
        if exclusive
            && unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) } != 0
        {
            return Err(format!("the state directory {} is in use by another scfgate", dir.display()));
        }
        let releases = dir.join(RELEASES_DIR);
        let snapshots = std::fs::read_dir(&releases)
            .and_then(|entries| {
                entries.map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned())).collect()
            })
            .map_err(|error| format!("cannot read {}: {error}", releases.display()))?;
        let mut store = Store { dir: dir.to_owned(), snapshots, lock };
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((store, None)),
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        let mut state: State = serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        if state.format > FORMAT {
            return Err(format!(
                "{}: written by a newer scfgate (format {}; this one reads {FORMAT})",
                path.display(),
                state.format
            ));
        }
        for service in &mut state.services {
            let id = service.id().to_owned();
            for release in &mut service.releases {
                if release.snapshot.is_empty() {
                    // Format 1: the snapshot came inline; it gets a file at the next save.
                    release.snapshot = snapshot_name(&id, release.id);
                    continue;
                }
                release.service = Arc::new(store.read_snapshot(&release.snapshot).map_err(|error| {
                    format!("{} names release {} of service `{id}` in {error}", path.display(), release.id)
                })?);
            }
        }
        if exclusive {
            if state.format < FORMAT {
                state.format = FORMAT;
                store.save(&state)?;
                tracing::info!(state_dir = %dir.display(), "state directory upgraded: release snapshots moved to {RELEASES_DIR}/");
            } else {
                store.collect(&state);
            }
        }
        Ok((store, Some(state)))
    }

    /// Lets go of the directory's lock (a binary upgrade hands the directory to the new process,
    /// which takes the lock as any start does) or takes it again (the upgrade failed).
    pub fn set_locked(&self, locked: bool) -> Result<(), String> {
        let operation = if locked { libc::LOCK_EX | libc::LOCK_NB } else { libc::LOCK_UN };
        // SAFETY: flock(2) on the lock file this store owns; no memory is involved.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&self.lock), operation) } != 0 {
            return Err(format!(
                "cannot {} the state directory {}: {}",
                if locked { "lock" } else { "unlock" },
                self.dir.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_snapshot(&self, name: &str) -> Result<file::Service, String> {
        let path = self.dir.join(RELEASES_DIR).join(name);
        if name.starts_with('.') || name.contains('/') {
            return Err(format!("{}, not a file of {RELEASES_DIR}/", path.display()));
        }
        let text = std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
        serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Stores `state`. The snapshots of new releases are written and made durable first, then
    /// `state.json`, so whatever `state.json` names exists; a crash leaves the old or the new
    /// `state.json`, never a torn one. Then the snapshots it no longer names are removed. Only
    /// `state.json` and new snapshots are written: the history's size does not weigh on a change.
    /// Owner-only, because key pairs are in `state.json`.
    pub fn save(&mut self, state: &State) -> Result<(), String> {
        let releases = self.dir.join(RELEASES_DIR);
        let mut wrote = false;
        for release in state.services.iter().flat_map(|service| &service.releases) {
            if self.snapshots.contains(&release.snapshot) {
                continue;
            }
            let path = releases.join(&release.snapshot);
            let text = serde_json::to_vec_pretty(&*release.service)
                .map_err(|error| format!("cannot encode release {}: {error}", release.id))?;
            write_durably(&path, &text).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            self.snapshots.insert(release.snapshot.clone());
            wrote = true;
        }
        if wrote {
            sync_directory(&releases).map_err(|error| format!("cannot write {}: {error}", releases.display()))?;
        }
        let text = serde_json::to_vec_pretty(state).map_err(|error| format!("cannot encode the state: {error}"))?;
        let path = self.dir.join(STATE_FILE);
        write_durably(&path, &text)
            .and_then(|()| sync_directory(&self.dir))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        self.collect(state);
        Ok(())
    }

    /// Removes the files of `releases/` that `state` does not name: releases the history dropped,
    /// those of deleted services, and a publish's that could not be applied. Best effort: a file
    /// left behind is removed next time.
    fn collect(&mut self, state: &State) {
        let named = state.snapshot_names();
        let releases = self.dir.join(RELEASES_DIR);
        self.snapshots.retain(|name| {
            if named.contains(name.as_str()) {
                return true;
            }
            match std::fs::remove_file(releases.join(name)) {
                Ok(()) => false,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
                Err(error) => {
                    tracing::warn!(%error, file = %releases.join(name).display(), "cannot remove a release snapshot no longer kept");
                    true
                }
            }
        });
    }
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename, owner-only; the
/// directory's own fsync is the caller's.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let mut file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

fn sync_directory(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> file::ConfigFile {
        toml::from_str(text).unwrap()
    }

    const TWO_APIS: &str = r#"
[[service]]
id = "service-a"
name = "a"
stages = ["release", "test"]
[service.stage_variables.test]
x = "1"
[[service.api]]
name = "one"
path = "/one"
method = "GET"
function = { name = "f" }

[[function]]
name = "f"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/"

[[usage_plan]]
name = "p"
environments = [{ service = "service-a", stage = "release" }, { service = "service-a", stage = "prepub" }]
"#;

    #[test]
    fn seeding_publishes_each_service_to_its_stages() {
        let state = State::seeded_from(&file(TWO_APIS), Path::new("scfgate.toml"));
        let service = &state.services[0];
        assert!(service.record.spec.apis.is_empty());
        assert_eq!(service.apis.len(), 1);
        assert_eq!(service.serving.keys().collect::<Vec<_>>(), ["release", "test"]);
        assert_eq!(state.draft_file(&file("")).services[0].apis.len(), 1);
    }

    #[test]
    fn stages_serving_different_releases_become_tables_with_disjoint_stages() {
        let mut state = State::seeded_from(&file(TWO_APIS), Path::new("scfgate.toml"));
        let mut second = state.services[0].draft();
        second.apis.clear();
        state.services[0].releases.push(Release::new("service-a", 2, "test".into(), String::new(), second));
        state.services[0].serving.insert("test".into(), Serving { release_id: 2, since: 0 });
        let served = state.served_file(&file(""));
        let stages: Vec<_> = served.services.iter().map(|service| service.stages.clone().unwrap()).collect();
        assert_eq!(stages, [vec!["release".to_string()], vec!["test".to_string()]]);
        // Stage variables go with the table that serves their stage.
        assert!(served.services[0].stage_variables.is_empty());
        assert_eq!(served.services[1].stage_variables.len(), 1);
        // The plan keeps only the environment that is served.
        assert_eq!(served.usage_plans[0].environments.len(), 1);
        let config = crate::config::validate::validate(served, Path::new("scfgate.toml"), &Default::default()).unwrap();
        assert_eq!(config.services.len(), 2);
        assert_eq!(config.apis.len(), 1);
    }

    #[test]
    fn pruning_keeps_the_newest_releases_and_every_served_one() {
        let mut state = State::seeded_from(&file(TWO_APIS), Path::new("scfgate.toml"));
        let service = &mut state.services[0];
        for id in 2..=6 {
            let release = Release { id, ..service.releases[0].clone() };
            service.releases.push(release);
        }
        // Seeding made release 1 serve `release` and `test`; `release` moves to 6.
        service.serving.insert("release".into(), Serving { release_id: 6, since: 0 });
        let ids = |service: &ServiceRecord| service.releases.iter().map(|release| release.id).collect::<Vec<_>>();
        assert_eq!(service.prune_releases(2), 3);
        assert_eq!(ids(service), [1, 5, 6]);
        assert!(service.kept_release(5).is_ok());
        assert!(service.kept_release(3).unwrap_err().contains("release 3 is no longer kept"));
        assert!(service.kept_release(7).unwrap_err().contains("has no release `7`"));
        // Nothing more to drop until `test` stops serving release 1.
        assert_eq!(service.prune_releases(2), 0);
        service.serving.remove("test");
        assert_eq!(service.prune_releases(2), 1);
        assert_eq!(ids(service), [5, 6]);
    }

    #[test]
    fn release_snapshots_have_files_of_their_own_that_go_with_their_release() {
        let dir = std::env::temp_dir().join(format!("scfgate-store-snapshots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.join(RELEASES_DIR))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let stored =
            || serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(dir.join(STATE_FILE)).unwrap());
        // A state of format 1, with the snapshot inline, is upgraded when opened.
        let seeded = State::seeded_from(&file(TWO_APIS), Path::new("scfgate.toml"));
        let mut old = serde_json::to_value(&seeded).unwrap();
        old["format"] = 1.into();
        let release = &mut old["services"][0]["releases"][0];
        release.as_object_mut().unwrap().remove("snapshot");
        release["service"] = serde_json::to_value(&*seeded.services[0].releases[0].service).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(STATE_FILE), serde_json::to_vec(&old).unwrap()).unwrap();
        let (mut store, state) = Store::open(&dir, true).unwrap();
        let mut state = state.unwrap();
        assert_eq!(state.services[0].releases[0].service.apis.len(), 1);
        assert_eq!(files(), [state.services[0].releases[0].snapshot.clone()]);
        let upgraded = stored().unwrap();
        assert_eq!(upgraded["format"], FORMAT);
        assert!(upgraded["services"][0]["releases"][0].get("service").is_none(), "{upgraded}");

        // A new release adds a file; one the history drops takes its file with it.
        let draft = state.services[0].draft();
        state.services[0].releases.push(Release::new("service-a", 2, "test".into(), String::new(), draft));
        store.save(&state).unwrap();
        assert_eq!(files().len(), 2);
        state.services[0].releases.remove(0);
        store.save(&state).unwrap();
        assert_eq!(files(), [state.services[0].releases[0].snapshot.clone()]);

        // Reopened, snapshots are read from their files, and a file nothing names is removed.
        drop(store);
        std::fs::write(dir.join(RELEASES_DIR).join("left-by-a-crash.json"), "{}").unwrap();
        let (_store, reopened) = Store::open(&dir, true).unwrap();
        assert_eq!(reopened.unwrap().services[0].releases[0].service.apis.len(), 1);
        assert_eq!(files(), [state.services[0].releases[0].snapshot.clone()]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn saved_state_reopens_and_the_directory_is_locked() {
        let dir = std::env::temp_dir().join(format!("scfgate-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut store, state) = Store::open(&dir, true).unwrap();
        assert!(state.is_none());
        let state = State::seeded_from(&file(TWO_APIS), Path::new("scfgate.toml"));
        store.save(&state).unwrap();
        assert!(Store::open(&dir, true).is_err_and(|error| error.contains("in use")));
        drop(store);
        let (_store, reopened) = Store::open(&dir, true).unwrap();
        assert_eq!(reopened.unwrap().services[0].id(), "service-a");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
