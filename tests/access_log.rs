//! The access log (`--access-log`): one line per request with its id, path and status, and 499
//! for a client that left before its answer was written, as Tencent logs it. Off by default.

mod common;

use std::time::Duration;

use common::{log_field, Gateway};

const CONFIG: &str = r#"
[[service]]
id = "service-log"
name = "log"
[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }
[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;

fn access_lines(gateway: &Gateway) -> Vec<String> {
    gateway.output.lines().into_iter().filter(|line| line.contains(" access: ")).collect()
}

#[test]
fn each_request_gets_a_line_and_a_departed_client_is_499() {
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").flag("--access-log").start();
    let response = gateway.get("/release/echo?x=1");
    assert_eq!(response.status, 200);
    let id = response.request_id().to_string();
    // The function logs the id too: wait for the access line itself.
    let logged = |lines: &[String]| lines.iter().any(|line| line.contains(" access: ") && line.contains(&id));
    assert!(gateway.output.wait_for(Duration::from_secs(10), logged), "{}", gateway.output.text());
    let line = access_lines(&gateway).into_iter().find(|line| line.contains(&id)).unwrap();
    assert_eq!(log_field(&line, "status"), Some("200"), "{line}");
    assert_eq!(log_field(&line, "path"), Some("/release/echo"), "{line}");
    assert_eq!(log_field(&line, "method"), Some("GET"), "{line}");

    // A client that closes while its function runs.
    let mut client = gateway.connect();
    client.send_request("GET", "/release/echo?scf_sleep_ms=600", &gateway.host(), &[], b"");
    assert!(gateway.output.wait_for_line("scf-example-function[echo] request_id=", Duration::from_secs(10)));
    drop(client);
    let found = gateway.output.wait_for(Duration::from_secs(20), |lines| {
        lines.iter().any(|line| line.contains(" access: ") && log_field(line, "status") == Some("499"))
    });
    assert!(found, "{}", gateway.output.text());
    // The worker and the function are unharmed.
    assert_eq!(gateway.get("/release/echo").status, 200);
}

#[test]
fn the_access_log_is_off_unless_asked_for() {
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").start();
    assert_eq!(gateway.get("/release/echo").status, 200);
    assert_eq!(gateway.get("/release/nothing-here").status, 404);
    assert!(access_lines(&gateway).is_empty(), "{:?}", access_lines(&gateway));
}
