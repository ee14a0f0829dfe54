//! Frontend policies: what Tencent API Gateway checks before a request reaches the function, per
//! API, on the hot path. [`check`] runs them in a fixed order and records what the event and the
//! response need ([`PolicyState`]); it does not route, build the event or write responses other
//! than a CORS preflight's ([`cors::write_preflight`]).
//!
//! Order (spec `tencent-apigw-scf.md` §2-§4; where Tencent does not document it, the order of
//! its Kong-derived plugin chain): CORS headers are decided first, so that every later refusal
//! carries them; a preflight is answered at once; then the protocol (426), authentication (key
//! pair or OAuth, 401/403), usage-plan limits (429) and finally the declared parameters (403/400),
//! so that an unauthenticated caller learns nothing about the API's parameters.
//!
//! Nothing here takes a lock or touches memory another worker writes: keys were decoded at load
//! ([`crate::config`]), and the rate limiter and the verified-token cache are this worker's own
//! ([`WorkerPolicy`]). A request that passes allocates nothing once its connection's buffers have
//! grown (`tests/policy_allocations.rs`); refusals may (their error names the param or algorithm),
//! and so does the first verification of a JWT (inside `ring`).

pub mod cors;
pub mod key_pair;
pub mod oauth;
pub mod params;
pub mod rate_limit;

use std::cell::RefCell;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::backend::event::{Identity, PolicyFields};
use crate::config::{Api, ApiIndex, Auth, Config, PlanIndex, SecretIndex, Stage};
use crate::error::GatewayError;
use crate::http::RequestHead;
use crate::route::PathParams;
use params::ParamValue;
use rate_limit::Limiter;

/// The request as the policies see it: spans resolved against `buffer`.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The buffer the head's spans point into.
    pub buffer: &'a [u8],
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The API part of the request path (after `/{stage}`), where `captures` point.
    pub path: &'a [u8],
    /// The route's `{param}` captures.
    pub captures: &'a PathParams,
    /// Whether the request came over HTTPS (always false until HTTPS listeners exist).
    pub https: bool,
}

impl<'a> Request<'a> {
    /// Every value of the header `name` (ASCII case-insensitive), in order.
    pub fn header_values(&self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        header_values(self.buffer, self.head, name)
    }

    /// The header's only value: `Ok(None)` when absent, `Err(Repeated)` when it appears more than
    /// once.
    pub fn single_header(&self, name: &'a [u8]) -> Result<Option<&'a [u8]>, Repeated> {
        let mut values = self.header_values(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(Repeated),
            None => Ok(first),
        }
    }

    /// The header's first value.
    pub fn header(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

/// A header that must appear once appeared more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// Every value of the header `name` (ASCII case-insensitive) of `head`, in order.
pub fn header_values<'a>(
    buffer: &'a [u8],
    head: &'a RequestHead,
    name: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> + 'a {
    head.headers
        .iter()
        .filter(move |field| field.name.of_buffer(buffer).eq_ignore_ascii_case(name))
        .map(move |field| field.value.of_buffer(buffer))
}

/// What the request was identified as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `auth = "none"`.
    Anonymous,
    /// A verified key pair.
    Secret(SecretIndex),
    /// A verified JWT; its claims are in [`PolicyState::claims`].
    Token,
}

/// Per-connection policy results, reused from request to request (the vectors keep their
/// capacity, so a steady connection allocates nothing here).
#[derive(Debug)]
pub struct PolicyState {
    /// Header lines (`name: value\r\n`) for the response, whatever it is: CORS and usage-plan
    /// headers. Cleared before each request.
    pub headers: Vec<u8>,
    /// The gateway answers CORS for this API: the function's own `Access-Control-*` headers are
    /// dropped so that none is sent twice.
    pub owns_cors: bool,
    /// Who the caller is.
    pub caller: Caller,
    /// The verified JWT's claims (a JSON object), for `requestContext.identity`.
    pub claims: Vec<u8>,
    /// One value per declared param of the API, in declaration order.
    pub values: Vec<ParamValue>,
    /// Decoding scratch (base64, percent-decoding).
    pub scratch: Vec<u8>,
}

impl Default for PolicyState {
    fn default() -> Self {
        PolicyState {
            headers: Vec::new(),
            owns_cors: false,
            caller: Caller::Anonymous,
            claims: Vec::new(),
            values: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

impl PolicyState {
    /// Forgets the previous request.
    pub fn clear(&mut self) {
        self.headers.clear();
        self.owns_cors = false;
        self.caller = Caller::Anonymous;
        self.values.clear();
    }

    /// What the event gets from the policies of `api`.
    pub fn event_fields<'a>(&'a self, config: &'a Config, api: &'a Api) -> PolicyFields<'a> {
        let identity = match self.caller {
            Caller::Anonymous => Identity::Anonymous,
            Caller::Secret(secret) => Identity::SecretId(config.secrets[secret].id.as_bytes()),
            Caller::Token => Identity::Claims(&self.claims),
        };
        PolicyFields { identity, params: &api.policy.params, values: &self.values }
    }
}

/// What the caller does after a successful [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Build the event and call the function.
    Proceed,
    /// A CORS preflight: answer it with [`cors::write_preflight`]; the function is not called.
    Preflight,
}

/// What [`check`] needs to know about the matched API.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The whole configuration (keys, plans).
    pub config: &'a Config,
    /// The matched API.
    pub api: ApiIndex,
    /// The stage the request addressed.
    pub stage: Stage,
}

