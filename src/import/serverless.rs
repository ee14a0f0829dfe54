//! Serverless Framework `serverless.yml` for Tencent (Components v2): `component: scf` (a function
//! and its `apigw` triggers) and `component: apigateway` (a service and its `endpoints`), mapped
//! to `[[function]]` and `[[service]]` tables. Defaults are the components' own (spec
//! tencent-migration.md §3.1, §3.2): a trigger without `environment` publishes to `release`,
//! `serviceTimeout` is 15, `isIntegratedResponse` is false. Every key is either mapped or reported.

use std::path::Path;

use super::report::Kind;
use super::yaml::{Node, Value};
use super::{Doc, Project};
use crate::config::file::{self, Seconds};

/// `inputs` keys of `component: scf` scfgate has no equivalent for, and why.
const SCF_NOT_CARRIED: &[(&str, &str)] = &[
    ("vpcConfig", "functions run on this machine's network; there is no VPC to join"),
    ("layers", "layers are not unpacked into /opt; copy the layer's files into the code folder (`src`)"),
    ("cls", "function logs go to the gateway's log (stderr, the journal), not to CLS"),
    ("tags", "scfgate has no resource tags"),
    ("role", "functions get no run-role credentials (TENCENTCLOUD_SECRETID, ...); give keys the code needs in environment.variables"),
    ("publicAccess", "outbound traffic leaves through this machine's network"),
    ("eip", "outbound traffic leaves through this machine's network"),
    ("cfs", "CFS file systems are not mounted"),
    ("deadLetter", "scfgate invokes synchronously (API triggers only): there are no failed async events to keep"),
    ("asyncRunEnable", "scfgate invokes synchronously (API triggers only)"),
    ("retryNum", "scfgate invokes synchronously (API triggers only); synchronous calls are not retried"),
    ("msgTTL", "scfgate invokes synchronously (API triggers only)"),
    ("traceEnable", "scfgate does not report to Tencent's APM"),
    ("installDependency", "dependencies are not installed online: vendor them into the code folder (pip install -t ., npm install)"),
    ("ignoreTriggers", "triggers are read from `events` as written"),
    ("image", "image-based functions are not run; build the image's server as a web function (scf_bootstrap) instead"),
    ("description", "a [[function]] has no description"),
    ("qualifier", "a local function is always its $LATEST code; APIs name the qualifier they call"),
    ("asyncRunEnableStatus", "scfgate invokes synchronously (API triggers only)"),
];

/// `events` kinds other than `apigw`, which scfgate does not serve.
const OTHER_TRIGGERS: &[&str] = &["timer", "cos", "cmq", "ckafka", "cls", "mps", "clb", "cmq", "tdmq"];

/// A function as its triggers need it.
struct FunctionInfo {
    name: String,
    namespace: Option<String>,
    /// The function's own `timeout`, which bounds an invocation below the API's.
    timeout: Option<(f64, usize)>,
}

/// Maps one `serverless.yml`.
pub fn import(doc: &Doc, project: &mut Project) {
    let root = &doc.root;
    let component = root.get("component").and_then(Node::text);
    for entry in root.entries() {
        match entry.key.as_str() {
            "component" | "inputs" | "name" | "app" | "stage" | "org" => {}
            "version" => {}
            other => doc.report(project, &[other], Kind::NotCarried, "not a key of a Serverless Components file"),
        }
    }
    let Some(inputs) = root.get("inputs") else {
        doc.fail(project, &["inputs"], "the file has no `inputs`: nothing to import");
        return;
    };
    match component.as_deref().map(|name| name.split('@').next().unwrap_or(name)) {
        Some("scf") => scf(doc, inputs, project),
        Some("apigateway") => apigateway(doc, inputs, project),
        Some(other) => doc.report(
            project,
            &["component"],
            Kind::NotCarried,
            format!("component `{other}` is not imported (only `scf` and `apigateway` are)"),
        ),
        None => doc.fail(project, &["component"], "no `component` (scf or apigateway)"),
    }
}

