//! OpenAPI 3.0 for a service: export (its draft, or the release a stage serves) and import (into
//! its draft, like Tencent's 导入 API: nothing is published). Standard fields carry what OpenAPI
//! can say (path, method, `operationId` = API name, parameters, response samples); Tencent's own
//! `x-apigw-*` extensions (its 导入 API format) carry the backend, CORS and timeout, both ways;
//! `x-scfgate-*` extensions carry the rest (policies, error codes, `=`/`^~` path markers, `ANY`,
//! WebSocket functions), so importing an export gives the same APIs back. What an import cannot
//! map is reported item by item, never silently dropped.

use serde_json::{json, Map, Value};

use crate::config::file;

/// One thing an import did not map, and why.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Skipped {
    /// Where in the document, e.g. `PATCH /items` or `GET /items parameter session (cookie)`.
    pub at: String,
    /// Why.
    pub reason: String,
    /// The same place as keys from the document's root (`paths`, `/items`, `get`, ...), for
    /// `scfgate import`'s line numbers; not part of the admin API's answer.
    #[serde(skip)]
    pub pointer: Vec<String>,
}

/// The keys from the document's root to `path`'s operation `method`.
fn pointer_to(path: &str, method: &str, more: &[&str]) -> Vec<String> {
    let mut pointer = vec!["paths".to_owned(), path.to_owned()];
    if !method.is_empty() {
        pointer.push(method.to_owned());
    }
    pointer.extend(more.iter().map(|key| (*key).to_owned()));
    pointer
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Report {
    /// The APIs, in document order, not yet validated.
    pub apis: Vec<file::Api>,
    /// What was left out.
    pub skipped: Vec<Skipped>,
    /// Functions an `x-apigw-backend` names as web functions (`ServiceScfFunctionType: HTTP`).
    pub web_functions: Vec<String>,
}

/// Methods an API may have, as OpenAPI's lower-case operation keys.
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "head"];
/// Operation keys OpenAPI has and the gateway does not route.
const UNSUPPORTED_METHODS: [&str; 3] = ["options", "patch", "trace"];
/// API keys written as standard OpenAPI; every other key of the API travels in `x-scfgate`.
const STANDARD_KEYS: [&str; 8] = [
    "name",
    "path",
    "method",
    "param",
    "description",
    "success_response_sample",
    "failure_response_sample",
    "function",
];

fn schema_of(kind: &str) -> Value {
    match kind.to_ascii_lowercase().as_str() {
        "int" => json!({ "type": "integer", "format": "int32" }),
        "long" => json!({ "type": "integer", "format": "int64" }),
        "float" => json!({ "type": "number", "format": "float" }),
        "double" => json!({ "type": "number", "format": "double" }),
        "boolean" => json!({ "type": "boolean" }),
        "date" => json!({ "type": "string", "format": "date" }),
        _ => json!({ "type": "string" }),
    }
}

fn kind_of(schema: &Value) -> Option<&'static str> {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or_default();
    Some(match (schema.get("type").and_then(Value::as_str).unwrap_or("string"), format) {
        ("integer", "int64") => "long",
        ("integer", _) => "int",
        ("number", "float") => "float",
        ("number", _) => "double",
        ("boolean", _) => "boolean",
        ("string", "date" | "date-time") => "date",
        ("string", _) => "string",
        _ => return None,
    })
}

fn media_type(response_type: Option<&str>) -> &'static str {
    match response_type.map(str::to_ascii_lowercase).as_deref() {
        Some("html") => "text/html",
        Some("text") => "text/plain",
        Some("xml") => "application/xml",
        Some("binary") => "application/octet-stream",
        _ => "application/json",
    }
}

/// `/a/{id}` from `=/a/{id}` or `^~/a/{id}`, and the marker.
fn split_marker(path: &str) -> (&str, Option<&str>) {
    if let Some(rest) = path.strip_prefix("^~") {
        (rest, Some("^~"))
    } else if let Some(rest) = path.strip_prefix('=') {
        (rest, Some("="))
    } else {
        (path, None)
    }
}

