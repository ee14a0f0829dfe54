//! Which unit runs each local function, across reloads. A unit is one function's supervisor on
//! the host thread, with its processes, ports and queue; it is known by a number that never
//! changes (the invoke path `/invoke/{unit}` and a web function's board are the unit's).
//!
//! A function is known by its identity (namespace, name, qualifier). At a reload each local
//! function of the new configuration is compared with the unit that runs it, on the settings its
//! processes were started with ([`CustomSpec`], [`WebSpec`]): the same, and the unit keeps
//! running, warm, taking the settings that do not need a restart ([`CustomTuning`],
//! [`WebTuning`]); different, and a new unit starts while the old one is retired once its
//! requests are done; gone, and its unit is retired. The main thread decides (it binds the new
//! units' ports, so a reload that cannot get them is refused before anything changes) and sends
//! the host thread a list of [`Change`]s.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use super::web_instances::WebInstances;
use crate::config::{Config, Function, FunctionIndex, FunctionRuntime, Launcher, TencentIdentity};
use crate::metrics::functions::FunctionStats;

/// A function's identity: what makes two configurations' functions the same one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionKey {
    namespace: String,
    name: String,
    qualifier: String,
}

impl FunctionKey {
    /// The identity of `function`.
    pub fn of(function: &Function) -> Self {
        FunctionKey {
            namespace: function.namespace.clone(),
            name: function.name.clone(),
            qualifier: function.qualifier.clone(),
        }
    }
}

/// What a custom-runtime function's processes are started with: a change restarts them.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomSpec {
    pub label: Arc<str>,
    pub code: PathBuf,
    pub handler: String,
    /// Its own `bootstrap`, or scfgate's runtime for a standard runtime.
    pub launcher: Launcher,
    pub name: String,
    pub namespace: String,
    pub qualifier: String,
    pub memory_mb: u32,
    pub environment: Vec<(String, String)>,
    pub identity: TencentIdentity,
    /// One runtime-API port per possible instance is bound up front.
    pub max_instances: usize,
}

/// A custom-runtime function's settings that apply to running processes.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomTuning {
    /// `instances`: kept warm.
    pub instances: usize,
    pub idle_timeout: Duration,
    pub init_timeout: Duration,
    pub queue_depth: usize,
}

/// What a web function's processes are started with, and what its board tells the workers: a
/// change restarts them.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSpec {
    pub label: Arc<str>,
    pub code: PathBuf,
    pub name: String,
    pub namespace: String,
    pub qualifier: String,
    pub memory_mb: u32,
    pub environment: Vec<(String, String)>,
    pub identity: TencentIdentity,
    pub max_instances: usize,
    /// The port it insists on, if any.
    pub port: Option<u16>,
    pub concurrency: usize,
    pub init_timeout: Duration,
}

/// A web function's settings that apply to running processes.
#[derive(Debug, Clone, PartialEq)]
pub struct WebTuning {
    /// `instances`: kept warm.
    pub instances: usize,
    pub idle_timeout: Duration,
    /// The longest a request to it may take (its APIs' longest timeout, plus a second).
    pub drain_limit: Duration,
}

/// What the host thread is told to do.
pub enum Change {
    /// Run a custom-runtime function, its runtime-API ports bound.
    StartCustom {
        unit: u64,
        spec: CustomSpec,
        tuning: CustomTuning,
        listeners: Vec<TcpListener>,
        code_version: Arc<AtomicU64>,
        ready: Arc<AtomicUsize>,
        stats: Arc<FunctionStats>,
    },
    /// Run a web function on these ports, publishing to this board.
    StartWeb {
        unit: u64,
        spec: WebSpec,
        tuning: WebTuning,
        ports: Vec<u16>,
        board: Arc<WebInstances>,
        code_version: Arc<AtomicU64>,
        stats: Arc<FunctionStats>,
    },
    /// New settings for a running custom-runtime function.
    TuneCustom { unit: u64, tuning: CustomTuning },
    /// New settings for a running web function.
    TuneWeb { unit: u64, tuning: WebTuning },
    /// Stop a unit once the requests it may still get are done, at the latest after `grace`
    /// (the longest API timeout of the configuration that used it, plus a second).
    Retire { unit: u64, grace: Duration },
}

