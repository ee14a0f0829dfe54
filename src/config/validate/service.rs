//! `[[service]]` → [`Service`]: id, name, `hosts` (normalized as the `Host` header is compared),
//! stages and stage variables, and the service's APIs, built by [`super::api`] and checked here
//! against each other (unique names, no two routes that shadow each other). Its
//! `[[service.domain]]` tables are [`super::domains`]'s.

use std::net::Ipv6Addr;
use std::path::Path;

use super::api::build_api;
use super::function::FunctionKey;
use super::{domains, ConfigError, Site};
use crate::config::file;
use crate::config::{Api, ApiMethod, ApiPath, Function, PathKind, Service, ServiceIndex, Stage};

pub(super) fn build_service(
    service: file::Service,
    index: usize,
    earlier: &[Service],
    functions: &[(Function, FunctionKey)],
    source: &Path,
) -> Result<(Service, Vec<Api>), ConfigError> {
    let location = match &service.name {
        Some(name) if !name.is_empty() => format!("service `{name}`"),
        _ => format!("service #{}", index + 1),
    };
    let site = Site::new(source, location);
    let id = site.required_text("id", service.id)?;
    let name = site.required_text("name", service.name)?;

    let mut hosts: Vec<String> = Vec::new();
    for host in service.hosts.unwrap_or_default() {
        let host = normalize_host(&host).map_err(|message| site.error("hosts", message))?;
        if hosts.contains(&host) {
            return Err(site.error("hosts", format!("`{host}` is listed twice")));
        }
        hosts.push(host);
    }

    let stages = match service.stages {
        None => Stage::ALL.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(site.error("stages", "at least one stage is required (release, test, prepub)"));
        }
        Some(names) => {
            let mut stages = Vec::with_capacity(names.len());
            for stage_name in names {
                let stage = parse_stage(&stage_name).map_err(|message| site.error("stages", message))?;
                if stages.contains(&stage) {
                    return Err(site.error("stages", format!("`{stage_name}` is listed twice")));
                }
                stages.push(stage);
            }
            stages
        }
    };

    // One id may be served by several tables on disjoint stages: each stage then has its own API
    // set (the admin API's publish writes one table per release a stage serves).
    if let Some(other) =
        earlier.iter().find(|other| other.id == id && other.stages.iter().any(|stage| stages.contains(stage)))
    {
        return Err(site.error("id", format!("`{id}` is already the id of service `{}`", other.name)));
    }

    let mut stage_variables: [Vec<(String, String)>; 3] = Default::default();
    for (stage_name, variables) in service.stage_variables {
        let field = format!("stage_variables.{stage_name}");
        let stage = parse_stage(&stage_name).map_err(|message| site.error(&field, message))?;
        if !stages.contains(&stage) {
            return Err(site.error(&field, format!("this service is not published to stage `{stage_name}`")));
        }
        if variables.contains_key("") {
            return Err(site.error(&field, "a variable name may not be empty"));
        }
        // BTreeMap iteration is sorted by name, as `Service::stage_variables` promises.
        stage_variables[stage.index()] = variables.into_iter().collect();
    }

    let service_index = ServiceIndex::new(earlier.len());
    let mut apis: Vec<Api> = Vec::with_capacity(service.apis.len());
    // Paths as written, for conflict messages.
    let mut raw_paths: Vec<String> = Vec::with_capacity(service.apis.len());
    for (api_index, api) in service.apis.into_iter().enumerate() {
        let api_site = Site::new(
            source,
            match &api.name {
                Some(api_name) if !api_name.is_empty() => {
                    format!("service `{name}` api `{api_name}`")
                }
                _ => format!("service `{name}` api #{}", api_index + 1),
            },
        );
        let (built, raw_path) = build_api(api, service_index, &api_site, functions)?;
        if apis.iter().any(|other| other.name == built.name) {
            return Err(api_site.error("name", "another api of this service has the same name"));
        }
        let shape = route_shape(&built.path);
        for (other, other_raw_path) in apis.iter().zip(&raw_paths) {
            let overlap =
                other.method == built.method || other.method == ApiMethod::Any || built.method == ApiMethod::Any;
            if overlap && route_shape(&other.path) == shape {
                return Err(api_site.error(
                    "path",
                    format!(
                        "`{} {raw_path}` conflicts with api `{}` (`{} {other_raw_path}`): same path \
                         and overlapping method",
                        built.method.as_str(),
                        other.name,
                        other.method.as_str(),
                    ),
                ));
            }
        }
        apis.push(built);
        raw_paths.push(raw_path);
    }

    let domains = domains::build_domains(&site, service.domains)?;
    Ok((
        Service {
            id,
            name,
            hosts,
            stages,
            stage_variables,
            usage_plans: Default::default(),
            domains,
            function_url: false,
        },
        apis,
    ))
}

