//! Local functions (`runtime = "custom"`): processes started from `bootstrap`, what reaches them
//! through the SCF custom-runtime API, and what a client sees when they fail, hang, crash or never
//! start; shutdown stops them.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{concurrently, fixture, process_is_gone, request_bytes, Client, Gateway};
use serde_json::json;

/// Fails with a clear message when curl is missing: the bash fixtures need it (CI installs it).
fn require_curl() {
    let found = Command::new("curl").arg("--version").output().map(|output| output.status.success()).unwrap_or(false);
    assert!(found, "curl is required by the bash custom-runtime fixtures (tests/fixtures/*/bootstrap); install it, e.g. `apt-get install curl`");
}

fn toml_string(path: &std::path::Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap()
}

#[test]
fn tencent_bash_bootstrap_runs_unchanged() {
    require_curl();
    let config = format!(
        r#"
[[service]]
id = "service-bash"
name = "bash"
[[service.api]]
name = "bash"
path = "/bash"
method = "ANY"
function = {{ name = "bash" }}

[[function]]
name = "bash"
runtime = "custom"
code = {}
"#,
        toml_string(&fixture("tencent-bash"))
    );
    let gateway = Gateway::start(&config);
    for round in 0..3 {
        let response = gateway.request(
            "POST",
            &format!("/release/bash/x?round={round}"),
            &[("Content-Type", "application/json")],
            br#"{"k":"v"}"#,
        );
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        let value = response.json();
        assert_eq!(value["bash"], true);
        let event = &value["event"];
        assert_eq!(event["requestContext"]["path"], "/bash");
        assert_eq!(event["requestContext"]["requestId"], response.request_id());
        assert_eq!(event["path"], "/bash/x");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["body"], r#"{"k":"v"}"#);
        assert_eq!(event["queryString"], json!({"round": round.to_string()}));
        // The bootstrap read request_id from the /next reply's headers and logged it.
        let line = format!("tencent-bash request_id={}", response.request_id());
        assert!(
            gateway.output.wait_for_line(&line, Duration::from_secs(10)),
            "no {line:?} in:\n{}",
            gateway.output.text()
        );
    }
}

const PROBE_CONFIG: &str = r#"
[[service]]
id = "service-probe"
name = "probe"
[[service.api]]
name = "probe"
path = "/probe"
method = "GET"
timeout = 7
function = { name = "probe", namespace = "ns1", qualifier = "3" }
[[service.api]]
name = "probe-fast"
path = "/fast"
method = "GET"
timeout = 2.5
function = { name = "probe", namespace = "ns1", qualifier = "3" }

[[function]]
name = "probe"
namespace = "ns1"
qualifier = "3"
runtime = "custom"
code = CODE
handler = "probe.handler"
memory_limit_in_mb = 256
"#;

#[test]
fn invocation_metadata_and_environment_reach_the_function() {
    require_curl();
    let code = fixture("runtime-probe");
    let gateway = Gateway::start(&PROBE_CONFIG.replace("CODE", &toml_string(&code)));
    // (target, time_limit_in_ms): the API's timeout is the invocation's time limit.
    for (target, time_limit) in [("/release/probe", "7000"), ("/release/fast", "2500")] {
        let response = gateway.get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.text());
        assert_eq!(
            response.json(),
            json!({
                "request_id": response.request_id(),
                "memory_limit_in_mb": "256",
                "time_limit_in_ms": time_limit,
                "env": {
                    "SCF_FUNCTIONNAME": "probe",
                    "SCF_NAMESPACE": "ns1",
                    "SCF_FUNCTIONVERSION": "3",
                    "SCF_FUNCTIONMEMORYSIZE": "256",
                    "_HANDLER": "probe.handler",
                    "TENCENTCLOUD_RUNENV": "SCF",
                    // `[gateway] region/appid/uin` left out: the defaults.
                    "TENCENTCLOUD_REGION": "local",
                    "TENCENTCLOUD_APPID": "0",
                    "TENCENTCLOUD_UIN": "0",
                },
                "cwd": std::fs::canonicalize(&code).unwrap().display().to_string(),
            }),
            "{target}"
        );
    }
}

