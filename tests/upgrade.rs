//! Binary upgrades against the real binary (`scfgate --upgrade`, which sends SIGUSR2): under wrk
//! load (64 connections) three upgrades refuse no connection, answer nothing but 2xx and each
//! old process exits; every listener (HTTP, HTTPS, admin, push) keeps its address and answers
//! from the new process, whose web and custom functions serve; systemd hears `RELOADING=1` from
//! the old process and `MAINPID=` with `READY=1` from the new one; the state directory changes
//! hands; a new process that cannot take over (a function that never gets ready, a certificate
//! gone, a fixed-port web function) leaves the old one serving, and says why.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::notify::NotifySocket;
use common::{process_is_gone, Gateway, GatewayBuilder, FUNCTION_BIN, GATEWAY_BIN};

/// Upper bound for anything to happen on a loaded 2-core machine, not a timing claim.
const LIMIT: Duration = Duration::from_secs(60);

const CUSTOM: &str = r#"
[[service]]
id = "service-upgrade"
name = "upgrade"

[[service.api]]
name = "echo"
path = "=/echo"
method = "ANY"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"
instances = 2
"#;

/// The pid in a pid file.
fn pid_in(path: &Path) -> i32 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

/// Runs `scfgate --upgrade` for the gateway in `dir`.
fn upgrade(dir: &Path, pid_file: &Path) -> Output {
    upgrade_with(dir, pid_file, &[])
}

/// Runs `scfgate --upgrade` with more flags.
fn upgrade_with(dir: &Path, pid_file: &Path, flags: &[&str]) -> Output {
    Command::new(GATEWAY_BIN)
        .arg("--config")
        .arg(dir.join("scfgate.toml"))
        .arg("--upgrade")
        .arg("--pid-file")
        .arg(pid_file)
        .args(flags)
        .env_remove("SCFGATE_LOG")
        .output()
        .expect("run scfgate --upgrade")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Waits (bounded) until a process is gone.
fn wait_gone(pid: i32) -> bool {
    let deadline = Instant::now() + LIMIT;
    while !process_is_gone(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The processes upgrades started: the harness knows only the first one, so these are stopped
/// here (SIGTERM, then SIGKILL past the limit).
struct Successors(Vec<i32>);

impl Drop for Successors {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill(2) on a pid this test's upgrades started; no memory involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if !wait_gone(pid) {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

impl Successors {
    /// After an upgrade: the process the pid file names, unless it is still `old`.
    fn track(&mut self, old: i32, pid_file: &Path) {
        let now = pid_in(pid_file);
        if now != old && !self.0.contains(&now) {
            self.0.push(now);
        }
    }
}

/// A gateway with a pid file (and the builder's other settings).
fn start(builder: GatewayBuilder) -> (Gateway, PathBuf) {
    let pid_file = builder.dir().path.join("scfgate.pid");
    let gateway = builder.arg("--pid-file", pid_file.to_str().unwrap()).start();
    let deadline = Instant::now() + LIMIT;
    while !pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    (gateway, pid_file)
}

/// The address logged after `mark`.
fn logged_address(gateway: &Gateway, mark: &str) -> SocketAddr {
    assert!(gateway.output.wait_for_line(mark, LIMIT), "{mark}: {}", gateway.output.text());
    let line = gateway.output.lines().into_iter().find(|line| line.contains(mark)).unwrap();
    line[line.find(mark).unwrap() + mark.len()..].split(['/', ' ']).next().unwrap().parse().unwrap()
}

/// One request on a fresh connection: the status, or the error (a refused connection).
fn status_of(address: SocketAddr, request: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(address).map_err(|error| format!("connect to {address}: {error}"))?;
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.write_all(request.as_bytes()).map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no response: {text:?}"))
}

fn get(address: SocketAddr, path: &str) -> Result<u16, String> {
    status_of(address, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
}

#[test]
fn upgrades_under_load_refuse_no_connection_and_the_old_processes_exit() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("SKIPPED: wrk is not installed (apt-get install wrk); the upgrade-under-load test did not run");
        return;
    }
    let builder = Gateway::builder(CUSTOM).function("echo", "echo");
    let (mut gateway, pid_file) = start(builder);
    let mut successors = Successors(Vec::new());
    let url = format!("http://{}/release/echo", gateway.addr());
    // --timeout: a generous liveness bound for a loaded machine; a request slower than it
    // would count as a socket error.
    let wrk = std::thread::spawn(move || {
        Command::new("wrk").args(["-t2", "-c64", "-d14s", "--timeout", "10s", &url]).output().expect("run wrk")
    });
    let mut olds = vec![gateway.pid() as i32];
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(if round == 0 { 2000 } else { 2500 }));
        let output = upgrade(&gateway.dir.path, &pid_file);
        successors.track(*olds.last().unwrap(), &pid_file);
        assert!(output.status.success(), "upgrade {round}: {}", text(&output));
        let new = pid_in(&pid_file);
        assert!(!olds.contains(&new), "upgrade {round}: the pid file still names an old process");
        olds.push(new);
    }
    let wrk = wrk.join().unwrap();
    let report = String::from_utf8_lossy(&wrk.stdout).into_owned();
    eprintln!("{report}");
    assert!(wrk.status.success(), "{report}{}", String::from_utf8_lossy(&wrk.stderr));
    assert!(!report.contains("Socket errors"), "refused, reset or timed-out connections:\n{report}");
    assert!(!report.contains("Non-2xx"), "answers other than 2xx:\n{report}");
    let requests: u64 = report
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(requests > 0, "{report}");
    // Every process an upgrade replaced has exited; the last one serves.
    let deadline = Instant::now() + LIMIT;
    while gateway.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!gateway.is_running(), "the first process did not exit after its upgrade");
    for &old in &olds[1..olds.len() - 1] {
        assert!(wait_gone(old), "process {old} did not exit after its upgrade");
    }
    assert_eq!(get(gateway.addr(), "/release/echo"), Ok(200));
    for line in gateway.output.lines().iter().filter(|line| line.contains("the new process serves; draining")) {
        eprintln!("{line}");
    }
}

