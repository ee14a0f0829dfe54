//! `--check`: the compiled route table as text, one API per line in priority order per service
//! and stage, so an operator can see which API a path will reach.

use std::fmt::Write;

use crate::config::{ApiPolicy, Auth, Config, PathKind, Protocol, ServiceIndex};

/// The route table, grouped by service, in Tencent's priority order.
pub fn route_table(config: &Config) -> String {
    let mut out = String::new();
    for (index, service) in ServiceIndex::enumerate(&config.services) {
        let hosts = match (service.function_url, service.hosts.is_empty()) {
            (true, _) => "its URL only".to_string(),
            (false, true) => "any host".to_string(),
            (false, false) => service.hosts.join(", "),
        };
        let stages: Vec<&str> = service.stages.iter().map(|stage| stage.as_str()).collect();
        let _ = writeln!(out, "service {} ({}) on {hosts}, stages /{}", service.name, service.id, stages.join(", /"));
        for domain in &service.domains {
            let mappings: Vec<String> = domain
                .mappings
                .iter()
                .map(|mapping| format!("{} -> {}", mapping.prefix, mapping.stage.as_str()))
                .collect();
            let addressing =
                if mappings.is_empty() { "/<stage>/... (default mapping)".to_owned() } else { mappings.join(", ") };
            let redirect = if domain.force_https { ", plain HTTP redirected to HTTPS" } else { "" };
            let _ = writeln!(out, "  domain {}: {addressing}{redirect}", domain.host);
        }
        let mut apis: Vec<_> = config.apis.iter().enumerate().filter(|(_, api)| api.service == index).collect();
        // Exact, then priority prefix, then param routes in file order, then prefixes longest first.
        apis.sort_by(|(left_id, left), (right_id, right)| {
            left.path.kind.cmp(&right.path.kind).then_with(|| match left.path.kind {
                PathKind::Param => left_id.cmp(right_id),
                _ => right.path.path.len().cmp(&left.path.path.len()),
            })
        });
        for (_, api) in apis {
            let kind = match api.path.kind {
                PathKind::Exact => "exact",
                PathKind::PriorityPrefix => "priority prefix",
                PathKind::Param => "param",
                PathKind::Prefix => "prefix",
            };
            let target = match api.websocket {
                // A WebSocket API: its three functions.
                Some(functions) => format!(
                    "register {}, transport {}, cleanup {} (websocket",
                    config.functions[functions.register].display_name(),
                    config.functions[functions.transport].display_name(),
                    config.functions[functions.cleanup].display_name()
                ),
                None => {
                    let mode = if api.integrated_response { "integrated" } else { "pass-through" };
                    format!("{} ({mode}", config.functions[api.function].display_name())
                }
            };
            let _ = writeln!(
                out,
                "  {:<6} {:<32} {:<16} -> {}, timeout {}s{})  [{}]",
                api.method.as_str(),
                api.path.path,
                kind,
                target,
                api.timeout.as_secs_f64(),
                policy_summary(&api.policy, api.websocket.is_some()),
                api.name
            );
        }
    }
    out
}

/// The API's policies that differ from the defaults, e.g. `, auth key_pair, cors, https only, 2 params`.
/// A WebSocket API's protocol is named in its own terms (`ws` is its plain default).
fn policy_summary(policy: &ApiPolicy, websocket: bool) -> String {
    let mut summary = String::new();
    match policy.auth {
        Auth::None => {}
        Auth::KeyPair => summary.push_str(", auth key_pair"),
        Auth::OAuth(_) => summary.push_str(", auth oauth"),
    }
    if policy.cors.is_some() {
        summary.push_str(", cors");
    }
    match (policy.protocol, websocket) {
        (Protocol::HttpAndHttps, _) | (Protocol::Http, true) => {}
        (Protocol::Http, false) => summary.push_str(", http only"),
        (Protocol::Https, false) => summary.push_str(", https only"),
        (Protocol::Https, true) => summary.push_str(", wss only"),
    }
    match policy.params.len() {
        0 => {}
        1 => summary.push_str(", 1 param"),
        count => {
            let _ = write!(summary, ", {count} params");
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate, Overrides};

    #[test]
    fn the_route_table_names_each_apis_policies() {
        let text = r#"
[[service]]
id = "service-check"
name = "check"
[[service.api]]
name = "plain"
path = "/plain"
method = "GET"
function = { name = "remote" }
[[service.api]]
name = "guarded"
path = "/items/{id}"
method = "GET"
protocol = "https"
cors = true
function = { name = "remote" }
[[service.api.param]]
name = "id"
position = "path"
type = "int"
[[service.api.param]]
name = "page"
position = "query"
[[function]]
name = "remote"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;
        let config = validate::parse_str(text, std::path::Path::new("/tmp/check.toml"), &Overrides::default()).unwrap();
        let table = route_table(&config);
        let line = |name: &str| table.lines().find(|line| line.ends_with(&format!("[{name}]"))).unwrap().to_string();
        assert!(line("guarded").contains("timeout 15s, cors, https only, 2 params)"), "{table}");
        assert!(line("plain").contains("timeout 15s)"), "{table}");
    }
}
