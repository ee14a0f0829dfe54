//! The config file as the user writes it: serde structs that mirror the TOML, in Tencent's
//! vocabulary (service, stage, API, function). This layer only reads; defaults, cross-references and
//! every semantic check live in `validate.rs`, which turns these structs into [`crate::config::Config`].
//!
//! Every table denies unknown keys, so a typo is an error with a line number instead of a silently
//! ignored setting. Keys that are required are still `Option` here when leaving them out deserves an
//! error that names the service, API or function, which serde's "missing field" cannot.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::DriverChoice;

/// The whole file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[gateway]`: listener, worker and limit settings; every key optional.
    pub gateway: Option<Gateway>,
    /// `[[service]]` tables, in file order.
    #[serde(default, rename = "service", skip_serializing_if = "is_empty")]
    pub services: Vec<Service>,
    /// `[[function]]` tables, in file order.
    #[serde(default, rename = "function", skip_serializing_if = "is_empty")]
    pub functions: Vec<Function>,
    /// `[[usage_plan]]` tables (console: 使用计划), in file order.
    #[serde(default, rename = "usage_plan", skip_serializing_if = "is_empty")]
    pub usage_plans: Vec<UsagePlan>,
    /// `[[secret]]` tables (console: 密钥管理, key pairs), in file order.
    #[serde(default, rename = "secret", skip_serializing_if = "is_empty")]
    pub secrets: Vec<Secret>,
    /// `[[certificate]]` tables: HTTPS certificates chosen by SNI (console: 证书 on a custom domain).
    #[serde(default, rename = "certificate", skip_serializing_if = "is_empty")]
    pub certificates: Vec<Certificate>,
}

/// `[[certificate]]`: one certificate and the host names it serves (nginx `ssl_certificate` in a
/// `server_name` block).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Host names (SNI) it serves; `*.example.com` covers one label below `example.com`.
    pub hosts: Option<Vec<String>>,
    /// PEM certificate chain, leaf first; relative to the config file.
    pub cert: Option<String>,
    /// PEM private key; relative to the config file.
    pub key: Option<String>,
}

