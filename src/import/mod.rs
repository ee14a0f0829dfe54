//! `scfgate import FILE... [--out FILE]`: a Tencent deployment's files in, one scfgate
//! configuration out (issue 21).
//!
//! - this module: reading the files, the project they build together ([`Project`]: services,
//!   functions, where each came from), writing the TOML from the typed file model and checking it
//!   with the same validation as `--check`;
//! - [`serverless`]: `serverless.yml` of the `scf` and `apigateway` components;
//! - [`openapi`]: OpenAPI documents with Tencent's `x-apigw-*` extensions (through
//!   [`crate::admin::openapi`], which the admin API's import shares);
//! - [`addresses`]: custom domains (with path mappings) and Function URLs (`http` triggers);
//! - [`vars`]: `${...}` variables in `serverless.yml`;
//! - [`yaml`]: the documents as trees that keep line numbers;
//! - [`report`]: the items printed on stderr: every key not carried over, with file and line.

pub mod addresses;
pub mod openapi;
pub mod report;
pub mod serverless;
pub mod vars;
pub mod yaml;

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use crate::cli::ImportArgs;
use crate::config::file::{self, ConfigFile};
use report::{dotted, Kind, Report};
use yaml::Node;

/// One imported document.
pub struct Doc {
    /// Its path as given on the command line (what the report names).
    pub file: String,
    /// Its folder, absolute: relative `src` folders are resolved against it.
    pub dir: PathBuf,
    /// Its content, variables expanded.
    pub root: Node,
}

impl Doc {
    /// The line of the key at `path`.
    pub fn line(&self, path: &[&str]) -> usize {
        let owned: Vec<String> = path.iter().map(|key| (*key).to_owned()).collect();
        self.root.line_of(&owned)
    }

    /// Reports the key at `path`.
    pub fn report(&self, project: &mut Project, path: &[&str], kind: Kind, why: impl Into<String>) {
        let owned: Vec<String> = path.iter().map(|key| (*key).to_owned()).collect();
        project.report.push(&self.file, Some(self.root.line_of(&owned)), &dotted(&owned), kind, why);
    }

    /// An error that makes the import fail (exit 2), at the key at `path`.
    pub fn fail(&self, project: &mut Project, path: &[&str], why: impl Into<String>) {
        let owned: Vec<String> = path.iter().map(|key| (*key).to_owned()).collect();
        project.errors.push(format!("{}:{}: {}: {}", self.file, self.root.line_of(&owned), dotted(&owned), why.into()));
    }
}

/// Where a table of the output came from, so that a validation error can name the source line.
pub struct Origin {
    /// The start of the location validation names (``service `s` api `a` ``, ``function `default/f:``).
    pub location: String,
    /// The document.
    pub file: String,
    /// The line.
    pub line: usize,
    /// The key path there.
    pub key: String,
}

/// What the documents build together.
#[derive(Default)]
pub struct Project {
    /// Services, each with the key that merges triggers into it (`id:<serviceId>`, ...).
    pub services: Vec<(String, file::Service)>,
    /// Functions.
    pub functions: Vec<file::Function>,
    /// Names of web functions.
    pub web_functions: Vec<String>,
    /// Where each service's APIs and each function came from.
    pub origins: Vec<Origin>,
    /// What was not carried over.
    pub report: Report,
    /// Errors that stop the import.
    pub errors: Vec<String>,
    /// The folder the configuration is written for: `code` folders are written relative to it.
    pub base_dir: PathBuf,
    /// `[gateway] region`, from the first document that names one.
    pub region: Option<String>,
}

impl Project {
    /// The index of the service `key` names, created with `id` and `name` when new; either way
    /// published to `stage`.
    pub fn service(&mut self, key: &str, id: &str, name: &str, stage: &str, description: Option<String>) -> usize {
        if let Some(index) = self.services.iter().position(|(other, _)| other == key) {
            let service = &mut self.services[index].1;
            let stages = service.stages.get_or_insert_with(Vec::new);
            if !stages.iter().any(|other| other == stage) {
                stages.push(stage.to_owned());
            }
            if service.description.is_none() {
                service.description = description;
            }
            return index;
        }
        // Ids made up for services Tencent would create stay unique.
        let mut unique = id.to_owned();
        let mut counter = 1;
        while self.services.iter().any(|(_, service)| service.id.as_deref() == Some(unique.as_str())) {
            counter += 1;
            unique = format!("{id}-{counter}");
        }
        self.services.push((
            key.to_owned(),
            file::Service {
                id: Some(unique),
                name: Some(name.to_owned()),
                stages: Some(vec![stage.to_owned()]),
                description,
                ..Default::default()
            },
        ));
        self.services.len() - 1
    }

