//! Tencent's standard runtimes (issue 16): Python and Node.js handlers written as Tencent's demos
//! write them (`tests/fixtures/standard/`), run unchanged behind the real gateway on this
//! machine's `python3` and `node`: sync and async, pass-through and integrated, a file read beside
//! the code, a vendored module, an error, a value that is not JSON, a slow init and a failing one;
//! and what `--check` says of a handler or runtime that cannot run.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{fixture, Gateway, GATEWAY_BIN};

/// One API per handler: `(path, function name, runtime, handler, integrated response)`.
const HANDLERS: &[(&str, &str, &str, &str, bool)] = &[
    ("/py", "py", "Python3.9", "index.main_handler", false),
    ("/py-integrated", "py-integrated", "python3.6", "index.integrated", true),
    ("/py-fails", "py-fails", "Python3.10", "index.fails", false),
    ("/py-not-json", "py-not-json", "Python3.7", "index.not_json", false),
    ("/py-slow", "py-slow", "Python3.9", "slow.main_handler", false),
    ("/py-broken", "py-broken", "Python3.9", "broken.main_handler", false),
    ("/node", "node", "Nodejs16.13", "index.main_handler", false),
    ("/node-callback", "node-callback", "Nodejs12.16", "index.callback_style", false),
    ("/node-promise", "node-promise", "Nodejs14.18", "index.promise_style", false),
    ("/node-integrated", "node-integrated", "Nodejs18.15", "index.integrated", true),
    ("/node-fails", "node-fails", "Nodejs16.13", "index.fails", false),
    ("/node-callback-error", "node-callback-error", "Nodejs16.13", "index.callback_error", false),
];

fn config() -> String {
    let python = fixture("standard/python");
    let node = fixture("standard/node");
    let mut text = String::from("[[service]]\nid = \"service-standard\"\nname = \"standard\"\n");
    for (path, function, _, _, integrated) in HANDLERS {
        // `$DEFAULT`, SCF's default alias, reaches the `$LATEST` function for one of them.
        let qualifier = if *function == "py" { ", qualifier = \"$DEFAULT\"" } else { "" };
        text.push_str(&format!(
            "[[service.api]]\nname = \"{function}\"\npath = \"{path}\"\nmethod = \"ANY\"\ntimeout = 20\nintegrated_response = {integrated}\nfunction = {{ name = \"{function}\"{qualifier} }}\n"
        ));
    }
    for (_, function, runtime, handler, _) in HANDLERS {
        let code = if runtime.to_ascii_lowercase().starts_with("python") { &python } else { &node };
        let extra = if *function == "py" { "environment = { MY_VAR = \"from the table\" }\n" } else { "" };
        text.push_str(&format!(
            "[[function]]\nname = \"{function}\"\nruntime = \"{runtime}\"\nhandler = \"{handler}\"\ncode = \"{}\"\nmemory_limit_in_mb = 256\n{extra}",
            code.display()
        ));
    }
    text
}

fn start() -> Gateway {
    let gateway = Gateway::start(&config());
    // Every instance has started once it asked for an event (`/next`); the slow one takes a second.
    gateway
}

#[test]
fn python_and_node_handlers_run_unchanged() {
    let gateway = start();
    // Python: the event and Tencent's context, a file and a vendored module, init once.
    let response = gateway.get("/release/py/items?color=red");
    assert_eq!(response.status, 200, "{}", response.text());
    let value = response.json();
    assert_eq!(value["greeting"], "Hello from a file");
    assert_eq!(value["path"], "/py/items");
    assert_eq!(value["query"]["color"], "red");
    assert_eq!(value["request_id"], response.request_id());
    assert_eq!((value["function_name"].as_str(), value["namespace"].as_str()), (Some("py"), Some("default")));
    assert_eq!((value["version"].as_str(), value["memory"].as_i64()), (Some("$LATEST"), Some(256)));
    assert_eq!(value["time_limit"], 20000);
    assert_eq!(value["my_var"], "from the table");
    assert_eq!(value["helper"], "HI!");
    assert_eq!(pid_inits(&gateway, "/release/py"), 1, "global code runs once per instance");
    // Its print() reaches the log with the function and the request id.
    let printed = gateway.output.wait_for(Duration::from_secs(10), |lines| {
        lines.iter().any(|line| {
            line.contains("python handler called for /py/items")
                && line.contains("function=default/py:$LATEST")
                && line.contains(response.request_id())
        })
    });
    assert!(printed, "{}", gateway.output.text());

    // Node: async, callback and promise styles.
    let response = gateway.get("/release/node/x");
    assert_eq!(response.status, 200, "{}", response.text());
    let value = response.json();
    assert_eq!((value["greeting"].as_str(), value["path"].as_str()), (Some("Hello from a file"), Some("/node/x")));
    assert_eq!((value["helper"].as_str(), value["remaining"].as_bool()), (Some("HI!"), Some(true)));
    assert_eq!(value["request_id"], response.request_id());
    assert_eq!(gateway.get("/release/node-callback").json()["style"], "callback");
    assert_eq!(gateway.get("/release/node-promise").json()["style"], "promise");

    // Integrated responses.
    for (path, status, made_by, body) in [
        ("/release/py-integrated", 201, "python", "made by python"),
        ("/release/node-integrated", 202, "node", "made by node"),
    ] {
        let response = gateway.get(path);
        assert_eq!((response.status, response.text()), (status, body.to_string()), "{path}");
        assert_eq!(response.header("x-made-by"), Some(made_by));
    }

    // A slow init: the first event waits for it.
    assert_eq!(gateway.get("/release/py-slow").json()["slow"], "ready");
}

