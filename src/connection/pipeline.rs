//! The request's pipeline once its head is read: route (once, from the head) -> the API's
//! policies -> its target, which [`Router`](crate::route::Router) decided when it was built: an
//! event to the function (`handle`, after the connection has read the body), a web function
//! proxied from the head with the body streaming through (`serve_web`), or a WebSocket upgrade.
//! The connection (`super`) owns framing, timeouts and buffers; this module owns what a request
//! becomes.

use std::rc::Rc;
use std::time::Instant;

use super::{ClientStream, Connection, Limits};
use crate::backend::event::{write_event_with, EventInput};
use crate::backend::integration::{ResponseFraming, ResponseRules};
use crate::backend::invoke::HEADROOM;
use crate::backend::{self, function_url, web_proxy, CallTarget, ResponseMode};
use crate::error::GatewayError;
use crate::http::trace::TraceId;
use crate::http::{response, BodyFraming};
use crate::policy::{self, cors, Checked};
use crate::route::{Resolved, Target};
use crate::websocket;
use crate::worker::{RequestId, Serving, WorkerContext};

impl<S: ClientStream> Connection<S> {
    /// Routes the request by its head; `true` with it for a CORS preflight to an API with CORS.
    pub(super) fn route(&mut self, serving: &Rc<Serving>) -> Result<(Resolved, bool), GatewayError> {
        let bytes = self.reader.request_bytes();
        let head = &self.head;
        let host = head.authority().map(|span| span.of_buffer(bytes)).unwrap_or_default();
        let method = head.method.of_buffer(bytes);
        let path = head.path.of_buffer(bytes);
        self.policy.clear();
        // A CORS preflight is routed with the method it asks about: no API declares OPTIONS, and
        // it must reach the API that will serve the real request. When that API has no CORS, the
        // OPTIONS request is routed as itself (an ANY API's function may answer it).
        let routed = match policy::preflight_method(bytes, head) {
            Some(requested) => match serving.router().resolve(host, requested, path, &mut self.params) {
                Ok(found) if serving.config().apis[found.api].policy.cors.is_some() => (found, true),
                _ => (serving.router().resolve(host, method, path, &mut self.params)?, false),
            },
            None => (serving.router().resolve(host, method, path, &mut self.params)?, false),
        };
        self.routed = Some((serving.clone(), routed.0.api, routed.0.stage));
        if routed.0.https_only && !self.https {
            return Err(GatewayError::HttpsRequired);
        }
        Ok(routed)
    }

