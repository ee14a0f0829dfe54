//! The admin endpoints (see docs/admin-api.md): services, APIs, functions, usage plans, key
//! pairs, releases (publish, rollback, unpublish), docs, OpenAPI, export, and the console's test
//! request. Each handler reads the request, changes a copy of the state and hands it to
//! `Inner::commit`; failures are `AdminError`s, turned into responses in one place.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::error::AdminError;
use super::http::{Request, Response};
use super::store::{now, Record, Release, ServiceRecord, Serving, State, STAGES};
use super::{Inner, Management, Scope};
use crate::config::file;

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
    match route(&mut inner, &request) {
        Ok(response) => response,
        Err(error) => Response::error(&error),
    }
}

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
            let html = super::docs::render(&release.service, stage, release);
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

// ---------------------------------------------------------------------------------------------
// Services

fn stages_json(service: &ServiceRecord) -> Value {
    service
        .serving
        .iter()
        .map(|(stage, serving)| (stage.clone(), json!({ "release_id": serving.release_id, "since": serving.since })))
        .collect::<Map<_, _>>()
        .into()
}

fn service_json(service: &ServiceRecord) -> Value {
    let mut value = record_json(&service.record);
    value["api_count"] = service.apis.len().into();
    value["serving"] = stages_json(service);
    value
}

fn gateway(inner: &Inner) -> Response {
    Response::json(
        200,
        &json!({
            "generation": inner.generation,
            "listen": inner.data_plane.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "state_dir": inner.store.dir().display().to_string(),
            "revision": inner.state.revision,
        }),
    )
}

fn list_services(inner: &Inner, request: &Request) -> Result<Response, AdminError> {
    let (total, page) = page(request, &inner.state.services)?;
    Ok(Response::json(
        200,
        &json!({ "total_count": total, "services": page.iter().map(service_json).collect::<Vec<_>>() }),
    ))
}

/// Tencent's service ids look like `service-0a1b2c3d`.
fn new_service_id(state: &State) -> String {
    loop {
        let id = format!("service-{}", random_text(8, b"abcdefghijklmnopqrstuvwxyz0123456789"));
        if state.service(&id).is_none() {
            return id;
        }
    }
}

fn create_service(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
    let (mut spec, _): (file::Service, _) = body_as(request, &["api_count", "serving"])?;
    let mut next = inner.state.clone();
    let id = match spec.id.take() {
        Some(id) => id,
        None => new_service_id(&next),
    };
    if next.service(&id).is_some() {
        return Err(AdminError::AlreadyExists(format!("a service with id `{id}` already exists")));
    }
    spec.id = Some(id.clone());
    let version = next.next_revision();
    let apis = std::mem::take(&mut spec.apis).into_iter().map(|api| Record::new(api, version)).collect();
    next.services.push(ServiceRecord {
        record: Record::new(spec, version),
        apis,
        releases: Vec::new(),
        serving: Default::default(),
    });
    inner.commit(next, Scope::Draft)?;
    Ok(created(service_json(&inner.state.services[service_index(inner, &id)?])))
}

fn update_service(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let (mut spec, body_version): (file::Service, _) = body_as(request, &["api_count", "serving"])?;
    let current = &inner.state.services[index];
    check_version(format!("service `{id}`"), current.record.version, sent_version(request, body_version)?, true)?;
    if spec.id.as_deref().is_some_and(|sent| sent != id) {
        return Err(AdminError::field("id", "a service's id cannot change"));
    }
    if !spec.apis.is_empty() {
        return Err(AdminError::field("api", format!("change APIs at /v1/services/{id}/apis")));
    }
    spec.id = Some(id.to_owned());
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.services[index].record.replace(spec, version);
    inner.commit(next, Scope::Draft)?;
    Ok(Response::json(200, &service_json(&inner.state.services[index])))
}

fn delete_service(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let service = &inner.state.services[index];
    check_version(format!("service `{id}`"), service.record.version, sent_version(request, None)?, false)?;
    if let Some(stage) = service.serving.keys().next() {
        return Err(AdminError::InUse(format!(
            "service `{id}` is published to stage `{stage}`; take it offline first (DELETE /v1/services/{id}/stages/{stage})"
        )));
    }
    if let Some(plan) = inner
        .state
        .usage_plans
        .iter()
        .find(|plan| plan.spec.environments.iter().any(|environment| environment.service.as_deref() == Some(id)))
    {
        return Err(AdminError::InUse(format!(
            "usage plan `{}` is bound to service `{id}`",
            plan.spec.name.as_deref().unwrap_or_default()
        )));
    }
    let mut next = inner.state.clone();
    next.next_revision();
    next.services.remove(index);
    inner.commit(next, Scope::Draft)?;
    Ok(Response::json(200, &json!({ "deleted": id })))
}

