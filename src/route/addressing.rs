//! Request addressing, before path matching: which services answer for the `Host`, and which stage
//! the first path segment names (`/{stage}{api path}`, Tencent's default-domain form). Each
//! (host group, stage) pair has its own compiled [`RouteTable`].
//!
//! Services without `hosts` answer on every host; a service with `hosts` answers on those hosts
//! only (beside the host-less ones). A custom domain (`[[service.domain]]`) is served by its own
//! service only: with Tencent's default mapping as `/{stage}{api path}`, with custom path mappings
//! by the longest mapping prefix that holds the path, which names the stage and is not part of the
//! API path (`/{stage}` then addresses nothing on that domain).

use std::collections::HashMap;

use super::{Lookup, PathParams, RouteError, RouteSpec, RouteTable};
use crate::config::{ApiIndex, Config, ServiceIndex, Stage};
use crate::error::{AllowedMethods, GatewayError};

/// What serves a request to an API once its policies have passed, decided once per API when
/// the router is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An API Gateway event to the API's function (a custom or standard runtime, a remote
    /// endpoint, SCF in the cloud): the body is read whole first.
    Event,
    /// A web function: proxied from the request head, the body streamed through.
    Web,
    /// A WebSocket API: the upgrade, then frames both ways.
    WebSocket,
}

