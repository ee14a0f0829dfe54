//! The validated runtime configuration: one typed model, built once at start from the TOML file
//! (`file.rs`, the user's vocabulary) and the command-line flags (`crate::cli`), by `validate.rs`.
//!
//! Everything downstream (router, backend, function host) reads this model only; it never sees the
//! raw file. Items refer to each other by typed positions in the vectors below (`index.rs`), valid
//! for the life of a `Config`.

pub mod file;
pub mod index;
pub mod path;
pub mod tencentcloud;
pub mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use index::{ApiIndex, FunctionIndex, PlanIndex, SecretIndex, ServiceIndex};
pub use validate::{load, ConfigError};

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from (named in error messages and logs).
    pub source: PathBuf,
    /// Listener, worker and limit settings (file values overridden by CLI flags).
    pub gateway: GatewaySettings,
    /// Services in file order.
    pub services: Vec<Service>,
    /// Every API of every service, flattened in file order (service by service).
    pub apis: Vec<Api>,
    /// Every function in file order.
    pub functions: Vec<Function>,
    /// `[[usage_plan]]`s in file order.
    pub usage_plans: Vec<UsagePlan>,
    /// `[[secret]]` key pairs, sorted by id (looked up by binary search per request).
    pub secrets: Vec<Secret>,
    /// HTTPS certificates, chosen by SNI (paths resolved against the config file).
    pub certificates: Vec<crate::tls::CertificateSpec>,
}

impl Config {
    /// The key pair whose SecretId is `id`.
    pub fn secret(&self, id: &[u8]) -> Option<SecretIndex> {
        self.secrets.binary_search_by(|secret| secret.id.as_bytes().cmp(id)).ok().map(SecretIndex::new)
    }
}

/// Values from command-line flags; each `Some` (or non-empty list) replaces the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen` (repeatable).
    pub listen: Vec<SocketAddr>,
    /// `--tls-listen` (repeatable).
    pub tls_listen: Vec<SocketAddr>,
    /// `--workers`.
    pub workers: Option<usize>,
    /// `--driver`.
    pub driver: Option<DriverChoice>,
    /// `--max-header-bytes`.
    pub max_header_bytes: Option<usize>,
    /// `--max-body-bytes`.
    pub max_body_bytes: Option<usize>,
    /// `--body-memory`.
    pub body_memory: Option<usize>,
    /// `--idle-timeout` (seconds on the command line).
    pub idle_timeout: Option<Duration>,
    /// `--park-after` (seconds on the command line).
    pub park_after: Option<Duration>,
    /// `--header-timeout` (seconds on the command line).
    pub header_timeout: Option<Duration>,
    /// `--send-timeout` (seconds on the command line).
    pub send_timeout: Option<Duration>,
    /// `--pool-size`.
    pub pool_size: Option<usize>,
    /// `--pool-idle-timeout`.
    pub pool_idle_timeout: Option<Duration>,
    /// `--queue-depth`.
    pub queue_depth: Option<usize>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--read-buffer-bytes`.
    pub read_buffer_bytes: Option<usize>,
    /// `--shutdown-timeout`.
    pub shutdown_timeout: Option<Duration>,
}

/// Which I/O driver the worker runtimes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverChoice {
    /// io_uring, with the fastest ring flags the kernel accepts; epoll when io_uring is refused.
    Auto,
    /// io_uring only; start fails when the kernel refuses it.
    Uring,
    /// epoll (monoio's legacy driver).
    Legacy,
}

/// Gateway-wide settings. Each one can come from the file's `[gateway]` table or a CLI flag.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    /// Addresses to accept HTTP on; each worker binds each one with SO_REUSEPORT.
    pub listen: Vec<SocketAddr>,
    /// Addresses to accept HTTPS on, likewise.
    pub tls_listen: Vec<SocketAddr>,
    /// Worker threads (one monoio runtime each).
    pub workers: usize,
    /// I/O driver.
    pub driver: DriverChoice,
    /// Largest request head (request line + headers) accepted; past it, 431.
    pub max_header_bytes: usize,
    /// Largest request body accepted; past it, 413.
    pub max_body_bytes: usize,
    /// Bytes of request bodies held whole (event APIs) at once, all workers together; each
    /// worker takes an equal share (`crate::memory`). Past it, 503.
    pub body_memory: usize,
    /// Largest function response accepted from a backend; past it, 502.
    pub max_response_bytes: usize,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A plain-HTTP keep-alive connection with no request for this long is parked: its task and
    /// buffers go, and the worker watches its descriptor alone (`crate::connection::park`).
    pub park_after: Duration,
    /// A client that has not sent a whole request head this long after its first byte is cut off.
    pub header_timeout: Duration,
    /// A write to a client that makes no progress this long closes its connection.
    pub send_timeout: Duration,
    /// Requests that may wait for a busy local function, per function, before 503.
    pub queue_depth: usize,
    /// Client connections open at once, all workers together; each worker takes its share.
    pub max_connections: usize,
    /// Initial read buffer of a client connection.
    pub read_buffer_bytes: usize,
    /// How long in-flight requests get to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Pooled backend connections kept per endpoint per worker.
    pub pool_size: usize,
    /// A pooled backend connection idle longer than this is closed and not reused.
    pub pool_idle_timeout: Duration,
    /// WebSocket APIs: the reverse-push endpoint and the frame limits.
    pub websocket: WebSocketSettings,
    /// The Tencent account and region local functions are told about.
    pub identity: TencentIdentity,
}

/// Who local functions run as, in Tencent's terms (`region`, `appid`, `uin` of `[gateway]`):
/// sent to web functions as `X-Scf-Region`/`X-Scf-Appid`/`X-Scf-Uin` (spec §7.1) and to every
/// local function as `TENCENTCLOUD_REGION`/`_APPID`/`_UIN` (spec §7.2). There is no Tencent
/// account behind a local gateway, so the defaults are values a function can recognise:
/// `local`, `0`, `0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TencentIdentity {
    /// Region, e.g. `ap-guangzhou`.
    pub region: String,
    /// AppId (digits).
    pub appid: String,
    /// Account UIN (digits).
    pub uin: String,
}