/// How a local function of one configuration is reached.
#[derive(Debug, Clone)]
pub enum Reach {
    /// `POST /invoke/{unit}` on the host's invoke endpoint.
    Invoke {
        /// The unit's number.
        unit: u64,
        /// Its instances ready to take an event (asked for work, process running), as the host
        /// thread last counted them (`crate::readiness`).
        ready: Arc<AtomicUsize>,
    },
    /// Straight to its instances, as its board says.
    Web {
        /// The board the unit publishes its instances on.
        board: Arc<WebInstances>,
    },
}

/// The unit running one function, as the main thread remembers it.
struct Running {
    unit: u64,
    kind: Kind,
    code: PathBuf,
    code_version: Arc<AtomicU64>,
}

enum Kind {
    Custom { spec: CustomSpec, tuning: CustomTuning, ready: Arc<AtomicUsize>, stats: Arc<FunctionStats> },
    Web { spec: WebSpec, tuning: WebTuning, board: Arc<WebInstances>, stats: Arc<FunctionStats> },
}

/// What a function of a new configuration needs from a unit.
enum Wanted {
    Custom { spec: CustomSpec, tuning: CustomTuning },
    Web { spec: WebSpec, tuning: WebTuning },
}

/// The main thread's record of the units (see the module docs).
#[derive(Default)]
pub struct Units {
    running: HashMap<FunctionKey, Running>,
    next_unit: u64,
    /// The longest API timeout of the configuration the units were last set up for, plus a
    /// second: how long a retired unit may still get requests.
    grace: Duration,
}

/// The outcome of [`Units::plan`]: the changes to send, and how each function is reached.
pub struct Plan {
    pub changes: Vec<Change>,
    /// By function position: `None` for functions that do not run locally.
    pub reach: Vec<Option<Reach>>,
    /// Code folders and their change counters, for `--watch`.
    pub code_folders: Vec<(PathBuf, Arc<AtomicU64>)>,
}

impl Units {
    /// Decides what `config` changes, binding what new units need; nothing is recorded until
    /// [`commit`](Self::commit), so a plan that fails changes nothing.
    pub fn plan(&self, config: &Config) -> std::io::Result<(Plan, Units)> {
        let mut next = Units { running: HashMap::new(), next_unit: self.next_unit, grace: longest_timeout(config) };
        let mut changes = Vec::new();
        let mut reach = Vec::with_capacity(config.functions.len());
        let mut chosen_ports = super::ports::PortChooser::default();
        for (id, function) in FunctionIndex::enumerate(&config.functions) {
            let Some(wanted) = describe(config, id, function) else {
                reach.push(None);
                continue;
            };
            let key = FunctionKey::of(function);
            let code = code_of(function);
            let kept = match self.running.get(&key) {
                Some(previous) => keep(previous.unit, &previous.kind, wanted).map(|kept| (previous, kept)),
                None => Err(Box::new(wanted)),
            };
            let running = match kept {
                Ok((previous, (kind, retune))) => {
                    changes.extend(retune);
                    Running { unit: previous.unit, kind, code, code_version: previous.code_version.clone() }
                }
                Err(wanted) => {
                    let unit = next.next_unit;
                    next.next_unit += 1;
                    let code_version = Arc::new(AtomicU64::new(0));
                    let (change, kind) = start(unit, *wanted, config, &mut chosen_ports, code_version.clone())?;
                    changes.push(change);
                    Running { unit, kind, code, code_version }
                }
            };
            reach.push(Some(match &running.kind {
                Kind::Custom { ready, .. } => Reach::Invoke { unit: running.unit, ready: ready.clone() },
                Kind::Web { board, .. } => Reach::Web { board: board.clone() },
            }));
            next.running.insert(key, running);
        }
        // Replaced or removed: retired once their last requests are done.
        for (key, running) in &self.running {
            if next.running.get(key).is_none_or(|now| now.unit != running.unit) {
                changes.push(Change::Retire { unit: running.unit, grace: self.grace });
            }
        }
        let code_folders =
            next.running.values().map(|running| (running.code.clone(), running.code_version.clone())).collect();
        Ok((Plan { changes, reach, code_folders }, next))
    }

