//! The admin endpoints (see docs/admin-api.md): services, APIs, functions, usage plans, key
//! pairs, releases (publish, rollback, unpublish), docs, OpenAPI, serverless.yml import, export,
//! and the console's test request. Each handler reads the request, changes a copy of the state and hands it to
//! `Inner::commit`; failures are `AdminError`s, turned into responses in one place.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::error::AdminError;
use super::http::{Request, Response};
use super::store::{Record, Release, ServiceRecord, STAGES};
use super::{Inner, Management};
use crate::config::file;

mod exchange;
mod releases;
mod resources;
mod services;

use exchange::{export, export_openapi, import_openapi, import_serverless, test_request};
use releases::{list_releases, publish, release_summary, rollback, unpublish};
use resources::{
    create_function, create_secret, create_usage_plan, delete_function, delete_secret, delete_usage_plan, secret_json,
    update_function, update_usage_plan,
};
use services::{
    create_api, create_service, delete_api, delete_service, gateway, list_apis, list_services, service_json,
    stages_json, update_api, update_service,
};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// Keys a client may send back from a read but never sets.
const READ_ONLY: &[&str] = &["version", "created_at", "updated_at"];

/// Answers one authenticated request.
pub fn handle(management: &Management, request: Request) -> Response {
    if let Some(response) = monitoring(management, &request) {
        return response;
    }
    let mut inner = management.lock();
    let mut result = route(&mut inner, &request);
    // In a cluster another node may have changed the state since this one read it: read the
    // newer state and make the change again on top of it. A handler only computes its change
    // from the state, and nothing is stored or applied when the swap is lost, so this is the
    // request made a moment later.
    for _ in 0..MOVED_RETRIES {
        if !matches!(result, Err(AdminError::StateMoved)) {
            break;
        }
        if let Err(error) = inner.follow_store(None) {
            result = Err(error);
            break;
        }
        result = route(&mut inner, &request);
    }
    match result {
        Ok(response) => response,
        Err(error) => Response::error(&error),
    }
}

/// How often a change that lost its swap against other nodes' changes is tried again.
const MOVED_RETRIES: usize = 8;

/// `/metrics`, `/healthz`, `/readyz` (as on `--metrics-listen`) and the console's charts
/// (`GET /v1/metrics/history`), answered without the state's lock.
fn monitoring(management: &Management, request: &Request) -> Option<Response> {
    let registry = management.metrics()?;
    if request.method == "GET" && request.path == "/v1/metrics/history" {
        let report = serde_json::to_value(registry.history_report()).unwrap_or_default();
        return Some(Response::json(200, &report));
    }
    let accept = request.header("accept").unwrap_or_default();
    let answer = crate::metrics::server::respond(registry, &request.method, &request.path, accept)?;
    let mut response = Response::text(answer.status, answer.content_type, answer.body);
    response.headers.push(("Cache-Control", "no-store".into()));
    Some(response)
}