/// The document for `service`; `stage` names the release it came from (none: the draft).
pub fn export(service: &file::Service, stage: Option<&str>) -> Value {
    let mut paths = Map::new();
    let mut overflow = Vec::new();
    let mut schemes = Map::new();
    for (order, api) in service.apis.iter().enumerate() {
        let raw_path = api.path.clone().unwrap_or_default();
        let (path, marker) = split_marker(&raw_path);
        let declared = api.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
        let key = if declared == "ANY" { "get".to_owned() } else { declared.to_ascii_lowercase() };
        let mut operation = operation(api, path, marker, &declared, &mut schemes);
        // Param routes are tried in definition order, and JSON objects have none.
        operation["x-scfgate-order"] = order.into();
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        if item.get(&key).is_some() {
            // `=/a` and `/a` (or an ANY beside a GET) share an OpenAPI path and method: this
            // one goes beside the paths, carrying its own.
            if operation.get("x-scfgate").is_none() {
                operation["x-scfgate"] = json!({});
            }
            operation["x-scfgate"]["path"] = raw_path.as_str().into();
            operation["x-scfgate"]["method"] = declared.as_str().into();
            overflow.push(operation);
        } else {
            item[&key] = operation;
        }
    }
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": service.name.clone().unwrap_or_default(),
            "version": stage.unwrap_or("draft"),
        },
        "paths": paths,
        "x-scfgate-service": { "id": service.id, "name": service.name },
    });
    if let Some(description) = &service.description {
        document["info"]["description"] = description.as_str().into();
    }
    if let Some(stage) = stage {
        document["servers"] = json!([{ "url": format!("/{stage}"), "description": format!("stage {stage}") }]);
    }
    if !schemes.is_empty() {
        document["components"] = json!({ "securitySchemes": schemes });
    }
    if !overflow.is_empty() {
        document["x-scfgate-operations"] = overflow.into();
    }
    document
}

fn operation(
    api: &file::Api,
    path: &str,
    marker: Option<&str>,
    method: &str,
    schemes: &mut Map<String, Value>,
) -> Value {
    let mut operation = json!({ "operationId": api.name });
    if let Some(description) = &api.description {
        operation["description"] = description.as_str().into();
    }
    let mut parameters: Vec<Value> = api
        .params
        .iter()
        .map(|param| {
            let position = param.position.clone().unwrap_or_default().to_ascii_lowercase();
            let mut schema = schema_of(param.kind.as_deref().unwrap_or("string"));
            if let Some(default) = &param.default {
                schema["default"] = typed(default, param.kind.as_deref());
            }
            let mut value = json!({ "name": param.name, "in": position, "required": param.required == Some(true) || position == "path", "schema": schema });
            if let Some(desc) = &param.desc {
                value["description"] = desc.as_str().into();
            }
            if let Some(sample) = &param.sample {
                value["example"] = typed(sample, param.kind.as_deref());
            }
            value
        })
        .collect();
    // OpenAPI requires every `{name}` of the path to be declared; these were not.
    for name in placeholders(path) {
        let declared = api.params.iter().any(|param| {
            param.name.as_deref() == Some(name)
                && param.position.as_deref().is_some_and(|position| position.eq_ignore_ascii_case("path"))
        });
        if !declared {
            parameters.push(json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "x-scfgate-undeclared": true }));
        }
    }
    if !parameters.is_empty() {
        operation["parameters"] = parameters.into();
    }
    let content_type = media_type(api.response_type.as_deref());
    let mut success = json!({ "description": "success" });
    if let Some(sample) = &api.success_response_sample {
        success["content"] = json!({ content_type: { "example": sample } });
    }
    let mut responses = json!({ "200": success });
    if api.failure_response_sample.is_some() || !api.error_codes.is_empty() {
        let codes: Vec<String> = api
            .error_codes
            .iter()
            .map(|code| {
                let converted = code.converted_code.map(|to| format!(" (the client sees {to})")).unwrap_or_default();
                format!("{}: {}{converted}", code.code.unwrap_or_default(), code.message.as_deref().unwrap_or_default())
            })
            .collect();
        let mut failure = json!({ "description": if codes.is_empty() { "failure".to_owned() } else { format!("failure; error codes: {}", codes.join("; ")) } });
        if let Some(sample) = &api.failure_response_sample {
            failure["content"] = json!({ content_type: { "example": sample } });
        }
        responses["default"] = failure;
    }
    operation["responses"] = responses;
    match api.auth.as_deref() {
        Some("key_pair") => {
            schemes.insert("scfgate_key_pair".into(), json!({ "type": "apiKey", "in": "header", "name": "Authorization", "description": "Tencent API Gateway key pair: hmac id=\"...\", algorithm=\"hmac-sha1\", headers=\"x-date\", signature=\"...\"" }));
            operation["security"] = json!([{ "scfgate_key_pair": [] }]);
        }
        Some("oauth") => {
            schemes
                .insert("scfgate_oauth".into(), json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }));
            operation["security"] = json!([{ "scfgate_oauth": [] }]);
        }
        _ => {}
    }
    let mut extension = match clean(serde_json::to_value(api).unwrap_or_default()) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for key in STANDARD_KEYS {
        extension.remove(key);
    }
    write_apigw(api, &mut operation, &mut extension);
    if let Some(marker) = marker {
        extension.insert("path".into(), format!("{marker}{path}").into());
    }
    if method == "ANY" {
        extension.insert("method".into(), "ANY".into());
    }
    if !extension.is_empty() {
        operation["x-scfgate"] = extension.into();
    }
    operation
}

