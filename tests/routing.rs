//! Request addressing and API matching, as a client sees it: `/{stage}{api path}`, Host-bound
//! services, and Tencent's path priorities (spec §1.1, §1.2). The `echo` function returns the event,
//! whose `requestContext.path` / `requestContext.httpMethod` name the API that matched and whose
//! `pathParameters` hold the captures.

mod common;

use common::{Client, Gateway};
use serde_json::{json, Value};

const ROUTES: &str = r#"
[[service]]
id = "service-routes"
name = "routes"
stages = ["release"]

[[service.api]]
name = "exact-user"
path = "=/user"
method = "GET"
function = { name = "echo" }

[[service.api]]
name = "admin"
path = "^~/user/admin"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "super-admin"
path = "^~/user/admin/super"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "user-by-id"
path = "/user/{id}"
method = "GET"
function = { name = "echo" }

[[service.api]]
name = "user-prefix"
path = "/user"
method = "POST"
function = { name = "echo" }

[[service.api]]
name = "shop"
path = "/shop"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "cart"
path = "/shop/cart"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "docs-two"
path = "/docs/{a}/{b}"
method = "GET"
function = { name = "echo" }

[[service.api]]
name = "docs-one"
path = "/docs/{all}"
method = "GET"
function = { name = "echo" }

# Tencent's FAQ examples ("前后端参数如何映射"), on their own stage so they do not shadow the above.
[[service]]
id = "service-faq"
name = "faq"
stages = ["test"]

[[service.api]]
name = "faq-product"
path = "/{PathA}/product/{PathB}"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "faq-detail"
path = "/{PathA}/{PathB}/detail"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "faq-two"
path = "/{PathA}/{PathB}"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2
"#;

