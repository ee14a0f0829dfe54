//! The admin API against the real binary, as the console (or curl) uses it: a token is required,
//! edits are validated with the config file's messages, a publish is served at once by the data
//! plane, releases survive a restart and roll back, stale edits are refused, and the state
//! exports to a config file, to OpenAPI and to HTML documentation. A steady stream of keep-alive
//! requests sees no error while publishes happen. Without a token only loopback `Host` names are
//! answered (DNS rebinding); idle connections cannot lock others out; the release history keeps
//! the newest `--max-releases` and every served release, on disk too.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{request_bytes, run_gateway, Client, Gateway, Response, TempDir};
use serde_json::{json, Value};

const TOKEN: &str = "test-admin-token-0123456789";
const ADMIN_MARK: &str = "scfgate admin API listening on http://";

/// A config file with no services: everything comes through the admin API.
const EMPTY: &str = "# services come from the admin API\n";

/// Starts a gateway with the admin API on loopback, its state in `state`.
fn start(config: &str, state: &TempDir, function: Option<(&str, &str)>) -> (Gateway, SocketAddr) {
    start_with(config, state, function, true, &[])
}

/// Starts a gateway with the admin API on loopback, its state in `state`, with the token or
/// without one (as `scripts/run-example.sh` runs it), and extra flags (name, value, ...).
fn start_with(
    config: &str,
    state: &TempDir,
    function: Option<(&str, &str)>,
    token: bool,
    flags: &[&str],
) -> (Gateway, SocketAddr) {
    let state_dir = state.path.join("state");
    let mut builder =
        Gateway::builder(config).arg("--admin-listen", "127.0.0.1:0").arg("--state-dir", state_dir.to_str().unwrap());
    if token {
        let token_file = state.write("admin.token", &format!("{TOKEN}\n"));
        builder = builder.arg("--admin-token-file", token_file.to_str().unwrap());
    } else {
        // An empty variable counts as none, whatever the test's own environment holds.
        builder = builder.env("SCFGATE_ADMIN_TOKEN", "");
    }
    for pair in flags.chunks(2) {
        builder = builder.arg(pair[0], pair[1]);
    }
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

/// One admin call with the token.
fn admin(address: SocketAddr, method: &str, path: &str, body: &Value) -> Response {
    admin_with(address, method, path, &[("Authorization", &format!("Bearer {TOKEN}"))], body)
}

fn admin_with(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    let mut client = Client::connect(address);
    client.send(&request_bytes(method, path, &address.to_string(), headers, &body));
    client.read_response()
}

/// One call naming `host` in its `Host` header, without the token.
fn call_as(address: SocketAddr, host: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let body: &[u8] = if method == "POST" { b"{}" } else { b"" };
    let mut client = Client::connect(address);
    client.send(&request_bytes(method, path, host, headers, body));
    client.read_response()
}

fn admin_raw(address: SocketAddr, method: &str, path: &str, body: &[u8]) -> Response {
    let mut client = Client::connect(address);
    client.send(&request_bytes(
        method,
        path,
        &address.to_string(),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        body,
    ));
    client.read_response()
}

/// A local echo function whose `code` is an absolute folder (so it is found from any config file).
fn echo_function(dir: &TempDir) -> Value {
    let bootstrap = dir.function("echo", "echo");
    json!({ "name": "echo", "runtime": "custom", "code": bootstrap.parent().unwrap().to_str().unwrap() })
}

fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    response.json()
}

