//! File + flags → [`Config`]: applies defaults and command-line overrides, checks every value and
//! every cross-reference once at start, and reports the first problem as a [`ConfigError`] that names
//! the file, the service/API/function and the field. Nothing after this module re-checks the model.
//!
//! Checks that touch the outside world happen here too, because start is the only time they may
//! block: a custom function's `bootstrap` must exist and be executable, and a remote function's host
//! is resolved once.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{self, Seconds};
use super::path::parse_api_path;
use super::{
    Api, ApiMethod, ApiPath, ApiPolicy, Auth, Config, Cors, DriverChoice, Function, FunctionId, FunctionRuntime,
    GatewaySettings, Launcher, OAuthSettings, Overrides, Param, ParamPosition, ParamType, PathKind, Protocol,
    PushToken, Secret, Service, Stage, TencentIdentity, UsagePlan, WebSocketFunctions, WebSocketSettings,
};
use crate::policy::{key_pair::SecretKey, oauth};

pub mod durations;
mod local;
mod standard;
mod tencentcloud;

use durations::{API_TIMEOUT, ONE_DAY};
use local::{instance_settings, InstanceSettings};

/// Tencent's console limit on an API name.
const MAX_API_NAME_CHARS: usize = 60;
/// SCF's limit on a synchronous invocation's request and response payload (spec §6.1).
const SCF_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080));
const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
const DEFAULT_QUEUE_DEPTH: usize = 1024;
/// Idle backend connections a worker may keep per endpoint. High enough that connections follow
/// demand (as HAProxy's and Envoy's pools do by default) rather than being opened and closed per
/// request whenever more requests are in flight than the cap; the idle ones are closed after
/// `pool_idle_timeout`. At 256 connections on one worker, a cap of 64 cost 10.3 µs per request
/// against 9.0 µs (README, "Tuning").
const DEFAULT_POOL_SIZE: usize = 1024;
const DEFAULT_MAX_CONNECTIONS: usize = 65_536;
const DEFAULT_READ_BUFFER_BYTES: usize = 8 * 1024;
const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// nginx's `send_timeout` default.
const DEFAULT_SEND_TIMEOUT_SECS: u64 = 60;
/// `body_memory` per worker: ten bodies of SCF's 6 MiB at once.
const DEFAULT_BODY_MEMORY_PER_WORKER: usize = 64 << 20;
const DEFAULT_POOL_IDLE_TIMEOUT_SECS: u64 = 30;
/// Tencent's default backend timeout, "默认为15秒" (spec §6.1).
const DEFAULT_API_TIMEOUT_SECS: u64 = 15;
const DEFAULT_NAMESPACE: &str = "default";
const DEFAULT_QUALIFIER: &str = "$LATEST";
const DEFAULT_MEMORY_MB: u32 = 128;
const DEFAULT_HANDLER: &str = "index.main_handler";
/// The reverse-push endpoint: loopback, so that by default only this machine's functions can push.
const DEFAULT_PUSH_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8095));
/// The environment variable that holds the push token (it wins over `push_token` in the file).
pub const PUSH_TOKEN_ENV: &str = "SCFGATE_PUSH_TOKEN";
const DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// AWS API Gateway's WebSocket idle timeout; Tencent documents none.
const DEFAULT_WEBSOCKET_IDLE_TIMEOUT_SECS: u64 = 600;

/// A configuration problem, rendered as `file[:line:column][: location][: field `name`]: message`,
/// e.g. ``scfgate.toml: service `hello` api `say-hello`: field `path`: …``.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// Line and column (1-based) for TOML syntax and type errors, which come with a position.
    pub line_column: Option<(usize, usize)>,
    /// What the error is about: ``service `hello` api `say-hello` ``, ``function `default/hello:$LATEST` ``,
    /// `[gateway]`, `command line`; `None` for the file as a whole.
    pub location: Option<String>,
    /// The key at fault, as written in the file (or the flag, for command-line values).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file.display())?;
        if let Some((line, column)) = self.line_column {
            write!(formatter, ":{line}:{column}")?;
        }
        if let Some(location) = &self.location {
            write!(formatter, ": {location}")?;
        }
        if let Some(field) = &self.field {
            write!(formatter, ": field `{field}`")?;
        }
        write!(formatter, ": {}", self.message)
    }
}

impl ConfigError {
    /// An error about the file as a whole rather than one table in it.
    fn about_file(file: &Path, field: Option<&str>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line_column: None,
            location: None,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Reads the file at `path` and validates it with [`parse_str`].
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::about_file(path, None, format!("cannot read the file: {error}")))?;
    parse_str(&text, path, overrides)
}

/// Parses and validates config text that was read from `source`. `source` is named in errors,
/// stored as [`Config::source`], and its folder is where relative `code` folders are resolved.
pub fn parse_str(text: &str, source: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let parsed = parse_file(text, source)?;
    if parsed.services.is_empty() {
        return Err(ConfigError::about_file(
            source,
            Some("service"),
            "no [[service]] is defined, so no request could be served",
        ));
    }
    validate(parsed, source, overrides)
}

/// Reads config text into the file model only (TOML syntax, types, unknown keys), without the
/// checks of [`validate`].
pub fn parse_file(text: &str, source: &Path) -> Result<file::ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError {
        file: source.to_owned(),
        line_column: error.span().map(|span| line_column(text, span.start)),
        location: None,
        field: None,
        message: error.message().trim_end().to_owned(),
    })
}

/// Validates an already parsed file model: every rule of [`parse_str`] except that a file must
/// define a service (the admin API validates its state with this, and a fresh state has none
/// published yet). `source` is named in errors, and relative `code` folders resolve beside it.
pub fn validate(parsed: file::ConfigFile, source: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let gateway = build_gateway(parsed.gateway.unwrap_or_default(), overrides, source)?;
    let base_dir = source.parent().unwrap_or(Path::new(""));
    let functions = build_functions(parsed.functions, source, base_dir)?;

    let mut services = Vec::with_capacity(parsed.services.len());
    let mut apis = Vec::new();
    for (index, service) in parsed.services.into_iter().enumerate() {
        let (service, service_apis) = build_service(service, index, &services, &functions, source)?;
        services.push(service);
        apis.extend(service_apis);
    }
    check_push_token(&gateway, &apis, source)?;
    let certificates = build_certificates(parsed.certificates, source, base_dir)?;
    if !gateway.tls_listen.is_empty() && certificates.is_empty() {
        return Err(ConfigError::about_file(
            source,
            Some("tls_listen"),
            "HTTPS listeners need at least one [[certificate]] (hosts, cert, key)",
        ));
    }
    let secrets = build_secrets(parsed.secrets, source)?;
    let usage_plans = build_usage_plans(parsed.usage_plans, &mut services, &secrets, source)?;

    Ok(Config {
        source: source.to_owned(),
        gateway,
        services,
        apis,
        functions: functions.into_iter().map(|(function, _)| function).collect(),
        usage_plans,
        secrets,
        certificates,
    })
}

/// `[[certificate]]`: hosts lower-cased, paths resolved against the config file's folder. The
/// files themselves are read once at start by `crate::tls::server_config`, whose errors name them.
fn build_certificates(
    certificates: Vec<file::Certificate>,
    source: &Path,
    base_dir: &Path,
) -> Result<Vec<crate::tls::CertificateSpec>, ConfigError> {
    certificates
        .into_iter()
        .enumerate()
        .map(|(index, certificate)| {
            let site = Site::new(source, format!("certificate #{}", index + 1));
            let hosts = certificate.hosts.unwrap_or_default();
            if hosts.is_empty() {
                return Err(site.error("hosts", "at least one host name is required"));
            }
            for host in &hosts {
                let name = host.strip_prefix("*.").unwrap_or(host);
                if name.is_empty()
                    || !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-')
                {
                    return Err(site.error("hosts", format!("`{host}` is not a host name")));
                }
            }
            let cert = site.required_text("cert", certificate.cert)?;
            let key = site.required_text("key", certificate.key)?;
            Ok(crate::tls::CertificateSpec {
                hosts: hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
                cert: base_dir.join(cert),
                key: base_dir.join(key),
            })
        })
        .collect()
}

/// With WebSocket APIs the reverse-push endpoint opens; anyone who can reach it could write to
/// any client, so off loopback it must require a token.
fn check_push_token(gateway: &GatewaySettings, apis: &[Api], source: &Path) -> Result<(), ConfigError> {
    let settings = &gateway.websocket;
    let websocket_apis = apis.iter().any(|api| api.websocket.is_some());
    if websocket_apis && settings.push_token.is_none() && !settings.push_listen.ip().is_loopback() {
        let site = Site::new(source, "[gateway]".to_owned());
        return Err(site.error(
            "push_token",
            format!(
                "the WebSocket push endpoint listens on {} (not loopback), so it needs a token: set `push_token` or the `{PUSH_TOKEN_ENV}` environment variable",
                settings.push_listen
            ),
        ));
    }
    Ok(())
}

/// Converts a byte offset into a 1-based line and column (in characters), for editors.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// Where in the file an error points: the file plus the service/API/function being checked.
struct Site<'a> {
    file: &'a Path,
    location: String,
}

