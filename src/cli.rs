//! Command-line flags. Parsing only: no I/O, no side effects. Each flag that names a setting
//! overrides the config file's `[gateway]` value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::{DriverChoice, Overrides};

/// scfgate: a thread-per-core API gateway for SCF functions, compatible with Tencent Cloud API Gateway.
#[derive(Debug, Parser)]
#[command(
    name = "scfgate",
    version,
    about,
    long_about = None,
    after_help = "To bring a Tencent deployment over: scfgate import serverless.yml... [--out FILE] (see scfgate import --help)"
)]
pub struct Args {
    /// The TOML configuration file (services, APIs, functions, [gateway] settings).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Validate the configuration, print the compiled route table, and exit (0 when valid).
    #[arg(long)]
    pub check: bool,

    /// Validate the configuration, then ask the gateway whose pid is in `--pid-file` to reload it
    /// (SIGHUP); exit non-zero without signalling when the file is invalid.
    #[arg(long, requires = "pid_file")]
    pub reload: bool,

    /// Validate the configuration, then ask the gateway whose pid is in `--pid-file` to upgrade
    /// (SIGUSR2): it starts the binary it was started from, hands it its listening sockets and
    /// drains once the new one serves. Waits for the outcome; exits non-zero when the running
    /// gateway keeps serving instead (the reason is printed).
    #[arg(long, requires = "pid_file", conflicts_with = "reload")]
    pub upgrade: bool,

    /// Development: restart a local function's processes when a file under its `code` folder
    /// changes (checked every 500 ms); other functions keep serving.
    #[arg(long)]
    pub watch: bool,

