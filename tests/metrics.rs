//! Metrics and health, as a monitoring system sees them: `/metrics` scraped after known traffic
//! counts exactly that traffic (per API, per error kind, per function), in the Prometheus text
//! format or OpenMetrics; the counts survive a reload; `/healthz` and `/readyz` say whether the
//! gateway is up and whether its warm functions are ready, naming the one that is not. Both on
//! `--metrics-listen` and on the admin listener.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::metrics::{get, metrics_address, sample, scrape, scrape_until, value};
use common::{Gateway, Response};

const LIMIT: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
[[service]]
id = "service-m"
name = "metered"
[[service.api]]
name = "echo"
path = "/echo"
method = "GET"
function = { name = "echo" }
[[function]]
name = "echo"
runtime = "custom"
code = "echo"
"#;

/// Asks `path` until it answers `status` (or the limit passes); the last answer.
fn wait_for_status(address: SocketAddr, path: &str, status: u16) -> Response {
    let deadline = Instant::now() + LIMIT;
    loop {
        let response = get(address, path, &[]);
        if response.status == status || Instant::now() >= deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const ECHO: &str = r#"{service="service-m",stage="release",api="echo",method="GET""#;
const UNMATCHED: &str = r#"{service="",stage="",api="",method="""#;

#[test]
fn a_scrape_counts_the_traffic_that_was_sent() {
    let gateway =
        Gateway::builder(CONFIG).function("echo", "echo").arg("--metrics-listen", "127.0.0.1:0").workers(2).start();
    let metrics = metrics_address(&gateway);
    for _ in 0..5 {
        assert_eq!(gateway.get("/release/echo?x=1").status, 200);
    }
    assert_eq!(gateway.get("/release/nothing-here").status, 404);
    assert_eq!(gateway.get("/release/nothing-here").status, 404);
    assert_eq!(gateway.request("POST", "/release/echo", &[], b"{}").status, 405);
    assert_eq!(gateway.get("/release/echo?scf_crash=1").status, 502);

    let text = scrape_until(metrics, |text| {
        sample(text, r#"scfgate_function_restarts_total{function="default/echo:$LATEST",kind="event"}"#) == Some(1.0)
    });
    let cases: &[(String, f64)] = &[
        (format!("scfgate_requests_total{ECHO},code=\"2xx\"}}"), 5.0),
        (format!("scfgate_requests_total{ECHO},code=\"5xx\"}}"), 1.0),
        (format!("scfgate_requests_total{UNMATCHED},code=\"4xx\"}}"), 3.0),
        (format!("scfgate_request_duration_seconds_count{ECHO}}}"), 6.0),
        (format!("scfgate_function_duration_seconds_count{ECHO}}}"), 6.0),
        (format!("scfgate_request_duration_seconds_bucket{ECHO},le=\"+Inf\"}}"), 6.0),
        (r#"scfgate_gateway_errors_total{kind="no_route"}"#.into(), 2.0),
        (r#"scfgate_gateway_errors_total{kind="method_not_allowed"}"#.into(), 1.0),
        (r#"scfgate_gateway_errors_total{kind="function_crashed"}"#.into(), 1.0),
        (r#"scfgate_gateway_errors_total{kind="rate_limited"}"#.into(), 0.0),
        (r#"scfgate_function_crashes_total{function="default/echo:$LATEST",kind="event"}"#.into(), 1.0),
        (r#"scfgate_function_restarts_total{function="default/echo:$LATEST",kind="event"}"#.into(), 1.0),
        (r#"scfgate_function_starts_total{function="default/echo:$LATEST",kind="event"}"#.into(), 2.0),
        (r#"scfgate_function_queue_wait_seconds_count{function="default/echo:$LATEST"}"#.into(), 6.0),
        ("scfgate_connections_accepted_total".into(), 9.0),
        ("scfgate_config_generation".into(), 1.0),
        (r#"scfgate_config_reloads_total{result="applied"}"#.into(), 0.0),
    ];
    for (series, expected) in cases {
        assert_eq!(value(&text, series), *expected, "{series} in:\n{text}");
    }
    // Bytes: each 200 carried the event back, so far more than the 5 request heads.
    let sent = value(&text, &format!("scfgate_request_bytes_total{ECHO}}}"));
    let received = value(&text, &format!("scfgate_response_bytes_total{ECHO}}}"));
    assert!(sent > 5.0 * 40.0 && received > sent, "request {sent} B, response {received} B");
    assert!(value(&text, "process_resident_memory_bytes") > 1e6);
    assert!(value(&text, "process_open_fds") >= 3.0);
    // An API never called on a stage adds no series.
    assert!(!text.contains(r#"stage="test""#), "{text}");

    let open = get(metrics, "/metrics", &[("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")]);
    assert_eq!(open.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    let open = open.text();
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains("# TYPE scfgate_requests counter\n"), "{open}");
}

#[test]
fn counts_survive_a_reload_and_reloads_are_counted() {
    let gateway =
        Gateway::builder(CONFIG).function("echo", "echo").arg("--metrics-listen", "127.0.0.1:0").workers(1).start();
    let metrics = metrics_address(&gateway);
    for _ in 0..3 {
        assert_eq!(gateway.get("/release/echo").status, 200);
    }
    let sighup = || {
        // SAFETY: kill(2) on the gateway child's pid; no memory involved.
        unsafe { libc::kill(gateway.pid() as i32, libc::SIGHUP) };
    };
    gateway.dir.write("scfgate.toml", "[[service]]\nid = 3\n");
    sighup();
    let refused =
        scrape_until(metrics, |text| sample(text, r#"scfgate_config_reloads_total{result="refused"}"#) == Some(1.0));
    assert_eq!(value(&refused, "scfgate_config_last_reload_successful"), 0.0, "{refused}");
    assert_eq!(value(&refused, "scfgate_config_generation"), 1.0);

    // The same API under a second path: the reload keeps `echo`'s series.
    let more = format!("{CONFIG}[[service.api]]\nname = \"again\"\npath = \"/again\"\nmethod = \"GET\"\nfunction = {{ name = \"echo\" }}\n");
    gateway.dir.write("scfgate.toml", &more);
    sighup();
    // Counted once every worker serves it, so after the generation shows.
    let applied =
        scrape_until(metrics, |text| sample(text, r#"scfgate_config_reloads_total{result="applied"}"#) == Some(1.0));
    assert_eq!(value(&applied, "scfgate_config_generation"), 2.0, "{applied}");
    assert_eq!(value(&applied, "scfgate_config_last_reload_successful"), 1.0);
    assert!(value(&applied, "scfgate_config_last_reload_timestamp_seconds") > 1.7e9);
    assert_eq!(gateway.get("/release/echo").status, 200);
    assert_eq!(gateway.get("/release/again").status, 200);
    let after = scrape(metrics);
    assert_eq!(value(&after, &format!("scfgate_requests_total{ECHO},code=\"2xx\"}}")), 4.0, "{after}");
    let again = r#"scfgate_requests_total{service="service-m",stage="release",api="again",method="GET",code="2xx"}"#;
    assert_eq!(value(&after, again), 1.0);

    // What the shipped dashboard, the alert examples and the README's table name is what a
    // scrape has.
    let root = common::repo_root();
    for document in ["docs/grafana-dashboard.json", "docs/prometheus.yml", "README.md"] {
        let text = std::fs::read_to_string(root.join(document)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 3, "{document} names {names:?}");
        for name in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .fold(name.as_str(), |name, suffix| name.strip_suffix(suffix).unwrap_or(name));
            assert!(after.contains(&format!("# TYPE {family} ")), "{document} names {name}, which a scrape lacks");
        }
    }
}

/// The `scfgate_*` and `process_*` metric names in a document.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (start, _) in text.match_indices("scfgate_").chain(text.match_indices("process_")) {
        let preceded = text[..start].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let name: String =
            text[start..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        // Metric names have a second word; `scfgate_` alone, or a file name, is not one.
        if !preceded && name.matches('_').count() >= 2 && !text[start + name.len()..].starts_with('.') {
            names.insert(name);
        }
    }
    names
}

#[test]
fn readyz_names_a_warm_function_that_is_not_ready_until_a_reload_removes_it() {
    let config =
        format!("{CONFIG}[[function]]\nname = \"broken\"\nruntime = \"custom\"\ncode = \"broken\"\ninstances = 1\n");
    let gateway = Gateway::builder(&config)
        .function("echo", "echo")
        .function("broken", "exit-at-start")
        .arg("--metrics-listen", "127.0.0.1:0")
        .workers(1)
        .start();
    let metrics = metrics_address(&gateway);
    let health = get(metrics, "/healthz", &[]);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    // While the workers start, that is the reason; then the function that never gets ready.
    let deadline = Instant::now() + LIMIT;
    let mut ready = get(metrics, "/readyz", &[]);
    while !ready.text().contains("default/broken") && Instant::now() < deadline {
        assert_eq!(ready.status, 503, "{}", ready.text());
        assert!(ready.text().contains("not every worker serves configuration generation 1 yet"), "{}", ready.text());
        std::thread::sleep(Duration::from_millis(20));
        ready = get(metrics, "/readyz", &[]);
    }
    assert_eq!(ready.status, 503, "{}", ready.text());
    let text = ready.text();
    assert!(text.starts_with("not ready: local functions not ready: "), "{text}");
    assert!(text.contains("default/broken:$LATEST 0/1 ready"), "{text}");
    // Its process keeps exiting at start: crashes counted, each start after one a restart.
    let text = scrape_until(metrics, |text| {
        sample(text, r#"scfgate_function_crashes_total{function="default/broken:$LATEST",kind="event"}"#)
            .is_some_and(|crashes| crashes >= 2.0)
    });
    let restarts = value(&text, r#"scfgate_function_restarts_total{function="default/broken:$LATEST",kind="event"}"#);
    assert!(restarts >= 1.0, "{text}");
    assert_eq!(
        value(&text, r#"scfgate_function_instances{function="default/echo:$LATEST",kind="event",state="idle"}"#),
        1.0
    );

    gateway.dir.write("scfgate.toml", CONFIG);
    // SAFETY: kill(2) on the gateway child's pid; no memory involved.
    unsafe { libc::kill(gateway.pid() as i32, libc::SIGHUP) };
    let ready = wait_for_status(metrics, "/readyz", 200);
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    assert_eq!(get(metrics, "/nowhere", &[]).status, 404);
}

#[test]
fn the_admin_listener_serves_the_same_paths() {
    let state = common::TempDir::new("metrics-admin");
    let gateway = Gateway::builder(CONFIG)
        .function("echo", "echo")
        .arg("--admin-listen", "127.0.0.1:0")
        .arg("--state-dir", state.path.join("state").to_str().unwrap())
        .env("SCFGATE_ADMIN_TOKEN", "")
        .workers(1)
        .start();
    const ADMIN_MARK: &str = "scfgate admin API listening on http://";
    assert!(gateway.output.wait_for_line(ADMIN_MARK, LIMIT), "{}", gateway.output.text());
    let line = gateway.output.lines().into_iter().find(|line| line.contains(ADMIN_MARK)).unwrap();
    let admin: SocketAddr =
        line[line.find(ADMIN_MARK).unwrap() + ADMIN_MARK.len()..].split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(gateway.get("/release/echo").status, 200);
    let text = scrape(admin);
    assert_eq!(value(&text, &format!("scfgate_requests_total{ECHO},code=\"2xx\"}}")), 1.0, "{text}");
    // The function host publishes its instances' readiness once per tick: poll.
    let ready = wait_for_status(admin, "/readyz", 200);
    assert_eq!(ready.status, 200, "{}", ready.text());
    let history = get(admin, "/v1/metrics/history", &[]);
    assert_eq!(history.status, 200, "{}", history.text());
    let report = history.json();
    let api = report["apis"].as_array().unwrap().iter().find(|api| api["api"] == "echo").expect("echo in the history");
    let requests: u64 = api["points"].as_array().unwrap().iter().map(|point| point["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 1, "{report}");
    assert_eq!(report["functions"][0]["function"], "default/echo:$LATEST", "{report}");
}