impl<'a> Site<'a> {
    fn new(file: &'a Path, location: String) -> Site<'a> {
        Site { file, location }
    }

    fn error(&self, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line_column: None,
            location: Some(self.location.clone()),
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// A key every table of this kind must have, non-empty.
    fn required_text(&self, field: &str, value: Option<String>) -> Result<String, ConfigError> {
        match value {
            None => Err(self.error(field, "required but missing")),
            Some(text) if text.is_empty() => Err(self.error(field, "may not be empty")),
            Some(text) => Ok(text),
        }
    }

    fn at_least_one(&self, field: &str, value: usize) -> Result<usize, ConfigError> {
        if value == 0 {
            return Err(self.error(field, "must be at least 1"));
        }
        Ok(value)
    }
}

// ---------------------------------------------------------------------------------------------
// [gateway]

fn build_gateway(section: file::Gateway, overrides: &Overrides, source: &Path) -> Result<GatewaySettings, ConfigError> {
    let site = Site::new(source, "[gateway]".to_owned());
    // A bad flag value is reported against the flag, so the user does not hunt for it in the file.
    let flags = Site::new(source, "command line".to_owned());

    let listen = if !overrides.listen.is_empty() {
        overrides.listen.clone()
    } else {
        match section.listen {
            None => vec![DEFAULT_LISTEN],
            Some(list) if list.is_empty() => {
                return Err(site.error("listen", "at least one address is required"));
            }
            Some(list) => list
                .iter()
                .map(|address| {
                    address.parse::<SocketAddr>().map_err(|_| {
                        site.error("listen", format!("`{address}` is not an IP address and port like `127.0.0.1:8080`"))
                    })
                })
                .collect::<Result<_, _>>()?,
        }
    };

    let tls_listen: Vec<SocketAddr> = if !overrides.tls_listen.is_empty() {
        overrides.tls_listen.clone()
    } else {
        section
            .tls_listen
            .unwrap_or_default()
            .iter()
            .map(|address| {
                address.parse::<SocketAddr>().map_err(|_| {
                    site.error("tls_listen", format!("`{address}` is not an IP address and port like `0.0.0.0:8443`"))
                })
            })
            .collect::<Result<_, _>>()?
    };

    let workers = match (overrides.workers, section.workers) {
        (Some(workers), _) => flags.at_least_one("--workers", workers)?,
        (None, Some(workers)) => site.at_least_one("workers", workers)?,
        (None, None) => std::thread::available_parallelism().map_or(1, |count| count.get()),
    };

    // A zero head limit would answer every request with 431; zero body or queue or pool sizes are
    // meaningful (no bodies, no waiting, no pooling) and allowed.
    let max_header_bytes = match (overrides.max_header_bytes, section.max_header_bytes) {
        (Some(bytes), _) => flags.at_least_one("--max-header-bytes", bytes)?,
        (None, Some(bytes)) => site.at_least_one("max_header_bytes", bytes)?,
        (None, None) => DEFAULT_MAX_HEADER_BYTES,
    };
    let max_response_bytes = match section.max_response_bytes {
        Some(bytes) => site.at_least_one("max_response_bytes", bytes)?,
        None => SCF_SYNC_PAYLOAD_BYTES,
    };

    let at_least_one =
        |flag_value: Option<usize>, flag: &str, file_value: Option<usize>, key: &str, default: usize| match (
            flag_value, file_value,
        ) {
            (Some(value), _) => flags.at_least_one(flag, value),
            (None, Some(value)) => site.at_least_one(key, value),
            (None, None) => Ok(default),
        };

    let duration =
        |flag_value: Option<Duration>, flag: &str, file_value: Option<Seconds>, key: &str, default_secs: u64| match (
            flag_value, file_value,
        ) {
            (Some(value), _) => flags.flag_duration(flag, value, ONE_DAY),
            (None, Some(seconds)) => site.duration(key, seconds, ONE_DAY),
            (None, None) => Ok(Duration::from_secs(default_secs)),
        };

    Ok(GatewaySettings {
        listen,
        tls_listen,
        workers,
        driver: overrides.driver.or(section.driver).unwrap_or(DriverChoice::Auto),
        max_header_bytes,
        max_body_bytes: overrides.max_body_bytes.or(section.max_body_bytes).unwrap_or(SCF_SYNC_PAYLOAD_BYTES),
        body_memory: at_least_one(
            overrides.body_memory,
            "--body-memory",
            section.body_memory,
            "body_memory",
            DEFAULT_BODY_MEMORY_PER_WORKER.saturating_mul(workers),
        )?,
        max_response_bytes,
        idle_timeout: duration(
            overrides.idle_timeout,
            "--idle-timeout",
            section.idle_timeout,
            "idle_timeout",
            DEFAULT_IDLE_TIMEOUT_SECS,
        )?,
        header_timeout: duration(
            overrides.header_timeout,
            "--header-timeout",
            section.header_timeout,
            "header_timeout",
            DEFAULT_HEADER_TIMEOUT_SECS,
        )?,
        send_timeout: duration(
            overrides.send_timeout,
            "--send-timeout",
            section.send_timeout,
            "send_timeout",
            DEFAULT_SEND_TIMEOUT_SECS,
        )?,
        queue_depth: overrides.queue_depth.or(section.queue_depth).unwrap_or(DEFAULT_QUEUE_DEPTH),
        max_connections: at_least_one(
            overrides.max_connections,
            "--max-connections",
            section.max_connections,
            "max_connections",
            DEFAULT_MAX_CONNECTIONS,
        )?,
        read_buffer_bytes: at_least_one(
            overrides.read_buffer_bytes,
            "--read-buffer-bytes",
            section.read_buffer_bytes,
            "read_buffer_bytes",
            DEFAULT_READ_BUFFER_BYTES,
        )?,
        shutdown_timeout: duration(
            overrides.shutdown_timeout,
            "--shutdown-timeout",
            section.shutdown_timeout,
            "shutdown_timeout",
            DEFAULT_SHUTDOWN_TIMEOUT_SECS,
        )?,
        pool_size: overrides.pool_size.or(section.pool_size).unwrap_or(DEFAULT_POOL_SIZE),
        pool_idle_timeout: duration(
            overrides.pool_idle_timeout,
            "--pool-idle-timeout",
            section.pool_idle_timeout,
            "pool_idle_timeout",
            DEFAULT_POOL_IDLE_TIMEOUT_SECS,
        )?,
        websocket: build_websocket_settings(
            &site,
            section.push_listen,
            section.push_token,
            section.websocket_max_message_bytes,
            section.websocket_idle_timeout,
        )?,
        identity: build_identity(&site, section.region, section.appid, section.uin)?,
    })
}

/// `region`, `appid`, `uin`: sent as header values and environment variables, so each is checked
/// to look like what Tencent uses (a region name; digits) rather than just any text.
fn build_identity(
    site: &Site,
    region: Option<String>,
    appid: Option<String>,
    uin: Option<String>,
) -> Result<TencentIdentity, ConfigError> {
    let defaults = TencentIdentity::default();
    let region = region.unwrap_or(defaults.region);
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(site.error(
            "region",
            format!("`{region}` is not a region name like `ap-guangzhou` (lower-case letters, digits and `-`)"),
        ));
    }
    let digits = |field: &str, value: Option<String>, default: String| {
        let value = value.unwrap_or(default);
        if value.is_empty() || value.len() > 20 || !value.chars().all(|c| c.is_ascii_digit()) {
            return Err(
                site.error(field, format!("`{value}` is not a number like `1250000000` (digits only, as a string)"))
            );
        }
        Ok(value)
    };
    Ok(TencentIdentity {
        appid: digits("appid", appid, defaults.appid)?,
        uin: digits("uin", uin, defaults.uin)?,
        region,
    })
}

/// `push_listen`, `push_token` (or `SCFGATE_PUSH_TOKEN`) and the frame limits. Whether a token is
/// required is decided in [`parse_str`], once it knows whether any API is a WebSocket API.
fn build_websocket_settings(
    site: &Site,
    push_listen: Option<String>,
    push_token: Option<String>,
    max_message_bytes: Option<usize>,
    idle_timeout: Option<Seconds>,
) -> Result<WebSocketSettings, ConfigError> {
    let push_listen = match push_listen {
        None => DEFAULT_PUSH_LISTEN,
        Some(address) => address.parse::<SocketAddr>().map_err(|_| {
            site.error("push_listen", format!("`{address}` is not an IP address and port like `127.0.0.1:8095`"))
        })?,
    };
    let push_token = match std::env::var(PUSH_TOKEN_ENV) {
        Ok(token) if token.is_empty() => {
            return Err(site.error("push_token", format!("environment variable `{PUSH_TOKEN_ENV}` is set but empty")))
        }
        Ok(token) => Some(token),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(site.error("push_token", format!("environment variable `{PUSH_TOKEN_ENV}` is not UTF-8")))
        }
        Err(std::env::VarError::NotPresent) => match push_token {
            Some(token) if token.is_empty() => return Err(site.error("push_token", "may not be empty")),
            other => other,
        },
    };
    // The token travels in an HTTP header: it must be a valid field value with no spaces.
    if let Some(bad) = push_token.as_deref().and_then(|token| token.chars().find(|c| !c.is_ascii_graphic())) {
        return Err(
            site.error("push_token", format!("character {bad:?} is not allowed (printable ASCII without spaces)"))
        );
    }
    Ok(WebSocketSettings {
        push_listen,
        push_token: push_token.map(PushToken),
        max_message_bytes: site.at_least_one(
            "websocket_max_message_bytes",
            max_message_bytes.unwrap_or(DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES),
        )?,
        idle_timeout: match idle_timeout {
            Some(seconds) => site.duration("websocket_idle_timeout", seconds, ONE_DAY)?,
            None => Duration::from_secs(DEFAULT_WEBSOCKET_IDLE_TIMEOUT_SECS),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// [[function]]

/// `(namespace, name, qualifier)`: how APIs refer to a function.
type FunctionKey = (String, String, String);

/// Builds every function, keeping its key next to it so APIs can be resolved to a [`FunctionId`].
fn build_functions(
    functions: Vec<file::Function>,
    source: &Path,
    base_dir: &Path,
) -> Result<Vec<(Function, FunctionKey)>, ConfigError> {
    let mut built: Vec<(Function, FunctionKey)> = Vec::with_capacity(functions.len());
    for (index, function) in functions.into_iter().enumerate() {
        let namespace = function.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let qualifier = function.qualifier.clone().unwrap_or_else(|| DEFAULT_QUALIFIER.to_owned());
        let location = match &function.name {
            Some(name) if !name.is_empty() => format!("function `{namespace}/{name}:{qualifier}`"),
            _ => format!("function #{}", index + 1),
        };
        let site = Site::new(source, location);
        let name = site.required_text("name", function.name.clone())?;
        for (field, value) in [("name", &name), ("namespace", &namespace), ("qualifier", &qualifier)] {
            check_function_identifier(&site, field, value)?;
        }
        let key = (namespace.clone(), name.clone(), qualifier.clone());
        if built.iter().any(|(_, seen)| *seen == key) {
            return Err(site.error(
                "name",
                format!(
                    "`{namespace}/{name}:{qualifier}` is defined twice (namespace, name and qualifier must be unique)"
                ),
            ));
        }
        let memory_mb = match function.memory_limit_in_mb.unwrap_or(DEFAULT_MEMORY_MB) {
            0 => return Err(site.error("memory_limit_in_mb", "must be at least 1")),
            megabytes => megabytes,
        };
        let runtime = match function.runtime.clone() {
            None => {
                return Err(site
                    .error("runtime", "required but missing; use \"custom\", \"remote\", \"web\" or \"tencentcloud\""))
            }
            Some(file::Runtime::Custom) => build_custom(&site, &function, base_dir)?,
            Some(file::Runtime::Remote) => build_remote(&site, &function)?,
            Some(file::Runtime::Web) => build_web(&site, &function, base_dir)?,
            Some(file::Runtime::Tencentcloud) => tencentcloud::build(&site, &function, base_dir)?,
            Some(file::Runtime::Standard(name)) => standard::build(&site, &function, base_dir, &name)?,
        };
        if let FunctionRuntime::Web { port: Some(port), .. } = runtime {
            let taken = built.iter().find(|(other, _)| matches!(other.runtime, FunctionRuntime::Web { port: Some(other_port), .. } if other_port == port));
            if let Some((other, _)) = taken {
                return Err(site.error(
                    "port",
                    format!("port {port} is already the port of web function `{}`; two servers cannot listen on one port (leave `port` out to let the gateway pick one)", other.display_name()),
                ));
            }
        }
        built.push((Function { namespace, name, qualifier, memory_mb, runtime }, key));
    }
    Ok(built)
}

/// Names appear in `namespace/name:qualifier` and in environment variables, so the separators and
/// whitespace would make them ambiguous.
fn check_function_identifier(site: &Site, field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(site.error(field, "may not be empty"));
    }
    if let Some(bad) = value.chars().find(|c| c.is_whitespace() || c.is_control() || *c == '/' || *c == ':') {
        return Err(site.error(field, format!("character {bad:?} is not allowed")));
    }
    Ok(())
}

/// Whether a `[[function]]` table sets a key.
type KeyPresent = fn(&file::Function) -> bool;

/// The `[[function]]` keys that only some runtimes take, and which ones: declared once here, so
/// every other runtime refuses a new key without a list of its own to update.
const RUNTIME_KEYS: &[(&str, KeyPresent, &[&str])] = &[
    ("code", |function| function.code.is_some(), &["custom", "web", "standard"]),
    ("handler", |function| function.handler.is_some(), &["custom", "standard"]),
    ("interpreter", |function| function.interpreter.is_some(), &["standard"]),
    ("instances", |function| function.instances.is_some(), &["custom", "web", "standard"]),
    ("init_timeout", |function| function.init_timeout.is_some(), &["custom", "web", "standard"]),
    ("invoke_url", |function| function.invoke_url.is_some(), &["remote"]),
    ("port", |function| function.port.is_some(), &["web"]),
    ("max_instances", |function| function.max_instances.is_some(), &["custom", "web", "standard"]),
    ("idle_timeout", |function| function.idle_timeout.is_some(), &["custom", "web", "standard"]),
    ("concurrency", |function| function.concurrency.is_some(), &["web"]),
    ("environment", |function| !function.environment.is_empty(), &["custom", "web", "standard"]),
    ("region", |function| function.region.is_some(), &["tencentcloud"]),
    ("endpoint", |function| function.endpoint.is_some(), &["tencentcloud"]),
    ("ca_file", |function| function.ca_file.is_some(), &["tencentcloud"]),
    ("secret_id_env", |function| function.secret_id_env.is_some(), &["tencentcloud"]),
    ("secret_key_env", |function| function.secret_key_env.is_some(), &["tencentcloud"]),
    ("token_env", |function| function.token_env.is_some(), &["tencentcloud"]),
];

/// Refuses a key of another runtime, so a half-converted function is not run with stale settings.
fn reject_foreign_keys(site: &Site, function: &file::Function, runtime: &str) -> Result<(), ConfigError> {
    let foreign = RUNTIME_KEYS.iter().find(|(_, present, runtimes)| !runtimes.contains(&runtime) && present(function));
    match foreign {
        Some((key, _, _)) => {
            Err(site.error(key, format!("not allowed for runtime = \"{runtime}\" (it belongs to another runtime)")))
        }
        None => Ok(()),
    }
}

fn build_custom(site: &Site, function: &file::Function, base_dir: &Path) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "custom")?;
    let code = code_folder(site, function, base_dir, "bootstrap", "a custom runtime")?;
    let handler = function.handler.clone().unwrap_or_else(|| DEFAULT_HANDLER.to_owned());
    if handler.is_empty() {
        return Err(site.error("handler", "may not be empty"));
    }
    let InstanceSettings { instances, max_instances, init_timeout, idle_timeout, environment } =
        instance_settings(site, function, false)?;
    Ok(FunctionRuntime::Custom {
        code,
        launcher: Launcher::Bootstrap,
        handler,
        instances,
        init_timeout,
        max_instances,
        idle_timeout,
        environment,
    })
}

/// `runtime = "web"`: an HTTP server started from `scf_bootstrap` (Tencent's name for it, spec
/// §7.1), on a port of its own per instance unless it insists on one.
fn build_web(site: &Site, function: &file::Function, base_dir: &Path) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "web")?;
    let code = code_folder(site, function, base_dir, "scf_bootstrap", "a web function")?;
    let InstanceSettings { instances, max_instances, init_timeout, idle_timeout, environment } =
        instance_settings(site, function, true)?;
    let port = match function.port {
        Some(0) => return Err(site.error("port", "must be a port number (1-65535); leave `port` out to let the gateway pick a free one")),
        Some(port) if instances > 1 => {
            return Err(site.error(
                "port",
                format!("{instances} instances cannot all listen on port {port}; leave `port` out (each instance then gets its own port in `PORT`) or set instances = 1"),
            ))
        }
        Some(port) if max_instances > 1 => {
            return Err(site.error(
                "max_instances",
                format!("{max_instances} instances cannot all listen on port {port}; leave `port` out (each instance then gets its own port in `PORT`) or leave `max_instances` out"),
            ))
        }
        port => port,
    };
    Ok(FunctionRuntime::Web {
        code,
        instances,
        init_timeout,
        max_instances,
        idle_timeout,
        // SCF runs one request per web function instance unless multi-concurrency is turned on.
        concurrency: site.at_least_one("concurrency", function.concurrency.unwrap_or(1))?,
        port,
        environment,
    })
}

/// The `code` folder, absolute and canonical, checked to hold an executable `program`.
fn code_folder(
    site: &Site,
    function: &file::Function,
    base_dir: &Path,
    program: &str,
    what: &str,
) -> Result<PathBuf, ConfigError> {
    let code = site.required_text("code", function.code.clone())?;
    let code = absolute_code_dir(base_dir, &code)
        .map_err(|error| site.error("code", format!("cannot resolve `{code}`: {error}")))?;
    check_bootstrap(&code, program, what).map_err(|message| site.error("code", message))?;
    // Canonical once it is known to exist: logs then show `/srv/app/functions/hello` rather than
    // `/srv/app/conf/../functions/hello`.
    std::fs::canonicalize(&code).map_err(|error| site.error("code", format!("`{}`: {error}", code.display())))
}

/// `code` relative to the config file's folder, made absolute so that the function host does not
/// depend on the gateway's working directory (and errors show where it looked).
fn absolute_code_dir(base_dir: &Path, code: &str) -> std::io::Result<PathBuf> {
    std::path::absolute(base_dir.join(code))
}

/// The function starts from `program` (`bootstrap`, or a web function's `scf_bootstrap`) in the
/// code folder; checking it now turns a failure at first request into a failure at start.
fn check_bootstrap(code: &Path, program: &str, what: &str) -> Result<(), String> {
    let folder = std::fs::metadata(code).map_err(|error| format!("folder `{}`: {error}", code.display()))?;
    if !folder.is_dir() {
        return Err(format!("`{}` is not a folder", code.display()));
    }
    let bootstrap = code.join(program);
    let metadata = std::fs::metadata(&bootstrap).map_err(|error| {
        format!("`{}`: {error}; {what} folder needs an executable `{program}`", bootstrap.display())
    })?;
    if !metadata.is_file() {
        return Err(format!("`{}` is not a file", bootstrap.display()));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(format!("`{}` is not executable (chmod +x it)", bootstrap.display()));
    }
    Ok(())
}

