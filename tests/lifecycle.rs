//! Reload and shutdown against the real binary: SIGHUP (and `scfgate --reload`) applies a new
//! configuration to new requests without dropping a connection, an invalid one is refused while
//! the old keeps serving, and SIGTERM lets requests in flight finish, stops the functions and
//! exits 0. A client loop runs through reloads and sees nothing but 200s.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{process_is_gone, Client, Gateway};

const BASE: &str = r#"
[[service]]
id = "service-life"
name = "life"

[[service.api]]
name = "first"
path = "=/first"
method = "GET"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2
"#;

const SECOND_API: &str = r#"
[[service.api]]
name = "second"
path = "=/second"
method = "GET"
function = { name = "echo" }
"#;

fn with_second_api() -> String {
    BASE.replacen("[[function]]", &format!("{SECOND_API}\n[[function]]"), 1)
}

fn hangup(gateway: &Gateway) {
    // SAFETY: kill(2) on the gateway child's pid; no memory involved.
    unsafe {
        libc::kill(gateway.pid() as i32, libc::SIGHUP);
    }
}

fn status_on(client: &mut Client, gateway: &Gateway, path: &str) -> u16 {
    client.send_request("GET", path, &gateway.host(), &[], b"");
    client.read_response().status
}

#[test]
fn reload_applies_new_routes_to_open_connections_and_refuses_invalid_files() {
    let gateway = Gateway::builder(BASE).function("echo", "echo").start();
    let mut client = gateway.connect();
    assert_eq!(status_on(&mut client, &gateway, "/release/first"), 200);
    assert_eq!(status_on(&mut client, &gateway, "/release/second"), 404);

    gateway.dir.write("scfgate.toml", &with_second_api());
    hangup(&gateway);
    assert!(
        gateway.output.wait_for_line("configuration reloaded generation=2", Duration::from_secs(10)),
        "{}",
        gateway.output.text()
    );
    // The connection opened before the reload is still served, now with the new API.
    assert_eq!(status_on(&mut client, &gateway, "/release/second"), 200);
    assert_eq!(status_on(&mut client, &gateway, "/release/first"), 200);

    // An invalid file is refused with its error; the previous configuration keeps serving.
    gateway.dir.write(
        "scfgate.toml",
        &with_second_api().replace(
            "method = \"GET\"\nfunction = { name = \"echo\" }\n\n[[function]]",
            "method = \"FETCH\"\nfunction = { name = \"echo\" }\n\n[[function]]",
        ),
    );
    hangup(&gateway);
    assert!(gateway.output.wait_for_line("reload refused", Duration::from_secs(10)), "{}", gateway.output.text());
    let refusal = gateway.output.lines().into_iter().find(|line| line.contains("reload refused")).unwrap();
    assert!(
        refusal.contains("scfgate.toml") && refusal.contains("api `second`") && refusal.contains("field `method`"),
        "{refusal}"
    );
    assert_eq!(status_on(&mut client, &gateway, "/release/second"), 200);
}

#[test]
fn a_reload_that_adds_the_first_websocket_api_is_refused_with_the_reason() {
    let gateway = Gateway::builder(BASE).function("echo", "echo").start();
    let websocket_api = r#"
[[service.api]]
name = "room"
path = "/ws"
protocol = "ws"
register = { name = "echo" }
transport = { name = "echo" }
cleanup = { name = "echo" }
"#;
    gateway.dir.write("scfgate.toml", &BASE.replacen("[[function]]", &format!("{websocket_api}\n[[function]]"), 1));
    hangup(&gateway);
    assert!(gateway.output.wait_for_line("reload refused", Duration::from_secs(10)), "{}", gateway.output.text());
    let refusal = gateway.output.lines().into_iter().find(|line| line.contains("reload refused")).unwrap();
    assert!(refusal.contains("reverse-push endpoint") && refusal.contains("restart scfgate"), "{refusal}");
    // The previous configuration keeps serving.
    let mut client = gateway.connect();
    assert_eq!(status_on(&mut client, &gateway, "/release/first"), 200);
}

#[test]
fn reload_flag_validates_before_signalling() {
    let builder = Gateway::builder(BASE).function("echo", "echo");
    let pid_file = builder.dir().path.join("scfgate.pid");
    let gateway = builder.arg("--pid-file", pid_file.to_str().unwrap()).start();
    let config = gateway.dir.path.join("scfgate.toml");
    let reload = |expect_success: bool| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_scfgate"))
            .args(["--config", config.to_str().unwrap(), "--reload", "--pid-file", pid_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(output.status.success(), expect_success, "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Invalid: refused by the command itself, the gateway is not signalled.
    gateway.dir.write("scfgate.toml", &BASE.replace("name = \"first\"", "name = \"\""));
    let error = reload(false);
    assert!(error.contains("field `name`"), "{error}");
    assert!(!gateway.output.text().contains("reload"));
    // Valid: the gateway reloads.
    gateway.dir.write("scfgate.toml", &with_second_api());
    reload(true);
    assert!(gateway.output.wait_for_line("configuration reloaded generation=2", Duration::from_secs(10)));
    assert_eq!(gateway.get("/release/second").status, 200);
}

#[test]
fn clients_see_only_successes_through_reloads() {
    let gateway = Gateway::builder(BASE).function("echo", "echo").start();
    let address = gateway.addr();
    let host = gateway.host();
    let running = Arc::new(AtomicBool::new(true));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|index| {
            let (running, served, failed, host) = (running.clone(), served.clone(), failed.clone(), host.clone());
            std::thread::spawn(move || {
                // Half the clients keep one connection, half open a new one per request.
                let mut kept = Client::connect(address);
                while running.load(Ordering::Relaxed) {
                    let mut fresh;
                    let client = if index % 2 == 0 {
                        &mut kept
                    } else {
                        match std::net::TcpStream::connect(address) {
                            Ok(_) => {}
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                        fresh = Client::connect(address);
                        &mut fresh
                    };
                    if client.try_send(&common::request_bytes("GET", "/release/first", &host, &[], b"")).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    match client.try_read_response(false) {
                        Ok(response) if response.status == 200 => served.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    // Leave the machine some room: the point is traffic across reloads, not load.
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    for generation in 2..=4 {
        let config = if generation % 2 == 0 { with_second_api() } else { BASE.to_string() };
        gateway.dir.write("scfgate.toml", &config);
        hangup(&gateway);
        let line = format!("configuration reloaded generation={generation}");
        // An upper bound for a loaded machine, not a timing claim.
        assert!(gateway.output.wait_for_line(&line, Duration::from_secs(60)), "{}", gateway.output.text());
        std::thread::sleep(Duration::from_millis(200));
    }
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests that failed during reloads; gateway output:\n{}",
        gateway.output.text()
    );
}

#[test]
fn sigterm_finishes_requests_in_flight_then_stops_functions_and_exits_zero() {
    let mut gateway = Gateway::builder(BASE).function("echo", "echo").start();
    let pids = gateway.wait_for_function_starts(2);
    let address = gateway.addr();
    let host = gateway.host();
    let slow = std::thread::spawn(move || {
        let mut client = Client::connect(address);
        client.send_request("GET", "/release/first?scf_sleep_ms=1500", &host, &[], b"");
        client.read_response()
    });
    // Wait until the function has the request, then ask the gateway to stop.
    assert!(gateway.output.wait_for_line("scf-example-function[echo] request_id=", Duration::from_secs(10)));
    let status = gateway.terminate();
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200, "the request in flight finished");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(status.success(), "exit status {status:?}");
    for pid in pids {
        assert!(process_is_gone(pid), "function process {pid} outlived the gateway");
    }
}