impl Default for TencentIdentity {
    fn default() -> Self {
        TencentIdentity { region: "local".into(), appid: "0".into(), uin: "0".into() }
    }
}

impl TencentIdentity {
    /// The environment variables SCF gives a function for it.
    pub fn environment(&self) -> [(&'static str, &str); 3] {
        [("TENCENTCLOUD_REGION", &self.region), ("TENCENTCLOUD_APPID", &self.appid), ("TENCENTCLOUD_UIN", &self.uin)]
    }
}

/// Settings of WebSocket APIs (`crate::websocket`), from `[gateway]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketSettings {
    /// Where the reverse-push endpoint listens (opened only when some API is a WebSocket API).
    pub push_listen: SocketAddr,
    /// The bearer token pushes must carry; `None` only when `push_listen` is loopback.
    pub push_token: Option<PushToken>,
    /// Largest message (and frame) a client may send; past it, close 1009.
    pub max_message_bytes: usize,
    /// A connection with no frame from its client this long is closed with 1001.
    pub idle_timeout: Duration,
}

/// The reverse-push token; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PushToken(pub String);

impl std::fmt::Debug for PushToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PushToken(..)")
    }
}

/// A Tencent API Gateway stage (environment). Requests are addressed as `/{stage}{api path}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// `release`
    Release,
    /// `test`
    Test,
    /// `prepub`
    Prepub,
}

impl Stage {
    /// All stages, in the order used to index per-stage arrays.
    pub const ALL: [Stage; 3] = [Stage::Release, Stage::Test, Stage::Prepub];

    /// The stage's name as it appears in URLs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Release => "release",
            Stage::Test => "test",
            Stage::Prepub => "prepub",
        }
    }

    /// Index into per-stage arrays (`[T; 3]`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a stage name as found in a request path (case-sensitive, like Tencent's URLs).
    pub fn from_bytes(name: &[u8]) -> Option<Stage> {
        match name {
            b"release" => Some(Stage::Release),
            b"test" => Some(Stage::Test),
            b"prepub" => Some(Stage::Prepub),
            _ => None,
        }
    }
}

/// A service: a set of APIs, published to some stages, optionally bound to Host names.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// `serviceId` in events, e.g. `service-abc123`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Host header values (lower-case, no port) this service answers for; empty = any host.
    pub hosts: Vec<String>,
    /// Stages the service is published to.
    pub stages: Vec<Stage>,
    /// `stageVariables` per stage, indexed by [`Stage::index`]; sorted by name.
    pub stage_variables: [Vec<(String, String)>; 3],
    /// Usage plans bound to each stage, indexed by [`Stage::index`], in file order.
    pub usage_plans: [Vec<PlanIndex>; 3],
    /// Custom domains bound to this service (`[[service.domain]]`).
    pub domains: Vec<Domain>,
    /// A Function URL's own service (made from `[[function]] url`): it answers on its domain
    /// only, never as a host-less service.
    pub function_url: bool,
}