fn build_remote(site: &Site, function: &file::Function) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "remote")?;
    let url = site.required_text("invoke_url", function.invoke_url.clone())?;
    let endpoint = parse_invoke_url(&url).map_err(|message| site.error("invoke_url", message))?;
    Ok(FunctionRuntime::Remote { url, addr: endpoint.addr, host_header: endpoint.host_header, path: endpoint.path })
}

/// A resolved `invoke_url`.
#[derive(Debug, PartialEq)]
struct InvokeEndpoint {
    addr: SocketAddr,
    host_header: String,
    path: String,
}

/// Parses `http://host[:port][/path][?query]` and resolves the host once (start may block; the
/// workers must not).
/// Splits a URL's authority (`host`, `host:port`, `[v6]:port`; no user info) into host and port,
/// `default_port` when none is written. `example` completes the messages ("like `…`").
pub(crate) fn split_authority<'a>(
    authority: &'a str,
    default_port: u16,
    example: &str,
) -> Result<(&'a str, u16), String> {
    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("unbalanced `[` in the host")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or(format!("unexpected `{after}` after the IPv6 address"))?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("has no host; write it {example}"));
    }
    let port = match port_text {
        None => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && text.bytes().all(|byte| byte.is_ascii_digit()) => port,
            _ => return Err(format!("`{text}` is not a port number (1-65535)")),
        },
    };
    Ok((host, port))
}

fn parse_invoke_url(url: &str) -> Result<InvokeEndpoint, String> {
    const EXAMPLE: &str = "like `http://127.0.0.1:9000/invoke`";
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url["http://".len()..]
    } else if lower.starts_with("https://") {
        return Err(format!("https is not supported yet; use an http:// endpoint {EXAMPLE}"));
    } else {
        return Err(format!("must be an http:// URL {EXAMPLE}"));
    };
    if let Some(bad) = rest.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("character {bad:?} is not allowed in a URL"));
    }
    if rest.contains('#') {
        return Err("a URL fragment (`#…`) is not allowed".to_owned());
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(authority_end);
    let path = match target.chars().next() {
        None => "/".to_owned(),
        Some('?') => format!("/{target}"),
        Some(_) => target.to_owned(),
    };
    if authority.is_empty() {
        return Err(format!("has no host; write it {EXAMPLE}"));
    }
    if authority.contains('@') {
        return Err("user info (`user@`) is not supported".to_owned());
    }

    let (host, port) = split_authority(authority, 80, EXAMPLE)?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("host `{host}` does not resolve: {error}"))?
        .next()
        .ok_or_else(|| format!("host `{host}` resolves to no address"))?;
    // RFC 9110 §7.2: Host is the authority without user info, port included as written.
    Ok(InvokeEndpoint { addr, host_header: authority.to_owned(), path })
}

// ---------------------------------------------------------------------------------------------
// [[service]] and [[service.api]]

fn build_service(
    service: file::Service,
    index: usize,
    earlier: &[Service],
    functions: &[(Function, FunctionKey)],
    source: &Path,
) -> Result<(Service, Vec<Api>), ConfigError> {
    let location = match &service.name {
        Some(name) if !name.is_empty() => format!("service `{name}`"),
        _ => format!("service #{}", index + 1),
    };
    let site = Site::new(source, location);
    let id = site.required_text("id", service.id)?;
    let name = site.required_text("name", service.name)?;

    let mut hosts: Vec<String> = Vec::new();
    for host in service.hosts.unwrap_or_default() {
        let host = normalize_host(&host).map_err(|message| site.error("hosts", message))?;
        if hosts.contains(&host) {
            return Err(site.error("hosts", format!("`{host}` is listed twice")));
        }
        hosts.push(host);
    }

    let stages = match service.stages {
        None => Stage::ALL.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(site.error("stages", "at least one stage is required (release, test, prepub)"));
        }
        Some(names) => {
            let mut stages = Vec::with_capacity(names.len());
            for stage_name in names {
                let stage = parse_stage(&stage_name).map_err(|message| site.error("stages", message))?;
                if stages.contains(&stage) {
                    return Err(site.error("stages", format!("`{stage_name}` is listed twice")));
                }
                stages.push(stage);
            }
            stages
        }
    };

    // One id may be served by several tables on disjoint stages: each stage then has its own API
    // set (the admin API's publish writes one table per release a stage serves).
    if let Some(other) =
        earlier.iter().find(|other| other.id == id && other.stages.iter().any(|stage| stages.contains(stage)))
    {
        return Err(site.error("id", format!("`{id}` is already the id of service `{}`", other.name)));
    }

    let mut stage_variables: [Vec<(String, String)>; 3] = Default::default();
    for (stage_name, variables) in service.stage_variables {
        let field = format!("stage_variables.{stage_name}");
        let stage = parse_stage(&stage_name).map_err(|message| site.error(&field, message))?;
        if !stages.contains(&stage) {
            return Err(site.error(&field, format!("this service is not published to stage `{stage_name}`")));
        }
        if variables.contains_key("") {
            return Err(site.error(&field, "a variable name may not be empty"));
        }
        // BTreeMap iteration is sorted by name, as `Service::stage_variables` promises.
        stage_variables[stage.index()] = variables.into_iter().collect();
    }

    let service_index = earlier.len();
    let mut apis: Vec<Api> = Vec::with_capacity(service.apis.len());
    // Paths as written, for conflict messages.
    let mut raw_paths: Vec<String> = Vec::with_capacity(service.apis.len());
    for (api_index, api) in service.apis.into_iter().enumerate() {
        let api_site = Site::new(
            source,
            match &api.name {
                Some(api_name) if !api_name.is_empty() => {
                    format!("service `{name}` api `{api_name}`")
                }
                _ => format!("service `{name}` api #{}", api_index + 1),
            },
        );
        let (built, raw_path) = build_api(api, service_index, &api_site, functions)?;
        if apis.iter().any(|other| other.name == built.name) {
            return Err(api_site.error("name", "another api of this service has the same name"));
        }
        let shape = route_shape(&built.path);
        for (other, other_raw_path) in apis.iter().zip(&raw_paths) {
            let overlap =
                other.method == built.method || other.method == ApiMethod::Any || built.method == ApiMethod::Any;
            if overlap && route_shape(&other.path) == shape {
                return Err(api_site.error(
                    "path",
                    format!(
                        "`{} {raw_path}` conflicts with api `{}` (`{} {other_raw_path}`): same path \
                         and overlapping method",
                        built.method.as_str(),
                        other.name,
                        other.method.as_str(),
                    ),
                ));
            }
        }
        apis.push(built);
        raw_paths.push(raw_path);
    }

    Ok((Service { id, name, hosts, stages, stage_variables, usage_plans: Default::default() }, apis))
}

/// What two APIs must share to shadow each other: the kind and the path with param names erased,
/// since `/user/{id}` and `/user/{uid}` match exactly the same requests.
fn route_shape(path: &ApiPath) -> (PathKind, String) {
    let mut shape = path.path.clone();
    for param in &path.params {
        shape = shape.replacen(&format!("{{{param}}}"), "{}", 1);
    }
    (path.kind, shape)
}

fn parse_stage(name: &str) -> Result<Stage, String> {
    Stage::from_bytes(name.as_bytes()).ok_or_else(|| format!("`{name}` is not a stage; use release, test or prepub"))
}

/// Host names are compared against the request's `Host` header, lower-cased and without its port.
fn normalize_host(host: &str) -> Result<String, String> {
    let lower = host.to_ascii_lowercase();
    if lower.is_empty() {
        return Err("a host name may not be empty".to_owned());
    }
    if lower.starts_with('[') {
        let inside = lower.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
        return match inside.map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(lower),
            _ => Err(format!("`{host}` is not an IPv6 address in brackets (and a port is not allowed)")),
        };
    }
    if lower.contains(':') {
        return Err(format!("`{host}`: a port is not allowed; hosts are matched without the Host header's port"));
    }
    if let Some(bad) = lower.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        return Err(format!("`{host}`: character {bad:?} is not allowed in a host name"));
    }
    Ok(lower)
}

/// Builds one API; also returns its path as written, for messages that name it.
fn build_api(
    api: file::Api,
    service: usize,
    site: &Site,
    functions: &[(Function, FunctionKey)],
) -> Result<(Api, String), ConfigError> {
    let name = site.required_text("name", api.name)?;
    let name_chars = name.chars().count();
    if name_chars > MAX_API_NAME_CHARS {
        return Err(
            site.error("name", format!("{name_chars} characters long; at most {MAX_API_NAME_CHARS} are allowed"))
        );
    }
    let Some(raw_path) = api.path else {
        return Err(site.error("path", "required but missing"));
    };
    let path = parse_api_path(&raw_path).map_err(|message| site.error("path", message))?;
    let (protocol, is_websocket) = build_protocol(site, api.protocol)?;
    // A WebSocket handshake is a GET (RFC 6455 §4.1), so a WebSocket API's method defaults to it.
    let method_name = match api.method {
        None if is_websocket => "GET".to_owned(),
        method => site.required_text("method", method)?,
    };
    let method = ApiMethod::parse(&method_name).ok_or_else(|| {
        site.error("method", format!("`{method_name}` is not one of GET, POST, PUT, DELETE, HEAD, ANY"))
    })?;
    let (function, websocket) = if is_websocket {
        if method != ApiMethod::Get {
            return Err(
                site.error("method", format!("a WebSocket API is reached with GET (RFC 6455 §4.1), not {method_name}"))
            );
        }
        if api.function.is_some() {
            return Err(
                site.error("function", "a WebSocket API has `register`, `transport` and `cleanup` functions instead")
            );
        }
        if api.integrated_response.is_some() {
            return Err(site.error(
                "integrated_response",
                "not used by WebSocket APIs (their functions' values are not HTTP responses)",
            ));
        }
        let resolve = |field: &str, reference: Option<file::FunctionRef>| match reference {
            None => {
                Err(site.error(field, format!("required for a WebSocket API; write `{field} = {{ name = \"...\" }}`")))
            }
            some => {
                let id = resolve_function_field(site, field, some, functions)?;
                if functions[id].0.is_web() {
                    // A web function takes HTTP, not events; an HTTP API passes WebSocket
                    // upgrades through to it instead.
                    return Err(site.error(field, "a web function (runtime = \"web\") cannot take WebSocket events; give it to an HTTP API, which passes WebSocket upgrades through to it"));
                }
                Ok(id)
            }
        };
        let functions = WebSocketFunctions {
            register: resolve("register", api.register)?,
            transport: resolve("transport", api.transport)?,
            cleanup: resolve("cleanup", api.cleanup)?,
        };
        (functions.register, Some(functions))
    } else {
        for (field, present) in [
            ("register", api.register.is_some()),
            ("transport", api.transport.is_some()),
            ("cleanup", api.cleanup.is_some()),
        ] {
            if present {
                return Err(site.error(field, "only WebSocket APIs (protocol = \"ws\", \"wss\" or \"ws&wss\") have it"));
            }
        }
        let function = resolve_function(site, api.function, functions)?;
        if functions[function].0.is_web() && api.integrated_response.is_some() {
            return Err(site.error(
                "integrated_response",
                "not used with a web function (runtime = \"web\"): its HTTP response is passed through as it is",
            ));
        }
        (function, None)
    };
    let timeout = match api.timeout {
        Some(seconds) => site.duration("timeout", seconds, API_TIMEOUT)?,
        None => Duration::from_secs(DEFAULT_API_TIMEOUT_SECS),
    };
    check_documentation(site, api.response_type.as_deref(), &api.error_codes)?;
    let policy = ApiPolicy {
        protocol,
        auth: build_auth(site, api.auth, api.oauth)?,
        cors: build_cors(site, api.cors, api.cors_origins)?,
        params: build_params(site, api.params, &path, &raw_path)?,
    };
    let api = Api {
        service,
        name,
        path,
        method,
        function,
        timeout,
        integrated_response: api.integrated_response.unwrap_or(false),
        policy,
        websocket,
    };
    Ok((api, raw_path))
}