impl Target {
    fn of(config: &Config, api: ApiIndex) -> Target {
        let api = &config.apis[api];
        if api.websocket.is_some() {
            Target::WebSocket
        } else if config.functions[api.function].is_web() {
            Target::Web
        } else {
            Target::Event
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The matched API.
    pub api: ApiIndex,
    /// What serves it.
    pub target: Target,
    /// The stage named by the path.
    pub stage: Stage,
    /// Where the API path starts in the request path (after `/{stage}`, or a mapping prefix).
    pub api_path_start: usize,
    /// The host is a custom domain with `force_https`: plain HTTP gets a redirect.
    pub https_only: bool,
}

/// The routes of one group of services that answer on the same hosts.
struct Site {
    stages: [Option<RouteTable>; 3],
    /// A custom domain's path mappings, longest prefix first; empty: `/{stage}` addressing.
    mappings: Vec<(Box<[u8]>, Stage)>,
    /// A custom domain with `force_https`.
    https_only: bool,
}

/// All routing state, compiled once from the configuration.
pub struct Router {
    by_host: HashMap<Box<[u8]>, usize>,
    any_host: Option<usize>,
    sites: Vec<Site>,
    /// Each API's target, by `ApiIndex`.
    targets: Box<[Target]>,
}

/// Two APIs of services answering on the same host and stage that collide.
#[derive(Debug)]
pub struct RouterError(pub String);

impl Router {
    /// Compiles the route tables for every host group and stage.
    pub fn build(config: &Config) -> Result<Router, RouterError> {
        // A Function URL's service answers on its own host only.
        let host_less: Vec<ServiceIndex> = ServiceIndex::enumerate(&config.services)
            .filter(|(_, service)| service.hosts.is_empty() && !service.function_url)
            .map(|(index, _)| index)
            .collect();
        let mut hosts: Vec<&str> =
            config.services.iter().flat_map(|service| service.hosts.iter().map(String::as_str)).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let mut sites = Vec::new();
        let mut by_host = HashMap::new();
        // Custom domains: the declaring service (every table sharing its id) and nothing else.
        for (index, service) in ServiceIndex::enumerate(&config.services) {
            for domain in &service.domains {
                if by_host.contains_key(domain.host.as_bytes()) {
                    continue; // another table of the same service id, same mappings (validated)
                }
                let services: Vec<ServiceIndex> = ServiceIndex::enumerate(&config.services)
                    .filter(|(_, other)| other.id == service.id)
                    .map(|(other, _)| other)
                    .collect();
                debug_assert!(services.contains(&index));
                let mut site = Site::build(config, &services)?;
                site.mappings =
                    domain.mappings.iter().map(|mapping| (mapping.prefix.as_bytes().into(), mapping.stage)).collect();
                site.https_only = domain.force_https;
                by_host.insert(domain.host.as_bytes().into(), sites.len());
                sites.push(site);
            }
        }
        for host in hosts {
            let mut services: Vec<ServiceIndex> = ServiceIndex::enumerate(&config.services)
                .filter(|(_, service)| service.hosts.iter().any(|name| name == host))
                .map(|(index, _)| index)
                .collect();
            services.extend(&host_less);
            by_host.insert(host.as_bytes().into(), sites.len());
            sites.push(Site::build(config, &services)?);
        }
        let any_host = if host_less.is_empty() {
            None
        } else {
            sites.push(Site::build(config, &host_less)?);
            Some(sites.len() - 1)
        };
        let targets = ApiIndex::all(config.apis.len()).map(|api| Target::of(config, api)).collect();
        Ok(Router { by_host, any_host, sites, targets })
    }

    /// Resolves a request to an API. `host` is the Host header value (port allowed), `path` the
    /// request path without the query. Fills `params` with ranges into `path[api_path_start..]`.
    pub fn resolve(
        &self,
        host: &[u8],
        method: &[u8],
        path: &[u8],
        params: &mut PathParams,
    ) -> Result<Resolved, GatewayError> {
        let site = self.site_for(host).ok_or(GatewayError::UnknownHost)?;
        let (stage, stage_end) = if site.mappings.is_empty() {
            let stage_end = path[1..].iter().position(|&byte| byte == b'/').map_or(path.len(), |slash| slash + 1);
            (Stage::from_bytes(&path[1..stage_end]).ok_or(GatewayError::UnknownStage)?, stage_end)
        } else {
            site.mappings
                .iter()
                .find_map(|(prefix, stage)| mapped_length(path, prefix).map(|length| (*stage, length)))
                .ok_or(GatewayError::UnknownMapping)?
        };
        let unknown = if site.mappings.is_empty() { GatewayError::UnknownStage } else { GatewayError::UnknownMapping };
        let table = site.stages[stage.index()].as_ref().ok_or(unknown)?;
        // `/release` alone addresses the API path `/`.
        let api_path: &[u8] = if stage_end == path.len() { b"/" } else { &path[stage_end..] };
        params.clear();
        match table.lookup(method, api_path, params) {
            Lookup::Found(api) => Ok(Resolved {
                api,
                target: self.targets[api.get()],
                stage,
                api_path_start: stage_end,
                https_only: site.https_only,
            }),
            Lookup::MethodNotAllowed => {
                // The error path only: one lookup per method an API can declare, so the trie keeps
                // no per-node method sets for the sake of 405s.
                let mut allowed = AllowedMethods::default();
                let mut scratch = PathParams::default();
                for (index, method) in AllowedMethods::METHODS.iter().enumerate() {
                    if matches!(table.lookup(method, api_path, &mut scratch), Lookup::Found(_)) {
                        allowed.insert(index);
                    }
                }
                params.clear();
                Err(GatewayError::MethodNotAllowed(allowed))
            }
            Lookup::NotFound => Err(GatewayError::NoRoute),
        }
    }

    fn site_for(&self, host: &[u8]) -> Option<&Site> {
        if !self.by_host.is_empty() {
            let name = strip_port(host);
            let mut lowered = [0u8; 255];
            if name.len() <= lowered.len() {
                let lowered = &mut lowered[..name.len()];
                lowered.copy_from_slice(name);
                lowered.make_ascii_lowercase();
                if let Some(&site) = self.by_host.get(&*lowered) {
                    return Some(&self.sites[site]);
                }
            }
        }
        self.any_host.map(|site| &self.sites[site])
    }
}

/// How much of `path` a mapping `prefix` takes: all of `/` takes nothing (the whole path is the
/// API path); `/beta` takes `/beta` from `/beta` and `/beta/x`, and does not hold `/betax`.
fn mapped_length(path: &[u8], prefix: &[u8]) -> Option<usize> {
    if prefix == b"/" {
        return Some(0);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest[0] == b'/').then_some(prefix.len())
}

/// `example.com:8080` -> `example.com`; `[::1]:8080` -> `[::1]`.
pub(crate) fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match memchr::memchr(b']', host) {
            Some(close) => &host[..=close],
            None => host,
        };
    }
    match memchr::memrchr(b':', host) {
        Some(colon) => &host[..colon],
        None => host,
    }
}

