//! File + flags → [`Config`]: applies defaults and command-line overrides, checks every value and
//! every cross-reference once at start, and reports the first problem as a [`ConfigError`] that names
//! the file, the service/API/function and the field. Nothing after this module re-checks the model.
//!
//! Checks that touch the outside world happen here too, because start is the only time they may
//! block: a custom function's `bootstrap` must exist and be executable, and a remote function's host
//! is resolved once.
//!
//! One submodule per section of the file, as [`super::file`] has them: [`gateway`], [`function`]
//! (with [`local`], [`standard`] and [`tencentcloud`] for the runtimes), [`service`] (with
//! [`domains`]), [`api`] (with [`base64_encoding`] and [`policy`]), [`secrets`] (secrets and
//! certificates), [`plan`], and [`function_url`], which adds the services Function URLs stand for.
//! This file keeps the entry points, [`ConfigError`] and the [`Site`] every section reports through.

use std::fmt;
use std::path::{Path, PathBuf};

use super::file;
use super::{Config, Overrides};

mod api;
mod base64_encoding;
mod domains;
pub mod durations;
mod function;
mod function_url;
mod gateway;
mod local;
mod plan;
mod policy;
mod secrets;
mod service;
mod standard;
mod tencentcloud;
#[cfg(test)]
mod test_support;