/// Step 4 of the console's API editor (response type, error codes): documentation only, but
/// checked like everything else so the generated docs never show a nameless code.
fn check_documentation(
    site: &Site,
    response_type: Option<&str>,
    error_codes: &[file::ErrorCode],
) -> Result<(), ConfigError> {
    if let Some(kind) = response_type {
        if !["json", "html", "text", "xml", "binary"].contains(&kind.to_ascii_lowercase().as_str()) {
            return Err(site.error("response_type", format!("`{kind}` is not one of json, html, text, xml, binary")));
        }
    }
    let mut seen: Vec<i64> = Vec::with_capacity(error_codes.len());
    for (index, error_code) in error_codes.iter().enumerate() {
        let Some(code) = error_code.code else {
            return Err(site.error(&format!("error_code #{}.code", index + 1), "required but missing"));
        };
        let field = |key: &str| format!("error_code.{code}.{key}");
        if seen.contains(&code) {
            return Err(site.error(&field("code"), format!("code {code} is listed twice")));
        }
        seen.push(code);
        match &error_code.message {
            None => return Err(site.error(&field("message"), "required but missing")),
            Some(message) if message.is_empty() => return Err(site.error(&field("message"), "may not be empty")),
            Some(_) => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Frontend policies of an API: protocol, auth (+ [service.api.oauth]), CORS, [[service.api.param]]

/// The protocol, and whether the API is a WebSocket API: `ws` is WebSocket over HTTP, `wss` over
/// HTTPS, so the protocol policy (426) treats them as `http` and `https`.
fn build_protocol(site: &Site, protocol: Option<String>) -> Result<(Protocol, bool), ConfigError> {
    let Some(text) = protocol else {
        return Ok((Protocol::HttpAndHttps, false));
    };
    match text.to_ascii_lowercase().as_str() {
        "http" => Ok((Protocol::Http, false)),
        "https" => Ok((Protocol::Https, false)),
        "http&https" => Ok((Protocol::HttpAndHttps, false)),
        "ws" => Ok((Protocol::Http, true)),
        "wss" => Ok((Protocol::Https, true)),
        "ws&wss" => Ok((Protocol::HttpAndHttps, true)),
        _ => Err(site.error(
            "protocol",
            format!("`{text}` is not one of \"http\", \"https\", \"http&https\", \"ws\", \"wss\", \"ws&wss\""),
        )),
    }
}

fn build_auth(site: &Site, auth: Option<String>, settings: Option<file::OAuth>) -> Result<Auth, ConfigError> {
    let name = auth.as_deref().unwrap_or("none");
    let auth = match name {
        "none" => Auth::None,
        "key_pair" => Auth::KeyPair,
        "oauth" => {
            let Some(settings) = settings else {
                return Err(
                    site.error("oauth", "required when auth = \"oauth\": add `[service.api.oauth]` with `public_key`")
                );
            };
            return Ok(Auth::OAuth(Box::new(build_oauth(site, settings)?)));
        }
        other => return Err(site.error("auth", format!("`{other}` is not one of \"none\", \"key_pair\", \"oauth\""))),
    };
    if settings.is_some() {
        return Err(site.error("oauth", format!("only allowed with auth = \"oauth\" (this api has auth = \"{name}\")")));
    }
    Ok(auth)
}

fn build_oauth(site: &Site, settings: file::OAuth) -> Result<OAuthSettings, ConfigError> {
    let jwk_text = site.required_text("oauth.public_key", settings.public_key)?;
    let jwk = oauth::parse_jwk(&jwk_text).map_err(|message| site.error("oauth.public_key", message))?;
    let algorithm = match settings.algorithm {
        None => jwk.algorithm.unwrap_or(jwk.key.default_algorithm()),
        Some(name) => {
            let algorithm = oauth::Algorithm::parse(&name).ok_or_else(|| {
                site.error("oauth.algorithm", format!("`{name}` is not one of RS256, RS384, RS512, ES256"))
            })?;
            if !jwk.key.supports(algorithm) {
                return Err(
                    site.error("oauth.algorithm", format!("{name} cannot be verified with the public_key's key type"))
                );
            }
            if jwk.algorithm.is_some_and(|named| named != algorithm) {
                return Err(site.error("oauth.algorithm", format!("{name} differs from the public_key's \"alg\"")));
            }
            algorithm
        }
    };
    let token_location = match settings.token_location {
        None => super::TokenLocation::Authorization,
        Some(text) => {
            oauth::parse_token_location(&text).map_err(|message| site.error("oauth.token_location", message))?
        }
    };
    let non_empty = |field: &str, value: Option<String>| match value {
        Some(text) if text.is_empty() => Err(site.error(field, "may not be empty; leave it out to accept any")),
        other => Ok(other),
    };
    Ok(OAuthSettings {
        key: jwk.key,
        algorithm,
        token_location,
        issuer: non_empty("oauth.iss", settings.iss)?,
        audience: non_empty("oauth.aud", settings.aud)?,
    })
}

fn build_cors(site: &Site, cors: Option<bool>, origins: Option<Vec<String>>) -> Result<Option<Cors>, ConfigError> {
    if cors != Some(true) {
        if origins.is_some() {
            return Err(site.error("cors_origins", "only allowed with cors = true"));
        }
        return Ok(None);
    }
    let Some(origins) = origins else {
        return Ok(Some(Cors { origins: Vec::new() }));
    };
    if origins.iter().any(|origin| origin == "*") {
        if origins.len() > 1 {
            return Err(site.error("cors_origins", "`*` already allows every origin; list it alone or list origins"));
        }
        return Ok(Some(Cors { origins: Vec::new() }));
    }
    let mut normalized: Vec<String> = Vec::with_capacity(origins.len());
    for origin in origins {
        let lower = origin.to_ascii_lowercase();
        let authority = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
        let valid = authority.is_some_and(|authority| {
            !authority.is_empty()
                && authority.bytes().all(|byte| byte.is_ascii_alphanumeric() || b".-:[]_".contains(&byte))
        });
        if !valid {
            return Err(site.error(
                "cors_origins",
                format!("`{origin}` is not an origin like `https://app.example.com` or `http://localhost:3000` (scheme, host, optional port; no path)"),
            ));
        }
        if normalized.contains(&lower) {
            return Err(site.error("cors_origins", format!("`{origin}` is listed twice")));
        }
        normalized.push(lower);
    }
    if normalized.is_empty() {
        return Err(site.error("cors_origins", "at least one origin is required; leave it out to allow any (`*`)"));
    }
    Ok(Some(Cors { origins: normalized }))
}

fn build_params(
    site: &Site,
    params: Vec<file::Param>,
    path: &ApiPath,
    raw_path: &str,
) -> Result<Vec<Param>, ConfigError> {
    let mut built: Vec<Param> = Vec::with_capacity(params.len());
    for (index, param) in params.into_iter().enumerate() {
        let label = match &param.name {
            Some(name) if !name.is_empty() => format!("param.{name}"),
            _ => format!("param #{}", index + 1),
        };
        let field = |key: &str| format!("{label}.{key}");
        let name = site.required_text(&field("name"), param.name)?;
        let position_text = site.required_text(&field("position"), param.position)?;
        let position = match position_text.to_ascii_lowercase().as_str() {
            "header" => ParamPosition::Header,
            "query" => ParamPosition::Query,
            "path" => ParamPosition::Path,
            _ => {
                return Err(
                    site.error(&field("position"), format!("`{position_text}` is not one of header, query, path"))
                )
            }
        };
        let kind = match param.kind {
            None => ParamType::String,
            Some(text) => ParamType::parse(&text).ok_or_else(|| {
                site.error(
                    &field("type"),
                    format!("`{text}` is not one of string, int, long, float, double, boolean, date"),
                )
            })?,
        };
        let capture = match position {
            ParamPosition::Path => Some(path.params.iter().position(|placeholder| *placeholder == name).ok_or_else(|| {
                site.error(&field("name"), format!("a path param must appear in the path as `{{{name}}}`, and `{raw_path}` has no `{{{name}}}`"))
            })?),
            ParamPosition::Header if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)) => {
                return Err(site.error(&field("name"), format!("`{name}` is not a header name")));
            }
            _ => None,
        };
        let same = |other: &Param| {
            other.position == position
                && if position == ParamPosition::Header {
                    other.name.eq_ignore_ascii_case(&name)
                } else {
                    other.name == name
                }
        };
        if built.iter().any(same) {
            return Err(site.error(
                &field("name"),
                format!("another {} param is named `{name}`", position_text.to_ascii_lowercase()),
            ));
        }
        let required = param.required.unwrap_or(false);
        for (key, value) in [("default", &param.default), ("sample", &param.sample)] {
            if let Some(value) = value {
                if !crate::policy::params::value_fits(kind, value.as_bytes()) {
                    return Err(site.error(&field(key), format!("`{value}` is not a valid {}", kind.as_str())));
                }
            }
        }
        if required && param.default.is_some() {
            return Err(site.error(
                &field("default"),
                "a required param is never absent, so its default would never be used; drop one of them",
            ));
        }
        built.push(Param {
            name,
            position,
            kind,
            required,
            default: param.default,
            desc: param.desc,
            sample: param.sample,
            capture,
        });
    }
    Ok(built)
}

// ---------------------------------------------------------------------------------------------
// [[secret]] and [[usage_plan]]

fn build_secrets(secrets: Vec<file::Secret>, source: &Path) -> Result<Vec<Secret>, ConfigError> {
    let mut built: Vec<Secret> = Vec::with_capacity(secrets.len());
    for (index, secret) in secrets.into_iter().enumerate() {
        let site = Site::new(
            source,
            match &secret.id {
                Some(id) if !id.is_empty() => format!("secret `{id}`"),
                _ => format!("secret #{}", index + 1),
            },
        );
        let id = site.required_text("id", secret.id)?;
        // The id travels inside `Authorization: hmac id="..."`.
        if let Some(bad) = id.chars().find(|c| !c.is_ascii_graphic() || matches!(c, '"' | ',' | '\\')) {
            return Err(site.error("id", format!("character {bad:?} is not allowed")));
        }
        if built.iter().any(|other| other.id == id) {
            return Err(site.error("id", "another [[secret]] has the same id"));
        }
        let key = match (secret.key, secret.key_env) {
            (Some(_), Some(_)) => return Err(site.error("key_env", "give `key` or `key_env`, not both")),
            (None, None) => {
                return Err(
                    site.error("key", "required but missing; give `key`, or `key_env` naming an environment variable")
                )
            }
            (Some(key), None) if key.is_empty() => return Err(site.error("key", "may not be empty")),
            (Some(key), None) => key,
            (None, Some(variable)) => match std::env::var(&variable) {
                Ok(key) if !key.is_empty() => key,
                Ok(_) => return Err(site.error("key_env", format!("environment variable `{variable}` is empty"))),
                Err(std::env::VarError::NotPresent) => {
                    return Err(site.error("key_env", format!("environment variable `{variable}` is not set")))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(site.error("key_env", format!("environment variable `{variable}` is not UTF-8")))
                }
            },
        };
        built.push(Secret { id, key: SecretKey::new(key.as_bytes()) });
    }
    // `Config::secret` looks ids up by binary search.
    built.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(built)
}

fn build_usage_plans(
    plans: Vec<file::UsagePlan>,
    services: &mut [Service],
    secrets: &[Secret],
    source: &Path,
) -> Result<Vec<UsagePlan>, ConfigError> {
    let mut built: Vec<UsagePlan> = Vec::with_capacity(plans.len());
    for (index, plan) in plans.into_iter().enumerate() {
        let site = Site::new(
            source,
            match &plan.name {
                Some(name) if !name.is_empty() => format!("usage_plan `{name}`"),
                _ => format!("usage_plan #{}", index + 1),
            },
        );
        let name = site.required_text("name", plan.name)?;
        if built.iter().any(|other| other.name == name) {
            return Err(site.error("name", "another [[usage_plan]] has the same name"));
        }
        let mut keys = Vec::with_capacity(plan.secret_ids.len());
        for id in &plan.secret_ids {
            let secret = secrets
                .binary_search_by(|secret| secret.id.as_str().cmp(id))
                .map_err(|_| site.error("secret_ids", format!("no [[secret]] has id `{id}`")))?;
            if keys.contains(&secret) {
                return Err(site.error("secret_ids", format!("`{id}` is listed twice")));
            }
            keys.push(secret);
        }
        for (field, value) in
            [("max_requests_per_second", plan.max_requests_per_second), ("quota_per_day", plan.quota_per_day)]
        {
            if value == Some(0) {
                return Err(site.error(field, "must be at least 1; leave it out for no limit"));
            }
        }
        if plan.environments.is_empty() {
            return Err(site.error(
                "environments",
                "bind the plan to at least one service stage, e.g. `environments = [{ service = \"service-abc\", stage = \"release\" }]`",
            ));
        }
        let mut environments = Vec::with_capacity(plan.environments.len());
        for environment in plan.environments {
            let service_id = site.required_text("environments.service", environment.service)?;
            let stage_name = site.required_text("environments.stage", environment.stage)?;
            let first = services
                .iter()
                .position(|service| service.id == service_id)
                .ok_or_else(|| site.error("environments.service", format!("no [[service]] has id `{service_id}`")))?;
            let stage = parse_stage(&stage_name).map_err(|message| site.error("environments.stage", message))?;
            // The table of this id that serves the stage (several may share an id on disjoint stages).
            let service = services
                .iter()
                .position(|service| service.id == service_id && service.stages.contains(&stage))
                .unwrap_or(first);
            if !services[service].stages.contains(&stage) {
                return Err(site.error(
                    "environments.stage",
                    format!("service `{}` is not published to stage `{stage_name}`", services[service].name),
                ));
            }
            if environments.contains(&(service, stage)) {
                return Err(site.error("environments", format!("`{service_id}` stage `{stage_name}` is listed twice")));
            }
            // Tencent: two plans that share a key cannot be bound to the same service stage.
            for &other in &services[service].usage_plans[stage.index()] {
                let other: &UsagePlan = &built[other];
                if let Some(&shared) = keys.iter().find(|key| other.secrets.contains(key)) {
                    return Err(site.error(
                        "environments",
                        format!(
                            "usage_plan `{}` is also bound to `{service_id}` stage `{stage_name}` with key `{}`; a key may be in one plan per stage",
                            other.name, secrets[shared].id
                        ),
                    ));
                }
            }
            environments.push((service, stage));
        }
        for &(service, stage) in &environments {
            services[service].usage_plans[stage.index()].push(built.len());
        }
        built.push(UsagePlan {
            name,
            secrets: keys,
            max_requests_per_second: plan.max_requests_per_second,
            quota_per_day: plan.quota_per_day,
            environments,
        });
    }
    Ok(built)
}

fn resolve_function(
    site: &Site,
    reference: Option<file::FunctionRef>,
    functions: &[(Function, FunctionKey)],
) -> Result<FunctionId, ConfigError> {
    resolve_function_field(site, "function", reference, functions)
}

/// Resolves the function reference written under `field` (`function`, or a WebSocket API's
/// `register`, `transport`, `cleanup`).
fn resolve_function_field(
    site: &Site,
    field: &str,
    reference: Option<file::FunctionRef>,
    functions: &[(Function, FunctionKey)],
) -> Result<FunctionId, ConfigError> {
    let Some(reference) = reference else {
        return Err(site.error(field, format!("required but missing; write `{field} = {{ name = \"...\" }}`")));
    };
    let name = site.required_text(&format!("{field}.name"), reference.name)?;
    let key = (
        reference.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        name,
        reference.qualifier.unwrap_or_else(|| DEFAULT_QUALIFIER.to_owned()),
    );
    let find = |key: &FunctionKey| functions.iter().position(|(_, defined)| defined == key);
    find(&key)
        // `$DEFAULT` is the alias SCF gives every function, pointing at `$LATEST` until the user
        // moves it: an API that names it reaches the `$LATEST` function nobody declared an alias for.
        .or_else(|| {
            (key.2 == "$DEFAULT").then(|| find(&(key.0.clone(), key.1.clone(), DEFAULT_QUALIFIER.to_owned()))).flatten()
        })
        .ok_or_else(|| site.error(field, format!("no [[function]] is defined as `{}/{}:{}`", key.0, key.1, key.2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch folder under the system temp dir, removed on drop, standing for a config file's
    /// folder: `functions/hello/bootstrap` is executable, `functions/plain/bootstrap` is not, and
    /// `functions/empty/` has no bootstrap.
    struct Scratch {
        dir: PathBuf,
    }

    impl Scratch {
        fn new(label: &str) -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "scfgate-config-{label}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            for (function, mode) in [("hello", 0o755), ("plain", 0o644)] {
                let folder = dir.join("functions").join(function);
                std::fs::create_dir_all(&folder).unwrap();
                let bootstrap = folder.join("bootstrap");
                std::fs::write(&bootstrap, "#!/bin/sh\n").unwrap();
                std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            std::fs::create_dir_all(dir.join("functions/empty")).unwrap();
            let web = dir.join("functions/web/scf_bootstrap");
            std::fs::create_dir_all(web.parent().unwrap()).unwrap();
            std::fs::write(&web, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&web, std::fs::Permissions::from_mode(0o755)).unwrap();
            Scratch { dir }
        }

        fn source(&self) -> PathBuf {
            self.dir.join("scfgate.toml")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Every feature once; each error case below edits one line of it.
    const FULL: &str = r#"[gateway]
listen = ["127.0.0.1:8080", "[::1]:8081"]
workers = 2
driver = "legacy"
max_header_bytes = 8192
max_body_bytes = 1024
max_response_bytes = 2048
idle_timeout = 1.5
header_timeout = 5
queue_depth = 7
pool_size = 3
pool_idle_timeout = 20

[[service]]
id = "service-hello01"
name = "hello"
hosts = ["API.Example.com", "127.0.0.1"]
stages = ["release", "test"]

[service.stage_variables.release]
greeting = "Hello"
audience = "world"

[service.stage_variables.test]
greeting = "Hi"

[[service.api]]
name = "say-hello"
path = "/hello/{name}"
method = "GET"
function = { name = "hello" }
timeout = 2.5

[[service.api]]
name = "echo"
path = "=/echo"
method = "post"
function = { name = "echo", namespace = "tools", qualifier = "1" }
integrated_response = true

[[service.api]]
name = "static"
path = "^~/static"
method = "ANY"
function = { name = "hello" }

[[service]]
id = "service-other02"
name = "other"

[[service.api]]
name = "root"
path = "/"
method = "head"
function = { name = "hello" }

[[function]]
name = "hello"
runtime = "custom"
code = "functions/hello"
handler = "app.handle"
instances = 2
init_timeout = 3
max_instances = 5
idle_timeout = 45
memory_limit_in_mb = 256

[[function]]
name = "echo"
namespace = "tools"
qualifier = "1"
runtime = "remote"
invoke_url = "http://127.0.0.1:9000/invoke?x=1"
"#;

    /// The smallest valid file, for defaults.
    const MINIMAL: &str = r#"[[service]]
id = "service-min"
name = "min"

[[service.api]]
name = "all"
path = "/"
method = "ANY"
function = { name = "hello" }

[[function]]
name = "hello"
runtime = "custom"
code = "functions/hello"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1"
"#;

    fn secs(value: f64) -> Duration {
        Duration::from_secs_f64(value)
    }

    #[test]
    fn full_example_parses_into_the_expected_config() {
        let scratch = Scratch::new("full");
        let config = parse_str(FULL, &scratch.source(), &Overrides::default()).unwrap();
        let expected = Config {
            source: scratch.source(),
            gateway: GatewaySettings {
                listen: vec!["127.0.0.1:8080".parse().unwrap(), "[::1]:8081".parse().unwrap()],
                tls_listen: vec![],
                workers: 2,
                driver: DriverChoice::Legacy,
                max_header_bytes: 8192,
                max_body_bytes: 1024,
                body_memory: 2 * DEFAULT_BODY_MEMORY_PER_WORKER,
                max_response_bytes: 2048,
                idle_timeout: secs(1.5),
                header_timeout: secs(5.0),
                send_timeout: secs(DEFAULT_SEND_TIMEOUT_SECS as f64),
                queue_depth: 7,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
                shutdown_timeout: secs(DEFAULT_SHUTDOWN_TIMEOUT_SECS as f64),
                pool_size: 3,
                pool_idle_timeout: secs(20.0),
                websocket: WebSocketSettings {
                    push_listen: DEFAULT_PUSH_LISTEN,
                    push_token: None,
                    max_message_bytes: DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES,
                    idle_timeout: secs(DEFAULT_WEBSOCKET_IDLE_TIMEOUT_SECS as f64),
                },
                identity: TencentIdentity::default(),
            },
            services: vec![
                Service {
                    id: "service-hello01".into(),
                    name: "hello".into(),
                    hosts: vec!["api.example.com".into(), "127.0.0.1".into()],
                    stages: vec![Stage::Release, Stage::Test],
                    stage_variables: [
                        vec![("audience".into(), "world".into()), ("greeting".into(), "Hello".into())],
                        vec![("greeting".into(), "Hi".into())],
                        vec![],
                    ],
                    usage_plans: Default::default(),
                },
                Service {
                    id: "service-other02".into(),
                    name: "other".into(),
                    hosts: vec![],
                    stages: Stage::ALL.to_vec(),
                    stage_variables: Default::default(),
                    usage_plans: Default::default(),
                },
            ],
            apis: vec![
                Api {
                    service: 0,
                    name: "say-hello".into(),
                    path: ApiPath { kind: PathKind::Param, path: "/hello/{name}".into(), params: vec!["name".into()] },
                    method: ApiMethod::Get,
                    function: 0,
                    timeout: secs(2.5),
                    integrated_response: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                },
                Api {
                    service: 0,
                    name: "echo".into(),
                    path: ApiPath { kind: PathKind::Exact, path: "/echo".into(), params: vec![] },
                    method: ApiMethod::Post,
                    function: 1,
                    timeout: secs(15.0),
                    integrated_response: true,
                    policy: ApiPolicy::default(),
                    websocket: None,
                },
                Api {
                    service: 0,
                    name: "static".into(),
                    path: ApiPath { kind: PathKind::PriorityPrefix, path: "/static".into(), params: vec![] },
                    method: ApiMethod::Any,
                    function: 0,
                    timeout: secs(15.0),
                    integrated_response: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                },
                Api {
                    service: 1,
                    name: "root".into(),
                    path: ApiPath { kind: PathKind::Prefix, path: "/".into(), params: vec![] },
                    method: ApiMethod::Head,
                    function: 0,
                    timeout: secs(15.0),
                    integrated_response: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                },
            ],
            functions: vec![
                Function {
                    namespace: "default".into(),
                    name: "hello".into(),
                    qualifier: "$LATEST".into(),
                    memory_mb: 256,
                    runtime: FunctionRuntime::Custom {
                        code: std::fs::canonicalize(scratch.dir.join("functions/hello")).unwrap(),
                        launcher: Launcher::Bootstrap,
                        handler: "app.handle".into(),
                        instances: 2,
                        init_timeout: secs(3.0),
                        max_instances: 5,
                        idle_timeout: secs(45.0),
                        environment: vec![],
                    },
                },
                Function {
                    namespace: "tools".into(),
                    name: "echo".into(),
                    qualifier: "1".into(),
                    memory_mb: 128,
                    runtime: FunctionRuntime::Remote {
                        url: "http://127.0.0.1:9000/invoke?x=1".into(),
                        addr: "127.0.0.1:9000".parse().unwrap(),
                        host_header: "127.0.0.1:9000".into(),
                        path: "/invoke?x=1".into(),
                    },
                },
            ],
            usage_plans: vec![],
            secrets: vec![],
            certificates: vec![],
        };
        // The model types carry no PartialEq (nothing at run time needs it); Debug shows every field.
        assert_eq!(format!("{config:#?}"), format!("{expected:#?}"));
    }

    #[test]
    fn defaults_fill_every_optional_key() {
        let scratch = Scratch::new("defaults");
        let config = parse_str(MINIMAL, &scratch.source(), &Overrides::default()).unwrap();
        let gateway = &config.gateway;
        assert_eq!(gateway.listen, vec!["0.0.0.0:8080".parse::<SocketAddr>().unwrap()]);
        assert_eq!(gateway.workers, std::thread::available_parallelism().unwrap().get());
        assert_eq!(gateway.driver, DriverChoice::Auto);
        assert_eq!(gateway.max_header_bytes, 16384);
        assert_eq!(gateway.max_body_bytes, 6 * 1024 * 1024);
        assert_eq!(gateway.max_response_bytes, 6 * 1024 * 1024);
        assert_eq!(gateway.idle_timeout, secs(60.0));
        assert_eq!(gateway.header_timeout, secs(10.0));
        assert_eq!(gateway.queue_depth, 1024);
        assert_eq!(gateway.pool_size, 1024);
        assert_eq!(gateway.pool_idle_timeout, secs(30.0));

        let service = &config.services[0];
        assert!(service.hosts.is_empty());
        assert_eq!(service.stages, vec![Stage::Release, Stage::Test, Stage::Prepub]);
        assert!(service.stage_variables.iter().all(Vec::is_empty));

        let api = &config.apis[0];
        assert_eq!((api.timeout, api.integrated_response, api.function), (secs(15.0), false, 0));

        let custom = &config.functions[0];
        assert_eq!(custom.display_name(), "default/hello:$LATEST");
        assert_eq!(custom.memory_mb, 128);
        match &custom.runtime {
            FunctionRuntime::Custom { handler, instances, init_timeout, max_instances, idle_timeout, .. } => {
                assert_eq!((handler.as_str(), *instances, *init_timeout), ("index.main_handler", 1, secs(30.0)));
                // No scaling unless asked for: `max_instances` defaults to `instances`.
                assert_eq!((*max_instances, *idle_timeout), (1, secs(60.0)));
            }
            other => panic!("expected a custom runtime, got {other:?}"),
        }
        match &config.functions[1].runtime {
            FunctionRuntime::Remote { addr, host_header, path, .. } => {
                assert_eq!(*addr, "127.0.0.1:80".parse::<SocketAddr>().unwrap());
                assert_eq!((host_header.as_str(), path.as_str()), ("127.0.0.1", "/"));
            }
            other => panic!("expected a remote runtime, got {other:?}"),
        }
    }

    #[test]
    fn overrides_win_over_the_file() {
        let scratch = Scratch::new("overrides");
        let overrides = Overrides {
            listen: vec!["127.0.0.2:9999".parse().unwrap()],
            workers: Some(5),
            driver: Some(DriverChoice::Uring),
            max_header_bytes: Some(100),
            max_body_bytes: Some(200),
            idle_timeout: Some(secs(7.0)),
            header_timeout: Some(secs(8.0)),
            send_timeout: Some(secs(16.0)),
            body_memory: Some(17),
            pool_size: Some(9),
            pool_idle_timeout: Some(secs(11.0)),
            queue_depth: Some(12),
            tls_listen: vec![],
            max_connections: Some(13),
            read_buffer_bytes: Some(14),
            shutdown_timeout: Some(secs(15.0)),
        };
        let gateway = parse_str(FULL, &scratch.source(), &overrides).unwrap().gateway;
        assert_eq!(gateway.listen, overrides.listen);
        assert_eq!(gateway.workers, 5);
        assert_eq!(gateway.driver, DriverChoice::Uring);
        assert_eq!((gateway.max_header_bytes, gateway.max_body_bytes), (100, 200));
        assert_eq!((gateway.idle_timeout, gateway.header_timeout), (secs(7.0), secs(8.0)));
        assert_eq!((gateway.send_timeout, gateway.body_memory), (secs(16.0), 17));
        assert_eq!((gateway.pool_size, gateway.pool_idle_timeout, gateway.queue_depth), (9, secs(11.0), 12));
        assert_eq!(
            (gateway.max_connections, gateway.read_buffer_bytes, gateway.shutdown_timeout),
            (13, 14, secs(15.0))
        );
        // No flag for it: the file's value stays.
        assert_eq!(gateway.max_response_bytes, 2048);
    }

    #[test]
    fn bad_override_values_name_the_flag() {
        let scratch = Scratch::new("bad-flags");
        let file = scratch.source();
        #[rustfmt::skip]
        let cases: &[(Overrides, &str)] = &[
            (Overrides { workers: Some(0), ..Default::default() }, "command line: field `--workers`: must be at least 1"),
            (Overrides { max_header_bytes: Some(0), ..Default::default() }, "command line: field `--max-header-bytes`: must be at least 1"),
            (Overrides { idle_timeout: Some(Duration::ZERO), ..Default::default() }, "command line: field `--idle-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            (Overrides { header_timeout: Some(Duration::ZERO), ..Default::default() }, "command line: field `--header-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            (Overrides { pool_idle_timeout: Some(Duration::ZERO), ..Default::default() }, "command line: field `--pool-idle-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            (Overrides { shutdown_timeout: Some(Duration::from_secs(86_401)), ..Default::default() }, "command line: field `--shutdown-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 86401"),
        ];
        for (overrides, expected) in cases {
            let error = parse_str(FULL, &file, overrides).unwrap_err();
            assert_eq!(error.to_string(), format!("{}: {expected}", file.display()));
        }
    }

    /// Applies one edit to [`FULL`]; the text to replace must occur exactly once, so that a case
    /// cannot silently test the unedited file.
    /// Runs a table of `(find, replace, expected message)` edits. In the expected message `{dir}`
    /// stands for the scratch folder; a trailing `…` means "starts with" (for OS-worded parts).
    fn check_errors(label: &str, cases: &[(&str, &str, &str)]) {
        check_errors_in(FULL, label, cases)
    }

    /// [`check_errors`] with edits to `base` instead of `FULL`.
    fn check_errors_in(base: &str, label: &str, cases: &[(&str, &str, &str)]) {
        let scratch = Scratch::new(label);
        let file = scratch.source();
        // Every mismatch is reported, not just the first, so one run shows the whole table's state.
        let mut failures = Vec::new();
        for (find, replace, expected) in cases {
            assert_eq!(base.matches(find).count(), 1, "`{find}` must occur exactly once");
            let text = base.replacen(find, replace, 1);
            let error = match parse_str(&text, &file, &Overrides::default()) {
                Ok(_) => "<accepted>".to_owned(),
                Err(error) => error.to_string(),
            };
            let expected = format!("{}{expected}", file.display()).replace("{dir}", &scratch.dir.display().to_string());
            let matches = match expected.strip_suffix('…') {
                Some(prefix) => error.starts_with(prefix),
                None => error == expected,
            };
            if !matches {
                failures.push(format!("`{replace}`:\n  got      {error}\n  expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn toml_errors_name_the_line_and_column() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("workers = 2", "workers = ", ":3:11: string values must be quoted, expected literal string"),
            ("workers = 2", "wrokers = 2", ":3:1: unknown field `wrokers`, expected one of …"),
            ("timeout = 2.5", "timeout = 2.5\nretries = 3", ":33:1: unknown field `retries`, expected one of `name`, `path`, `method`, `function`, `register`, `transport`, `cleanup`, `timeout`, `integrated_response`, `protocol`, `auth`, `cors`, `cors_origins`, `oauth`, `param`, `description`, `response_type`, `success_response_sample`, `failure_response_sample`, `error_code`"),
            ("function = { name = \"hello\" }\ntimeout", "function = { name = \"hello\", version = \"1\" }\ntimeout", ":31:30: unknown field `version`, expected one of `name`, `namespace`, `qualifier`"),
            ("[[function]]\nname = \"hello\"", "[[functions]]\nname = \"hello\"", ":57:3: unknown field `functions`, expected one of …"),
            ("workers = 2", "workers = -2", ":3:11: invalid value: integer `-2`, expected usize"),
            ("header_timeout = 5", "header_timeout = \"5s\"", ":9:18: invalid type: string \"5s\", expected a number of seconds (integer or float)"),
            ("driver = \"legacy\"", "driver = \"epoll\"", ":4:10: unknown variant `epoll`, expected one of `auto`, `uring`, `legacy`"),
            ("runtime = \"custom\"", "runtime = 3", ":59:11: invalid type: integer `3`, expected a string"),
            ("greeting = \"Hi\"", "greeting = 1", ":25:12: invalid type: integer `1`, expected a string"),
        ];
        check_errors("toml", cases);
    }

    #[test]
    fn gateway_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("listen = [\"127.0.0.1:8080\", \"[::1]:8081\"]", "listen = []", ": [gateway]: field `listen`: at least one address is required"),
            ("listen = [\"127.0.0.1:8080\", \"[::1]:8081\"]", "listen = [\"localhost:80\"]", ": [gateway]: field `listen`: `localhost:80` is not an IP address and port like `127.0.0.1:8080`"),
            ("listen = [\"127.0.0.1:8080\", \"[::1]:8081\"]", "listen = [\"127.0.0.1\"]", ": [gateway]: field `listen`: `127.0.0.1` is not an IP address and port like `127.0.0.1:8080`"),
            ("workers = 2", "workers = 0", ": [gateway]: field `workers`: must be at least 1"),
            ("max_header_bytes = 8192", "max_header_bytes = 0", ": [gateway]: field `max_header_bytes`: must be at least 1"),
            ("max_response_bytes = 2048", "max_response_bytes = 0", ": [gateway]: field `max_response_bytes`: must be at least 1"),
            ("idle_timeout = 1.5", "idle_timeout = 0", ": [gateway]: field `idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            ("header_timeout = 5", "header_timeout = -1", ": [gateway]: field `header_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got -1"),
            ("pool_idle_timeout = 20", "pool_idle_timeout = nan", ": [gateway]: field `pool_idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got NaN"),
            ("pool_idle_timeout = 20", "pool_idle_timeout = inf", ": [gateway]: field `pool_idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got inf"),
            ("workers = 2", "workers = 2\nregion = \"AP Guangzhou\"", ": [gateway]: field `region`: `AP Guangzhou` is not a region name like `ap-guangzhou` (lower-case letters, digits and `-`)"),
            ("workers = 2", "workers = 2\nappid = \"12x\"", ": [gateway]: field `appid`: `12x` is not a number like `1250000000` (digits only, as a string)"),
            ("workers = 2", "workers = 2\nuin = \"\"", ": [gateway]: field `uin`: `` is not a number like `1250000000` (digits only, as a string)"),
        ];
        check_errors("gateway", cases);
    }

    #[test]
    fn service_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("id = \"service-hello01\"\n", "", ": service `hello`: field `id`: required but missing"),
            ("id = \"service-hello01\"", "id = \"\"", ": service `hello`: field `id`: may not be empty"),
            ("id = \"service-other02\"", "id = \"service-hello01\"", ": service `other`: field `id`: `service-hello01` is already the id of service `hello`"),
            ("name = \"hello\"\nhosts", "hosts", ": service #1: field `name`: required but missing"),
            ("\"API.Example.com\"", "\"api.example.com:8080\"", ": service `hello`: field `hosts`: `api.example.com:8080`: a port is not allowed; hosts are matched without the Host header's port"),
            ("\"API.Example.com\"", "\"*.example.com\"", ": service `hello`: field `hosts`: `*.example.com`: character '*' is not allowed in a host name"),
            ("\"API.Example.com\"", "\"\"", ": service `hello`: field `hosts`: a host name may not be empty"),
            ("\"API.Example.com\"", "\"[::1\"", ": service `hello`: field `hosts`: `[::1` is not an IPv6 address in brackets (and a port is not allowed)"),
            ("\"API.Example.com\"", "\"[::1]:80\"", ": service `hello`: field `hosts`: `[::1]:80` is not an IPv6 address in brackets (and a port is not allowed)"),
            ("\"API.Example.com\", \"127.0.0.1\"", "\"API.Example.com\", \"api.example.com\"", ": service `hello`: field `hosts`: `api.example.com` is listed twice"),
            ("stages = [\"release\", \"test\"]", "stages = [\"release\", \"prod\"]", ": service `hello`: field `stages`: `prod` is not a stage; use release, test or prepub"),
            ("stages = [\"release\", \"test\"]", "stages = [\"Release\"]", ": service `hello`: field `stages`: `Release` is not a stage; use release, test or prepub"),
            ("stages = [\"release\", \"test\"]", "stages = [\"test\", \"test\"]", ": service `hello`: field `stages`: `test` is listed twice"),
            ("stages = [\"release\", \"test\"]", "stages = []", ": service `hello`: field `stages`: at least one stage is required (release, test, prepub)"),
            ("stages = [\"release\", \"test\"]", "stages = [\"release\"]", ": service `hello`: field `stage_variables.test`: this service is not published to stage `test`"),
            ("[service.stage_variables.test]", "[service.stage_variables.dev]", ": service `hello`: field `stage_variables.dev`: `dev` is not a stage; use release, test or prepub"),
            ("greeting = \"Hi\"", "\"\" = \"Hi\"", ": service `hello`: field `stage_variables.test`: a variable name may not be empty"),
        ];
        check_errors("service", cases);
    }

    #[test]
    fn api_errors() {
        let long_name = "a".repeat(61);
        let long_name_line = format!("name = \"{long_name}\"");
        let long_name_error =
            format!(": service `hello` api `{long_name}`: field `name`: 61 characters long; at most 60 are allowed");
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("name = \"say-hello\"\n", "", ": service `hello` api #1: field `name`: required but missing"),
            ("name = \"say-hello\"", &long_name_line, &long_name_error),
            ("name = \"echo\"\npath", "name = \"say-hello\"\npath", ": service `hello` api `say-hello`: field `name`: another api of this service has the same name"),
            ("path = \"/hello/{name}\"\n", "", ": service `hello` api `say-hello`: field `path`: required but missing"),
            ("path = \"/hello/{name}\"", "path = \"/hello/.*\"", ": service `hello` api `say-hello`: field `path`: `*` at byte 8: regular expressions other than {param} are not supported"),
            ("path = \"/hello/{name}\"", "path = \"/{a}{b}\"", ": service `hello` api `say-hello`: field `path`: placeholder `{b}` at byte 4 follows the previous one directly; literal text must separate two placeholders"),
            ("method = \"GET\"\n", "", ": service `hello` api `say-hello`: field `method`: required but missing"),
            ("method = \"GET\"", "method = \"PATCH\"", ": service `hello` api `say-hello`: field `method`: `PATCH` is not one of GET, POST, PUT, DELETE, HEAD, ANY"),
            ("function = { name = \"hello\" }\ntimeout = 2.5\n", "timeout = 2.5\n", ": service `hello` api `say-hello`: field `function`: required but missing; write `function = { name = \"...\" }`"),
            ("function = { name = \"hello\" }\ntimeout", "function = { qualifier = \"1\" }\ntimeout", ": service `hello` api `say-hello`: field `function.name`: required but missing"),
            ("function = { name = \"hello\" }\ntimeout", "function = { name = \"hola\" }\ntimeout", ": service `hello` api `say-hello`: field `function`: no [[function]] is defined as `default/hola:$LATEST`"),
            ("function = { name = \"echo\", namespace = \"tools\", qualifier = \"1\" }", "function = { name = \"echo\", namespace = \"tools\" }", ": service `hello` api `echo`: field `function`: no [[function]] is defined as `tools/echo:$LATEST`"),
            ("timeout = 2.5", "timeout = 0", ": service `hello` api `say-hello`: field `timeout`: must be a number of seconds greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout), got 0"),
            // spec §1.1: path + method identify an API; `{param}` names do not change what matches.
            ("path = \"=/echo\"\nmethod = \"post\"", "path = \"/hello/{who}\"\nmethod = \"get\"", ": service `hello` api `echo`: field `path`: `GET /hello/{who}` conflicts with api `say-hello` (`GET /hello/{name}`): same path and overlapping method"),
            ("path = \"^~/static\"", "path = \"/hello/{x}\"", ": service `hello` api `static`: field `path`: `ANY /hello/{x}` conflicts with api `say-hello` (`GET /hello/{name}`): same path and overlapping method"),
            ("path = \"^~/static\"", "path = \"=/echo\"", ": service `hello` api `static`: field `path`: `ANY =/echo` conflicts with api `echo` (`POST =/echo`): same path and overlapping method"),
        ];
        check_errors("api", cases);
    }

    #[test]
    fn function_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("[[function]]\nname = \"hello\"\n", "[[function]]\n", ": function #1: field `name`: required but missing"),
            ("name = \"echo\"\nnamespace", "name = \"ec ho\"\nnamespace", ": function `tools/ec ho:1`: field `name`: character ' ' is not allowed"),
            ("namespace = \"tools\"\n", "namespace = \"a/b\"\n", ": function `a/b/echo:1`: field `namespace`: character '/' is not allowed"),
            ("qualifier = \"1\"\nruntime", "qualifier = \"\"\nruntime", ": function `tools/echo:`: field `qualifier`: may not be empty"),
            ("name = \"echo\"\nnamespace = \"tools\"\nqualifier = \"1\"", "name = \"hello\"\nqualifier = \"$LATEST\"", ": function `default/hello:$LATEST`: field `name`: `default/hello:$LATEST` is defined twice (namespace, name and qualifier must be unique)"),
            ("runtime = \"remote\"\n", "", ": function `tools/echo:1`: field `runtime`: required but missing; use \"custom\", \"remote\", \"web\" or \"tencentcloud\""),
            ("memory_limit_in_mb = 256", "memory_limit_in_mb = 0", ": function `default/hello:$LATEST`: field `memory_limit_in_mb`: must be at least 1"),
            ("code = \"functions/hello\"\n", "", ": function `default/hello:$LATEST`: field `code`: required but missing"),
            ("code = \"functions/hello\"", "code = \"functions/missing\"", ": function `default/hello:$LATEST`: field `code`: folder `{dir}/functions/missing`: No such file or directory…"),
            ("code = \"functions/hello\"", "code = \"functions/hello/bootstrap\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/hello/bootstrap` is not a folder"),
            ("code = \"functions/hello\"", "code = \"functions/empty\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/empty/bootstrap`: No such file or directory (os error 2); a custom runtime folder needs an executable `bootstrap`"),
            ("code = \"functions/hello\"", "code = \"functions/plain\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/plain/bootstrap` is not executable (chmod +x it)"),
            ("code = \"functions/hello\"", "code = \"functions\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/bootstrap`: No such file or directory (os error 2); a custom runtime folder needs an executable `bootstrap`"),
            ("handler = \"app.handle\"", "handler = \"\"", ": function `default/hello:$LATEST`: field `handler`: may not be empty"),
            ("instances = 2", "instances = 0", ": function `default/hello:$LATEST`: field `instances`: must be at least 1"),
            ("init_timeout = 3", "init_timeout = 0.0", ": function `default/hello:$LATEST`: field `init_timeout`: must be a number of seconds greater than 0 and at most 300 (SCF's limit on a function's init timeout), got 0"),
            ("max_instances = 5", "max_instances = 1", ": function `default/hello:$LATEST`: field `max_instances`: must be at least `instances` (2), got 1"),
            ("idle_timeout = 45", "idle_timeout = -1", ": function `default/hello:$LATEST`: field `idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got -1"),
            // A key of the other runtime is refused by name.
            ("instances = 2", "instances = 2\ninvoke_url = \"http://127.0.0.1/\"", ": function `default/hello:$LATEST`: field `invoke_url`: not allowed for runtime = \"custom\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\ncode = \"x\"", ": function `tools/echo:1`: field `code`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nhandler = \"x\"", ": function `tools/echo:1`: field `handler`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\ninstances = 1", ": function `tools/echo:1`: field `instances`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\ninit_timeout = 1", ": function `tools/echo:1`: field `init_timeout`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nmax_instances = 2", ": function `tools/echo:1`: field `max_instances`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nidle_timeout = 1", ": function `tools/echo:1`: field `idle_timeout`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nenvironment = { A = \"b\" }", ": function `tools/echo:1`: field `environment`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("idle_timeout = 45", "idle_timeout = 45\nenvironment = { SCF_NAMESPACE = \"x\" }", ": function `default/hello:$LATEST`: field `environment.SCF_NAMESPACE`: names starting with `SCF_` are set by the platform (SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_`; `SCFGATE_` is the gateway's)"),
            ("invoke_url = \"http://127.0.0.1:9000/invoke?x=1\"\n", "", ": function `tools/echo:1`: field `invoke_url`: required but missing"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"https://127.0.0.1/invoke\"", ": function `tools/echo:1`: field `invoke_url`: https is not supported yet; use an http:// endpoint like `http://127.0.0.1:9000/invoke`"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"ftp://127.0.0.1/\"", ": function `tools/echo:1`: field `invoke_url`: must be an http:// URL like `http://127.0.0.1:9000/invoke`"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http:///invoke\"", ": function `tools/echo:1`: field `invoke_url`: has no host; write it like `http://127.0.0.1:9000/invoke`"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://127.0.0.1:0/\"", ": function `tools/echo:1`: field `invoke_url`: `0` is not a port number (1-65535)"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://127.0.0.1:+80/\"", ": function `tools/echo:1`: field `invoke_url`: `+80` is not a port number (1-65535)"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://user@127.0.0.1/\"", ": function `tools/echo:1`: field `invoke_url`: user info (`user@`) is not supported"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://127.0.0.1/#frag\"", ": function `tools/echo:1`: field `invoke_url`: a URL fragment (`#…`) is not allowed"),
            // RFC 2606: `.invalid` never resolves.
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://nowhere.invalid/\"", ": function `tools/echo:1`: field `invoke_url`: host `nowhere.invalid` does not resolve: …"),
        ];
        check_errors("function", cases);
    }

    /// Web functions (`runtime = "web"`): one with a fixed port, one the gateway places.
    const WEB: &str = r#"[[service]]
id = "service-web"
name = "web"

[[service.api]]
name = "site"
path = "/site"
method = "ANY"
function = { name = "site" }

[[service.api]]
name = "app"
path = "/app"
method = "ANY"
function = { name = "app" }

[[function]]
name = "site"
runtime = "web"
code = "functions/web"
port = 9000

[[function]]
name = "app"
runtime = "web"
code = "functions/web"
instances = 3
max_instances = 5
idle_timeout = 2
concurrency = 4
init_timeout = 5
memory_limit_in_mb = 512
environment = { LOG_LEVEL = "debug" }
"#;

    #[test]
    fn web_functions_parse() {
        let scratch = Scratch::new("web");
        let config = parse_str(WEB, &scratch.source(), &Overrides::default()).unwrap();
        let code = std::fs::canonicalize(scratch.dir.join("functions/web")).unwrap();
        let runtimes: Vec<_> = config.functions.iter().map(|function| format!("{:?}", function.runtime)).collect();
        assert_eq!(
            runtimes,
            [
                format!("Web {{ code: {code:?}, instances: 1, init_timeout: 30s, max_instances: 1, idle_timeout: 60s, concurrency: 1, port: Some(9000), environment: [] }}"),
                format!("Web {{ code: {code:?}, instances: 3, init_timeout: 5s, max_instances: 5, idle_timeout: 2s, concurrency: 4, port: None, environment: [(\"LOG_LEVEL\", \"debug\")] }}"),
            ]
        );
        assert!(config.functions.iter().all(Function::is_web));
    }

    #[test]
    fn web_function_errors() {
        let site = ": function `default/site:$LATEST`: field";
        let app = ": function `default/app:$LATEST`: field";
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            // Two servers cannot share a port: the second one named is refused, naming the first.
            ("instances = 3
max_instances = 5
", "port = 9000
", &format!("{app} `port`: port 9000 is already the port of web function `default/site:$LATEST`; two servers cannot listen on one port (leave `port` out to let the gateway pick one)")),
            ("port = 9000", "port = 9000\ninstances = 2", &format!("{site} `port`: 2 instances cannot all listen on port 9000; leave `port` out (each instance then gets its own port in `PORT`) or set instances = 1")),
            ("port = 9000", "port = 0", &format!("{site} `port`: must be a port number (1-65535); leave `port` out to let the gateway pick a free one")),
            ("port = 9000", "port = 70000", ":21:8: invalid value: integer `70000`, expected u16"),
            ("code = \"functions/web\"\nport", "code = \"functions/hello\"\nport", &format!("{site} `code`: `{{dir}}/functions/hello/scf_bootstrap`: No such file or directory (os error 2); a web function folder needs an executable `scf_bootstrap`")),
            ("code = \"functions/web\"\nport", "port", &format!("{site} `code`: required but missing")),
            ("port = 9000", "port = 9000\nhandler = \"x\"", &format!("{site} `handler`: not allowed for runtime = \"web\" (it belongs to another runtime)")),
            ("port = 9000", "port = 9000\ninvoke_url = \"http://127.0.0.1/\"", &format!("{site} `invoke_url`: not allowed for runtime = \"web\" (it belongs to another runtime)")),
            ("instances = 3", "instances = 0", &format!("{app} `instances`: must be at least 1")),
            ("max_instances = 5", "max_instances = 2", &format!("{app} `max_instances`: must be at least `instances` (3), got 2")),
            ("port = 9000", "port = 9000\nmax_instances = 2", &format!("{site} `max_instances`: 2 instances cannot all listen on port 9000; leave `port` out (each instance then gets its own port in `PORT`) or leave `max_instances` out")),
            ("concurrency = 4", "concurrency = 0", &format!("{app} `concurrency`: must be at least 1")),
            ("idle_timeout = 2", "idle_timeout = 0", &format!("{app} `idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0")),
            ("function = { name = \"site\" }", "function = { name = \"site\" }\nintegrated_response = true", ": service `web` api `site`: field `integrated_response`: not used with a web function (runtime = \"web\"): its HTTP response is passed through as it is"),
        ];
        check_errors_in(WEB, "web", cases);
    }

    #[test]
    fn port_belongs_to_web_functions_only() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("instances = 2", "instances = 2\nport = 9000", ": function `default/hello:$LATEST`: field `port`: not allowed for runtime = \"custom\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nport = 9000", ": function `tools/echo:1`: field `port`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("instances = 2", "instances = 2\nconcurrency = 2", ": function `default/hello:$LATEST`: field `concurrency`: not allowed for runtime = \"custom\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nconcurrency = 2", ": function `tools/echo:1`: field `concurrency`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
        ];
        check_errors("port", cases);
    }

    #[test]
    fn whole_file_errors() {
        let scratch = Scratch::new("whole");
        let file = scratch.source();
        let no_service = parse_str("[gateway]\nworkers = 1\n", &file, &Overrides::default()).unwrap_err();
        assert_eq!(
            no_service.to_string(),
            format!("{}: field `service`: no [[service]] is defined, so no request could be served", file.display())
        );
        let missing = load(&scratch.dir.join("absent.toml"), &Overrides::default()).unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!(
                "{}: cannot read the file: No such file or directory (os error 2)",
                scratch.dir.join("absent.toml").display()
            )
        );
    }

    #[test]
    fn load_reads_the_file_and_resolves_code_beside_it() {
        let scratch = Scratch::new("load");
        std::fs::write(scratch.source(), MINIMAL).unwrap();
        let config = load(&scratch.source(), &Overrides::default()).unwrap();
        assert_eq!(config.source, scratch.source());
        match &config.functions[0].runtime {
            FunctionRuntime::Custom { code, .. } => {
                assert_eq!(*code, std::fs::canonicalize(scratch.dir.join("functions/hello")).unwrap())
            }
            other => panic!("expected a custom runtime, got {other:?}"),
        }
    }

    #[test]
    fn invoke_urls() {
        let ok = |url: &str| parse_invoke_url(url).map(|e| (e.addr.to_string(), e.host_header, e.path));
        #[rustfmt::skip]
        let cases: &[(&str, (&str, &str, &str))] = &[
            ("http://127.0.0.1", ("127.0.0.1:80", "127.0.0.1", "/")),
            ("HTTP://127.0.0.1:9000", ("127.0.0.1:9000", "127.0.0.1:9000", "/")),
            ("http://127.0.0.1:9000/a/b", ("127.0.0.1:9000", "127.0.0.1:9000", "/a/b")),
            ("http://127.0.0.1?x=1", ("127.0.0.1:80", "127.0.0.1", "/?x=1")),
            ("http://[::1]:9000/invoke", ("[::1]:9000", "[::1]:9000", "/invoke")),
            ("http://[::1]/", ("[::1]:80", "[::1]", "/")),
        ];
        for (url, (addr, host, path)) in cases {
            assert_eq!(ok(url), Ok(((*addr).to_owned(), (*host).to_owned(), (*path).to_owned())), "{url}");
        }
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "a\nbé c\n";
        let cases = [(0, (1, 1)), (2, (2, 1)), (5, (2, 3)), (4, (2, 2)), (8, (3, 1)), (99, (3, 1))];
        for (offset, expected) in cases {
            assert_eq!(line_column(text, offset), expected, "offset {offset}");
        }
    }

    /// Every frontend policy once (issue 3); each case of `policy_errors` edits one line of it.
    const POLICY: &str = r#"
[[service]]
id = "service-shop01"
name = "shop"
stages = ["release", "test"]

[[service.api]]
name = "item"
path = "/item/{id}"
method = "GET"
function = { name = "far" }
auth = "key_pair"
protocol = "http"
cors = true
cors_origins = ["https://App.example.com", "http://localhost:3000"]

[[service.api.param]]
name = "id"
position = "path"
type = "long"
required = true

[[service.api.param]]
name = "page"
position = "query"
type = "int"
default = "1"
desc = "page number"
sample = "2"

[[service.api.param]]
name = "X-Trace"
position = "Header"

[[service.api]]
name = "me"
path = "=/me"
method = "GET"
function = { name = "far" }
auth = "oauth"
cors = true

[service.api.oauth]
public_key = '{"kty":"EC","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}'
token_location = "cookie:id_token"
iss = "https://auth.example.com"
aud = "shop"

[[usage_plan]]
name = "gold"
secret_ids = ["AKIDgold"]
max_requests_per_second = 100
quota_per_day = 10000
environments = [{ service = "service-shop01", stage = "release" }]

[[usage_plan]]
name = "stage-wide"
max_requests_per_second = 1000
environments = [{ service = "service-shop01", stage = "release" }, { service = "service-shop01", stage = "test" }]

[[secret]]
id = "AKIDgold"
key = "gold-key"

[[secret]]
id = "AKIDpath"
key_env = "PATH"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;

    #[test]
    fn policy_example_parses_into_the_expected_model() {
        let scratch = Scratch::new("policy");
        let config = parse_str(POLICY, &scratch.source(), &Overrides::default()).unwrap();
        let item = &config.apis[0].policy;
        assert_eq!((item.protocol, matches!(item.auth, Auth::KeyPair)), (Protocol::Http, true));
        assert_eq!(
            item.cors,
            Some(Cors { origins: vec!["https://app.example.com".into(), "http://localhost:3000".into()] })
        );
        let param = |name: &str, position, kind, required, default: Option<&str>, capture| Param {
            name: name.into(),
            position,
            kind,
            required,
            default: default.map(str::to_owned),
            desc: (name == "page").then(|| "page number".into()),
            sample: (name == "page").then(|| "2".into()),
            capture,
        };
        assert_eq!(
            item.params,
            vec![
                param("id", ParamPosition::Path, ParamType::Long, true, None, Some(0)),
                param("page", ParamPosition::Query, ParamType::Int, false, Some("1"), None),
                param("X-Trace", ParamPosition::Header, ParamType::String, false, None, None),
            ]
        );
        let me = &config.apis[1].policy;
        assert_eq!((me.protocol, me.cors.clone()), (Protocol::HttpAndHttps, Some(Cors { origins: vec![] })));
        let Auth::OAuth(oauth) = &me.auth else { panic!("expected OAuth, got {:?}", me.auth) };
        assert_eq!(
            format!("{oauth:?}"),
            r#"OAuthSettings { key: PublicKey::P256, algorithm: Es256, token_location: Cookie("id_token"), issuer: Some("https://auth.example.com"), audience: Some("shop") }"#
        );
        // Secrets are sorted by id for lookup, and never print their keys.
        assert_eq!(
            format!("{:?}", config.secrets),
            r#"[Secret { id: "AKIDgold", key: SecretKey(..) }, Secret { id: "AKIDpath", key: SecretKey(..) }]"#
        );
        assert_eq!(config.secret(b"AKIDpath"), Some(1));
        assert_eq!(config.secret(b"AKIDnone"), None);
        let plans: Vec<_> = config
            .usage_plans
            .iter()
            .map(|plan| {
                (
                    plan.name.as_str(),
                    plan.secrets.clone(),
                    plan.max_requests_per_second,
                    plan.quota_per_day,
                    plan.environments.clone(),
                )
            })
            .collect();
        assert_eq!(
            plans,
            vec![
                ("gold", vec![0], Some(100), Some(10_000), vec![(0, Stage::Release)]),
                ("stage-wide", vec![], Some(1000), None, vec![(0, Stage::Release), (0, Stage::Test)]),
            ]
        );
        assert_eq!(config.services[0].usage_plans, [vec![0, 1], vec![1], vec![]]);
    }

    #[test]
    fn policy_errors() {
        let api = ": service `shop` api `item`";
        let me = ": service `shop` api `me`";
        let e = |location: &str, rest: &str| format!("{location}: {rest}");
        let short_rsa = crate::policy::oauth::tests::rsa_1024_jwk();
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, String)> = vec![
            ("protocol = \"http\"", "protocol = \"tcp\"", e(api, "field `protocol`: `tcp` is not one of \"http\", \"https\", \"http&https\", \"ws\", \"wss\", \"ws&wss\"")),
            ("auth = \"key_pair\"", "auth = \"SECRET\"", e(api, "field `auth`: `SECRET` is not one of \"none\", \"key_pair\", \"oauth\"")),
            ("auth = \"oauth\"", "auth = \"none\"", e(me, "field `oauth`: only allowed with auth = \"oauth\" (this api has auth = \"none\")")),
            ("auth = \"key_pair\"", "auth = \"oauth\"", e(api, "field `oauth`: required when auth = \"oauth\": add `[service.api.oauth]` with `public_key`")),
            ("public_key = '", "algorithm = \"RS256\"\npublic_key = '", e(me, "field `oauth.algorithm`: RS256 cannot be verified with the public_key's key type")),
            ("public_key = '", "algorithm = \"HS256\"\npublic_key = '", e(me, "field `oauth.algorithm`: `HS256` is not one of RS256, RS384, RS512, ES256")),
            ("{\"kty\":\"EC\",", "{\"kty\":\"EC\",\"alg\":\"ES256\",\"use\":\"enc\",", e(me, "field `oauth.public_key`: has \"use\": \"enc\"; a token-verifying key must be \"sig\"")),
            ("\"crv\":\"P-256\",", "\"crv\":\"P-521\",", e(me, "field `oauth.public_key`: has \"crv\": \"P-521\"; only P-256 (ES256) is supported")),
            ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\",\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"}", &short_rsa, e(me, "field `oauth.public_key`: is not a usable RSA key: a 1024-bit modulus; at least 2048 bits are required")),
            ("token_location = \"cookie:id_token\"", "token_location = \"query:token\"", e(me, "field `oauth.token_location`: `query:token`: use `header:<Name>` (e.g. `header:Authorization`) or `cookie:<name>`")),
            ("iss = \"https://auth.example.com\"", "iss = \"\"", e(me, "field `oauth.iss`: may not be empty; leave it out to accept any")),
            ("aud = \"shop\"", "aud = \"shop\"\nexp = 1", ":48:1: unknown field `exp`, expected one of `public_key`, `algorithm`, `token_location`, `iss`, `aud`".into()),
            ("cors = true\ncors_origins", "cors = false\ncors_origins", e(api, "field `cors_origins`: only allowed with cors = true")),
            ("\"http://localhost:3000\"]", "\"http://localhost:3000/\"]", e(api, "field `cors_origins`: `http://localhost:3000/` is not an origin like `https://app.example.com` or `http://localhost:3000` (scheme, host, optional port; no path)")),
            ("\"http://localhost:3000\"]", "\"https://app.example.COM\"]", e(api, "field `cors_origins`: `https://app.example.COM` is listed twice")),
            ("\"http://localhost:3000\"]", "\"*\"]", e(api, "field `cors_origins`: `*` already allows every origin; list it alone or list origins")),
            ("cors_origins = [\"https://App.example.com\", \"http://localhost:3000\"]", "cors_origins = []", e(api, "field `cors_origins`: at least one origin is required; leave it out to allow any (`*`)")),
            // spec §2.1: a path param must appear in the path as {name}.
            ("name = \"id\"", "name = \"uid\"", e(api, "field `param.uid.name`: a path param must appear in the path as `{uid}`, and `/item/{id}` has no `{uid}`")),
            ("position = \"path\"", "position = \"body\"", e(api, "field `param.id.position`: `body` is not one of header, query, path")),
            ("type = \"long\"", "type = \"uuid\"", e(api, "field `param.id.type`: `uuid` is not one of string, int, long, float, double, boolean, date")),
            ("default = \"1\"", "default = \"first\"", e(api, "field `param.page.default`: `first` is not a valid int")),
            ("sample = \"2\"", "sample = \"2.5\"", e(api, "field `param.page.sample`: `2.5` is not a valid int")),
            ("default = \"1\"", "default = \"1\"\nrequired = true", e(api, "field `param.page.default`: a required param is never absent, so its default would never be used; drop one of them")),
            ("name = \"X-Trace\"", "name = \"X Trace\"", e(api, "field `param.X Trace.name`: `X Trace` is not a header name")),
            ("name = \"X-Trace\"\nposition = \"Header\"", "name = \"page\"\nposition = \"query\"", e(api, "field `param.page.name`: another query param is named `page`")),
            ("name = \"X-Trace\"\n", "", e(api, "field `param #3.name`: required but missing")),
            ("position = \"Header\"\n", "", e(api, "field `param.X-Trace.position`: required but missing")),
            ("desc = \"page number\"", "description = \"x\"", ":28:1: unknown field `description`, expected one of `name`, `position`, `type`, `required`, `default`, `desc`, `sample`".into()),
            // [[usage_plan]] and [[secret]]
            ("name = \"gold\"", "name = \"stage-wide\"", ": usage_plan `stage-wide`: field `name`: another [[usage_plan]] has the same name".into()),
            ("secret_ids = [\"AKIDgold\"]", "secret_ids = [\"AKIDgone\"]", ": usage_plan `gold`: field `secret_ids`: no [[secret]] has id `AKIDgone`".into()),
            ("secret_ids = [\"AKIDgold\"]", "secret_ids = [\"AKIDgold\", \"AKIDgold\"]", ": usage_plan `gold`: field `secret_ids`: `AKIDgold` is listed twice".into()),
            ("max_requests_per_second = 100\n", "max_requests_per_second = 0\n", ": usage_plan `gold`: field `max_requests_per_second`: must be at least 1; leave it out for no limit".into()),
            ("quota_per_day = 10000", "quota_per_day = 0", ": usage_plan `gold`: field `quota_per_day`: must be at least 1; leave it out for no limit".into()),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "", ": usage_plan `gold`: field `environments`: bind the plan to at least one service stage, e.g. `environments = [{ service = \"service-abc\", stage = \"release\" }]`".into()),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "environments = [{ service = \"shop\", stage = \"release\" }]\n", ": usage_plan `gold`: field `environments.service`: no [[service]] has id `shop`".into()),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "environments = [{ service = \"service-shop01\", stage = \"prepub\" }]\n", ": usage_plan `gold`: field `environments.stage`: service `shop` is not published to stage `prepub`".into()),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "environments = [{ service = \"service-shop01\" }]\n", ": usage_plan `gold`: field `environments.stage`: required but missing".into()),
            ("{ service = \"service-shop01\", stage = \"test\" }]", "{ service = \"service-shop01\", stage = \"release\" }]", ": usage_plan `stage-wide`: field `environments`: `service-shop01` stage `release` is listed twice".into()),
            // Tencent: two plans sharing a key cannot bind the same service stage.
            ("max_requests_per_second = 1000\n", "max_requests_per_second = 1000\nsecret_ids = [\"AKIDgold\"]\n", ": usage_plan `stage-wide`: field `environments`: usage_plan `gold` is also bound to `service-shop01` stage `release` with key `AKIDgold`; a key may be in one plan per stage".into()),
            ("id = \"AKIDgold\"", "id = \"AKID gold\"", ": secret `AKID gold`: field `id`: character ' ' is not allowed".into()),
            ("id = \"AKIDpath\"", "id = \"AKIDgold\"", ": secret `AKIDgold`: field `id`: another [[secret]] has the same id".into()),
            ("key = \"gold-key\"\n", "", ": secret `AKIDgold`: field `key`: required but missing; give `key`, or `key_env` naming an environment variable".into()),
            ("key = \"gold-key\"", "key = \"\"", ": secret `AKIDgold`: field `key`: may not be empty".into()),
            ("key = \"gold-key\"", "key = \"gold-key\"\nkey_env = \"PATH\"", ": secret `AKIDgold`: field `key_env`: give `key` or `key_env`, not both".into()),
            ("key_env = \"PATH\"", "key_env = \"SCFGATE_TEST_SURELY_UNSET_VARIABLE\"", ": secret `AKIDpath`: field `key_env`: environment variable `SCFGATE_TEST_SURELY_UNSET_VARIABLE` is not set".into()),
        ];
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(find, replace, expected)| (*find, *replace, expected.as_str())).collect();
        check_errors_in(POLICY, "policy", &cases);
    }

    /// A WebSocket API and the three functions it names; the cases below edit one line of it.
    const WEBSOCKET: &str = r#"[gateway]