/// The `inits` a function's instances report: global code ran once for each.
fn pid_inits(gateway: &Gateway, path: &str) -> i64 {
    (0..4).map(|_| gateway.get(path).json()["inits"].as_i64().unwrap_or(-1)).max().unwrap_or(-1)
}

#[test]
fn errors_reach_the_client_in_tencents_shape_and_the_log_with_the_traceback() {
    let gateway = start();
    // (path, status code in the body, text the message or stack must hold)
    let cases = [
        ("/release/py-fails", 430, "boom from python"),
        ("/release/node-fails", 430, "boom from node"),
        ("/release/node-callback-error", 430, "callback error from node"),
        ("/release/py-not-json", 443, "not JSON"),
        ("/release/py-broken", 445, "cannot connect to the database at init"),
    ];
    for (path, status_code, text) in cases {
        let response = gateway.get(path);
        assert_eq!(response.status, 502, "{path}: {}", response.text());
        let body = response.json();
        assert_eq!(body["errorCode"], -1, "{path}: {body}");
        assert_eq!(body["statusCode"], status_code, "{path}: {body}");
        assert_eq!(body["requestId"], response.request_id(), "{path}");
        let message = format!("{} {}", body["errorMessage"], body["stackTrace"]);
        assert!(message.contains(text), "{path}: {body}");
    }
    let traced = gateway.output.wait_for(Duration::from_secs(10), |lines| {
        lines
            .iter()
            .any(|line| line.contains("function=default/py-fails") && line.contains("ValueError: boom from python"))
    });
    assert!(traced, "{}", gateway.output.text());
    // The function keeps serving after its errors.
    assert_eq!(gateway.get("/release/py").status, 200);
}

/// `scfgate --check` on `config`, written to `dir`: (exit code, stderr).
fn check(dir: &Path, config: &str) -> (i32, String) {
    let file = dir.join("check.toml");
    std::fs::write(&file, config).unwrap();
    let output = Command::new(GATEWAY_BIN).arg("--config").arg(&file).arg("--check").output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn check_refuses_what_cannot_run_naming_the_function_and_field() {
    let dir = std::env::temp_dir().join(format!("scfgate-standard-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let python = fixture("standard/python");
    let function = |runtime: &str, extra: &str| {
        format!(
            "[[service]]\nid = \"service-c\"\nname = \"c\"\n[[service.api]]\nname = \"a\"\npath = \"/a\"\nmethod = \"GET\"\nfunction = {{ name = \"f\" }}\n[[function]]\nname = \"f\"\nruntime = \"{runtime}\"\ncode = \"{}\"\n{extra}",
            python.display()
        )
    };
    // (runtime, extra keys, text the error must hold)
    let cases = [
        ("Python3.9", "handler = \"missing.main_handler\"", "field `handler`: `missing.main_handler` needs missing.py"),
        ("Python3.9", "handler = \"main_handler\"", "field `handler`: `main_handler` is not `file.function`"),
        ("Go1", "", "field `runtime`: `Go1`: Tencent's Go runtime"),
        ("Java8", "", "field `runtime`: `Java8`: Java handlers"),
        ("Ruby2.5", "", "field `runtime`: `Ruby2.5` is not a runtime scfgate knows"),
        ("Python3.9", "interpreter = \"/nonexistent/python3\"", "field `interpreter`: `/nonexistent/python3`"),
        ("Nodejs16.13", "", "field `handler`: `index.main_handler` needs index.js"),
    ];
    for (runtime, extra, expected) in cases {
        let (code, stderr) = check(&dir, &function(runtime, extra));
        assert_eq!(code, 2, "{runtime} {extra}: {stderr}");
        assert!(
            stderr.contains("function `default/f:$LATEST`") && stderr.contains(expected),
            "{runtime} {extra}: {stderr}"
        );
    }
    let (code, stderr) = check(&dir, &function("Python3.9", ""));
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
