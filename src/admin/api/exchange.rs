//! What goes in and out whole: the state exported as a config file, OpenAPI export and import,
//! a Serverless Framework `serverless.yml` imported as `scfgate import` maps it, and the
//! console's test requests sent to the data plane.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::admin::error::AdminError;
use crate::admin::http::{Request, Response};
use crate::admin::store::{Record, ServiceRecord};
use crate::admin::{Inner, Scope};
use crate::config::file;

use super::releases::text_field;
use super::{body_object, function_key, served_release, service_index};

/// The state as a config file `scfgate --config` accepts: what is published (default; the
/// stages' releases, so starting from it serves the same), or the drafts (`?from=draft`).
pub(super) fn export(inner: &Inner, request: &Request) -> Result<Response, AdminError> {
    let file = match request.query("from").unwrap_or("published") {
        "published" => inner.state.served_file(&inner.base),
        "draft" => inner.state.draft_file(&inner.base),
        other => return Err(AdminError::field("from", format!("`{other}` is not one of published, draft"))),
    };
    let text = toml::to_string(&file).map_err(|error| AdminError::Failed(format!("cannot write TOML: {error}")))?;
    let header = format!(
        "# Exported by scfgate's admin API from {} ({}).\n# Usable as is: scfgate --config <this file>. Relative `code` folders are relative to the original\n# config file's folder.\n\n",
        inner.store.describe(),
        request.query("from").unwrap_or("published")
    );
    Ok(Response::text(200, "application/toml; charset=utf-8", header + &text).attachment("scfgate.toml"))
}

pub(super) fn export_openapi(inner: &Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let service = &inner.state.services[service_index(inner, id)?];
    let source = match request.query("stage") {
        None => service.draft(),
        Some(stage) => file::Service::clone(&served_release(service, stage)?.service),
    };
    let document = crate::admin::openapi::export(&source, request.query("stage"));
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

pub(super) fn import_openapi(inner: &mut Inner, request: &Request, id: &str) -> Result<Response, AdminError> {
    let index = service_index(inner, id)?;
    let text = std::str::from_utf8(&request.body).map_err(|_| AdminError::bad("the document is not UTF-8"))?;
    let document: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => serde_saphyr::from_str(text)
            .map_err(|error| AdminError::bad(format!("the document is neither JSON nor YAML: {error}")))?,
    };
    let default_function = match request.query("function") {
        None => None,
        Some(text) => Some(
            crate::admin::openapi::parse_function(text).map_err(|message| AdminError::field("function", message))?,
        ),
    };
    let replace = matches!(request.query("replace"), Some("1" | "true"));
    let mut report = crate::admin::openapi::import(&document, default_function.as_ref()).map_err(AdminError::bad)?;
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
                report.skipped.push(crate::admin::openapi::Skipped {
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
            Err(error) => report.skipped.push(crate::admin::openapi::Skipped {
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

/// `POST /v1/import/serverless[?name=serverless.yml][&dir=folder]`: one `serverless.yml` (the
/// `scf` and `apigateway` components) mapped as `scfgate import` maps it, with the same report.
/// Functions are added (served at once, as `POST /v1/functions` does); services and their APIs go
/// into drafts, nothing is published. `dir`, relative to the config file's folder (the default),
/// is where the file's relative `src` folders are. Functions, services' APIs already defined are
/// left as they are and listed in `skipped`. The whole import is one change: if the state it makes
/// is refused, nothing is imported.
pub(super) fn import_serverless(inner: &mut Inner, request: &Request) -> Result<Response, AdminError> {
    let text = std::str::from_utf8(&request.body).map_err(|_| AdminError::bad("the document is not UTF-8"))?;
    let file = request.query("name").unwrap_or("serverless.yml").to_owned();
    let config_dir = inner.config_path.parent().map(std::path::Path::to_owned).unwrap_or_default();
    let dir = match request.query("dir") {
        Some(dir) => std::path::absolute(config_dir.join(dir)).unwrap_or_else(|_| config_dir.join(dir)),
        None => config_dir,
    };
    let known: Vec<String> = inner.state.functions.iter().filter_map(|record| record.spec.name.clone()).collect();
    let input = crate::import::Input { file, text: text.to_owned(), dir };
    let settings = crate::import::Settings { target: &inner.config_path, known_functions: &known, validate: false };
    let outcome = crate::import::import_inputs(vec![input], Vec::new(), settings);
    let report: Vec<Value> = outcome
        .report
        .items
        .iter()
        .map(|item| {
            let kind = match item.kind {
                crate::import::report::Kind::NotCarried => "not carried over",
                crate::import::report::Kind::Note => "note",
            };
            json!({ "file": item.file, "line": item.line, "key": item.key, "kind": kind, "why": item.why, "text": item.to_string() })
        })
        .collect();
    let Some(config) = outcome.file else {
        return Ok(Response::json(400, &json!({ "errors": outcome.errors, "report": report })));
    };
    let mut next = inner.state.clone();
    let version = next.next_revision();
    let (mut functions, mut services, mut apis, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for function in config.functions {
        let (namespace, name, qualifier) = function_key(&function);
        let label = format!("{namespace}/{name}:{qualifier}");
        if next
            .functions
            .iter()
            .any(|record| function_key(&record.spec) == (namespace.clone(), name.clone(), qualifier.clone()))
        {
            skipped
                .push(json!({ "at": format!("function `{label}`"), "reason": "already defined; it is left as it is" }));
            continue;
        }
        next.functions.push(Record::new(function, version));
        functions.push(label);
    }
    for mut service in config.services {
        let id = service.id.clone().unwrap_or_default();
        let service_apis = std::mem::take(&mut service.apis);
        let index = match next.service(&id) {
            Some(index) => index,
            None => {
                next.services.push(ServiceRecord {
                    record: Record::new(service, version),
                    apis: Vec::new(),
                    releases: Vec::new(),
                    serving: Default::default(),
                });
                services.push(id.clone());
                next.services.len() - 1
            }
        };
        for api in service_apis {
            let name = api.name.clone().unwrap_or_default();
            if next.services[index].api_index(&name).is_some() {
                skipped.push(json!({ "at": format!("service `{id}` api `{name}`"), "reason": "the service already has an api of that name; it is left as it is" }));
                continue;
            }
            next.services[index].apis.push(Record::new(api, version));
            apis.push(format!("{id}/{name}"));
        }
        next.services[index].record.touch(version);
    }
    let scope = if functions.is_empty() { Scope::Draft } else { Scope::DataPlane };
    match inner.commit(next, scope) {
        Ok(_) => {}
        Err(AdminError::Invalid(error)) => {
            return Ok(Response::json(400, &json!({ "errors": [error.to_string()], "report": report })));
        }
        Err(other) => return Err(other),
    }
    let imported = json!({ "functions": functions, "services": services, "apis": apis });
    Ok(Response::json(200, &json!({ "imported": imported, "skipped": skipped, "report": report, "published": false })))
}

/// The console's test panel: a browser cannot call the data plane's port from the console's
/// origin, so the admin thread sends the request over loopback and returns what came back.
pub(super) fn test_request(inner: &Inner, request: &Request) -> Result<Response, AdminError> {
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
    stream.take(crate::admin::http::MAX_BODY_BYTES as u64).read_to_end(&mut raw).map_err(failed)?;
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