/// Tencent's operation extensions for what they can say (its 导入 API format, which
/// [`import`] reads too): the SCF backend with its integrated-response flag, CORS and the backend
/// timeout. A key they carry exactly leaves `x-scfgate`; `cors = false` and
/// `integrated_response = false` stay there as well, since an import cannot tell them from
/// absent. WebSocket APIs get none: Tencent's format cannot name their three functions.
fn write_apigw(api: &file::Api, operation: &mut Value, extension: &mut Map<String, Value>) {
    if api.register.is_some() || api.transport.is_some() || api.cleanup.is_some() {
        if let Some(function) = &api.function {
            operation["x-scfgate-function"] = clean(serde_json::to_value(function).unwrap_or_default());
        }
        return;
    }
    operation["x-apigw-api-type"] = "NORMAL".into();
    operation["x-apigw-protocol"] = "HTTP".into();
    match &api.function {
        Some(function) if function.name.is_some() => {
            let mut backend = json!({ "ServiceType": "SCF", "ServiceScfFunctionName": function.name });
            if let Some(namespace) = &function.namespace {
                backend["ServiceScfFunctionNamespace"] = namespace.as_str().into();
            }
            if let Some(qualifier) = &function.qualifier {
                backend["ServiceScfFunctionQualifier"] = qualifier.as_str().into();
            }
            backend["ServiceScfIsIntegratedResponse"] = api.integrated_response.unwrap_or(false).into();
            if api.integrated_response == Some(true) {
                extension.remove("integrated_response");
            }
            operation["x-apigw-backend"] = backend;
        }
        Some(function) => operation["x-scfgate-function"] = clean(serde_json::to_value(function).unwrap_or_default()),
        None => {}
    }
    if let Some(cors) = api.cors {
        operation["x-apigw-cors"] = cors.into();
        if cors {
            extension.remove("cors");
        }
    }
    if let Some(timeout) = extension.remove("timeout") {
        operation["x-apigw-service-timeout"] = timeout;
    }
}

/// A value as its type's JSON (`42` for an int), so OpenAPI tools show it as such; text that
/// does not parse stays text.
fn typed(text: &str, kind: Option<&str>) -> Value {
    match kind.map(str::to_ascii_lowercase).as_deref() {
        Some("int" | "long") => text.parse::<i64>().map(Value::from).unwrap_or_else(|_| text.into()),
        Some("float" | "double") => text
            .parse::<f64>()
            .ok()
            .and_then(|number| serde_json::Number::from_f64(number).map(Value::Number))
            .unwrap_or_else(|| text.into()),
        Some("boolean") => text.to_ascii_lowercase().parse::<bool>().map(Value::from).unwrap_or_else(|_| text.into()),
        _ => text.into(),
    }
}

/// A JSON scalar as the text the file model keeps.
fn untyped(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn placeholders(path: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        names.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    names
}

fn clean(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter().filter(|(_, value)| !value.is_null()).map(|(key, value)| (key, clean(value))).collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(clean).collect()),
        other => other,
    }
}

/// `namespace/name:qualifier`, `name:qualifier` or `name` as a function reference.
pub fn parse_function(text: &str) -> Result<file::FunctionRef, String> {
    let (namespace, rest) = match text.split_once('/') {
        Some((namespace, rest)) => (Some(namespace.to_owned()), rest),
        None => (None, text),
    };
    let (name, qualifier) = match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier.to_owned())),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(format!("`{text}` names no function; write name, name:qualifier or namespace/name:qualifier"));
    }
    Ok(file::FunctionRef { name: Some(name.to_owned()), namespace, qualifier })
}