/// `[gateway]`. Each key can be overridden by the command-line flag of the same name.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Addresses to accept HTTP on, `ip:port` (nginx `listen`). Default `["0.0.0.0:8080"]`.
    pub listen: Option<Vec<String>>,
    /// Addresses to accept HTTPS on (nginx `listen ... ssl`). Default none; needs `[[certificate]]`.
    pub tls_listen: Option<Vec<String>>,
    /// Worker threads, one per core (nginx `worker_processes`). Default: the available parallelism.
    pub workers: Option<usize>,
    /// I/O driver: `auto`, `uring` or `legacy`. Default `auto`.
    pub driver: Option<DriverChoice>,
    /// Largest request head in bytes (nginx `large_client_header_buffers`). Default 16384.
    pub max_header_bytes: Option<usize>,
    /// Largest request body in bytes (nginx `client_max_body_size`). Default 6 MiB, SCF's limit for
    /// a synchronous invocation's payload.
    pub max_body_bytes: Option<usize>,
    /// Largest function response in bytes. Default 6 MiB, SCF's synchronous response limit.
    pub max_response_bytes: Option<usize>,
    /// Bytes of request bodies event APIs may hold at once, all workers together; a body that
    /// does not fit gets 503 with `Retry-After`. Default 64 MiB per worker.
    pub body_memory: Option<usize>,
    /// Seconds a keep-alive connection may sit idle (nginx `keepalive_timeout`). Default 60.
    pub idle_timeout: Option<Seconds>,
    /// Seconds a keep-alive connection waits for its next request before it is parked (its
    /// task and buffers freed, its descriptor watched). At or above `idle_timeout`: never. Default 1.
    pub park_after: Option<Seconds>,
    /// Seconds a client has to send a whole request head (nginx `client_header_timeout`). Default 10.
    pub header_timeout: Option<Seconds>,
    /// Seconds a write to a client may make no progress before its connection is closed (nginx
    /// `send_timeout`). Default 60.
    pub send_timeout: Option<Seconds>,
    /// Requests that may wait per busy local function before 503. Default 1024.
    pub queue_depth: Option<usize>,
    /// Client connections open at once, all workers together (nginx `worker_connections` times
    /// workers). Past it new connections get 503 and are closed. Default 65536.
    pub max_connections: Option<usize>,
    /// Read buffer a client request is read into, in bytes (it grows for larger requests; an idle
    /// keep-alive connection waits in a 2 KiB one).
    /// Default 8192.
    pub read_buffer_bytes: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT. Default 30.
    pub shutdown_timeout: Option<Seconds>,
    /// Idle backend connections kept per endpoint per worker (nginx upstream `keepalive`). Default 64.
    pub pool_size: Option<usize>,
    /// Seconds a pooled backend connection may idle before it is dropped (nginx upstream
    /// `keepalive_timeout`). Default 30.
    pub pool_idle_timeout: Option<Seconds>,
    /// Where the WebSocket reverse-push endpoint listens, `ip:port` (Tencent: the API's 反向推送
    /// 地址). Default `127.0.0.1:8095`. Only opened when some API has `protocol = "ws"`.
    pub push_listen: Option<String>,
    /// The bearer token a push must carry (`Authorization: Bearer <token>`); the environment
    /// variable `SCFGATE_PUSH_TOKEN` wins over it. Required when `push_listen` is not loopback.
    pub push_token: Option<String>,
    /// Largest WebSocket message (or frame) a client may send, in bytes; past it the connection
    /// is closed with 1009. Default 1 MiB.
    pub websocket_max_message_bytes: Option<usize>,
    /// Seconds a WebSocket connection may go without a frame from its client before it is closed
    /// with 1001; a WebSocket relayed to a web function, without a byte either way. Default 600.
    pub websocket_idle_timeout: Option<Seconds>,
    /// The region local functions are told they run in: `X-Scf-Region` to web functions,
    /// `TENCENTCLOUD_REGION` to every local function. Default `local`.
    pub region: Option<String>,
    /// The account's AppId, likewise (`X-Scf-Appid`, `TENCENTCLOUD_APPID`). Default `0`.
    pub appid: Option<String>,
    /// The account's UIN, likewise (`X-Scf-Uin`, `TENCENTCLOUD_UIN`). Default `0`.
    pub uin: Option<String>,
}

/// `[[service]]`: an API Gateway service (console: 服务).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Service ID (console: 服务 ID, e.g. `service-abc123`), sent as `requestContext.serviceId`.
    /// Required, unique.
    pub id: Option<String>,
    /// Service name (console: 服务名称). Required.
    pub name: Option<String>,
    /// Host names this service answers for (console: 自定义域名), without port. Absent or empty: any.
    pub hosts: Option<Vec<String>>,
    /// Environments the service is published to (console: 发布环境): `release`, `test`, `prepub`.
    /// Default: all three.
    pub stages: Option<Vec<String>>,
    /// `[service.stage_variables.<stage>]`: per-stage variables, sent as `stageVariables`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub stage_variables: BTreeMap<String, BTreeMap<String, String>>,
    /// Description (console: 服务描述, `ServiceDesc`). Documentation only.
    pub description: Option<String>,
    /// `[[service.domain]]` tables: custom domains bound to this service (console: 自定义域名,
    /// `BindSubDomain`), each with Tencent's default or custom path mappings.
    #[serde(default, rename = "domain", skip_serializing_if = "is_empty")]
    pub domains: Vec<Domain>,
    /// `[[service.api]]` tables, in file order.
    #[serde(default, rename = "api", skip_serializing_if = "is_empty")]
    pub apis: Vec<Api>,
}