    /// Adds `api` to service `index` under a name unique in it (`base`, else `base-2`, ...).
    pub fn add_api(&mut self, index: usize, mut api: file::Api, base: String, doc: &Doc, path: &[&str], line: usize) {
        let service = &mut self.services[index].1;
        let base: String = base.chars().take(56).collect();
        let mut name = base.clone();
        let mut counter = 1;
        while service.apis.iter().any(|other| other.name.as_deref() == Some(name.as_str())) {
            counter += 1;
            name = format!("{base}-{counter}");
        }
        api.name = Some(name.clone());
        let location = format!("service `{}` api `{name}`", service.name.as_deref().unwrap_or_default());
        service.apis.push(api);
        let owned: Vec<String> = path.iter().map(|key| (*key).to_owned()).collect();
        self.origins.push(Origin { location, file: doc.file.clone(), line, key: dotted(&owned) });
    }

    /// Records where a table came from.
    pub fn origin(&mut self, location: String, doc: &Doc, path: &[&str]) {
        let owned: Vec<String> = path.iter().map(|key| (*key).to_owned()).collect();
        self.origins.push(Origin { location, file: doc.file.clone(), line: doc.line(path), key: dotted(&owned) });
    }

    /// A `region` input: the gateway tells every local function one region.
    pub fn region(&mut self, doc: &Doc, path: &[&str], value: &Node) {
        let Some(region) = value.text() else { return };
        match &self.region {
            None => self.region = Some(region),
            Some(first) if *first == region => {}
            Some(first) => {
                let why = format!("the gateway tells every local function one region, `{first}` ([gateway] region)");
                doc.report(self, path, Kind::NotCarried, why);
            }
        }
    }
}

/// An API with nothing set.
pub fn empty_api() -> file::Api {
    file::Api {
        name: None,
        path: None,
        method: None,
        function: None,
        register: None,
        transport: None,
        cleanup: None,
        timeout: None,
        integrated_response: None,
        base64: None,
        base64_rules: Vec::new(),
        protocol: None,
        auth: None,
        cors: None,
        cors_origins: None,
        oauth: None,
        params: Vec::new(),
        description: None,
        response_type: None,
        success_response_sample: None,
        failure_response_sample: None,
        error_codes: Vec::new(),
    }
}

/// `text` as lower-case letters, digits and `-`, for made-up ids.
pub fn slug(text: &str) -> String {
    let mut slug = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            slug.push(character.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "imported".into()
    } else {
        slug.into()
    }
}

/// `target` relative to the folder `base` (both absolute), with `..` where needed.
pub fn relative(target: &Path, base: &Path) -> String {
    let normal = |path: &Path| -> Vec<String> {
        let mut parts: Vec<String> = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        parts
    };
    let (target, base) = (normal(target), normal(base));
    let common = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); base.len() - common];
    parts.extend(target[common..].iter().cloned());
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// What an import produced.
pub struct Outcome {
    /// The configuration (TOML), when there were no errors.
    pub config: Option<String>,
    /// The same configuration as the typed file model.
    pub file: Option<ConfigFile>,
    /// Every key not carried over.
    pub report: Report,
    /// Why the import failed (empty when it did not).
    pub errors: Vec<String>,
}

/// Reads `files` and builds the configuration meant to be written at `out` (`None`: stdout,
/// with paths relative to the current folder).
pub fn import(files: &[PathBuf], out: Option<&Path>) -> Outcome {
    let cwd = std::env::current_dir().unwrap_or_default();
    let target = match out {
        Some(out) => std::path::absolute(out).unwrap_or_else(|_| cwd.join(out)),
        None => cwd.join("scfgate.toml"),
    };
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let dir = std::path::absolute(serverless::folder_of(path)).unwrap_or_else(|_| cwd.clone());
                inputs.push(Input { file, text, dir });
            }
            Err(error) => errors.push(format!("{file}: cannot read the file: {error}")),
        }
    }
    let settings = Settings { target: &target, known_functions: &[], validate: true };
    import_inputs(inputs, errors, settings)
}

/// One document given as text, with the folder its relative `src` paths are resolved against.
pub struct Input {
    /// The name the report gives it.
    pub file: String,
    /// The document, YAML or JSON.
    pub text: String,
    /// Its folder, absolute.
    pub dir: PathBuf,
}

/// How [`import_inputs`] finishes.
pub struct Settings<'a> {
    /// Where the configuration is meant to be written: `code` folders are relative to its folder.
    pub target: &'a Path,
    /// Functions defined elsewhere that APIs may name (the admin API's state).
    pub known_functions: &'a [String],
    /// Whether to validate the result as a configuration of its own (`--check`); the admin API
    /// validates it with its state instead.
    pub validate: bool,
}

