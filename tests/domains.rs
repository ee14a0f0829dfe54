//! Custom domains (`[[service.domain]]`, Tencent's 自定义域名; migration spec §5): a domain with
//! the default mapping serves `/{stage}/...` as the default domain does; with custom path
//! mappings a path prefix names the stage and `/{stage}` URLs stop working there. A domain is
//! served by its own service only. Also: the configuration errors about domains, and two
//! services answering the same path on one host.

mod common;

use common::{run_gateway, Gateway, TempDir};
use serde_json::Value;

const CONFIG: &str = r#"
[[service]]
id = "service-shop"
name = "shop"
stages = ["release", "test"]

[[service.domain]]
host = "api.example.com"
mappings = { "/" = "release", "/beta" = "test", "/v1/old" = "test" }

[[service.domain]]
host = "Default.Example.com"

[[service.domain]]
host = "beta.example.com"
mappings = { "/beta" = "test", "/pre" = "prepub" }

[[service.api]]
name = "items"
path = "/items"
method = "ANY"
function = { name = "echo" }

# Host-less, as the default domain: it answers every other host. `other` shares its path on
# another stage.
[[service]]
id = "service-other"
name = "other"
stages = ["prepub"]

[[service.api]]
name = "items"
path = "/items"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;

/// What a client sees: the service, stage, event path and API path that served it, or the
/// error status and body.
type Answer = Result<(String, String, String, String), (u16, String)>;

fn answer(gateway: &Gateway, host: &str, target: &str) -> Answer {
    let response = gateway.request("GET", target, &[("Host", host)], b"");
    if response.status != 200 {
        return Err((response.status, response.text()));
    }
    let event = response.json();
    let text = |value: &Value| value.as_str().unwrap_or("?").to_owned();
    Ok((
        text(&event["requestContext"]["serviceId"]),
        text(&event["requestContext"]["stage"]),
        text(&event["path"]),
        text(&event["requestContext"]["path"]),
    ))
}