/// A custom domain of a service: Tencent's default mapping (`/<stage>/...`) or custom path
/// mappings (a path prefix names the stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The host name, lower-case, without port.
    pub host: String,
    /// Custom path mappings, longest prefix first; empty for the default mapping.
    pub mappings: Vec<PathMapping>,
    /// Plain-HTTP requests are redirected to HTTPS.
    pub force_https: bool,
}

/// One custom path mapping: requests under `prefix` are served by `stage`, with the prefix
/// removed from the API path (`/` keeps the whole path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMapping {
    /// `/`, or `/segment[/segment...]` without a trailing `/`.
    pub prefix: String,
    /// The stage it serves.
    pub stage: Stage,
}

/// An HTTP method as an API declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// Any method.
    Any,
}

impl ApiMethod {
    /// The method's name as written in config and in `requestContext.httpMethod`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiMethod::Get => "GET",
            ApiMethod::Post => "POST",
            ApiMethod::Put => "PUT",
            ApiMethod::Delete => "DELETE",
            ApiMethod::Head => "HEAD",
            ApiMethod::Any => "ANY",
        }
    }

    /// Parses a config value (case-insensitive).
    pub fn parse(name: &str) -> Option<ApiMethod> {
        Some(match name.to_ascii_uppercase().as_str() {
            "GET" => ApiMethod::Get,
            "POST" => ApiMethod::Post,
            "PUT" => ApiMethod::Put,
            "DELETE" => ApiMethod::Delete,
            "HEAD" => ApiMethod::Head,
            "ANY" => ApiMethod::Any,
            _ => return None,
        })
    }

    /// Whether a request with method token `request_method` (as sent on the wire) is served by an
    /// API declared with this method.
    pub fn accepts(self, request_method: &[u8]) -> bool {
        match self {
            ApiMethod::Any => true,
            declared => declared.as_str().as_bytes() == request_method,
        }
    }
}

/// How an API path matches, in Tencent's priority order (highest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathKind {
    /// `=/user`: the whole path, exactly.
    Exact,
    /// `^~/user`: character prefix, beating param and plain routes.
    PriorityPrefix,
    /// `/user/{id}`: `{param}` segments, each a greedy `.+` that may span `/`; tried in file order.
    Param,
    /// `/user`: character prefix (`/usertest`, `/user/a/b` too); the longest wins.
    Prefix,
}

/// An API's path as declared, split into its match kind and the path proper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    /// The match kind, from the `=` / `^~` marker or the presence of `{param}`.
    pub kind: PathKind,
    /// The path without its `=` / `^~` marker, e.g. `/user/{id}`; always starts with `/`.
    pub path: String,
    /// For `Param` paths, the parameter names in order of appearance; empty otherwise.
    pub params: Vec<String>,
}

/// One API of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    /// The service this API belongs to.
    pub service: ServiceIndex,
    /// Unique within its service, at most 60 characters.
    pub name: String,
    /// The path and how it matches.
    pub path: ApiPath,
    /// The declared method.
    pub method: ApiMethod,
    /// The function that serves this API.
    pub function: FunctionIndex,
    /// The qualifier the API names (default `$LATEST`): the alias that serves it, sent as the
    /// event's `x-qualifier`. `$DEFAULT` stays `$DEFAULT` though it resolves to `$LATEST`.
    pub qualifier: String,
    /// Backend timeout: past it the client gets 504.
    pub timeout: Duration,
    /// Response integration: the function returns `{statusCode, headers, body, isBase64Encoded}`.
    pub integrated_response: bool,
    /// When the event's body is base64 (`isBase64Encoded`) although it is UTF-8.
    pub base64: Base64Encoding,
    /// A Function URL's API: the function gets the Function URL event, and its value is an
    /// integrated response when it has a `statusCode`, else a JSON body.
    pub function_url: bool,
    /// The checks run before the function is called (`crate::policy`).
    pub policy: ApiPolicy,
    /// For a WebSocket API (`protocol = "ws"`, `"wss"`, `"ws&wss"`): its three functions. Then
    /// [`Api::function`] is the register function, the one a request invokes.
    pub websocket: Option<WebSocketFunctions>,
    /// The error codes with `converted_code` (Tencent's error-code conversion): the function's
    /// response statuses the client sees as another. Empty for most APIs.
    pub status_conversions: Box<[StatusConversion]>,
}