// ---------------------------------------------------------------------------------------------
// APIs

fn list_apis(inner: &Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let service = &inner.state.services[service_index(inner, id)?];
    list(request, "apis", &service.apis)
}

fn create_api(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let (api, _): (file::Api, _) = body_as(request, &[])?;
    let name = api.name.clone().ok_or_else(|| AdminError::field("name", "required but missing"))?;
    if inner.state.services[index].api_index(&name).is_some() {
        return Err(AdminError::AlreadyExists(format!("service `{id}` already has an api named `{name}`")));
    }
    let mut next = inner.state.clone();
    let version = next.next_revision();
    let service = &mut next.services[index];
    service.apis.push(Record::new(api, version));
    service.record.touch(version);
    inner.commit(next, Scope::Draft)?;
    let service = &inner.state.services[index];
    Ok(created(record_json(&service.apis[api_index(service, &name)?])))
}

fn update_api(inner: &mut Inner, request: &Request, id: &str, name: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let position = api_index(&inner.state.services[index], name)?;
    let (api, body_version): (file::Api, _) = body_as(request, &[])?;
    let current = &inner.state.services[index].apis[position];
    check_version(
        format!("api `{name}` of service `{id}`"),
        current.version,
        sent_version(request, body_version)?,
        true,
    )?;
    let new_name = api.name.clone().ok_or_else(|| AdminError::field("name", "required but missing"))?;
    if new_name != name && inner.state.services[index].api_index(&new_name).is_some() {
        return Err(AdminError::AlreadyExists(format!("service `{id}` already has an api named `{new_name}`")));
    }
    let mut next = inner.state.clone();
    let version = next.next_revision();
    let service = &mut next.services[index];
    service.apis[position].replace(api, version);
    service.record.touch(version);
    inner.commit(next, Scope::Draft)?;
    Ok(Response::json(200, &record_json(&inner.state.services[index].apis[position])))
}

fn delete_api(inner: &mut Inner, request: &Request, id: &str, name: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let position = api_index(&inner.state.services[index], name)?;
    let current = &inner.state.services[index].apis[position];
    check_version(format!("api `{name}` of service `{id}`"), current.version, sent_version(request, None)?, false)?;
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.services[index].apis.remove(position);
    next.services[index].record.touch(version);
    inner.commit(next, Scope::Draft)?;
    Ok(Response::json(200, &json!({ "deleted": name })))
}

// ---------------------------------------------------------------------------------------------
// Releases: publish, rollback, take offline

fn release_summary(service: &ServiceRecord, release: &Release) -> Value {
    let serving: Vec<&String> = service
        .serving
        .iter()
        .filter(|(_, serving)| serving.release_id == release.id)
        .map(|(stage, _)| stage)
        .collect();
    json!({
        "release_id": release.id,
        "stage": release.stage,
        "created_at": release.created_at,
        "description": release.description,
        "api_count": release.service.apis.len(),
        "serving_stages": serving,
    })
}

fn list_releases(inner: &Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let service = &inner.state.services[service_index(inner, id)?];
    // Newest first, as a console lists them.
    let newest_first: Vec<&Release> = service.releases.iter().rev().collect();
    let (total, page) = page(request, &newest_first)?;
    Ok(Response::json(
        200,
        &json!({ "total_count": total, "releases": page.iter().map(|release| release_summary(service, release)).collect::<Vec<_>>() }),
    ))
}

fn text_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, AdminError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(AdminError::field(key, "must be a string")),
    }
}