    /// Records a plan as carried out.
    pub fn commit(&mut self, next: Units) {
        *self = next;
    }

    /// Whether any local function runs.
    pub fn any(&self) -> bool {
        !self.running.is_empty()
    }

    /// The metrics of the units the last committed plan runs, by function name.
    pub fn stats(&self) -> Vec<Arc<FunctionStats>> {
        let mut stats: Vec<Arc<FunctionStats>> = self
            .running
            .values()
            .map(|running| match &running.kind {
                Kind::Custom { stats, .. } | Kind::Web { stats, .. } => stats.clone(),
            })
            .collect();
        stats.sort_by(|a, b| a.function.cmp(&b.function));
        stats
    }
}

/// The longest API timeout of `config`, plus a second.
fn longest_timeout(config: &Config) -> Duration {
    config.apis.iter().map(|api| api.timeout).max().unwrap_or_default() + Duration::from_secs(1)
}

fn code_of(function: &Function) -> PathBuf {
    match &function.runtime {
        FunctionRuntime::Custom { code, .. } | FunctionRuntime::Web { code, .. } => code.clone(),
        _ => PathBuf::new(),
    }
}

/// What function `id` of `config` needs from a unit; `None` when it does not run locally.
fn describe(config: &Config, id: FunctionIndex, function: &Function) -> Option<Wanted> {
    let label: Arc<str> = function.display_name().into();
    let identity = config.gateway.identity.clone();
    match &function.runtime {
        FunctionRuntime::Custom {
            code,
            launcher,
            handler,
            instances,
            init_timeout,
            max_instances,
            idle_timeout,
            environment,
        } => Some(Wanted::Custom {
            spec: CustomSpec {
                label,
                code: code.clone(),
                handler: handler.clone(),
                launcher: launcher.clone(),
                name: function.name.clone(),
                namespace: function.namespace.clone(),
                qualifier: function.qualifier.clone(),
                memory_mb: function.memory_mb,
                environment: environment.clone(),
                identity,
                max_instances: *max_instances,
            },
            tuning: CustomTuning {
                instances: *instances,
                idle_timeout: *idle_timeout,
                init_timeout: *init_timeout,
                queue_depth: config.gateway.queue_depth,
            },
        }),
        FunctionRuntime::Web {
            code,
            instances,
            init_timeout,
            max_instances,
            idle_timeout,
            concurrency,
            port,
            environment,
        } => Some(Wanted::Web {
            spec: WebSpec {
                label,
                code: code.clone(),
                name: function.name.clone(),
                namespace: function.namespace.clone(),
                qualifier: function.qualifier.clone(),
                memory_mb: function.memory_mb,
                environment: environment.clone(),
                identity,
                max_instances: *max_instances,
                port: *port,
                concurrency: *concurrency,
                init_timeout: *init_timeout,
            },
            tuning: WebTuning {
                instances: *instances,
                idle_timeout: *idle_timeout,
                drain_limit: config
                    .apis
                    .iter()
                    .filter(|api| api.function == id)
                    .map(|api| api.timeout)
                    .max()
                    .unwrap_or_default()
                    + Duration::from_secs(1),
            },
        }),
        FunctionRuntime::Remote { .. } | FunctionRuntime::TencentCloud(_) => None,
    }
}