    /// Write the gateway's pid here while it runs (and read it from here with `--reload` and
    /// `--upgrade`; an upgrade's outcome is written beside it, as FILE.upgrade).
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Address to accept HTTP on (repeatable). Overrides `[gateway] listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Address to accept HTTPS on (repeatable); certificates come from `[[certificate]]`.
    /// Overrides `[gateway] tls_listen`.
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Vec<SocketAddr>,

    /// Worker threads, one runtime and one listening socket each. Default: the number of cores.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// I/O driver: `auto` (io_uring with the fastest ring flags the kernel accepts, else epoll),
    /// `uring` (io_uring or fail), `legacy` (epoll).
    #[arg(long, value_enum, value_name = "DRIVER")]
    pub driver: Option<DriverChoice>,

    /// io_uring submission queue entries per worker.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub ring_entries: u32,

    /// Listen backlog of each listening socket.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub backlog: i32,

    /// Largest request head (request line and headers) in bytes; larger gets 431.
    #[arg(long, value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,

    /// Largest request body in bytes; larger gets 413.
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Bytes of request bodies event APIs may hold at once, all workers together (each takes an
    /// equal share); a body that does not fit gets 503 with Retry-After. Default: 64 MiB per worker.
    #[arg(long, value_name = "BYTES")]
    pub body_memory: Option<usize>,

    /// Seconds a keep-alive connection may wait for its next request before it is closed.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub idle_timeout: Option<Duration>,

    /// Seconds a keep-alive connection waits for its next request before it is parked: its task
    /// and buffers are freed and only its descriptor is watched until it speaks again. At or above
    /// `--idle-timeout`, connections are never parked.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub park_after: Option<Duration>,

    /// Seconds a client has, from its first byte, to send a whole request head (slowloris guard).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub header_timeout: Option<Duration>,

    /// Seconds a write to a client may make no progress (the client does not read) before its
    /// connection is closed and what it held is released (nginx `send_timeout`).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub send_timeout: Option<Duration>,

    /// Idle keep-alive connections kept per function endpoint (per web function instance) per worker.
    #[arg(long, value_name = "N")]
    pub pool_size: Option<usize>,

    /// Seconds a pooled backend connection may sit idle; past it, it is closed and never reused.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub pool_idle_timeout: Option<Duration>,

    /// Invocations that may wait for a busy local function (per function) before 503.
    #[arg(long, value_name = "N")]
    pub queue_depth: Option<usize>,

    /// Client connections open at once, all workers together; past it new ones get 503 and are
    /// closed. Each worker takes an equal share.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Read buffer a client request is read into, in bytes (grows for larger requests; an idle
    /// keep-alive connection waits in a 2 KiB one).
    #[arg(long, value_name = "BYTES")]
    pub read_buffer_bytes: Option<usize>,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT before the gateway exits.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub shutdown_timeout: Option<Duration>,

    /// Pin worker N to core N (mod the number of cores).
    #[arg(long)]
    pub pin_cores: bool,

    /// Log one line per request (target `access`): request id, trace id, client, method, path,
    /// service, stage, API, function, status (499 when the client left before its response was
    /// written), the function's status, bytes both ways, durations (total and the function's).
    #[arg(long)]
    pub access_log: bool,

    /// The access log's format: `text` (the log's own line format) or `json` (one object per
    /// line, for a log pipeline). Turns the access log on.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub access_log_format: Option<AccessLogFormat>,

    /// Serve `GET /metrics` (Prometheus text format, or OpenMetrics when the scraper asks),
    /// `GET /healthz` and `GET /readyz` on this address (also served on the admin listener).
    /// No token: bind it to an address only your monitoring reaches.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve the admin API (JSON over HTTP: services, APIs, publish, rollback, docs, OpenAPI) on
    /// this address. Needs a token (`SCFGATE_ADMIN_TOKEN` or `--admin-token-file`) unless it is
    /// loopback. The state lives in `--state-dir`.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,

    /// A file whose first line is the admin API's bearer token (`SCFGATE_ADMIN_TOKEN` wins).
    #[arg(long, value_name = "FILE", requires = "admin_listen")]
    pub admin_token_file: Option<PathBuf>,

    /// The management plane's state (services, APIs, releases, functions, usage plans, key
    /// pairs). Seeded from the config file when empty; afterwards the source of truth, and the
    /// file supplies only `[gateway]` and certificates. Default with `--admin-listen`:
    /// `scfgate-state` beside the config file.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Keep the management plane's state in etcd instead of a state directory, for a cluster of
    /// nodes that serve one configuration: `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (`etcds://`
    /// for TLS). Every node watches it and serves what any node publishes. Seeded from the config
    /// file when the prefix is empty, as a state directory is.
    #[arg(long, value_name = "URL", conflicts_with = "state_dir")]
    pub store: Option<String>,

    /// The etcd user (its password in `SCFGATE_STORE_PASSWORD`).
    #[arg(long, value_name = "NAME", requires = "store")]
    pub store_user: Option<String>,

    /// PEM file of the CA that signed etcd's certificate (`etcds://`).
    #[arg(long, value_name = "FILE", requires = "store")]
    pub store_ca_file: Option<PathBuf>,

    /// PEM client certificate for etcd (`etcds://`, with `--store-client-key`).
    #[arg(long, value_name = "FILE", requires = "store_client_key")]
    pub store_client_cert: Option<PathBuf>,

    /// PEM key of `--store-client-cert`.
    #[arg(long, value_name = "FILE", requires = "store_client_cert")]
    pub store_client_key: Option<PathBuf>,

    /// A file holding the 256-bit key (64 hex digits: `openssl rand -hex 32`) that seals the
    /// state in etcd (AES-256-GCM): key pairs, functions' environments, services. Every node
    /// needs the same key. Required with `--store` unless `--store-plaintext`.
    #[arg(long, value_name = "FILE", requires = "store")]
    pub store_seal_key_file: Option<PathBuf>,

    /// Keep the state in etcd in plain JSON: anyone who can read etcd reads the key pairs.
    #[arg(long, requires = "store", conflicts_with = "store_seal_key_file")]
    pub store_plaintext: bool,

    /// Count usage plans across a cluster in Redis (`redis://HOST:PORT[/DB]`, `rediss://` for
    /// TLS, password as `redis://:PASSWORD@HOST:PORT` or in the URL's user part): every node's
    /// limits then add up to the plan's. Requests never wait for Redis; each worker reports in
    /// batches and falls back to its share of the cluster when Redis does not answer.
    #[arg(long, value_name = "URL", env = "SCFGATE_LIMITS")]
    pub limits: Option<String>,

    /// The prefix of scfgate's keys in Redis (nodes of one cluster share it).
    #[arg(long, value_name = "PREFIX", default_value = "scfgate", requires = "limits")]
    pub limits_prefix: String,

    /// Releases kept per service in the state directory: the newest N, plus any release a stage
    /// still serves. Older ones are dropped (and can no longer be rolled back to).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_releases: u64,

    /// Log filter, e.g. `info`, `debug`, `scfgate=debug` (also `RUST_LOG`).
    #[arg(long, value_name = "FILTER", env = "SCFGATE_LOG", default_value = "info")]
    pub log: String,
}

/// `scfgate import`: Tencent deployment files in, one scfgate configuration out. A subcommand of
/// its own (`main` sees `import` first), so that it needs no `--config` and leaves `Args` as it is.
#[derive(Debug, Parser)]
#[command(name = "scfgate import", version, long_about = None)]
pub struct ImportArgs {
    /// Serverless Framework `serverless.yml` files (component: scf or apigateway; several make one
    /// project) and OpenAPI 3 documents (JSON or YAML, with Tencent's `x-apigw-*` extensions).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Write the configuration here instead of stdout; `code` folders are then written relative
    /// to its folder (else relative to the current folder).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl ImportArgs {
    /// `Some` when the command line is `scfgate import ...`.
    pub fn from_command_line() -> Option<ImportArgs> {
        let mut arguments = std::env::args_os();
        let program = arguments.next()?;
        let first = arguments.next()?;
        (first == "import").then(|| ImportArgs::parse_from(std::iter::once(program).chain(arguments)))
    }
}

/// The environment variable holding the etcd password.
pub const STORE_PASSWORD_ENV: &str = "SCFGATE_STORE_PASSWORD";

impl Args {
    /// Whether the management plane runs: with `--store`, `--state-dir` or `--admin-listen`.
    pub fn uses_state(&self) -> bool {
        self.store.is_some() || self.state_dir().is_some()
    }