#[test]
fn console_flow_publish_update_rollback_and_restart() {
    let state = TempDir::new("admin-state");
    let (mut gateway, address) = start(EMPTY, &state, None);

    // The token is required.
    let missing = admin_with(address, "GET", "/v1/services", &[], &Value::Null);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["code"], "AuthFailure");
    assert_eq!(
        admin_with(address, "GET", "/v1/services", &[("Authorization", "Bearer wrong")], &Value::Null).status,
        401
    );

    // Step 1: a service.
    let service =
        expect(&admin(address, "POST", "/v1/services", &json!({ "id": "service-flow01", "name": "flow" })), 201);
    assert_eq!(service["id"], "service-flow01");

    // Steps 2-3: an API naming a function that does not exist yet is refused, naming the field.
    let api = json!({ "name": "hello", "path": "=/hello", "method": "GET", "function": { "name": "echo" }, "description": "first" });
    let refused = expect(&admin(address, "POST", "/v1/services/service-flow01/apis", &api), 400);
    assert_eq!(refused["error"]["field"], "function");
    assert_eq!(
        refused["error"]["message"],
        "service `flow` api `hello`: field `function`: no [[function]] is defined as `default/echo:$LATEST`"
    );
    expect(&admin(address, "POST", "/v1/functions", &echo_function(&state)), 201);
    let created = expect(&admin(address, "POST", "/v1/services/service-flow01/apis", &api), 201);

    // A draft is not served until it is published.
    assert_ne!(gateway.get("/release/hello").status, 200);
    let first = expect(
        &admin(
            address,
            "POST",
            "/v1/services/service-flow01/releases",
            &json!({ "stage": "release", "description": "v1" }),
        ),
        201,
    );
    assert_eq!(first["release_id"], 1);
    // Changes leave an audit trail in the gateway's log: who, what, and how it ended.
    assert!(
        gateway.output.wait_for(Duration::from_secs(5), |lines| lines.iter().any(|line| line.contains("admin change")
            && line.contains("method=\"POST\"")
            && line.contains("path=\"/v1/services/service-flow01/releases\"")
            && line.contains("status=201")
            && line.contains("client=\"127.0.0.1\""))),
        "{}",
        gateway.output.text()
    );
    let answer = gateway.get("/release/hello");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["requestContext"]["serviceId"], "service-flow01");
    assert_eq!(answer.json()["requestContext"]["path"], "/hello");

    // An update based on a stale version is refused, not lost; with the current one it is stored.
    let mut changed = api.clone();
    changed["path"] = "=/hello2".into();
    changed["version"] = (created["version"].as_u64().unwrap() - 1).into();
    let stale = expect(&admin(address, "PUT", "/v1/services/service-flow01/apis/hello", &changed), 409);
    assert_eq!(stale["error"]["code"], "FailedOperation.VersionConflict");
    assert_eq!(stale["error"]["current_version"], created["version"]);
    changed["version"] = created["version"].clone();
    expect(&admin(address, "PUT", "/v1/services/service-flow01/apis/hello", &changed), 200);
    changed["version"] = created["version"].clone();
    assert_eq!(
        admin(address, "PUT", "/v1/services/service-flow01/apis/hello", &changed).status,
        409,
        "the same base version twice"
    );

    // Still serving release 1 until the change is published.
    assert_eq!(gateway.get("/release/hello").status, 200);
    expect(
        &admin(
            address,
            "POST",
            "/v1/services/service-flow01/releases",
            &json!({ "stage": "release", "description": "v2" }),
        ),
        201,
    );
    assert_eq!(gateway.get("/release/hello2").json()["requestContext"]["path"], "/hello2");
    assert_eq!(gateway.get("/release/hello").status, 404);

    // Rollback is one call.
    let rolled = expect(
        &admin(address, "POST", "/v1/services/service-flow01/stages/release/rollback", &json!({ "release_id": 1 })),
        200,
    );
    assert_eq!(rolled["serving_stages"], json!(["release"]));
    assert_eq!(gateway.get("/release/hello").status, 200);
    assert_eq!(gateway.get("/release/hello2").status, 404);

    // Restart on the same state directory: the releases and what each stage serves are kept.
    gateway.terminate();
    let (gateway, address) = start(EMPTY, &state, None);
    let releases = expect(&admin(address, "GET", "/v1/services/service-flow01/releases", &Value::Null), 200);
    assert_eq!(releases["total_count"], 2);
    assert_eq!(releases["releases"][0]["description"], "v2");
    assert_eq!(releases["releases"][1]["serving_stages"], json!(["release"]));
    assert_eq!(gateway.get("/release/hello").status, 200);
    assert_eq!(gateway.get("/release/hello2").status, 404);
    let draft = expect(&admin(address, "GET", "/v1/services/service-flow01/apis/hello", &Value::Null), 200);
    assert_eq!(draft["path"], "=/hello2");

    // A function a served API uses cannot be deleted; the test panel reaches the data plane.
    let in_use = expect(&admin(address, "DELETE", "/v1/functions/default/echo", &Value::Null), 409);
    assert!(
        in_use["error"]["message"].as_str().unwrap().contains("api `hello` of service `service-flow01`"),
        "{in_use}"
    );
    let tested = expect(
        &admin(
            address,
            "POST",
            "/v1/test-request",
            &json!({ "method": "GET", "path": "/release/hello?x=1", "headers": { "x-demo": "yes" } }),
        ),
        200,
    );
    assert_eq!(tested["status"], 200);
    let event: Value = serde_json::from_str(tested["body"].as_str().unwrap()).unwrap();
    assert_eq!(event["headers"]["x-demo"], "yes");
    assert_eq!(event["queryString"]["x"], "1");
}

