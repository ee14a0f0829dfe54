//! The life of web function instances (issue 7), against the real binary and real web function
//! processes (the example function's `web` mode behind `scf_bootstrap`): a request sent before
//! the function listens waits for it; one that never listens is a 502 naming it after
//! `init_timeout`; a burst scales up to `max_instances` by `concurrency` and idle extras are
//! stopped after `idle_timeout`; `--watch` serves new code while other functions keep serving;
//! `[gateway] region/appid/uin` reach the functions; a relayed WebSocket idle past
//! `websocket_idle_timeout` is closed.
//!
//! No assertion is about time: the tests count processes and log lines, and every wait is a
//! generous upper bound for a loaded machine.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    concurrently, fixture, log_field, process_is_gone, request_bytes, Client, Gateway, GatewayBuilder, Response,
    FUNCTION_BIN,
};

/// An upper bound for anything the gateway does on its own (starting, scaling, restarting).
const LIMIT: Duration = Duration::from_secs(30);

/// Writes `<folder>/scf_bootstrap` running the example function's web mode, with `environment`
/// (`NAME=value ...`) before it.
fn web_function(builder: &GatewayBuilder, folder: &str, environment: &str) {
    builder.dir().executable(
        &format!("{folder}/scf_bootstrap"),
        &format!("#!/bin/sh\n{environment} exec \"{FUNCTION_BIN}\" web\n"),
    );
}

/// The pid a web function answered from.
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

/// Pids from the `started function process` lines of `function` (`default/<name>:$LATEST`).
fn started_pids(gateway: &Gateway, function: &str) -> Vec<i32> {
    let tag = format!("function={function}");
    gateway
        .output
        .lines()
        .iter()
        .filter(|line| line.contains("started function process") && line.contains(&tag))
        .filter_map(|line| log_field(line, "pid")?.parse().ok())
        .collect()
}

fn ready_lines(gateway: &Gateway) -> usize {
    gateway.output.count("web function ready")
}

const SLOW_START: &str = r#"
[[service]]
id = "service-life"
name = "life"
[[service.api]]
name = "app"
path = "/app"
method = "ANY"
timeout = 60
function = { name = "app" }
[[service.api]]
name = "deaf"
path = "/deaf"
method = "GET"
timeout = 60
function = { name = "deaf" }

[[function]]
name = "app"
runtime = "web"
code = "app"

[[function]]
name = "deaf"
runtime = "web"
code = "deaf"
init_timeout = 1
"#;

#[test]
fn a_request_sent_before_the_function_listens_waits_for_it() {
    let builder = Gateway::builder(SLOW_START);
    // Listens 1.5 s after it starts: the gateway is up long before.
    web_function(&builder, "app", "SCF_EXAMPLE_LISTEN_DELAY_MS=1500");
    builder.dir().executable("deaf/scf_bootstrap", "#!/bin/sh\nexec sleep 1000\n");
    let gateway = builder.start();
    assert_eq!(
        ready_lines(&gateway),
        0,
        "the function was ready before the request was sent; the test proves nothing:\n{}",
        gateway.output.text()
    );
    let response = gateway.get("/release/app/first");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["path"], "/app/first");
    assert!(ready_lines(&gateway) >= 1, "answered before the function was ready?\n{}", gateway.output.text());
}

#[test]
fn a_response_written_after_shutdown_began_closes_its_connection() {
    let builder = Gateway::builder(SLOW_START);
    web_function(&builder, "app", "");
    builder.dir().executable("deaf/scf_bootstrap", "#!/bin/sh\nexec sleep 1000\n");
    let mut gateway = builder.start();
    assert!(gateway.output.wait_for_line("web function ready", LIMIT), "{}", gateway.output.text());
    let (address, host) = (gateway.addr(), gateway.host());
    let slow = thread::spawn(move || {
        let mut client = Client::connect(address);
        client.send(&request_bytes("GET", "/release/app/slow?ms=1500", &host, &[], b""));
        client.read_response()
    });
    // SIGTERM while the function takes its time: the request is in flight (a later one would be
    // refused anyway), its answer the connection's last.
    thread::sleep(Duration::from_millis(500));
    let status = gateway.terminate();
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200, "the request in flight finished: {}", response.text());
    assert_eq!(response.header("connection"), Some("close"), "{:?}", response.headers);
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_function_that_never_listens_is_a_502_naming_it_after_init_timeout() {
    let builder = Gateway::builder(SLOW_START);
    web_function(&builder, "app", "");
    builder.dir().executable("deaf/scf_bootstrap", "#!/bin/sh\nexec sleep 1000\n");
    let gateway = builder.start();
    let response = gateway.get("/release/deaf");
    assert_eq!(response.status, 502, "{}", response.text());
    let body = response.json();
    assert_eq!(body["message"], "Bad Gateway.");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("web function default/deaf:$LATEST did not accept connections within its init_timeout (1 s)"),
        "{error}"
    );
    assert!(gateway.output.wait_for_line("did not accept connections on its port within init_timeout", LIMIT));
    // The other function is unaffected.
    assert_eq!(gateway.get("/release/app").status, 200);
}

