//! Cloud functions (`runtime = "tencentcloud"`): the event goes to SCF's `Invoke` API, TC3-signed,
//! over pooled HTTPS connections, and `RetMsg` comes back as the function's value. A local HTTPS
//! server stands in for `scf.tencentcloudapi.com` (trusted through `ca_file`), records each
//! request and answers per function name; no test needs the internet.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{closed_port, read_request, run_gateway, Gateway, GatewayBuilder, Recorded, TempDir};
use ring::{digest, hmac};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};

const SECRET_ID: &str = "AKIDscfgateTEST0123456789";
const SECRET_KEY: &str = "scfgate-test-secret-key-0123456789";
const TOKEN: &str = "temporary-token-abc";

// ---------------------------------------------------------------------------------------------
// A stand-in for Tencent Cloud's API.
// ---------------------------------------------------------------------------------------------

/// The Invoke request's JSON body.
fn invoke_body(request: &Recorded) -> Value {
    serde_json::from_slice(&request.body).expect("the Invoke body is JSON")
}

/// How the API answers one request.
enum Answer {
    /// An HTTP response with this status and JSON body.
    Json(u16, Value),
    /// Nothing: the connection stays open until the gateway gives up on it.
    Never,
}

type Responder = dyn Fn(&Recorded) -> Answer + Send + Sync;

struct ApiState {
    responder: Box<Responder>,
    recorded: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
    close_after_response: AtomicBool,
}

/// An HTTPS/1.1 keep-alive server on 127.0.0.1 with a self-signed certificate for `127.0.0.1`.
struct CloudApi {
    addr: SocketAddr,
    certificate_pem: String,
    state: Arc<ApiState>,
}

impl CloudApi {
    fn start(responder: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> CloudApi {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ApiState {
            responder: Box::new(responder),
            recorded: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            close_after_response: AtomicBool::new(false),
        });
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (state, config) = (shared.clone(), config.clone());
                thread::spawn(move || serve(stream, config, state));
            }
        });
        CloudApi { addr, certificate_pem: certified.cert.pem(), state }
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Close each connection right after its response (with a TLS close_notify but no
    /// `Connection: close`), as a server that drops idle keep-alive connections does.
    fn close_after_response(&self) {
        self.state.close_after_response.store(true, Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, state: Arc<ApiState>) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut tls, &mut buffer) else { return };
        state.recorded.lock().unwrap().push(request.clone());
        match (state.responder)(&request) {
            Answer::Never => {
                // Hold the connection until the gateway closes it.
                let mut sink = [0u8; 1024];
                while matches!(tls.read(&mut sink), Ok(count) if count > 0) {}
                return;
            }
            Answer::Json(status, body) => {
                let body = body.to_string();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if tls.write_all(reply.as_bytes()).and_then(|()| tls.flush()).is_err() {
                    return;
                }
            }
        }
        if state.close_after_response.load(Ordering::SeqCst) {
            tls.conn.send_close_notify();
            let _ = tls.flush();
            return;
        }
    }
}

/// Tencent's success shape, `RetMsg` being the function's value as text.
fn invoke_result(ret_msg: &str) -> Answer {
    Answer::Json(
        200,
        json!({"Response": {"Result": {
        "MemUsage": 7_000_000, "Log": "", "RetMsg": ret_msg, "BillDuration": 2,
        "FunctionRequestId": "f0e1d2c3", "Duration": 1.5, "ErrMsg": "", "InvokeResult": 0
    }, "RequestId": "r-1"}}),
    )
}

/// A function that ran and failed with SCF status `code`.
fn function_failure(code: i64, err_msg: &str) -> Answer {
    Answer::Json(
        200,
        json!({"Response": {"Result": {
        "MemUsage": 0, "Log": "", "RetMsg": "", "BillDuration": 3000,
        "FunctionRequestId": "f0e1d2c3", "Duration": 3000, "ErrMsg": err_msg, "InvokeResult": code
    }, "RequestId": "r-2"}}),
    )
}

/// The API refusing the call.
fn api_error(code: &str, message: &str) -> Answer {
    Answer::Json(200, json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "r-3"}}))
}

