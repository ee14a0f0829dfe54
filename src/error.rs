//! Every way a request can fail, and the one place that turns a failure into a status and a body.
//!
//! Handlers return a [`GatewayError`]; they never build error responses themselves. Bodies follow
//! Tencent API Gateway's documented messages (`{"message":"..."}`), see
//! `shared/spec/tencent-apigw-scf.md` §2.4, and name the request id where Tencent's do.

use crate::http::body::ChunkedError;
use crate::http::ParseError;
use crate::policy::key_pair::KeyPairError;
use crate::policy::oauth::OAuthError;

/// Which side caused a failure: it decides how the failure is logged (`crate::connection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something we refuse.
    Client,
    /// The function or its endpoint failed.
    Backend,
    /// The gateway itself.
    Gateway,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// The request head or body does not parse (400).
    Malformed(&'static str),
    /// The request head is larger than `--max-header-bytes`, or has too many fields (431).
    HeadersTooLarge,
    /// The request body is larger than `--max-body-bytes` (413).
    BodyTooLarge,
    /// A transfer coding we do not implement (501).
    UnsupportedTransferEncoding,
    /// No service answers for the Host (404).
    UnknownHost,
    /// The first path segment is not a stage the host's services are published to (404).
    UnknownStage,
    /// On a custom domain with path mappings, no mapping holds the path (404); counted as an
    /// unknown stage.
    UnknownMapping,
    /// No API path matches (404).
    NoRoute,
    /// An API path matches but not with this method (405); the methods that path does take go
    /// in the `Allow` header (RFC 9110 §15.5.6).
    MethodNotAllowed(AllowedMethods),
    /// The function endpoint refused or dropped the connection, or answered something that is
    /// not a reply (502); the cause is logged, never sent to the client.
    BackendUnreachable(BackendCause),
    /// The function did not answer within the API's timeout (504).
    BackendTimeout,
    /// Pass-through mode: the function's value is not JSON (502).
    ResponseNotJson,
    /// Integrated mode: the function's value is not `{statusCode, headers, body, isBase64Encoded}` (403).
    InvalidIntegratedResponse,
    /// The function's answer is larger than `max_response_bytes` (502).
    ResponseTooLarge,
    /// The function reported an error through `/runtime/invocation/error` (502).
    FunctionError(String),
    /// The function process exited or was killed while holding the request (502).
    FunctionCrashed(String),
    /// Every instance is busy and the function's queue is full (503).
    FunctionBusy,
    /// The worker holds as many request bodies as `--body-memory` allows (503, with
    /// `Retry-After`; the body is left unread, so the connection closes).
    BodyMemoryExhausted,
    /// A web function refused the connection, or closed it before its response head (502); the
    /// text names the function.
    WebFunctionFailed(String),
    /// Tencent Cloud's API refused to invoke a `tencentcloud` function: which function, and the
    /// API's `Error.Code` and `Error.Message` (502).
    CloudRefused(Box<str>),
    /// The API does not accept the request's protocol (426); `https` is the protocol it came on.
    ProtocolNotAllowed {
        /// The request came over HTTPS.
        https: bool,
    },
    /// A plain-HTTP request to a custom domain with `force_https` (308, `Location` on https;
    /// counted with the protocol refusals).
    HttpsRequired,
    /// A required declared parameter is missing (403).
    ParamMissing {
        /// Where it should have been, as the message words it (`ParamPosition::message_word`).
        position: &'static str,
        /// Its declared name.
        name: Box<str>,
    },
    /// A declared parameter's value does not parse as its type (400).
    ParamInvalid {
        /// Where it was, as the message words it (`ParamPosition::message_word`).
        position: &'static str,
        /// Its declared name.
        name: Box<str>,
        /// Its declared type's name (`ParamType::as_str`).
        kind: &'static str,
    },
    /// Key-pair (HMAC) authentication failed (401; 403 when the stage has no usage plan).
    KeyPair(KeyPairError),
    /// OAuth 2.0 (JWT) authentication failed (401).
    OAuth(OAuthError),
    /// Over the usage plan's `max_requests_per_second` (429).
    RateLimited,
    /// Over the usage plan's `quota_per_day` (429).
    QuotaExceeded,
    /// A WebSocket API's request lacks this handshake header (403, Tencent's `need header
    /// Sec-WebSocket-Key.`).
    WebSocketHeaderMissing(&'static str),
    /// A WebSocket handshake asking for a version other than 13 (426, RFC 6455 §4.4).
    WebSocketVersion,
    /// A WebSocket API's request is not a valid upgrade (400).
    WebSocketHandshake(&'static str),
    /// The register function refused the connection: its `errNo` was not 0 (403).
    WebSocketRefused {
        /// The function's `errNo`.
        err_no: i64,
        /// The function's `errMsg`.
        err_msg: String,
    },
    /// The register function's value is not `{"errNo": ..., "errMsg": ...}` (502).
    InvalidRegisterResponse,
}

/// Gateway errors as metrics count them (`scfgate_gateway_errors_total{kind}`), indexed by
/// [`GatewayError::metric_kind`]. Key-pair failures are split by status: 401 (a bad or missing
/// signature) and 403 (no usage plan on the stage).
pub const ERROR_KINDS: [&str; 28] = [
    "malformed",
    "headers_too_large",
    "body_too_large",
    "unsupported_transfer_encoding",
    "unknown_host",
    "unknown_stage",
    "no_route",
    "method_not_allowed",
    "backend_unreachable",
    "backend_timeout",
    "response_not_json",
    "invalid_integrated_response",
    "response_too_large",
    "function_error",
    "function_crashed",
    "function_busy",
    "body_memory_exhausted",
    "web_function_failed",
    "cloud_refused",
    "protocol_not_allowed",
    "param_missing",
    "param_invalid",
    "key_pair",
    "key_pair_no_usage_plan",
    "oauth",
    "rate_limited",
    "quota_exceeded",
    "websocket_handshake",
];

/// Why a function's endpoint could not be used: kept with the 502 so that the log says why
/// (the client sees Tencent's `Bad Gateway.` whatever it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendCause {
    /// Connecting failed.
    Connect(std::io::ErrorKind),
    /// Sending the request or reading the reply failed.
    Io(std::io::ErrorKind),
    /// The connection closed before a whole reply (or, pooled and then fresh, before any).
    ClosedEarly,
    /// The reply's head does not parse, or is larger than the gateway reads.
    MalformedReply,
    /// The reply's status is not 2xx and names no SCF failure.
    Status(u16),
    /// A TLS handshake with the endpoint failed.
    Tls,
    /// An answer the gateway cannot pass on (a 101 nobody asked for, a string that does not
    /// unescape, a head the client connection could not take).
    Unusable(&'static str),
    /// No instance of the web function is known to this worker.
    NoInstance,
}

impl std::fmt::Display for BackendCause {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendCause::Connect(kind) => write!(formatter, "cannot connect: {kind}"),
            BackendCause::Io(kind) => write!(formatter, "connection failed: {kind}"),
            BackendCause::ClosedEarly => formatter.write_str("closed before a whole reply"),
            BackendCause::MalformedReply => formatter.write_str("the reply's head is not valid HTTP/1.1"),
            BackendCause::Status(status) => write!(formatter, "replied {status} without an SCF failure type"),
            BackendCause::Tls => formatter.write_str("TLS handshake failed"),
            BackendCause::Unusable(what) => write!(formatter, "unusable answer: {what}"),
            BackendCause::NoInstance => formatter.write_str("no instance of the web function on this worker"),
        }
    }
}

