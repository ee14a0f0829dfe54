//! `runtime = "tencentcloud"`: the event goes to a function in Tencent Cloud through SCF's `Invoke`
//! API (API 3.0, `X-TC-Action: Invoke`, TC3-HMAC-SHA256 signed, see [`sign`]) over this worker's
//! pooled HTTPS connections, and `Result.RetMsg` comes back as the function's value (see [`reply`]).
//!
//! It owns the request's framing, the worker's TLS connections to the API and the mapping of the
//! API's answer onto gateway errors. Reading the HTTP reply and the retry rule (a request that
//! failed on a pooled connection before any reply byte is sent once more, on a new connection)
//! are `backend::invoke`'s, shared with the plain-HTTP runtimes.

pub mod reply;
pub mod sign;

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, TlsConnector};

use super::invoke::{self, HEADROOM};
use super::json::write_string_contents;
use super::json_scan::{unescape_with, RawString};
use super::pool::{BackendConnection, Pool};
use super::CallBuffers;
use crate::config::tencentcloud::TencentCloudFunction;
use crate::config::{Config, Function, FunctionIndex, FunctionRuntime};
use crate::error::{BackendCause, GatewayError};
use crate::http::response::{format_u64, itoa_buffer};
use reply::InvokeAnswer;
use sign::SigningInput;

/// A TLS connection to the API.
pub type CloudStream = ClientTlsStream<TcpStream>;

/// The product whose API is called: the `scf` of `scf.tencentcloudapi.com`, and the service in
/// the TC3 credential scope whatever host the endpoint names.
const SERVICE: &str = "scf";
/// `X-TC-Action`; signed too, so that the signature covers what is asked for.
const ACTION: &str = "Invoke";
/// `X-TC-Version` of SCF's API.
const API_VERSION: &str = "2018-04-16";
/// SCF's status for a function stopped at its time limit (`TimeLimitReached`, "Cloud Function
/// Status Code", SCF docs).
const TIME_LIMIT_REACHED: i64 = 433;
/// Room for the API's envelope around `RetMsg` (request ids, durations, `Log` under `LogType:
/// None` is empty) beyond the escaped value.
const ENVELOPE_BYTES: usize = 64 * 1024;
/// TLS sessions remembered per worker for resumption.
const TLS_SESSIONS_PER_WORKER: usize = 32;

/// One worker's HTTPS connections to the API: a keep-alive pool slot per function id (only
/// `tencentcloud` functions use theirs) and, per such function, a TLS connector whose session
/// cache is this worker's own, so no lock is shared across cores.
pub struct CloudConnections {
    pool: RefCell<Pool<CloudStream>>,
    connectors: Vec<Option<TlsConnector>>,
}

impl CloudConnections {
    /// Connections for `config`'s functions (none are opened until the first call).
    pub fn new(config: &Config) -> Self {
        let connectors = config
            .functions
            .iter()
            .map(|function| match &function.runtime {
                FunctionRuntime::TencentCloud(cloud) => {
                    let mut tls = (*cloud.tls).clone();
                    tls.resumption = rustls::client::Resumption::in_memory_sessions(TLS_SESSIONS_PER_WORKER);
                    Some(TlsConnector::from(Arc::new(tls)))
                }
                _ => None,
            })
            .collect();
        let gateway = &config.gateway;
        let pool = Pool::new(config.functions.len(), gateway.pool_size, gateway.pool_idle_timeout);
        CloudConnections { pool: RefCell::new(pool), connectors }
    }

    /// Idle connections held for function `id` (for tests and metrics).
    pub fn idle_count(&self, id: usize) -> usize {
        self.pool.borrow().idle_count(id)
    }

    /// Closes the connections idle past `pool_idle_timeout` (the worker's control task).
    pub fn close_expired(&self, now: std::time::Instant) -> usize {
        self.pool.borrow_mut().close_expired(now)
    }

    /// What this worker's pool to the API did since last asked, and how many connections idle.
    pub fn take_pool_stats(&self) -> (super::pool::PoolStats, usize) {
        let mut pool = self.pool.borrow_mut();
        (pool.take_stats(), pool.idle_total())
    }
}