const SCALING: &str = r#"
[[service]]
id = "service-scale"
name = "scale"
[[service.api]]
name = "app"
path = "/app"
method = "GET"
timeout = 60
function = { name = "app" }

[[function]]
name = "app"
runtime = "web"
code = "app"
instances = 1
max_instances = 3
concurrency = 1
idle_timeout = 1
"#;

#[test]
fn a_burst_scales_up_by_concurrency_to_max_instances_and_idle_extras_are_stopped() {
    let builder = Gateway::builder(SCALING);
    web_function(&builder, "app", "");
    let gateway = builder.start();
    let warm = pid_of(&gateway.get("/release/app/warm"));
    assert_eq!(started_pids(&gateway, "default/app:$LATEST"), [warm], "one warm instance at start");

    // Six slow requests at once, one per instance at a time (concurrency = 1): the gateway starts
    // more instances, up to max_instances = 3.
    let host = gateway.host();
    let burst =
        (0..6).map(|n| request_bytes("GET", &format!("/release/app/slow?ms=3000&n={n}"), &host, &[], b"")).collect();
    let responses = concurrently(gateway.addr(), burst);
    let answered_by: HashSet<i32> = responses.iter().map(pid_of).collect();
    assert!(
        answered_by.len() > 1,
        "the burst was served by one instance only: {answered_by:?}\n{}",
        gateway.output.text()
    );
    let started = started_pids(&gateway, "default/app:$LATEST");
    assert!(started.len() <= 3, "more processes than max_instances: {started:?}");
    assert!(answered_by.iter().all(|pid| started.contains(pid)), "{answered_by:?} not among the started {started:?}");
    let scaled_up =
        gateway.output.lines().into_iter().find(|line| line.contains("scaled up")).expect("a `scaled up` log line");
    assert_eq!(log_field(&scaled_up, "function"), Some("default/app:$LATEST"), "{scaled_up}");

    // Idle past idle_timeout (1 s): the extras are stopped, the warm instance stays.
    let extras: Vec<i32> = started.iter().copied().filter(|pid| *pid != warm).collect();
    assert!(
        eventually(LIMIT, || extras.iter().all(|&pid| process_is_gone(pid))),
        "extra processes {extras:?} still run:\n{}",
        gateway.output.text()
    );
    assert!(!process_is_gone(warm), "the warm instance was stopped too");
    let scaled_down: Vec<String> =
        gateway.output.lines().into_iter().filter(|line| line.contains("scaled down")).collect();
    assert!(!scaled_down.is_empty(), "no `scaled down` log line:\n{}", gateway.output.text());
    assert_eq!(scaled_down.last().and_then(|line| log_field(line, "instances")), Some("1"), "{scaled_down:?}");
    assert!(
        scaled_down.iter().all(|line| log_field(line, "function") == Some("default/app:$LATEST")),
        "{scaled_down:?}"
    );
    assert!(
        !gateway.output.text().contains("web function process exited"),
        "a stopped extra was logged as a crash:\n{}",
        gateway.output.text()
    );

    // From then on, requests one at a time are served by the warm instance alone.
    for n in 0..3 {
        assert_eq!(pid_of(&gateway.get(&format!("/release/app/after?n={n}"))), warm);
    }
    assert_eq!(
        started_pids(&gateway, "default/app:$LATEST").len(),
        started.len(),
        "serial requests started more processes"
    );
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
runtime = "web"
code = "app"

[[function]]
name = "other"
runtime = "web"
code = "other"
"#;

#[test]
fn watch_serves_a_web_functions_new_code_and_no_request_fails() {
    let builder = Gateway::builder(WATCHED).flag("--watch");
    web_function(&builder, "app", "");
    web_function(&builder, "other", "");
    builder.dir().write("app/VERSION", "v1\n");
    let gateway = builder.start();
    let first = gateway.get("/release/app");
    assert_eq!(first.json()["version"], "v1", "{}", first.text());
    let old_app = pid_of(&first);
    let other = pid_of(&gateway.get("/release/other"));

    // Traffic to both functions throughout: nothing may fail, not even requests to the function
    // whose code changes (its new instance is ready before the old one stops taking requests).
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
    assert!(gateway.output.wait_for_line("reloaded function code", LIMIT), "{}", gateway.output.text());
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
    // The old process stops once its requests are done.
    assert!(
        eventually(LIMIT, || process_is_gone(old_app)),
        "the old app process {old_app} still runs:\n{}",
        gateway.output.text()
    );
    thread::sleep(Duration::from_millis(500));
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(*failures.lock().unwrap(), Vec::<String>::new(), "requests failed during the code reload");
    assert!(served.load(Ordering::Relaxed) > 0);
    // Every answer from the app now comes from new code; the other function kept its process.
    assert_eq!(gateway.get("/release/app").json()["version"], "v2");
    assert_eq!(started_pids(&gateway, "default/other:$LATEST"), [other], "the other function was restarted");
    assert!(!process_is_gone(other));
}

#[test]
fn region_appid_and_uin_come_from_the_gateway_table() {
    let config = format!(
        r#"
[gateway]
region = "ap-guangzhou"
appid = "1250000000"
uin = "100000000001"

[[service]]
id = "service-who"
name = "who"
[[service.api]]
name = "web"
path = "/web"
method = "GET"
function = {{ name = "web" }}
[[service.api]]
name = "probe"
path = "/probe"
method = "GET"
function = {{ name = "probe" }}

[[function]]
name = "web"
runtime = "web"
code = "web"

[[function]]
name = "probe"
runtime = "custom"
code = {}
"#,
        toml_string(&fixture("runtime-probe").display().to_string())
    );
    let builder = Gateway::builder(&config);
    web_function(&builder, "web", "");
    let gateway = builder.start();
    let echo = gateway.get("/release/web").json();
    for (header, value) in
        [("x-scf-region", "ap-guangzhou"), ("x-scf-appid", "1250000000"), ("x-scf-uin", "100000000001")]
    {
        assert_eq!(echo["headers"][header].as_str(), Some(value), "{header} in {echo}");
    }
    for (variable, value) in [("region", "ap-guangzhou"), ("appid", "1250000000"), ("uin", "100000000001")] {
        assert_eq!(
            echo["tencentcloud"][variable].as_str(),
            Some(value),
            "TENCENTCLOUD_{variable} of the web function: {echo}"
        );
    }
    // The custom runtime's environment (spec §7.2), when curl is there to run the probe.
    if std::process::Command::new("curl").arg("--version").output().is_ok() {
        let probe = gateway.get("/release/probe").json();
        for (variable, value) in [
            ("TENCENTCLOUD_REGION", "ap-guangzhou"),
            ("TENCENTCLOUD_APPID", "1250000000"),
            ("TENCENTCLOUD_UIN", "100000000001"),
        ] {
            assert_eq!(probe["env"][variable].as_str(), Some(value), "{variable} of the custom function: {probe}");
        }
    }
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn a_relayed_websocket_idle_past_websocket_idle_timeout_is_closed() {
    use tungstenite::Message;
    let config = r#"
[gateway]
websocket_idle_timeout = 1

[[service]]
id = "service-ws"
name = "ws"
[[service.api]]
name = "app"
path = "/app"
method = "GET"
function = { name = "app" }

[[function]]
name = "app"
runtime = "web"
code = "app"
"#;
    let builder = Gateway::builder(config);
    web_function(&builder, "app", "");
    let gateway = builder.start();
    let (mut socket, _) = tungstenite::connect(format!("ws://{}/release/app/ws", gateway.addr()))
        .expect("WebSocket handshake through the gateway");
    socket.send(Message::Text("still here".into())).unwrap();
    assert_eq!(socket.read().unwrap(), Message::Text("still here".into()));
    // Then nothing from the client: the gateway closes the connection (a read ends instead of
    // blocking until the generous bound below).
    match socket.get_mut() {
        tungstenite::stream::MaybeTlsStream::Plain(stream) => stream.set_read_timeout(Some(LIMIT)).unwrap(),
        _ => unreachable!("plain ws://"),
    }
    let ended = loop {
        match socket.read() {
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                break true
            }
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                break false
            }
            Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(ended, "the idle relayed WebSocket was not closed within {LIMIT:?}");
}
