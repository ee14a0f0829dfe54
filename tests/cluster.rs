//! Cluster mode against real etcd and Redis (Debian's etcd-server and redis-server), with three
//! gateway nodes on loopback: a publish through one node is served by the others; concurrent
//! publishes through two nodes both land; with etcd down every node keeps serving and admin
//! writes get 503, and once it is back the nodes catch up; what etcd holds is sealed. Usage
//! plans counted in Redis hold across the three nodes (a rate within its documented bound, a
//! daily quota exactly), and with Redis down requests keep flowing under local shares.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::metrics::{metrics_address, sample, scrape_until};
use common::services::{available, Etcd, Redis};
use common::{request_bytes, Client, Gateway, RemoteEndpoint, Reply, Response, TempDir};
use serde_json::{json, Value};

const TOKEN: &str = "cluster-admin-token-0123456789";
const ADMIN_MARK: &str = "scfgate admin API listening on http://";
const SEAL_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A config file with one remote function and no services: services come through the admin
/// API of any node.
fn config(remote: &RemoteEndpoint) -> String {
    format!(
        r#"[[function]]
name = "backend"
runtime = "remote"
invoke_url = "{}"
"#,
        remote.url("/invoke")
    )
}

struct Node {
    gateway: Gateway,
    admin: SocketAddr,
}

/// A node of the cluster whose state is under `prefix` in `etcd`.
fn node(config: &str, etcd: &Etcd, prefix: &str, secrets: &TempDir) -> Node {
    let token = secrets.write("admin.token", &format!("{TOKEN}\n"));
    let seal = secrets.write("seal.key", &format!("{SEAL_KEY}\n"));
    let gateway = Gateway::builder(config)
        .arg("--admin-listen", "127.0.0.1:0")
        .arg("--admin-token-file", token.to_str().unwrap())
        .arg("--store", &format!("etcd://{}{prefix}", etcd.endpoint()))
        .arg("--store-seal-key-file", seal.to_str().unwrap())
        .workers(1)
        .start();
    assert!(gateway.output.wait_for_line(ADMIN_MARK, Duration::from_secs(20)), "{}", gateway.output.text());
    let line = gateway.output.lines().into_iter().find(|line| line.contains(ADMIN_MARK)).unwrap();
    let admin =
        line[line.find(ADMIN_MARK).unwrap() + ADMIN_MARK.len()..].split_whitespace().next().unwrap().parse().unwrap();
    Node { gateway, admin }
}

fn admin(node: &Node, method: &str, path: &str, body: &Value) -> Response {
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    let mut client = Client::connect(node.admin);
    let authorization = format!("Bearer {TOKEN}");
    client.send(&request_bytes(method, path, &node.admin.to_string(), &[("Authorization", &authorization)], &body));
    client.read_response()
}

fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    response.json()
}

