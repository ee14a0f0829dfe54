//! Web functions as Tencent's templates write them (issue 16): a Flask app and an Express app
//! (`tests/fixtures/templates/`) whose `scf_bootstrap` calls `/var/lang/python3/bin/python3` and
//! `/var/lang/node16/bin/node` and listens on 9000, SCF's port, run with their files untouched;
//! and one that listens on 9000 though the gateway gave it another port is told the fix at once.
//!
//! One test, in steps: every step's server takes port 9000, which only one can hold at a time.

mod common;

use std::time::Duration;

use common::{fixture, Gateway};

/// A web function `app` behind `/` (the app sees the path after the stage, as on Tencent), its
/// code in `folder`, on `port` (none: the gateway picks).
fn config(folder: &str, port: Option<u16>) -> String {
    let port = port.map(|port| format!("port = {port}\n")).unwrap_or_default();
    format!(
        r#"
[[service]]
id = "service-templates"
name = "templates"
[[service.api]]
name = "app"
path = "/"
method = "ANY"
timeout = 20
function = {{ name = "app" }}
[[function]]
name = "app"
runtime = "web"
code = "{}"
init_timeout = 15
{port}"#,
        fixture(folder).display()
    )
}

#[test]
fn tencents_flask_and_express_templates_run_untouched_and_a_server_on_the_wrong_port_is_told_the_fix() {
    assert!(
        fixture("templates/express/node_modules/express").is_dir(),
        "Express is not installed for the template test: run scripts/setup-debian.sh (npm ci in tests/fixtures/templates/express)"
    );
    for (folder, greeting) in [
        ("templates/flask", "Hello Flask from a web function"),
        ("templates/express", "Hello Express from a web function"),
    ] {
        let gateway = Gateway::start(&config(folder, Some(9000)));
        let root = gateway.get("/release/");
        assert_eq!((root.status, root.text()), (200, greeting.to_string()), "{folder}: {}", gateway.output.text());
        let response = gateway.request(
            "POST",
            "/release/user/ada?lang=zh",
            &[("Content-Type", "application/json")],
            br#"{"k":1}"#,
        );
        assert_eq!(response.status, 200, "{folder}: {}", response.text());
        let value = response.json();
        assert_eq!(
            (value["name"].as_str(), value["method"].as_str()),
            (Some("ada"), Some("POST")),
            "{folder}: {value}"
        );
        assert_eq!(value["query"]["lang"], "zh", "{folder}: {value}");
        // Run from a mapped copy: the bootstrap in the fixture folder is as Tencent wrote it.
        let bootstrap = std::fs::read_to_string(fixture(folder).join("scf_bootstrap")).unwrap();
        assert!(bootstrap.contains("/var/lang/"), "{folder}");
    }

    // The Express template exports PORT=9000 itself: without `port = 9000` the port the gateway
    // gave it is never listened on, and the gateway says so at once (not after init_timeout).
    let gateway = Gateway::start(&config("templates/express", None));
    let told = gateway.output.wait_for_line("listens on port 9000", Duration::from_secs(10));
    assert!(told, "{}", gateway.output.text());
    let response = gateway.get("/release/");
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(response.text().contains("set `port = 9000`"), "{}", response.text());
}