    /// Where the management plane's state lives (`None`: the config file alone is served), with
    /// the files `--store`'s options name read now.
    pub fn store_choice(&self) -> Result<Option<crate::admin::storage::StoreChoice>, String> {
        use crate::admin::etcd::{EtcdSettings, EtcdUrl};
        use crate::admin::storage::StoreChoice;
        let Some(url) = &self.store else {
            return Ok(self.state_dir().map(StoreChoice::Directory));
        };
        let url = EtcdUrl::parse(url).map_err(|error| format!("--store {error}"))?;
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|error| format!("{flag} {}: {error}", path.display()))
        };
        let seal = match (&self.store_seal_key_file, self.store_plaintext) {
            (Some(path), _) => {
                let text = String::from_utf8(read("--store-seal-key-file", path)?).unwrap_or_default();
                Some(crate::admin::seal::Seal::from_hex(&text).map_err(|error| format!("--store-seal-key-file {}: {error}", path.display()))?)
            }
            (None, true) => None,
            (None, false) => {
                return Err("--store needs --store-seal-key-file (the key that seals key pairs and the rest of the state in etcd), or --store-plaintext to keep it readable to whoever reads etcd".into())
            }
        };
        let user = match &self.store_user {
            Some(user) => Some((
                user.clone(),
                std::env::var(STORE_PASSWORD_ENV)
                    .map_err(|_| format!("--store-user needs the password in {STORE_PASSWORD_ENV}"))?,
            )),
            None => None,
        };
        if !url.tls && (self.store_ca_file.is_some() || self.store_client_cert.is_some()) {
            return Err("--store-ca-file and --store-client-cert are for TLS: write the URL as etcds://".into());
        }
        let ca_pem = self.store_ca_file.as_deref().map(|path| read("--store-ca-file", path)).transpose()?;
        let client_identity = match (&self.store_client_cert, &self.store_client_key) {
            (Some(cert), Some(key)) => Some((read("--store-client-cert", cert)?, read("--store-client-key", key)?)),
            _ => None,
        };
        Ok(Some(StoreChoice::Etcd(Box::new(EtcdSettings { url, user, ca_pem, client_identity, seal }))))
    }

    /// Where the management plane's state lives, when it is used at all.
    pub fn state_dir(&self) -> Option<PathBuf> {
        match (&self.state_dir, self.admin_listen) {
            (Some(dir), _) => Some(dir.clone()),
            (None, Some(_)) => Some(self.config.parent().unwrap_or(std::path::Path::new("")).join("scfgate-state")),
            (None, None) => None,
        }
    }

    /// The flags that override config-file settings.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            tls_listen: self.tls_listen.clone(),
            workers: self.workers,
            driver: self.driver,
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
            body_memory: self.body_memory,
            idle_timeout: self.idle_timeout,
            park_after: self.park_after,
            header_timeout: self.header_timeout,
            send_timeout: self.send_timeout,
            pool_size: self.pool_size,
            pool_idle_timeout: self.pool_idle_timeout,
            queue_depth: self.queue_depth,
            max_connections: self.max_connections,
            read_buffer_bytes: self.read_buffer_bytes,
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

/// How access-log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogFormat {
    /// `2026-12-03T14:35:00.530Z INFO access: request_id=... status=200 ...`.
    Text,
    /// `{"timestamp":"...","level":"INFO","request_id":"...","status":200,...,"target":"access"}`.
    Json,
}

/// A number of seconds, within the range the config file's durations have (one day at most):
/// clap's error then names the flag.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    crate::config::validate::durations::ONE_DAY.parse_flag(text)
}
