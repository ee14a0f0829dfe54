//! OpenAPI documents (JSON or YAML) as one service: the APIs come from
//! [`crate::admin::openapi::import`], which honours Tencent's `x-apigw-*` extensions and lists
//! what it leaves out; this side names the service, adds the lines and merges the APIs into the
//! project. Tencent imports APIs into an existing service without publishing them; here the
//! service is the one the document names (`x-scfgate-service`, else `info.title`), published to
//! `release` unless `servers` name stages.

use super::report::{dotted, Kind};
use super::yaml::Node;
use super::{Doc, Project};

/// Maps one OpenAPI document.
pub fn import(doc: &Doc, project: &mut Project) {
    let document = doc.root.to_json();
    let report = match crate::admin::openapi::import(&document, None) {
        Ok(report) => report,
        Err(error) => {
            project.errors.push(format!("{}: {error}", doc.file));
            return;
        }
    };
    for skipped in &report.skipped {
        let line = doc.root.line_of(&skipped.pointer);
        let key = if skipped.pointer.is_empty() { skipped.at.clone() } else { dotted(&skipped.pointer) };
        project.report.push(&doc.file, Some(line), &key, Kind::NotCarried, &skipped.reason);
    }
    let service = doc.root.get("x-scfgate-service");
    let title = doc.root.get("info").and_then(|info| info.get("title")).and_then(Node::text);
    let name = service
        .and_then(|service| service.get("name"))
        .and_then(Node::text)
        .or(title)
        .unwrap_or_else(|| "openapi".into());
    let id = service
        .and_then(|service| service.get("id"))
        .and_then(Node::text)
        .unwrap_or_else(|| format!("service-{}", super::slug(&name)));
    let stages: Vec<String> = doc
        .root
        .get("servers")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|server| server.get("url").and_then(Node::text))
        .filter_map(|url| {
            let stage = url.trim_matches('/').rsplit('/').next()?.to_owned();
            ["release", "test", "prepub"].contains(&stage.as_str()).then_some(stage)
        })
        .collect();
    if stages.is_empty() {
        doc.report(
            project,
            &["paths"],
            Kind::Note,
            "Tencent imports APIs unpublished; here they are served on the `release` stage",
        );
    }
    // The same id as a serverless.yml's serviceId: one service, as on Tencent.
    let key = format!("id:{id}");
    let mut index = None;
    for stage in if stages.is_empty() { vec!["release".to_owned()] } else { stages } {
        index = Some(project.service(&key, &id, &name, &stage, None));
    }
    let Some(index) = index else { return };
    let paths = doc.root.get("paths");
    for api in report.apis {
        // The operation's line: the path's entry, then its method's.
        let raw_path = api.path.clone().unwrap_or_default();
        let method = api.method.clone().unwrap_or_default().to_ascii_lowercase();
        let line = paths
            .and_then(|paths| paths.get(&raw_path))
            .and_then(|item| item.entry(&method))
            .map(|entry| entry.line)
            .unwrap_or(doc.root.line);
        let base = api.name.clone().unwrap_or_else(|| "index".into());
        let key_path = ["paths", raw_path.as_str(), method.as_str()];
        project.add_api(index, api, base, doc, &key_path, line);
    }
    for name in report.web_functions {
        if let Some(function) =
            project.functions.iter().find(|function| function.name.as_deref() == Some(name.as_str()))
        {
            if !project.web_functions.contains(&name) {
                let why = format!(
                    "x-apigw-backend calls `{name}` as a web function (ServiceScfFunctionType HTTP), but the imported files define it with runtime `{}`",
                    function.runtime.clone().map(String::from).unwrap_or_default()
                );
                doc.report(project, &["paths"], Kind::Note, why);
            }
        }
    }
}