/// The function name the scf component deploys under: `inputs.name`, else `${name}-${stage}-${app}`.
pub fn function_name(root: &Node) -> Option<String> {
    if let Some(name) = root.get("inputs").and_then(|inputs| inputs.get("name")).and_then(Node::text) {
        return Some(name);
    }
    let instance = root.get("name").and_then(Node::text)?;
    let stage = root.get("stage").and_then(Node::text).unwrap_or_else(|| "dev".into());
    let mut parts = vec![instance, stage];
    parts.extend(root.get("app").and_then(Node::text));
    Some(parts.join("-"))
}

fn scf(doc: &Doc, inputs: &Node, project: &mut Project) {
    let Some(name) = function_name(&doc.root) else {
        doc.fail(project, &["inputs", "name"], "the function has no name (inputs.name, or a top-level name)");
        return;
    };
    let web = match inputs.get("type").and_then(Node::text).as_deref() {
        None | Some("event") => false,
        Some("web") => true,
        Some(other) => {
            doc.fail(project, &["inputs", "type"], format!("`{other}` is neither `event` nor `web`"));
            return;
        }
    };
    let mut function = file::Function {
        name: Some(name.clone()),
        namespace: None,
        qualifier: None,
        runtime: None,
        memory_limit_in_mb: None,
        code: None,
        handler: None,
        interpreter: None,
        instances: None,
        init_timeout: None,
        max_instances: None,
        idle_timeout: None,
        concurrency: None,
        environment: Default::default(),
        invoke_url: None,
        url: None,
        port: None,
        region: None,
        endpoint: None,
        ca_file: None,
        secret_id_env: None,
        secret_key_env: None,
        token_env: None,
    };
    let mut info = FunctionInfo { name: name.clone(), namespace: None, timeout: None };
    let mut events = None;
    for entry in inputs.entries() {
        let key = entry.key.as_str();
        let value = &entry.value;
        let path = ["inputs", key];
        match key {
            "name" | "type" => {}
            "src" => function.code = code_folder(doc, value, project),
            "handler" if web => doc.report(project, &path, Kind::NotCarried, "a web function runs its scf_bootstrap; it has no handler"),
            "handler" => function.handler = value.text(),
            "entryFile" if web => doc.report(project, &path, Kind::NotCarried, "the component only uses it to write an scf_bootstrap when src has none; scfgate runs the folder's scf_bootstrap"),
            "runtime" if web => doc.report(project, &path, Kind::NotCarried, "a web function runs its scf_bootstrap, which names its own interpreter (/var/lang paths are found on this machine)"),
            "runtime" => function.runtime = value.text().map(file::Runtime::from),
            "namespace" => {
                function.namespace = value.text();
                info.namespace = value.text();
            }
            "region" => project.region(doc, &path, value),
            "memorySize" => function.memory_limit_in_mb = value.number().map(|megabytes| megabytes as u32),
            "timeout" => info.timeout = value.number().map(|seconds| (seconds, doc.line(&path))),
            "initTimeout" => function.init_timeout = value.number().map(Seconds),
            "provisionedNum" => match value.number() {
                Some(count) if count >= 1.0 => function.instances = Some(count as usize),
                _ => doc.report(project, &path, Kind::NotCarried, "no warm instance asked for; scfgate keeps one"),
            },
            "environment" => environment(doc, value, &mut function, project),
            "events" => events = Some(value),
            "protocolType" | "protocolParams" => doc.report(
                project,
                &path,
                Kind::NotCarried,
                "WebSocket upgrades pass through to web functions as they are; their idle limit is [gateway] websocket_idle_timeout",
            ),
            _ => match SCF_NOT_CARRIED.iter().find(|(name, _)| *name == key) {
                Some((_, why)) => doc.report(project, &path, Kind::NotCarried, *why),
                None => doc.report(project, &path, Kind::NotCarried, "not an input of the scf component scfgate knows"),
            },
        }
    }
    if web {
        function.runtime = Some(file::Runtime::Web);
        // Tencent's web functions listen on 9000; one whose bootstrap says so keeps that port,
        // any other gets a free port in PORT.
        let bootstrap = function
            .code
            .as_ref()
            .map(|code| project.base_dir.join(code).join("scf_bootstrap"))
            .and_then(|path| std::fs::read_to_string(path).ok());
        if bootstrap.is_some_and(|text| text.contains("9000")) {
            function.port = Some(9000);
            doc.report(project, &["inputs", "src"], Kind::Note, "its scf_bootstrap names port 9000, so the function gets `port = 9000` (one instance); without it the gateway passes a free port in PORT");
        }
    } else if function.runtime.is_none() {
        // The scf component's default (spec §3.1).
        function.runtime = Some(file::Runtime::Standard("Nodejs10.15".into()));
    }
    if function.code.is_none() && inputs.get("src").is_none() {
        doc.fail(project, &["inputs", "src"], "no `src`: the function has no code folder");
    }
    if project.functions.iter().any(|other| other.name == function.name && other.namespace == function.namespace) {
        doc.fail(project, &["inputs", "name"], format!("function `{name}` is defined by another imported file too"));
        return;
    }
    if let Some((own, line)) = info.timeout {
        let why = format!("scfgate bounds an invocation by its API's timeout: the function's {own} s becomes that of each of its APIs whose serviceTimeout is longer (a function that runs longer gets 504 here, where SCF answers error 433)");
        project.report.push(&doc.file, Some(line), "inputs.timeout", Kind::Note, why);
    }
    let location = format!("function `{}/{name}:", info.namespace.as_deref().unwrap_or("default"));
    project.origin(location, doc, &["inputs"]);
    if web {
        project.web_functions.push(name.clone());
    }
    project.functions.push(function);
    for (index, event) in events.map(Node::items).unwrap_or_default().iter().enumerate() {
        let index = index.to_string();
        for entry in event.entries() {
            let path = ["inputs", "events", index.as_str(), entry.key.as_str()];
            match entry.key.as_str() {
                "apigw" => apigw_event(doc, &path, &entry.value, &info, project),
                "http" => super::addresses::http_trigger(doc, &path, &entry.value, project),
                other if OTHER_TRIGGERS.contains(&other) => doc.report(
                    project,
                    &path,
                    Kind::NotCarried,
                    format!("{other} triggers are not run: scfgate serves API Gateway triggers only"),
                ),
                other => {
                    doc.report(project, &path, Kind::NotCarried, format!("`{other}` is not a trigger scfgate knows"))
                }
            }
        }
    }
}

