//! The command line: `--check` prints the route table of a valid configuration and exits 0; a
//! broken configuration stops `--check` and the gateway with a message naming the file, the
//! service/API/function and the field.

mod common;

use common::{repo_root, run_gateway, TempDir};

#[test]
fn check_prints_the_example_route_table() {
    let config = repo_root().join("examples/hello/scfgate.toml");
    let (status, stdout, stderr) = run_gateway(&["--config", config.to_str().unwrap(), "--check"]);
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "service hello (service-hello01) on any host, stages /release, /test, /prepub", "{stdout}");
    // One line per API, in matching priority: the {param} route before the plain prefixes.
    let position = |name: &str| {
        lines
            .iter()
            .position(|line| line.ends_with(&format!("[{name}]")))
            .unwrap_or_else(|| panic!("no [{name}] in:\n{stdout}"))
    };
    assert!(position("say-hello") < position("hello-root"), "{stdout}");
    let say_hello = lines[position("say-hello")];
    for part in ["GET", "/hello/{name}", "param", "default/hello:$LATEST", "integrated", "timeout 15s"] {
        assert!(say_hello.contains(part), "{part:?} not in {say_hello:?}");
    }
    let echo = lines[position("echo-event")];
    for part in ["ANY", "/echo", "prefix", "default/echo:$LATEST", "pass-through", "timeout 5s"] {
        assert!(echo.contains(part), "{part:?} not in {echo:?}");
    }
    assert!(lines.last().unwrap().ends_with("configuration is valid"), "{stdout}");
    // Checking starts nothing.
    assert!(!stderr.contains("started function process"), "{stderr}");
}

const ORDERED: &str = r#"
[[service]]
id = "service-order"
name = "order"
hosts = ["api.example", "API2.example"]
stages = ["test"]
[[service.api]]
name = "plain-short"
path = "/shop"
method = "ANY"
function = { name = "f" }
[[service.api]]
name = "param-defined-first"
path = "/b/{x}"
method = "GET"
function = { name = "f" }
[[service.api]]
name = "plain-long"
path = "/shop/cart"
method = "ANY"
function = { name = "f" }
[[service.api]]
name = "param-defined-second"
path = "/a/{x}"
method = "GET"
function = { name = "f" }
[[service.api]]
name = "priority"
path = "^~/shop/admin"
method = "ANY"
function = { name = "f" }
[[service.api]]
name = "exact"
path = "=/shop"
method = "POST"
function = { name = "f" }

[[function]]
name = "f"
runtime = "custom"
code = "f"
"#;

#[test]
fn check_lists_apis_in_priority_order() {
    let dir = TempDir::new("cli-order");
    dir.function("f", "echo");
    let file = dir.write("scfgate.toml", ORDERED);
    let (status, stdout, stderr) = run_gateway(&["--config", file.to_str().unwrap(), "--check"]);
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    assert!(
        stdout.starts_with("service order (service-order) on api.example, api2.example, stages /test\n"),
        "{stdout}"
    );
    let names: Vec<&str> =
        stdout.lines().filter_map(|line| line.rsplit_once('[').map(|(_, name)| name.trim_end_matches(']'))).collect();
    // Exact, priority prefix, {param} routes in file order, plain prefixes longest first.
    assert_eq!(
        names,
        ["exact", "priority", "param-defined-first", "param-defined-second", "plain-long", "plain-short"],
        "{stdout}"
    );
}

const VALID: &str = r#"[[service]]
id = "service-cli"
name = "cli"
stages = ["release", "test"]

[[service.api]]
name = "hello"
path = "/hello"
method = "GET"
timeout = 5
function = { name = "hello" }

[[function]]
name = "hello"
runtime = "custom"
code = "fn"
"#;