pub use gateway::PUSH_TOKEN_ENV;

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
    if parsed.services.is_empty() && parsed.functions.iter().all(|function| function.url.is_none()) {
        return Err(ConfigError::about_file(
            source,
            Some("service"),
            "no [[service]] and no Function URL (`url` on a [[function]]) is defined, so no request could be served",
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
    let gateway = gateway::build_gateway(parsed.gateway.unwrap_or_default(), overrides, source)?;
    let base_dir = source.parent().unwrap_or(Path::new(""));
    let mut parsed_functions = parsed.functions;
    let urls: Vec<Option<file::FunctionUrl>> =
        parsed_functions.iter_mut().map(|function| function.url.take()).collect();
    let functions = function::build_functions(parsed_functions, source, base_dir)?;

    let mut services = Vec::with_capacity(parsed.services.len());
    let mut apis = Vec::new();
    for (index, service) in parsed.services.into_iter().enumerate() {
        let (service, service_apis) = service::build_service(service, index, &services, &functions, source)?;
        services.push(service);
        apis.extend(service_apis);
    }
    domains::check_hosts(&services, source)?;
    domains::check_force_https(&services, !gateway.tls_listen.is_empty(), source)?;
    gateway::check_push_token(&gateway, &apis, source)?;
    let certificates = secrets::build_certificates(parsed.certificates, source, base_dir)?;
    if !gateway.tls_listen.is_empty() && certificates.is_empty() {
        return Err(ConfigError::about_file(
            source,
            Some("tls_listen"),
            "HTTPS listeners need at least one [[certificate]] (hosts, cert, key)",
        ));
    }
    let secrets = secrets::build_secrets(parsed.secrets, source)?;
    let mut usage_plans = plan::build_usage_plans(parsed.usage_plans, &mut services, &secrets, source)?;
    let built = function_url::Built { services: &mut services, apis: &mut apis, usage_plans: &mut usage_plans };
    function_url::add_function_urls(urls, &functions, &secrets, built, source)?;

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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::gateway::{
        DEFAULT_BODY_MEMORY_PER_WORKER, DEFAULT_MAX_CONNECTIONS, DEFAULT_PARK_AFTER_SECS, DEFAULT_PUSH_LISTEN,
        DEFAULT_READ_BUFFER_BYTES, DEFAULT_SEND_TIMEOUT_SECS, DEFAULT_SHUTDOWN_TIMEOUT_SECS,
        DEFAULT_WEBSOCKET_IDLE_TIMEOUT_SECS, DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES,
    };
    use super::test_support::{check_errors, secs, Scratch, FULL, MINIMAL};
    use super::*;
    use crate::config::{
        Api, ApiMethod, ApiPath, ApiPolicy, DriverChoice, Function, FunctionRuntime, GatewaySettings, Launcher,
        PathKind, Service, Stage, TencentIdentity, WebSocketSettings,
    };
    use crate::config::{FunctionIndex, ServiceIndex};

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
                park_after: secs(DEFAULT_PARK_AFTER_SECS as f64),
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
                    domains: vec![],
                    function_url: false,
                },
                Service {
                    id: "service-other02".into(),
                    name: "other".into(),
                    hosts: vec![],
                    stages: Stage::ALL.to_vec(),
                    stage_variables: Default::default(),
                    usage_plans: Default::default(),
                    domains: vec![],
                    function_url: false,
                },
            ],
            apis: vec![
                Api {
                    service: ServiceIndex::new(0),
                    name: "say-hello".into(),
                    path: ApiPath { kind: PathKind::Param, path: "/hello/{name}".into(), params: vec!["name".into()] },
                    method: ApiMethod::Get,
                    function: FunctionIndex::new(0),
                    qualifier: "$LATEST".into(),
                    timeout: secs(2.5),
                    integrated_response: false,
                    base64: Default::default(),
                    function_url: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                    status_conversions: Box::default(),
                },
                Api {
                    service: ServiceIndex::new(0),
                    name: "echo".into(),
                    path: ApiPath { kind: PathKind::Exact, path: "/echo".into(), params: vec![] },
                    method: ApiMethod::Post,
                    function: FunctionIndex::new(1),
                    qualifier: "1".into(),
                    timeout: secs(15.0),
                    integrated_response: true,
                    base64: Default::default(),
                    function_url: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                    status_conversions: Box::default(),
                },
                Api {
                    service: ServiceIndex::new(0),
                    name: "static".into(),
                    path: ApiPath { kind: PathKind::PriorityPrefix, path: "/static".into(), params: vec![] },
                    method: ApiMethod::Any,
                    function: FunctionIndex::new(0),
                    qualifier: "$LATEST".into(),
                    timeout: secs(15.0),
                    integrated_response: false,
                    base64: Default::default(),
                    function_url: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                    status_conversions: Box::default(),
                },
                Api {
                    service: ServiceIndex::new(1),
                    name: "root".into(),
                    path: ApiPath { kind: PathKind::Prefix, path: "/".into(), params: vec![] },
                    method: ApiMethod::Head,
                    function: FunctionIndex::new(0),
                    qualifier: "$LATEST".into(),
                    timeout: secs(15.0),
                    integrated_response: false,
                    base64: Default::default(),
                    function_url: false,
                    policy: ApiPolicy::default(),
                    websocket: None,
                    status_conversions: Box::default(),
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
        assert_eq!(config.source, expected.source);
        assert_eq!(config.gateway, expected.gateway);
        assert_eq!(config.services, expected.services);
        assert_eq!(config.apis, expected.apis);
        assert_eq!(config.functions, expected.functions);
        assert!(config.usage_plans.is_empty() && config.secrets.is_empty() && config.certificates.is_empty());
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
        assert_eq!((api.timeout, api.integrated_response, api.function), (secs(15.0), false, FunctionIndex::new(0)));

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
    fn toml_errors_name_the_line_and_column() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("workers = 2", "workers = ", ":3:11: string values must be quoted, expected literal string"),
            ("workers = 2", "wrokers = 2", ":3:1: unknown field `wrokers`, expected one of …"),
            ("timeout = 2.5", "timeout = 2.5\nretries = 3", ":33:1: unknown field `retries`, expected one of `name`, `path`, `method`, `function`, `register`, `transport`, `cleanup`, `timeout`, `integrated_response`, `base64`, `base64_rule`, `protocol`, `auth`, `cors`, `cors_origins`, `oauth`, `param`, `description`, `response_type`, `success_response_sample`, `failure_response_sample`, `error_code`"),
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
    fn whole_file_errors() {
        let scratch = Scratch::new("whole");
        let file = scratch.source();
        let no_service = parse_str("[gateway]\nworkers = 1\n", &file, &Overrides::default()).unwrap_err();
        assert_eq!(
            no_service.to_string(),
            format!("{}: field `service`: no [[service]] and no Function URL (`url` on a [[function]]) is defined, so no request could be served", file.display())
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
    fn line_column_counts_characters() {
        let text = "a\nbé c\n";
        let cases = [(0, (1, 1)), (2, (2, 1)), (5, (2, 3)), (4, (2, 2)), (8, (3, 1)), (99, (3, 1))];
        for (offset, expected) in cases {
            assert_eq!(line_column(text, offset), expected, "offset {offset}");
        }
    }
}
