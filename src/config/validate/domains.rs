//! `[[service.domain]]`: a service's custom domains and their path mappings (Tencent's 自定义域名,
//! `BindSubDomain`; `shared/spec/tencent-migration.md` §5), checked into [`Domain`]s, and the rule
//! across services: a domain host belongs to one service, and is not also listed in `hosts`.
//! How a mapped domain addresses stages at request time is `crate::route::Router`'s job.

use std::path::Path;

use super::service::{normalize_host, parse_stage};
use super::{ConfigError, Site};
use crate::config::{file, Domain, PathMapping, Service};

/// Tencent's limit on custom path mappings per domain (`PathMappingSet`).
pub const MAX_PATH_MAPPINGS: usize = 3;

/// Checks one service's `[[service.domain]]` tables. A mapping may name a stage the table is not
/// published to: the admin API writes one table per published stage, each with the service's
/// domains, and a stage not yet published answers 404 under its prefix until it is.
pub(super) fn build_domains(site: &Site, domains: Vec<file::Domain>) -> Result<Vec<Domain>, ConfigError> {
    let mut built: Vec<Domain> = Vec::with_capacity(domains.len());
    for domain in domains {
        let Some(host) = domain.host else {
            return Err(site.error("domain.host", "required but missing; write `host = \"api.example.com\"`"));
        };
        let host = normalize_host(&host).map_err(|message| site.error("domain.host", message))?;
        if built.iter().any(|other| other.host == host) {
            return Err(site.error("domain.host", format!("`{host}` is bound twice")));
        }
        let mut mappings = Vec::new();
        if let Some(table) = domain.mappings {
            let error = |message: String| site.error("domain.mappings", format!("domain `{host}`: {message}"));
            if table.is_empty() {
                return Err(error(
                    "no mapping given; leave `mappings` out for the default mapping (`/<stage>/...`)".to_owned(),
                ));
            }
            if table.len() > MAX_PATH_MAPPINGS {
                return Err(error(format!(
                    "{} mappings; Tencent allows at most {MAX_PATH_MAPPINGS} per domain",
                    table.len()
                )));
            }
            for (prefix, stage_name) in table {
                check_prefix(&prefix).map_err(|message| error(format!("`{prefix}`: {message}")))?;
                let stage = parse_stage(&stage_name).map_err(|message| error(format!("`{prefix}`: {message}")))?;
                mappings.push(PathMapping { prefix, stage });
            }
            // The longest prefix wins (Tencent does not say; it is what a user of nested prefixes
            // would expect), so the router tries them longest first.
            mappings.sort_by_key(|mapping| std::cmp::Reverse(mapping.prefix.len()));
        }
        built.push(Domain { host, mappings, force_https: domain.force_https.unwrap_or(false) });
    }
    Ok(built)
}

/// A mapping path: `/`, or `/segment[/segment...]` of URL-safe characters, no trailing `/`.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix == "/" {
        return Ok(());
    }
    let Some(rest) = prefix.strip_prefix('/') else {
        return Err("a mapping path starts with `/`".to_owned());
    };
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err("empty path segment (a mapping path has no `//` and no trailing `/`)".to_owned());
        }
        if segment == "." || segment == ".." {
            return Err("`.` and `..` segments are not allowed".to_owned());
        }
        if let Some(bad) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
            return Err(format!("character {bad:?} is not allowed (letters, digits, `-`, `_`, `.`)"));
        }
    }
    Ok(())
}

/// `force_https` redirects to an HTTPS listener, so there must be one.
pub(super) fn check_force_https(
    services: &[Service],
    has_tls_listener: bool,
    source: &Path,
) -> Result<(), ConfigError> {
    if has_tls_listener {
        return Ok(());
    }
    for service in services {
        if let Some(domain) = service.domains.iter().find(|domain| domain.force_https) {
            let site = Site::new(source, format!("service `{}`", service.name));
            return Err(site.error(
                "domain.force_https",
                format!("domain `{}`: redirects to HTTPS, but the gateway has no `tls_listen`", domain.host),
            ));
        }
    }
    Ok(())
}

/// Across services: a domain is bound to one service (tables sharing an `id`, one per stage set,
/// may repeat it with the same mappings), and a host is either a domain or in `hosts`, not both.
pub(super) fn check_hosts(services: &[Service], source: &Path) -> Result<(), ConfigError> {
    for (index, service) in services.iter().enumerate() {
        let site = Site::new(source, format!("service `{}`", service.name));
        for domain in &service.domains {
            for other in &services[..index] {
                let Some(earlier) = other.domains.iter().find(|earlier| earlier.host == domain.host) else {
                    continue;
                };
                if other.id != service.id {
                    return Err(site.error(
                        "domain.host",
                        format!(
                            "`{}` is already a custom domain of service `{}`; a domain serves one service",
                            domain.host, other.name
                        ),
                    ));
                }
                if earlier.mappings != domain.mappings {
                    return Err(site.error(
                        "domain.mappings",
                        format!(
                            "domain `{}` is bound with other mappings in the other table of service id `{}`",
                            domain.host, service.id
                        ),
                    ));
                }
            }
            if let Some(other) = services.iter().find(|other| other.hosts.contains(&domain.host)) {
                return Err(site.error(
                    "domain.host",
                    format!(
                        "`{}` is also in the `hosts` of service `{}`; a custom domain is served by its own service only (take it out of `hosts`)",
                        domain.host, other.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