/// What two APIs must share to shadow each other: the kind and the path with param names erased,
/// since `/user/{id}` and `/user/{uid}` match exactly the same requests.
fn route_shape(path: &ApiPath) -> (PathKind, String) {
    let mut shape = path.path.clone();
    for param in &path.params {
        shape = shape.replacen(&format!("{{{param}}}"), "{}", 1);
    }
    (path.kind, shape)
}

pub(super) fn parse_stage(name: &str) -> Result<Stage, String> {
    Stage::from_bytes(name.as_bytes()).ok_or_else(|| format!("`{name}` is not a stage; use release, test or prepub"))
}

/// Host names are compared against the request's `Host` header, lower-cased and without its port.
pub(super) fn normalize_host(host: &str) -> Result<String, String> {
    let lower = host.to_ascii_lowercase();
    if lower.is_empty() {
        return Err("a host name may not be empty".to_owned());
    }
    if lower.starts_with('[') {
        let inside = lower.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
        return match inside.map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(lower),
            _ => Err(format!("`{host}` is not an IPv6 address in brackets (and a port is not allowed)")),
        };
    }
    if lower.contains(':') {
        return Err(format!("`{host}`: a port is not allowed; hosts are matched without the Host header's port"));
    }
    if let Some(bad) = lower.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        return Err(format!("`{host}`: character {bad:?} is not allowed in a host name"));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::check_errors;

    #[test]
    fn service_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("id = \"service-hello01\"\n", "", ": service `hello`: field `id`: required but missing"),
            ("id = \"service-hello01\"", "id = \"\"", ": service `hello`: field `id`: may not be empty"),
            ("id = \"service-other02\"", "id = \"service-hello01\"", ": service `other`: field `id`: `service-hello01` is already the id of service `hello`"),
            ("name = \"hello\"\nhosts", "hosts", ": service #1: field `name`: required but missing"),
            ("\"API.Example.com\"", "\"api.example.com:8080\"", ": service `hello`: field `hosts`: `api.example.com:8080`: a port is not allowed; hosts are matched without the Host header's port"),
            ("\"API.Example.com\"", "\"*.example.com\"", ": service `hello`: field `hosts`: `*.example.com`: character '*' is not allowed in a host name"),
            ("\"API.Example.com\"", "\"\"", ": service `hello`: field `hosts`: a host name may not be empty"),
            ("\"API.Example.com\"", "\"[::1\"", ": service `hello`: field `hosts`: `[::1` is not an IPv6 address in brackets (and a port is not allowed)"),
            ("\"API.Example.com\"", "\"[::1]:80\"", ": service `hello`: field `hosts`: `[::1]:80` is not an IPv6 address in brackets (and a port is not allowed)"),
            ("\"API.Example.com\", \"127.0.0.1\"", "\"API.Example.com\", \"api.example.com\"", ": service `hello`: field `hosts`: `api.example.com` is listed twice"),
            ("stages = [\"release\", \"test\"]", "stages = [\"release\", \"prod\"]", ": service `hello`: field `stages`: `prod` is not a stage; use release, test or prepub"),
            ("stages = [\"release\", \"test\"]", "stages = [\"Release\"]", ": service `hello`: field `stages`: `Release` is not a stage; use release, test or prepub"),
            ("stages = [\"release\", \"test\"]", "stages = [\"test\", \"test\"]", ": service `hello`: field `stages`: `test` is listed twice"),
            ("stages = [\"release\", \"test\"]", "stages = []", ": service `hello`: field `stages`: at least one stage is required (release, test, prepub)"),
            ("stages = [\"release\", \"test\"]", "stages = [\"release\"]", ": service `hello`: field `stage_variables.test`: this service is not published to stage `test`"),
            ("[service.stage_variables.test]", "[service.stage_variables.dev]", ": service `hello`: field `stage_variables.dev`: `dev` is not a stage; use release, test or prepub"),
            ("greeting = \"Hi\"", "\"\" = \"Hi\"", ": service `hello`: field `stage_variables.test`: a variable name may not be empty"),
        ];
        check_errors("service", cases);
    }
}
