//! Services and their APIs (the console's steps 1-4): list, create, read, replace, delete.

use serde_json::{json, Map, Value};

use crate::admin::error::AdminError;
use crate::admin::http::{Request, Response};
use crate::admin::store::{Record, ServiceRecord, State};
use crate::admin::{Inner, Scope};
use crate::config::file;

use super::resources::random_text;
use super::{api_index, body_as, check_version, created, list, page, record_json, sent_version, service_index};

pub(super) fn stages_json(service: &ServiceRecord) -> Value {
    service
        .serving
        .iter()
        .map(|(stage, serving)| (stage.clone(), json!({ "release_id": serving.release_id, "since": serving.since })))
        .collect::<Map<_, _>>()
        .into()
}

pub(super) fn service_json(service: &ServiceRecord) -> Value {
    let mut value = record_json(&service.record);
    value["api_count"] = service.apis.len().into();
    value["serving"] = stages_json(service);
    value
}

pub(super) fn gateway(inner: &Inner) -> Response {
    Response::json(
        200,
        &json!({
            "generation": inner.generation,
            "listen": inner.data_plane.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "state_dir": inner.store.describe(),
            "revision": inner.state.revision,
        }),
    )
}

pub(super) fn list_services(inner: &Inner, request: &Request) -> Result<Response, AdminError> {
    let (total, page) = page(request, &inner.state.services)?;
    Ok(Response::json(
        200,
        &json!({ "total_count": total, "services": page.iter().map(service_json).collect::<Vec<_>>() }),
    ))
}

/// Tencent's service ids look like `service-0a1b2c3d`.
pub(super) fn new_service_id(state: &State) -> String {
    loop {
        let id = format!("service-{}", random_text(8, b"abcdefghijklmnopqrstuvwxyz0123456789"));
        if state.service(&id).is_none() {
            return id;
        }
    }
}

pub(super) fn create_service(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
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

pub(super) fn update_service(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
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

pub(super) fn delete_service(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
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

pub(super) fn list_apis(inner: &Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let service = &inner.state.services[service_index(inner, id)?];
    list(request, "apis", &service.apis)
}

pub(super) fn create_api(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
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

pub(super) fn update_api(inner: &mut Inner, request: &Request, id: &str, name: &str) -> Result<Response, AdminError> {
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

pub(super) fn delete_api(inner: &mut Inner, request: &Request, id: &str, name: &str) -> Result<Response, AdminError> {
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