/// What a request should reach.
enum Expect {
    /// The API with this declared path and method, and these captures.
    Api { path: &'static str, method: &'static str, params: Value },
    /// A gateway error: status and exact body.
    Error(u16, &'static str),
    /// 405, with the methods the path does take in `Allow`.
    NotAllowed(&'static str),
}

fn api(path: &'static str, method: &'static str, params: Value) -> Expect {
    Expect::Api { path, method, params }
}

const NOT_ALLOWED: &str = r#"{"message":"Method Not Allowed."}"#;

#[test]
fn path_priorities_methods_and_stages() {
    let gateway = Gateway::builder(ROUTES).function("echo", "echo").start();
    let none = || json!({});
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Expect)> = vec![
        // Exact (`=/user`) beats every other tier.
        ("GET", "/release/user", api("/user", "GET", none())),
        // The query is not part of the path that is matched.
        ("GET", "/release/user?x=1&y", api("/user", "GET", none())),
        // Exact means exact: one more segment goes to the {param} route.
        ("GET", "/release/user/7", api("/user/{id}", "GET", json!({"id": "7"}))),
        // `^~` priority prefix beats {param} routes.
        ("GET", "/release/user/admin", api("/user/admin", "ANY", none())),
        ("GET", "/release/user/admin/7", api("/user/admin", "ANY", none())),
        // `^~` is a character prefix too.
        ("GET", "/release/user/administrator", api("/user/admin", "ANY", none())),
        // The longest `^~` wins.
        ("DELETE", "/release/user/admin/super/1", api("/user/admin/super", "ANY", none())),
        // A {param} is a greedy `.+` that spans `/`.
        ("GET", "/release/user/a/b/c", api("/user/{id}", "GET", json!({"id": "a/b/c"}))),
        // pathParameters are percent-decoded.
        ("GET", "/release/user/J%C3%BCrgen%20M%2Fx", api("/user/{id}", "GET", json!({"id": "Jürgen M/x"}))),
        // Path captures are not form-decoded: `+` stays a plus.
        ("GET", "/release/user/a+b", api("/user/{id}", "GET", json!({"id": "a+b"}))),
        // Wrong method on a higher tier: a lower-priority route with the right method wins.
        ("POST", "/release/user/7", api("/user", "POST", none())),
        ("POST", "/release/user", api("/user", "POST", none())),
        // A plain path is a character prefix: /user matches /usertest.
        ("POST", "/release/usertest", api("/user", "POST", none())),
        // The path matches but no route takes the method: 405.
        // `Allow` lists every method some route would serve at that path, whichever tier.
        ("GET", "/release/usertest", Expect::NotAllowed("POST")),
        ("DELETE", "/release/user", Expect::NotAllowed("GET, POST")),
        ("PUT", "/release/user/7", Expect::NotAllowed("GET, POST")),
        // A method no API can declare is still only "not allowed" when the path matches.
        ("PATCH", "/release/user/7", Expect::NotAllowed("GET, POST")),
        // Among plain prefixes the longest wins, by characters.
        ("GET", "/release/shop/cart/items", api("/shop/cart", "ANY", none())),
        ("GET", "/release/shop/cartoon", api("/shop/cart", "ANY", none())),
        ("GET", "/release/shop/x", api("/shop", "ANY", none())),
        ("GET", "/release/shopping", api("/shop", "ANY", none())),
        ("GET", "/release/shop", api("/shop", "ANY", none())),
        // {param} routes are tried in file order; the first that matches wins.
        ("GET", "/release/docs/x/y", api("/docs/{a}/{b}", "GET", json!({"a": "x", "b": "y"}))),
        ("GET", "/release/docs/x/y/z", api("/docs/{a}/{b}", "GET", json!({"a": "x/y", "b": "z"}))),
        ("GET", "/release/docs/x", api("/docs/{all}", "GET", json!({"all": "x"}))),
        // A {param} needs at least one character.
        ("GET", "/release/docs/", Expect::Error(404, r#"{"message":"There is no api match uri[/release/docs/]"}"#)),
        // Paths are case-sensitive.
        ("GET", "/release/USER", Expect::Error(404, r#"{"message":"There is no api match uri[/release/USER]"}"#)),
        // No API path matches: 404 naming the whole request path, stage included.
        ("GET", "/release/nothing/here?q=1", Expect::Error(404, r#"{"message":"There is no api match uri[/release/nothing/here]"}"#)),
        // `/release` alone addresses the API path `/`.
        ("GET", "/release", Expect::Error(404, r#"{"message":"There is no api match uri[/release]"}"#)),
        // Tencent FAQ: /{PathA}/{PathB}/detail on /middleware/apigw/detail.
        ("GET", "/test/middleware/apigw/detail", api("/{PathA}/{PathB}/detail", "ANY", json!({"PathA": "middleware", "PathB": "apigw"}))),
        // Tencent FAQ: /{PathA}/product/{PathB} on /middleware/product/apigw/detail.
        ("POST", "/test/middleware/product/apigw/detail", api("/{PathA}/product/{PathB}", "ANY", json!({"PathA": "middleware", "PathB": "apigw/detail"}))),
        // Tencent FAQ: /{PathA}/{PathB} — the first param takes as much as it can.
        ("GET", "/test/x/y/z", api("/{PathA}/{PathB}", "ANY", json!({"PathA": "x/y", "PathB": "z"}))),
        // Each stage has its own APIs: the routes service is not published to `test`.
        ("GET", "/test/user", Expect::Error(404, r#"{"message":"There is no api match uri[/test/user]"}"#)),
        // A stage no service here is published to.
        ("GET", "/prepub/user", Expect::Error(404, r#"{"message":"There is no api match default env_mapping[prepub]."}"#)),
        // Not a stage at all.
        ("GET", "/prod/user", Expect::Error(404, r#"{"message":"There is no api match default env_mapping[prod]."}"#)),
        // Stage names are case-sensitive.
        ("GET", "/Release/user", Expect::Error(404, r#"{"message":"There is no api match default env_mapping[Release]."}"#)),
        ("GET", "/", Expect::Error(404, r#"{"message":"There is no api match default env_mapping[]."}"#)),
    ];

    let mut failures = Vec::new();
    for (method, path, expected) in &cases {
        let response = gateway.request(method, path, &[], b"");
        let label = format!("{method} {path}");
        match expected {
            Expect::Api { path: api_path, method: api_method, params } => {
                if response.status != 200 {
                    failures.push(format!(
                        "{label}: expected 200 from {api_path}, got {} {}",
                        response.status,
                        response.text()
                    ));
                    continue;
                }
                let event = response.json();
                let got = (
                    &event["requestContext"]["path"],
                    &event["requestContext"]["httpMethod"],
                    &event["pathParameters"],
                );
                if got != (&json!(api_path), &json!(api_method), params) {
                    failures.push(format!(
                        "{label}: expected {api_method} {api_path} {params}, got {} {} {}",
                        got.1, got.0, got.2
                    ));
                }
                // The event's method is the request's own.
                if event["httpMethod"] != json!(method) {
                    failures.push(format!("{label}: event httpMethod {}", event["httpMethod"]));
                }
            }
            Expect::NotAllowed(allow) => {
                if response.status != 405 || response.text() != NOT_ALLOWED || response.header("allow") != Some(allow) {
                    failures.push(format!(
                        "{label}: expected 405 {NOT_ALLOWED} with allow {allow:?}, got {} {} with allow {:?}",
                        response.status,
                        response.text(),
                        response.header("allow")
                    ));
                }
            }
            Expect::Error(status, body) => {
                if response.status != *status || response.text() != *body {
                    failures.push(format!(
                        "{label}: expected {status} {body}, got {} {}",
                        response.status,
                        response.text()
                    ));
                }
                if response.header("content-type") != Some("application/json") {
                    failures.push(format!("{label}: error content-type {:?}", response.header("content-type")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

const HOSTED: &str = r#"
[[service]]
id = "service-a"
name = "a"
hosts = ["a.example"]
[[service.api]]
name = "who"
path = "/who"
method = "ANY"
function = { name = "echo" }

[[service]]
id = "service-b"
name = "b"
hosts = ["B.Example", "b2.example"]
[[service.api]]
name = "who"
path = "/who"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;

/// The serviceId that answered, or the error status and body.
type Answer = Result<String, (u16, String)>;

/// Sends GET `target` with `Host: host` and returns the serviceId that answered, or the error.
fn service_for(gateway: &Gateway, host: &str, target: &str) -> Answer {
    let response = gateway.request("GET", target, &[("Host", host)], b"");
    if response.status == 200 {
        Ok(response.json()["requestContext"]["serviceId"].as_str().unwrap_or_default().to_string())
    } else {
        Err((response.status, response.text()))
    }
}

#[test]
fn services_bound_to_hosts() {
    let gateway = Gateway::builder(HOSTED).function("echo", "echo").start();
    let ok = |id: &str| -> Answer { Ok(id.to_string()) };
    let unknown =
        |host: &str| -> Answer { Err((404, format!(r#"{{"message":"There is no api match host[{host}]."}}"#))) };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Answer)> = vec![
        // A service with `hosts` answers for its host.
        ("a.example", "/release/who", ok("service-a")),
        // The Host header's port is ignored.
        ("a.example:8080", "/release/who", ok("service-a")),
        // Host names compare case-insensitively (the config's and the request's).
        ("A.EXAMPLE", "/release/who", ok("service-a")),
        ("b.example", "/release/who", ok("service-b")),
        ("B2.example:1", "/release/who", ok("service-b")),
        // Absolute-form targets name the host themselves (RFC 9112 §3.2.2), over the Host header.
        ("a.example", "http://b.example/release/who", ok("service-b")),
        // No service answers for another host when none is host-less.
        ("c.example", "/release/who", unknown("c.example")),
        ("a.example.org", "/release/who", unknown("a.example.org")),
    ];
    for (host, target, expected) in cases {
        assert_eq!(service_for(&gateway, host, target), expected, "Host: {host}, GET {target}");
    }
}

const HOSTED_AND_ANY: &str = r#"
[[service]]
id = "service-a"
name = "a"
hosts = ["a.example"]
[[service.api]]
name = "who"
path = "^~/who"
method = "ANY"
function = { name = "echo" }

[[service]]
id = "service-any"
name = "any"
[[service.api]]
name = "who"
path = "/who"
method = "ANY"
function = { name = "echo" }
[[service.api]]
name = "shared"
path = "/shared"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;

#[test]
fn host_less_services_answer_every_host() {
    let gateway = Gateway::builder(HOSTED_AND_ANY).function("echo", "echo").start();
    let ok = |id: &str| -> Answer { Ok(id.to_string()) };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Answer)> = vec![
        // The host's own service wins where its API has priority.
        ("a.example", "/release/who", ok("service-a")),
        // Other hosts reach the host-less service.
        ("c.example", "/release/who", ok("service-any")),
        ("127.0.0.1", "/release/who", ok("service-any")),
        // A host-less service's APIs are reachable on a bound host as well.
        ("a.example", "/release/shared", ok("service-any")),
    ];
    for (host, target, expected) in cases {
        assert_eq!(service_for(&gateway, host, target), expected, "Host: {host}, GET {target}");
    }
}

#[test]
fn http10_request_without_host_reaches_host_less_services() {
    let gateway = Gateway::builder(HOSTED_AND_ANY).function("echo", "echo").start();
    let mut client = Client::connect(gateway.addr());
    client.send(b"GET /release/shared HTTP/1.0\r\n\r\n");
    let response = client.read_response();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["requestContext"]["serviceId"], "service-any");
}
