//! `[[function]] url = { ... }`: Function URLs (SCF 函数 URL; `shared/spec/tencent-migration.md`
//! §6). Each becomes a service of its own that answers only on the URL's host, with one API, `/`
//! for every method, whose path is the whole request path (a `/` path mapping on `release`). With
//! `auth = "key"`, a usage plan without limits binds the listed key pairs to it, so the key-pair
//! check (`crate::policy::key_pair`) serves it unchanged. The event and the response rule are
//! `crate::backend::function_url`'s.

use std::path::Path;
use std::time::Duration;

use super::api::DEFAULT_API_TIMEOUT_SECS;
use super::durations::API_TIMEOUT;
use super::function::FunctionKey;
use super::policy::cors_origins;
use super::service::normalize_host;
use super::{ConfigError, Site};
use crate::config::{
    file, Api, ApiMethod, ApiPath, ApiPolicy, Auth, Cors, CorsHeaders, Domain, Function, FunctionIndex, PathKind,
    PathMapping, PlanIndex, Secret, SecretIndex, Service, ServiceIndex, Stage, UsagePlan,
};

/// Everything the Function URLs are added to.
pub(super) struct Built<'a> {
    pub services: &'a mut Vec<Service>,
    pub apis: &'a mut Vec<Api>,
    pub usage_plans: &'a mut Vec<UsagePlan>,
}

/// Adds a service, an API and (for `auth = "key"`) a usage plan per Function URL. `urls[i]` is
/// the `url` of function `i`.
pub(super) fn add_function_urls(
    urls: Vec<Option<file::FunctionUrl>>,
    functions: &[(Function, FunctionKey)],
    secrets: &[Secret],
    built: Built<'_>,
    source: &Path,
) -> Result<(), ConfigError> {
    for (position, url) in urls.into_iter().enumerate() {
        let Some(url) = url else { continue };
        let (function, named) = (FunctionIndex::new(position), &functions[position].0);
        let site = Site::new(source, format!("function `{}`", named.display_name()));
        let Some(host) = url.host else {
            return Err(site.error("url.host", "required but missing; write `url = { host = \"fn.example.com\" }`"));
        };
        let host = normalize_host(&host).map_err(|message| site.error("url.host", message))?;
        check_host_is_free(&site, &host, built.services)?;
        let timeout = match url.timeout {
            Some(seconds) => site.duration("url.timeout", seconds, API_TIMEOUT)?,
            None => Duration::from_secs(DEFAULT_API_TIMEOUT_SECS),
        };
        // The function's full name keeps URL services apart (one id would merge their routes).
        let id = format!("url-{}", named.display_name());
        if let Some(other) = built.services.iter().find(|service| service.id == id) {
            return Err(site.error(
                "url",
                format!(
                    "service `{}` has the id `{id}` this Function URL's service needs; rename that service",
                    other.name
                ),
            ));
        }
        let service = ServiceIndex::new(built.services.len());
        let keys = match (url.auth.as_deref().unwrap_or("public"), url.keys) {
            ("public", None) => None,
            ("public", Some(_)) => return Err(site.error("url.keys", "only with auth = \"key\"")),
            ("key", None) => {
                return Err(site.error("url.keys", "required with auth = \"key\": the SecretIds of [[secret]] tables"))
            }
            ("key", Some(ids)) => Some(secret_indices(&site, ids, secrets)?),
            (other, _) => return Err(site.error("url.auth", format!("`{other}` is not one of public, key"))),
        };
        let auth = match keys {
            None => Auth::None,
            Some(keys) => {
                built.usage_plans.push(UsagePlan {
                    name: format!("function URL {host}"),
                    secrets: keys,
                    max_requests_per_second: None,
                    quota_per_day: None,
                    environments: vec![(service, Stage::Release)],
                });
                Auth::KeyPair
            }
        };
        let cors = url.cors.map(|cors| build_cors(&site, cors)).transpose()?;
        let mut usage_plans: [Vec<PlanIndex>; 3] = Default::default();
        if matches!(auth, Auth::KeyPair) {
            usage_plans[Stage::Release.index()].push(PlanIndex::new(built.usage_plans.len() - 1));
        }
        built.services.push(Service {
            id,
            name: format!("function URL {host}"),
            hosts: Vec::new(),
            stages: vec![Stage::Release],
            stage_variables: Default::default(),
            usage_plans,
            domains: vec![Domain {
                host,
                mappings: vec![PathMapping { prefix: "/".to_owned(), stage: Stage::Release }],
                force_https: false,
            }],
            function_url: true,
        });
        built.apis.push(Api {
            service,
            name: "function-url".to_owned(),
            path: ApiPath { kind: PathKind::Prefix, path: "/".to_owned(), params: Vec::new() },
            method: ApiMethod::Any,
            function,
            qualifier: named.qualifier.clone(),
            timeout,
            integrated_response: false,
            base64: Default::default(),
            function_url: true,
            policy: ApiPolicy { auth, cors, ..ApiPolicy::default() },
            websocket: None,
            status_conversions: Box::default(),
        });
    }
    Ok(())
}

