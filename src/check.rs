//! `--check`: the compiled route table as text, one API per line in priority order per service
//! and stage, so an operator can see which API a path will reach.

use std::fmt::Write;

use crate::config::{Config, PathKind};

/// The route table, grouped by service, in Tencent's priority order.
pub fn route_table(config: &Config) -> String {
    let mut out = String::new();
    for (index, service) in config.services.iter().enumerate() {
        let hosts = if service.hosts.is_empty() { "any host".to_string() } else { service.hosts.join(", ") };
        let stages: Vec<&str> = service.stages.iter().map(|stage| stage.as_str()).collect();
        let _ = writeln!(out, "service {} ({}) on {hosts}, stages /{}", service.name, service.id, stages.join(", /"));
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
                "  {:<6} {:<32} {:<16} -> {}, timeout {}s)  [{}]",
                api.method.as_str(),
                api.path.path,
                kind,
                target,
                api.timeout.as_secs_f64(),
                api.name
            );
        }
    }
    out
}