/// `url = { ... }` on a `[[function]]`: the function served at its own host with no stage, the
/// whole path reaching it (SCF 函数 URL, `CreateTrigger Type=http`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionUrl {
    /// The URL's host, without port. Required; served by this function only.
    pub host: Option<String>,
    /// `public` (Tencent: `NONE`, anyone) or `key` (a key pair of `keys` signs the request,
    /// Tencent's API Gateway HMAC scheme, standing in for CAM signatures). Default `public`.
    pub auth: Option<String>,
    /// With `auth = "key"`: the SecretIds (of `[[secret]]` tables) that may call it.
    pub keys: Option<Vec<String>>,
    /// Seconds the gateway waits for the function; past it the client gets 504. Default 15.
    pub timeout: Option<Seconds>,
    /// CORS (`CorsConfig`): present means enabled.
    pub cors: Option<FunctionUrlCors>,
}

/// `cors = { ... }` of a Function URL (`CorsConfig`); absent keys take Tencent API Gateway's
/// CORS defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionUrlCors {
    /// `Origins`: allowed origins; absent or `["*"]`: any.
    pub origins: Option<Vec<String>>,
    /// `Methods`: `Access-Control-Allow-Methods`.
    pub methods: Option<Vec<String>>,
    /// `Headers`: `Access-Control-Allow-Headers`.
    pub headers: Option<Vec<String>>,
    /// `ExposeHeaders`: `Access-Control-Expose-Headers`.
    pub expose_headers: Option<Vec<String>>,
    /// `Credentials`: `Access-Control-Allow-Credentials: true`. Default false.
    pub credentials: Option<bool>,
    /// `MaxAge`: seconds a preflight may be cached. Default 86400.
    pub max_age: Option<u32>,
}

/// `[[service.domain]]`: a custom domain (console: 自定义域名). Without `mappings` it is Tencent's
/// default mapping (`IsDefaultMapping`): `/<stage>/...` as on the default domain. With them
/// (`PathMappingSet`, at most 3), a path prefix names the stage, and `/<stage>` URLs stop working.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The domain (`Domain`), without port. Required; served by this service only.
    pub host: Option<String>,
    /// Custom path mappings (`PathMappingSet`): `{ "/" = "release", "/beta" = "test" }`, a path
    /// prefix (`/`, or segments such as `/beta`) to a stage this service is published to.
    pub mappings: Option<BTreeMap<String, String>>,
    /// `IsForcedHttps`: a plain-HTTP request gets a 308 to the same URL on `https://` (the
    /// default port). Needs a `tls_listen`. Default false.
    pub force_https: Option<bool>,
}