/// Maps an OpenAPI 3.0 document to APIs. `default_function` backs operations without
/// `x-scfgate-function` (OpenAPI has no notion of a backend).
pub fn import(document: &Value, default_function: Option<&file::FunctionRef>) -> Result<Report, String> {
    let version = document.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !version.starts_with("3.") {
        let found = document
            .get("swagger")
            .and_then(Value::as_str)
            .map(|swagger| format!("Swagger {swagger}"))
            .unwrap_or_else(|| format!("`openapi: {version}`"));
        return Err(format!("only OpenAPI 3.x documents can be imported; this one is {found}"));
    }
    let mut report = Report::default();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Err("the document has no `paths`".into());
    };
    let mut operations: Vec<(String, String, &Value, &[Value])> = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        if item.contains_key("$ref") {
            report.skipped.push(Skipped {
                at: path.clone(),
                reason: "a path item `$ref` is not resolved".into(),
                pointer: pointer_to(path, "", &["$ref"]),
            });
            continue;
        }
        let shared: &[Value] = item.get("parameters").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (key, operation) in item {
            if METHODS.contains(&key.as_str()) {
                operations.push((path.clone(), key.clone(), operation, shared));
            } else if UNSUPPORTED_METHODS.contains(&key.as_str()) {
                report.skipped.push(Skipped {
                    at: format!("{} {path}", key.to_ascii_uppercase()),
                    reason: format!(
                        "method {} is not one an API can have (GET, POST, PUT, DELETE, HEAD, ANY)",
                        key.to_ascii_uppercase()
                    ),
                    pointer: pointer_to(path, key, &[]),
                });
            } else if key.starts_with("x-apigw-") {
                report.skipped.push(Skipped {
                    at: format!("{path} {key}"),
                    reason: "Tencent's x-apigw-* extensions are read on operations only".into(),
                    pointer: pointer_to(path, key, &[]),
                });
            }
        }
    }
    if let Some(root) = document.as_object() {
        for key in root.keys().filter(|key| key.starts_with("x-apigw-")) {
            report.skipped.push(Skipped {
                at: key.clone(),
                reason: "Tencent's x-apigw-* extensions are read on operations only".into(),
                pointer: vec![key.clone()],
            });
        }
    }
    for operation in document.get("x-scfgate-operations").and_then(Value::as_array).into_iter().flatten() {
        operations.push((String::new(), String::new(), operation, &[]));
    }
    // An export's definition order first; other operations after, in document order.
    operations.sort_by_key(|(_, _, operation, _)| {
        operation.get("x-scfgate-order").and_then(Value::as_u64).unwrap_or(u64::MAX)
    });
    for (path, method, operation, shared) in operations {
        let at = if path.is_empty() {
            "x-scfgate-operations".to_owned()
        } else {
            format!("{} {path}", method.to_ascii_uppercase())
        };
        let pointer =
            if path.is_empty() { vec!["x-scfgate-operations".to_owned()] } else { pointer_to(&path, &method, &[]) };
        let imported =
            import_operation(&path, &method, operation, shared, default_function, &at, &pointer, &mut report);
        match imported {
            Ok(api) => report.apis.push(api),
            Err(reason) => report.skipped.push(Skipped { at, reason, pointer }),
        }
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn import_operation(
    path: &str,
    method: &str,
    operation: &Value,
    shared: &[Value],
    default_function: Option<&file::FunctionRef>,
    at: &str,
    pointer: &[String],
    report: &mut Report,
) -> Result<file::Api, String> {
    let skipped = &mut report.skipped;
    let here = |more: &[&str]| {
        let mut here = pointer.to_vec();
        here.extend(more.iter().map(|key| (*key).to_owned()));
        here
    };
    let mut api = Map::new();
    let name = match operation.get("operationId").and_then(Value::as_str) {
        Some(name) => name.to_owned(),
        None => return Err("no operationId (it becomes the API's name)".into()),
    };
    api.insert("name".into(), name.into());
    api.insert("path".into(), path.into());
    api.insert("method".into(), method.to_ascii_uppercase().into());
    if let Some(description) = operation.get("description").or_else(|| operation.get("summary")).and_then(Value::as_str)
    {
        api.insert("description".into(), description.into());
    }
    let own: &[Value] = operation.get("parameters").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut params = Vec::new();
    // Operation-level parameters override path-level ones of the same name and location.
    let overridden = |candidate: &Value| {
        own.iter().any(|param| param.get("name") == candidate.get("name") && param.get("in") == candidate.get("in"))
    };
    for param in shared.iter().filter(|param| !overridden(param)).chain(own) {
        match import_param(param) {
            Ok(Some(param)) => params.push(param),
            Ok(None) => {}
            Err(reason) => skipped.push(Skipped {
                at: format!("{at} parameter {}", param.get("name").and_then(Value::as_str).unwrap_or("?")),
                reason,
                pointer: here(&["parameters"]),
            }),
        }
    }
    if !params.is_empty() {
        api.insert("param".into(), params.into());
    }
    if operation.get("requestBody").is_some() {
        skipped.push(Skipped {
            at: format!("{at} requestBody"),
            reason: "request body schemas are not checked by the gateway; the body reaches the function as sent".into(),
            pointer: here(&["requestBody"]),
        });
    }
    if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
        for (status, response) in responses {
            let key = if status.starts_with('2') { "success_response_sample" } else { "failure_response_sample" };
            if api.contains_key(key) {
                continue;
            }
            if let Some(sample) = response_example(response) {
                api.insert(key.into(), sample.into());
            }
        }
    }
    let extension = operation.get("x-scfgate").and_then(Value::as_object).cloned().unwrap_or_default();
    if operation.get("security").and_then(Value::as_array).is_some_and(|requirements| !requirements.is_empty())
        && !extension.contains_key("auth")
    {
        skipped.push(Skipped {
            at: format!("{at} security"),
            reason: "security requirements are not mapped; the API is imported with auth = none (set `auth` on it: key_pair or oauth)".into(),
            pointer: here(&["security"]),
        });
    }
    // Tencent's extensions first, so that scfgate's own (an export's) win where both say a thing.
    let backend = apigw_extensions(operation, &mut api, at, pointer, skipped, &mut report.web_functions)?;
    for (key, value) in extension {
        api.insert(key, value);
    }
    let websocket = api.contains_key("register");
    match operation.get("x-scfgate-function").or(backend.as_ref()) {
        Some(function) => {
            api.insert("function".into(), function.clone());
        }
        None if websocket => {}
        None => match default_function {
            Some(function) => {
                api.insert("function".into(), clean(serde_json::to_value(function).unwrap_or_default()));
            }
            None => {
                return Err(
                    "no backend function: give the operation `x-apigw-backend` (ServiceType SCF) or `x-scfgate-function`, or import with ?function=<name>"
                        .into(),
                )
            }
        },
    }
    serde_json::from_value(Value::Object(api)).map_err(|error| format!("x-scfgate: {error}"))
}

