//! Warm functions stay warm (issue 15): a reload touches only the functions it changed. Against
//! the real binary, real function processes (the example function's `whoami` custom runtime and
//! `web` mode) and real SIGHUP reloads: an added function leaves the others' processes and
//! requests in flight alone; no reload leaves a zombie; a web function on a fixed port survives
//! reloads that restart it without a crash loop; after a web function crashes, requests on every
//! worker wait for its restart instead of getting 502.
//!
//! No assertion is about time: every wait is a generous upper bound for a loaded machine.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use common::{concurrently, request_bytes, Client, Gateway, GatewayBuilder, Response, FUNCTION_BIN};

/// An upper bound for anything the gateway does on its own (reloading, restarting).
const LIMIT: Duration = Duration::from_secs(30);

/// A custom function `who` (`whoami`), a web function `web` and, when `extra` is given, more
/// TOML (another function and its API).
fn config(web_port: Option<u16>, web_environment: &str, extra: &str) -> String {
    let port = web_port.map(|port| format!("port = {port}")).unwrap_or_default();
    format!(
        r#"
[[service]]
id = "service-warm"
name = "warm"
[[service.api]]
name = "who"
path = "/who"
method = "GET"
timeout = 30
function = {{ name = "who" }}
[[service.api]]
name = "web"
path = "/web"
method = "ANY"
timeout = 30
function = {{ name = "web" }}
{extra}
[[function]]
name = "who"
runtime = "custom"
code = "who"
instances = 2
[[function]]
name = "web"
runtime = "web"
code = "web"
{port}
environment = {{ MARK = "{web_environment}" }}
"#
    )
}

const EXTRA: &str = r#"
[[service.api]]
name = "added"
path = "/added"
method = "GET"
function = { name = "added" }
[[function]]
name = "added"
runtime = "custom"
code = "added"
"#;

fn start(builder: GatewayBuilder) -> Gateway {
    builder.dir().executable("web/scf_bootstrap", &format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" web\n"));
    let gateway = builder.function("who", "whoami").function("added", "whoami").start();
    assert!(gateway.output.wait_for_line("web function ready", LIMIT), "{}", gateway.output.text());
    // Every instance of `who` ready too, so that the pids sampled before a reload are all of them
    // (a request sent while the second one starts would find only the first).
    assert!(
        gateway.output.wait_for_line("ready: every worker serves and the warm local functions are ready", LIMIT),
        "{}",
        gateway.output.text()
    );
    gateway
}

/// Writes `config` over the gateway's file, sends SIGHUP and waits for the reload's log line.
fn reload(gateway: &Gateway, config: &str) {
    let before = gateway.output.count("configuration reloaded");
    gateway.dir.write("scfgate.toml", config);
    // SAFETY: kill(2) on the gateway child's pid; no memory involved.
    unsafe {
        libc::kill(gateway.pid() as i32, libc::SIGHUP);
    }
    let reloaded = gateway
        .output
        .wait_for(LIMIT, |lines| lines.iter().filter(|line| line.contains("configuration reloaded")).count() > before);
    assert!(reloaded, "no reload; output:\n{}", gateway.output.text());
    assert!(!gateway.output.text().contains("reload refused"), "{}", gateway.output.text());
}

fn pid_of(response: &Response) -> i32 {
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {}", response.text())) as i32
}