/// One error-code conversion: a function's response with status `from` reaches the client as `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusConversion {
    /// The status the function answers with.
    pub from: u16,
    /// The status the client gets.
    pub to: u16,
}

/// The status the client sees for a function's `status`, after the API's conversions.
pub fn converted_status(conversions: &[StatusConversion], status: u16) -> u16 {
    conversions.iter().find(|conversion| conversion.from == status).map_or(status, |conversion| conversion.to)
}

/// When an API's event carries the request body base64-encoded (Tencent: Base64 编码). A body
/// that is not UTF-8 is always encoded: a JSON string cannot hold it otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Base64Encoding {
    /// Only a body that is not UTF-8.
    #[default]
    Off,
    /// Every body (Tencent's `isBase64Encoded`).
    All,
    /// A body whose request matches one of these rules (Tencent's `isBase64Trigger` with
    /// `base64EncodedTriggerRules`).
    Rules(Box<[Base64Rule]>),
}

/// One Base64 trigger rule: the header contains one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Rule {
    /// `Content-Type` or `Accept`, lower-case.
    pub header: &'static str,
    /// What to look for in its value, lower-case. Tencent calls the match fuzzy; ours is "contains,
    /// ignoring ASCII case" (`image/` matches `image/png`).
    pub values: Box<[Box<str>]>,
}

impl Base64Encoding {
    /// Whether a request with these header values gets its body encoded. `header_values(name)`
    /// gives every value of a header (lower-case name).
    pub fn encodes<'a, I: Iterator<Item = &'a [u8]>>(&self, mut header_values: impl FnMut(&'static [u8]) -> I) -> bool {
        match self {
            Base64Encoding::Off => false,
            Base64Encoding::All => true,
            Base64Encoding::Rules(rules) => rules.iter().any(|rule| {
                header_values(rule.header.as_bytes())
                    .any(|value| rule.values.iter().any(|wanted| contains_ignoring_case(value, wanted.as_bytes())))
            }),
        }
    }
}

/// Whether `haystack` contains `needle` (lower-case), ignoring ASCII case.
fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle))
}

/// The three functions of a WebSocket API (Tencent: 注册函数, 传输函数, 清理函数).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketFunctions {
    /// Invoked with the connect event; `errNo` 0 accepts the connection.
    pub register: FunctionIndex,
    /// Invoked with each message from the client.
    pub transport: FunctionIndex,
    /// Invoked once when the connection ends.
    pub cleanup: FunctionIndex,
}

/// An API's frontend policies, checked by `crate::policy::check` in this order: protocol, auth,
/// usage plans, params; CORS headers go on every response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiPolicy {
    /// Which request protocols the API answers.
    pub protocol: Protocol,
    /// How callers authenticate.
    pub auth: Auth,
    /// CORS, when enabled.
    pub cors: Option<Cors>,
    /// Declared input parameters, in file order. A `{name}` of the path without a declaration is
    /// still sent in `pathParameters`, unchecked.
    pub params: Vec<Param>,
}

/// Request protocols an API accepts (console: 请求协议).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `http` only.
    Http,
    /// `https` only.
    Https,
    /// `http&https`.
    #[default]
    HttpAndHttps,
}

impl Protocol {
    /// Whether a request that came over HTTPS (`true`) or plain HTTP (`false`) is accepted.
    pub fn allows(self, https: bool) -> bool {
        match self {
            Protocol::Http => !https,
            Protocol::Https => https,
            Protocol::HttpAndHttps => true,
        }
    }
}

/// Authentication of an API (console: 鉴权类型).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    /// 免认证: anyone; the event says `x-anonymous-consumer: true`.
    #[default]
    None,
    /// 密钥对认证: Tencent's HMAC signature with a `[[secret]]` bound to the stage by a usage plan.
    KeyPair,
    /// OAuth 2.0: a JWT verified locally with the API's public key.
    OAuth(Box<OAuthSettings>),
}

