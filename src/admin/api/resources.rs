//! Functions, usage plans and key pairs: live resources, applied to the data plane at once.

use std::io::Read;

use serde_json::{json, Value};

use crate::admin::error::AdminError;
use crate::admin::http::{Request, Response};
use crate::admin::store::{Record, State};
use crate::admin::{Inner, Scope};
use crate::config::file;

use super::{
    body_as, check_version, created, function_index, function_key, plan_index, record_json, reference_key,
    secret_index, sent_version,
};

/// The first API (draft or served) that names the function, as `service `x` api `y``.
pub(super) fn function_user(state: &State, key: &(String, String, String)) -> Option<String> {
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

pub(super) fn create_function(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
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

pub(super) fn update_function(
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

pub(super) fn delete_function(
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

pub(super) fn create_usage_plan(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
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

pub(super) fn update_usage_plan(inner: &mut Inner, request: &Request, name: &str) -> Result<Response, AdminError> {
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

pub(super) fn delete_usage_plan(inner: &mut Inner, request: &Request, name: &str) -> Result<Response, AdminError> {
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
pub(super) fn secret_json(record: &Record<file::Secret>) -> Value {
    let mut value = record_json(record);
    if let Value::Object(map) = &mut value {
        map.remove("key");
    }
    value
}

pub(super) fn create_secret(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
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

pub(super) fn delete_secret(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
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
pub(super) fn random_text(length: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; length];
    if let Ok(mut random) = std::fs::File::open("/dev/urandom") {
        let _ = random.read_exact(&mut bytes);
    }
    // 62 and 36 symbols: the bias of `% len` over a byte is far below what matters for ids.
    bytes.iter().map(|byte| alphabet[usize::from(*byte) % alphabet.len()] as char).collect()
}