const SHOP: &str = r#"
[[service]]
id = "service-shop01"
name = "shop"
stages = ["release", "test"]

[[service.api]]
name = "item"
path = "/item/{id}"
method = "GET"
function = { name = "echo" }
description = "Reads one item. <script>alert('x')</script>"
response_type = "json"
success_response_sample = '{"id": 42}'
failure_response_sample = '{"error": "no such item"}'

[[service.api.param]]
name = "id"
position = "path"
type = "long"
sample = "42"
desc = "the item's id"

[[service.api.param]]
name = "verbose"
position = "query"
type = "boolean"
default = "false"

[[service.api.error_code]]
code = 404
message = "no such item"
description = "the id is unknown"

[[service.api]]
name = "everything"
path = "=/all"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"

[[secret]]
id = "AKIDshop"
key = "shop-secret-key"
"#;

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

#[test]
fn seeded_state_exports_to_toml_openapi_and_escaped_docs() {
    let state = TempDir::new("admin-state");
    let (gateway, address) = start(SHOP, &state, Some(("echo", "echo")));
    // Seeded from the file and published to its stages.
    assert_eq!(gateway.get("/test/item/7").json()["pathParameters"]["id"], "7");

    // Key pairs never show their key after creation.
    let secret = expect(&admin(address, "GET", "/v1/secrets/AKIDshop", &Value::Null), 200);
    assert!(secret.get("key").is_none(), "{secret}");
    let created = expect(&admin(address, "POST", "/v1/secrets", &json!({})), 201);
    assert!(
        created["id"].as_str().unwrap().starts_with("AKID") && created["key"].as_str().unwrap().len() == 32,
        "{created}"
    );
    let listed = expect(&admin(address, "GET", "/v1/secrets?limit=1&offset=1", &Value::Null), 200);
    assert_eq!(listed["total_count"], 2);
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 1);
    assert!(listed["secrets"][0].get("key").is_none());

    // Documentation of what a stage serves: the API, its parameters and step-4 data, escaped.
    let docs = admin(address, "GET", "/v1/services/service-shop01/stages/release/docs", &Value::Null);
    assert_eq!(docs.status, 200);
    assert!(docs.header("content-type").unwrap().starts_with("text/html"));
    let html = docs.text();
    for needle in
        ["/item/{id}", "the item&#39;s id", "no such item", "the id is unknown", "{&quot;id&quot;: 42}", "=/all", "ANY"]
    {
        assert!(html.contains(needle), "{needle} missing from the docs page");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<script>"), "unescaped markup in the docs page");
    assert_eq!(admin(address, "GET", "/v1/services/service-shop01/stages/prepub/docs", &Value::Null).status, 404);

    // Export: a config file that scfgate accepts, serving the same.
    let export = admin(address, "GET", "/v1/export", &Value::Null);
    assert_eq!(export.status, 200);
    let exported = gateway.dir.write("exported.toml", &export.text());
    let (status, stdout, stderr) = run_gateway(&["--config", exported.to_str().unwrap(), "--check"]);
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("service shop (service-shop01)"), "{stdout}");

    // OpenAPI: export, then import into a new service, gives the same APIs.
    let document = expect(&admin(address, "GET", "/v1/services/service-shop01/openapi?format=json", &Value::Null), 200);
    assert_eq!(document["openapi"], "3.0.3");
    assert_eq!(document["paths"]["/item/{id}"]["get"]["operationId"], "item");
    expect(&admin(address, "POST", "/v1/services", &json!({ "id": "service-copy01", "name": "copy" })), 201);
    let report = expect(&admin(address, "POST", "/v1/services/service-copy01/openapi", &document), 200);
    assert_eq!(report["imported"], json!(["item", "everything"]), "{report}");
    assert_eq!(report["skipped"], json!([]));
    assert_eq!(apis_of(address, "service-copy01"), apis_of(address, "service-shop01"));

    // The YAML export imports too (into another service).
    let yaml = admin(address, "GET", "/v1/services/service-shop01/openapi?format=yaml", &Value::Null);
    assert_eq!(yaml.status, 200);
    expect(&admin(address, "POST", "/v1/services", &json!({ "id": "service-yaml01", "name": "yaml" })), 201);
    let report = expect(&admin_raw(address, "POST", "/v1/services/service-yaml01/openapi", &yaml.body), 200);
    assert_eq!(report["imported"], json!(["item", "everything"]), "{report}");
    assert_eq!(apis_of(address, "service-yaml01"), apis_of(address, "service-shop01"));

    // A foreign YAML document: what fits is imported, the rest reported item by item.
    let petstore = r#"