/// How an OAuth API verifies its tokens; the key is decoded once, at load.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthSettings {
    /// The verifying key, from the JWK.
    pub key: crate::policy::oauth::jwk::PublicKey,
    /// The one algorithm a token's header may name.
    pub algorithm: crate::policy::oauth::jwk::Algorithm,
    /// Where the token is read.
    pub token_location: TokenLocation,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required member of `aud`, when set.
    pub audience: Option<String>,
}

/// Where an OAuth API finds the JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    /// `Authorization: Bearer <jwt>` or `Authorization: Bearer id_token="<jwt>"`.
    Authorization,
    /// Another header (name as configured; matched case-insensitively), holding the token bare
    /// or in the `Bearer` forms.
    Header(String),
    /// A cookie of this name.
    Cookie(String),
}

/// CORS settings of an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins (`scheme://host[:port]`, compared as sent); empty means any origin (`*`).
    pub origins: Vec<String>,
    /// A Function URL's own header values; `None`: Tencent API Gateway's.
    pub custom: Option<Box<CorsHeaders>>,
}

/// CORS header values a Function URL sets (`CorsConfig`), each ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsHeaders {
    /// `Access-Control-Allow-Methods`; `None`: Tencent's list.
    pub methods: Option<String>,
    /// `Access-Control-Allow-Headers`; `None`: a preflight's requested headers are echoed.
    pub headers: Option<String>,
    /// `Access-Control-Expose-Headers`; `None`: Tencent's list; empty: not sent.
    pub expose_headers: Option<String>,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub credentials: bool,
    /// `Access-Control-Max-Age`.
    pub max_age: String,
}

/// One declared input parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name as declared: the query key, the header name (matched case-insensitively) or the
    /// `{name}` of the path. Also its key in the event.
    pub name: String,
    /// Where it is read from.
    pub position: ParamPosition,
    /// What its value must parse as.
    pub kind: ParamType,
    /// Missing means 403.
    pub required: bool,
    /// Sent to the function when the request has none.
    pub default: Option<String>,
    /// Documentation only.
    pub desc: Option<String>,
    /// Documentation only: an example value.
    pub sample: Option<String>,
    /// For path params: the index of its `{name}` in [`ApiPath::params`].
    pub capture: Option<usize>,
}

/// Where a parameter is read from; the words are Tencent's error-message words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamPosition {
    /// A request header.
    Header,
    /// A query-string key.
    Query,
    /// A `{name}` of the API path.
    Path,
}

impl ParamPosition {
    /// How Tencent's messages name the position: `header`, `querystring`, `path variable`.
    pub fn message_word(self) -> &'static str {
        match self {
            ParamPosition::Header => "header",
            ParamPosition::Query => "querystring",
            ParamPosition::Path => "path variable",
        }
    }
}

/// A parameter's data type (console: 参数类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Any text.
    String,
    /// A 32-bit signed integer.
    Int,
    /// A 64-bit signed integer.
    Long,
    /// A finite 32-bit float.
    Float,
    /// A finite 64-bit float.
    Double,
    /// `true` or `false` (any case).
    Boolean,
    /// `YYYY-MM-DD`, or an RFC 3339 date-time (`2024-05-01T08:00:00Z`).
    Date,
}

impl ParamType {
    /// The type's name as written in config and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Long => "long",
            ParamType::Float => "float",
            ParamType::Double => "double",
            ParamType::Boolean => "boolean",
            ParamType::Date => "date",
        }
    }

    /// Parses a config value (case-insensitive, so Tencent's `String`/`Int` work too).
    pub fn parse(name: &str) -> Option<ParamType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => ParamType::String,
            "int" => ParamType::Int,
            "long" => ParamType::Long,
            "float" => ParamType::Float,
            "double" => ParamType::Double,
            "boolean" => ParamType::Boolean,
            "date" => ParamType::Date,
            _ => return None,
        })
    }
}

/// A usage plan: rate and quota limits for the keys bound to it, or for a whole stage.
#[derive(Debug, Clone)]
pub struct UsagePlan {
    /// Unique name.
    pub name: String,
    /// Key pairs of the plan; empty means the plan limits every request of its stages.
    pub secrets: Vec<SecretIndex>,
    /// Requests per second per key (or per stage, for a plan without keys).
    pub max_requests_per_second: Option<u64>,
    /// Requests per UTC day per key (or per stage).
    pub quota_per_day: Option<u64>,
    /// The service stages it is bound to.
    pub environments: Vec<(ServiceIndex, Stage)>,
}