/// `[[service.api]]`: one API (console: API 管理 → 新建 API).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// API name (console: API 名称), 1 to 60 characters, unique within its service. Required.
    pub name: Option<String>,
    /// Frontend path (console: 路径): `=/exact`, `^~/priority-prefix`, `/with/{param}` or `/prefix`.
    /// Required.
    pub path: Option<String>,
    /// Request method (console: 请求方法): GET, POST, PUT, DELETE, HEAD or ANY. Required.
    pub method: Option<String>,
    /// The backend function (console: 后端配置 → 云函数 SCF). Required.
    pub function: Option<FunctionRef>,
    /// WebSocket APIs (`protocol = "ws"`): the function invoked when a client connects (console:
    /// 注册函数, `ServiceWebsocketRegisterFunctionName`); its `errNo` 0 accepts. Required for them,
    /// refused elsewhere (as are `transport` and `cleanup`).
    pub register: Option<FunctionRef>,
    /// WebSocket APIs: the function invoked per message from the client (console: 传输函数).
    pub transport: Option<FunctionRef>,
    /// WebSocket APIs: the function invoked when the connection ends (console: 清理函数).
    pub cleanup: Option<FunctionRef>,
    /// Backend timeout in seconds (console: 后端超时, API field `ServiceTimeout`). Default 15, at
    /// most 1800 (Tencent's limit).
    pub timeout: Option<Seconds>,
    /// Response integration (console: 响应集成, `ServiceScfIsIntegratedResponse`). Default false.
    pub integrated_response: Option<bool>,
    /// Base64 encoding of the request body in the function's event (console: Base64 编码):
    /// `off` (default: only a body that is not UTF-8 is encoded), `all` (Tencent's
    /// `isBase64Encoded`), or `rules` (`isBase64Trigger`: when a `[[service.api.base64_rule]]`
    /// matches the request's headers).
    pub base64: Option<String>,
    /// `[[service.api.base64_rule]]` tables (Tencent's `base64EncodedTriggerRules`), at most 10,
    /// any one matching; only with `base64 = "rules"`.
    #[serde(default, rename = "base64_rule", skip_serializing_if = "is_empty")]
    pub base64_rules: Vec<Base64Rule>,
    /// Request protocol (console: 请求协议): `http`, `https` or `http&https`, default `http&https`;
    /// or, for a WebSocket API (console: WS/WSS), `ws`, `wss` or `ws&wss`.
    pub protocol: Option<String>,
    /// Authentication (console: 鉴权类型): `none` (免认证), `key_pair` (密钥对认证, usage plans) or
    /// `oauth` (OAuth 2.0, JWT verified with `[service.api.oauth]`). Default `none`.
    pub auth: Option<String>,
    /// CORS (console: 支持 CORS, API field `EnableCORS`). Default false.
    pub cors: Option<bool>,
    /// Extension: origins CORS answers for, e.g. `["https://app.example.com"]`; `["*"]` or absent
    /// means any origin (Tencent's `Access-Control-Allow-Origin: *`). Only with `cors = true`.
    pub cors_origins: Option<Vec<String>>,
    /// `[service.api.oauth]`: how the JWT is verified (console: OAuth 2.0 业务 API). Required when
    /// `auth = "oauth"`, refused otherwise.
    pub oauth: Option<OAuth>,
    /// `[[service.api.param]]` tables (console: 参数配置), in file order.
    #[serde(default, rename = "param", skip_serializing_if = "is_empty")]
    pub params: Vec<Param>,
    /// Description (console: API 描述, `ApiDesc`). Documentation only (generated docs, OpenAPI).
    pub description: Option<String>,
    /// What the API answers (console: 返回类型, `ResponseType`): `json`, `html`, `text`, `xml` or
    /// `binary`. Documentation only.
    pub response_type: Option<String>,
    /// An example of a successful response body (console: 成功响应示例, `ResponseSuccessExample`).
    /// Documentation only.
    pub success_response_sample: Option<String>,
    /// An example of a failed response body (console: 失败响应示例, `ResponseFailExample`).
    /// Documentation only.
    pub failure_response_sample: Option<String>,
    /// `[[service.api.error_code]]` tables (console: 错误码, `ResponseErrorCodes`). Documentation,
    /// and a status conversion where one has `converted_code`.
    #[serde(default, rename = "error_code", skip_serializing_if = "is_empty")]
    pub error_codes: Vec<ErrorCode>,
}

/// `[[service.api.base64_rule]]`: one Base64 trigger rule (Tencent: `{name, value[]}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Base64Rule {
    /// The request header it looks at: `Content-Type` or `Accept` (Tencent: `Content_Type`,
    /// `Accept`). Required.
    pub header: Option<String>,
    /// Values that trigger the encoding when the header contains one (ASCII case-insensitive), e.g.
    /// `["image/", "application/octet-stream"]`. Required, at least one.
    pub values: Option<Vec<String>>,
}

/// `[[service.api.error_code]]`: an error code the API documents (SDK `ErrorCodeReq`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCode {
    /// The code (`Code`), unique within the API. Required.
    pub code: Option<i64>,
    /// The message that goes with it (`Msg`). Required.
    pub message: Option<String>,
    /// What it means (`Desc`).
    pub description: Option<String>,
    /// Error-code conversion (`NeedConvert` with `ConvertedCode`): a response of the function with
    /// HTTP status `code` reaches the client with this status instead. Both must then be HTTP
    /// statuses from 200 to 599, neither 204 nor 304.
    pub converted_code: Option<i64>,
}