impl Site {
    fn build(config: &Config, services: &[ServiceIndex]) -> Result<Site, RouterError> {
        let mut stages: [Option<RouteTable>; 3] = [None, None, None];
        for stage in Stage::ALL {
            let routes: Vec<RouteSpec<'_>> = ApiIndex::enumerate(&config.apis)
                .filter(|(_, api)| {
                    services.contains(&api.service) && config.services[api.service].stages.contains(&stage)
                })
                .map(|(id, api)| RouteSpec { api: id, path: &api.path, method: api.method })
                .collect();
            if routes.is_empty() {
                continue;
            }
            let table = RouteTable::build(&routes).map_err(|error| RouterError(describe(config, error)))?;
            stages[stage.index()] = Some(table);
        }
        Ok(Site { stages, mappings: Vec::new(), https_only: false })
    }
}

fn describe(config: &Config, error: RouteError) -> String {
    let name = |id: ApiIndex| {
        let api = &config.apis[id];
        format!(
            "service `{}` api `{}` ({} {})",
            config.services[api.service].name,
            api.name,
            api.method.as_str(),
            api.path.path
        )
    };
    match error {
        RouteError::Conflict { api, with } => {
            let (service, other) = (config.apis[api].service, config.apis[with].service);
            let advice = if service == other {
                String::new()
            } else {
                // Two services on one host: each must be told apart by the host it answers.
                format!(
                    "; give service `{}` or `{}` its own `hosts = [\"...\"]` or a `[[service.domain]]` so that \
                     each answers on a host of its own",
                    config.services[other].name, config.services[service].name
                )
            };
            format!(
                "{}: {} conflicts with {}: same path and method on the same host{advice}",
                config.source.display(),
                name(api),
                name(with)
            )
        }
        RouteError::TooManyParams { api } => {
            format!("{}: {}: too many path parameters", config.source.display(), name(api))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_prefixes_hold_whole_segments() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, Option<usize>)] = &[
            ("/x/y", "/", Some(0)),
            ("/", "/", Some(0)),
            ("/beta", "/beta", Some(5)),
            ("/beta/", "/beta", Some(5)),
            ("/beta/items", "/beta", Some(5)),
            ("/betamax", "/beta", None),
            ("/bet", "/beta", None),
            ("/v1/beta/x", "/v1/beta", Some(8)),
        ];
        for (path, prefix, expected) in cases {
            assert_eq!(mapped_length(path.as_bytes(), prefix.as_bytes()), *expected, "{path} under {prefix}");
        }
    }

    #[test]
    fn a_conflict_between_services_names_both_services() {
        // The earlier API is shop's third, so its position (2) is past the last service: the
        // message must look its service up through the API, not index services with it.
        let config = r#"
[[service]]
id = "service-shop"
name = "shop"

[[service.api]]
name = "a"
path = "/a"
method = "GET"
function = { name = "fn" }

[[service.api]]
name = "b"
path = "/b"
method = "GET"
function = { name = "fn" }

[[service.api]]
name = "items"
path = "/items"
method = "GET"
function = { name = "fn" }

[[service]]
id = "service-other"
name = "other"

[[service.api]]
name = "items"
path = "/items"
method = "GET"
function = { name = "fn" }

[[function]]
name = "fn"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;
        let source = std::path::Path::new("/nonexistent/scfgate.toml");
        let config = crate::config::validate::parse_str(config, source, &Default::default()).unwrap();
        let error = Router::build(&config).err().expect("the two `GET /items` conflict").0;
        assert!(
            error.ends_with(
                "give service `shop` or `other` its own `hosts = [\"...\"]` or a `[[service.domain]]` so that each \
                 answers on a host of its own"
            ),
            "{error}"
        );
    }

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port(b"example.com:8080"), b"example.com");
        assert_eq!(strip_port(b"example.com"), b"example.com");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
    }
}