/// Builds the configuration from documents already read; `errors` are earlier failures (files
/// that could not be read).
pub fn import_inputs(inputs: Vec<Input>, errors: Vec<String>, settings: Settings<'_>) -> Outcome {
    let base_dir = settings.target.parent().map(Path::to_owned).unwrap_or_default();
    let mut project = Project { base_dir, errors, ..Default::default() };
    let mut serverless_docs = Vec::new();
    let mut openapi_docs = Vec::new();
    for Input { file, text, dir } in inputs {
        let root = match yaml::parse(&text) {
            Ok(root) => root,
            Err(error) => {
                project.errors.push(format!("{file}: not YAML or JSON: {error}"));
                continue;
            }
        };
        let doc = Doc { file, dir, root };
        if doc.root.entry("openapi").is_some() || doc.root.entry("swagger").is_some() {
            openapi_docs.push(doc);
        } else if doc.root.entry("component").is_some() {
            serverless_docs.push(doc);
        } else if doc.root.entry("provider").is_some() {
            doc.fail(&mut project, &["provider"], "a Serverless Framework v1 file (provider: tencent, plugin serverless-tencent-scf) is not imported; the Components format (component: scf) is");
        } else {
            project.errors.push(format!(
                "{}: neither a serverless.yml (component: ...) nor an OpenAPI document (openapi: 3.x)",
                doc.file
            ));
        }
    }
    expand_variables(&mut serverless_docs, &mut project);
    for doc in &serverless_docs {
        serverless::import(doc, &mut project);
    }
    for doc in &openapi_docs {
        openapi::import(doc, &mut project);
    }
    finish(project, &settings)
}

/// `${...}` in every serverless.yml: first each file's own variables, then the outputs of the
/// instances the files define, which other files may name.
fn expand_variables(docs: &mut [Doc], project: &mut Project) {
    let mut all_vars: Vec<vars::Vars> = docs.iter().map(|doc| vars::Vars::of(&doc.root)).collect();
    for (doc, vars) in docs.iter_mut().zip(&all_vars) {
        doc.root = {
            let mut root = doc.root.clone();
            vars.expand_tree(&mut root, &mut Vec::new(), &mut Vec::new());
            root
        };
    }
    let mut outputs = std::collections::HashMap::new();
    for doc in docs.iter() {
        let Some(instance) = doc.root.get("name").and_then(Node::text) else { continue };
        match doc.root.get("component").and_then(Node::text).as_deref() {
            Some("scf") => {
                if let Some(name) = serverless::function_name(&doc.root) {
                    outputs.insert(format!("{instance}.functionName"), name);
                }
            }
            Some("apigateway") => {
                let inputs = doc.root.get("inputs");
                let name = inputs.and_then(|inputs| inputs.get("serviceName")).and_then(Node::text);
                let id = inputs
                    .and_then(|inputs| inputs.get("serviceId"))
                    .and_then(Node::text)
                    .unwrap_or_else(|| format!("service-{}", slug(name.as_deref().unwrap_or(&instance))));
                outputs.insert(format!("{instance}.serviceId"), id);
                outputs.insert(format!("{instance}.serviceName"), name.unwrap_or_else(|| "serverless".into()));
            }
            _ => {}
        }
    }
    for (doc, vars) in docs.iter_mut().zip(all_vars.iter_mut()) {
        vars.outputs = outputs.clone();
        let mut unresolved = Vec::new();
        vars.expand_tree(&mut doc.root, &mut Vec::new(), &mut unresolved);
        for item in unresolved {
            let why = format!(
                "`${{{}}}` names nothing the imported files or the environment define; the value stays as written",
                item.reference
            );
            project.report.push(&doc.file, Some(item.line), &dotted(&item.path), Kind::NotCarried, why);
        }
    }
}