fn route(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
    let segments = request.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();
    match (method, segments.as_slice()) {
        ("GET", ["v1", "gateway"]) => Ok(gateway(inner)),
        ("GET", ["v1", "services"]) => list_services(inner, request),
        ("POST", ["v1", "services"]) => create_service(inner, request),
        ("GET", ["v1", "services", id]) => {
            Ok(Response::json(200, &service_json(&inner.state.services[service_index(inner, id)?])))
        }
        ("PUT", ["v1", "services", id]) => update_service(inner, request, id),
        ("DELETE", ["v1", "services", id]) => delete_service(inner, request, id),
        ("GET", ["v1", "services", id, "apis"]) => list_apis(inner, request, id),
        ("POST", ["v1", "services", id, "apis"]) => create_api(inner, request, id),
        ("GET", ["v1", "services", id, "apis", name]) => {
            let service = &inner.state.services[service_index(inner, id)?];
            Ok(Response::json(200, &record_json(&service.apis[api_index(service, name)?])))
        }
        ("PUT", ["v1", "services", id, "apis", name]) => update_api(inner, request, id, name),
        ("DELETE", ["v1", "services", id, "apis", name]) => delete_api(inner, request, id, name),
        ("GET", ["v1", "services", id, "releases"]) => list_releases(inner, request, id),
        ("POST", ["v1", "services", id, "releases"]) => publish(inner, request, id),
        ("GET", ["v1", "services", id, "releases", release]) => {
            let service = &inner.state.services[service_index(inner, id)?];
            let release = release_by_id(service, release)?;
            let mut value = release_summary(service, release);
            value["service"] = clean(to_value(&*release.service));
            Ok(Response::json(200, &value))
        }
        ("GET", ["v1", "services", id, "stages"]) => {
            let service = &inner.state.services[service_index(inner, id)?];
            Ok(Response::json(200, &json!({ "stages": stages_json(service) })))
        }
        ("POST", ["v1", "services", id, "stages", stage, "rollback"]) => rollback(inner, request, id, stage),
        ("DELETE", ["v1", "services", id, "stages", stage]) => unpublish(inner, id, stage),
        ("GET", ["v1", "services", id, "stages", stage, "docs"]) => {
            let service = &inner.state.services[service_index(inner, id)?];
            let release = served_release(service, stage)?;
            let html = crate::admin::docs::render(&release.service, stage, release);
            let response = Response::text(200, "text/html; charset=utf-8", html);
            Ok(match request.query("download") {
                Some("1" | "true") => response.attachment(&format!("{id}-{stage}.html")),
                _ => response,
            })
        }
        ("GET", ["v1", "services", id, "openapi"]) => export_openapi(inner, request, id),
        ("POST", ["v1", "services", id, "openapi"]) => import_openapi(inner, request, id),
        ("GET", ["v1", "functions"]) => list(request, "functions", &inner.state.functions),
        ("POST", ["v1", "functions"]) => create_function(inner, request),
        ("GET", ["v1", "functions", namespace, name, qualifier @ ..]) if qualifier.len() <= 1 => {
            let index = function_index(inner, namespace, name, qualifier.first().copied())?;
            Ok(Response::json(200, &record_json(&inner.state.functions[index])))
        }
        ("PUT", ["v1", "functions", namespace, name, qualifier @ ..]) if qualifier.len() <= 1 => {
            update_function(inner, request, namespace, name, qualifier.first().copied())
        }
        ("DELETE", ["v1", "functions", namespace, name, qualifier @ ..]) if qualifier.len() <= 1 => {
            delete_function(inner, request, namespace, name, qualifier.first().copied())
        }
        ("GET", ["v1", "usage-plans"]) => list(request, "usage_plans", &inner.state.usage_plans),
        ("POST", ["v1", "usage-plans"]) => create_usage_plan(inner, request),
        ("GET", ["v1", "usage-plans", name]) => {
            Ok(Response::json(200, &record_json(&inner.state.usage_plans[plan_index(inner, name)?])))
        }
        ("PUT", ["v1", "usage-plans", name]) => update_usage_plan(inner, request, name),
        ("DELETE", ["v1", "usage-plans", name]) => delete_usage_plan(inner, request, name),
        ("GET", ["v1", "secrets"]) => {
            let (total, page) = page(request, &inner.state.secrets)?;
            Ok(Response::json(
                200,
                &json!({ "total_count": total, "secrets": page.iter().map(secret_json).collect::<Vec<_>>() }),
            ))
        }
        ("POST", ["v1", "secrets"]) => create_secret(inner, request),
        ("GET", ["v1", "secrets", id]) => {
            Ok(Response::json(200, &secret_json(&inner.state.secrets[secret_index(inner, id)?])))
        }
        ("DELETE", ["v1", "secrets", id]) => delete_secret(inner, request, id),
        ("GET", ["v1", "export"]) => export(inner, request),
        ("POST", ["v1", "import", "serverless"]) => import_serverless(inner, request),
        ("POST", ["v1", "test-request"]) => test_request(inner, request),
        _ => Err(AdminError::NoEndpoint),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON in and out

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Drops `null`s, so an absent key and a `null` read the same way (the file model has no nulls).
fn clean(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter().filter(|(_, value)| !value.is_null()).map(|(key, value)| (key, clean(value))).collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(clean).collect()),
        other => other,
    }
}

/// A resource as the API shows it: its fields as the config file names them, plus `version`,
/// `created_at` and `updated_at`.
fn record_json<T: Serialize>(record: &Record<T>) -> Value {
    let mut value = clean(to_value(&record.spec));
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), record.version.into());
        map.insert("created_at".into(), record.created_at.into());
        map.insert("updated_at".into(), record.updated_at.into());
    }
    value
}

/// A request body read as a resource of the file model; also the `version` it carries.
fn body_as<T: DeserializeOwned>(request: &Request, extra_read_only: &[&str]) -> Result<(T, Option<u64>), AdminError> {
    let value: Value = serde_json::from_slice(&request.body)
        .map_err(|error| AdminError::bad(format!("the body is not valid JSON: {error}")))?;
    let Value::Object(mut map) = clean(value) else {
        return Err(AdminError::bad("the body must be a JSON object"));
    };
    let version = match map.get("version") {
        None => None,
        Some(value) => {
            Some(value.as_u64().ok_or_else(|| AdminError::field("version", "must be a non-negative integer"))?)
        }
    };
    for key in READ_ONLY.iter().chain(extra_read_only) {
        map.remove(*key);
    }
    let spec = serde_json::from_value(Value::Object(map)).map_err(|error| AdminError::bad(error.to_string()))?;
    Ok((spec, version))
}

/// A JSON object body (for the action endpoints).
fn body_object(request: &Request) -> Result<Map<String, Value>, AdminError> {
    if request.body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AdminError::bad("the body must be a JSON object")),
        Err(error) => Err(AdminError::bad(format!("the body is not valid JSON: {error}"))),
    }
}