#[test]
fn broken_configurations_are_refused_with_file_api_and_field() {
    let long_name = "a".repeat(61);
    let api = "service `cli` api `hello`";
    // (rule, text to replace in VALID, replacement, expected message after "<file>")
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, String, String)> = vec![
        // Tencent's console limit: an API name has at most 60 characters.
        ("name length", "name = \"hello\"", format!("name = \"{long_name}\""), format!(": service `cli` api `{long_name}`: field `name`: 61 characters long; at most 60 are allowed")),
        // An API must name a defined [[function]] (namespace and qualifier default).
        ("undefined function", "function = { name = \"hello\" }", "function = { name = \"nope\" }".into(), format!(": {api}: field `function`: no [[function]] is defined as `default/nope:$LATEST`")),
        ("undefined qualifier", "function = { name = \"hello\" }", "function = { name = \"hello\", qualifier = \"2\" }".into(), format!(": {api}: field `function`: no [[function]] is defined as `default/hello:2`")),
        // Methods are Tencent's six.
        ("method", "method = \"GET\"", "method = \"PATCH\"".into(), format!(": {api}: field `method`: `PATCH` is not one of GET, POST, PUT, DELETE, HEAD, ANY")),
        ("timeout", "timeout = 5", "timeout = 0".into(), format!(": {api}: field `timeout`: must be a number of seconds greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout), got 0")),
        // Stages are release, test and prepub.
        ("stage", "stages = [\"release\", \"test\"]", "stages = [\"prod\"]".into(), ": service `cli`: field `stages`: `prod` is not a stage; use release, test or prepub".into()),
        // Two APIs with the same path and method.
        ("conflict", "[[function]]", "[[service.api]]\nname = \"again\"\npath = \"/hello\"\nmethod = \"ANY\"\nfunction = { name = \"hello\" }\n\n[[function]]".into(), ": service `cli` api `again`: field `path`: `ANY /hello` conflicts with api `hello` (`GET /hello`): same path and overlapping method".into()),
        // A custom function's folder must hold an executable bootstrap.
        ("no bootstrap", "code = \"fn\"", "code = \"empty\"".into(), ": function `default/hello:$LATEST`: field `code`: ".into()),
        ("not executable", "code = \"fn\"", "code = \"plain\"".into(), ": function `default/hello:$LATEST`: field `code`: ".into()),
        ("remote url", "runtime = \"custom\"\ncode = \"fn\"", "runtime = \"remote\"\ninvoke_url = \"ftp://127.0.0.1/\"".into(), ": function `default/hello:$LATEST`: field `invoke_url`: must be an http:// URL like `http://127.0.0.1:9000/invoke`".into()),
        // Hosts are matched without a port.
        ("host with port", "stages = [\"release\", \"test\"]", "hosts = [\"a.example:80\"]".into(), ": service `cli`: field `hosts`: `a.example:80`: a port is not allowed; hosts are matched without the Host header's port".into()),
        // Stage variables only for stages the service is published to.
        ("stage variables", "[[service.api]]", "[service.stage_variables.prepub]\nx = \"1\"\n\n[[service.api]]".into(), ": service `cli`: field `stage_variables.prepub`: this service is not published to stage `prepub`".into()),
        // Unknown keys are refused with their line and column.
        ("typo", "timeout = 5", "timeout = 5\nintegrated_respons = true".into(), ":11:1: unknown field `integrated_respons`".into()),
    ];
    let dir = TempDir::new("cli-broken");
    dir.function("fn", "echo");
    std::fs::create_dir_all(dir.path.join("empty")).unwrap();
    dir.write("plain/bootstrap", "#!/bin/sh\n");

    // The base configuration is valid, so each case fails for its own reason only.
    let base = dir.write("base.toml", VALID);
    let (status, _, stderr) = run_gateway(&["--config", base.to_str().unwrap(), "--check"]);
    assert!(status.success(), "the base config is refused: {stderr}");

    let mut failures = Vec::new();
    for (index, (rule, from, to, expected)) in cases.iter().enumerate() {
        assert!(VALID.contains(from), "{rule}: {from:?} not in the base config");
        let file = dir.write(&format!("case{index}.toml"), &VALID.replacen(from, to, 1));
        let path = file.to_str().unwrap();
        let (status, stdout, stderr) = run_gateway(&["--config", path, "--check"]);
        let expected = format!("error: {path}{expected}");
        if status.success() || status.code() != Some(2) {
            failures.push(format!("{rule}: exit {status}"));
        }
        if !stderr.starts_with(&expected) {
            failures.push(format!("{rule}: stderr {stderr:?}\n  expected it to start with {expected:?}"));
        }
        if stdout.contains("configuration is valid") {
            failures.push(format!("{rule}: stdout {stdout:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn the_gateway_refuses_to_start_on_a_broken_configuration() {
    let dir = TempDir::new("cli-start");
    dir.function("fn", "echo");
    let file =
        dir.write("scfgate.toml", &VALID.replace("function = { name = \"hello\" }", "function = { name = \"nope\" }"));
    let path = file.to_str().unwrap();
    let (status, _, stderr) = run_gateway(&["--config", path, "--listen", "127.0.0.1:0"]);
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "{path}: service `cli` api `hello`: field `function`: no [[function]] is defined as `default/nope:$LATEST`"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");

    // A file that does not exist.
    let missing = dir.path.join("missing.toml");
    let (status, _, stderr) = run_gateway(&["--config", missing.to_str().unwrap(), "--check"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains(&format!("{}: cannot read the file", missing.display())), "{stderr}");
}

/// Every duration the file takes, at a value in range.
const DURATIONS: &str = r#"[gateway]
idle_timeout = 75
header_timeout = 10
pool_idle_timeout = 30
shutdown_timeout = 20
websocket_idle_timeout = 600

[[service]]
id = "service-cli"
name = "cli"

[[service.api]]
name = "hello"
path = "/hello"
method = "GET"
timeout = 15
function = { name = "hello" }

[[function]]
name = "hello"
runtime = "custom"
code = "fn"
init_timeout = 30
idle_timeout = 45
"#;

#[test]
fn durations_past_their_range_are_refused_naming_the_field_and_the_range() {
    let api = "service `cli` api `hello`";
    let function = "function `default/hello:$LATEST`";
    // i64::MAX seconds used to pass, then overflowed every deadline: each request got 504 at once.
    let overflow = "9223372036854775807";
    let day = "greater than 0 and at most 86400 (one day)";
    // (the line in DURATIONS, the value it gets, where the error points, the range it states)
    #[rustfmt::skip]
    let cases: &[(&str, &str, String, &str)] = &[
        // spec tencent-migration §3: an API's backend timeout (serviceTimeout) is 1-1800 s.
        ("timeout = 15", "1801", format!("{api}: field `timeout`"), "greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout)"),
        ("timeout = 15", overflow, format!("{api}: field `timeout`"), "greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout)"),
        // spec tencent-migration §1.9: SCF's init timeout is 3-300 s.
        ("init_timeout = 30", "301", format!("{function}: field `init_timeout`"), "greater than 0 and at most 300 (SCF's limit on a function's init timeout)"),
        ("init_timeout = 30", overflow, format!("{function}: field `init_timeout`"), "greater than 0 and at most 300 (SCF's limit on a function's init timeout)"),
        ("idle_timeout = 45", "86401", format!("{function}: field `idle_timeout`"), day),
        ("idle_timeout = 75", overflow, "[gateway]: field `idle_timeout`".into(), day),
        ("header_timeout = 10", "86401", "[gateway]: field `header_timeout`".into(), day),
        ("pool_idle_timeout = 30", overflow, "[gateway]: field `pool_idle_timeout`".into(), day),
        ("shutdown_timeout = 20", "1e300", "[gateway]: field `shutdown_timeout`".into(), day),
        ("websocket_idle_timeout = 600", overflow, "[gateway]: field `websocket_idle_timeout`".into(), day),
    ];
    let dir = TempDir::new("cli-durations");
    dir.function("fn", "echo");
    let base = dir.write("base.toml", DURATIONS);
    let (status, stdout, stderr) = run_gateway(&["--config", base.to_str().unwrap(), "--check"]);
    assert!(status.success() && stdout.contains("configuration is valid"), "the base config is refused: {stderr}");

    let mut failures = Vec::new();
    for (index, (line, value, site, range)) in cases.iter().enumerate() {
        let line = format!("\n{line}\n");
        assert_eq!(DURATIONS.matches(&line).count(), 1, "{line:?} must occur once");
        let key = line.trim().split(" = ").next().unwrap();
        let file =
            dir.write(&format!("case{index}.toml"), &DURATIONS.replacen(&line, &format!("\n{key} = {value}\n"), 1));
        let path = file.to_str().unwrap();
        let (status, _, stderr) = run_gateway(&["--config", path, "--check"]);
        // The value as written, or as a float prints when it is too long for that.
        let shown = if value.len() > 15 { format!("{:?}", value.parse::<f64>().unwrap()) } else { value.to_string() };
        let expected = format!("error: {path}: {site}: must be a number of seconds {range}, got {shown}");
        if status.code() != Some(2) || !stderr.starts_with(&expected) {
            failures.push(format!("{key} = {value}: exit {status}, stderr {stderr:?}\n  expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn duration_flags_past_their_range_are_refused_naming_the_flag() {
    let dir = TempDir::new("cli-duration-flags");
    dir.function("fn", "echo");
    let file = dir.write("scfgate.toml", DURATIONS);
    let path = file.to_str().unwrap();
    for flag in ["--idle-timeout", "--header-timeout", "--pool-idle-timeout", "--shutdown-timeout"] {
        // A value in range is taken.
        let (status, stdout, stderr) = run_gateway(&["--config", path, "--check", flag, "2.5"]);
        assert!(status.success() && stdout.contains("configuration is valid"), "{flag} 2.5: {stderr}");
        for value in ["86401", "9223372036854775807", "1e300"] {
            let (status, _, stderr) = run_gateway(&["--config", path, "--check", flag, value]);
            assert_eq!(status.code(), Some(2), "{flag} {value}: {stderr}");
            let expected = format!(
                "invalid value '{value}' for '{flag} <SECONDS>': must be a number of seconds greater than 0 and at most 86400 (one day)"
            );
            assert!(stderr.contains(&expected), "{flag} {value}: {stderr}\nexpected it to contain {expected:?}");
        }
    }
}
