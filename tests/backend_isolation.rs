//! Responses never reach the wrong client (issue 14): a careless keep-alive server
//! (`tests/fixtures/careless-server`, Python's `ThreadingHTTPServer`) that leaves request bodies
//! unread, so a body holding a request is served as the next request on the connection, and
//! that writes unsolicited responses, behind the real gateway as a web function and as a remote
//! endpoint. One worker, so every client shares one pool of connections to the server. Each
//! shape is sent many times, and every client must get its own request's marker.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{fixture, request_bytes, Gateway};

/// A request a careless server finds in a body it does not read.
const SMUGGLED: &[u8] = b"GET /internal HTTP/1.1\r\nHost: inside\r\n\r\n";
/// How many times each shape is sent.
const ROUNDS: usize = 10;
/// Clients that follow each shape, on new connections.
const FOLLOWERS: usize = 3;
/// Long enough for the server's unsolicited bytes (50 ms late) to arrive while the connection idles.
const SETTLE: Duration = Duration::from_millis(250);

fn server_script() -> String {
    fixture("careless-server/server.py").display().to_string()
}

/// A gateway with one worker, serving the careless server as a web function under `/app`.
fn web_gateway() -> Gateway {
    let config = r#"
[[service]]
id = "service-careless"
name = "careless"

[[service.api]]
name = "app"
path = "/app"
method = "ANY"
function = { name = "careless" }

[[function]]
name = "careless"
runtime = "web"
code = "careless"
"#;
    let builder = Gateway::builder(config).workers(1);
    builder.dir().executable("careless/scf_bootstrap", &format!("#!/bin/sh\nexec python3 {}\n", server_script()));
    let gateway = builder.start();
    let ready = gateway.output.wait_for_line("web function ready", Duration::from_secs(20));
    assert!(ready, "the web function did not start; output:\n{}", gateway.output.text());
    gateway
}

/// `method path` with `body` on a new connection; the response body as text.
fn call(gateway: &Gateway, method: &str, path: &str, body: &[u8]) -> String {
    let mut client = gateway.connect();
    client.send(&request_bytes(method, path, &gateway.host(), &[], body));
    let response = client.read_response();
    assert_eq!(response.status, 200, "{method} {path}: {}", response.text());
    response.text()
}

/// What the server answers a request for `marker` (as a remote endpoint, JSON).
fn answer_for(marker: &str, remote: bool) -> String {
    if remote {
        format!(r#"{{"marker": "{marker}"}}"#)
    } else {
        format!("marker={marker}")
    }
}

/// `FOLLOWERS` clients, each on a new connection under `path`, each getting its own marker.
fn followers_get_their_own(gateway: &Gateway, path: &str, round: usize) {
    let remote = path.starts_with("/release/remote");
    for follower in 0..FOLLOWERS {
        let marker = format!("f{round}x{follower}");
        let answer = call(gateway, "GET", &format!("{path}/{marker}"), b"");
        assert_eq!(answer, answer_for(&marker, remote), "round {round}, client {follower} got another's response");
    }
}

#[test]
fn a_request_hidden_in_a_body_the_function_ignores_never_answers_another_client() {
    let gateway = web_gateway();
    for round in 0..ROUNDS {
        for method in ["GET", "DELETE", "OPTIONS"] {
            let marker = format!("a{round}{method}");
            let answer = call(&gateway, method, &format!("/release/app/public/{marker}"), SMUGGLED);
            assert_eq!(answer, format!("marker={marker}"));
        }
        followers_get_their_own(&gateway, "/release/app/public", round);
    }
    // The function was asked to close after each of those requests, so it never read the hidden
    // one: the path the gateway does not route was never served.
    assert_eq!(gateway.output.count("served /internal"), 0, "output:\n{}", gateway.output.text());
}

#[test]
fn a_function_that_reads_posted_bodies_as_requests_is_caught_and_then_closed_after_bodies() {
    let gateway = web_gateway();
    // Connections are reused after POSTs while the function behaves: the first hidden request is
    // served, and its answer arrives on the idle pooled connection.
    assert_eq!(call(&gateway, "POST", "/release/app/public/p0", SMUGGLED), "marker=p0");
    assert!(
        gateway.output.wait_for_line("served /internal", Duration::from_secs(10)),
        "output:\n{}",
        gateway.output.text()
    );
    thread::sleep(SETTLE);
    // That connection spoke while idle: closed, never handed out.
    followers_get_their_own(&gateway, "/release/app/public", 0);
    let warned = gateway.output.wait_for_line("leaves bodies unread", Duration::from_secs(10));
    assert!(warned, "no warning about the function; output:\n{}", gateway.output.text());
    // From then on a request with a body asks the function to close after answering: nothing
    // hidden in a body is served again, and every client gets its own answer.
    for round in 1..ROUNDS {
        let marker = format!("p{round}");
        assert_eq!(
            call(&gateway, "POST", &format!("/release/app/public/{marker}"), SMUGGLED),
            format!("marker={marker}")
        );
        followers_get_their_own(&gateway, "/release/app/public", round);
    }
    assert_eq!(gateway.output.count("served /internal"), 1, "output:\n{}", gateway.output.text());
}

#[test]
fn an_unsolicited_response_from_a_web_function_is_never_read_as_the_next_answer() {
    let gateway = web_gateway();
    for round in 0..ROUNDS {
        let marker = format!("u{round}");
        assert_eq!(
            call(&gateway, "GET", &format!("/release/app/unsolicited/{marker}"), b""),
            format!("marker={marker}")
        );
        thread::sleep(SETTLE);
        followers_get_their_own(&gateway, "/release/app/public", round);
    }
}

/// The careless server as a remote endpoint; killed on drop.
struct RemoteServer {
    child: Child,
    port: u16,
}

impl RemoteServer {
    fn start() -> RemoteServer {
        let mut child = Command::new("python3")
            .arg(server_script())
            .arg("--remote")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the server's port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("bad port line {line:?}"));
        RemoteServer { child, port }
    }
}

impl Drop for RemoteServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_unsolicited_response_from_a_remote_endpoint_is_never_read_as_the_next_answer() {
    let server = RemoteServer::start();
    let config = format!(
        r#"
[[service]]
id = "service-remote"
name = "remote"

[[service.api]]
name = "remote"
path = "/remote"
method = "ANY"
function = {{ name = "remote" }}

[[function]]
name = "remote"
runtime = "remote"
invoke_url = "http://127.0.0.1:{port}/remote"
"#,
        port = server.port
    );
    let gateway = Gateway::builder(&config).workers(1).start();
    for round in 0..ROUNDS {
        let marker = format!("s{round}");
        let answer = call(&gateway, "GET", &format!("/release/remote/unsolicited/{marker}"), b"");
        assert_eq!(answer, answer_for(&marker, true));
        thread::sleep(SETTLE);
        followers_get_their_own(&gateway, "/release/remote", round);
    }
}
