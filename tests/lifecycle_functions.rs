//! The life of local function instances (issue 7), against the real binary and real function
//! processes: scaling up under a burst and back down after `idle_timeout`, a crash that fails
//! only its own request, `init_timeout` reported with the function's stderr, the functions'
//! output in the gateway log, `memory_limit_in_mb` enforced, and `--watch` restarting a
//! function whose code changed while another keeps serving.
//!
//! No assertion is about time: the tests count processes and log lines, and every wait is a
//! generous upper bound for a loaded machine.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{concurrently, log_field, process_is_gone, request_bytes, Client, Gateway, Response};

/// An upper bound for anything the gateway does on its own (scaling, restarting), on a loaded machine.
const LIMIT: Duration = Duration::from_secs(30);

/// The pid a `whoami` function answered from.
fn pid_of(response: &Response) -> i32 {
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {}", response.text())) as i32
}

/// Polls `done` until it holds or `limit` passes.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    done()
}

const SCALING: &str = r#"
[[service]]
id = "service-scale"
name = "scale"
[[service.api]]
name = "who"
path = "/who"
method = "GET"
timeout = 60
function = { name = "who" }

[[function]]
name = "who"
runtime = "custom"
code = "who"
instances = 1
max_instances = 4
idle_timeout = 1
"#;

#[test]
fn a_burst_scales_up_to_max_instances_and_back_down_after_idle_timeout() {
    let gateway = Gateway::builder(SCALING).function("who", "whoami").start();
    let warm = gateway.function_pids();
    assert_eq!(warm.len(), 1, "one warm instance at start");

    // Six requests that each hold an instance for a while, all at once: the warm instance takes
    // one and the gateway starts the others, up to max_instances = 4.
    let host = gateway.host();
    let burst = (0..6)
        .map(|n| request_bytes("GET", &format!("/release/who?scf_sleep_ms=4000&n={n}"), &host, &[], b""))
        .collect();
    let responses = concurrently(gateway.addr(), burst);
    let answered_by: HashSet<i32> = responses.iter().map(pid_of).collect();
    assert!(answered_by.len() > 1, "the burst was served by one process only: {answered_by:?}");
    let started = gateway.function_pids();
    assert!(started.len() <= 4, "more processes than max_instances: {started:?}");
    assert!(answered_by.iter().all(|pid| started.contains(pid)), "{answered_by:?} not among the started {started:?}");
    let scaled_up =
        gateway.output.lines().into_iter().find(|line| line.contains("scaled up")).expect("a `scaled up` log line");
    assert_eq!(log_field(&scaled_up, "function"), Some("default/who:$LATEST"), "{scaled_up}");

    // Idle for idle_timeout (1 s): the extra processes are stopped, the warm one stays.
    let extras: Vec<i32> = started.iter().copied().filter(|pid| *pid != warm[0]).collect();
    assert!(
        eventually(LIMIT, || extras.iter().all(|&pid| process_is_gone(pid))),
        "extra processes {extras:?} still run:\n{}",
        gateway.output.text()
    );
    assert!(!process_is_gone(warm[0]), "the warm instance was stopped too");
    // An instance whose start was logged after `started` was read may be stopped in a later
    // round: the last `scaled down` line, once all are stopped, leaves the warm one.
    let scaled_down_lines =
        || gateway.output.lines().into_iter().filter(|line| line.contains("scaled down")).collect::<Vec<String>>();
    let down_to_one = || scaled_down_lines().last().and_then(|line| log_field(line, "instances").map(str::to_owned));
    assert!(eventually(LIMIT, || down_to_one().as_deref() == Some("1")), "{:?}", scaled_down_lines());
    let scaled_down = scaled_down_lines();
    assert!(
        scaled_down.iter().all(|line| log_field(line, "function") == Some("default/who:$LATEST")),
        "{scaled_down:?}"
    );

    // From then on, one request at a time is served by the warm instance alone.
    for n in 0..3 {
        assert_eq!(pid_of(&gateway.get(&format!("/release/who?after={n}"))), warm[0]);
    }
    assert_eq!(gateway.function_pids().len(), started.len(), "serial requests started more processes");
}

const PAIR: &str = r#"
[[service]]
id = "service-pair"
name = "pair"
[[service.api]]
name = "echo"
path = "/echo"
method = "GET"
timeout = 60
function = { name = "pair" }

[[function]]
name = "pair"
runtime = "custom"
code = "pair"
instances = 2
"#;