/// `[[service.api.param]]`: one declared input parameter (SDK `ReqParameter`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Parameter name (`Name`). Required. Header names match case-insensitively.
    pub name: Option<String>,
    /// Where it is read from (`Position`): `header`, `query` or `path`. Required.
    pub position: Option<String>,
    /// Data type (`Type`): `string`, `int`, `long`, `float`, `double`, `boolean` or `date`.
    /// Default `string`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A request without it is refused with 403 (`Required`). Default false.
    pub required: Option<bool>,
    /// Sent to the function when the request has no value (`DefaultValue`); must parse as `type`.
    pub default: Option<String>,
    /// Documentation only (`Desc`).
    pub desc: Option<String>,
    /// Documentation only: an example value (console: 示例); must parse as `type`.
    pub sample: Option<String>,
}

/// `[service.api.oauth]`: the OAuth 2.0 business API's verification settings (SDK `OauthConfig`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    /// The public key as JWK JSON (`PublicKey`), RSA (`n`, `e`) or EC P-256 (`crv`, `x`, `y`), e.g.
    /// `'{"kty":"RSA","e":"AQAB","n":"..."}'`. Required.
    pub public_key: Option<String>,
    /// `RS256`, `RS384`, `RS512` (RSA keys) or `ES256` (P-256 keys). Default: the JWK's `alg`, else
    /// `RS256` for RSA and `ES256` for EC.
    pub algorithm: Option<String>,
    /// Where the token is read (`TokenLocation`): `header:<Name>` or `cookie:<name>`. Default
    /// `header:Authorization` (`Bearer <jwt>` or Tencent's `Bearer id_token="<jwt>"`).
    pub token_location: Option<String>,
    /// When set, the token's `iss` claim must equal it.
    pub iss: Option<String>,
    /// When set, the token's `aud` claim (a string or an array) must contain it.
    pub aud: Option<String>,
}

/// `[[usage_plan]]`: a usage plan (console: 使用计划) bound to service stages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlan {
    /// Plan name (`UsagePlanName`). Required, unique.
    pub name: Option<String>,
    /// Key pairs bound to the plan (`[[secret]]` ids). Empty: the plan limits every request to the
    /// stages it is bound to.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub secret_ids: Vec<String>,
    /// Requests per second (`MaxRequestNumPreSec`); each key of the plan gets this rate. Absent:
    /// unlimited.
    pub max_requests_per_second: Option<u64>,
    /// Requests per UTC day (extension of `MaxRequestNum`); each key of the plan gets this quota.
    /// Absent: unlimited.
    pub quota_per_day: Option<u64>,
    /// Service stages the plan is bound to (console: 绑定环境), e.g.
    /// `[{ service = "service-abc", stage = "release" }]`. At least one.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub environments: Vec<Environment>,
}

/// `{ service = "<service id>", stage = "<stage>" }` in a usage plan's `environments`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// A `[[service]]` id. Required.
    pub service: Option<String>,
    /// `release`, `test` or `prepub`. Required.
    pub stage: Option<String>,
}

/// `[[secret]]`: a key pair (console: 密钥, SecretId/SecretKey) used by key-pair authentication.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// SecretId, sent by clients in `Authorization: hmac id="..."`. Required, unique.
    pub id: Option<String>,
    /// SecretKey, the HMAC key. Exactly one of `key` and `key_env`.
    pub key: Option<String>,
    /// The name of an environment variable holding the SecretKey, so that no secret sits in the file.
    pub key_env: Option<String>,
}