/// `src`: a folder, `{src, exclude}`, or a COS object (which cannot be run from here).
fn code_folder(doc: &Doc, value: &Node, project: &mut Project) -> Option<String> {
    let folder = match &value.value {
        Value::String(folder) => folder.clone(),
        Value::Map(entries) => {
            let mut folder = None;
            for entry in entries {
                let path = ["inputs", "src", entry.key.as_str()];
                match entry.key.as_str() {
                    "src" => folder = entry.value.text(),
                    "exclude" | "include" => doc.report(
                        project,
                        &path,
                        Kind::NotCarried,
                        "the whole folder is the function's code; nothing is packaged",
                    ),
                    "bucket" | "object" => doc.report(
                        project,
                        &path,
                        Kind::NotCarried,
                        "code in COS is not downloaded: unzip it into a folder and set `src` to it",
                    ),
                    _ => doc.report(project, &path, Kind::NotCarried, "not a key of `src`"),
                }
            }
            folder?
        }
        _ => {
            doc.fail(project, &["inputs", "src"], "not a folder");
            return None;
        }
    };
    let absolute = std::path::absolute(doc.dir.join(&folder)).unwrap_or_else(|_| doc.dir.join(&folder));
    Some(super::relative(&absolute, &project.base_dir))
}

fn environment(doc: &Doc, value: &Node, function: &mut file::Function, project: &mut Project) {
    for entry in value.entries() {
        match entry.key.as_str() {
            "variables" => {
                for variable in entry.value.entries() {
                    match variable.value.text() {
                        Some(text) => {
                            function.environment.insert(variable.key.clone(), text);
                        }
                        None => doc.report(
                            project,
                            &["inputs", "environment", "variables", variable.key.as_str()],
                            Kind::NotCarried,
                            "not a scalar value",
                        ),
                    }
                }
            }
            other => {
                doc.report(project, &["inputs", "environment", other], Kind::NotCarried, "not a key of `environment`")
            }
        }
    }
}

/// Settings shared by a trigger's (or an apigateway component's) endpoints.
struct ServiceSettings {
    index: usize,
    protocol: Option<String>,
}