/// One worker's own policy state, behind a `RefCell` in its context: its share of every usage
/// plan's limits and the OAuth tokens it has verified. Never shared with another worker.
#[derive(Debug)]
pub struct WorkerPolicy {
    /// Usage-plan rate and quota shares.
    pub limiter: Limiter,
    /// Verified JWTs.
    pub tokens: oauth::TokenCache,
}

impl WorkerPolicy {
    /// Worker `worker`'s (of `workers`) state for `config`.
    pub fn new(
        config: &Config,
        worker: usize,
        workers: usize,
        link: Option<&std::rc::Rc<crate::shared_limits::Link>>,
    ) -> WorkerPolicy {
        WorkerPolicy { limiter: Limiter::new(config, worker, workers, link), tokens: oauth::TokenCache::default() }
    }
}

/// Where a CORS preflight may be routed: `Some(requested method)` when the request is `OPTIONS`
/// with `Origin` and `Access-Control-Request-Method` (Fetch standard §3.2.2), `None` otherwise.
/// The caller routes a preflight with the requested method, so it reaches the API that will serve
/// the real request even though no API declares `OPTIONS`.
pub fn preflight_method<'a>(buffer: &'a [u8], head: &'a RequestHead) -> Option<&'a [u8]> {
    if head.method.of_buffer(buffer) != b"OPTIONS" {
        return None;
    }
    header_values(buffer, head, b"origin").next()?;
    header_values(buffer, head, b"access-control-request-method").next().filter(|method| !method.is_empty())
}

/// Runs the API's policies for one request. `preflight`: the caller routed a CORS preflight here
/// (see [`preflight_method`]). On error, `state.headers` still holds the headers every response
/// of this API carries.
pub fn check(
    target: Target<'_>,
    request: &Request<'_>,
    worker: &RefCell<WorkerPolicy>,
    state: &mut PolicyState,
    preflight: bool,
) -> Result<Checked, GatewayError> {
    let Target { config, api: api_id, stage } = target;
    let api = &config.apis[api_id];
    let policy = &api.policy;
    if let Some(cors) = &policy.cors {
        cors::write_headers(&mut state.headers, cors, request, preflight);
        state.owns_cors = true;
        if preflight {
            return Ok(Checked::Preflight);
        }
    }
    if !policy.protocol.allows(request.https) {
        return Err(GatewayError::ProtocolNotAllowed { https: request.https });
    }

    // Usage plans bound to this service stage.
    let bound = &config.services[api.service].usage_plans[stage.index()];
    let mut key_plan: Option<(PlanIndex, usize)> = None;
    match &policy.auth {
        Auth::None => {}
        Auth::KeyPair => {
            let granted =
                key_pair::authenticate(config, bound, request, unix_seconds()).map_err(GatewayError::KeyPair)?;
            state.caller = Caller::Secret(granted.secret);
            key_plan = Some((granted.plan, granted.key));
        }
        Auth::OAuth(settings) => {
            let cache = &mut worker.borrow_mut().tokens;
            oauth::authenticate(
                settings,
                api_id,
                request,
                unix_seconds(),
                cache,
                &mut state.scratch,
                &mut state.claims,
            )
            .map_err(GatewayError::OAuth)?;
            state.caller = Caller::Token;
        }
    }

    let stage_wide = |&&plan: &&PlanIndex| config.usage_plans[plan].secrets.is_empty();
    if key_plan.is_some() || bound.iter().any(|plan| stage_wide(&plan)) {
        let limiter = &mut worker.borrow_mut().limiter;
        let (now, wall) = (Instant::now(), unix_seconds());
        let day = wall.max(0) as u64 / 86_400;
        // The key's plan first, then every plan that limits the whole stage. The first plan that
        // sets a limit names it in the response headers.
        let mut announced = false;
        for (plan, key) in key_plan.into_iter().chain(bound.iter().filter(stage_wide).map(|&plan| (plan, 0))) {
            let usage_plan = &config.usage_plans[plan];
            if !announced && (usage_plan.max_requests_per_second.is_some() || usage_plan.quota_per_day.is_some()) {
                rate_limit::write_headers(&mut state.headers, usage_plan);
                announced = true;
            }
            limiter.admit(plan, key, now, wall.max(0) as u64, day).map_err(|exceeded| {
                rate_limit::write_retry_after(&mut state.headers, exceeded, wall);
                exceeded.error()
            })?;
        }
    }

    params::check(&policy.params, request, &mut state.scratch, &mut state.values)?;
    Ok(Checked::Proceed)
}

/// Test requests may leave out `Host`; HTTP/1.1 requires it (RFC 9112 §3.2).
#[cfg(test)]
pub(crate) fn with_host(raw: &str) -> String {
    if raw.to_ascii_lowercase().contains("\r\nhost:") {
        raw.to_owned()
    } else {
        raw.replacen("\r\n", "\r\nHost: h\r\n", 1)
    }
}

/// Wall-clock seconds since the Unix epoch (for `X-Date`, JWT `exp`/`nbf` and quota days).
fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