/// `function = { name = "...", namespace = "...", qualifier = "..." }` on an API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionRef {
    /// Function name (console: 函数). Required.
    pub name: Option<String>,
    /// Namespace (console: 命名空间). Default `default`.
    pub namespace: Option<String>,
    /// Version or alias (console: 版本, `ServiceScfFunctionQualifier`). Default `$LATEST`.
    pub qualifier: Option<String>,
}

/// How a `[[function]]` runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum Runtime {
    /// Local `bootstrap` processes speaking the SCF custom-runtime API (SCF: Custom Runtime).
    Custom,
    /// An HTTP endpoint that takes the event as a POST body.
    Remote,
    /// Local `scf_bootstrap` processes that are HTTP servers themselves (SCF: Web 函数); requests
    /// are proxied to them as HTTP.
    Web,
    /// A function in Tencent Cloud, invoked through SCF's `Invoke` API (API 3.0, TC3-signed).
    Tencentcloud,
    /// Any other name: one of Tencent's standard runtimes as SCF writes it (`Python3.9`,
    /// `Nodejs16.13`, ...), checked at validation (`validate::standard`).
    Standard(String),
}

impl From<String> for Runtime {
    fn from(name: String) -> Self {
        match name.as_str() {
            "custom" => Runtime::Custom,
            "remote" => Runtime::Remote,
            "web" => Runtime::Web,
            "tencentcloud" => Runtime::Tencentcloud,
            _ => Runtime::Standard(name),
        }
    }
}

impl From<Runtime> for String {
    fn from(runtime: Runtime) -> Self {
        match runtime {
            Runtime::Custom => "custom".into(),
            Runtime::Remote => "remote".into(),
            Runtime::Web => "web".into(),
            Runtime::Tencentcloud => "tencentcloud".into(),
            Runtime::Standard(name) => name,
        }
    }
}

