//! systemd's readiness protocol against the real binary, with a Unix datagram socket standing in
//! for systemd's (`NOTIFY_SOCKET`): `READY=1` only once the workers serve *and* the warm local
//! functions are ready; `RELOADING=1` then `READY=1` around a SIGHUP reload, applied or refused;
//! `STOPPING=1` as the drain begins, while a request is still in flight.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::notify::NotifySocket;
use common::{Client, Gateway, TempDir};

/// Upper bound for anything to happen (a loaded 2-core machine), not a timing claim.
const LIMIT: Duration = Duration::from_secs(30);

fn hangup(gateway: &Gateway) {
    // SAFETY: kill(2) on the gateway child's pid; no memory involved.
    unsafe {
        libc::kill(gateway.pid() as i32, libc::SIGHUP);
    }
}

/// A function endpoint that answers each request only when the test says so.
struct HeldEndpoint {
    address: std::net::SocketAddr,
    received: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl HeldEndpoint {
    fn start() -> HeldEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (received_tx, received) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buffer = Vec::new();
                while common::read_request(&mut stream, &mut buffer).is_some() {
                    let _ = received_tx.send(());
                    if release_rx.recv().is_err() {
                        return;
                    }
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
                }
            }
        });
        HeldEndpoint { address, received, release }
    }
}

#[test]
fn ready_waits_for_the_warm_functions_and_reloads_are_bracketed() {
    let dir = TempDir::new("notify");
    let notify = NotifySocket::bind(&dir);
    let endpoint = common::RemoteEndpoint::start(common::Reply::ok("{}"));
    let config = format!(
        r#"
[[service]]
id = "service-notify"
name = "notify"

[[service.api]]
name = "remote"
path = "=/remote"
method = "GET"
function = {{ name = "remote" }}

[[service.api]]
name = "gated"
path = "=/gated"
method = "GET"
function = {{ name = "gated" }}

[[function]]
name = "remote"
runtime = "remote"
invoke_url = "{}"

[[function]]
name = "gated"
runtime = "custom"
code = "gated"
init_timeout = 120
"#,
        endpoint.url("/invoke")
    );
    let builder = Gateway::builder(&config).env("NOTIFY_SOCKET", notify.env());
    // The function's process starts at once but asks for work only once the test says so.
    let gate = builder.dir().path.join("go");
    builder.dir().executable(
        "gated/bootstrap",
        &format!(
            "#!/bin/sh\nwhile [ ! -e '{}' ]; do sleep 0.05; done\nexec \"{}\" echo\n",
            gate.display(),
            common::FUNCTION_BIN
        ),
    );
    let gateway = builder.start();

    // The workers serve (a remote function answers); the gateway's first word is not READY=1
    // while a warm function has not asked for work, but what it waits for.
    assert_eq!(gateway.get("/release/remote").status, 200);
    let first = notify.wait_for_prefix(0, "STATUS=", LIMIT).expect("a first notification");
    assert!(
        !notify.messages().iter().any(|message| message.lines().any(|line| line == "READY=1")),
        "READY=1 before the warm function asked for work:\n{}",
        notify.dump()
    );
    let status = &notify.messages()[first];
    assert!(
        status.contains("STATUS=starting: waiting for local functions: default/gated:$LATEST 0/1 ready"),
        "{status}"
    );

    std::fs::write(&gate, "").unwrap();
    let ready = notify.wait_for(0, &["READY=1"], LIMIT);
    assert!(ready.is_some(), "no READY=1 once the function was ready:\n{}", notify.dump());
    assert_eq!(gateway.get("/release/gated").status, 200);

    // A reload, applied: RELOADING=1 (with the monotonic time systemd asks for), then READY=1.
    let from = notify.messages().len();
    hangup(&gateway);
    let reloading = notify.wait_for(from, &["RELOADING=1"], LIMIT).expect("RELOADING=1 at SIGHUP");
    assert!(notify.messages()[reloading].contains("MONOTONIC_USEC="), "{}", notify.dump());
    assert!(notify.wait_for(reloading + 1, &["READY=1"], LIMIT).is_some(), "{}", notify.dump());
    assert!(gateway.output.wait_for_line("configuration reloaded generation=2", LIMIT));

    // A reload refused (invalid file): the same bracket, the previous configuration serving.
    gateway.dir.write("scfgate.toml", &config.replace("method = \"GET\"", "method = \"FETCH\""));
    let from = notify.messages().len();
    hangup(&gateway);
    let reloading = notify.wait_for(from, &["RELOADING=1"], LIMIT).expect("RELOADING=1 at SIGHUP");
    assert!(notify.wait_for(reloading + 1, &["READY=1"], LIMIT).is_some(), "{}", notify.dump());
    assert!(gateway.output.wait_for_line("reload refused", LIMIT));
    assert_eq!(gateway.get("/release/remote").status, 200);
}

#[test]
fn stopping_is_announced_as_the_drain_begins() {
    let dir = TempDir::new("notify-stop");
    let notify = NotifySocket::bind(&dir);
    let endpoint = HeldEndpoint::start();
    let config = format!(
        r#"
[[service]]
id = "service-notify"
name = "notify"

[[service.api]]
name = "held"
path = "=/held"
method = "GET"
function = {{ name = "held" }}

[[function]]
name = "held"
runtime = "remote"
invoke_url = "http://{}/invoke"
"#,
        endpoint.address
    );
    let mut gateway = Gateway::builder(&config).env("NOTIFY_SOCKET", notify.env()).start();
    assert!(notify.wait_for(0, &["READY=1"], LIMIT).is_some(), "{}", notify.dump());

    let mut client = Client::connect(gateway.addr());
    client.send_request("GET", "/release/held", &gateway.host(), &[], b"");
    endpoint.received.recv_timeout(LIMIT).expect("the request reached the function");
    let pid = gateway.pid() as i32;
    let release = endpoint.release;
    let watcher = std::thread::spawn(move || {
        // Announced while the request is still held at the function, not at exit.
        let stopping = notify.wait_for(0, &["STOPPING=1"], LIMIT);
        let running = !common::process_is_gone(pid);
        release.send(()).unwrap();
        (stopping.is_some(), running, notify.dump())
    });
    // SIGTERM, then wait for the exit.
    let status = gateway.terminate();
    let (stopping, running, received) = watcher.join().unwrap();
    assert!(stopping, "no STOPPING=1:\n{received}");
    assert!(running, "STOPPING=1 came only once the gateway had exited");
    let response = client.read_response();
    assert_eq!(response.status, 200, "the request in flight finished");
    assert!(status.success(), "{status:?}");
}