openapi: 3.0.0
info: { title: pets, version: "1" }
paths:
  /pets/{petId}:
    get:
      operationId: show-pet
      parameters:
        - { name: petId, in: path, required: true, schema: { type: integer, format: int64 } }
        - { name: session, in: cookie, schema: { type: string } }
      responses:
        "200": { description: ok, content: { application/json: { example: { id: 1 } } } }
    patch:
      operationId: patch-pet
"#;
    expect(&admin(address, "POST", "/v1/services", &json!({ "id": "service-pets01", "name": "pets" })), 201);
    let report = expect(
        &admin_raw(address, "POST", "/v1/services/service-pets01/openapi?function=echo", petstore.as_bytes()),
        200,
    );
    assert_eq!(report["imported"], json!(["show-pet"]), "{report}");
    let skipped: Vec<&str> =
        report["skipped"].as_array().unwrap().iter().map(|item| item["at"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["PATCH /pets/{petId}", "GET /pets/{petId} parameter session"], "{report}");
    let pets = apis_of(address, "service-pets01");
    assert_eq!(pets[0]["param"], json!([{ "name": "petId", "position": "path", "type": "long" }]));
    assert_eq!(pets[0]["success_response_sample"], "{\"id\":1}");
}

#[test]
fn idle_admin_connections_cannot_lock_others_out() {
    let state = TempDir::new("admin-idle");
    let (gateway, address) = start(EMPTY, &state, None);
    // More connections than the listener holds at once (64), opened before any token check:
    // most send nothing, some half a request head (slowloris).
    let mut idle: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(address).unwrap()).collect();
    for stream in idle.iter_mut().skip(40).take(8) {
        stream.write_all(b"GET /v1/services HTTP/1.1\r\nHost: ").unwrap();
    }
    // A request on a new connection is answered, not refused and not left waiting until the idle
    // ones time out (30 s). The bound below is liveness only.
    let mut client = Client::connect(address);
    client.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    client.send(&request_bytes(
        "GET",
        "/v1/services",
        &address.to_string(),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"",
    ));
    let answered = client.try_read_response(false).expect("no answer while idle connections are open");
    assert_eq!(answered.status, 200, "{}", answered.text());
    // To make room, the connection that had waited longest for a request was closed.
    let oldest = &mut idle[0];
    oldest.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let closed = match oldest.read(&mut [0u8; 1]) {
        Ok(read) => read == 0,
        Err(error) => !matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    };
    assert!(closed, "the oldest idle connection is still open");
    // The data plane is another listener: untouched.
    assert_eq!(gateway.get("/release/anything").status, 404);
}