/// The version an update is based on: `If-Match` (an ETag-style value, quotes allowed) or the
/// body's `version`.
fn sent_version(request: &Request, body_version: Option<u64>) -> Result<Option<u64>, AdminError> {
    match request.header("if-match") {
        None => Ok(body_version),
        Some(value) => {
            let text = value.trim_start_matches("W/").trim_matches('"');
            text.parse()
                .map(Some)
                .map_err(|_| AdminError::field("If-Match", format!("`{value}` is not a version number")))
        }
    }
}

/// Refuses a change based on a version other than the current one. Updates must say which
/// version they change; deletes may leave it out.
fn check_version(
    resource: impl Into<String>,
    current: u64,
    sent: Option<u64>,
    required: bool,
) -> Result<(), AdminError> {
    match sent {
        None if required => Err(AdminError::VersionRequired),
        Some(sent) if sent != current => Err(AdminError::StaleVersion { resource: resource.into(), sent, current }),
        _ => Ok(()),
    }
}

fn page<'a, T>(request: &Request, items: &'a [T]) -> Result<(usize, &'a [T]), AdminError> {
    let number = |name: &str, default: usize| match request.query(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| AdminError::field(name, format!("`{text}` is not a non-negative integer"))),
    };
    let offset = number("offset", 0)?.min(items.len());
    let limit = number("limit", DEFAULT_PAGE)?;
    if limit == 0 || limit > MAX_PAGE {
        return Err(AdminError::field("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    Ok((items.len(), &items[offset..(offset + limit).min(items.len())]))
}

fn list<T: Serialize>(request: &Request, key: &str, items: &[Record<T>]) -> Result<Response, AdminError> {
    let (total, page) = page(request, items)?;
    let mut body = json!({ "total_count": total });
    body[key] = page.iter().map(record_json).collect();
    Ok(Response::json(200, &body))
}

fn created(value: Value) -> Response {
    Response::json(201, &value)
}

// ---------------------------------------------------------------------------------------------
// Lookups

fn service_index(inner: &Inner, id: &str) -> Result<usize, AdminError> {
    inner.state.service(id).ok_or_else(|| AdminError::NotFound(format!("no service has id `{id}`")))
}

fn api_index(service: &ServiceRecord, name: &str) -> Result<usize, AdminError> {
    service
        .api_index(name)
        .ok_or_else(|| AdminError::NotFound(format!("service `{}` has no api named `{name}`", service.id())))
}

fn function_key(function: &file::Function) -> (String, String, String) {
    (
        function.namespace.clone().unwrap_or_else(|| "default".into()),
        function.name.clone().unwrap_or_default(),
        function.qualifier.clone().unwrap_or_else(|| "$LATEST".into()),
    )
}

fn reference_key(reference: &file::FunctionRef) -> (String, String, String) {
    (
        reference.namespace.clone().unwrap_or_else(|| "default".into()),
        reference.name.clone().unwrap_or_default(),
        reference.qualifier.clone().unwrap_or_else(|| "$LATEST".into()),
    )
}

fn function_index(inner: &Inner, namespace: &str, name: &str, qualifier: Option<&str>) -> Result<usize, AdminError> {
    let key = (namespace.to_owned(), name.to_owned(), qualifier.unwrap_or("$LATEST").to_owned());
    inner
        .state
        .functions
        .iter()
        .position(|record| function_key(&record.spec) == key)
        .ok_or_else(|| AdminError::NotFound(format!("no function is defined as `{}/{}:{}`", key.0, key.1, key.2)))
}

fn plan_index(inner: &Inner, name: &str) -> Result<usize, AdminError> {
    inner
        .state
        .usage_plans
        .iter()
        .position(|record| record.spec.name.as_deref() == Some(name))
        .ok_or_else(|| AdminError::NotFound(format!("no usage plan is named `{name}`")))
}

fn secret_index(inner: &Inner, id: &str) -> Result<usize, AdminError> {
    inner
        .state
        .secrets
        .iter()
        .position(|record| record.spec.id.as_deref() == Some(id))
        .ok_or_else(|| AdminError::NotFound(format!("no key pair has SecretId `{id}`")))
}

fn release_by_id<'a>(service: &'a ServiceRecord, id: &str) -> Result<&'a Release, AdminError> {
    let Ok(id) = id.parse() else {
        return Err(AdminError::NotFound(format!("service `{}` has no release `{id}`", service.id())));
    };
    service.kept_release(id).map_err(AdminError::NotFound)
}

fn check_stage(stage: &str) -> Result<(), AdminError> {
    if STAGES.contains(&stage) {
        Ok(())
    } else {
        Err(AdminError::field("stage", format!("`{stage}` is not a stage; use release, test or prepub")))
    }
}

fn served_release<'a>(service: &'a ServiceRecord, stage: &str) -> Result<&'a Release, AdminError> {
    check_stage(stage)?;
    service
        .serving
        .get(stage)
        .and_then(|serving| service.release(serving.release_id))
        .ok_or_else(|| AdminError::NotFound(format!("service `{}` is not published to stage `{stage}`", service.id())))
}