#[test]
fn a_crash_fails_only_its_request_while_the_other_instance_keeps_serving() {
    let gateway = Gateway::builder(PAIR).function("pair", "echo").start();
    let before = gateway.function_pids();
    let host = gateway.host();
    // One instance busy for a while...
    let mut slow = Client::connect(gateway.addr());
    slow.send_request("GET", "/release/echo?scf_sleep_ms=3000&n=slow", &host, &[], b"");
    assert!(gateway.output.wait_for_line("scf-example-function[echo] request_id=", LIMIT));
    // ... while the other one crashes holding a request.
    let crashed = gateway.get("/release/echo?scf_crash=1");
    assert_eq!(crashed.status, 502, "{}", crashed.text());
    let error = crashed.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("function default/pair:$LATEST exited"), "{error}");

    // The busy instance was not disturbed.
    let response = slow.read_response();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["queryString"]["n"], "slow");

    // The crash is logged with the request and the function's last words, and the crashed
    // instance is restarted.
    assert!(gateway.output.wait_for_line("exited while handling a request", LIMIT), "{}", gateway.output.text());
    let line =
        gateway.output.lines().into_iter().find(|line| line.contains("exited while handling a request")).unwrap();
    assert_eq!(log_field(&line, "request_id"), Some(crashed.request_id()), "{line}");
    assert!(line.contains("scf_crash=1: exiting with status 3"), "no stderr tail in {line}");
    assert!(gateway.output.wait_for(LIMIT, |lines| lines
        .iter()
        .filter(|line| line.contains("started function process"))
        .count()
        == 3));
    let after = gateway.function_pids();
    assert_eq!(before.iter().filter(|pid| process_is_gone(**pid)).count(), 1, "exactly one of {before:?} is gone");
    assert!(!process_is_gone(after[2]));
    for n in 0..4 {
        assert_eq!(gateway.get(&format!("/release/echo?n={n}")).status, 200);
    }
}

#[test]
fn a_function_that_is_not_ready_within_init_timeout_is_reported_with_its_stderr() {
    let config = r#"
[[service]]
id = "service-slow"
name = "slow"
[[service.api]]
name = "slow"
path = "/slow"
method = "GET"
timeout = 60
function = { name = "slow-start" }
[[service.api]]
name = "ok"
path = "/ok"
method = "GET"
function = { name = "ok" }

[[function]]
name = "slow-start"
runtime = "custom"
code = "slow"
init_timeout = 1

[[function]]
name = "ok"
runtime = "custom"
code = "ok"
"#;
    let gateway = Gateway::builder(config).function("slow", "never-ready").function("ok", "echo").start();
    // The API allows 60 s, but the function cannot become ready: a 502 naming it, well before.
    let response = gateway.get("/release/slow");
    assert_eq!(response.status, 502, "{}", response.text());
    let body = response.json();
    assert_eq!(body["requestId"], response.request_id());
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("function default/slow-start:$LATEST"), "{error}");

    // The log says which function, that init_timeout passed, and what the function wrote.
    let reported = gateway
        .output
        .wait_for(LIMIT, |lines| lines.iter().any(|line| line.contains("did not become ready within init_timeout")));
    assert!(reported, "{}", gateway.output.text());
    let line = gateway
        .output
        .lines()
        .into_iter()
        .find(|line| line.contains("did not become ready within init_timeout"))
        .unwrap();
    assert_eq!(log_field(&line, "function"), Some("default/slow-start:$LATEST"), "{line}");
    assert!(line.contains("stderr_tail=") && line.contains("will never report ready"), "no stderr tail in {line}");
    // Other functions are not affected.
    assert_eq!(gateway.get("/release/ok").status, 200);
}

const TALK: &str = r#"
[[service]]
id = "service-talk"
name = "talk"
[[service.api]]
name = "talk"
path = "/talk"
method = "GET"
timeout = 60
function = { name = "talk", namespace = "ns", qualifier = "2" }

[[function]]
name = "talk"
namespace = "ns"
qualifier = "2"
runtime = "custom"
code = "talk"
"#;

#[test]
fn function_output_is_logged_with_the_function_and_the_request_id() {
    let gateway = Gateway::builder(TALK).function("talk", "echo").start();
    let addr = gateway.addr();
    let host = gateway.host();
    // The function prints, then keeps the request a while: its lines are read while the
    // request still runs on that instance.
    let request = thread::spawn(move || {
        let mut client = Client::connect(addr);
        client.send_request("GET", "/release/talk?scf_print=marker-42&scf_sleep_ms=3000", &host, &[], b"");
        client.read_response()
    });
    for stream in ["stdout", "stderr"] {
        assert!(
            gateway.output.wait_for_line(&format!("{stream}: marker-42"), LIMIT),
            "no {stream} line:\n{}",
            gateway.output.text()
        );
    }
    let response = request.join().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    for (stream, level) in [("stdout", "INFO"), ("stderr", "WARN")] {
        let line =
            gateway.output.lines().into_iter().find(|line| line.contains(&format!("{stream}: marker-42"))).unwrap();
        assert!(line.contains(level), "{stream} not logged at {level}: {line}");
        assert_eq!(log_field(&line, "function"), Some("ns/talk:2"), "{line}");
        assert_eq!(log_field(&line, "instance"), Some("0"), "{line}");
        assert_eq!(log_field(&line, "request_id"), Some(response.request_id()), "{line}");
    }
}