/// A flag as Tencent writes them: `true`, or `"TRUE"` / `"true"` in exports of its console.
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => text.to_ascii_lowercase().parse().ok(),
        _ => None,
    }
}

/// Tencent's operation extensions (spec tencent-migration.md §4): `x-apigw-cors`,
/// `x-apigw-service-timeout` and an SCF `x-apigw-backend` (function, integrated response) go
/// into `api`; the backend's function reference is returned. Anything else is reported, or,
/// when the API could not be served as Tencent serves it (a non-SCF backend, TSF, WebSocket),
/// the API is left out with the reason.
fn apigw_extensions(
    operation: &Value,
    api: &mut Map<String, Value>,
    at: &str,
    pointer: &[String],
    skipped: &mut Vec<Skipped>,
    web_functions: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    let Some(operation) = operation.as_object() else { return Ok(None) };
    let mut function = None;
    for (key, value) in operation.iter().filter(|(key, _)| key.starts_with("x-apigw-")) {
        let mut skip = |more: Option<&str>, reason: String| {
            let mut here = pointer.to_vec();
            here.push(key.clone());
            here.extend(more.map(str::to_owned));
            let at = match more {
                Some(more) => format!("{at} {key}.{more}"),
                None => format!("{at} {key}"),
            };
            skipped.push(Skipped { at, reason, pointer: here });
        };
        match key.as_str() {
            "x-apigw-cors" => match flag(value) {
                Some(true) => {
                    api.insert("cors".into(), true.into());
                }
                Some(false) => {}
                None => skip(None, "not a boolean".into()),
            },
            "x-apigw-service-timeout" => match value.as_f64().or_else(|| value.as_str()?.trim().parse().ok()) {
                Some(seconds) => {
                    api.insert("timeout".into(), seconds.into());
                }
                None => skip(None, "not a number of seconds".into()),
            },
            "x-apigw-backend" => {
                let backend = value.as_object().cloned().unwrap_or_default();
                let kind = backend.get("ServiceType").and_then(Value::as_str).unwrap_or("SCF").to_ascii_uppercase();
                if kind != "SCF" {
                    return Err(format!("x-apigw-backend: {kind} backends are not served (scfgate's APIs call SCF functions)"));
                }
                let text = |name: &str| backend.get(name).and_then(Value::as_str).filter(|text| !text.is_empty());
                let mut reference = Map::new();
                if let Some(name) = text("ServiceScfFunctionName") {
                    reference.insert("name".into(), name.into());
                }
                if let Some(namespace) = text("ServiceScfFunctionNamespace") {
                    reference.insert("namespace".into(), namespace.into());
                }
                if let Some(qualifier) = text("ServiceScfFunctionQualifier") {
                    reference.insert("qualifier".into(), qualifier.into());
                }
                for (field, value) in &backend {
                    match field.as_str() {
                        "ServiceType" | "ServiceScfFunctionName" | "ServiceScfFunctionNamespace"
                        | "ServiceScfFunctionQualifier" => {}
                        "ServiceScfIsIntegratedResponse" => match flag(value) {
                            Some(true) => {
                                api.insert("integrated_response".into(), true.into());
                            }
                            Some(false) => {}
                            None => skip(Some(field), "not a boolean".into()),
                        },
                        "ServiceScfFunctionType" => match value.as_str().map(str::to_ascii_uppercase).as_deref() {
                            Some("EVENT") => {}
                            Some("HTTP") => web_functions.extend(text("ServiceScfFunctionName").map(str::to_owned)),
                            _ => skip(Some(field), "neither EVENT nor HTTP".into()),
                        },
                        "IsBase64Encoded" if flag(value) != Some(true) => {}
                        "IsBase64Encoded" => skip(
                            Some(field),
                            "bodies reach the function as the gateway's event encodes them; Base64 is not forced".into(),
                        ),
                        _ => skip(Some(field), "not a key of an SCF x-apigw-backend scfgate knows".into()),
                    }
                }
                if reference.contains_key("name") {
                    function = Some(Value::Object(reference));
                } else {
                    skip(Some("ServiceScfFunctionName"), "missing: the backend names no function".into());
                }
            }
            "x-apigw-protocol" => match value.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("HTTP") => {}
                Some("WEBSOCKET") => {
                    return Err("x-apigw-protocol: WebSocket APIs need register, transport and cleanup functions, which the document cannot name; define it in the config".into())
                }
                _ => skip(None, "neither HTTP nor WEBSOCKET".into()),
            },
            "x-apigw-api-type" => match value.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("NORMAL") => {}
                _ => return Err(format!("{key}: only NORMAL APIs are served (not TSF)")),
            },
            "x-apigw-api-business-type" => match value.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("NORMAL") => {}
                _ => skip(None, "an OAuth authorization API is imported as a normal API: scfgate verifies tokens itself with the business API's public key".into()),
            },
            "x-apigw-const-paramters" | "x-apigw-const-parameters" => {
                skip(None, "constant parameters are for HTTP backends; SCF backends get none".into())
            }
            _ => skip(None, "not an x-apigw-* extension scfgate knows".into()),
        }
    }
    Ok(function)
}