/// Invokes cloud function `function` with the event already written at
/// `buffers.request[HEADROOM..]` and hands its value to `use_value`; what `backend::invoke_value`
/// does for the other runtimes, with the same errors.
pub async fn invoke_value<R>(
    backends: &super::Backends,
    function: FunctionIndex,
    cloud: &TencentCloudFunction,
    timeout: Duration,
    buffers: &mut CallBuffers,
    use_value: impl FnOnce(&[u8]) -> R,
) -> Result<R, GatewayError> {
    let config = backends.config();
    let settings = &config.functions[function];
    let connector = backends.cloud.connectors[function.get()].as_ref().expect("a connector per tencentcloud function");
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let start = frame_request(buffers, settings, cloud, timestamp);
    let request = std::mem::take(&mut buffers.scratch);
    let max_value = config.gateway.max_response_bytes;
    // RetMsg arrives escaped inside the envelope: quotes and backslashes double in the worst
    // common case; the decoded value is held to `max_response_bytes` below.
    let max_reply = max_value.saturating_mul(2).saturating_add(ENVELOPE_BYTES);
    let connect = || connect(cloud, connector);
    let invocation =
        invoke::exchange_with_retry(&backends.cloud.pool, function.get(), request, start, max_reply, connect);
    let (request, outcome) = match monoio::time::timeout(timeout, invocation).await {
        Ok(done) => done,
        Err(_) => return Err(GatewayError::BackendTimeout), // the buffer went with the invocation
    };
    buffers.scratch = request;
    let (connection, reply) = outcome?;
    let answer = reply::parse(reply.body(&connection));
    let result = match answer {
        Ok(InvokeAnswer::Value(value)) => match decode(value, max_value, &mut buffers.request) {
            Ok(()) => Ok(use_value(&buffers.request)),
            Err(error) => Err(error),
        },
        Ok(InvokeAnswer::FunctionFailed { code: TIME_LIMIT_REACHED, .. }) => Err(GatewayError::BackendTimeout),
        Ok(InvokeAnswer::FunctionFailed { message, .. }) => {
            let _ = decode(message, max_value, &mut buffers.request);
            Err(GatewayError::FunctionError(String::from_utf8_lossy(&buffers.request).into_owned()))
        }
        Ok(InvokeAnswer::Refused { code, message }) => Err(refused(settings, cloud, code, message)),
        Err(_) => {
            tracing::warn!(
                function = %settings.display_name(),
                endpoint = %cloud.endpoint,
                status = reply.status,
                "Tencent Cloud's answer is not an Invoke response"
            );
            Err(GatewayError::BackendUnreachable(BackendCause::Unusable("not an Invoke response")))
        }
    };
    invoke::release(&backends.cloud.pool, function.get(), connection, &reply);
    result
}

/// Opens a TLS connection to the endpoint, checking its certificate against `ca_file`.
async fn connect(
    cloud: &TencentCloudFunction,
    connector: &TlsConnector,
) -> Result<BackendConnection<CloudStream>, GatewayError> {
    let stream = TcpStream::connect_addr(cloud.addr)
        .await
        .map_err(|error| GatewayError::BackendUnreachable(BackendCause::Connect(error.kind())))?;
    let _ = stream.set_nodelay(true);
    let socket = stream.as_raw_fd();
    match connector.connect(cloud.server_name.clone(), stream).await {
        // Watched while idle through its socket: a TLS record (or a close) arriving between
        // calls is not the answer to the next one.
        Ok(stream) => Ok(BackendConnection::new(stream).with_socket(socket)),
        Err(error) => {
            tracing::warn!(endpoint = %cloud.endpoint, %error, "TLS handshake with Tencent Cloud's API failed");
            Err(GatewayError::BackendUnreachable(BackendCause::Tls))
        }
    }
}

/// The API's refusal as the client's error: a code that names a timeout is one (504); anything
/// else (credentials, unknown function, bad parameters, limits) is 502, named for the operator
/// in the log and, with the function, in the body.
fn refused(
    settings: &Function,
    cloud: &TencentCloudFunction,
    code: RawString<'_>,
    message: RawString<'_>,
) -> GatewayError {
    let text = |raw: RawString<'_>| {
        let mut out = Vec::new();
        let _ = unescape_with(raw, |bytes| out.extend_from_slice(bytes));
        String::from_utf8_lossy(&out).into_owned()
    };
    let (code, message) = (text(code), text(message));
    let function = settings.display_name();
    tracing::warn!(%function, region = %cloud.region, %code, %message, "Tencent Cloud refused to invoke the function");
    if code.contains("Timeout") || code.contains("TimeLimit") {
        return GatewayError::BackendTimeout;
    }
    GatewayError::CloudRefused(format!("function `{function}` in {}: {code}: {message}", cloud.region).into_boxed_str())
}