/// A self-signed certificate for `name`, written as `<stem>.crt` / `<stem>.key` in `dir`.
fn write_certificate(dir: &Path, stem: &str, name: &str) -> String {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    std::fs::write(dir.join(format!("{stem}.crt")), certified.cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{stem}.key")), certified.signing_key.serialize_pem()).unwrap();
    certified.cert.pem()
}

/// One HTTPS GET (SNI `name`, trusting `pem`); the status.
fn https_get(address: SocketAddr, pem: &str, name: &str, path: &str) -> Result<u16, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), server_name).map_err(|error| error.to_string())?;
    let socket = TcpStream::connect(address).map_err(|error| format!("connect to {address}: {error}"))?;
    socket.set_read_timeout(Some(LIMIT)).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(error) => return Err(error.to_string()),
    }
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no response: {text:?}"))
}

/// A POST with a JSON body on a fresh connection; the status.
fn post(address: SocketAddr, path: &str, body: &str) -> Result<u16, String> {
    status_of(
        address,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

const EVERY_LISTENER: &str = r#"
[gateway]
push_listen = "127.0.0.1:0"

[[service]]
id = "service-upgrade"
name = "upgrade"

[[service.api]]
name = "echo"
path = "=/echo"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "site"
path = "/site"
method = "ANY"
function = { name = "site" }

[[service.api]]
name = "room"
path = "/room"
protocol = "ws"
register = { name = "echo" }
transport = { name = "echo" }
cleanup = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"

[[function]]
name = "site"
runtime = "web"
code = "site"

[[certificate]]
hosts = ["a.example"]
cert = "a.crt"
key = "a.key"
"#;

#[test]
fn every_listener_keeps_its_address_and_the_new_process_answers_on_it() {
    let builder = Gateway::builder(EVERY_LISTENER).function("echo", "echo");
    let notify = NotifySocket::bind(builder.dir());
    builder.dir().executable("site/scf_bootstrap", &format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" web\n"));
    let pem = write_certificate(&builder.dir().path, "a", "a.example");
    let state_dir = builder.dir().path.join("state");
    let builder = builder
        .arg("--tls-listen", "127.0.0.1:0")
        .arg("--admin-listen", "127.0.0.1:0")
        .arg("--state-dir", state_dir.to_str().unwrap())
        .env("SCFGATE_ADMIN_TOKEN", "")
        .env("NOTIFY_SOCKET", notify.env());
    let (mut gateway, pid_file) = start(builder);
    let mut successors = Successors(Vec::new());
    let http = gateway.addr();
    let https = logged_address(&gateway, "scfgate listening on https://");
    let admin = logged_address(&gateway, "scfgate admin API listening on http://");
    let push = logged_address(&gateway, "scfgate WebSocket push endpoint on http://");
    assert!(notify.wait_for(0, &["READY=1"], LIMIT).is_some(), "{}", notify.dump());
    // What each listener answers before: the same answers must come from the new process.
    let push_request = "POST /push HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 71\r\nConnection: close\r\n\r\n{\"websocket\":{\"action\":\"data send\",\"secConnectionID\":\"nobody\",\"data\":\"x\"}}";
    let answers = || {
        [
            get(http, "/release/echo"),
            get(http, "/release/site/hello"),
            https_get(https, &pem, "a.example", "/release/echo"),
            get(admin, "/v1/services"),
            status_of(push, push_request),
        ]
    };
    let before = answers();
    assert_eq!(&before[..4], &[Ok(200), Ok(200), Ok(200), Ok(200)], "{}", gateway.output.text());
    assert!(before[4].is_ok(), "{:?}", before[4]);

    let from = notify.messages().len();
    let old = pid_in(&pid_file);
    let output = upgrade(&gateway.dir.path, &pid_file);
    successors.track(old, &pid_file);
    assert!(output.status.success(), "{}", text(&output));
    let new = pid_in(&pid_file);
    assert!(text(&output).contains(&format!("upgraded: pid {new} serves now")), "{}", text(&output));
    // systemd: the old process says it reloads; the new one that it is the main process.
    let reloading = notify.wait_for(from, &["RELOADING=1"], LIMIT).expect("RELOADING=1 from the old process");
    let took_over = notify.wait_for(reloading, &[&format!("MAINPID={new}"), "READY=1"], LIMIT);
    assert!(took_over.is_some(), "no MAINPID={new} with READY=1:\n{}", notify.dump());

    // Once the old process is gone, only the new one can answer on these addresses.
    let deadline = Instant::now() + LIMIT;
    while gateway.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!gateway.is_running(), "the old process did not exit");
    assert_eq!(answers(), before, "{}", gateway.output.text());
    // The state directory changed hands: the new process takes changes.
    assert_eq!(post(admin, "/v1/services", r#"{"name": "after-upgrade"}"#), Ok(201));
}

#[test]
fn a_new_process_whose_functions_never_get_ready_leaves_the_old_one_serving() {
    let builder = Gateway::builder(CUSTOM).function("echo", "echo");
    let notify = NotifySocket::bind(builder.dir());
    let (gateway, pid_file) = start(builder.env("NOTIFY_SOCKET", notify.env()));
    let mut successors = Successors(Vec::new());
    let old = pid_in(&pid_file);
    assert!(notify.wait_for(0, &["READY=1"], LIMIT).is_some(), "{}", notify.dump());

    // A valid file, so `--upgrade` signals; but its function never asks for work.
    gateway.dir.function("never", "never-ready");
    gateway.dir.write("scfgate.toml", &CUSTOM.replace("code = \"echo\"", "code = \"never\"\ninit_timeout = 1"));
    let from = notify.messages().len();
    let output = upgrade(&gateway.dir.path, &pid_file);
    successors.track(old, &pid_file);
    assert!(!output.status.success(), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("upgrade refused") && said.contains("default/echo:$LATEST 0/2 ready"), "{said}");
    assert_eq!(pid_in(&pid_file), old);
    // systemd hears that the attempt is over and the old process serves.
    let reloading = notify.wait_for(from, &["RELOADING=1"], LIMIT).expect("RELOADING=1");
    assert!(notify.wait_for(reloading + 1, &["READY=1"], LIMIT).is_some(), "{}", notify.dump());
    assert_eq!(gateway.get("/release/echo").status, 200);

    // The same gateway upgrades fine once the file is good again.
    gateway.dir.write("scfgate.toml", CUSTOM);
    let output = upgrade(&gateway.dir.path, &pid_file);
    successors.track(old, &pid_file);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(gateway.get("/release/echo").status, 200);
}

#[test]
fn after_a_failed_upgrade_the_old_process_keeps_its_state_directory() {
    let builder = Gateway::builder(EVERY_LISTENER).function("echo", "echo");
    builder.dir().executable("site/scf_bootstrap", &format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" web\n"));
    write_certificate(&builder.dir().path, "a", "a.example");
    let state_dir = builder.dir().path.join("state");
    let builder = builder
        .arg("--admin-listen", "127.0.0.1:0")
        .arg("--state-dir", state_dir.to_str().unwrap())
        .env("SCFGATE_ADMIN_TOKEN", "");
    let (gateway, pid_file) = start(builder);
    let mut successors = Successors(Vec::new());
    let admin = logged_address(&gateway, "scfgate admin API listening on http://");
    let old = pid_in(&pid_file);

    // The new process cannot load its certificate: it exits before taking over. (With a state
    // directory, `--upgrade` checks only the file's own tables, as `--reload` does; without
    // one it would have refused before signalling.)
    let key = gateway.dir.path.join("a.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let state_flags = ["--state-dir", state_dir.to_str().unwrap()];
    let output = upgrade_with(&gateway.dir.path, &pid_file, &state_flags);
    successors.track(old, &pid_file);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("exited"), "{}", text(&output));
    assert_eq!(pid_in(&pid_file), old);
    // The old process has its state back: it takes changes again.
    assert_eq!(post(admin, "/v1/services", r#"{"name": "still-old"}"#), Ok(201));

    std::fs::write(&key, saved).unwrap();
    let output = upgrade_with(&gateway.dir.path, &pid_file, &state_flags);
    successors.track(old, &pid_file);
    assert!(output.status.success(), "{}", text(&output));
    // The new process read the change the old one took, and takes its own.
    assert_eq!(get(admin, "/v1/services"), Ok(200));
    let mut listing = TcpStream::connect(admin).unwrap();
    listing.write_all(b"GET /v1/services HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = listing.read_to_string(&mut body);
    assert!(body.contains("still-old"), "{body}");
    assert_eq!(post(admin, "/v1/services", r#"{"name": "new"}"#), Ok(201));
}

#[test]
fn a_web_function_on_a_fixed_port_is_not_upgraded_and_the_old_process_serves_on() {
    let port = common::closed_port();
    let config = format!(
        r#"
[[service]]
id = "service-upgrade"
name = "upgrade"

[[service.api]]
name = "site"
path = "/site"
method = "ANY"
function = {{ name = "site" }}

[[function]]
name = "site"
runtime = "web"
code = "site"
port = {port}
"#
    );
    let builder = Gateway::builder(&config);
    builder.dir().executable("site/scf_bootstrap", &format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" web\n"));
    let (gateway, pid_file) = start(builder);
    let mut successors = Successors(Vec::new());
    let old = pid_in(&pid_file);
    assert_eq!(get(gateway.addr(), "/release/site/a"), Ok(200));

    let output = upgrade(&gateway.dir.path, &pid_file);
    successors.track(old, &pid_file);
    assert!(!output.status.success(), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains(&format!("fixed port {port}")) && said.contains("restart instead"), "{said}");
    assert_eq!(pid_in(&pid_file), old);
    assert_eq!(get(gateway.addr(), "/release/site/b"), Ok(200));
}
