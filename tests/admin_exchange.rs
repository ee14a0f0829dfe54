//! The admin API's whole-service exchanges and addresses (issue 21), against the real binary:
//! an OpenAPI export writes Tencent's `x-apigw-*` keys and imports back to the same APIs, a
//! `serverless.yml` imports with `scfgate import`'s report, and custom domains and Function URLs
//! made through the API are served.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{fixture, request_bytes, Client, Gateway, Response, TempDir, GATEWAY_BIN};
use serde_json::{json, Value};

const TOKEN: &str = "test-admin-token-0123456789";
const ADMIN_MARK: &str = "scfgate admin API listening on http://";

/// A config file with no services: everything comes through the admin API.
const EMPTY: &str = "# services come from the admin API\n";

/// Starts a gateway with the admin API on loopback (token required), its state in `state`.
fn start(config: &str, state: &TempDir, function: Option<(&str, &str)>) -> (Gateway, SocketAddr) {
    let token_file = state.write("admin.token", &format!("{TOKEN}\n"));
    let mut builder = Gateway::builder(config)
        .arg("--admin-listen", "127.0.0.1:0")
        .arg("--state-dir", state.path.join("state").to_str().unwrap())
        .arg("--admin-token-file", token_file.to_str().unwrap());
    if let Some((folder, mode)) = function {
        builder = builder.function(folder, mode);
    }
    let gateway = builder.start();
    assert!(gateway.output.wait_for_line(ADMIN_MARK, Duration::from_secs(20)), "{}", gateway.output.text());
    let line = gateway.output.lines().into_iter().find(|line| line.contains(ADMIN_MARK)).unwrap();
    let address =
        line[line.find(ADMIN_MARK).unwrap() + ADMIN_MARK.len()..].split_whitespace().next().unwrap().parse().unwrap();
    (gateway, address)
}

/// One admin call with the token and a JSON body (none for `Value::Null`).
fn admin(address: SocketAddr, method: &str, path: &str, body: &Value) -> Response {
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    admin_raw(address, method, path, &body)
}

fn admin_raw(address: SocketAddr, method: &str, path: &str, body: &[u8]) -> Response {
    let mut client = Client::connect(address);
    let authorization = format!("Bearer {TOKEN}");
    client.send(&request_bytes(method, path, &address.to_string(), &[("Authorization", &authorization)], body));
    client.read_response()
}

fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    response.json()
}

/// The APIs of a service as comparable values (without versions and times).
fn apis_of(address: SocketAddr, service: &str) -> Vec<Value> {
    let list = expect(&admin(address, "GET", &format!("/v1/services/{service}/apis"), &Value::Null), 200);
    list["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|api| {
            let mut api = api.clone();
            for key in ["version", "created_at", "updated_at"] {
                api.as_object_mut().unwrap().remove(key);
            }
            api
        })
        .collect()
}

/// A service using every API key an OpenAPI export must carry (issue 21).
const EVERY: &str = r#"
[[service]]
id = "service-every01"
name = "every"
description = "all the keys"

[[service.api]]
name = "signed"
path = "/orders/{id}/{rest}"
method = "POST"
function = { name = "echo", namespace = "tools", qualifier = "2" }
description = "key pair, params, CORS with origins, HTTPS only"
timeout = 7.5
integrated_response = true
protocol = "https"
auth = "key_pair"
cors = true
cors_origins = ["https://app.example.com"]
response_type = "xml"
success_response_sample = "<ok/>"
failure_response_sample = "<no/>"

[[service.api.param]]
name = "id"
position = "path"
type = "int"
desc = "order id"

[[service.api.param]]
name = "X-Trace"
position = "header"
type = "string"
required = true

[[service.api.param]]
name = "when"
position = "query"
type = "date"
default = "2024-01-01"
sample = "2024-02-03"

[[service.api.error_code]]
code = 409
message = "conflict"
description = "the order changed"

[[service.api]]
name = "exact-any"
path = "=/exact"
method = "ANY"
function = { name = "echo", qualifier = "$DEFAULT" }
timeout = 30
cors = false
integrated_response = false

[[service.api]]
name = "priority"
path = "^~/static"
method = "HEAD"
function = { name = "echo" }
auth = "oauth"

[service.api.oauth]
public_key = '{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}'
token_location = "cookie:id_token"
iss = "https://auth.example.com"
aud = "every"

# `method` written out: a WebSocket API's default GET comes back from an import written out.
[[service.api]]
name = "socket"
path = "/ws"
method = "GET"
protocol = "ws"
register = { name = "echo" }
transport = { name = "echo" }
cleanup = { name = "echo" }
timeout = 5

[[function]]
name = "echo"
runtime = "custom"
code = "echo"

[[function]]
name = "echo"
namespace = "tools"
qualifier = "2"
runtime = "custom"
code = "echo"
"#;