push_listen = "127.0.0.1:9095"
websocket_max_message_bytes = 4096
websocket_idle_timeout = 30

[[service]]
id = "service-chat01"
name = "chat"

[[service.api]]
name = "room"
path = "/room/{id}"
protocol = "ws&wss"
register = { name = "register" }
transport = { name = "transport", qualifier = "2" }
cleanup = { name = "cleanup", namespace = "chat" }
timeout = 5

[[function]]
name = "register"
runtime = "remote"
invoke_url = "http://127.0.0.1:9001/"

[[function]]
name = "transport"
qualifier = "2"
runtime = "remote"
invoke_url = "http://127.0.0.1:9002/"

[[function]]
name = "cleanup"
namespace = "chat"
runtime = "remote"
invoke_url = "http://127.0.0.1:9003/"
"#;

    #[test]
    fn websocket_example_parses_into_the_expected_model() {
        let scratch = Scratch::new("websocket");
        let config = parse_str(WEBSOCKET, &scratch.source(), &Overrides::default()).unwrap();
        let api = &config.apis[0];
        assert_eq!(api.websocket, Some(WebSocketFunctions { register: 0, transport: 1, cleanup: 2 }));
        // The register function is the one a request invokes; the method defaults to GET.
        assert_eq!(
            (api.function, api.method, api.policy.protocol, api.timeout),
            (0, ApiMethod::Get, Protocol::HttpAndHttps, secs(5.0))
        );
        let settings = &config.gateway.websocket;
        assert_eq!(settings.push_listen, "127.0.0.1:9095".parse::<SocketAddr>().unwrap());
        assert_eq!((settings.max_message_bytes, settings.idle_timeout), (4096, secs(30.0)));
        // spec §5.2: ws is WebSocket over HTTP, wss over HTTPS, for the protocol policy (426).
        for (protocol, expected) in
            [("ws", Protocol::Http), ("wss", Protocol::Https), ("WS&WSS", Protocol::HttpAndHttps)]
        {
            let text = WEBSOCKET.replacen("\"ws&wss\"", &format!("\"{protocol}\""), 1);
            let config = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap();
            assert_eq!(config.apis[0].policy.protocol, expected, "{protocol}");
        }
        // No WebSocket API: the push endpoint is never opened, so it needs no token anywhere.
        let plain = FULL.replacen("workers = 2", "workers = 2\npush_listen = \"0.0.0.0:8095\"", 1);
        assert!(parse_str(&plain, &scratch.source(), &Overrides::default()).is_ok());
        // Defaults.
        let text = WEBSOCKET.replacen(
            "push_listen = \"127.0.0.1:9095\"\nwebsocket_max_message_bytes = 4096\nwebsocket_idle_timeout = 30\n",
            "",
            1,
        );
        let settings = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap().gateway.websocket;
        assert_eq!(settings.push_listen, "127.0.0.1:8095".parse::<SocketAddr>().unwrap());
        assert_eq!((settings.max_message_bytes, settings.idle_timeout), (1024 * 1024, secs(600.0)));
        let text = WEBSOCKET.replacen(
            "push_listen = \"127.0.0.1:9095\"",
            "push_listen = \"0.0.0.0:9095\"\npush_token = \"s3cret\"",
            1,
        );
        let settings = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap().gateway.websocket;
        assert_eq!(settings.push_token, Some(PushToken("s3cret".into())));
        assert_eq!(format!("{:?}", settings.push_token), "Some(PushToken(..))");
    }

    #[test]
    fn websocket_errors() {
        let room = ": service `chat` api `room`";
        let gateway = ": [gateway]";
        let e = |location: &str, rest: &str| format!("{location}: {rest}");
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, String)> = vec![
            ("register = { name = \"register\" }\n", "", e(room, "field `register`: required for a WebSocket API; write `register = { name = \"...\" }`")),
            ("cleanup = { name = \"cleanup\", namespace = \"chat\" }\n", "", e(room, "field `cleanup`: required for a WebSocket API; write `cleanup = { name = \"...\" }`")),
            ("transport = { name = \"transport\", qualifier = \"2\" }", "transport = { name = \"transport\" }", e(room, "field `transport`: no [[function]] is defined as `default/transport:$LATEST`")),
            ("register = { name = \"register\" }", "register = { qualifier = \"1\" }", e(room, "field `register.name`: required but missing")),
            ("timeout = 5", "timeout = 5\nmethod = \"POST\"", e(room, "field `method`: a WebSocket API is reached with GET (RFC 6455 §4.1), not POST")),
            ("timeout = 5", "timeout = 5\nfunction = { name = \"register\" }", e(room, "field `function`: a WebSocket API has `register`, `transport` and `cleanup` functions instead")),
            ("timeout = 5", "timeout = 5\nintegrated_response = true", e(room, "field `integrated_response`: not used by WebSocket APIs (their functions' values are not HTTP responses)")),
            ("protocol = \"ws&wss\"", "protocol = \"http\"\nmethod = \"GET\"\nfunction = { name = \"register\" }", e(room, "field `register`: only WebSocket APIs (protocol = \"ws\", \"wss\" or \"ws&wss\") have it")),
            ("protocol = \"ws&wss\"", "protocol = \"websocket\"", e(room, "field `protocol`: `websocket` is not one of \"http\", \"https\", \"http&https\", \"ws\", \"wss\", \"ws&wss\"")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"localhost:9095\"", e(gateway, "field `push_listen`: `localhost:9095` is not an IP address and port like `127.0.0.1:8095`")),
            // The push endpoint can write to any client: off loopback it needs a token.
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"0.0.0.0:9095\"", e(gateway, "field `push_token`: the WebSocket push endpoint listens on 0.0.0.0:9095 (not loopback), so it needs a token: set `push_token` or the `SCFGATE_PUSH_TOKEN` environment variable")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"[::]:9095\"", e(gateway, "field `push_token`: the WebSocket push endpoint listens on [::]:9095 (not loopback), so it needs a token: set `push_token` or the `SCFGATE_PUSH_TOKEN` environment variable")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"127.0.0.1:9095\"\npush_token = \"\"", e(gateway, "field `push_token`: may not be empty")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"127.0.0.1:9095\"\npush_token = \"two words\"", e(gateway, "field `push_token`: character ' ' is not allowed (printable ASCII without spaces)")),
            ("websocket_max_message_bytes = 4096", "websocket_max_message_bytes = 0", e(gateway, "field `websocket_max_message_bytes`: must be at least 1")),
            ("websocket_idle_timeout = 30", "websocket_idle_timeout = 0", e(gateway, "field `websocket_idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0")),
        ];
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(find, replace, expected)| (*find, *replace, expected.as_str())).collect();
        check_errors_in(WEBSOCKET, "websocket", &cases);
    }
}