/// One parameter; `Ok(None)` for the path placeholders an export declared only for OpenAPI.
fn import_param(param: &Value) -> Result<Option<Value>, String> {
    if param.get("$ref").is_some() {
        return Err("a parameter `$ref` is not resolved".into());
    }
    if param.get("x-scfgate-undeclared").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let name = param.get("name").and_then(Value::as_str).ok_or("no name")?;
    let position = match param.get("in").and_then(Value::as_str) {
        Some(position @ ("query" | "header" | "path")) => position,
        Some(other) => return Err(format!("parameters in `{other}` cannot be declared (header, query and path can)")),
        None => return Err("no `in`".into()),
    };
    let schema = param.get("schema").cloned().unwrap_or_else(|| json!({ "type": "string" }));
    if schema.get("$ref").is_some() {
        return Err("a schema `$ref` is not resolved".into());
    }
    let kind = kind_of(&schema).ok_or_else(|| {
        format!(
            "type `{}` has no parameter type (string, int, long, float, double, boolean, date)",
            schema.get("type").and_then(Value::as_str).unwrap_or("?")
        )
    })?;
    let mut value = json!({ "name": name, "position": position, "type": kind });
    // A path parameter is always present, so the file model leaves `required` to the path.
    if position != "path" && param.get("required").and_then(Value::as_bool) == Some(true) {
        value["required"] = true.into();
    }
    if let Some(default) = schema.get("default").and_then(untyped) {
        value["default"] = default.into();
    }
    if let Some(sample) = param.get("example").and_then(untyped) {
        value["sample"] = sample.into();
    }
    if let Some(desc) = param.get("description").and_then(Value::as_str) {
        value["desc"] = desc.into();
    }
    Ok(Some(value))
}