/// Decodes a JSON string's text into `out` (cleared), refusing more than `max` bytes.
fn decode(raw: RawString<'_>, max: usize, out: &mut Vec<u8>) -> Result<(), GatewayError> {
    out.clear();
    // The escaped text is never shorter than what it decodes to.
    if raw.raw.len() > max && !raw.escaped {
        return Err(GatewayError::ResponseTooLarge);
    }
    unescape_with(raw, |bytes| out.extend_from_slice(bytes))
        .map_err(|_| GatewayError::BackendUnreachable(BackendCause::Unusable("a string that does not unescape")))?;
    if out.len() > max {
        return Err(GatewayError::ResponseTooLarge);
    }
    Ok(())
}

/// Writes the whole `Invoke` request into `buffers.scratch` and returns where it starts: the JSON
/// body wrapping the event from `buffers.request[HEADROOM..]` as `ClientContext`, and before it the
/// signed head. `buffers.request` is used as scratch for the head and is left holding it.
fn frame_request(
    buffers: &mut CallBuffers,
    function: &Function,
    cloud: &TencentCloudFunction,
    timestamp: u64,
) -> usize {
    let CallBuffers { request: event_buffer, scratch: wire } = buffers;
    let credentials = &cloud.credentials;
    // Enough for the head's fixed text and numbers; a larger head still works (see below).
    let headroom = 512
        + cloud.host.len()
        + cloud.region.len()
        + credentials.secret_id().len()
        + credentials.token().map_or(0, str::len);
    wire.clear();
    wire.resize(headroom, 0);
    write_invoke_body(wire, function, &event_buffer[HEADROOM..]);

    let head = event_buffer;
    let input = SigningInput {
        service: SERVICE,
        host: &cloud.host,
        action: Some(ACTION),
        timestamp,
        payload: &wire[headroom..],
    };
    let signature = sign::sign(credentials.tc3_secret_key(), &input, head);
    head.clear();
    let mut length_digits = itoa_buffer();
    let mut timestamp_digits = itoa_buffer();
    for part in [
        b"POST / HTTP/1.1\r\nhost: ".as_slice(),
        cloud.host.as_bytes(),
        b"\r\ncontent-type: ",
        sign::CONTENT_TYPE.as_bytes(),
        b"\r\ncontent-length: ",
        format_u64(input.payload.len() as u64, &mut length_digits),
        b"\r\nx-tc-action: ",
        ACTION.as_bytes(),
        b"\r\nx-tc-version: ",
        API_VERSION.as_bytes(),
        b"\r\nx-tc-timestamp: ",
        format_u64(timestamp, &mut timestamp_digits),
        b"\r\nx-tc-region: ",
        cloud.region.as_bytes(),
        b"\r\n",
    ] {
        head.extend_from_slice(part);
    }
    if let Some(token) = credentials.token() {
        head.extend_from_slice(b"x-tc-token: ");
        head.extend_from_slice(token.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"authorization: ");
    sign::write_authorization_value(credentials.secret_id(), &input, &signature, head);
    head.extend_from_slice(b"\r\n\r\n");
    if head.len() <= headroom {
        wire[headroom - head.len()..headroom].copy_from_slice(head);
        headroom - head.len()
    } else {
        wire.splice(..headroom, head.iter().copied());
        0
    }
}

/// The `Invoke` parameters: a synchronous call (`RequestResponse`) of the function's namespace,
/// name and qualifier, with the event as the `ClientContext` string (SCF hands it to the function
/// as its event) and no log tail.
fn write_invoke_body(out: &mut Vec<u8>, function: &Function, event: &[u8]) {
    out.extend_from_slice(b"{\"FunctionName\":\"");
    write_string_contents(out, function.name.as_bytes());
    out.extend_from_slice(b"\",\"Namespace\":\"");
    write_string_contents(out, function.namespace.as_bytes());
    out.extend_from_slice(b"\",\"Qualifier\":\"");
    write_string_contents(out, function.qualifier.as_bytes());
    out.extend_from_slice(b"\",\"InvocationType\":\"RequestResponse\",\"ClientContext\":\"");
    write_string_contents(out, event);
    out.extend_from_slice(b"\",\"LogType\":\"None\"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tencentcloud::Credentials;

    fn cloud(token: Option<&str>) -> TencentCloudFunction {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        TencentCloudFunction {
            region: "ap-guangzhou".into(),
            endpoint: "https://scf.tencentcloudapi.com".into(),
            host: "scf.tencentcloudapi.com".into(),
            server_name: rustls_pki_types::ServerName::try_from("scf.tencentcloudapi.com").unwrap(),
            addr: "127.0.0.1:443".parse().unwrap(),
            credentials: Credentials::new("AKIDtest".into(), "secret", token.map(str::to_owned)),
            tls: Arc::new(tls),
        }
    }

    fn function() -> Function {
        let runtime = FunctionRuntime::TencentCloud(cloud(None));
        Function {
            namespace: "default".into(),
            name: "hello".into(),
            qualifier: "$LATEST".into(),
            memory_mb: 128,
            runtime,
        }
    }

    fn framed(cloud: &TencentCloudFunction, event: &[u8]) -> (String, serde_json::Value) {
        let mut buffers = CallBuffers::new();
        buffers.request.resize(HEADROOM, 0);
        buffers.request.extend_from_slice(event);
        let start = frame_request(&mut buffers, &function(), cloud, 1_551_113_065);
        let wire = String::from_utf8(buffers.scratch[start..].to_vec()).unwrap();
        let (head, body) = wire.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn the_request_is_a_signed_invoke_of_the_event() {
        let event = br#"{"path":"/hello","httpMethod":"GET","body":"say \"hi\"\n"}"#;
        let (head, body) = framed(&cloud(None), event);
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("POST / HTTP/1.1"));
        let headers: Vec<&str> = lines.collect();
        let length = serde_json::to_vec(&body).unwrap().len();
        assert_eq!(headers.len(), 8, "{headers:?}");
        assert_eq!(
            &headers[..7],
            [
                "host: scf.tencentcloudapi.com",
                "content-type: application/json; charset=utf-8",
                &format!("content-length: {length}"),
                "x-tc-action: Invoke",
                "x-tc-version: 2018-04-16",
                "x-tc-timestamp: 1551113065",
                "x-tc-region: ap-guangzhou",
            ]
        );
        assert!(
            headers[7].starts_with("authorization: TC3-HMAC-SHA256 Credential=AKIDtest/2019-02-25/scf/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature="),
            "{}",
            headers[7]
        );
        assert_eq!(body["FunctionName"], "hello");
        assert_eq!(body["Namespace"], "default");
        assert_eq!(body["Qualifier"], "$LATEST");
        assert_eq!(body["InvocationType"], "RequestResponse");
        assert_eq!(body["LogType"], "None");
        // ClientContext is the event, byte for byte, as a JSON string.
        assert_eq!(body["ClientContext"].as_str().unwrap().as_bytes(), event);
    }

    #[test]
    fn a_temporary_credential_sends_its_token_even_when_the_head_outgrows_its_room() {
        let token = "t".repeat(2000);
        let (head, body) = framed(&cloud(Some(&token)), b"{}");
        assert!(head.contains(&format!("\r\nx-tc-token: {token}\r\n")));
        assert_eq!(body["ClientContext"], "{}");
    }

    #[test]
    fn decoding_holds_the_value_to_the_limit() {
        let mut out = Vec::new();
        let raw = |raw: &'static [u8]| RawString { raw, escaped: raw.contains(&b'\\') };
        assert_eq!(decode(raw(br#"{\"a\":1}"#), 7, &mut out), Ok(()));
        assert_eq!(out, br#"{"a":1}"#);
        assert_eq!(decode(raw(br#"{\"a\":12}"#), 7, &mut out), Err(GatewayError::ResponseTooLarge));
        assert_eq!(decode(raw(b"12345678"), 7, &mut out), Err(GatewayError::ResponseTooLarge));
    }
}