/// A URL's host is its own: no service lists it in `hosts` or binds it as a domain, and no other
/// Function URL has it.
fn check_host_is_free(site: &Site, host: &str, services: &[Service]) -> Result<(), ConfigError> {
    for service in services {
        let taken =
            service.hosts.iter().any(|other| other == host) || service.domains.iter().any(|domain| domain.host == host);
        if taken {
            let owner = if service.function_url {
                format!("the {}", service.name)
            } else {
                format!("a host of service `{}`", service.name)
            };
            return Err(
                site.error("url.host", format!("`{host}` is already {owner}; a Function URL has a host of its own"))
            );
        }
    }
    Ok(())
}

fn secret_indices(site: &Site, ids: Vec<String>, secrets: &[Secret]) -> Result<Vec<SecretIndex>, ConfigError> {
    if ids.is_empty() {
        return Err(site.error("url.keys", "at least one SecretId is required"));
    }
    let mut indices = Vec::with_capacity(ids.len());
    for id in ids {
        let index = secrets
            .iter()
            .position(|secret| secret.id == id)
            .map(SecretIndex::new)
            .ok_or_else(|| site.error("url.keys", format!("no [[secret]] has the id `{id}`")))?;
        if indices.contains(&index) {
            return Err(site.error("url.keys", format!("`{id}` is listed twice")));
        }
        indices.push(index);
    }
    Ok(indices)
}

/// `CorsConfig` into the CORS policy: absent values are Tencent API Gateway's defaults.
fn build_cors(site: &Site, cors: file::FunctionUrlCors) -> Result<Cors, ConfigError> {
    let origins = match cors.origins {
        None => Vec::new(),
        Some(origins) => cors_origins(site, "url.cors.origins", origins)?,
    };
    let list = |field: &str, names: Option<Vec<String>>, methods: bool| -> Result<Option<String>, ConfigError> {
        let Some(names) = names else { return Ok(None) };
        for name in &names {
            let token = !name.is_empty()
                && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
            if !token || (methods && name.bytes().any(|byte| byte.is_ascii_lowercase())) {
                let what = if methods { "an upper-case method name" } else { "a header name" };
                return Err(site.error(field, format!("`{name}` is not {what}")));
            }
        }
        Ok(Some(names.join(",")))
    };
    let methods = list("url.cors.methods", cors.methods, true)?;
    let headers = list("url.cors.headers", cors.headers, false)?;
    let expose_headers = list("url.cors.expose_headers", cors.expose_headers, false)?;
    Ok(Cors {
        origins,
        custom: Some(Box::new(CorsHeaders {
            methods,
            headers,
            expose_headers,
            credentials: cors.credentials.unwrap_or(false),
            max_age: cors.max_age.unwrap_or(86_400).to_string(),
        })),
    })
}