/// Waits (bounded) until `node` answers `path` with `status`.
fn served(node: &Node, path: &str, status: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if node.gateway.get(path).status == status {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn create_service_with_api(node: &Node, id: &str, path: &str) {
    expect(&admin(node, "POST", "/v1/services", &json!({ "id": id, "name": id })), 201);
    let api = json!({ "name": "hello", "path": path, "method": "GET", "function": { "name": "backend" } });
    expect(&admin(node, "POST", &format!("/v1/services/{id}/apis"), &api), 201);
}

/// A unique prefix per test, so tests sharing nothing may share nothing in etcd either.
fn prefix(label: &str) -> String {
    format!("/scfgate-test/{label}-{}", std::process::id())
}

#[test]
fn a_publish_through_one_node_is_served_by_every_node() {
    if !available("etcd") {
        return;
    }
    let etcd = Etcd::start();
    let remote = RemoteEndpoint::start(Reply::ok(r#"{"from":"the backend"}"#));
    let config = config(&remote);
    let secrets = TempDir::new("cluster-secrets");
    let prefix = prefix("publish");
    let nodes: Vec<Node> = (0..3).map(|_| node(&config, &etcd, &prefix, &secrets)).collect();

    create_service_with_api(&nodes[0], "service-edge01", "=/hello");
    // Drafts are shared too: node B sees the service node A created.
    let listed = expect(&admin(&nodes[1], "GET", "/v1/services/service-edge01/apis", &Value::Null), 200);
    assert_eq!(listed["total_count"], 1, "{listed}");
    expect(&admin(&nodes[0], "POST", "/v1/services/service-edge01/releases", &json!({ "stage": "release" })), 201);
    for (index, node) in nodes.iter().enumerate() {
        assert!(
            served(node, "/release/hello", 200, Duration::from_secs(5)),
            "node {index} did not serve the publish; its output:\n{}",
            node.gateway.output.text()
        );
    }
    assert_eq!(nodes[2].gateway.get("/release/hello").text(), r#"{"from":"the backend"}"#);

    // What etcd holds is sealed: the key pairs are not readable from it.
    let secret = expect(&admin(&nodes[1], "POST", "/v1/secrets", &json!({})), 201);
    let secret_key = secret["key"].as_str().expect("a secret key").to_owned();
    let stored = etcd.get(&format!("{prefix}/state"));
    assert!(stored.starts_with(b"scfgate-sealed-1"), "{}", String::from_utf8_lossy(&stored));
    assert!(!String::from_utf8_lossy(&stored).contains(&secret_key));
    // And every node knows the new key pair.
    let listed = expect(&admin(&nodes[2], "GET", "/v1/secrets", &Value::Null), 200);
    assert!(listed.to_string().contains(secret["id"].as_str().unwrap()), "{listed}");
}

#[test]
fn concurrent_publishes_through_two_nodes_are_both_kept() {
    if !available("etcd") {
        return;
    }
    let etcd = Etcd::start();
    let remote = RemoteEndpoint::start(Reply::ok(r#"{"ok":1}"#));
    let config = config(&remote);
    let secrets = TempDir::new("cluster-secrets");
    let prefix = prefix("concurrent");
    let (a, b) = (node(&config, &etcd, &prefix, &secrets), node(&config, &etcd, &prefix, &secrets));
    create_service_with_api(&a, "service-one001", "=/one");
    create_service_with_api(&b, "service-two001", "=/two");

    // Both nodes publish many times at once; every publish must be kept as a release.
    const ROUNDS: usize = 10;
    std::thread::scope(|scope| {
        for (node, service) in [(&a, "service-one001"), (&b, "service-two001")] {
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let body = json!({ "stage": "release", "description": format!("round {round}") });
                    expect(&admin(node, "POST", &format!("/v1/services/{service}/releases"), &body), 201);
                }
            });
        }
    });
    for node in [&a, &b] {
        for service in ["service-one001", "service-two001"] {
            let releases = expect(&admin(node, "GET", &format!("/v1/services/{service}/releases"), &Value::Null), 200);
            assert_eq!(releases["total_count"], ROUNDS, "{service} as {}: {releases}", node.admin);
        }
        assert!(served(node, "/release/one", 200, Duration::from_secs(5)));
        assert!(served(node, "/release/two", 200, Duration::from_secs(5)));
    }
}

#[test]
fn with_etcd_down_nodes_keep_serving_refuse_changes_and_catch_up_after() {
    if !available("etcd") {
        return;
    }
    let mut etcd = Etcd::start();
    let remote = RemoteEndpoint::start(Reply::ok(r#"{"ok":1}"#));
    let config = config(&remote);
    let secrets = TempDir::new("cluster-secrets");
    let prefix = prefix("outage");
    let (a, b) = (node(&config, &etcd, &prefix, &secrets), node(&config, &etcd, &prefix, &secrets));
    create_service_with_api(&a, "service-down01", "=/before");
    expect(&admin(&a, "POST", "/v1/services/service-down01/releases", &json!({ "stage": "release" })), 201);
    assert!(served(&b, "/release/before", 200, Duration::from_secs(5)));

    etcd.stop();
    // Monitoring shows etcd down (the admin listener serves the metrics too).
    const ETCD_DOWN: &str = "scfgate_dependency_up{dependency=\"etcd\"} 0";
    let deadline = Instant::now() + Duration::from_secs(15);
    while !admin(&b, "GET", "/metrics", &Value::Null).text().contains(ETCD_DOWN) {
        assert!(Instant::now() < deadline, "{}", admin(&b, "GET", "/metrics", &Value::Null).text());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Serving goes on, on both nodes.
    for node in [&a, &b] {
        assert_eq!(node.gateway.get("/release/before").status, 200);
    }
    // A change cannot be stored anywhere: 503, and nothing changes.
    let api = json!({ "name": "after", "path": "=/after", "method": "GET", "function": { "name": "backend" } });
    let refused = admin(&a, "POST", "/v1/services/service-down01/apis", &api);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "ResourceUnavailable");
    assert_eq!(a.gateway.get("/release/before").status, 200);

    etcd.resume();
    // Once etcd is back, a change through A is taken and B serves it. An attempt made while etcd
    // was coming back may have been stored though its answer was lost (the 503 says so): then
    // the retry finds the API already there.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = admin(&a, "POST", "/v1/services/service-down01/apis", &api);
        if response.status == 201 {
            break;
        }
        if response.status == 409 {
            assert_eq!(response.json()["error"]["code"], "ResourceInUse.AlreadyExists", "{}", response.text());
            break;
        }
        assert!(Instant::now() < deadline, "etcd is back but changes are still refused: {}", response.text());
        std::thread::sleep(Duration::from_millis(200));
    }
    expect(&admin(&a, "POST", "/v1/services/service-down01/releases", &json!({ "stage": "release" })), 201);
    assert!(
        served(&b, "/release/after", 200, Duration::from_secs(10)),
        "node B did not catch up after etcd came back:\n{}",
        b.gateway.output.text()
    );
}

/// Two services behind stage-wide usage plans: `/release/rate` at 10 requests per second, and
/// `/release/quota` at 100 requests per day.
fn limited_config(remote: &RemoteEndpoint) -> String {
    format!(
        r#"{}
[[service]]
id = "service-rate0001"
name = "rate"
stages = ["release"]

[[service.api]]
name = "rate"
path = "=/rate"
method = "GET"
function = {{ name = "backend" }}

[[service]]
id = "service-quota001"
name = "quota"
stages = ["release"]

[[service.api]]
name = "quota"
path = "=/quota"
method = "GET"
function = {{ name = "backend" }}

[[usage_plan]]
name = "ten-per-second"
max_requests_per_second = 10
environments = [{{ service = "service-rate0001", stage = "release" }}]

[[usage_plan]]
name = "hundred-a-day"
quota_per_day = 100
environments = [{{ service = "service-quota001", stage = "release" }}]
"#,
        config(remote)
    )
}

/// A node counting its usage plans in `redis` under `prefix`.
fn limited_node(config: &str, redis: &Redis, prefix: &str) -> Gateway {
    let gateway = Gateway::builder(config)
        .arg("--limits", &redis.url())
        .arg("--limits-prefix", prefix)
        .arg("--metrics-listen", "127.0.0.1:0")
        .workers(1)
        .start();
    assert!(
        gateway.output.wait_for_line("usage plans are counted in Redis", Duration::from_secs(10)),
        "{}",
        gateway.output.text()
    );
    gateway
}

/// Sends `path` to the nodes in turn, on one keep-alive connection each, until `until`;
/// returns (admitted, refused with 429).
fn drive(nodes: &[Gateway], path: &str, until: Instant) -> (u64, u64) {
    let mut clients: Vec<Client> = nodes.iter().map(Gateway::connect).collect();
    let (mut admitted, mut refused) = (0, 0);
    let mut turn = 0;
    while Instant::now() < until {
        let index = turn % nodes.len();
        turn += 1;
        clients[index].send(&request_bytes("GET", path, &nodes[index].host(), &[], b""));
        match clients[index].read_response().status {
            200 => admitted += 1,
            429 => refused += 1,
            other => panic!("{path}: unexpected status {other}"),
        }
    }
    (admitted, refused)
}

#[test]
fn usage_plans_hold_across_three_nodes_through_redis() {
    if !available("redis-server") {
        return;
    }
    let redis = Redis::start();
    let remote = RemoteEndpoint::start(Reply::ok(r#"{"ok":1}"#));
    let config = limited_config(&remote);
    let prefix = format!("scfgate-test-{}", std::process::id());
    let nodes: Vec<Gateway> = (0..3).map(|_| limited_node(&config, &redis, &prefix)).collect();

    // A daily quota of 100 across the three nodes admits exactly 100.
    let mut clients: Vec<Client> = nodes.iter().map(Gateway::connect).collect();
    let mut admitted = 0;
    for turn in 0..150 {
        let index = turn % nodes.len();
        clients[index].send(&request_bytes("GET", "/release/quota", &nodes[index].host(), &[], b""));
        let response = clients[index].read_response();
        match response.status {
            200 => admitted += 1,
            429 => assert_eq!(response.json()["message"], "API quota exceeded.", "{}", response.text()),
            other => panic!("unexpected status {other}: {}", response.text()),
        }
    }
    assert_eq!(admitted, 100, "a quota of 100 a day across three nodes");

    // 10 per second across three nodes of one worker each, driven as fast as they answer for
    // 20 s: at most 10 + 3 × batch (batch = max(1, ⌊10 / (4 × 3)⌋) = 1) in any second.
    const SECONDS: u64 = 20;
    // Start on a second's boundary, so the run spans exactly SECONDS windows.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    std::thread::sleep(Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos())));
    let (admitted, refused) = drive(&nodes, "/release/rate", Instant::now() + Duration::from_secs(SECONDS));
    eprintln!("10 per second across 3 nodes: {admitted} admitted, {refused} refused in {SECONDS} s");
    let bound = SECONDS * (10 + 3);
    assert!(admitted <= bound, "{admitted} admitted in {SECONDS} s: over the bound of {bound}");
    assert!(refused > 0, "nothing was refused: the load did not reach the limit");
    // Far more than one node's share was admitted: the limit is the cluster's, not a third.
    assert!(admitted >= SECONDS * 10 * 8 / 10, "{admitted} admitted in {SECONDS} s, {refused} refused");
}

#[test]
fn with_redis_down_requests_keep_flowing_under_local_shares() {
    if !available("redis-server") {
        return;
    }
    let mut redis = Redis::start();
    let remote = RemoteEndpoint::start(Reply::ok(r#"{"ok":1}"#));
    let config = limited_config(&remote);
    let prefix = format!("scfgate-test-down-{}", std::process::id());
    let nodes: Vec<Gateway> = (0..3).map(|_| limited_node(&config, &redis, &prefix)).collect();
    // Let every node count the cluster (three workers) before Redis goes away.
    std::thread::sleep(Duration::from_millis(2_500));
    redis.stop();
    for node in &nodes {
        assert!(node.output.wait_for_line("Redis does not answer", Duration::from_secs(10)), "{}", node.output.text());
    }
    // Monitoring shows it.
    const REDIS_UP: &str = "scfgate_dependency_up{dependency=\"redis\"}";
    let text = scrape_until(metrics_address(&nodes[0]), |text| sample(text, REDIS_UP) == Some(0.0));
    assert_eq!(sample(&text, REDIS_UP), Some(0.0), "{text}");
    // Requests are answered, and limits still apply: each node its share of 10 per second.
    let (admitted, refused) = drive(&nodes, "/release/rate", Instant::now() + Duration::from_secs(3));
    assert!(admitted > 0 && refused > 0, "admitted {admitted}, refused {refused}");
    assert!(admitted <= 4 * (10 + 3), "admitted {admitted} in 3 s with local shares");
    // Redis back: the nodes count there again.
    redis.resume();
    for node in &nodes {
        assert!(
            node.output.wait_for(Duration::from_secs(10), |lines| lines
                .iter()
                .filter(|line| line.contains("usage plans are counted in Redis"))
                .count()
                >= 2),
            "{}",
            node.output.text()
        );
    }
}