/// The methods an API path accepts, for a 405's `Allow` header: a set over the methods an API can
/// declare (`ANY` sets them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllowedMethods(u8);

impl AllowedMethods {
    /// The methods, in the order the header lists them.
    pub const METHODS: [&'static [u8]; 5] = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE"];

    /// Adds `METHODS[index]`.
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    /// Appends `allow: GET, POST\r\n` (nothing when the set is empty).
    pub fn write_header(self, out: &mut Vec<u8>) {
        if self.0 == 0 {
            return;
        }
        out.extend_from_slice(b"allow: ");
        let mut first = true;
        for (index, method) in Self::METHODS.iter().enumerate() {
            if self.0 & (1 << index) != 0 {
                if !first {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(method);
                first = false;
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// What an error body may mention.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// The request path as sent, without the query.
    pub path: &'a [u8],
    /// The Host the request was addressed to.
    pub host: &'a [u8],
    /// The stage segment of the path.
    pub stage: &'a [u8],
    /// The request id (also sent as `x-api-requestid`).
    pub request_id: &'a [u8],
}

impl GatewayError {
    /// The HTTP status for this error: the only place this mapping is made.
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::Malformed(_) => 400,
            GatewayError::HeadersTooLarge => 431,
            GatewayError::BodyTooLarge => 413,
            GatewayError::UnsupportedTransferEncoding => 501,
            GatewayError::UnknownHost
            | GatewayError::UnknownStage
            | GatewayError::UnknownMapping
            | GatewayError::NoRoute => 404,
            GatewayError::MethodNotAllowed(_) => 405,
            GatewayError::InvalidIntegratedResponse => 403,
            GatewayError::BackendUnreachable(_)
            | GatewayError::ResponseNotJson
            | GatewayError::ResponseTooLarge
            | GatewayError::FunctionError(_)
            | GatewayError::FunctionCrashed(_)
            | GatewayError::WebFunctionFailed(_)
            | GatewayError::CloudRefused(_) => 502,
            GatewayError::FunctionBusy | GatewayError::BodyMemoryExhausted => 503,
            GatewayError::BackendTimeout => 504,
            GatewayError::ProtocolNotAllowed { .. } => 426,
            // 308 keeps the method and body (a 301 turns a browser's POST into a GET).
            GatewayError::HttpsRequired => 308,
            GatewayError::ParamInvalid { .. } => 400,
            GatewayError::ParamMissing { .. } | GatewayError::KeyPair(KeyPairError::NoUsagePlan) => 403,
            GatewayError::KeyPair(_) | GatewayError::OAuth(_) => 401,
            GatewayError::RateLimited | GatewayError::QuotaExceeded => 429,
            GatewayError::WebSocketHeaderMissing(_) | GatewayError::WebSocketRefused { .. } => 403,
            GatewayError::WebSocketVersion => 426,
            GatewayError::WebSocketHandshake(_) => 400,
            GatewayError::InvalidRegisterResponse => 502,
        }
    }

    /// Its index in [`ERROR_KINDS`], for metrics. Every failed WebSocket handshake counts as
    /// `websocket_handshake`, whoever refused it.
    pub fn metric_kind(&self) -> usize {
        match self {
            GatewayError::Malformed(_) => 0,
            GatewayError::HeadersTooLarge => 1,
            GatewayError::BodyTooLarge => 2,
            GatewayError::UnsupportedTransferEncoding => 3,
            GatewayError::UnknownHost => 4,
            GatewayError::UnknownStage | GatewayError::UnknownMapping => 5,
            GatewayError::NoRoute => 6,
            GatewayError::MethodNotAllowed(_) => 7,
            GatewayError::BackendUnreachable(_) => 8,
            GatewayError::BackendTimeout => 9,
            GatewayError::ResponseNotJson => 10,
            GatewayError::InvalidIntegratedResponse => 11,
            GatewayError::ResponseTooLarge => 12,
            GatewayError::FunctionError(_) => 13,
            GatewayError::FunctionCrashed(_) => 14,
            GatewayError::FunctionBusy => 15,
            GatewayError::BodyMemoryExhausted => 16,
            GatewayError::WebFunctionFailed(_) => 17,
            GatewayError::CloudRefused(_) => 18,
            GatewayError::ProtocolNotAllowed { .. } | GatewayError::HttpsRequired => 19,
            GatewayError::ParamMissing { .. } => 20,
            GatewayError::ParamInvalid { .. } => 21,
            GatewayError::KeyPair(KeyPairError::NoUsagePlan) => 23,
            GatewayError::KeyPair(_) => 22,
            GatewayError::OAuth(_) => 24,
            GatewayError::RateLimited => 25,
            GatewayError::QuotaExceeded => 26,
            GatewayError::WebSocketHeaderMissing(_)
            | GatewayError::WebSocketVersion
            | GatewayError::WebSocketHandshake(_)
            | GatewayError::WebSocketRefused { .. }
            | GatewayError::InvalidRegisterResponse => 27,
        }
    }

    /// Who caused it.
    pub fn side(&self) -> Side {
        match self {
            GatewayError::Malformed(_)
            | GatewayError::HeadersTooLarge
            | GatewayError::BodyTooLarge
            | GatewayError::UnsupportedTransferEncoding
            | GatewayError::UnknownHost
            | GatewayError::UnknownStage
            | GatewayError::UnknownMapping
            | GatewayError::NoRoute
            | GatewayError::MethodNotAllowed(_)
            | GatewayError::ProtocolNotAllowed { .. }
            | GatewayError::HttpsRequired
            | GatewayError::ParamMissing { .. }
            | GatewayError::ParamInvalid { .. }
            | GatewayError::KeyPair(_)
            | GatewayError::OAuth(_)
            | GatewayError::RateLimited
            | GatewayError::QuotaExceeded
            | GatewayError::WebSocketHeaderMissing(_)
            | GatewayError::WebSocketVersion
            | GatewayError::WebSocketHandshake(_) => Side::Client,
            GatewayError::FunctionBusy | GatewayError::BodyMemoryExhausted => Side::Gateway,
            _ => Side::Backend,
        }
    }

    /// Whether the connection must close after the error response: the request's framing is
    /// unknown, so the next bytes cannot be trusted to start a request.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            GatewayError::Malformed(_)
                | GatewayError::HeadersTooLarge
                | GatewayError::BodyTooLarge
                | GatewayError::UnsupportedTransferEncoding
                | GatewayError::BodyMemoryExhausted
        )
    }

    /// Appends the JSON error body.
    pub fn write_body(&self, context: &ErrorContext<'_>, out: &mut Vec<u8>) {
        use crate::backend::json::write_string_contents as escaped;
        match self {
            GatewayError::Malformed(detail) => {
                out.extend_from_slice(b"{\"message\":\"Bad Request: ");
                escaped(out, detail.as_bytes());
                out.extend_from_slice(b".\"}");
            }
            GatewayError::HeadersTooLarge => {
                out.extend_from_slice(br#"{"message":"Request Header Fields Too Large."}"#)
            }
            GatewayError::BodyTooLarge => out.extend_from_slice(br#"{"message":"Request Entity Too Large."}"#),
            GatewayError::UnsupportedTransferEncoding => {
                out.extend_from_slice(br#"{"message":"Transfer-Encoding not implemented."}"#)
            }
            GatewayError::UnknownHost => {
                out.extend_from_slice(b"{\"message\":\"There is no api match host[");
                escaped(out, context.host);
                out.extend_from_slice(b"].\"}");
            }
            GatewayError::UnknownStage => {
                out.extend_from_slice(b"{\"message\":\"There is no api match default env_mapping[");
                escaped(out, context.stage);
                out.extend_from_slice(b"].\"}");
            }
            // Tencent's wording for a custom mapping (spec §2.4), naming the first path segment.
            GatewayError::UnknownMapping => {
                out.extend_from_slice(b"{\"message\":\"There is no api match env_mapping[");
                escaped(out, context.stage);
                out.extend_from_slice(b"].\"}");
            }
            GatewayError::NoRoute => {
                out.extend_from_slice(b"{\"message\":\"There is no api match uri[");
                escaped(out, context.path);
                out.extend_from_slice(b"]\"}");
            }
            GatewayError::MethodNotAllowed(_) => out.extend_from_slice(br#"{"message":"Method Not Allowed."}"#),
            GatewayError::BackendUnreachable(_) => out.extend_from_slice(br#"{"message":"Bad Gateway."}"#),
            GatewayError::BackendTimeout => out.extend_from_slice(br#"{"message":"Gateway Time-out."}"#),
            GatewayError::ResponseNotJson => {
                out.extend_from_slice(b"{\"message\":\"Bad Gateway.\",\"error\":\"requestId ");
                escaped(out, context.request_id);
                out.extend_from_slice(
                    b" , the function returned a value that is not JSON; pass-through APIs answer JSON only.\"}",
                );
            }
            GatewayError::InvalidIntegratedResponse => {
                out.extend_from_slice(b"{\"errno\":403,\"error\":\"requestId ");
                escaped(out, context.request_id);
                out.extend_from_slice(b" , Invalid scf response. expected scf response valid JSON.\"}");
            }
            GatewayError::ResponseTooLarge => {
                out.extend_from_slice(b"{\"message\":\"Bad Gateway.\",\"error\":\"requestId ");
                escaped(out, context.request_id);
                out.extend_from_slice(b" , the function's response is larger than the gateway accepts.\"}");
            }
            GatewayError::FunctionError(text) => write_function_error(text, context.request_id, out),
            GatewayError::FunctionCrashed(text) | GatewayError::WebFunctionFailed(text) => {
                out.extend_from_slice(b"{\"message\":\"Bad Gateway.\",\"error\":\"");
                escaped(out, text.as_bytes());
                out.extend_from_slice(b"\",\"requestId\":\"");
                escaped(out, context.request_id);
                out.extend_from_slice(b"\"}");
            }
            GatewayError::CloudRefused(detail) => {
                out.extend_from_slice(b"{\"message\":\"Bad Gateway.\",\"error\":\"requestId ");
                escaped(out, context.request_id);
                out.extend_from_slice(b" , Tencent Cloud refused to invoke ");
                escaped(out, detail.as_bytes());
                out.extend_from_slice(b"\"}");
            }
            GatewayError::FunctionBusy => out.extend_from_slice(
                br#"{"message":"Service Unavailable: every instance of the function is busy and its queue is full."}"#,
            ),
            GatewayError::BodyMemoryExhausted => out.extend_from_slice(
                br#"{"message":"Service Unavailable: the gateway is holding as many request bodies as it may; retry shortly."}"#,
            ),
            // Tencent's frontend messages, spec §2.2 and §2.4.
            GatewayError::ProtocolNotAllowed { https: false } => {
                out.extend_from_slice(br#"{"message":"Not allow use HTTP protocol."}"#)
            }
            GatewayError::ProtocolNotAllowed { https: true } => {
                out.extend_from_slice(br#"{"message":"Not allow use HTTPS protocol."}"#)
            }
            GatewayError::HttpsRequired => out.extend_from_slice(br#"{"message":"Use HTTPS."}"#),
            GatewayError::ParamMissing { position, name } => {
                out.extend_from_slice(b"{\"message\":\"");
                out.extend_from_slice(position.as_bytes());
                out.push(b' ');
                escaped(out, name.as_bytes());
                out.extend_from_slice(b" is required.\"}");
            }
            // Tencent does not document a type check; the message follows its `is required.` form.
            GatewayError::ParamInvalid { position, name, kind } => {
                out.extend_from_slice(b"{\"message\":\"");
                out.extend_from_slice(position.as_bytes());
                out.push(b' ');
                escaped(out, name.as_bytes());
                out.extend_from_slice(b" is not a valid ");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b".\"}");
            }
            GatewayError::KeyPair(error) => {
                let (before, name, after) = key_pair_message(error);
                out.extend_from_slice(b"{\"message\":\"");
                out.extend_from_slice(before.as_bytes());
                escaped(out, name.as_bytes());
                out.extend_from_slice(after.as_bytes());
                out.extend_from_slice(b"\"}");
            }
            GatewayError::OAuth(error) => {
                out.extend_from_slice(b"{\"message\":\"");
                out.extend_from_slice(match error {
                    OAuthError::NoAuthorizationHeader => b"Oauth found no authorization header.".as_slice(),
                    OAuthError::AuthorizationFormat => b"Oauth authorization header format error.",
                    OAuthError::NoIdToken => b"Oauth found no id_token.",
                    OAuthError::VerifyFailed => b"Oauth id_token verify error.",
                });
                out.extend_from_slice(b"\"}");
            }
            GatewayError::RateLimited => out.extend_from_slice(br#"{"message":"API rate limit exceeded."}"#),
            GatewayError::QuotaExceeded => out.extend_from_slice(br#"{"message":"API quota exceeded."}"#),
            // spec §5.2: Tencent's handshake messages.
            GatewayError::WebSocketHeaderMissing(name) => {
                out.extend_from_slice(b"{\"message\":\"need header ");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b".\"}");
            }
            GatewayError::WebSocketVersion => out.extend_from_slice(
                br#"{"message":"Sec-WebSocket-Version not supported; this gateway speaks version 13."}"#,
            ),
            GatewayError::WebSocketHandshake(detail) => {
                out.extend_from_slice(b"{\"message\":\"Bad Request: ");
                escaped(out, detail.as_bytes());
                out.extend_from_slice(b".\"}");
            }
            // Tencent documents no body for a refused connection; the function's own errNo and
            // errMsg are what its author would look for.
            GatewayError::WebSocketRefused { err_no, err_msg } => {
                out.extend_from_slice(
                    b"{\"message\":\"WebSocket connection refused by the register function.\",\"errNo\":",
                );
                let mut digits = crate::http::response::itoa_buffer();
                if *err_no < 0 {
                    out.push(b'-');
                }
                out.extend_from_slice(crate::http::response::format_u64(err_no.unsigned_abs(), &mut digits));
                out.extend_from_slice(b",\"errMsg\":\"");
                escaped(out, err_msg.as_bytes());
                out.extend_from_slice(b"\",\"requestId\":\"");
                escaped(out, context.request_id);
                out.extend_from_slice(b"\"}");
            }
            GatewayError::InvalidRegisterResponse => {
                out.extend_from_slice(b"{\"message\":\"Bad Gateway.\",\"error\":\"requestId ");
                escaped(out, context.request_id);
                out.extend_from_slice(
                    b" , the register function's value is not {\\\"errNo\\\": <number>, \\\"errMsg\\\": <text>}.\"}",
                );
            }
        }
    }

    /// Appends the header lines this error's response carries besides the usual ones: RFC 6455
    /// §4.4's `Sec-WebSocket-Version` for a version the gateway does not speak, and a 405's `Allow`.
    pub fn write_extra_headers(&self, out: &mut Vec<u8>) {
        match self {
            GatewayError::WebSocketVersion => out.extend_from_slice(b"sec-websocket-version: 13\r\n"),
            GatewayError::MethodNotAllowed(allowed) => allowed.write_header(out),
            // Bodies in progress finish within seconds (or their clients are cut off).
            GatewayError::BodyMemoryExhausted => out.extend_from_slice(b"retry-after: 1\r\n"),
            _ => {}
        }
    }
}

/// `{"errorCode":-1,"errorMessage":...,"requestId":...}`: SCF's answer to a failed invocation.
/// A runtime that reports its error in SCF's own shape (a JSON object with `errorMessage`, as
/// scfgate's standard runtimes do) has its `errorMessage`, `stackTrace` and `statusCode` kept;
/// any other text is the message.
fn write_function_error(text: &str, request_id: &[u8], out: &mut Vec<u8>) {
    use crate::backend::json::write_string_contents as escaped;
    let reported: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(text).ok().filter(|object: &serde_json::Map<_, _>| object.contains_key("errorMessage"));
    let field = |name: &str| reported.as_ref().and_then(|object| object.get(name));
    out.extend_from_slice(b"{\"errorCode\":-1,\"errorMessage\":\"");
    match field("errorMessage") {
        Some(serde_json::Value::String(message)) => escaped(out, message.as_bytes()),
        Some(other) => escaped(out, other.to_string().as_bytes()),
        None => escaped(out, text.as_bytes()),
    }
    out.extend_from_slice(b"\",\"requestId\":\"");
    escaped(out, request_id);
    out.push(b'"');
    if let Some(serde_json::Value::String(stack)) = field("stackTrace") {
        out.extend_from_slice(b",\"stackTrace\":\"");
        escaped(out, stack.as_bytes());
        out.push(b'"');
    }
    if let Some(serde_json::Value::Number(status)) = field("statusCode") {
        out.extend_from_slice(b",\"statusCode\":");
        out.extend_from_slice(status.to_string().as_bytes());
    }
    out.push(b'}');
}

/// Tencent's message for each key-pair failure (spec §2.4, the 401 row; `NoUsagePlan` is its 403),
/// as (text before the name, the name, text after it). A missing `Authorization` uses the
/// documented `a valid xxx header is required` form.
fn key_pair_message(error: &KeyPairError) -> (&'static str, &str, &'static str) {
    let text = match error {
        KeyPairError::Algorithm(name) => return ("HMAC algorithm ", name, " not supported."),
        KeyPairError::HeaderRequired(name) => {
            return ("HMAC signature cannot be verified, a valid ", name, " header is required.")
        }
        KeyPairError::MissingAuthorization => {
            "HMAC signature cannot be verified, a valid authorization header is required."
        }
        KeyPairError::MultipleHeaders => "HMAC do not support multiple HTTP header.",
        KeyPairError::Format => "HMAC authorization format error.",
        KeyPairError::IdOrSignatureMissing => "HMAC id or signature missing.",
        KeyPairError::HeadersInvalid => "HMAC authorization headers is invalidate.",
        KeyPairError::DateRequired => "HMAC signature cannot be verified, a valid date or x-date header is required.",
        KeyPairError::XDateInvalid => {
            "HMAC signature cannot be verified, a valid x-date header is required for HMAC Authentication."
        }
        KeyPairError::XDateOutOfDate => {
            "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication."
        }
        KeyPairError::UnknownKey => "HMAC apikey is invalid for API.",
        KeyPairError::SignatureMismatch => "HMAC signature does not match.",
        KeyPairError::NotBound => "HMAC signature cannot be verified.",
        KeyPairError::NoUsagePlan => "Found no validate usage plan.",
    };
    (text, "", "")
}

impl From<ParseError> for GatewayError {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::Malformed(detail) => GatewayError::Malformed(detail),
            ParseError::TooManyHeaders => GatewayError::HeadersTooLarge,
            ParseError::UnsupportedTransferEncoding => GatewayError::UnsupportedTransferEncoding,
        }
    }
}

impl From<ChunkedError> for GatewayError {
    fn from(error: ChunkedError) -> Self {
        match error {
            ChunkedError::Malformed => GatewayError::Malformed("invalid chunked body"),
            ChunkedError::TooLarge => GatewayError::BodyTooLarge,
        }
    }
}