#[test]
fn an_openapi_export_writes_x_apigw_and_imports_back_the_same() {
    let state = TempDir::new("admin-every");
    let (_gateway, address) = start(EVERY, &state, Some(("echo", "echo")));
    let document =
        expect(&admin(address, "GET", "/v1/services/service-every01/openapi?format=json", &Value::Null), 200);

    // Tencent's extensions carry the backend, CORS and the timeout; scfgate's only the rest.
    let signed = &document["paths"]["/orders/{id}/{rest}"]["post"];
    assert_eq!(
        signed["x-apigw-backend"],
        json!({
            "ServiceType": "SCF",
            "ServiceScfFunctionName": "echo",
            "ServiceScfFunctionNamespace": "tools",
            "ServiceScfFunctionQualifier": "2",
            "ServiceScfIsIntegratedResponse": true,
        }),
        "{signed}"
    );
    assert_eq!(signed["x-apigw-cors"], true);
    assert_eq!(signed["x-apigw-service-timeout"], 7.5);
    assert_eq!(signed["x-apigw-protocol"], "HTTP");
    for key in ["timeout", "cors", "integrated_response", "function"] {
        assert!(signed["x-scfgate"].get(key).is_none(), "{key} in {signed}");
    }
    assert!(signed.get("x-scfgate-function").is_none(), "{signed}");
    let exact = &document["paths"]["/exact"]["get"];
    assert_eq!(exact["x-apigw-backend"]["ServiceScfFunctionQualifier"], "$DEFAULT");
    assert_eq!(exact["x-apigw-backend"]["ServiceScfIsIntegratedResponse"], false);
    assert_eq!(exact["x-apigw-cors"], false);
    // The WebSocket API has no Tencent form: it travels in x-scfgate only.
    let socket = &document["paths"]["/ws"]["get"];
    assert!(socket.get("x-apigw-protocol").is_none() && socket.get("x-apigw-backend").is_none(), "{socket}");

    // Imported into another service, through the admin API, in JSON and in YAML: the same APIs.
    for (id, format) in [("service-json01", "json"), ("service-yaml01", "yaml")] {
        let exported =
            admin(address, "GET", &format!("/v1/services/service-every01/openapi?format={format}"), &Value::Null);
        assert_eq!(exported.status, 200);
        expect(&admin(address, "POST", "/v1/services", &json!({ "id": id, "name": id })), 201);
        let report = expect(&admin_raw(address, "POST", &format!("/v1/services/{id}/openapi"), &exported.body), 200);
        assert_eq!(report["imported"], json!(["signed", "exact-any", "priority", "socket"]), "{format}: {report}");
        assert_eq!(report["skipped"], json!([]), "{format}");
        assert_eq!(apis_of(address, id), apis_of(address, "service-every01"), "{format}");
    }
    // Without scfgate's extensions (as Tencent's tools would drop them), the x-apigw-* keys still
    // give each HTTP API its function, integrated response, CORS and timeout.
    let mut tencent_only = document.clone();
    for item in tencent_only["paths"].as_object_mut().unwrap().values_mut() {
        for operation in item.as_object_mut().unwrap().values_mut() {
            let operation = operation.as_object_mut().unwrap();
            operation.retain(|key, _| !key.starts_with("x-scfgate"));
        }
    }
    tencent_only.as_object_mut().unwrap().remove("x-scfgate-operations");
    expect(&admin(address, "POST", "/v1/services", &json!({ "id": "service-tencent01", "name": "tencent" })), 201);
    let report = expect(&admin(address, "POST", "/v1/services/service-tencent01/openapi", &tencent_only), 200);
    // `/ws` names no function without x-scfgate (reported); the others keep their backend.
    let mut imported: Vec<&str> = report["imported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    imported.sort_unstable();
    assert_eq!(imported, ["exact-any", "priority", "signed"], "{report}");
    assert!(report["skipped"].as_array().unwrap().iter().any(|item| item["at"] == "GET /ws"), "{report}");
    let apis = apis_of(address, "service-tencent01");
    let api = |name: &str| apis.iter().find(|api| api["name"] == name).unwrap().clone();
    let signed = api("signed");
    assert_eq!(signed["function"], json!({"name": "echo", "namespace": "tools", "qualifier": "2"}));
    assert_eq!(
        (&signed["integrated_response"], &signed["cors"], &signed["timeout"]),
        (&json!(true), &json!(true), &json!(7.5))
    );
    let exact = api("exact-any");
    assert_eq!(exact["function"], json!({"name": "echo", "qualifier": "$DEFAULT"}));
    assert_eq!(exact["timeout"], 30.0);
}

#[test]
fn a_serverless_yml_imports_through_the_admin_api_with_the_cli_report() {
    let state = TempDir::new("admin-serverless");
    let (gateway, address) = start(EMPTY, &state, None);
    let demo = fixture("import/demo");
    let text = std::fs::read_to_string(demo.join("event/serverless.yml")).unwrap();
    let target = format!("/v1/import/serverless?name=event/serverless.yml&dir={}", demo.join("event").display());
    let answer = expect(&admin_raw(address, "POST", &target, text.as_bytes()), 200);
    assert_eq!(answer["imported"]["functions"], json!(["default/demo-hello:$LATEST"]), "{answer}");
    let service = answer["imported"]["services"][0].as_str().unwrap().to_owned();
    assert_eq!(answer["imported"]["apis"], json!([format!("{service}/demo-hello")]), "{answer}");
    assert_eq!(answer["published"], false);

    // The same report as `scfgate import` prints for the same file, item for item.
    let output = std::process::Command::new(GATEWAY_BIN)
        .args(["import", "event/serverless.yml"])
        .current_dir(&demo)
        .env_remove("SCFGATE_LOG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cli: Vec<String> = String::from_utf8_lossy(&output.stderr).lines().map(str::to_owned).collect();
    let ours: Vec<String> =
        answer["report"].as_array().unwrap().iter().map(|item| item["text"].as_str().unwrap().to_owned()).collect();
    assert!(!ours.is_empty(), "{answer}");
    assert_eq!(ours, cli);
    assert!(ours.iter().any(|line| line.starts_with("event/serverless.yml:14: inputs.timeout: note:")), "{ours:?}");
    let note = answer["report"].as_array().unwrap().iter().find(|item| item["key"] == "inputs.timeout").unwrap();
    assert_eq!((note["line"].as_u64(), note["kind"].as_str()), (Some(14), Some("note")));

    // Imported as a draft: published, it serves.
    assert_ne!(gateway.get("/release/hello").status, 200);
    let publish = json!({ "stage": "release", "description": "imported" });
    expect(&admin(address, "POST", &format!("/v1/services/{service}/releases"), &publish), 201);
    let response = gateway.get("/release/hello");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["greeting"], "Hello from serverless.yml");

    // Again: what exists is left alone and listed; nothing is new.
    let again = expect(&admin_raw(address, "POST", &target, text.as_bytes()), 200);
    assert_eq!(again["imported"], json!({ "functions": [], "services": [], "apis": [] }), "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2, "{again}");

    // A file that is not one: 400 with the import's own error, naming the file.
    let broken =
        admin_raw(address, "POST", "/v1/import/serverless?name=v1.yml", b"service: x\nprovider:\n  name: tencent\n");
    assert_eq!(broken.status, 400, "{}", broken.text());
    let errors = broken.json()["errors"].clone();
    assert!(errors[0].as_str().unwrap().starts_with("v1.yml:2: provider: a Serverless Framework v1 file"), "{errors}");
}

#[test]
fn domains_and_function_urls_made_through_the_admin_api_are_served() {
    let state = TempDir::new("admin-addresses");
    let (gateway, address) = start(EMPTY, &state, None);
    let code = TempDir::new("admin-addresses-code");
    let bootstrap = code.function("echo", "echo");
    let folder = bootstrap.parent().unwrap().to_str().unwrap().to_owned();
    // A Function URL is served as soon as its function is created.
    let function = json!({ "name": "echo", "runtime": "custom", "code": folder, "url": { "host": "echo.fn.example" } });
    expect(&admin(address, "POST", "/v1/functions", &function), 201);
    let response = gateway.request("GET", "/x", &[("Host", "echo.fn.example")], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["path"], "/x");

    // A service with a mapped domain: served once published.
    let service = json!({
        "id": "service-dom01",
        "name": "dom",
        "stages": ["release", "test"],
        "domain": [{ "host": "api.dom.example", "mappings": { "/": "release", "/beta": "test" } }],
        "api": [{ "name": "items", "path": "/items", "method": "GET", "function": { "name": "echo" } }],
    });
    expect(&admin(address, "POST", "/v1/services", &service), 201);
    for stage in ["release", "test"] {
        let publish = json!({ "stage": stage, "description": "with a domain" });
        expect(&admin(address, "POST", "/v1/services/service-dom01/releases", &publish), 201);
    }
    #[rustfmt::skip]
    let cases: &[(&str, &str, u16, &str)] = &[
        ("api.dom.example", "/items", 200, "release"),
        ("api.dom.example", "/beta/items", 200, "test"),
        ("api.dom.example", "/release/items", 404, ""),
        ("127.0.0.1", "/release/items", 200, "release"),
    ];
    for (host, target, status, stage) in cases {
        let response = gateway.request("GET", target, &[("Host", host)], b"");
        assert_eq!(response.status, *status, "{host}{target}: {}", response.text());
        if *status == 200 {
            assert_eq!(response.json()["requestContext"]["stage"], *stage, "{host}{target}");
        }
    }
    // A domain mistake is refused with the config file's message, naming the field.
    let broken = json!({ "name": "bad", "domain": [{ "host": "x.example", "mappings": { "beta": "test" } }] });
    let refused = admin(address, "POST", "/v1/services", &broken);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("domain.mappings"), "{}", refused.text());
}