/// Finds or creates the service a trigger or component names, and applies what it says.
fn service(doc: &Doc, path: &[&str], params: &Node, fallback_name: &str, project: &mut Project) -> ServiceSettings {
    let id = params.get("serviceId").and_then(Node::text);
    let name = params.get("serviceName").and_then(Node::text);
    // One service per serviceId (or serviceName), as Tencent binds triggers naming the same
    // service to it; a trigger naming neither gets a new service, as on Tencent.
    let key = match (&id, &name) {
        (Some(id), _) => format!("id:{id}"),
        (None, Some(name)) => format!("name:{name}"),
        (None, None) => format!("new:{}:{}", doc.file, doc.line(path)),
    };
    let id = id.unwrap_or_else(|| format!("service-{}", super::slug(name.as_deref().unwrap_or(fallback_name))));
    let stage = params.get("environment").and_then(Node::text).unwrap_or_else(|| "release".into());
    let description = params.get("description").or_else(|| params.get("serviceDesc")).and_then(Node::text);
    let index = project.service(&key, &id, name.as_deref().unwrap_or("serverless"), &stage, description);
    let protocol = params.get("protocols").map(|protocols| {
        let list: Vec<String> =
            protocols.items().iter().filter_map(Node::text).map(|text| text.to_ascii_lowercase()).collect();
        match (list.iter().any(|p| p == "http"), list.iter().any(|p| p == "https")) {
            (true, false) => "http".to_owned(),
            (false, true) => "https".to_owned(),
            _ => "http&https".to_owned(),
        }
    });
    let service_keys =
        ["serviceId", "serviceName", "environment", "description", "serviceDesc", "protocols", "endpoints"];
    for entry in params.entries() {
        let mut at: Vec<&str> = path.to_vec();
        at.push(&entry.key);
        match entry.key.as_str() {
            key if service_keys.contains(&key) => {}
            "netTypes" => doc.report(
                project,
                &at,
                Kind::NotCarried,
                "the gateway is reached where --listen binds it; OUTER/INNER have no meaning here",
            ),
            "instanceId" => doc.report(
                project,
                &at,
                Kind::NotCarried,
                "there are no dedicated instances: the gateway is the instance",
            ),
            "region" => project.region(doc, &at, &entry.value),
            "customDomains" => super::addresses::custom_domains(doc, &at, &entry.value, index, project),
            "tags" => doc.report(project, &at, Kind::NotCarried, "scfgate has no resource tags"),
            "usagePlan" => doc.report(
                project,
                &at,
                Kind::NotCarried,
                "add a [[usage_plan]] bound to the service stage (README, Policies)",
            ),
            _ => doc.report(project, &at, Kind::NotCarried, "not a key scfgate knows here"),
        }
    }
    ServiceSettings { index, protocol }
}

fn apigw_event(doc: &Doc, path: &[&str], event: &Node, function: &FunctionInfo, project: &mut Project) {
    let mut parameters = None;
    for entry in event.entries() {
        let mut at = path.to_vec();
        at.push(&entry.key);
        match entry.key.as_str() {
            "parameters" => parameters = Some(&entry.value),
            "name" => {
                doc.report(project, &at, Kind::NotCarried, "trigger names are not kept (APIs are named by apiName)")
            }
            _ => doc.report(project, &at, Kind::NotCarried, "not a key of an apigw trigger"),
        }
    }
    let empty = Node { line: event.line, value: Value::Map(Vec::new()) };
    let parameters = parameters.unwrap_or(&empty);
    let mut params_path = path.to_vec();
    params_path.push("parameters");
    let settings = service(doc, &params_path, parameters, &function.name, project);
    let endpoints = parameters.get("endpoints").map(Node::items).unwrap_or_default();
    if endpoints.is_empty() {
        // The component's default endpoint (toolkit triggers/apigw.ts).
        let endpoint = Node {
            line: parameters.line,
            value: Value::Map(vec![
                super::yaml::Entry {
                    key: "path".into(),
                    line: parameters.line,
                    value: text_node("/", parameters.line),
                },
                super::yaml::Entry {
                    key: "method".into(),
                    line: parameters.line,
                    value: text_node("ANY", parameters.line),
                },
            ]),
        };
        endpoint_api(doc, &params_path, &endpoint, &settings, Some(function), project);
    }
    for (index, endpoint) in endpoints.iter().enumerate() {
        let index = index.to_string();
        let mut at = params_path.clone();
        at.extend(["endpoints", index.as_str()]);
        endpoint_api(doc, &at, endpoint, &settings, Some(function), project);
    }
}