#[test]
fn the_admin_listener_off_loopback_needs_a_token() {
    let dir = TempDir::new("admin-token");
    let config = dir.write("scfgate.toml", EMPTY);
    let state_dir = dir.path.join("state");
    let (status, _, stderr) = run_gateway(&[
        "--config",
        config.to_str().unwrap(),
        "--admin-listen",
        "0.0.0.0:0",
        "--state-dir",
        state_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("needs a token"), "{stderr}");
}

#[test]
fn without_a_token_a_dns_rebinding_host_is_refused_and_loopback_names_work() {
    let state = TempDir::new("admin-rebind");
    let (_gateway, address) = start_with(SHOP, &state, Some(("echo", "echo")), false, &[]);
    let port = address.port();
    let secrets = |host: &str| call_as(address, host, "GET", "/v1/secrets", &[]).json()["total_count"].clone();

    // A page on rebind.evil.example whose name now resolves to 127.0.0.1: the browser sends
    // that name as Host and the page's origin, which match each other.
    let rebound = format!("rebind.evil.example:{port}");
    let origin = format!("http://{rebound}");
    let created = call_as(address, &rebound, "POST", "/v1/secrets", &[("Origin", &origin)]);
    assert_eq!(created.status, 403, "{}", created.text());
    let error = &created.json()["error"];
    assert_eq!(error["code"], "AuthFailure.InvalidHost", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&rebound) && message.contains(&format!("localhost:{port}")), "{message}");
    let export = call_as(address, &rebound, "GET", "/v1/export", &[("Origin", &origin)]);
    assert_eq!(export.status, 403, "{}", export.text());
    assert!(!export.text().contains("shop-secret-key"), "the export leaked a SecretKey");
    assert_eq!(call_as(address, &rebound, "GET", "/console/", &[]).status, 403);
    assert_eq!(secrets(&format!("127.0.0.1:{port}")), 1, "the refused call created a key pair");

    // The console, from http://127.0.0.1:PORT/ and http://localhost:PORT/: the page, then a
    // change the page makes (a same-origin fetch sends Origin).
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let root = call_as(address, &host, "GET", "/", &[]);
        assert_eq!((root.status, root.header("location")), (302, Some("/console/")), "{host}");
        let page = call_as(address, &host, "GET", "/console/", &[]);
        assert_eq!(page.status, 200, "{host}: {}", page.text());
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        let origin = format!("http://{host}");
        let created = call_as(address, &host, "POST", "/v1/secrets", &[("Origin", &origin)]);
        assert_eq!(created.status, 201, "{host}: {}", created.text());
    }
    // Loopback names without the port, and [::1], are the same listener too.
    for host in ["localhost", "127.0.0.1", "[::1]", &format!("[::1]:{port}"), &format!("LocalHost:{port}")] {
        assert_eq!(secrets(host), 3, "{host}");
    }
    // Another port on a loopback name is not this listener's origin.
    assert_eq!(call_as(address, "localhost:1", "GET", "/v1/secrets", &[]).status, 403);

    // With a token the token protects, and any name reaches the admin API (remote use).
    let other = TempDir::new("admin-rebind-token");
    let (_gateway, address) = start(EMPTY, &other, None);
    let bearer = format!("Bearer {TOKEN}");
    let remote = call_as(address, "admin.example.com:9180", "GET", "/v1/secrets", &[("Authorization", &bearer)]);
    assert_eq!(remote.status, 200, "{}", remote.text());
    assert_eq!(call_as(address, "admin.example.com:9180", "GET", "/v1/secrets", &[]).status, 401);
}