fn response_example(response: &Value) -> Option<String> {
    let content = response.get("content")?.as_object()?;
    content.values().find_map(|media| {
        let example =
            media.get("example").or_else(|| media.get("examples")?.as_object()?.values().next()?.get("value"))?;
        Some(match example {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> file::Service {
        toml::from_str(
            r#"
id = "service-a"
name = "shop"
[[api]]
name = "item"
path = "/item/{id}"
method = "GET"
function = { name = "shop", qualifier = "2" }
auth = "key_pair"
description = "one item"
success_response_sample = '{"id":42}'
[[api.param]]
name = "id"
position = "path"
type = "long"
sample = "42"
[[api.param]]
name = "page"
position = "query"
type = "int"
default = "1"
[[api.error_code]]
code = 404
message = "no such item"
converted_code = 410
[[api]]
name = "all"
path = "=/all"
method = "ANY"
function = { name = "shop" }
[[api]]
name = "any-rest"
path = "/rest/{a}"
method = "POST"
function = { name = "shop" }
"#,
        )
        .unwrap()
    }

    #[test]
    fn import_of_an_export_gives_the_same_apis() {
        let original = service();
        let document = export(&original, None);
        assert_eq!(document["paths"]["/item/{id}"]["get"]["operationId"], "item");
        assert_eq!(document["paths"]["/item/{id}"]["get"]["parameters"][0]["schema"]["format"], "int64");
        // The backend is Tencent's x-apigw-backend, not an x-scfgate key.
        let item = &document["paths"]["/item/{id}"]["get"];
        assert_eq!(
            item["x-apigw-backend"],
            json!({"ServiceType": "SCF", "ServiceScfFunctionName": "shop", "ServiceScfFunctionQualifier": "2", "ServiceScfIsIntegratedResponse": false})
        );
        assert!(item.get("x-scfgate-function").is_none(), "{item}");
        let report = import(&document, None).unwrap();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let back = serde_json::to_value(&report.apis).unwrap();
        assert_eq!(clean(back), clean(serde_json::to_value(&original.apis).unwrap()));
    }

    #[test]
    fn what_cannot_be_mapped_is_reported() {
        let document = json!({
            "openapi": "3.0.0",
            "paths": {
                "/pets": {
                    "patch": { "operationId": "patch-pets" },
                    "post": {
                        "operationId": "add-pet",
                        "parameters": [{ "name": "session", "in": "cookie" }, { "$ref": "#/components/parameters/x" }, { "name": "tags", "in": "query", "schema": { "type": "array" } }],
                        "requestBody": { "content": {} },
                        "security": [{ "key": [] }]
                    },
                    "get": { "parameters": [] }
                }
            }
        });
        let function = parse_function("default/pets:$LATEST").unwrap();
        let report = import(&document, Some(&function)).unwrap();
        assert_eq!(report.apis.len(), 1);
        let reasons: Vec<String> =
            report.skipped.iter().map(|skipped| format!("{}: {}", skipped.at, skipped.reason)).collect();
        let expected = [
            "PATCH /pets",
            "POST /pets parameter session",
            "POST /pets parameter ?",
            "POST /pets parameter tags",
            "POST /pets requestBody",
            "POST /pets security",
            "GET /pets: no operationId",
        ];
        for needle in expected {
            assert!(reasons.iter().any(|reason| reason.contains(needle)), "{needle} not in {reasons:#?}");
        }
        assert!(import(&json!({ "swagger": "2.0" }), None).unwrap_err().contains("Swagger 2.0"));
    }
}