/// A key pair; the key is decoded into HMAC states once, at load.
#[derive(Debug, Clone)]
pub struct Secret {
    /// SecretId.
    pub id: String,
    /// SecretKey, ready for each HMAC algorithm (its `Debug` shows no key material).
    pub key: crate::policy::key_pair::secret_key::SecretKey,
}

/// A function, and how the gateway reaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// SCF namespace (default `default`).
    pub namespace: String,
    /// SCF function name.
    pub name: String,
    /// Version or alias (default `$LATEST`).
    pub qualifier: String,
    /// `memory_limit_in_mb`: reported to the function; enforced on local processes.
    pub memory_mb: u32,
    /// How it runs.
    pub runtime: FunctionRuntime,
}

impl Function {
    /// `namespace/name:qualifier`, as used in logs and error messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}:{}", self.namespace, self.name, self.qualifier)
    }

    /// Whether it is a web function (`runtime = "web"`): requests are proxied to it as HTTP.
    pub fn is_web(&self) -> bool {
        matches!(self.runtime, FunctionRuntime::Web { .. })
    }
}

/// How a custom-runtime function's processes start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// The code folder's own `bootstrap` (SCF: Custom Runtime).
    Bootstrap,
    /// One of Tencent's standard runtimes: scfgate's own runtime for the language, which calls
    /// the handler (`function_host::standard`).
    Standard(StandardRuntime),
}

/// A Tencent standard runtime as a function asked for it, and what runs it here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardRuntime {
    /// The name as the function wrote it (`Python3.9`), given to it as `SCF_RUNTIME`.
    pub name: String,
    /// Its language.
    pub language: Language,
    /// The interpreter found for it (absolute).
    pub interpreter: PathBuf,
}

/// The languages of the standard runtimes scfgate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `Python2.7`, `Python3.6` and later: `main_handler(event, context)`, context a dict.
    Python,
    /// `Nodejs10.15` and later: `main_handler(event, context[, callback])`, async or not.
    Node,
}

/// Where a function's code runs.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionRuntime {
    /// Local processes speaking the SCF custom-runtime API: the folder's `bootstrap`, or scfgate's
    /// runtime for a Tencent standard runtime (`runtime = "Python3.9"`, `"Nodejs16.13"`, ...).
    Custom {
        /// The code folder (absolute, resolved against the config file): an executable
        /// `bootstrap`, or the handler's file for a standard runtime.
        code: PathBuf,
        /// What starts the processes.
        launcher: Launcher,
        /// `_HANDLER` (default `index.main_handler`): for a standard runtime, `file.function`.
        handler: String,
        /// Warm processes kept running.
        instances: usize,
        /// How long a started `bootstrap` may take to ask for its first invocation.
        init_timeout: Duration,
        /// Most processes at once (at least `instances`): more start while invocations wait.
        max_instances: usize,
        /// How long a process beyond `instances` may idle before it is stopped.
        idle_timeout: Duration,
        /// The function's `environment` table, in name order.
        environment: Vec<(String, String)>,
    },
    /// Local processes of the folder's `scf_bootstrap`, each an HTTP server the gateway proxies
    /// requests to (SCF web functions).
    Web {
        /// Folder holding an executable `scf_bootstrap` (absolute, resolved against the config file).
        code: PathBuf,
        /// Warm processes kept running, each on its own port.
        instances: usize,
        /// How long a started process may take to accept connections on its port.
        init_timeout: Duration,
        /// Most processes at once (at least `instances`): more start while requests exceed
        /// `concurrency` per instance.
        max_instances: usize,
        /// How long a process beyond `instances` may go without a request before it is stopped.
        idle_timeout: Duration,
        /// Requests one instance is given at once before another is started (SCF default 1).
        concurrency: usize,
        /// The port the function insists on (then it runs one instance); `None`: the gateway picks.
        port: Option<u16>,
        /// The function's `environment` table, in name order.
        environment: Vec<(String, String)>,
    },
    /// An HTTP endpoint that takes the event as a POST body and answers the function's value.
    Remote {
        /// The endpoint as written, for logs.
        url: String,
        /// Resolved address to connect to.
        addr: SocketAddr,
        /// Value for the `Host` header.
        host_header: String,
        /// Request target (path and query), e.g. `/invoke`.
        path: String,
    },
    /// A function in Tencent Cloud, invoked through SCF's `Invoke` API.
    TencentCloud(tencentcloud::TencentCloudFunction),
}