fn publish(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let body = body_object(request)?;
    let stage =
        text_field(&body, "stage")?.ok_or_else(|| AdminError::field("stage", "required: release, test or prepub"))?;
    check_stage(&stage)?;
    let description = text_field(&body, "description")?.unwrap_or_default();
    let body_version = match body.get("version") {
        None => None,
        Some(value) => {
            Some(value.as_u64().ok_or_else(|| AdminError::field("version", "must be a non-negative integer"))?)
        }
    };
    let service = &inner.state.services[index];
    // Publishing what you reviewed: with a version, a draft changed since is refused.
    check_version(format!("service `{id}`"), service.record.version, sent_version(request, body_version)?, false)?;
    let draft = service.draft();
    let allowed = draft.stages.clone().unwrap_or_else(|| STAGES.iter().map(|stage| stage.to_string()).collect());
    if !allowed.contains(&stage) {
        return Err(AdminError::field(
            "stage",
            format!("service `{id}` lists stages {allowed:?}; add `{stage}` to its `stages` first"),
        ));
    }
    let mut next = inner.state.clone();
    next.next_revision();
    let service = &mut next.services[index];
    let release_id = service.releases.last().map_or(1, |release| release.id + 1);
    service.releases.push(Release::new(id, release_id, stage.clone(), description, draft));
    service.serving.insert(stage.clone(), Serving { release_id, since: now() });
    let generation = inner.commit(next, Scope::DataPlane)?;
    let service = &inner.state.services[index];
    let release = service.release(release_id).ok_or_else(|| AdminError::Failed("the release vanished".into()))?;
    let mut value = release_summary(service, release);
    value["generation"] = generation.into();
    tracing::info!(service = id, stage, release = release_id, generation, "published");
    Ok(created(value))
}