fn text_node(text: &str, line: usize) -> Node {
    Node { line, value: Value::String(text.into()) }
}

fn apigateway(doc: &Doc, inputs: &Node, project: &mut Project) {
    let fallback = doc.root.get("name").and_then(Node::text).unwrap_or_else(|| "serverless".into());
    let settings = service(doc, &["inputs"], inputs, &fallback, project);
    for (index, endpoint) in inputs.get("endpoints").map(Node::items).unwrap_or_default().iter().enumerate() {
        let index = index.to_string();
        endpoint_api(doc, &["inputs", "endpoints", index.as_str()], endpoint, &settings, None, project);
    }
}

/// Keys of an endpoint that are read, not reported, by [`endpoint_api`].
const ENDPOINT_KEYS: &[&str] = &[
    "path",
    "method",
    "apiName",
    "description",
    "enableCORS",
    "serviceTimeout",
    "responseType",
    "param",
    "function",
    "auth",
    "authType",
    "oauthConfig",
    "protocol",
    "serviceType",
];

/// One endpoint as an API of the service; `function` is the scf component's own function (a
/// trigger), `None` for an apigateway component, whose endpoints name theirs.
fn endpoint_api(
    doc: &Doc,
    path: &[&str],
    endpoint: &Node,
    settings: &ServiceSettings,
    function: Option<&FunctionInfo>,
    project: &mut Project,
) {
    let at = |key: &str| {
        let mut at = path.to_vec();
        at.push(key);
        at.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let report = |project: &mut Project, key: &str, kind: Kind, why: &str| {
        let full = at(key);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        doc.report(project, &refs, kind, why);
    };
    if let Some(kind) = endpoint.get("serviceType").and_then(Node::text) {
        if !kind.eq_ignore_ascii_case("SCF") {
            report(
                project,
                "serviceType",
                Kind::NotCarried,
                &format!("{kind} backends are not served: scfgate's APIs call functions; the endpoint is left out"),
            );
            return;
        }
    }
    let mut api = super::empty_api();
    api.path = Some(endpoint.get("path").and_then(Node::text).unwrap_or_else(|| "/".into()));
    api.method = Some(endpoint.get("method").and_then(Node::text).unwrap_or_else(|| "ANY".into()).to_ascii_uppercase());
    api.description = endpoint.get("description").and_then(Node::text);
    api.protocol = settings.protocol.clone();
    if endpoint.get("enableCORS").and_then(Node::boolean) == Some(true) {
        api.cors = Some(true);
    }
    let mut timeout = endpoint.get("serviceTimeout").and_then(Node::number).unwrap_or(15.0);
    if let Some((own, _)) = function.and_then(|function| function.timeout) {
        timeout = timeout.min(own);
    }
    if timeout != 15.0 {
        api.timeout = Some(Seconds(timeout));
    }
    api.response_type = endpoint.get("responseType").and_then(Node::text).map(|kind| kind.to_ascii_lowercase());
    for (index, param) in endpoint.get("param").map(Node::items).unwrap_or_default().iter().enumerate() {
        let mut at = path.to_vec();
        let index = index.to_string();
        at.extend(["param", index.as_str()]);
        api.params.push(param_of(doc, &at, param, project));
    }
    // Authentication: `auth` (key pairs) forces SECRET, as in the toolkit's api.ts.
    let auth_type = match endpoint.get("auth") {
        Some(_) => {
            report(project, "auth", Kind::NotCarried, "SecretKeys never leave Tencent: the API keeps key-pair auth; add a [[secret]] and a [[usage_plan]] bound to the stage for each key (README, Policies)");
            "SECRET".to_owned()
        }
        None => endpoint.get("authType").and_then(Node::text).unwrap_or_else(|| "NONE".into()).to_ascii_uppercase(),
    };
    match auth_type.as_str() {
        "NONE" => {}
        "SECRET" => api.auth = Some("key_pair".into()),
        "APP" => {
            api.auth = Some("key_pair".into());
            report(project, "authType", Kind::Note, "application auth is carried as key-pair auth (the closest scfgate has; never less strict): give each app a [[secret]] and a [[usage_plan]]");
        }
        "OAUTH" => {
            api.auth = Some("oauth".into());
            api.oauth = Some(oauth(doc, path, endpoint.get("oauthConfig"), project));
        }
        other => report(project, "authType", Kind::NotCarried, &format!("`{other}` is not NONE, SECRET, APP or OAUTH")),
    }
    base64_of(endpoint, &mut api, |key, why| report(project, key, Kind::NotCarried, why));
    let function_node = endpoint.get("function");
    let mut qualifier = None;
    let mut function_name = function.map(|function| function.name.clone());
    let mut namespace = function.and_then(|function| function.namespace.clone());
    let mut websocket = [None, None, None];
    for entry in function_node.map(Node::entries).unwrap_or_default() {
        let key = format!("function.{}", entry.key);
        match entry.key.as_str() {
            "isIntegratedResponse" => {
                if entry.value.boolean() == Some(true) {
                    api.integrated_response = Some(true);
                }
            }
            "functionQualifier" => qualifier = entry.value.text(),
            "functionName" if function.is_none() => function_name = entry.value.text(),
            "functionNamespace" if function.is_none() => namespace = entry.value.text(),
            "functionName" | "functionNamespace" => {
                report(project, &key, Kind::NotCarried, "a trigger always calls its own function")
            }
            "registerFunctionName" => websocket[0] = entry.value.text(),
            "transportFunctionName" => websocket[1] = entry.value.text(),
            "cleanupFunctionName" => websocket[2] = entry.value.text(),
            _ => report(project, &key, Kind::NotCarried, "not a key of an endpoint's function"),
        }
    }
    let reference = |name: String| file::FunctionRef {
        name: Some(name),
        namespace: namespace.clone(),
        qualifier: qualifier.clone(),
    };
    if endpoint.get("protocol").and_then(Node::text).is_some_and(|protocol| protocol.eq_ignore_ascii_case("WEBSOCKET"))
    {
        api.protocol = Some(match settings.protocol.as_deref() {
            Some("http") => "ws".into(),
            Some("https") => "wss".into(),
            _ => "ws&wss".into(),
        });
        api.method = Some("GET".into());
        let [register, transport, cleanup] = websocket;
        api.register = register.map(reference);
        api.transport = transport.or(function_name).map(reference);
        api.cleanup = cleanup.map(reference);
    } else {
        api.function = function_name.map(reference);
        for (index, name) in websocket.iter().enumerate() {
            if name.is_some() {
                let key =
                    ["function.registerFunctionName", "function.transportFunctionName", "function.cleanupFunctionName"]
                        [index];
                report(project, key, Kind::NotCarried, "only WebSocket endpoints (protocol: WEBSOCKET) have these");
            }
        }
    }
    for entry in endpoint.entries() {
        let key = entry.key.as_str();
        let why = match key {
            _ if ENDPOINT_KEYS.contains(&key) => continue,
            "apiId" => "APIs are defined by path and method; there are no API ids",
            "usagePlan" => "add a [[usage_plan]] bound to the service stage (README, Policies)",
            "app" => "applications are not kept; see the note on authType",
            "businessType" | "authRelationApi" => "scfgate verifies tokens itself (the OAuth business API's public key); there is no authorization API to link",
            "isBase64Encoded" | "isBase64Trigger" | "base64EncodedTriggerRules" => continue,
            "serviceConfig" | "serviceMockReturnMessage" => "only SCF backends are served",
            _ => "not a key of an endpoint scfgate knows",
        };
        report(project, key, Kind::NotCarried, why);
    }
    let base = match (endpoint.get("apiName").and_then(Node::text), function) {
        (Some(name), _) => name,
        (None, Some(function)) => function.name.clone(),
        (None, None) => "index".into(),
    };
    let location_line = doc.line(path);
    project.add_api(settings.index, api, base, doc, path, location_line);
}

/// `isBase64Encoded` (every body), `isBase64Trigger` with `base64EncodedTriggerRules`
/// (`{name: Accept | Content_Type, value: [...]}`) → `base64` and `[[service.api.base64_rule]]`.
/// The trigger and its rules only mean something with `isBase64Encoded: true`.
fn base64_of(endpoint: &Node, api: &mut file::Api, mut report: impl FnMut(&str, &str)) {
    let encoded = endpoint.get("isBase64Encoded").and_then(Node::boolean) == Some(true);
    let trigger = endpoint.get("isBase64Trigger").and_then(Node::boolean) == Some(true);
    let rules = endpoint.get("base64EncodedTriggerRules").map(Node::items).unwrap_or_default();
    if !encoded {
        if trigger || !rules.is_empty() {
            report("isBase64Trigger", "Base64 rules apply only with isBase64Encoded: true; the bodies are not encoded");
        }
        return;
    }
    if !trigger {
        api.base64 = Some("all".into());
        if !rules.is_empty() {
            report("base64EncodedTriggerRules", "rules apply only with isBase64Trigger: true; every body is encoded");
        }
        return;
    }
    for (index, rule) in rules.iter().enumerate() {
        let header = match rule.get("name").and_then(Node::text).as_deref() {
            Some(name) if name.eq_ignore_ascii_case("Content_Type") || name.eq_ignore_ascii_case("Content-Type") => {
                "Content-Type"
            }
            Some(name) if name.eq_ignore_ascii_case("Accept") => "Accept",
            _ => {
                report(
                    "base64EncodedTriggerRules",
                    &format!("rule {} names neither Accept nor Content_Type; it is left out", index + 1),
                );
                continue;
            }
        };
        let values: Vec<String> =
            rule.get("value").map(Node::items).unwrap_or_default().iter().filter_map(Node::text).collect();
        api.base64_rules.push(file::Base64Rule { header: Some(header.into()), values: Some(values) });
    }
    api.base64 = Some(if api.base64_rules.is_empty() { "off" } else { "rules" }.into());
    if api.base64_rules.is_empty() {
        report("isBase64Trigger", "no rule could be carried over, so no body is encoded");
    }
}

fn param_of(doc: &Doc, path: &[&str], param: &Node, project: &mut Project) -> file::Param {
    let mut built =
        file::Param { name: None, position: None, kind: None, required: None, default: None, desc: None, sample: None };
    for entry in param.entries() {
        let mut at = path.to_vec();
        at.push(&entry.key);
        match entry.key.as_str() {
            "name" => built.name = entry.value.text(),
            "position" => built.position = entry.value.text().map(|position| position.to_ascii_lowercase()),
            "type" => built.kind = entry.value.text().map(|kind| kind.to_ascii_lowercase()),
            "required" => built.required = entry.value.boolean().filter(|required| *required),
            "defaultValue" => built.default = entry.value.text().filter(|text| !text.is_empty()),
            "desc" => built.desc = entry.value.text(),
            _ => doc.report(project, &at, Kind::NotCarried, "not a key of a parameter"),
        }
    }
    // A required parameter has no default in scfgate (it could never be used).
    if built.required == Some(true) && built.default.is_some() {
        let mut at = path.to_vec();
        at.push("defaultValue");
        doc.report(project, &at, Kind::NotCarried, "a required parameter's default is never used");
        built.default = None;
    }
    built
}

fn oauth(doc: &Doc, path: &[&str], config: Option<&Node>, project: &mut Project) -> file::OAuth {
    let mut oauth = file::OAuth { public_key: None, algorithm: None, token_location: None, iss: None, aud: None };
    for entry in config.map(Node::entries).unwrap_or_default() {
        let mut at = path.to_vec();
        at.extend(["oauthConfig", entry.key.as_str()]);
        match entry.key.as_str() {
            "publicKey" => {
                oauth.public_key = match &entry.value.value {
                    Value::Map(_) => Some(entry.value.to_json().to_string()),
                    _ => entry.value.text(),
                }
            }
            "tokenLocation" => match entry.value.text().as_deref() {
                Some("method.req.header.authorization") => oauth.token_location = Some("header:Authorization".into()),
                Some(other) => doc.report(project, &at, Kind::NotCarried, format!("`{other}`: Tencent documents no cookie name; set token_location = \"cookie:<name>\" on the API")),
                None => {}
            },
            "loginRedirectUrl" => doc.report(project, &at, Kind::NotCarried, "unauthenticated requests get 401; there is no login redirect"),
            _ => doc.report(project, &at, Kind::NotCarried, "not a key of oauthConfig"),
        }
    }
    oauth
}

/// The folder part of `path`, for documents given as bare file names.
pub fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