/// Answers by the invoked function's name: `echo` returns its event, the others as named.
fn by_function_name(request: &Recorded) -> Answer {
    let body = invoke_body(request);
    match body["FunctionName"].as_str().unwrap_or_default() {
        "echo" => invoke_result(body["ClientContext"].as_str().unwrap()),
        "integrated" => invoke_result(r#"{"statusCode":201,"headers":{"X-From":"cloud"},"body":"made in the cloud"}"#),
        "user-error" => function_failure(430, "user code exception caught: boom"),
        "time-limit" => function_failure(433, "Invoking task timed out after 3 seconds"),
        "missing" => api_error("ResourceNotFound.Function", "The function does not exist."),
        "silent" => Answer::Never,
        "not-invoke" => Answer::Json(502, json!({"message": "upstream trouble"})),
        other => panic!("unexpected function {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway.
// ---------------------------------------------------------------------------------------------

/// A service with one API per function name, `/<name>`, each invoking cloud function `<name>`.
fn config(functions: &[(&str, &str)], integrated: &[&str]) -> String {
    let mut text = String::from("[[service]]\nid = \"service-cloud\"\nname = \"cloud\"\n\n");
    for (name, _) in functions {
        let integrated = integrated.contains(name);
        text.push_str(&format!(
            "[[service.api]]\nname = \"{name}\"\npath = \"/{name}\"\nmethod = \"ANY\"\ntimeout = 1\nintegrated_response = {integrated}\nfunction = {{ name = \"{name}\" }}\n\n"
        ));
    }
    for (name, extra) in functions {
        text.push_str(&format!(
            "[[function]]\nname = \"{name}\"\nruntime = \"tencentcloud\"\nregion = \"ap-guangzhou\"\n{extra}\n\n"
        ));
    }
    text
}

/// `[[function]]` keys pointing at `api`, trusting its certificate.
fn at(api: &CloudApi) -> String {
    format!("endpoint = \"{}\"\nca_file = \"api.crt\"", api.endpoint())
}

fn gateway(config: &str, api: &CloudApi) -> Gateway {
    with_credentials(Gateway::builder(config), api).start()
}

fn with_credentials(builder: GatewayBuilder, api: &CloudApi) -> GatewayBuilder {
    builder.dir().write("api.crt", &api.certificate_pem);
    builder
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .env("TENCENTCLOUD_SESSION_TOKEN", TOKEN)
}

// ---------------------------------------------------------------------------------------------
// TC3-HMAC-SHA256, written here again from Tencent's description, to check what was sent.
// ---------------------------------------------------------------------------------------------

fn sha256_hex(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes).as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

/// `YYYY-MM-DD` (UTC) of a Unix timestamp, by counting whole years and months.
fn utc_day(timestamp: u64) -> String {
    let mut days = timestamp / 86_400;
    let mut year = 1970;
    let leap = |year: u64| (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    format!("{year:04}-{:02}-{:02}", month + 1, days + 1)
}

/// The signature the request should carry, computed from what was received.
fn expected_authorization(request: &Recorded) -> String {
    let timestamp = request.header("x-tc-timestamp").unwrap();
    let date = utc_day(timestamp.parse().unwrap());
    let signed = "content-type;host;x-tc-action";
    let canonical = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\nx-tc-action:{}\n\n{signed}\n{}",
        request.header("content-type").unwrap(),
        request.header("host").unwrap(),
        request.header("x-tc-action").unwrap().to_lowercase(),
        sha256_hex(&request.body)
    );
    let scope = format!("{date}/scf/tc3_request");
    let string_to_sign = format!("TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    let secret_date = hmac(format!("TC3{SECRET_KEY}").as_bytes(), date.as_bytes());
    let secret_signing = hmac(&hmac(&secret_date, b"scf"), b"tc3_request");
    let signature: String =
        hmac(&secret_signing, string_to_sign.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect();
    format!("TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, SignedHeaders={signed}, Signature={signature}")
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_event_goes_to_scf_invoke_signed_and_retmsg_comes_back() {
    let api = CloudApi::start(by_function_name);
    let gateway = gateway(&config(&[("echo", &at(&api))], &[]), &api);
    let response = gateway.request("POST", "/release/echo/sub?a=1", &[("Content-Type", "text/plain")], b"hi cloud");
    assert_eq!(response.status, 200, "{}", response.text());

    let recorded = api.recorded();
    assert_eq!(recorded.len(), 1);
    let request = &recorded[0];
    assert_eq!((request.method.as_str(), request.target.as_str()), ("POST", "/"));
    assert_eq!(request.header("host"), Some(api.addr.to_string().as_str()));
    assert_eq!(request.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(request.header("x-tc-action"), Some("Invoke"));
    assert_eq!(request.header("x-tc-version"), Some("2018-04-16"));
    assert_eq!(request.header("x-tc-region"), Some("ap-guangzhou"));
    assert_eq!(request.header("x-tc-token"), Some(TOKEN));
    assert_eq!(request.header("content-length"), Some(request.body.len().to_string().as_str()));
    // The signature checks out against the body and timestamp the API received.
    assert_eq!(request.header("authorization"), Some(expected_authorization(request).as_str()));

    let body = invoke_body(request);
    assert_eq!(
        (&body["FunctionName"], &body["Namespace"], &body["Qualifier"], &body["InvocationType"], &body["LogType"]),
        (&json!("echo"), &json!("default"), &json!("$LATEST"), &json!("RequestResponse"), &json!("None"))
    );
    // ClientContext is the event, as a string.
    let event: Value = serde_json::from_str(body["ClientContext"].as_str().unwrap()).unwrap();
    assert_eq!(event["path"], "/echo/sub");
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["body"], "hi cloud");
    assert_eq!(event["queryString"]["a"], "1");
    assert_eq!(event["requestContext"]["requestId"], response.request_id());
    // Pass-through: RetMsg (here the event) is the response body.
    assert_eq!(response.json(), event);
}

#[test]
fn answers_of_the_cloud_and_how_the_client_sees_them() {
    let api = CloudApi::start(by_function_name);
    let endpoint = at(&api);
    // (function, extra [[function]] keys, status, exact body with `{id}` for the request id)
    let down = format!("endpoint = \"https://127.0.0.1:{}\"\nca_file = \"api.crt\"", closed_port());
    let untrusted = format!("endpoint = \"{}\"\nca_file = \"other.crt\"", api.endpoint());
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        // Response integration maps RetMsg's statusCode, headers and body.
        ("integrated", &endpoint, 201, "made in the cloud"),
        // A non-zero InvokeResult is the function's error...
        ("user-error", &endpoint, 502, r#"{"errorCode":-1,"errorMessage":"user code exception caught: boom","requestId":"{id}"}"#),
        // ...and 433 (TimeLimitReached) its timeout.
        ("time-limit", &endpoint, 504, r#"{"message":"Gateway Time-out."}"#),
        // The API refusing names the function and Tencent's code.
        ("missing", &endpoint, 502, r#"{"message":"Bad Gateway.","error":"requestId {id} , Tencent Cloud refused to invoke function `default/missing:$LATEST` in ap-guangzhou: ResourceNotFound.Function: The function does not exist."}"#),
        // No answer within the API's timeout (1 s).
        ("silent", &endpoint, 504, r#"{"message":"Gateway Time-out."}"#),
        // An answer that is not an Invoke response.
        ("not-invoke", &endpoint, 502, r#"{"message":"Bad Gateway."}"#),
        // Nothing listens at the endpoint.
        ("down", &down, 502, r#"{"message":"Bad Gateway."}"#),
        // The endpoint's certificate is not one ca_file trusts.
        ("untrusted", &untrusted, 502, r#"{"message":"Bad Gateway."}"#),
    ];
    let functions: Vec<(&str, &str)> = cases.iter().map(|(name, extra, _, _)| (*name, *extra)).collect();
    let builder = with_credentials(Gateway::builder(&config(&functions, &["integrated"])), &api);
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    builder.dir().write("other.crt", &other.cert.pem());
    let gateway = builder.start();
    let mut failures = Vec::new();
    for (name, _, status, body) in &cases {
        // Twice: the second request may go over a pooled connection.
        for attempt in 1..=2 {
            let response = gateway.get(&format!("/release/{name}"));
            let expected = body.replace("{id}", response.request_id());
            if (response.status, response.text()) != (*status, expected.clone()) {
                failures.push(format!(
                    "{name} #{attempt}: got {} {} (expected {status} {expected})",
                    response.status,
                    response.text()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(gateway.get("/release/integrated").header("x-from"), Some("cloud"));
    // The untrusted endpoint never saw a request: the handshake failed first.
    assert!(api.recorded().iter().all(|request| invoke_body(request)["FunctionName"] != "untrusted"));
}

#[test]
fn connections_to_the_api_are_kept_alive_and_reused() {
    let api = CloudApi::start(|_| invoke_result(r#"{"ok":true}"#));
    let gateway = gateway(&config(&[("reused", &at(&api))], &[]), &api);
    let mut client = gateway.connect();
    for _ in 0..5 {
        client.send_request("GET", "/release/reused", &gateway.host(), &[], b"");
        let response = client.read_response();
        assert_eq!((response.status, response.text()), (200, r#"{"ok":true}"#.to_string()));
    }
    // One client connection is served by one worker: one TLS connection carries all five.
    assert_eq!((api.recorded().len(), api.connections()), (5, 1));
}

#[test]
fn a_pooled_connection_the_api_closed_is_retried_on_a_new_one() {
    let api = CloudApi::start(|request| invoke_result(invoke_body(request)["ClientContext"].as_str().unwrap()));
    api.close_after_response();
    let gateway = gateway(&config(&[("closing", &at(&api))], &[]), &api);
    let mut client = gateway.connect();
    for n in 0..3 {
        client.send_request("POST", "/release/closing", &gateway.host(), &[], format!("request {n}").as_bytes());
        let response = client.read_response();
        assert_eq!(response.status, 200, "request {n}: {}", response.text());
        assert_eq!(response.json()["body"], format!("request {n}"));
    }
    // Each event reached the API exactly once, each on a new connection.
    assert_eq!((api.recorded().len(), api.connections()), (3, 3));
}

#[test]
fn credentials_and_endpoint_are_checked_at_load() {
    let dir = TempDir::new("tencentcloud-config");
    let certificate = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    dir.write("ca.crt", &certificate.cert.pem());
    // Loopback endpoints: a test must not depend on resolving scf.tencentcloudapi.com.
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("endpoint = \"https://127.0.0.1:1\"\nca_file = \"ca.crt\"\nsecret_id_env = \"SCFGATE_TEST_UNSET_ID\"\nsecret_key_env = \"SCFGATE_TEST_UNSET_KEY\"",
         "function `default/f:$LATEST`: field `secret_id_env`: the environment variable `SCFGATE_TEST_UNSET_ID` is not set; it must hold the Tencent Cloud API key"),
        ("endpoint = \"http://127.0.0.1:1\"", "field `endpoint`: must be an https:// URL like `https://scf.tencentcloudapi.com`"),
        ("endpoint = \"https://127.0.0.1:1\"\nca_file = \"missing.crt\"", "field `ca_file`: `"),
        ("invoke_url = \"http://127.0.0.1/\"", "field `invoke_url`: not allowed for runtime = \"tencentcloud\""),
    ];
    for (index, (extra, expected)) in cases.iter().enumerate() {
        let text = config(&[("f", extra)], &[]);
        let path = dir.write(&format!("case{index}.toml"), &text);
        let (status, _, stderr) = run_gateway(&["--config", path.to_str().unwrap(), "--check"]);
        assert_eq!(status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(expected), "{extra}: expected {expected:?} in {stderr}");
    }
    // No region.
    let text = config(&[("f", "endpoint = \"https://127.0.0.1:1\"")], &[]).replace("region = \"ap-guangzhou\"\n", "");
    let path = dir.write("no-region.toml", &text);
    let (status, _, stderr) = run_gateway(&["--config", path.to_str().unwrap(), "--check"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("function `default/f:$LATEST`: field `region`: required but missing"), "{stderr}");
}
