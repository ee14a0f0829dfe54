//! Releases: publish a service's drafts to a stage, roll a stage back (or forward) to an
//! earlier release, take a stage offline.

use serde_json::{json, Map, Value};

use crate::admin::error::AdminError;
use crate::admin::http::{Request, Response};
use crate::admin::store::{now, Release, ServiceRecord, Serving, STAGES};
use crate::admin::{Inner, Scope};

use super::{body_object, check_stage, check_version, created, page, sent_version, served_release, service_index};

pub(super) fn release_summary(service: &ServiceRecord, release: &Release) -> Value {
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

pub(super) fn list_releases(inner: &Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let service = &inner.state.services[service_index(inner, id)?];
    // Newest first, as a console lists them.
    let newest_first: Vec<&Release> = service.releases.iter().rev().collect();
    let (total, page) = page(request, &newest_first)?;
    Ok(Response::json(
        200,
        &json!({ "total_count": total, "releases": page.iter().map(|release| release_summary(service, release)).collect::<Vec<_>>() }),
    ))
}

pub(super) fn text_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, AdminError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(AdminError::field(key, "must be a string")),
    }
}

pub(super) fn publish(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
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

pub(super) fn rollback(inner: &mut Inner, request: &Request, id: &str, stage: &str) -> Result<Response, AdminError> {
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

pub(super) fn unpublish(inner: &mut Inner, id: &str, stage: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    served_release(&inner.state.services[index], stage)?;
    let mut next = inner.state.clone();
    next.next_revision();
    next.services[index].serving.remove(stage);
    let generation = inner.commit(next, Scope::DataPlane)?;
    tracing::info!(service = id, stage, generation, "taken offline");
    Ok(Response::json(200, &json!({ "service": id, "stage": stage, "generation": generation })))
}