/// The pids that answer `path`, over `tries` requests on new connections.
/// The pids of every process started for `function` (its label's start, `default/who:`), from
/// the log: both instances, even those sequential requests never reach.
fn started_pids(gateway: &Gateway, function: &str) -> HashSet<i32> {
    let needle = format!("function={function}");
    gateway
        .output
        .lines()
        .iter()
        .filter(|line| line.contains("started function process") && line.contains(&needle))
        .filter_map(|line| line.split(" pid=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

fn answering_pids(gateway: &Gateway, path: &str, tries: usize) -> HashSet<i32> {
    (0..tries).map(|_| pid_of(&gateway.get(path))).collect()
}

/// Children of `pid` that are zombies (exited, not reaped), from /proc.
fn zombie_children(pid: u32) -> Vec<i32> {
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{child}/status")) else { continue };
        let field =
            |name: &str| status.lines().find_map(|line| line.strip_prefix(name)).map(|value| value.trim().to_string());
        if field("PPid:").as_deref() == Some(&pid.to_string())
            && field("State:").is_some_and(|state| state.starts_with('Z'))
        {
            zombies.push(child);
        }
    }
    zombies
}

#[test]
fn a_reload_that_adds_a_function_keeps_the_others_warm_and_their_requests_answered() {
    let gateway = start(Gateway::builder(&config(None, "one", "")));
    let who_pids = started_pids(&gateway, "default/who:");
    assert_eq!(who_pids.len(), 2, "{}", gateway.output.text());
    let web_pid = pid_of(&gateway.get("/release/web/pid"));
    let started = gateway.output.count("started function process");

    // Requests in flight on both functions while the reload happens.
    let (address, host) = (gateway.addr(), gateway.host());
    let in_flight = ["/release/who?scf_sleep_ms=1500", "/release/web/slow?ms=1500"].map(|path| {
        let host = host.clone();
        thread::spawn(move || {
            let mut client = Client::connect(address);
            client.send(&request_bytes("GET", path, &host, &[], b""));
            client.read_response()
        })
    });
    thread::sleep(Duration::from_millis(300));
    reload(&gateway, &config(None, "one", EXTRA));
    for request in in_flight {
        let response = request.join().unwrap();
        assert_eq!(response.status, 200, "a request in flight across the reload: {}", response.text());
    }

    // The new function serves; the others are the same processes.
    assert_eq!(gateway.get("/release/added").status, 200);
    let after = answering_pids(&gateway, "/release/who", 8);
    assert!(after.is_subset(&who_pids), "`who` answered from {after:?}, was {who_pids:?}: restarted by the reload");
    assert_eq!(pid_of(&gateway.get("/release/web/pid")), web_pid, "`web` was restarted by the reload");
    let started_since = gateway.output.count("started function process") - started;
    assert_eq!(started_since, 1, "only the added function starts a process; output:\n{}", gateway.output.text());
}

#[test]
fn reloads_leave_no_zombie_and_changed_functions_restart_alone() {
    let gateway = start(Gateway::builder(&config(None, "v0", "")));
    let who_pids = started_pids(&gateway, "default/who:");
    assert_eq!(who_pids.len(), 2, "{}", gateway.output.text());
    for round in 1..=4 {
        // Each reload changes the web function (its environment) and adds or removes another.
        let extra = if round % 2 == 1 { EXTRA } else { "" };
        reload(&gateway, &config(None, &format!("v{round}"), extra));
        assert_eq!(gateway.get("/release/web/x").status, 200, "round {round}");
    }
    // Replaced and removed processes have been stopped and reaped (allow them their drain).
    let reaped = (0..100).any(|_| {
        thread::sleep(Duration::from_millis(100));
        zombie_children(gateway.pid()).is_empty()
    });
    assert!(reaped, "zombies left: {:?}", zombie_children(gateway.pid()));
    let after = answering_pids(&gateway, "/release/who", 8);
    assert!(after.is_subset(&who_pids), "`who` restarted by reloads that did not change it: {after:?} vs {who_pids:?}");
    assert_eq!(started_pids(&gateway, "default/who:"), who_pids, "`who` got new processes from the reloads");
}

#[test]
fn a_web_function_on_a_fixed_port_survives_reloads_that_restart_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gateway = start(Gateway::builder(&config(Some(port), "v0", "")));
    for round in 1..=10_u32 {
        // Odd rounds change it (a restart on the same port), even ones change another function.
        let mark = format!("v{}", round.div_ceil(2));
        let extra = if round % 2 == 0 { EXTRA } else { "" };
        reload(&gateway, &config(Some(port), &mark, extra));
        let response = gateway.get("/release/web/x");
        assert_eq!(response.status, 200, "round {round}: {}", response.text());
    }
    let output = gateway.output.text();
    assert_eq!(gateway.output.count("web function process exited"), 0, "a crash loop:\n{output}");
    // One process per change: the first, and five restarts.
    let started =
        output.lines().filter(|line| line.contains("started function process") && line.contains("default/web")).count();
    assert_eq!(started, 6, "{output}");
}

#[test]
fn after_a_web_function_crashes_requests_on_every_worker_wait_for_its_restart() {
    let gateway = start(Gateway::builder(&config(None, "one", "")));
    // Every worker has pooled connections to the instance.
    let warm = request_bytes("GET", "/release/web/warm", &gateway.host(), &[], b"");
    for response in concurrently(gateway.addr(), vec![warm; 40]) {
        assert_eq!(response.status, 200, "{}", response.text());
    }
    // The crash's own request gets 502; nothing else may: 50 requests at once, over fresh
    // connections spread over both workers, wait for the instance to come back.
    assert_eq!(gateway.get("/release/web/crash").status, 502);
    let after = request_bytes("GET", "/release/web/after", &gateway.host(), &[], b"");
    let responses = concurrently(gateway.addr(), vec![after; 50]);
    let failed: Vec<_> = responses
        .iter()
        .filter(|response| response.status != 200)
        .map(|response| (response.status, response.text()))
        .collect();
    assert!(failed.is_empty(), "{} of 50 requests after the crash failed: {failed:?}", failed.len());
}