/// A custom-runtime function `env` whose bootstrap records its environment, with an
/// `environment` table, and a key pair whose secret is in the gateway's environment.
const ENVIRONMENT_CONFIG: &str = r#"
[[service]]
id = "service-env"
name = "env"
[[service.api]]
name = "env"
path = "/env"
method = "GET"
function = { name = "env" }

[[function]]
name = "env"
runtime = "custom"
code = "env"
environment = { GREETING = "hello from the table", DATABASE_URL = "postgres://db.internal/app" }

[[secret]]
id = "AKIDpair"
key_env = "PAIR_SECRET_KEY"
"#;

#[test]
fn a_function_gets_its_environment_table_and_none_of_the_gateways_secrets() {
    let builder = Gateway::builder(ENVIRONMENT_CONFIG).operator_environment();
    builder.dir().environment_recorder("env/bootstrap", "echo");
    let gateway = builder.start();
    let response = gateway.get("/release/env");
    assert_eq!(response.status, 200, "{}", response.text());
    let environment = gateway.dir.recorded_environment("env");
    for (name, value) in [
        ("GREETING", "hello from the table"),
        ("DATABASE_URL", "postgres://db.internal/app"),
        ("SCF_FUNCTIONNAME", "env"),
        ("SCF_NAMESPACE", "default"),
        ("SCF_FUNCTIONVERSION", "$LATEST"),
        ("SCF_FUNCTIONMEMORYSIZE", "128"),
        ("SCF_RUNTIME_API", "127.0.0.1"),
        ("_HANDLER", "index.main_handler"),
        ("TENCENTCLOUD_RUNENV", "SCF"),
        ("TENCENTCLOUD_REGION", "local"),
    ] {
        assert_eq!(environment.get(name).map(String::as_str), Some(value), "{name} in {environment:#?}");
    }
    common::environment::assert_only_allowed_environment(
        &environment,
        &[
            "GREETING",
            "DATABASE_URL",
            "SCF_FUNCTIONNAME",
            "SCF_NAMESPACE",
            "SCF_FUNCTIONVERSION",
            "SCF_FUNCTIONMEMORYSIZE",
            "SCF_RUNTIME_API",
            "SCF_RUNTIME_API_PORT",
            "_HANDLER",
            "TENCENTCLOUD_RUNENV",
            "TENCENTCLOUD_REGION",
            "TENCENTCLOUD_APPID",
            "TENCENTCLOUD_UIN",
        ],
    );
}

const ECHO_CONFIG: &str = r#"
[[service]]
id = "service-functions"
name = "functions"
[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }
[[service.api]]
name = "echo-short"
path = "/short"
method = "ANY"
timeout = 1
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;

#[test]
fn the_function_logs_reach_the_gateway_output_with_the_request_id() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    let response = gateway.get("/release/echo");
    assert_eq!(response.status, 200);
    // The example function logs the request_id header of its /next reply.
    let line = format!("scf-example-function[echo] request_id={}", response.request_id());
    assert!(gateway.output.wait_for_line(&line, Duration::from_secs(10)), "no {line:?} in:\n{}", gateway.output.text());
}

#[test]
fn a_crash_is_a_502_and_the_function_restarts() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    let first_pid = gateway.function_pids()[0];
    for round in 1..=3 {
        let response = gateway.get("/release/echo?scf_crash=1");
        assert_eq!(response.status, 502, "round {round}: {}", response.text());
        let body = response.json();
        assert_eq!(body["message"], "Bad Gateway.");
        assert_eq!(body["requestId"], response.request_id());
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("default/echo:$LATEST") && error.contains("exited"), "round {round}: error {error:?}");
        // The next request waits for the restarted process and succeeds.
        let response = gateway.get("/release/echo?after=crash");
        assert_eq!(response.status, 200, "round {round}: {}", response.text());
        assert_eq!(response.json()["queryString"]["after"], "crash");
    }
    assert!(process_is_gone(first_pid));
    let pids: HashSet<i32> = gateway.function_pids().into_iter().collect();
    assert_eq!(pids.len(), 4, "one process per start: {pids:?}");
}