/// Checks what only the whole project can tell, writes the TOML and validates it.
fn finish(mut project: Project, settings: &Settings<'_>) -> Outcome {
    // A web function answers as an HTTP server: integrated response is for event functions.
    for (_, service) in &mut project.services {
        for api in &mut service.apis {
            let function = api.function.as_ref().and_then(|function| function.name.clone()).unwrap_or_default();
            if project.web_functions.contains(&function) && api.integrated_response.take().is_some() {
                let location = format!(
                    "service `{}` api `{}`",
                    service.name.as_deref().unwrap_or_default(),
                    api.name.as_deref().unwrap_or_default()
                );
                if let Some(origin) = project.origins.iter().find(|origin| origin.location == location) {
                    project.report.push(
                        &origin.file,
                        Some(origin.line),
                        &format!("{}.function.isIntegratedResponse", origin.key),
                        Kind::NotCarried,
                        "a web function answers as an HTTP server; integrated response is for event functions",
                    );
                }
            }
        }
    }
    // APIs must name functions the files define: scfgate runs them.
    for (_, service) in &project.services {
        for api in &service.apis {
            for reference in [&api.function, &api.register, &api.transport, &api.cleanup].into_iter().flatten() {
                let name = reference.name.clone().unwrap_or_default();
                let known = settings.known_functions.contains(&name);
                if !known && !project.functions.iter().any(|function| function.name.as_deref() == Some(name.as_str())) {
                    let location = format!(
                        "service `{}` api `{}`",
                        service.name.as_deref().unwrap_or_default(),
                        api.name.as_deref().unwrap_or_default()
                    );
                    let at = project.origins.iter().find(|origin| origin.location == location);
                    let place =
                        at.map(|origin| format!("{}:{}: {}", origin.file, origin.line, origin.key)).unwrap_or(location);
                    project.errors.push(format!("{place}: function `{name}` is not defined by the imported files: import its serverless.yml (component: scf) with them"));
                }
            }
        }
    }
    let urls = project.functions.iter().any(|function| function.url.is_some());
    if project.errors.is_empty() && project.services.is_empty() && !urls {
        let mut files: Vec<&str> = project.origins.iter().map(|origin| origin.file.as_str()).collect();
        files.dedup();
        let files = if files.is_empty() { "the files".to_owned() } else { files.join(", ") };
        project.errors.push(format!("{files}: no API Gateway trigger (events: - apigw), Function URL (events: - http), apigateway component or OpenAPI operation: nothing would be served"));
    }
    if !project.errors.is_empty() {
        return Outcome { config: None, file: None, report: project.report, errors: project.errors };
    }
    let config = ConfigFile {
        gateway: project.region.clone().map(|region| file::Gateway { region: Some(region), ..Default::default() }),
        services: project.services.iter().map(|(_, service)| service.clone()).collect(),
        functions: project.functions.clone(),
        usage_plans: Vec::new(),
        secrets: Vec::new(),
        certificates: Vec::new(),
    };
    let body = match toml::to_string(&config) {
        Ok(body) => body,
        Err(error) => {
            return Outcome {
                config: None,
                file: None,
                report: project.report,
                errors: vec![format!("cannot write TOML: {error}")],
            }
        }
    };
    let text = format!("# Written by `scfgate import`; check it with `scfgate --config FILE --check`.\n\n{body}");
    if !settings.validate {
        return Outcome { config: Some(text), file: Some(config), report: project.report, errors: Vec::new() };
    }
    match crate::config::validate::parse_str(&text, settings.target, &Default::default()) {
        Ok(_) => Outcome { config: Some(text), file: Some(config), report: project.report, errors: Vec::new() },
        Err(error) => {
            let origin = error.location.as_deref().and_then(|location| {
                project.origins.iter().find(|origin| location.starts_with(origin.location.as_str()))
            });
            let field = error.field.as_deref().map(|field| format!("field `{field}`: ")).unwrap_or_default();
            let message = match origin {
                Some(origin) => format!(
                    "{}:{}: {}: {}{} (the configuration it becomes is refused: {error})",
                    origin.file, origin.line, origin.key, field, error.message
                ),
                None => format!("the configuration it becomes is refused: {error}"),
            };
            Outcome { config: None, file: None, report: project.report, errors: vec![message] }
        }
    }
}

/// `scfgate import`: prints the report on stderr and the configuration on stdout (or into
/// `--out`); exit 0 when the configuration is valid, 2 otherwise.
pub fn main(args: ImportArgs) -> ExitCode {
    let outcome = import(&args.files, args.out.as_deref());
    for item in &outcome.report.items {
        eprintln!("{item}");
    }
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    let Some(config) = outcome.config else { return ExitCode::from(2) };
    match &args.out {
        Some(out) => {
            if let Err(error) = std::fs::write(out, &config) {
                eprintln!("error: {}: cannot write: {error}", out.display());
                return ExitCode::from(2);
            }
            eprintln!("{}: written; check it with `scfgate --config {} --check`", out.display(), out.display());
        }
        None => print!("{config}"),
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_slugs() {
        assert_eq!(relative(Path::new("/a/b/src"), Path::new("/a")), "b/src");
        assert_eq!(relative(Path::new("/a/b/src"), Path::new("/a/c")), "../b/src");
        assert_eq!(relative(Path::new("/a/./b/../x"), Path::new("/a")), "x");
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), ".");
        assert_eq!(slug("My API_v2"), "my-api-v2");
        assert_eq!(slug("~~"), "imported");
    }
}