/// The release ids `GET .../releases` lists (newest first) and the ids in `state.json` on disk,
/// whose snapshot files are the only ones in `releases/`.
fn release_ids(address: SocketAddr, state: &TempDir, service: &str) -> (Vec<u64>, Vec<u64>) {
    let listed = expect(&admin(address, "GET", &format!("/v1/services/{service}/releases"), &Value::Null), 200);
    let listed = listed["releases"].as_array().unwrap().iter().map(|release| release["release_id"].as_u64().unwrap());
    let text = std::fs::read_to_string(state.path.join("state/state.json")).unwrap();
    let stored: Value = serde_json::from_str(&text).unwrap();
    let record = stored["services"].as_array().unwrap().iter().find(|record| record["spec"]["id"] == service).unwrap();
    let releases = record["releases"].as_array().unwrap();
    let mut named: Vec<&str> = releases.iter().map(|release| release["snapshot"].as_str().unwrap()).collect();
    let mut files: Vec<String> = std::fs::read_dir(state.path.join("state/releases"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    named.sort_unstable();
    files.sort_unstable();
    assert_eq!(files, named, "the release files on disk are not those of the kept releases");
    (listed.collect(), releases.iter().map(|release| release["id"].as_u64().unwrap()).collect())
}

#[test]
fn the_release_history_keeps_the_newest_and_every_served_release() {
    let state = TempDir::new("admin-history");
    let (gateway, address) = start_with(SHOP, &state, Some(("echo", "echo")), true, &["--max-releases", "3"]);
    let service = "service-shop01";
    let releases = format!("/v1/services/{service}/releases");
    // Seeding published release 1 to both stages; `test` keeps serving it while `release` moves on.
    for _ in 0..6 {
        expect(&admin(address, "POST", &releases, &json!({ "stage": "release" })), 201);
    }
    assert_eq!(release_ids(address, &state, service), (vec![7, 6, 5, 1], vec![1, 5, 6, 7]));
    let listed = expect(&admin(address, "GET", &releases, &Value::Null), 200);
    assert_eq!(listed["total_count"], 4);
    assert_eq!(listed["releases"][3]["serving_stages"], json!(["test"]));
    assert_eq!(gateway.get("/test/item/7").status, 200, "the served old release is not served");

    // A kept release rolls back; a dropped one is a 404 that says why.
    let rollback = format!("/v1/services/{service}/stages/release/rollback");
    expect(&admin(address, "POST", &rollback, &json!({ "release_id": 5 })), 200);
    let dropped = expect(&admin(address, "POST", &rollback, &json!({ "release_id": 3 })), 404);
    let message = dropped["error"]["message"].as_str().unwrap();
    assert!(message.contains("release 3") && message.contains("no longer kept"), "{message}");
    assert_eq!(admin(address, "GET", &format!("{releases}/3"), &Value::Null).status, 404);
    assert_eq!(admin(address, "GET", &format!("{releases}/1"), &Value::Null).status, 200);

    // Once `test` moves on, release 1 goes; release 5, which `release` serves again, stays.
    expect(&admin(address, "POST", &releases, &json!({ "stage": "test" })), 201);
    assert_eq!(release_ids(address, &state, service), (vec![8, 7, 6, 5], vec![5, 6, 7, 8]));
    assert_eq!(gateway.get("/release/item/7").status, 200);
    assert_eq!(gateway.get("/test/item/7").status, 200);
}

#[test]
fn publishing_during_a_stream_of_keep_alive_requests_drops_none() {
    let state = TempDir::new("admin-state");
    let (gateway, address) = start(SHOP, &state, Some(("echo", "echo")));
    let (data_plane, host) = (gateway.addr(), gateway.host());
    let running = Arc::new(AtomicBool::new(true));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (running, served, failed, host) = (running.clone(), served.clone(), failed.clone(), host.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(data_plane);
                while running.load(Ordering::Relaxed) {
                    if client.try_send(&request_bytes("GET", "/release/item/1", &host, &[], b"")).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    match client.try_read_response(false) {
                        Ok(response) if response.status == 200 => served.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    for round in 0..4 {
        // Each publish changes the served API set: an extra API comes and goes.
        let extra = json!({ "name": "extra", "path": "/extra", "method": "GET", "function": { "name": "echo" } });
        if round % 2 == 0 {
            expect(&admin(address, "POST", "/v1/services/service-shop01/apis", &extra), 201);
        } else {
            expect(&admin(address, "DELETE", "/v1/services/service-shop01/apis/extra", &Value::Null), 200);
        }
        expect(&admin(address, "POST", "/v1/services/service-shop01/releases", &json!({ "stage": "release" })), 201);
        let expected = if round % 2 == 0 { 200 } else { 404 };
        assert_eq!(
            gateway.get("/release/extra").status,
            expected,
            "round {round}: a 201 from publish means it is served"
        );
    }
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests that failed during publishes; output:\n{}",
        gateway.output.text()
    );
}

#[test]
fn durations_past_their_range_are_refused_naming_the_field() {
    let state = TempDir::new("admin-durations");
    let (_gateway, address) = start(EMPTY, &state, None);
    expect(&admin(address, "POST", "/v1/services", &json!({ "id": "service-time01", "name": "time" })), 201);

    // A function's init_timeout: SCF allows at most 300 s.
    let mut function = echo_function(&state);
    for (value, shown) in [(json!(301), "301"), (json!(i64::MAX), "9.223372036854776e18")] {
        function["init_timeout"] = value;
        let refused = expect(&admin(address, "POST", "/v1/functions", &function), 400);
        assert_eq!(refused["error"]["field"], "init_timeout", "{refused}");
        assert_eq!(
            refused["error"]["message"],
            format!("function `default/echo:$LATEST`: field `init_timeout`: must be a number of seconds greater than 0 and at most 300 (SCF's limit on a function's init timeout), got {shown}")
        );
    }
    function["init_timeout"] = json!(30);
    expect(&admin(address, "POST", "/v1/functions", &function), 201);

    // An API's timeout: Tencent allows at most 1800 s. i64::MAX used to be stored, and then every
    // request to the API got 504 at once (its deadline overflowed).
    let mut api = json!({ "name": "slow", "path": "=/slow", "method": "GET", "function": { "name": "echo" } });
    for (value, shown) in [(json!(i64::MAX), "9.223372036854776e18"), (json!(1800.5), "1800.5")] {
        api["timeout"] = value;
        let refused = expect(&admin(address, "POST", "/v1/services/service-time01/apis", &api), 400);
        assert_eq!(refused["error"]["field"], "timeout", "{refused}");
        assert_eq!(
            refused["error"]["message"],
            format!("service `time` api `slow`: field `timeout`: must be a number of seconds greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout), got {shown}")
        );
    }
    api["timeout"] = json!(1800);
    let created = expect(&admin(address, "POST", "/v1/services/service-time01/apis", &api), 201);
    assert_eq!(created["timeout"], 1800, "{created}");
}