fn rollback(inner: &mut Inner, request: &Request, id: &str, stage: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    check_stage(stage)?;
    let body = body_object(request)?;
    let release_id = body
        .get("release_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| AdminError::field("release_id", "required: the id of an earlier release (GET .../releases)"))?;
    inner.state.services[index].kept_release(release_id).map_err(AdminError::NotFound)?;
    let mut next = inner.state.clone();
    next.next_revision();
    next.services[index].serving.insert(stage.to_owned(), Serving { release_id, since: now() });
    let generation = inner.commit(next, Scope::DataPlane)?;
    tracing::info!(service = id, stage, release = release_id, generation, "rolled back");
    let service = &inner.state.services[index];
    let mut value = release_summary(
        service,
        service.release(release_id).ok_or_else(|| AdminError::Failed("the release vanished".into()))?,
    );
    value["generation"] = generation.into();
    Ok(Response::json(200, &value))
}

fn unpublish(inner: &mut Inner, id: &str, stage: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    served_release(&inner.state.services[index], stage)?;
    let mut next = inner.state.clone();
    next.next_revision();
    next.services[index].serving.remove(stage);
    let generation = inner.commit(next, Scope::DataPlane)?;
    tracing::info!(service = id, stage, generation, "taken offline");
    Ok(Response::json(200, &json!({ "service": id, "stage": stage, "generation": generation })))
}

// ---------------------------------------------------------------------------------------------
// Functions, usage plans, key pairs: live resources, applied to the data plane at once.

/// The first API (draft or served) that names the function, as `service `x` api `y``.
fn function_user(state: &State, key: &(String, String, String)) -> Option<String> {
    let uses = |api: &file::Api| {
        [&api.function, &api.register, &api.transport, &api.cleanup]
            .into_iter()
            .flatten()
            .any(|reference| reference_key(reference) == *key)
    };
    for service in &state.services {
        if let Some(api) = service.apis.iter().find(|api| uses(&api.spec)) {
            return Some(format!(
                "api `{}` of service `{}`",
                api.spec.name.as_deref().unwrap_or_default(),
                service.id()
            ));
        }
        for serving in service.serving.values() {
            if let Some(release) = service.release(serving.release_id) {
                if let Some(api) = release.service.apis.iter().find(|api| uses(api)) {
                    return Some(format!(
                        "api `{}` of service `{}` release {}",
                        api.name.as_deref().unwrap_or_default(),
                        service.id(),
                        release.id
                    ));
                }
            }
        }
    }
    None
}

fn create_function(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
    let (function, _): (file::Function, _) = body_as(request, &[])?;
    let key = function_key(&function);
    if inner.state.functions.iter().any(|record| function_key(&record.spec) == key) {
        return Err(AdminError::AlreadyExists(format!(
            "a function is already defined as `{}/{}:{}`",
            key.0, key.1, key.2
        )));
    }
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.functions.push(Record::new(function, version));
    inner.commit(next, Scope::DataPlane)?;
    let index = function_index(inner, &key.0, &key.1, Some(&key.2))?;
    Ok(created(record_json(&inner.state.functions[index])))
}

fn update_function(
    inner: &mut Inner,
    request: &Request,
    namespace: &str,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Response, AdminError> {
    let index = function_index(inner, namespace, name, qualifier)?;
    let (function, body_version): (file::Function, _) = body_as(request, &[])?;
    let current = &inner.state.functions[index];
    let key = function_key(&current.spec);
    check_version(
        format!("function `{}/{}:{}`", key.0, key.1, key.2),
        current.version,
        sent_version(request, body_version)?,
        true,
    )?;
    if function_key(&function) != key {
        return Err(AdminError::field(
            "name",
            "a function's namespace, name and qualifier cannot change; create another function",
        ));
    }
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.functions[index].replace(function, version);
    inner.commit(next, Scope::DataPlane)?;
    Ok(Response::json(200, &record_json(&inner.state.functions[index])))
}

fn delete_function(
    inner: &mut Inner,
    request: &Request,
    namespace: &str,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Response, AdminError> {
    let index = function_index(inner, namespace, name, qualifier)?;
    let current = &inner.state.functions[index];
    let key = function_key(&current.spec);
    check_version(
        format!("function `{}/{}:{}`", key.0, key.1, key.2),
        current.version,
        sent_version(request, None)?,
        false,
    )?;
    if let Some(user) = function_user(&inner.state, &key) {
        return Err(AdminError::InUse(format!("function `{}/{}:{}` is used by {user}", key.0, key.1, key.2)));
    }
    let mut next = inner.state.clone();
    next.next_revision();
    next.functions.remove(index);
    inner.commit(next, Scope::DataPlane)?;
    Ok(Response::json(200, &json!({ "deleted": format!("{}/{}:{}", key.0, key.1, key.2) })))
}

fn create_usage_plan(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
    let (plan, _): (file::UsagePlan, _) = body_as(request, &[])?;
    let name = plan.name.clone().ok_or_else(|| AdminError::field("name", "required but missing"))?;
    if plan_index(inner, &name).is_ok() {
        return Err(AdminError::AlreadyExists(format!("a usage plan is already named `{name}`")));
    }
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.usage_plans.push(Record::new(plan, version));
    inner.commit(next, Scope::DataPlane)?;
    Ok(created(record_json(&inner.state.usage_plans[plan_index(inner, &name)?])))
}

fn update_usage_plan(inner: &mut Inner, request: &Request, name: &str) -> Result<Response, AdminError> {
    let index = plan_index(inner, name)?;
    let (plan, body_version): (file::UsagePlan, _) = body_as(request, &[])?;
    check_version(
        format!("usage plan `{name}`"),
        inner.state.usage_plans[index].version,
        sent_version(request, body_version)?,
        true,
    )?;
    if plan.name.as_deref() != Some(name) {
        return Err(AdminError::field("name", "a usage plan's name cannot change"));
    }
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.usage_plans[index].replace(plan, version);
    inner.commit(next, Scope::DataPlane)?;
    Ok(Response::json(200, &record_json(&inner.state.usage_plans[index])))
}

fn delete_usage_plan(inner: &mut Inner, request: &Request, name: &str) -> Result<Response, AdminError> {
    let index = plan_index(inner, name)?;
    check_version(
        format!("usage plan `{name}`"),
        inner.state.usage_plans[index].version,
        sent_version(request, None)?,
        false,
    )?;
    let mut next = inner.state.clone();
    next.next_revision();
    next.usage_plans.remove(index);
    inner.commit(next, Scope::DataPlane)?;
    Ok(Response::json(200, &json!({ "deleted": name })))
}

/// A key pair as the API shows it: never its SecretKey.
fn secret_json(record: &Record<file::Secret>) -> Value {
    let mut value = record_json(record);
    if let Value::Object(map) = &mut value {
        map.remove("key");
    }
    value
}

fn create_secret(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
    let (mut secret, _): (file::Secret, _) = body_as(request, &[])?;
    // Tencent-shaped when generated: a 36-character SecretId and a 32-character SecretKey.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let id = secret.id.get_or_insert_with(|| format!("AKID{}", random_text(32, ALPHABET))).clone();
    if secret.key.is_none() && secret.key_env.is_none() {
        secret.key = Some(random_text(32, ALPHABET));
    }
    if secret_index(inner, &id).is_ok() {
        return Err(AdminError::AlreadyExists(format!("a key pair with SecretId `{id}` already exists")));
    }
    let key = secret.key.clone();
    let mut next = inner.state.clone();
    let version = next.next_revision();
    next.secrets.push(Record::new(secret, version));
    inner.commit(next, Scope::DataPlane)?;
    let mut value = secret_json(&inner.state.secrets[secret_index(inner, &id)?]);
    // Shown once, now; never again.
    if let Some(key) = key {
        value["key"] = key.into();
    }
    Ok(created(value))
}

fn delete_secret(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = secret_index(inner, id)?;
    check_version(format!("key pair `{id}`"), inner.state.secrets[index].version, sent_version(request, None)?, false)?;
    if let Some(plan) =
        inner.state.usage_plans.iter().find(|plan| plan.spec.secret_ids.iter().any(|secret| secret == id))
    {
        return Err(AdminError::InUse(format!(
            "key pair `{id}` is in usage plan `{}`",
            plan.spec.name.as_deref().unwrap_or_default()
        )));
    }
    let mut next = inner.state.clone();
    next.next_revision();
    next.secrets.remove(index);
    inner.commit(next, Scope::DataPlane)?;
    Ok(Response::json(200, &json!({ "deleted": id })))
}

/// Random text from the kernel's generator.
fn random_text(length: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; length];
    if let Ok(mut random) = std::fs::File::open("/dev/urandom") {
        let _ = random.read_exact(&mut bytes);
    }
    // 62 and 36 symbols: the bias of `% len` over a byte is far below what matters for ids.
    bytes.iter().map(|byte| alphabet[usize::from(*byte) % alphabet.len()] as char).collect()
}

// ---------------------------------------------------------------------------------------------
// Export, OpenAPI, test requests

/// The state as a config file `scfgate --config` accepts: what is published (default; the
/// stages' releases, so starting from it serves the same), or the drafts (`?from=draft`).
fn export(inner: &Inner, request: &Request) -> Result<Response, AdminError> {
    let file = match request.query("from").unwrap_or("published") {
        "published" => inner.state.served_file(&inner.base),
        "draft" => inner.state.draft_file(&inner.base),
        other => return Err(AdminError::field("from", format!("`{other}` is not one of published, draft"))),
    };
    let text = toml::to_string(&file).map_err(|error| AdminError::Failed(format!("cannot write TOML: {error}")))?;
    let header = format!(
        "# Exported by scfgate's admin API from {} ({}).\n# Usable as is: scfgate --config <this file>. Relative `code` folders are relative to the original\n# config file's folder.\n\n",
        inner.store.dir().display(),
        request.query("from").unwrap_or("published")
    );
    Ok(Response::text(200, "application/toml; charset=utf-8", header + &text).attachment("scfgate.toml"))
}

fn export_openapi(inner: &Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let service = &inner.state.services[service_index(inner, id)?];
    let source = match request.query("stage") {
        None => service.draft(),
        Some(stage) => file::Service::clone(&served_release(service, stage)?.service),
    };
    let document = super::openapi::export(&source, request.query("stage"));
    match request.query("format").unwrap_or("json") {
        "json" => Ok(Response::json(200, &document).attachment(&format!("{id}.openapi.json"))),
        "yaml" => {
            let text = serde_saphyr::to_string(&document)
                .map_err(|error| AdminError::Failed(format!("cannot write YAML: {error}")))?;
            Ok(Response::text(200, "application/yaml; charset=utf-8", text).attachment(&format!("{id}.openapi.yaml")))
        }
        other => Err(AdminError::field("format", format!("`{other}` is not one of json, yaml"))),
    }
}

fn import_openapi(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let text = std::str::from_utf8(&request.body).map_err(|_| AdminError::bad("the document is not UTF-8"))?;
    let document: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => serde_saphyr::from_str(text)
            .map_err(|error| AdminError::bad(format!("the document is neither JSON nor YAML: {error}")))?,
    };
    let default_function = match request.query("function") {
        None => None,
        Some(text) => {
            Some(super::openapi::parse_function(text).map_err(|message| AdminError::field("function", message))?)
        }
    };
    let replace = matches!(request.query("replace"), Some("1" | "true"));
    let mut report = super::openapi::import(&document, default_function.as_ref()).map_err(AdminError::bad)?;
    let mut next = inner.state.clone();
    let version = next.next_revision();
    let mut imported = Vec::new();
    // One API at a time, each validated with the draft: what fits is imported, the rest reported.
    for api in report.apis.drain(..) {
        let name = api.name.clone().unwrap_or_default();
        let mut candidate = next.clone();
        let service = &mut candidate.services[index];
        match service.api_index(&name) {
            Some(existing) if replace => service.apis[existing].replace(api, version),
            Some(_) => {
                report.skipped.push(super::openapi::Skipped {
                    at: format!("operationId {name}"),
                    reason: format!(
                        "service `{id}` already has an api named `{name}` (import with ?replace=true to overwrite it)"
                    ),
                    ..Default::default()
                });
                continue;
            }
            None => service.apis.push(Record::new(api, version)),
        }
        service.record.touch(version);
        match inner.validate_draft(&candidate) {
            Ok(()) => {
                next = candidate;
                imported.push(name);
            }
            Err(error) => report.skipped.push(super::openapi::Skipped {
                at: format!("operationId {name}"),
                reason: error.message(),
                ..Default::default()
            }),
        }
    }
    if !imported.is_empty() {
        inner.commit(next, Scope::Draft)?;
    }
    Ok(Response::json(200, &json!({ "imported": imported, "skipped": report.skipped, "published": false })))
}

/// The console's test panel: a browser cannot call the data plane's port from the console's
/// origin, so the admin thread sends the request over loopback and returns what came back.
fn test_request(inner: &Inner, request: &Request) -> Result<Response, AdminError> {
    let body = body_object(request)?;
    let method = text_field(&body, "method")?.unwrap_or_else(|| "GET".into());
    if method.is_empty() || !method.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Err(AdminError::field("method", format!("`{method}` is not an HTTP method")));
    }
    let path = text_field(&body, "path")?.ok_or_else(|| AdminError::field("path", "required, e.g. /release/hello"))?;
    if !path.starts_with('/') || path.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
        return Err(AdminError::field("path", "must start with `/` and hold no spaces or control characters"));
    }
    let address = inner
        .data_plane
        .first()
        .copied()
        .ok_or_else(|| AdminError::Failed("the data plane has no HTTP listener".into()))?;
    let target = match address {
        std::net::SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            std::net::SocketAddr::from(([127, 0, 0, 1], v4.port()))
        }
        std::net::SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    };
    let host = text_field(&body, "host")?.unwrap_or_else(|| target.to_string());
    let payload = text_field(&body, "body")?.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if let Some(headers) = body.get("headers") {
        let Value::Object(headers) = headers else {
            return Err(AdminError::field("headers", "must be an object of name: value"));
        };
        for (name, value) in headers {
            let Some(value) = value.as_str() else {
                return Err(AdminError::field("headers", format!("`{name}` must be a string")));
            };
            let lower = name.to_ascii_lowercase();
            if lower == "host" || lower == "content-length" || lower == "connection" || lower == "transfer-encoding" {
                continue;
            }
            if name.is_empty()
                || name.bytes().any(|byte| !byte.is_ascii_graphic() || byte == b':')
                || value.bytes().any(|byte| byte == b'\r' || byte == b'\n')
            {
                return Err(AdminError::field("headers", format!("`{name}` is not a valid header")));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    let failed = |error: std::io::Error| AdminError::Failed(format!("the test request to {target} failed: {error}"));
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(5)).map_err(failed)?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(failed)?;
    stream.write_all(head.as_bytes()).map_err(failed)?;
    stream.write_all(payload.as_bytes()).map_err(failed)?;
    let mut raw = Vec::new();
    stream.take(super::http::MAX_BODY_BYTES as u64).read_to_end(&mut raw).map_err(failed)?;
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let Ok(httparse::Status::Complete(head_length)) = response.parse(&raw) else {
        return Err(AdminError::Failed("the gateway's answer was not a complete HTTP response".into()));
    };
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .map(|field| {
            (field.name.to_ascii_lowercase(), Value::String(String::from_utf8_lossy(field.value).into_owned()))
        })
        .collect();
    Ok(Response::json(
        200,
        &json!({
            "status": response.code,
            "headers": headers,
            "body": String::from_utf8_lossy(&raw[head_length..]),
        }),
    ))
}
