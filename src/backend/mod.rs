//! The SCF side of a request: build the event, invoke the function over a pooled connection, and
//! map its reply onto the client's response (pass-through or integrated); or, for a web function,
//! proxy the request itself to it ([`web_proxy`]).

pub mod backends;
pub mod event;
pub mod function_url;
pub mod idle_watch;
pub mod integration;
pub mod invoke;
pub mod json;
pub mod json_scan;
pub mod pool;
pub mod tencentcloud;
pub mod web_proxy;

use std::time::Duration;

use crate::config::{FunctionIndex, FunctionRuntime};
use crate::error::{BackendCause, GatewayError};
pub use backends::Backends;
use integration::{ResponseFraming, ResponseRules};
use invoke::{FailureKind, HEADROOM};

/// Reused buffers for backend calls, used by one client connection while it serves a request
/// (between requests they are back in the worker's `crate::buffer_pool`).
pub struct CallBuffers {
    /// The outgoing request (head in the headroom, then the event).
    pub request: Vec<u8>,
    /// Percent-decoding scratch.
    pub scratch: Vec<u8>,
}

impl CallBuffers {
    /// Buffers sized for typical events.
    pub fn new() -> Self {
        CallBuffers { request: Vec::with_capacity(HEADROOM + 4096), scratch: Vec::new() }
    }

    /// Buffers without capacity (allocates nothing).
    pub const fn empty() -> Self {
        CallBuffers { request: Vec::new(), scratch: Vec::new() }
    }
}

impl Default for CallBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What the caller knows about the API being called.
pub struct CallTarget {
    /// The function (also its endpoint's and pool's index).
    pub function: FunctionIndex,
    /// The API's backend timeout.
    pub timeout: Duration,
    /// How the function's value becomes the response.
    pub response: ResponseMode,
}

/// How a function's value becomes the HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// The value is the JSON body of a 200 (`integrated_response = false`).
    PassThrough,
    /// The value is `{statusCode, headers, body, isBase64Encoded}` (`integrated_response = true`).
    Integrated,
    /// A Function URL's: integrated when the value has a `statusCode`, else pass-through.
    Inferred,
}

/// Invokes the function with the event already written at `buffers.request[HEADROOM..]` and
/// appends the mapped response, with the gateway's `extra` header lines, to `out`.
pub async fn call(
    backends: &Backends,
    target: &CallTarget,
    buffers: &mut CallBuffers,
    framing: ResponseFraming<'_>,
    extra: ResponseRules<'_>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let mode = target.response;
    let map = |value: &[u8]| {
        let integrated = match mode {
            ResponseMode::PassThrough => false,
            ResponseMode::Integrated => true,
            ResponseMode::Inferred => function_url::is_integrated(value),
        };
        if integrated {
            integration::write_integrated_with(value, framing, extra, out)
        } else {
            integration::write_passthrough_with(value, framing, extra, out)
        }
    };
    invoke_value(backends, target.function, target.timeout, buffers, framing.request_id, map).await?
}

/// Invokes `function` with the event already written at `buffers.request[HEADROOM..]` and hands
/// its value (a 2xx reply's body) to `use_value`. For callers that read the value themselves
/// rather than turn it into an HTTP response: the WebSocket register, transport and cleanup
/// functions (`crate::websocket`). Failures map as in [`call`].
pub async fn invoke_value<R>(
    backends: &Backends,
    function: FunctionIndex,
    timeout: Duration,
    buffers: &mut CallBuffers,
    request_id: &[u8],
    use_value: impl FnOnce(&[u8]) -> R,
) -> Result<R, GatewayError> {
    if let FunctionRuntime::TencentCloud(cloud) = &backends.config().functions[function].runtime {
        // Boxed: the TLS client's state is large, and inline it would grow every client
        // connection's task, idle ones included, by its size.
        return Box::pin(tencentcloud::invoke_value(backends, function, cloud, timeout, buffers, use_value)).await;
    }
    let endpoint = backends.endpoint(function);
    let start = invoke::frame_request(&mut buffers.request, endpoint, request_id, timeout.as_millis() as u64);
    let request = std::mem::take(&mut buffers.request);
    let max_reply = backends.config().gateway.max_response_bytes;
    let invocation = invoke::invoke(&backends.pool, function.get(), endpoint, request, start, max_reply);
    let (request, outcome) = match monoio::time::timeout(timeout, invocation).await {
        Ok(done) => done,
        Err(_) => {
            // The request buffer went down with the cancelled invocation.
            buffers.request = Vec::with_capacity(HEADROOM + 4096);
            return Err(GatewayError::BackendTimeout);
        }
    };
    buffers.request = request;
    let (connection, reply) = outcome?;
    let body = reply.body(&connection);
    let result = match reply.failure {
        Some(FailureKind::FunctionError) => {
            Err(GatewayError::FunctionError(String::from_utf8_lossy(body).into_owned()))
        }
        Some(FailureKind::Crashed) => Err(GatewayError::FunctionCrashed(String::from_utf8_lossy(body).into_owned())),
        Some(FailureKind::Busy) => Err(GatewayError::FunctionBusy),
        Some(FailureKind::TimedOut) => Err(GatewayError::BackendTimeout),
        None if !(200..300).contains(&reply.status) => {
            Err(GatewayError::BackendUnreachable(BackendCause::Status(reply.status)))
        }
        None => Ok(use_value(body)),
    };
    invoke::release(&backends.pool, function.get(), connection, &reply);
    result
}