#[test]
fn memory_limit_in_mb_is_enforced_and_the_next_request_is_served() {
    let config = r#"
[[service]]
id = "service-memory"
name = "memory"
[[service.api]]
name = "echo"
path = "/echo"
method = "GET"
function = { name = "small" }

[[function]]
name = "small"
runtime = "custom"
code = "small"
memory_limit_in_mb = 64
"#;
    let gateway = Gateway::builder(config).function("small", "echo").start();
    // Well within the limit: served.
    let response = gateway.get("/release/echo?scf_alloc_mb=16");
    assert_eq!(response.status, 200, "{}", response.text());
    // Far past it: the allocation fails, the process dies, the client gets a 502 naming it.
    let response = gateway.get("/release/echo?scf_alloc_mb=1024");
    assert_eq!(response.status, 502, "{}", response.text());
    let error = response.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("function default/small:$LATEST exited"), "{error}");
    // It died because the allocation was refused (Rust's message on stderr, now in the log).
    assert!(
        gateway.output.wait_for_line("memory allocation of 1073741824 bytes failed", LIMIT),
        "{}",
        gateway.output.text()
    );
    // It is restarted, and the next request works.
    let response = gateway.get("/release/echo?n=next");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["queryString"]["n"], "next");
}

const WATCHED: &str = r#"
[[service]]
id = "service-watch"
name = "watch"
[[service.api]]
name = "app"
path = "/app"
method = "GET"
timeout = 60
function = { name = "app" }
[[service.api]]
name = "other"
path = "/other"
method = "GET"
function = { name = "other" }

[[function]]
name = "app"
runtime = "custom"
code = "app"
instances = 2

[[function]]
name = "other"
runtime = "custom"
code = "other"
"#;

#[test]
fn watch_restarts_a_function_whose_code_changed_and_no_request_fails() {
    let builder = Gateway::builder(WATCHED).function("app", "whoami").function("other", "echo").flag("--watch");
    builder.dir().write("app/VERSION", "v1\n");
    let gateway = builder.start();
    let first = gateway.get("/release/app");
    assert_eq!(first.json()["version"], "v1", "{}", first.text());
    let old_pids = gateway.function_pids();

    // Traffic to both functions throughout: nothing may fail, not even requests to the
    // function being restarted (they wait for its new processes).
    let running = Arc::new(AtomicBool::new(true));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = ["/release/other", "/release/app"]
        .into_iter()
        .map(|path| {
            let (running, served, failures, addr, host) =
                (running.clone(), served.clone(), failures.clone(), gateway.addr(), gateway.host());
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                while running.load(Ordering::Relaxed) {
                    let outcome = client
                        .try_send(&request_bytes("GET", path, &host, &[], b""))
                        .and_then(|()| client.try_read_response(false));
                    match outcome {
                        Ok(response) if response.status == 200 => served.fetch_add(1, Ordering::Relaxed),
                        Ok(response) => {
                            failures.lock().unwrap().push(format!("{path}: {} {}", response.status, response.text()));
                            break;
                        }
                        Err(error) => {
                            failures.lock().unwrap().push(format!("{path}: {error}"));
                            break;
                        }
                    };
                    thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();

    gateway.dir.write("app/VERSION", "v2\n");
    let reloaded =
        gateway.output.wait_for(LIMIT, |lines| lines.iter().any(|line| line.contains("reloaded function code")));
    assert!(reloaded, "{}", gateway.output.text());
    let line = gateway.output.lines().into_iter().find(|line| line.contains("reloaded function code")).unwrap();
    assert_eq!(log_field(&line, "function"), Some("default/app:$LATEST"), "{line}");
    let mut latest = None;
    let upgraded = eventually(LIMIT, || {
        let response = gateway.get("/release/app");
        let version = response.json()["version"].as_str().map(str::to_owned);
        latest = Some(response);
        version.as_deref() == Some("v2")
    });
    assert!(
        upgraded,
        "never answered by the new code; last answer {:?}:\n{}",
        latest.map(|response| response.text()),
        gateway.output.text()
    );
    thread::sleep(Duration::from_millis(500));
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(*failures.lock().unwrap(), Vec::<String>::new(), "requests failed during the code reload");
    assert!(served.load(Ordering::Relaxed) > 0);

    // The app's old processes are gone; the other function kept its process.
    let app_pids: Vec<i32> = old_pids.iter().copied().filter(|&pid| pid != other_pid(&gateway)).collect();
    assert_eq!(app_pids.len(), 2, "{old_pids:?}");
    assert!(
        eventually(LIMIT, || app_pids.iter().all(|&pid| process_is_gone(pid))),
        "old app processes {app_pids:?} still run"
    );
    assert!(!process_is_gone(other_pid(&gateway)));
}

/// The pid of the `other` function's only process (from its start log line).
fn other_pid(gateway: &Gateway) -> i32 {
    let lines: Vec<String> = gateway
        .output
        .lines()
        .into_iter()
        .filter(|line| line.contains("started function process") && line.contains("function=default/other"))
        .collect();
    assert_eq!(lines.len(), 1, "the other function was restarted: {lines:?}");
    log_field(&lines[0], "pid").and_then(|pid| pid.parse().ok()).expect("pid in the start line")
}