#[test]
fn a_timeout_is_a_504_and_the_function_serves_again() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    let mut client = gateway.connect();
    for round in 1..=2 {
        // /short has `timeout = 1`; the function sleeps 3 s.
        client.send_request("GET", "/release/short?scf_sleep_ms=3000", &gateway.host(), &[], b"");
        let response = client.read_response();
        assert_eq!(
            (response.status, response.text()),
            (504, r#"{"message":"Gateway Time-out."}"#.to_string()),
            "round {round}"
        );
        assert!(!response.closes(), "round {round}: a 504 closed the connection");
        response.request_id();
        // The same function answers the next request (on an API with the default 15 s timeout),
        // on the same connection.
        client.send_request("GET", "/release/echo?after=timeout", &gateway.host(), &[], b"");
        let response = client.read_response();
        assert_eq!(response.status, 200, "round {round}: {}", response.text());
        assert_eq!(response.json()["queryString"]["after"], "timeout");
    }
}

#[test]
fn a_function_that_sleeps_within_the_timeout_answers() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    let response = gateway.get("/release/echo?scf_sleep_ms=1500");
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
fn function_processes_do_not_inherit_client_connections() {
    // A process started while a client connection is open must not hold that connection: the
    // gateway could then never close it (Connection: close, timeouts, errors), and a function
    // could read or write another client's traffic. Checked on both I/O drivers.
    let mut failures = Vec::new();
    for driver in ["auto", "legacy"] {
        let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").arg("--driver", driver).start();
        let host = gateway.host();
        let mut client = gateway.connect();
        client.send_request("GET", "/release/echo", &host, &[], b"");
        assert_eq!(client.read_response().status, 200);

        // Crash the function: it is restarted (forked) while `client` is connected.
        assert_eq!(gateway.get("/release/echo?scf_crash=1").status, 502);
        assert_eq!(gateway.get("/release/echo").status, 200);
        let restarted = *gateway.function_pids().last().unwrap();

        // The gateway's end of `client`'s connection, by its socket inode.
        let client_port = client.stream.local_addr().unwrap().port();
        let inode = server_socket_inode(gateway.addr().port(), client_port).expect("the connection in /proc/net/tcp");
        let held: Vec<String> = std::fs::read_dir(format!("/proc/{restarted}/fd"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                    .map(|link| link.display().to_string())
                    .collect()
            })
            .unwrap_or_default();

        client.send_request("GET", "/release/echo", &host, &[("Connection", "close")], b"");
        let response = client.read_response();
        assert!(response.closes());
        client.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let closed = client.closed_by_server();
        if held.contains(&format!("socket:[{inode}]")) || !closed {
            failures.push(format!(
                "--driver {driver}: the restarted function process (pid {restarted}) holds the client's connection \
                 (socket:[{inode}]) among its fds {held:?}; after `Connection: close` the client saw the connection closed: {closed}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The inode of the gateway's socket for the loopback connection `gateway_port` <-> `client_port`.
fn server_socket_inode(gateway_port: u16, client_port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |address: &str| address.rsplit(':').next().and_then(|hex| u16::from_str_radix(hex, 16).ok());
        (port(fields.get(1)?) == Some(gateway_port) && port(fields.get(2)?) == Some(client_port))
            .then(|| fields.get(9).map(|inode| inode.to_string()))?
    })
}

#[test]
fn a_function_that_never_starts_fails_its_requests_only() {
    let config = r#"
[[service]]
id = "service-broken"
name = "broken"
[[service.api]]
name = "broken"
path = "/broken"
method = "GET"
timeout = 1
function = { name = "broken" }
[[service.api]]
name = "stuck"
path = "/stuck"
method = "GET"
timeout = 1
function = { name = "stuck" }
[[service.api]]
name = "ok"
path = "/ok"
method = "GET"
function = { name = "ok" }

[[function]]
name = "broken"
runtime = "custom"
code = "broken"

[[function]]
name = "stuck"
runtime = "custom"
code = "stuck"
init_timeout = 1

[[function]]
name = "ok"
runtime = "custom"
code = "ok"
"#;
    let gateway = Gateway::builder(config)
        .function("broken", "exit-at-start")
        .function("stuck", "never-ready")
        .function("ok", "echo")
        .start();
    for round in 1..=2 {
        for target in ["/release/broken", "/release/stuck"] {
            // A 504 once the API's timeout passes, or a 502 once the gateway knows the function
            // cannot start; either way an answer, not a hang.
            let response = gateway.get(target);
            let label = format!("round {round}: {target}: {} {}", response.status, response.text());
            match response.status {
                504 => assert_eq!(response.text(), r#"{"message":"Gateway Time-out."}"#, "{label}"),
                502 => {
                    let body = response.json();
                    assert_eq!(body["message"], "Bad Gateway.", "{label}");
                    let function = &target["/release/".len()..];
                    let error = body["error"].as_str().unwrap_or_default();
                    assert!(error.contains(&format!("default/{function}:$LATEST")), "{label}");
                    assert_eq!(body["requestId"], response.request_id(), "{label}");
                }
                _ => panic!("expected 504 or 502: {label}"),
            }
        }
        // The other function is not affected.
        let response = gateway.get("/release/ok");
        assert_eq!(response.status, 200, "round {round}: {}", response.text());
    }
    // The function's own stderr reaches the gateway's.
    assert!(gateway
        .output
        .wait_for_line("scf-example-function[exit-at-start] exiting with status 1", Duration::from_secs(10)));
}

#[test]
fn handler_is_passed_and_a_clean_exit_is_restarted() {
    // tests/fixtures/example-function runs the example function in the mode named by `handler`.
    let config = format!(
        r#"
[[service]]
id = "service-once"
name = "once"
[[service.api]]
name = "once"
path = "/once"
method = "GET"
function = {{ name = "once" }}

[[function]]
name = "once"
runtime = "custom"
code = {}
handler = "exit-after-first"
"#,
        toml_string(&fixture("example-function"))
    );
    let gateway = Gateway::start(&config);
    // Each process serves one request and exits 0; every request is still answered.
    for n in 0..3 {
        let response = gateway.get(&format!("/release/once?n={n}"));
        assert_eq!(response.status, 200, "request {n}: {}", response.text());
        assert_eq!(response.json()["queryString"]["n"], n.to_string());
    }
    // The functions' log lines reach the harness through a pipe: wait for them, do not race them.
    let logged = gateway.output.wait_for(Duration::from_secs(20), |lines| invocations_logged(lines) >= 3);
    assert!(logged, "{}", gateway.output.text());
}

#[test]
fn instances_run_side_by_side() {
    let config = r#"
[[service]]
id = "service-multi"
name = "multi"
[[service.api]]
name = "multi"
path = "/multi"
method = "GET"
timeout = 120
function = { name = "multi" }

[[function]]
name = "multi"
runtime = "custom"
code = "multi"
instances = 3
"#;
    let gateway = Gateway::builder(config).function("multi", "echo").start();
    // Three processes, one per instance.
    let started: Vec<String> =
        gateway.output.lines().into_iter().filter(|line| line.contains("started function process")).collect();
    let pids: HashSet<i32> = gateway.function_pids().into_iter().collect();
    assert_eq!(pids.len(), 3, "{started:?}");
    let instances: HashSet<&str> = started.iter().filter_map(|line| common::log_field(line, "instance")).collect();
    assert_eq!(instances, HashSet::from(["0", "1", "2"]));
    assert!(pids.iter().all(|&pid| !process_is_gone(pid)));

    // Three requests that each keep an instance busy for a minute are all being handled at once:
    // each instance logs the request it received before it sleeps.
    let addr = gateway.addr();
    let host = gateway.host();
    let mut busy = Vec::new();
    for n in 0..3 {
        let mut client = Client::connect(addr);
        client.send_request("GET", &format!("/release/multi?scf_sleep_ms=60000&n={n}"), &host, &[], b"");
        busy.push(client);
    }
    let all_running = gateway.output.wait_for(Duration::from_secs(30), |lines| invocations_logged(lines) >= 3);
    assert!(all_running, "3 instances did not take 3 requests at once:\n{}", gateway.output.text());
    drop(busy);
}

#[test]
fn sigterm_stops_the_gateway_and_its_functions() {
    let config = r#"
[[service]]
id = "service-stop"
name = "stop"
[[service.api]]
name = "echo"
path = "/echo"
method = "GET"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2
[[function]]
name = "hello"
runtime = "custom"
code = "hello"
"#;
    let mut gateway = Gateway::builder(config).function("echo", "echo").function("hello", "hello").start();
    assert_eq!(gateway.get("/release/echo").status, 200);
    let pids = gateway.function_pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&pid| !process_is_gone(pid)), "function processes should run: {pids:?}");

    let status = gateway.terminate();
    assert!(status.success(), "scfgate exited with {status} on SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&pid| process_is_gone(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let running: Vec<i32> = pids.iter().copied().filter(|&pid| !process_is_gone(pid)).collect();
    assert!(running.is_empty(), "function processes outlived the gateway: {running:?}");
}

#[test]
fn requests_beyond_the_instances_wait_in_the_queue() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    // One instance, four requests at once: all are answered, none refused.
    let requests = (0..4)
        .map(|n| request_bytes("GET", &format!("/release/echo?scf_sleep_ms=300&n={n}"), &gateway.host(), &[], b""))
        .collect();
    let responses = concurrently(gateway.addr(), requests);
    for (n, response) in responses.iter().enumerate() {
        assert_eq!(response.status, 200, "request {n}: {}", response.text());
        assert_eq!(response.json()["queryString"]["n"], n.to_string());
    }
}

/// How many invocations the example function has logged (`...] request_id=<id>` per invocation).
/// Counted in the whole text: instances write to the same stderr, and the pieces of their lines
/// may interleave, but each `] request_id=` is written at once.
fn invocations_logged(lines: &[String]) -> usize {
    lines.iter().map(|line| line.matches("] request_id=").count()).sum()
}

/// Waits until the function has logged `count` invocations.
fn wait_for_invocations(gateway: &Gateway, count: usize) {
    let reached = gateway.output.wait_for(Duration::from_secs(20), |lines| invocations_logged(lines) >= count);
    assert!(reached, "the function did not receive {count} invocations:\n{}", gateway.output.text());
}

#[test]
fn a_full_queue_is_a_503() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").arg("--queue-depth", "1").start();
    let host = gateway.host();
    // The only instance is busy for a few seconds...
    let mut busy = Client::connect(gateway.addr());
    busy.send_request("GET", "/release/echo?scf_sleep_ms=3000", &host, &[], b"");
    wait_for_invocations(&gateway, 1);
    // ... so of two more requests one waits in the one-place queue and the other is refused.
    let requests = (0..2).map(|n| request_bytes("GET", &format!("/release/echo?n={n}"), &host, &[], b"")).collect();
    let responses = concurrently(gateway.addr(), requests);
    let mut statuses: Vec<u16> = responses.iter().map(|response| response.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503], "{responses:?}");
    let refused = responses.iter().find(|response| response.status == 503).unwrap();
    assert_eq!(
        refused.text(),
        r#"{"message":"Service Unavailable: every instance of the function is busy and its queue is full."}"#
    );
    refused.request_id();
    assert_eq!(busy.read_response().status, 200);
}

