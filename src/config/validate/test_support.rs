//! Fixtures the section tests share: a scratch folder standing for a config file's folder, the
//! example files whose lines the tables of cases edit, and the runner of those tables.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::parse_str;
use crate::config::Overrides;

/// A scratch folder under the system temp dir, removed on drop, standing for a config file's
/// folder: `functions/hello/bootstrap` is executable, `functions/plain/bootstrap` is not, and
/// `functions/empty/` has no bootstrap.
pub(super) struct Scratch {
    pub(super) dir: PathBuf,
}

impl Scratch {
    pub(super) fn new(label: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "scfgate-config-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (function, mode) in [("hello", 0o755), ("plain", 0o644)] {
            let folder = dir.join("functions").join(function);
            std::fs::create_dir_all(&folder).unwrap();
            let bootstrap = folder.join("bootstrap");
            std::fs::write(&bootstrap, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::create_dir_all(dir.join("functions/empty")).unwrap();
        let web = dir.join("functions/web/scf_bootstrap");
        std::fs::create_dir_all(web.parent().unwrap()).unwrap();
        std::fs::write(&web, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&web, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir }
    }

    pub(super) fn source(&self) -> PathBuf {
        self.dir.join("scfgate.toml")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every feature once; each error case below edits one line of it.
pub(super) const FULL: &str = r#"[gateway]
listen = ["127.0.0.1:8080", "[::1]:8081"]
workers = 2
driver = "legacy"
max_header_bytes = 8192
max_body_bytes = 1024
max_response_bytes = 2048
idle_timeout = 1.5
header_timeout = 5
queue_depth = 7
pool_size = 3
pool_idle_timeout = 20

[[service]]
id = "service-hello01"
name = "hello"
hosts = ["API.Example.com", "127.0.0.1"]
stages = ["release", "test"]

[service.stage_variables.release]
greeting = "Hello"
audience = "world"

[service.stage_variables.test]
greeting = "Hi"

[[service.api]]
name = "say-hello"
path = "/hello/{name}"
method = "GET"
function = { name = "hello" }
timeout = 2.5

[[service.api]]
name = "echo"
path = "=/echo"
method = "post"
function = { name = "echo", namespace = "tools", qualifier = "1" }
integrated_response = true

[[service.api]]
name = "static"
path = "^~/static"
method = "ANY"
function = { name = "hello" }

[[service]]
id = "service-other02"
name = "other"

[[service.api]]
name = "root"
path = "/"
method = "head"
function = { name = "hello" }

[[function]]
name = "hello"
runtime = "custom"
code = "functions/hello"
handler = "app.handle"
instances = 2
init_timeout = 3
max_instances = 5
idle_timeout = 45
memory_limit_in_mb = 256

[[function]]
name = "echo"
namespace = "tools"
qualifier = "1"
runtime = "remote"
invoke_url = "http://127.0.0.1:9000/invoke?x=1"
"#;

/// The smallest valid file, for defaults.
pub(super) const MINIMAL: &str = r#"[[service]]
id = "service-min"
name = "min"

[[service.api]]
name = "all"
path = "/"
method = "ANY"
function = { name = "hello" }

[[function]]
name = "hello"
runtime = "custom"
code = "functions/hello"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1"
"#;

/// Every frontend policy once (issue 3); each case of `policy_errors` edits one line of it.
pub(super) const POLICY: &str = r#"
[[service]]
id = "service-shop01"
name = "shop"
stages = ["release", "test"]

[[service.api]]
name = "item"
path = "/item/{id}"
method = "GET"
function = { name = "far" }
auth = "key_pair"
protocol = "http"
cors = true
cors_origins = ["https://App.example.com", "http://localhost:3000"]

[[service.api.param]]
name = "id"
position = "path"
type = "long"
required = true

[[service.api.param]]
name = "page"
position = "query"
type = "int"
default = "1"
desc = "page number"
sample = "2"

[[service.api.param]]
name = "X-Trace"
position = "Header"

[[service.api]]
name = "me"
path = "=/me"
method = "GET"
function = { name = "far" }
auth = "oauth"
cors = true

[service.api.oauth]
public_key = '{"kty":"EC","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}'
token_location = "cookie:id_token"
iss = "https://auth.example.com"
aud = "shop"

[[usage_plan]]
name = "gold"
secret_ids = ["AKIDgold"]
max_requests_per_second = 100
quota_per_day = 10000
environments = [{ service = "service-shop01", stage = "release" }]

[[usage_plan]]
name = "stage-wide"
max_requests_per_second = 1000
environments = [{ service = "service-shop01", stage = "release" }, { service = "service-shop01", stage = "test" }]

[[secret]]
id = "AKIDgold"
key = "gold-key"

[[secret]]
id = "AKIDpath"
key_env = "PATH"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;

/// A WebSocket API and the three functions it names; the cases below edit one line of it.
pub(super) const WEBSOCKET: &str = r#"[gateway]
push_listen = "127.0.0.1:9095"
websocket_max_message_bytes = 4096
websocket_idle_timeout = 30

[[service]]
id = "service-chat01"
name = "chat"

[[service.api]]
name = "room"
path = "/room/{id}"
protocol = "ws&wss"
register = { name = "register" }
transport = { name = "transport", qualifier = "2" }
cleanup = { name = "cleanup", namespace = "chat" }
timeout = 5

[[function]]
name = "register"
runtime = "remote"
invoke_url = "http://127.0.0.1:9001/"

[[function]]
name = "transport"
qualifier = "2"
runtime = "remote"
invoke_url = "http://127.0.0.1:9002/"

[[function]]
name = "cleanup"
namespace = "chat"
runtime = "remote"
invoke_url = "http://127.0.0.1:9003/"
"#;

pub(super) fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value)
}

/// Applies one edit to [`FULL`]; the text to replace must occur exactly once, so that a case
/// cannot silently test the unedited file.
/// Runs a table of `(find, replace, expected message)` edits. In the expected message `{dir}`
/// stands for the scratch folder; a trailing `…` means "starts with" (for OS-worded parts).
pub(super) fn check_errors(label: &str, cases: &[(&str, &str, &str)]) {
    check_errors_in(FULL, label, cases)
}

/// [`check_errors`] with edits to `base` instead of `FULL`.
pub(super) fn check_errors_in(base: &str, label: &str, cases: &[(&str, &str, &str)]) {
    let scratch = Scratch::new(label);
    let file = scratch.source();
    // Every mismatch is reported, not just the first, so one run shows the whole table's state.
    let mut failures = Vec::new();
    for (find, replace, expected) in cases {
        assert_eq!(base.matches(find).count(), 1, "`{find}` must occur exactly once");
        let text = base.replacen(find, replace, 1);
        let error = match parse_str(&text, &file, &Overrides::default()) {
            Ok(_) => "<accepted>".to_owned(),
            Err(error) => error.to_string(),
        };
        let expected = format!("{}{expected}", file.display()).replace("{dir}", &scratch.dir.display().to_string());
        let matches = match expected.strip_suffix('…') {
            Some(prefix) => error.starts_with(prefix),
            None => error == expected,
        };
        if !matches {
            failures.push(format!("`{replace}`:\n  got      {error}\n  expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
