//! Where a Tencent deployment is reached besides its default domain: an apigateway service's
//! `customDomains` become `[[service.domain]]` tables (with their path mappings), and an scf
//! function's `http` trigger (its Function URL) becomes the function's `url`. Every key is mapped
//! or reported, as in [`super::serverless`].

use super::report::Kind;
use super::yaml::Node;
use super::{Doc, Project};
use crate::config::file;

/// `customDomains[]` of a service (`BindSubDomain`): `domain`, `isDefaultMapping` (default true)
/// and `pathMappingSet[{path, environment}]` are carried over; the rest is reported.
pub fn custom_domains(doc: &Doc, path: &[&str], domains: &Node, service: usize, project: &mut Project) {
    for (index, domain) in domains.items().iter().enumerate() {
        let index = index.to_string();
        let mut at: Vec<&str> = path.to_vec();
        at.push(&index);
        let Some(host) = domain.get("domain").and_then(Node::text) else {
            let mut missing = at.clone();
            missing.push("domain");
            doc.report(project, &missing, Kind::NotCarried, "no `domain`: nothing to bind");
            continue;
        };
        let mut mapped = file::Domain { host: Some(host), mappings: None, force_https: None };
        let default_mapping = domain.get("isDefaultMapping").and_then(Node::boolean).unwrap_or(true);
        for entry in domain.entries() {
            let mut here = at.clone();
            here.push(&entry.key);
            match entry.key.as_str() {
                "domain" | "isDefaultMapping" => {}
                "pathMappingSet" if default_mapping => doc.report(
                    project,
                    &here,
                    Kind::NotCarried,
                    "ignored with isDefaultMapping: true (Tencent refuses custom paths on a default-mapping domain)",
                ),
                "pathMappingSet" => {
                    let mappings = entry
                        .value
                        .items()
                        .iter()
                        .filter_map(|mapping| Some((mapping.get("path")?.text()?, mapping.get("environment")?.text()?)))
                        .collect();
                    mapped.mappings = Some(mappings);
                }
                "certificateId" => doc.report(
                    project,
                    &here,
                    Kind::NotCarried,
                    "certificates are files here: add a [[certificate]] with the domain in its hosts (README, HTTPS)",
                ),
                "protocols" => doc.report(
                    project,
                    &here,
                    Kind::Note,
                    "the domain is served on every listener (--listen, --tls-listen); an API's `protocol` limits it",
                ),
                "isForcedHttps" => doc.report(
                    project,
                    &here,
                    Kind::NotCarried,
                    "set `force_https = true` on the domain once the gateway has a tls_listen and a [[certificate]] for it",
                ),
                "netType" => doc.report(
                    project,
                    &here,
                    Kind::NotCarried,
                    "the gateway is reached where --listen binds it; OUTER/INNER have no meaning here",
                ),
                _ => doc.report(project, &here, Kind::NotCarried, "not a key scfgate knows here"),
            }
        }
        if !default_mapping && mapped.mappings.is_none() {
            doc.report(
                project,
                &at,
                Kind::NotCarried,
                "isDefaultMapping: false without a pathMappingSet: bound with the default mapping (/<stage>/...)",
            );
        }
        let service = &mut project.services[service].1;
        if !service.domains.iter().any(|other| other.host == mapped.host) {
            service.domains.push(mapped);
        }
    }
}

/// An `http` trigger (a Function URL) of the function last added: its `url`. Tencent makes up
/// the URL's host, so the function gets `<name>.url.localhost` and a note to change it. A CAM
/// trigger is left out: it would be open to anyone here.
pub fn http_trigger(doc: &Doc, path: &[&str], trigger: &Node, project: &mut Project) {
    let Some(function) = project.functions.last() else { return };
    let (name, taken) = (function.name.clone().unwrap_or_default(), function.url.is_some());
    let parameters = trigger.get("parameters");
    let mut parameters_path: Vec<&str> = path.to_vec();
    parameters_path.push("parameters");
    let auth = parameters.and_then(|node| node.get("authType")).and_then(Node::text).unwrap_or_else(|| "NONE".into());
    if !auth.eq_ignore_ascii_case("NONE") {
        let mut here = parameters_path.clone();
        here.push("authType");
        let why = format!("`{auth}` signatures (Tencent CAM) are not checked here, and the URL is not made public: add url = {{ host = \"...\", auth = \"key\", keys = [\"<SecretId>\"] }} to the function (README, Function URLs)");
        doc.report(project, &here, Kind::NotCarried, why);
        return;
    }
    if taken {
        doc.report(project, path, Kind::NotCarried, "a function has one Function URL here; this one is left out");
        return;
    }
    let host = format!("{}.url.localhost", super::slug(&name));
    let mut url = file::FunctionUrl { host: Some(host.clone()), ..Default::default() };
    for entry in trigger.entries() {
        let mut here: Vec<&str> = path.to_vec();
        here.push(&entry.key);
        match entry.key.as_str() {
            "parameters" => {}
            "name" => {}
            _ => doc.report(project, &here, Kind::NotCarried, "not a key scfgate knows here"),
        }
    }
    for entry in parameters.map(Node::entries).unwrap_or_default() {
        let mut here = parameters_path.clone();
        here.push(&entry.key);
        match entry.key.as_str() {
            "authType" => {}
            "qualifier" => match entry.value.text().as_deref() {
                Some("$DEFAULT" | "$LATEST") | None => {}
                Some(other) => doc.report(
                    project,
                    &here,
                    Kind::Note,
                    format!("the URL serves the function as defined here, not version `{other}`"),
                ),
            },
            "netConfig" => doc.report(
                project,
                &here,
                Kind::NotCarried,
                "the URL is reached where --listen binds the gateway; intranet/extranet have no meaning here",
            ),
            "corsConfig" => url.cors = cors(doc, &here, &entry.value, project),
            _ => doc.report(project, &here, Kind::NotCarried, "not a key scfgate knows here"),
        }
    }
    doc.report(
        project,
        path,
        Kind::Note,
        format!("Tencent makes up the URL's host; it is `{host}` here: set `url.host` to the name clients use"),
    );
    if let Some(function) = project.functions.last_mut() {
        function.url = Some(url);
    }
}

/// `corsConfig{enable, origins, methods, headers, exposeHeaders, credentials, maxAge}`; lists may
/// be arrays or comma-separated strings.
fn cors(doc: &Doc, path: &[&str], config: &Node, project: &mut Project) -> Option<file::FunctionUrlCors> {
    if config.get("enable").and_then(Node::boolean) != Some(true) {
        return None;
    }
    let list = |key: &str| -> Option<Vec<String>> {
        let node = config.get(key)?;
        let items: Vec<String> = match node.text() {
            Some(text) => text.split(',').map(|item| item.trim().to_owned()).filter(|item| !item.is_empty()).collect(),
            None => node.items().iter().filter_map(Node::text).collect(),
        };
        (!items.is_empty()).then_some(items)
    };
    let cors = file::FunctionUrlCors {
        origins: list("origins"),
        methods: list("methods"),
        headers: list("headers"),
        expose_headers: list("exposeHeaders"),
        credentials: config.get("credentials").and_then(Node::boolean),
        max_age: config.get("maxAge").and_then(Node::number).map(|seconds| seconds as u32),
    };
    for entry in config.entries() {
        let known = ["enable", "origins", "methods", "headers", "exposeHeaders", "credentials", "maxAge"];
        if !known.contains(&entry.key.as_str()) {
            let mut here = path.to_vec();
            here.push(&entry.key);
            doc.report(project, &here, Kind::NotCarried, "not a key scfgate knows here");
        }
    }
    Some(cors)
}