/// `new` as run by the unit `unit` that runs `old`, with the change that retunes it (if its
/// settings moved), when that needs no restart of its processes; otherwise `new` back. A kept
/// web function keeps its board: workers keep using it, and with it their pooled connections.
fn keep(unit: u64, old: &Kind, new: Wanted) -> Result<(Kind, Option<Change>), Box<Wanted>> {
    match (old, new) {
        (Kind::Custom { spec: old_spec, tuning: old_tuning, ready, stats }, Wanted::Custom { spec, tuning })
            if *old_spec == spec =>
        {
            let change = (*old_tuning != tuning).then(|| Change::TuneCustom { unit, tuning: tuning.clone() });
            Ok((Kind::Custom { spec, tuning, ready: ready.clone(), stats: stats.clone() }, change))
        }
        (Kind::Web { spec: old_spec, tuning: old_tuning, board, stats }, Wanted::Web { spec, tuning })
            if *old_spec == spec =>
        {
            let change = (*old_tuning != tuning).then(|| Change::TuneWeb { unit, tuning: tuning.clone() });
            Ok((Kind::Web { spec, tuning, board: board.clone(), stats: stats.clone() }, change))
        }
        (_, new) => Err(Box::new(new)),
    }
}

/// The change that starts a new unit for `kind`, binding its ports, and its record.
fn start(
    unit: u64,
    kind: Wanted,
    config: &Config,
    ports: &mut super::ports::PortChooser,
    code_version: Arc<AtomicU64>,
) -> std::io::Result<(Change, Kind)> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    match kind {
        Wanted::Custom { spec, tuning } => {
            if let Launcher::Standard(runtime) = &spec.launcher {
                // Which interpreter serves it: the version may not be the one it asked for.
                let version =
                    super::standard::version(&runtime.interpreter).unwrap_or_else(|| "unknown version".into());
                tracing::info!(function = %spec.label, asked = %runtime.name, runs_on = %version, interpreter = %runtime.interpreter.display(), "standard runtime");
            }
            let listeners = (0..spec.max_instances)
                .map(|_| crate::listener::bind_one(loopback, 64))
                .collect::<std::io::Result<Vec<_>>>()?;
            let ready = Arc::new(AtomicUsize::new(0));
            let stats = Arc::new(FunctionStats::new(spec.label.to_string(), "event"));
            let change = Change::StartCustom {
                unit,
                spec: spec.clone(),
                tuning: tuning.clone(),
                listeners,
                code_version,
                ready: ready.clone(),
                stats: stats.clone(),
            };
            Ok((change, Kind::Custom { spec, tuning, ready, stats }))
        }
        Wanted::Web { spec, tuning } => {
            let chosen = ports.choose(spec.port, spec.max_instances)?;
            let board = Arc::new(WebInstances::new(
                chosen.iter().map(|&port| super::ports::instance_address(port)).collect(),
                config.gateway.workers,
                spec.concurrency,
                spec.max_instances,
                spec.init_timeout,
            ));
            let stats = Arc::new(FunctionStats::new(spec.label.to_string(), "web"));
            let change = Change::StartWeb {
                unit,
                spec: spec.clone(),
                tuning: tuning.clone(),
                ports: chosen,
                board: board.clone(),
                stats: stats.clone(),
                code_version,
            };
            Ok((change, Kind::Web { spec, tuning, board, stats }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate, Overrides};

    /// A folder holding the functions' code (`a`, `b`: custom; `w`: web), made once per run.
    fn folder() -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let folder = std::env::temp_dir().join(format!("scfgate-units-{}", std::process::id()));
        for (name, file) in [("a", "bootstrap"), ("b", "bootstrap"), ("w", "scf_bootstrap")] {
            std::fs::create_dir_all(folder.join(name)).unwrap();
            let path = folder.join(name).join(file);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        folder
    }

    fn parse(text: &str) -> Config {
        validate::parse_str(text, &folder().join("units.toml"), &Overrides::default()).unwrap()
    }

    /// A configuration with a custom function `a` and a web function `w`, plus `more` TOML.
    fn config(a: &str, w: &str, more: &str) -> Config {
        let text = format!(
            r#"
[[service]]
id = "service-units"
name = "units"
[[service.api]]
name = "a"
path = "/a"
method = "GET"
function = {{ name = "a" }}
[[service.api]]
name = "w"
path = "/w"
method = "GET"
function = {{ name = "w" }}
{more}
[[function]]
name = "a"
runtime = "custom"
code = "a"
{a}
[[function]]
name = "w"
runtime = "web"
code = "w"
{w}
"#
        );
        parse(&text)
    }

    /// What a plan does, in words: `start`, `tune`, `retire` per change, in order.
    fn kinds(plan: &Plan) -> Vec<&'static str> {
        plan.changes
            .iter()
            .map(|change| match change {
                Change::StartCustom { .. } | Change::StartWeb { .. } => "start",
                Change::TuneCustom { .. } | Change::TuneWeb { .. } => "tune",
                Change::Retire { .. } => "retire",
            })
            .collect()
    }

    #[test]
    fn a_reload_restarts_only_what_changed() {
        const OTHER: &str = "[[function]]\nname = \"b\"\nruntime = \"custom\"\ncode = \"b\"\n";
        // (case, function a's keys, function w's keys, more TOML, changes, a kept, w kept)
        type Case<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [&'a str], bool, bool);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("nothing changed", "", "", "", &[], true, true),
            ("another function added", "", "", OTHER, &["start"], true, true),
            ("instances of a", "instances = 2\nmax_instances = 2", "", "", &["start", "retire"], false, true),
            ("idle_timeout of a", "idle_timeout = 5", "", "", &["tune"], true, true),
            ("environment of w", "", "environment = { X = \"1\" }", "", &["start", "retire"], true, false),
            ("instances of w", "", "instances = 2\nmax_instances = 2", "", &["start", "retire"], true, false),
            ("idle_timeout of w", "", "idle_timeout = 9", "", &["tune"], true, true),
            ("handler of a", "handler = \"other.main\"", "", "", &["start", "retire"], false, true),
        ];
        for (case, a, w, more, expected, a_kept, w_kept) in cases {
            let mut units = Units::default();
            let base = config("", "", "");
            let (plan, next) = units.plan(&base).unwrap();
            assert_eq!(kinds(&plan), ["start", "start"], "{case}: the first plan starts both");
            let before = plan.reach.clone();
            units.commit(next);

            let reloaded = config(a, w, more);
            let (plan, next) = units.plan(&reloaded).unwrap();
            assert_eq!(kinds(&plan), *expected, "{case}");
            // By name: a function added before them moves their ids.
            let same = |name: &str| {
                let old = base.functions.iter().position(|function| function.name == name).unwrap();
                let new = reloaded.functions.iter().position(|function| function.name == name).unwrap();
                match (&before[old], &plan.reach[new]) {
                    (Some(Reach::Invoke { unit: old, .. }), Some(Reach::Invoke { unit: new, .. })) => old == new,
                    (Some(Reach::Web { board: old }), Some(Reach::Web { board: new })) => Arc::ptr_eq(old, new),
                    _ => false,
                }
            };
            assert_eq!((same("a"), same("w")), (*a_kept, *w_kept), "{case}");
            units.commit(next);
            assert!(
                units.plan(&config(a, w, more)).unwrap().0.changes.is_empty(),
                "{case}: a second reload changes nothing"
            );
        }
    }

    #[test]
    fn a_removed_function_is_retired_and_a_moved_one_kept() {
        let mut units = Units::default();
        let (plan, next) = units.plan(&config("", "", "")).unwrap();
        let first = plan.reach.clone();
        units.commit(next);
        // `b` first in the file: `a` and `w` move to ids 1 and 2, and keep their units.
        let moved =
            config("", "", "[[function]]\nname = \"b\"\nruntime = \"remote\"\ninvoke_url = \"http://127.0.0.1:9/\"\n");
        let (plan, next) = units.plan(&moved).unwrap();
        assert!(plan.changes.is_empty(), "{:?}", kinds(&plan));
        let position = |name: &str| moved.functions.iter().position(|function| function.name == name).unwrap();
        assert!(
            matches!((&first[0], &plan.reach[position("a")]), (Some(Reach::Invoke { unit: old, .. }), Some(Reach::Invoke { unit: new, .. })) if old == new)
        );
        units.commit(next);
        // Gone from the file: retired.
        let text = "[[service]]\nid = \"service-units\"\nname = \"units\"\n";
        let empty = parse(text);
        let (plan, _) = units.plan(&empty).unwrap();
        assert_eq!(kinds(&plan), ["retire", "retire"]);
    }
}