    /// Serves a request routed to a web function's API: policies on the head, then the proxy
    /// (`backend::web_proxy`), which streams the body through. Whether the connection serves another
    /// request.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn serve_web(
        &mut self,
        worker: &WorkerContext,
        serving: &Rc<Serving>,
        resolved: Resolved,
        preflight: bool,
        settings: &Limits,
        request_id: &RequestId,
        started: Instant,
        access_log: bool,
    ) -> bool {
        let config = serving.config();
        let api = &config.apis[resolved.api];
        let function = &config.functions[api.function];
        let mut close = !self.head.keep_alive || worker.is_draining();
        // Refused before the function is called, the body is left unread: the connection closes
        // after the answer, since its next bytes would be that body.
        let unread_body = self.head.framing != BodyFraming::None;
        let response_start = self.out.len();
        let bytes = self.reader.request_bytes();
        let path = self.head.path.of_buffer(bytes);
        let request_path = &path[resolved.api_path_start..];
        let request_path: &[u8] = if request_path.is_empty() { b"/" } else { request_path };
        let view = policy::Request {
            buffer: bytes,
            head: &self.head,
            path: request_path,
            captures: &self.params,
            https: self.https,
        };
        let target = policy::Target { config, api: resolved.api, stage: resolved.stage };
        let mut relayed: Option<(u16, u64)> = None;
        match policy::check(target, &view, &serving.policy, &mut self.policy, preflight) {
            Err(error) => {
                close |= unread_body;
                self.write_error(&error, request_id, close);
            }
            Ok(Checked::Preflight) => {
                close |= unread_body;
                cors::write_preflight(&mut self.out, &self.policy.headers, request_id.as_bytes(), close);
            }
            Ok(Checked::Proceed) => {
                let trace = TraceId::of_request(bytes, &self.head, request_id.as_bytes());
                let exchange = web_proxy::Exchange {
                    backends: &serving.backends,
                    api,
                    function,
                    stream: &mut self.stream,
                    reader: &mut self.reader,
                    head: &self.head,
                    api_path_start: resolved.api_path_start,
                    request_id: request_id.as_bytes(),
                    trace_id: trace.as_bytes(),
                    source_ip: self.source_ip.as_bytes(),
                    https: self.https,
                    extra: ResponseRules {
                        lines: &self.policy.headers,
                        replaces_cors: self.policy.owns_cors,
                        status_conversions: &api.status_conversions,
                    },
                    out: &mut self.out,
                    staging: &mut self.buffers.request,
                    close,
                    draining: worker.draining_flag(),
                    send_timeout: settings.send_timeout,
                    max_body_bytes: settings.max_body_bytes,
                    idle_timeout: settings.idle_timeout,
                };
                let called = Instant::now();
                let outcome = web_proxy::proxy(exchange).await;
                self.function_time = Some(called.elapsed());
                match outcome {
                    web_proxy::Outcome::Relayed { status, bytes, keep_alive } => {
                        relayed = Some((status, bytes));
                        close |= !keep_alive;
                    }
                    web_proxy::Outcome::Failed { error, request_consumed } => {
                        close |= !request_consumed;
                        self.write_error(&error, request_id, close);
                    }
                    web_proxy::Outcome::Ended { status, bytes } => {
                        // The client left, the function failed mid-response, or a WebSocket
                        // relayed through has ended: nothing more can be said on this connection.
                        self.worker.requests_finished(self.unanswered);
                        self.unanswered = 0;
                        self.finish(request_id, if status == 0 { 499 } else { status }, bytes, started, access_log);
                        return false;
                    }
                }
            }
        }
        let (status, bytes) = relayed.unwrap_or_else(|| {
            (response::status_of(&self.out[response_start..]), (self.out.len() - response_start) as u64)
        });
        // The proxy wrote its response itself; an answer of the gateway's is still in `out`.
        if !self.flush().await {
            return false;
        }
        self.finish(request_id, status, bytes, started, access_log);
        if close {
            return false;
        }
        self.reader.finish_request();
        true
    }

    /// Runs the routed request's policies, then its target (an event to its function, or a
    /// WebSocket upgrade); the response (or nothing, on error) goes to `out`.
    pub(super) async fn handle(
        &mut self,
        worker: &WorkerContext,
        serving: &Rc<Serving>,
        (resolved, preflight): (Resolved, bool),
        request_id: &RequestId,
        close: bool,
    ) -> Result<(), GatewayError> {
        let bytes = self.reader.request_bytes();
        let head = &self.head;
        let path = head.path.of_buffer(bytes);
        let method = head.method.of_buffer(bytes);
        let config = serving.config();
        let api = &config.apis[resolved.api];
        let service = &config.services[api.service];
        let request_path = &path[resolved.api_path_start..];
        let request_path: &[u8] = if request_path.is_empty() { b"/" } else { request_path };

        // Phase 3b: the API's frontend policies; a preflight is answered here.
        let view =
            policy::Request { buffer: bytes, head, path: request_path, captures: &self.params, https: self.https };
        let target = policy::Target { config, api: resolved.api, stage: resolved.stage };
        if policy::check(target, &view, &serving.policy, &mut self.policy, preflight)? == Checked::Preflight {
            cors::write_preflight(&mut self.out, &self.policy.headers, request_id.as_bytes(), close);
            return Ok(());
        }

        let trace = TraceId::of_request(bytes, head, request_id.as_bytes());
        let buffers = &mut self.buffers;
        buffers.request.clear();
        buffers.request.resize(HEADROOM, 0);
        let input = EventInput {
            service_id: &service.id,
            api_path: &api.path.path,
            api_method: api.method.as_str(),
            qualifier: &api.qualifier,
            endpoint_timeout: api.timeout.as_millis().div_ceil(1000) as u64,
            request_id: request_id.as_bytes(),
            trace_id: trace.as_bytes(),
            source_ip: self.source_ip.as_bytes(),
            stage: resolved.stage.as_str(),
            buffer: bytes,
            head,
            body: self.reader.body(),
            base64_body: api.base64.encodes(|name| policy::header_values(bytes, head, name)),
            path: request_path,
            param_names: &api.path.params,
            params: &self.params,
            stage_variables: &service.stage_variables[resolved.stage.index()],
            scheme: if self.https { "https" } else { "http" },
        };
        if api.function_url {
            function_url::write_event(&mut buffers.request, &mut buffers.scratch, &input);
        } else {
            write_event_with(
                &mut buffers.request,
                &mut buffers.scratch,
                &input,
                &self.policy.event_fields(config, api),
            );
        }
        if resolved.target == Target::WebSocket {
            // A WebSocket API: the upgrade, then frames both ways until the connection ends.
            let pipelined = self.reader.pipelined();
            let upgrade = websocket::Upgrade {
                serving,
                api: resolved.api,
                buffer: bytes,
                head,
                pipelined,
                request_id: request_id.as_bytes(),
                extra_headers: &self.policy.headers,
            };
            // Boxed (one allocation per upgrade): the session's state is the largest of a
            // connection's, and inline it would grow every connection's task, idle ones
            // included, by its size (about 5.5 KB).
            Box::pin(websocket::serve(worker, upgrade, buffers, &mut self.stream, &mut self.out)).await?;
            self.upgraded = true;
            return Ok(());
        }
        let response = match (api.function_url, api.integrated_response) {
            (true, _) => ResponseMode::Inferred,
            (false, true) => ResponseMode::Integrated,
            (false, false) => ResponseMode::PassThrough,
        };
        let target = CallTarget { function: api.function, timeout: api.timeout, response };
        let head_only = method == b"HEAD";
        let framing = ResponseFraming { request_id: request_id.as_bytes(), close, head_only };
        let extra = ResponseRules {
            lines: &self.policy.headers,
            replaces_cors: self.policy.owns_cors,
            status_conversions: &api.status_conversions,
        };
        let called = Instant::now();
        let result = backend::call(&serving.backends, &target, buffers, framing, extra, &mut self.out).await;
        self.function_time = Some(called.elapsed());
        result
    }
}
