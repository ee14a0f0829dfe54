//! `scfgate import` (issue 21): Tencent `serverless.yml` files and OpenAPI documents in, a
//! configuration out that `--check` accepts and the gateway serves; everything not carried over
//! is reported on stderr as `<file>:<line>: <key>: not carried over: <why>`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{fixture, run_gateway, Gateway, TempDir, GATEWAY_BIN};

/// Runs `scfgate import` in `dir` with `args`: (exit code, stdout, stderr).
fn import_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(GATEWAY_BIN)
        .arg("import")
        .args(args)
        .current_dir(dir)
        .env_remove("SCFGATE_LOG")
        .output()
        .expect("run scfgate import");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `--check` on a written configuration succeeds.
fn assert_checks(config: &Path) {
    let (status, stdout, stderr) = run_gateway(&["--config", config.to_str().unwrap(), "--check"]);
    assert!(status.success(), "--check refused it:\n{stderr}\n{}", std::fs::read_to_string(config).unwrap());
    assert!(stdout.contains("configuration is valid"), "{stdout}");
}

/// An event function (Python3.9) and a web function of one app, imported, then served.
#[test]
fn an_imported_event_and_web_function_serve_their_apis() {
    let out = TempDir::new("import-demo");
    let config = out.path.join("scfgate.toml");
    let demo = fixture("import/demo");
    let (code, stdout, stderr) =
        import_in(&demo, &["event/serverless.yml", "web/serverless.yml", "--out", config.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "with --out, stdout stays empty: {stdout}");
    let text = std::fs::read_to_string(&config).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let service = &parsed["service"].as_array().unwrap()[0];
    // Both triggers name service `demo`: one service, as Tencent binds them.
    assert_eq!(parsed["service"].as_array().unwrap().len(), 1, "{text}");
    assert_eq!(service["stages"].as_array().unwrap()[0].as_str(), Some("release"));
    let apis = service["api"].as_array().unwrap();
    let hello = &apis[0];
    assert_eq!((hello["path"].as_str(), hello["method"].as_str()), (Some("/hello"), Some("GET")));
    assert_eq!(hello["integrated_response"].as_bool(), Some(true));
    assert_eq!(hello["timeout"].as_integer(), Some(25));
    assert_eq!(hello["cors"].as_bool(), Some(true));
    assert_eq!(hello["protocol"].as_str(), Some("http&https"));
    let functions = parsed["function"].as_array().unwrap();
    let event = &functions[0];
    assert_eq!(event["name"].as_str(), Some("demo-hello"), "${{app}} is expanded");
    assert_eq!((event["runtime"].as_str(), event["handler"].as_str()), (Some("Python3.9"), Some("index.main_handler")));
    assert_eq!(event["memory_limit_in_mb"].as_integer(), Some(256));
    // Code folders are relative to the folder the configuration is written to.
    let code_folder = out.path.join(event["code"].as_str().unwrap());
    assert_eq!(std::fs::canonicalize(code_folder).unwrap(), std::fs::canonicalize(demo.join("event/src")).unwrap());
    assert_eq!(functions[1]["runtime"].as_str(), Some("web"));
    // What the files say and scfgate cannot do is reported with file and line.
    assert!(stderr.contains("web/serverless.yml:11: inputs.src.exclude: not carried over:"), "{stderr}");
    assert!(stderr.contains("event/serverless.yml:14: inputs.timeout: note:"), "{stderr}");
    assert_checks(&config);

    let gateway = Gateway::builder_for_file(&config).start();
    let ready = gateway.output.wait_for_line("web function ready", Duration::from_secs(20));
    assert!(ready, "{}", gateway.output.text());
    let response = gateway.get("/release/hello");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-handler"), Some("python"), "integrated response: the function's headers");
    let body = response.json();
    assert_eq!(body["greeting"], "Hello from serverless.yml");
    assert_eq!(body["path"], "/hello");
    assert_eq!((body["memory"].as_i64(), body["time_limit"].as_i64()), (Some(256), Some(25_000)));
    assert!(response.header("access-control-allow-origin").is_some(), "enableCORS is carried over");
    let response = gateway.get("/release/web/items?x=1");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-function-mode"), Some("web"));
    assert_eq!(response.json()["path"], "/web/items");
}

const PYTHON: &str = "def main_handler(event, context):\n    return {\"ok\": True}\n";

/// A `component: scf` file for function `name` with an apigw trigger (extra YAML under
/// `parameters`, indented 10).
fn scf_yaml(name: &str, parameters: &str, path: &str) -> String {
    format!(
        "component: scf\nname: {name}\ninputs:\n  name: {name}\n  src: ./src\n  runtime: Python3.9\n  events:\n    - apigw:\n        parameters:\n{parameters}          endpoints:\n            - path: {path}\n              method: GET\n"
    )
}

/// Several files, one project: triggers that name one service share it; others get their own;
/// an apigateway component names the scf component's function through `${output:...}`.
#[test]
fn a_multi_file_project_becomes_one_configuration() {
    struct Case {
        name: &'static str,
        files: Vec<(&'static str, String)>,
        /// Service ids and, per service, its API paths.
        services: Vec<(&'static str, Vec<&'static str>)>,
    }
    let cases = [
        Case {
            name: "same serviceId",
            files: vec![
                ("users/serverless.yml", scf_yaml("users", "          serviceId: service-shop01\n", "/users")),
                ("orders/serverless.yml", scf_yaml("orders", "          serviceId: service-shop01\n", "/orders")),
            ],
            services: vec![("service-shop01", vec!["/users", "/orders"])],
        },
        Case {
            name: "no service named",
            files: vec![
                ("users/serverless.yml", scf_yaml("users", "", "/users")),
                ("orders/serverless.yml", scf_yaml("orders", "", "/orders")),
            ],
            services: vec![("service-users", vec!["/users"]), ("service-orders", vec!["/orders"])],
        },
        Case {
            name: "apigateway component",
            files: vec![
                ("fn/serverless.yml", "component: scf\nname: fn\napp: shop\ninputs:\n  name: shop-fn\n  src: ./src\n  runtime: Python3.9\n".into()),
                (
                    "api/serverless.yml",
                    "component: apigateway\nname: api\napp: shop\ninputs:\n  serviceId: service-gw01\n  serviceName: shop\n  environment: test\n  endpoints:\n    - path: /items\n      method: GET\n      function:\n        functionName: ${output:${stage}:${app}:fn.functionName}\n".into(),
                ),
            ],
            services: vec![("service-gw01", vec!["/items"])],
        },
    ];
    for case in cases {
        let dir = TempDir::new("import-multi");
        let mut names = Vec::new();
        for (file, text) in &case.files {
            dir.write(file, text);
            dir.write(&format!("{}/src/index.py", Path::new(file).parent().unwrap().display()), PYTHON);
            names.push(*file);
        }
        let (code, stdout, stderr) = import_in(&dir.path, &names);
        assert_eq!(code, 0, "{}: stderr:\n{stderr}", case.name);
        let parsed: toml::Table = toml::from_str(&stdout).unwrap();
        let services = parsed["service"].as_array().unwrap();
        let found: Vec<(String, Vec<String>)> = services
            .iter()
            .map(|service| {
                let paths =
                    service["api"].as_array().unwrap().iter().map(|api| api["path"].as_str().unwrap().to_owned());
                (service["id"].as_str().unwrap().to_owned(), paths.collect())
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = case
            .services
            .iter()
            .map(|(id, paths)| (id.to_string(), paths.iter().map(|path| path.to_string()).collect()))
            .collect();
        assert_eq!(found, expected, "{}:\n{stdout}", case.name);
        // Without --out, code folders are relative to the current folder; the output is valid there.
        let config = dir.write("scfgate.toml", &stdout);
        assert_checks(&config);
    }
}

/// Keys scfgate cannot honour are reported with file and line; the output is still valid.
#[test]
fn keys_that_cannot_be_honoured_are_reported_with_their_lines() {
    let dir = TempDir::new("import-unsupported");
    let yaml = "\
component: scf
name: legacy
inputs:
  name: legacy
  src: ./src
  runtime: Python3.9
  vpcConfig:
    vpcId: vpc-123
    subnetId: subnet-456
  layers:
    - name: deps
      version: 1
  cls:
    logsetId: abc
    topicId: def
  tags:
    team: shop
  somethingNew: 1
  events:
    - timer:
        parameters:
          cronExpression: '*/5 * * * * * *'
    - apigw:
        parameters:
          netTypes: [OUTER]
          endpoints:
            - path: /legacy
              method: GET
              usagePlan:
                maxRequestNum: 100
              apiId: api-abc
";
    dir.write("serverless.yml", yaml);
    dir.write("src/index.py", PYTHON);
    let (code, stdout, stderr) = import_in(&dir.path, &["serverless.yml"]);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let expected = [
        ("7", "inputs.vpcConfig"),
        ("10", "inputs.layers"),
        ("13", "inputs.cls"),
        ("16", "inputs.tags"),
        ("18", "inputs.somethingNew"),
        ("20", "inputs.events[0].timer"),
        ("25", "inputs.events[1].apigw.parameters.netTypes"),
        ("29", "inputs.events[1].apigw.parameters.endpoints[0].usagePlan"),
        ("31", "inputs.events[1].apigw.parameters.endpoints[0].apiId"),
    ];
    for (line, key) in expected {
        let needle = format!("serverless.yml:{line}: {key}: not carried over: ");
        assert!(stderr.lines().any(|item| item.starts_with(&needle)), "{needle:?} not in:\n{stderr}");
    }
    let config = dir.write("scfgate.toml", &stdout);
    assert_checks(&config);
}

/// An OpenAPI document with Tencent's extensions: the backend (function, integrated response),
/// CORS and timeout are carried over; an unknown `x-apigw-*` key is reported.
#[test]
fn openapi_x_apigw_extensions_are_carried_over_or_reported() {
    let dir = TempDir::new("import-openapi");
    dir.write(
        "fn/serverless.yml",
        "component: scf\nname: shop\ninputs:\n  name: shop\n  src: ./src\n  runtime: Python3.9\n",
    );
    dir.write("fn/src/index.py", PYTHON);
    let document = r#"openapi: 3.0.0
info:
  title: Shop
  version: "1.0"
paths:
  /items:
    get:
      operationId: list-items
      x-apigw-cors: true
      x-apigw-service-timeout: 20
      x-apigw-backend:
        ServiceType: SCF
        ServiceScfFunctionName: shop
        ServiceScfFunctionNamespace: default
        ServiceScfFunctionQualifier: $DEFAULT
        ServiceScfIsIntegratedResponse: true
      x-apigw-brand-new: 1
      responses:
        "200":
          description: ok
    post:
      operationId: add-item
      x-apigw-backend:
        ServiceType: MOCK
        ServiceMockReturnMessage: hi
      responses:
        "200":
          description: ok
"#;
    // The same document as YAML and as JSON.
    let json = serde_json::to_string_pretty(&openapi_json()).unwrap();
    for (file, text) in [("openapi.yaml", document.to_owned()), ("openapi.json", json)] {
        dir.write(file, &text);
        let (code, stdout, stderr) = import_in(&dir.path, &["fn/serverless.yml", file]);
        assert_eq!(code, 0, "{file}: stderr:\n{stderr}");
        let parsed: toml::Table = toml::from_str(&stdout).unwrap();
        let service = &parsed["service"].as_array().unwrap()[0];
        assert_eq!(service["name"].as_str(), Some("Shop"));
        let apis = service["api"].as_array().unwrap();
        assert_eq!(apis.len(), 1, "the MOCK backend is left out:\n{stdout}");
        let api = &apis[0];
        assert_eq!((api["name"].as_str(), api["path"].as_str()), (Some("list-items"), Some("/items")));
        assert_eq!(api["integrated_response"].as_bool(), Some(true), "{stdout}");
        assert_eq!(api["cors"].as_bool(), Some(true));
        assert_eq!(api["timeout"].as_integer(), Some(20));
        assert_eq!(api["function"]["name"].as_str(), Some("shop"));
        assert_eq!(api["function"]["qualifier"].as_str(), Some("$DEFAULT"));
        let unknown = stderr.lines().find(|line| line.contains("paths./items.get.x-apigw-brand-new: not carried over"));
        let mock = stderr.lines().find(|line| line.contains("MOCK backends are not served"));
        assert!(unknown.is_some() && mock.is_some(), "{file}:\n{stderr}");
        // YAML and JSON documents both have lines.
        assert!(
            unknown.unwrap().starts_with(&format!("{file}:"))
                && unknown.unwrap().split(':').nth(1).unwrap().parse::<usize>().is_ok(),
            "{stderr}"
        );
        let config = dir.write("scfgate.toml", &stdout);
        assert_checks(&config);
    }
}

/// The OpenAPI case's document as JSON, the way Tencent's console exports it.
fn openapi_json() -> serde_json::Value {
    serde_json::json!({
        "openapi": "3.0.0",
        "info": { "title": "Shop", "version": "1.0" },
        "paths": {
            "/items": {
                "get": {
                    "operationId": "list-items",
                    "x-apigw-cors": true,
                    "x-apigw-service-timeout": 20,
                    "x-apigw-backend": {
                        "ServiceType": "SCF",
                        "ServiceScfFunctionName": "shop",
                        "ServiceScfFunctionNamespace": "default",
                        "ServiceScfFunctionQualifier": "$DEFAULT",
                        "ServiceScfIsIntegratedResponse": true
                    },
                    "x-apigw-brand-new": 1,
                    "responses": { "200": { "description": "ok" } }
                },
                "post": {
                    "operationId": "add-item",
                    "x-apigw-backend": { "ServiceType": "MOCK", "ServiceMockReturnMessage": "hi" },
                    "responses": { "200": { "description": "ok" } }
                }
            }
        }
    })
}

/// A function `f` with code `src` and an apigw trigger, its runtime still to be written.
fn scf_head(src: &str) -> String {
    format!("component: scf\nname: f\ninputs:\n  name: f\n  src: {src}\n  events:\n    - apigw:\n        parameters:\n          serviceName: s\n")
}

/// What makes the result invalid stops the import with exit 2, naming the file, line and key.
#[test]
fn an_invalid_result_exits_2_naming_the_file_line_and_key() {
    let cases = [
        (&*format!("{}  runtime: Go1\n", scf_head("./src")), "serverless.yml:3: inputs", "runtime"),
        (&*format!("{}  runtime: Python3.9\n", scf_head("./missing")), "serverless.yml:3: inputs", "code"),
        ("component: scf\nname: f\ninputs:\n  name: f\n  src: ./src\n  runtime: Python3.9\n", "serverless.yml", "nothing would be served"),
        // A CAM Function URL is left out, so it does not count as something served.
        ("component: scf\nname: f\ninputs:\n  name: f\n  src: ./src\n  runtime: Python3.9\n  events:\n    - http:\n        parameters:\n          authType: CAM\n", "serverless.yml", "nothing would be served"),
        ("component: apigateway\nname: a\ninputs:\n  endpoints:\n    - path: /x\n      method: GET\n      function:\n        functionName: elsewhere\n", "serverless.yml:5: inputs.endpoints[0]", "elsewhere"),
        ("provider:\n  name: tencent\n", "serverless.yml:1: provider", "v1"),
    ];
    for (yaml, place, detail) in cases {
        let dir = TempDir::new("import-invalid");
        dir.write("serverless.yml", yaml);
        dir.write("src/index.py", PYTHON);
        let (code, stdout, stderr) = import_in(&dir.path, &["serverless.yml"]);
        assert_eq!(code, 2, "{yaml}\nstderr:\n{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let error =
            stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_else(|| panic!("no error in {stderr}"));
        assert!(error.contains(place) && error.contains(detail), "{place:?} / {detail:?} not in {error:?}");
    }
}

/// Tencent's Base64 settings of an endpoint become the API's `base64` and its rules.
#[test]
fn base64_settings_are_carried_over() {
    let dir = TempDir::new("import-base64");
    let yaml = "\
component: scf
name: photos
inputs:
  name: photos
  src: ./src
  runtime: Python3.9
  events:
    - apigw:
        parameters:
          endpoints:
            - path: /upload
              method: POST
              isBase64Encoded: true
              isBase64Trigger: true
              base64EncodedTriggerRules:
                - name: Content_Type
                  value: [image/jpeg, image/png]
                - name: Host
                  value: [x]
            - path: /raw
              method: POST
              isBase64Encoded: true
            - path: /plain
              method: POST
              isBase64Trigger: true
";
    dir.write("serverless.yml", yaml);
    dir.write("src/index.py", PYTHON);
    let (code, stdout, stderr) = import_in(&dir.path, &["serverless.yml"]);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let parsed: toml::Table = toml::from_str(&stdout).unwrap();
    let apis = parsed["service"].as_array().unwrap()[0]["api"].as_array().unwrap();
    let upload = &apis[0];
    assert_eq!(upload["base64"].as_str(), Some("rules"), "{stdout}");
    let rules = upload["base64_rule"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{stdout}");
    assert_eq!(rules[0]["header"].as_str(), Some("Content-Type"));
    assert_eq!(rules[0]["values"].as_array().unwrap().len(), 2);
    assert_eq!(apis[1]["base64"].as_str(), Some("all"));
    assert!(apis[2].get("base64").is_none(), "{stdout}");
    for (line, key) in [
        ("15", "inputs.events[0].apigw.parameters.endpoints[0].base64EncodedTriggerRules"),
        ("25", "inputs.events[0].apigw.parameters.endpoints[2].isBase64Trigger"),
    ] {
        let needle = format!("serverless.yml:{line}: {key}: not carried over: ");
        assert!(stderr.lines().any(|item| item.starts_with(&needle)), "{needle:?} not in:\n{stderr}");
    }
    let config = dir.write("scfgate.toml", &stdout);
    assert_checks(&config);
}

/// `customDomains` become `[[service.domain]]` (path mappings included) and an `http` trigger
/// the function's `url`; what has no equivalent is reported; the result serves on those hosts.
#[test]
fn custom_domains_and_function_urls_are_carried_over() {
    let dir = TempDir::new("import-addresses");
    dir.write("src/index.py", PYTHON);
    let yaml = "\
component: scf
name: shop
inputs:
  name: shop
  src: ./src
  runtime: Python3.9
  events:
    - http:
        parameters:
          qualifier: $DEFAULT
          netConfig:
            enableExtranet: true
          corsConfig:
            enable: true
            origins: [https://app.example.com]
            exposeHeaders: X-Id, X-Other
            maxAge: 600
    - http:
        parameters:
          authType: CAM
    - apigw:
        parameters:
          serviceName: shop
          environment: release
          customDomains:
            - domain: api.example.com
              isDefaultMapping: false
              pathMappingSet:
                - path: /
                  environment: release
              certificateId: cert-123
              isForcedHttps: true
            - domain: www.example.com
          endpoints:
            - path: /items
              method: GET
";
    dir.write("serverless.yml", yaml);
    let config = dir.path.join("scfgate.toml");
    let (code, _, stderr) = import_in(&dir.path, &["serverless.yml", "--out", config.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    let text = std::fs::read_to_string(&config).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let domains = parsed["service"][0]["domain"].as_array().unwrap();
    assert_eq!(domains[0]["host"].as_str(), Some("api.example.com"), "{text}");
    assert_eq!(domains[0]["mappings"]["/"].as_str(), Some("release"), "{text}");
    assert_eq!((domains[1]["host"].as_str(), domains[1].get("mappings")), (Some("www.example.com"), None), "{text}");
    let url = &parsed["function"][0]["url"];
    assert_eq!(url["host"].as_str(), Some("shop.url.localhost"), "{text}");
    assert_eq!(url["cors"]["expose_headers"].as_array().unwrap().len(), 2, "{text}");
    assert_eq!(url["cors"]["max_age"].as_integer(), Some(600), "{text}");
    #[rustfmt::skip]
    let reported = [
        "serverless.yml:8: inputs.events[0].http: note: Tencent makes up the URL's host; it is `shop.url.localhost` here",
        "serverless.yml:11: inputs.events[0].http.parameters.netConfig: not carried over:",
        "serverless.yml:20: inputs.events[1].http.parameters.authType: not carried over: `CAM` signatures (Tencent CAM) are not checked here",
        "serverless.yml:31: inputs.events[2].apigw.parameters.customDomains[0].certificateId: not carried over:",
        "serverless.yml:32: inputs.events[2].apigw.parameters.customDomains[0].isForcedHttps: not carried over:",
    ];
    for line in reported {
        assert!(stderr.lines().any(|reported| reported.starts_with(line)), "{line:?} not in\n{stderr}");
    }
    assert_checks(&config);

    let gateway = Gateway::builder_for_file(&config).start();
    #[rustfmt::skip]
    let cases = [
        // (host, target, status)
        ("api.example.com", "/items", 200),          // path mapping `/` -> release
        ("api.example.com", "/release/items", 404),  // no /<stage> on a custom-mapped domain
        ("www.example.com", "/release/items", 200),  // default mapping
        ("shop.url.localhost", "/any/path", 200),    // the Function URL
    ];
    for (host, target, status) in cases {
        let response = gateway.request("GET", target, &[("Host", host)], b"");
        assert_eq!(response.status, status, "{host}{target}: {}", response.text());
        if status == 200 {
            assert_eq!(response.json(), serde_json::json!({"ok": true}), "{host}{target}");
        }
    }
}

/// A function whose only trigger is a public Function URL imports and serves on its URL host.
#[test]
fn a_function_url_alone_is_a_configuration() {
    let dir = TempDir::new("import-url-only");
    dir.write("src/index.py", PYTHON);
    dir.write("serverless.yml", "component: scf\nname: f\ninputs:\n  name: f\n  src: ./src\n  runtime: Python3.9\n  events:\n    - http:\n        name: url-trigger\n");
    let config = dir.path.join("scfgate.toml");
    let (code, _, stderr) = import_in(&dir.path, &["serverless.yml", "--out", config.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert_checks(&config);
    let gateway = Gateway::builder_for_file(&config).start();
    let response = gateway.request("GET", "/", &[("Host", "f.url.localhost")], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"ok": true}));
}