/// `[[function]]`: an SCF function the APIs can name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// Function name (SCF: `FunctionName`). Required.
    pub name: Option<String>,
    /// Namespace (SCF: `Namespace`). Default `default`.
    pub namespace: Option<String>,
    /// Version or alias (SCF: `Qualifier`). Default `$LATEST`.
    pub qualifier: Option<String>,
    /// `custom`, `remote`, `web`, `tencentcloud`, or a Tencent standard runtime (`Python3.9`,
    /// `Nodejs16.13`, ...). Required.
    pub runtime: Option<Runtime>,
    /// Memory size (SCF: `MemorySize`, env `SCF_FUNCTIONMEMORYSIZE`): reported to the function
    /// and, for `custom`, enforced on each process (see `function_host::process`). Default 128.
    pub memory_limit_in_mb: Option<u32>,
    /// `custom` and `web`: folder holding an executable `bootstrap` (`custom`) or `scf_bootstrap`
    /// (`web`) (SCF: the code package), relative to the config file's folder. Required for both.
    pub code: Option<String>,
    /// `custom`: passed to `bootstrap` as `_HANDLER`; a standard runtime: the handler to call,
    /// `file.function` (SCF: 执行方法). Default `index.main_handler`.
    pub handler: Option<String>,
    /// A standard runtime: the interpreter to run it with (a path, or a name found on `PATH`).
    /// Default `python3` (`python2` for `Python2.7`) or `node`.
    pub interpreter: Option<String>,
    /// `custom` and `web`: warm processes kept running (SCF: provisioned concurrency). Default 1.
    pub instances: Option<usize>,
    /// `custom` and `web`: seconds a started process may take to ask for its first event
    /// (`custom`) or to accept connections on its port (`web`) (SCF: 初始化超时时间). Default 30,
    /// at most 300 (SCF's limit).
    pub init_timeout: Option<Seconds>,
    /// `custom` and `web`: most processes run at once; the gateway starts more than `instances`
    /// when requests wait and every process is busy (SCF: 最大独占配额, reserved concurrency).
    /// Default: `instances` (no scaling).
    pub max_instances: Option<usize>,
    /// `custom` and `web`: seconds a process started beyond `instances` may sit idle before it is
    /// stopped (SCF keeps an idle instance warm for a while, then reclaims it). Default 60.
    pub idle_timeout: Option<Seconds>,
    /// `web` only: requests one instance takes at once before the gateway starts another (SCF:
    /// 单实例多并发; off by default, so one request per instance). Default 1.
    pub concurrency: Option<usize>,
    /// `custom` and `web`: `[function.environment]`, variables its processes get on top of what
    /// the platform sets (SCF: 环境变量, `Environment.Variables`), e.g.
    /// `environment = { DB_HOST = "10.0.0.5" }`. Names as SCF allows them; the platform's
    /// prefixes (`SCF_`, `QCLOUD_`, `TENCENTCLOUD_`, `SCFGATE_`) are refused. This is how a
    /// function gets a variable: of the gateway's own environment it gets only a short
    /// allow-list (`function_host::process::PASSED_THROUGH`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub environment: BTreeMap<String, String>,
    /// `remote` only: `http://host[:port][/path]` the event is POSTed to. Required for `remote`.
    pub invoke_url: Option<String>,
    /// `url = { host = "fn.example.com" }`: the function's own URL (SCF 函数 URL), any runtime.
    pub url: Option<FunctionUrl>,
    /// `web` only: the fixed loopback port the function's server listens on, for a server that
    /// insists on one (Tencent's web functions listen on 9000). Absent: the gateway picks a free
    /// port per instance and passes it as `PORT`.
    pub port: Option<u16>,
    /// `tencentcloud` only: the function's region (API 3.0 `X-TC-Region`), e.g. `ap-guangzhou`.
    /// Required for `tencentcloud`.
    pub region: Option<String>,
    /// `tencentcloud` only: the API endpoint, `https://host[:port]`. Default
    /// `https://scf.tencentcloudapi.com`.
    pub endpoint: Option<String>,
    /// `tencentcloud` only: PEM file of the certificates to trust for `endpoint`, relative to the
    /// config file. Default: the system bundle `/etc/ssl/certs/ca-certificates.crt`.
    pub ca_file: Option<String>,
    /// `tencentcloud` only: environment variable holding the SecretId. Default
    /// `TENCENTCLOUD_SECRET_ID` (the name Tencent's SDKs and tccli read).
    pub secret_id_env: Option<String>,
    /// `tencentcloud` only: environment variable holding the SecretKey. Default
    /// `TENCENTCLOUD_SECRET_KEY`.
    pub secret_key_env: Option<String>,
    /// `tencentcloud` only: environment variable holding a temporary credential's token
    /// (`X-TC-Token`), read when set. Default `TENCENTCLOUD_SESSION_TOKEN`.
    pub token_env: Option<String>,
}

/// `skip_serializing_if` for lists and maps: written back only when they hold something.
fn is_empty<T>(collection: &T) -> bool
where
    for<'a> &'a T: IntoIterator,
{
    collection.into_iter().next().is_none()
}

/// A duration in seconds, written as a TOML integer or float (`15`, `0.5`). Range checks happen in
/// `validate/durations.rs` (more than 0, at most a cap per field), where the error can name the
/// field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub f64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Seconds, D::Error> {
        struct SecondsVisitor;

        impl Visitor<'_> for SecondsVisitor {
            type Value = Seconds;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a number of seconds (integer or float)")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Seconds, E> {
                Ok(Seconds(value as f64))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Seconds, E> {
                Ok(Seconds(value as f64))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Seconds, E> {
                Ok(Seconds(value))
            }
        }

        deserializer.deserialize_any(SecondsVisitor)
    }
}

impl Serialize for Seconds {
    /// Whole seconds are written as integers (`timeout = 15`), the way people write them.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Seconds(value) = *self;
        if value.fract() == 0.0 && value.abs() < 1e15 {
            serializer.serialize_i64(value as i64)
        } else {
            serializer.serialize_f64(value)
        }
    }
}
