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

#[test]
fn json_lines_carry_what_a_log_pipeline_expects_and_the_trace_id_reaches_the_function() {
    let gateway = Gateway::builder(CONFIG).function("echo", "echo").arg("--access-log-format", "json").start();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = gateway.request("GET", "/release/echo?x=1", &[("traceparent", traceparent)], b"");
    assert_eq!(response.status, 200);
    // The event's x-b3-traceid is the client's trace id.
    assert_eq!(response.json()["headers"]["x-b3-traceid"], "4bf92f3577b34da6a3ce929d0e0e4736", "{}", response.text());
    let id = response.request_id().to_string();
    assert_eq!(gateway.request("POST", "/release/nothing-here", &[], b"{}").status, 404);

    let json_lines = |lines: &[String]| -> Vec<serde_json::Value> {
        lines.iter().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()).collect()
    };
    let both = |lines: &[String]| json_lines(lines).iter().filter(|line| line["target"] == "access").count() >= 2;
    assert!(gateway.output.wait_for(Duration::from_secs(10), both), "{}", gateway.output.text());
    let lines = json_lines(&gateway.output.lines());
    let served = lines.iter().find(|line| line["request_id"] == id.as_str()).expect("the served request's line");
    let cases: &[(&str, serde_json::Value)] = &[
        ("level", "INFO".into()),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736".into()),
        ("client", "127.0.0.1".into()),
        ("method", "GET".into()),
        ("path", "/release/echo".into()),
        ("service", "service-log".into()),
        ("stage", "release".into()),
        ("api", "echo".into()),
        ("function", "default/echo:$LATEST".into()),
        ("status", 200.into()),
        ("upstream_status", 200.into()),
        ("tls", false.into()),
    ];
    for (field, expected) in cases {
        assert_eq!(&served[*field], expected, "{field} in {served}");
    }
    assert!(served["timestamp"].as_str().is_some_and(|time| time.starts_with("20")), "{served}");
    for field in ["request_bytes", "bytes", "duration_ms", "function_ms"] {
        assert!(served[field].as_f64().is_some_and(|value| value > 0.0), "{field} in {served}");
    }
    let refused = lines.iter().find(|line| line["status"] == 404).expect("the 404's line");
    assert_eq!((refused["method"].as_str(), refused["api"].as_str()), (Some("POST"), Some("")), "{refused}");
    assert!(refused.get("upstream_status").is_none() && refused.get("function_ms").is_none(), "{refused}");
    // Its trace id is its request id: none was sent.
    assert_eq!(refused["trace_id"], refused["request_id"], "{refused}");
}