#[test]
fn a_request_that_timed_out_in_the_queue_is_not_run_later() {
    // The client of a queued request that passes its API timeout gets a 504; the function must not
    // be handed that request afterwards (nobody waits for it, and it would delay the requests
    // queued behind it).
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    let host = gateway.host();
    let mut busy = Client::connect(gateway.addr());
    busy.send_request("GET", "/release/echo?scf_sleep_ms=5000", &host, &[], b"");
    wait_for_invocations(&gateway, 1);
    // Queued behind the busy instance on an API with `timeout = 1`.
    let expired = gateway.get("/release/short?n=expired");
    assert_eq!(expired.status, 504, "{}", expired.text());
    assert_eq!(busy.read_response().status, 200);
    // A later request is served; had the expired one been queued ahead of it, it ran first.
    let later = gateway.get("/release/echo?n=later");
    assert_eq!(later.status, 200, "{}", later.text());
    // The function's own line for it; the gateway's line for the 504 names the id too.
    let log = format!("scf-example-function[echo] request_id={}", expired.request_id());
    assert!(
        !gateway.output.text().contains(&log),
        "the function received request {} after its client had been answered 504:\n{}",
        expired.request_id(),
        gateway.output.text()
    );
}

#[test]
fn a_client_that_leaves_mid_request_does_not_disturb_the_next() {
    let gateway = Gateway::builder(ECHO_CONFIG).function("echo", "echo").start();
    for n in 0..3 {
        let mut client = gateway.connect();
        client.send_request("GET", &format!("/release/echo?scf_sleep_ms=300&gone={n}"), &gateway.host(), &[], b"");
        drop(client);
    }
    let response = gateway.get("/release/echo?n=stayed");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["queryString"]["n"], "stayed");
}