#[test]
fn domains_address_stages_by_default_or_custom_mappings() {
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").start();
    let ok = |service: &str, stage: &str, path: &str| -> Answer {
        Ok((service.into(), stage.into(), path.into(), "/items".into()))
    };
    let no_uri = |path: &str| -> Answer { Err((404, format!(r#"{{"message":"There is no api match uri[{path}]"}}"#))) };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Answer)> = vec![
        // Custom mappings: `/` serves release at the root, `/beta` serves test; the mapping
        // prefix is not part of the event's `path`.
        ("api.example.com", "/items/7", ok("service-shop", "release", "/items/7")),
        ("api.example.com", "/beta/items/7", ok("service-shop", "test", "/items/7")),
        ("api.example.com:8443", "/beta/items", ok("service-shop", "test", "/items")),
        // The longest prefix wins; a prefix holds whole segments only.
        ("api.example.com", "/v1/old/items", ok("service-shop", "test", "/items")),
        ("api.example.com", "/betamax/items", no_uri("/betamax/items")),
        // `/{stage}` URLs stop working on a custom-mapped domain: `/release/items` is the API
        // path `/release/items` of the `/` mapping, which no API matches.
        ("api.example.com", "/release/items", no_uri("/release/items")),
        ("api.example.com", "/test/items", no_uri("/test/items")),
        // No `/` mapping: a path no mapping holds is Tencent's env_mapping 404.
        ("beta.example.com", "/beta/items", ok("service-shop", "test", "/items")),
        ("beta.example.com", "/items", Err((404, r#"{"message":"There is no api match env_mapping[items]."}"#.into()))),
        // A mapping to a stage the service is not published to answers 404 until it is.
        ("beta.example.com", "/pre/items", Err((404, r#"{"message":"There is no api match env_mapping[pre]."}"#.into()))),
        // The default mapping: `/{stage}` as on the default domain (host matched ignoring case);
        // the root does not serve release.
        ("default.example.com", "/release/items", ok("service-shop", "release", "/items")),
        ("DEFAULT.example.com", "/test/items/x", ok("service-shop", "test", "/items/x")),
        ("default.example.com", "/items", Err((404, r#"{"message":"There is no api match default env_mapping[items]."}"#.into()))),
        // A domain serves its own service only; a service without `hosts` answers other hosts
        // by `/{stage}` as well (Tencent's default domain).
        ("127.0.0.1", "/release/items", ok("service-shop", "release", "/items")),
        ("127.0.0.1", "/prepub/items", ok("service-other", "prepub", "/items")),
        ("default.example.com", "/prepub/items", Err((404, r#"{"message":"There is no api match default env_mapping[prepub]."}"#.into()))),
    ];
    let mut failures = Vec::new();
    for (host, target, expected) in &cases {
        let got = answer(&gateway, host, target);
        if &got != expected {
            failures.push(format!("Host: {host}, GET {target}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));

    // The function sees the custom domain as the Host, as the client sent it.
    let response = gateway.request("GET", "/beta/items", &[("Host", "api.example.com")], b"");
    assert_eq!(response.json()["headers"]["host"], "api.example.com");
}

const BROKEN_BASE: &str = r#"
[[service]]
id = "service-shop"
name = "shop"
hosts = ["shop.example.com"]
stages = ["release", "test"]

[[service.domain]]
host = "api.example.com"
mappings = { "/" = "release", "/beta" = "test" }

[[service.api]]
name = "items"
path = "/items"
method = "GET"
function = { name = "fn" }

[[service]]
id = "service-other"
name = "other"
hosts = ["other.example.com"]

[[service.api]]
name = "items"
path = "/items"
method = "GET"
function = { name = "fn" }

[[function]]
name = "fn"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;

#[test]
fn domain_mistakes_and_shared_paths_are_refused_naming_the_service_and_field() {
    let shop = "service `shop`: field `domain.mappings`: domain `api.example.com`";
    // (rule, text to replace in BROKEN_BASE, replacement, expected message after "<file>")
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, String, String)> = vec![
        // Tencent's PathMappingSet holds at most 3 mappings.
        ("four mappings", r#"mappings = { "/" = "release", "/beta" = "test" }"#, r#"mappings = { "/" = "release", "/a" = "test", "/b" = "test", "/c" = "test" }"#.into(), format!(": {shop}: 4 mappings; Tencent allows at most 3 per domain")),
        ("not a stage", r#""/beta" = "test""#, r#""/beta" = "prod""#.into(), format!(": {shop}: `/beta`: `prod` is not a stage; use release, test or prepub")),
        ("relative prefix", r#""/beta" = "test""#, r#""beta" = "test""#.into(), format!(": {shop}: `beta`: a mapping path starts with `/`")),
        ("trailing slash", r#""/beta" = "test""#, r#""/beta/" = "test""#.into(), format!(": {shop}: `/beta/`: empty path segment (a mapping path has no `//` and no trailing `/`)")),
        ("empty mappings", r#"mappings = { "/" = "release", "/beta" = "test" }"#, "mappings = {}".into(), format!(": {shop}: no mapping given; leave `mappings` out for the default mapping (`/<stage>/...`)")),
        ("no host", "host = \"api.example.com\"\n", "".into(), ": service `shop`: field `domain.host`: required but missing; write `host = \"api.example.com\"`".into()),
        ("host with port", "host = \"api.example.com\"", "host = \"api.example.com:443\"".into(), ": service `shop`: field `domain.host`: `api.example.com:443`: a port is not allowed; hosts are matched without the Host header's port".into()),
        ("unknown key", "host = \"api.example.com\"", "host = \"api.example.com\"\nforced_https = true".into(), ":10:1: unknown field `forced_https`".into()),
        // A redirect to HTTPS needs an HTTPS listener.
        ("force_https without tls", "host = \"api.example.com\"", "host = \"api.example.com\"\nforce_https = true".into(), ": service `shop`: field `domain.force_https`: domain `api.example.com`: redirects to HTTPS, but the gateway has no `tls_listen`".into()),
        // A domain belongs to one service, and is not also in `hosts`.
        ("domain of two services", "hosts = [\"other.example.com\"]", "[[service.domain]]\nhost = \"API.example.com\"".into(), ": service `other`: field `domain.host`: `api.example.com` is already a custom domain of service `shop`; a domain serves one service".into()),
        ("domain in hosts", "hosts = [\"other.example.com\"]", "hosts = [\"api.example.com\"]".into(), ": service `shop`: field `domain.host`: `api.example.com` is also in the `hosts` of service `other`; a custom domain is served by its own service only (take it out of `hosts`)".into()),
        // Two services answering the same path and method on the same host: both are named, and
        // the way out is suggested.
        ("same path, two services", "hosts = [\"other.example.com\"]\n", "".into(), ": service `other` api `items` (GET /items) conflicts with service `shop` api `items` (GET /items): same path and method on the same host; give service `shop` or `other` its own `hosts = [\"...\"]` or a `[[service.domain]]` so that each answers on a host of its own".into()),
    ];
    let dir = TempDir::new("domains-broken");
    let base = dir.write("base.toml", BROKEN_BASE);
    let (status, stdout, stderr) = run_gateway(&["--config", base.to_str().unwrap(), "--check"]);
    assert!(status.success(), "the base config is refused: {stderr}");
    // `--check` shows the domain's routes.
    assert!(stdout.contains("api.example.com"), "{stdout}");

    let mut failures = Vec::new();
    for (index, (rule, from, to, expected)) in cases.iter().enumerate() {
        assert!(BROKEN_BASE.contains(from), "{rule}: {from:?} not in the base config");
        let file = dir.write(&format!("case{index}.toml"), &BROKEN_BASE.replacen(from, to, 1));
        let path = file.to_str().unwrap();
        let (status, _, stderr) = run_gateway(&["--config", path, "--check"]);
        let expected = format!("error: {path}{expected}");
        if status.code() != Some(2) {
            failures.push(format!("{rule}: exit {status}"));
        }
        if !stderr.starts_with(&expected) {
            failures.push(format!("{rule}: stderr {stderr:?}\n  expected it to start with {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn force_https_redirects_plain_http_keeping_the_target() {
    let config = r#"
[[service]]
id = "service-shop"
name = "shop"

[[service.domain]]
host = "secure.example.com"
mappings = { "/" = "release" }
force_https = true

[[service.domain]]
host = "plain.example.com"
mappings = { "/" = "release" }

[[service.api]]
name = "items"
path = "/items"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"

[[certificate]]
hosts = ["secure.example.com"]
cert = "secure.crt"
key = "secure.key"
"#;
    let builder = Gateway::builder(config).function("echo", "echo").arg("--tls-listen", "127.0.0.1:0");
    let certified = rcgen::generate_simple_self_signed(vec!["secure.example.com".to_string()]).unwrap();
    builder.dir().write("secure.crt", &certified.cert.pem());
    builder.dir().write("secure.key", &certified.signing_key.serialize_pem());
    let gateway = builder.start();
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, u16, Option<&str>)] = &[
        // (method, host, target, status, Location)
        ("GET", "secure.example.com", "/items/7?x=1&y", 308, Some("https://secure.example.com/items/7?x=1&y")),
        // 308, not 301: a POST stays a POST; the Host's port is not carried (default 443).
        ("POST", "secure.example.com:8080", "/items", 308, Some("https://secure.example.com/items")),
        // A path no API matches is still 404, not a redirect to one.
        ("GET", "secure.example.com", "/nothing", 404, None),
        ("GET", "plain.example.com", "/items", 200, None),
    ];
    for (method, host, target, status, location) in cases {
        let response = gateway.request(method, target, &[("Host", host)], b"");
        assert_eq!(response.status, *status, "{method} {host}{target}: {}", response.text());
        assert_eq!(response.header("location"), *location, "{method} {host}{target}");
    }
}
