//! `scf-example-function`: the bundled example's function and the test suite's function.
//!
//! A real SCF **custom runtime** client built from std and `serde_json` only. The gateway
//! starts it (through a `bootstrap` script) with `SCF_RUNTIME_API` / `SCF_RUNTIME_API_PORT`
//! set; it posts `/runtime/init/ready`, then loops: `GET /runtime/invocation/next` (the event),
//! `POST /runtime/invocation/response` (the return value) or `/runtime/invocation/error`.
//!
//! Usage: `scf-example-function <mode>`; without an argument the mode is `$_HANDLER`.
//!
//! Modes:
//! * `echo`: returns the event exactly as received (pass-through APIs show what the gateway sent).
//! * `hello`: integrated response, body `"<greeting>, <name>!\n"` (greeting = `stageVariables.greeting`
//!   or `Hello`; name = `pathParameters.name`, else `queryString.name`, else `world`).
//! * `echo-integrated`: integrated response, `Content-Type: application/json`, body = the event text.
//! * `never-ready`: never posts `init/ready` nor asks for `/next`; sleeps forever.
//! * `exit-at-start`: prints a line to stderr and exits 1 at once.
//! * `exit-after-first`: serves one invocation like `echo`, then exits 0.
//! * `whoami`: returns `{"pid": <its process id>, "version": <the first line of the file
//!   `VERSION` in its working directory (the code folder), read at start; "" without one>}`:
//!   which process answered, and which code it started with.
//!
//! WebSocket modes (a WebSocket API's three functions; pushes go to `$SCFGATE_PUSH_URL` with
//! `Authorization: Bearer $SCFGATE_PUSH_TOKEN`, both set by the gateway):
//! * `ws-register`: accepts with `{"errNo":0,...}`, choosing the first subprotocol offered;
//!   `?refuse=TEXT` in the connect URL refuses with `errNo` 4001 and `errMsg` TEXT;
//!   `?echo_event=1` first pushes the connect event itself to the client, as a text message.
//! * `ws-transport`: answers each message through the push endpoint: text `T` comes back as
//!   `echo: T`, binary as the same bytes; the text `event` comes back as the `data recv` event
//!   itself, `close` makes it push `closing`, `fail` makes it report an error.
//! * `ws-cleanup`: logs `ws-cleanup closing <secConnectionID>` to stderr.
//!
//! Web function mode (`runtime = "web"`; see `web.rs`):
//! * `web`: an HTTP server on `$PORT` (echo, streamed uploads and downloads, a crash trigger, a
//!   slow endpoint, a WebSocket echo), started by the gateway through `scf_bootstrap`.
//!
//! Test controls, read from the event's `queryString` (a string, or an array of strings: the
//! last counts), applied in this order in every mode:
//! `scf_print=TEXT` write `stdout: TEXT` to stdout and `stderr: TEXT` to stderr;
//! `scf_alloc_mb=N` allocate N MiB and touch every page (past the memory limit, the allocation
//! fails and the process aborts); `scf_sleep_ms=N` sleep; `scf_crash=1` exit 3 without
//! answering; `scf_error=TEXT` post TEXT to `/runtime/invocation/error`; `scf_raw=TEXT` return
//! exactly TEXT. In the integrated modes:
//! `scf_status=N` statusCode N; `scf_b64=1` base64 body + `isBase64Encoded: true`;
//! `scf_header_X=V` response header `X: V`.

/// Writes one whole line to stderr in a single call, so lines of instances sharing the
/// gateway's stderr do not interleave (eprintln! may write a line in pieces).
macro_rules! log_line {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($argument)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

mod web;

use serde_json::{json, Map, Value};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::exit;
use std::time::Duration;

const NAME: &str = "scf-example-function";
const MODES: &[&str] = &[
    "echo",
    "hello",
    "echo-integrated",
    "never-ready",
    "exit-at-start",
    "exit-after-first",
    "whoami",
    "ws-register",
    "ws-transport",
    "ws-cleanup",
    "web",
];

// ---------------------------------------------------------------------------------------------
// A minimal blocking HTTP/1.1 client (keep-alive, Content-Length bodies).
// ---------------------------------------------------------------------------------------------

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    /// Header value by case-insensitive name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct RuntimeClient {
    host: String,
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl RuntimeClient {
    /// Sends one request. A kept-alive connection that fails is replaced once by a fresh one.
    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
        if self.conn.is_some() {
            match self.send(method, path, body) {
                Ok(resp) => return Ok(resp),
                Err(_) => self.conn = None, // stale keep-alive connection: retry on a new one
            }
        }
        self.send(method, path, body)
    }

    fn send(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
        if self.conn.is_none() {
            let stream = TcpStream::connect((self.host.as_str(), self.port))?;
            stream.set_nodelay(true)?;
            self.conn = Some(BufReader::new(stream));
        }
        let result = self.exchange(method, path, body);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn exchange(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
        let conn = self.conn.as_mut().expect("connected");
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: {NAME}\r\n", self.host, self.port);
        if method != "GET" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        conn.get_mut().write_all(&bytes)?;
        conn.get_mut().flush()?;

        // Status line and headers.
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in headers"));
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut resp = HttpResponse { status, headers, body: Vec::new() };

        // Body: Content-Length, or (without one) everything up to the connection's end.
        let close = resp.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match resp.header("content-length").map(|v| v.parse::<usize>()) {
            Some(Ok(n)) => {
                resp.body.resize(n, 0);
                conn.read_exact(&mut resp.body)?;
                if close {
                    self.conn = None;
                }
            }
            Some(Err(_)) => return Err(io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")),
            None => {
                conn.read_to_end(&mut resp.body)?;
                self.conn = None;
            }
        }
        Ok(resp)
    }

    /// POSTs and reports a non-2xx answer or a failure on stderr (the loop goes on).
    fn post(&mut self, mode: &str, path: &str, body: &[u8]) {
        match self.request("POST", path, body) {
            Ok(r) if (200..300).contains(&r.status) => {}
            Ok(r) => {
                log_line!("{NAME}[{mode}] POST {path} answered {}: {}", r.status, String::from_utf8_lossy(&r.body))
            }
            Err(e) => log_line!("{NAME}[{mode}] POST {path} failed: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event helpers.
// ---------------------------------------------------------------------------------------------

/// `event.queryString[key]`: a string, or the last string of an array.
fn query(event: &Value, key: &str) -> Option<String> {
    scalar(event.get("queryString")?.get(key)?)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.last().and_then(scalar),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty string at `event[obj][key]`.
fn nonempty(event: &Value, obj: &str, key: &str) -> Option<String> {
    event.get(obj).and_then(|o| o.get(key)).and_then(scalar).filter(|s| !s.is_empty())
}

/// Standard base64 (RFC 4648 alphabet, with padding).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Builds an integrated response `{isBase64Encoded, statusCode, headers, body}`, applying the
/// `scf_status`, `scf_b64` and `scf_header_*` controls.
fn integrated(event: &Value, content_type: &str, body: &str) -> Value {
    let mut status = 200u64;
    if let Some(s) = query(event, "scf_status") {
        match s.trim().parse() {
            Ok(n) => status = n,
            Err(_) => log_line!("{NAME}: ignoring scf_status={s:?} (not a number)"),
        }
    }
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), Value::String(content_type.into()));
    if let Some(Value::Object(qs)) = event.get("queryString") {
        for (key, value) in qs {
            if let (Some(name), Some(v)) = (key.strip_prefix("scf_header_"), scalar(value)) {
                headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
                headers.insert(name.to_string(), Value::String(v));
            }
        }
    }
    let b64 = query(event, "scf_b64").as_deref() == Some("1");
    let body = if b64 { base64(body.as_bytes()) } else { body.to_string() };
    json!({ "isBase64Encoded": b64, "statusCode": status, "headers": headers, "body": body })
}

// ---------------------------------------------------------------------------------------------
// WebSocket functions (Tencent's register / transport / cleanup) and the reverse push.
// ---------------------------------------------------------------------------------------------

fn ws_register(event: &Value) -> Value {
    let id = event["websocket"]["secConnectionID"].as_str().unwrap_or_default();
    if let Some(reason) = query(event, "refuse") {
        return json!({"errNo": 4001, "errMsg": reason});
    }
    if query(event, "echo_event").is_some() {
        // Pushed before the connection is accepted: the gateway holds it until the 101 is out.
        push(
            &json!({"websocket": {"action": "data send", "secConnectionID": id, "dataType": "text", "data": event.to_string()}}),
        );
    }
    let mut websocket = json!({"action": "connecting", "secConnectionID": id});
    let offered = event["websocket"]["secWebSocketProtocol"].as_str().unwrap_or_default();
    if let Some(first) = offered.split(',').map(str::trim).find(|protocol| !protocol.is_empty()) {
        websocket["secWebSocketProtocol"] = first.into();
    }
    json!({"errNo": 0, "errMsg": "ok", "websocket": websocket})
}

fn ws_transport(event: &Value) -> Outcome {
    let websocket = &event["websocket"];
    let id = websocket["secConnectionID"].as_str().unwrap_or_default();
    let data_type = websocket["dataType"].as_str().unwrap_or("text");
    let data = websocket["data"].as_str().unwrap_or_default();
    let reply = match (data_type, data) {
        ("text", "fail") => return Outcome::Error(b"the transport function was asked to fail".to_vec()),
        ("text", "close") => json!({"websocket": {"action": "closing", "secConnectionID": id}}),
        ("text", "event") => {
            json!({"websocket": {"action": "data send", "secConnectionID": id, "dataType": "text", "data": event.to_string()}})
        }
        ("text", text) => {
            json!({"websocket": {"action": "data send", "secConnectionID": id, "dataType": "text", "data": format!("echo: {text}")}})
        }
        // Binary data arrives base64 and is pushed back as it came.
        (_, base64) => {
            json!({"websocket": {"action": "data send", "secConnectionID": id, "dataType": "binary", "data": base64}})
        }
    };
    push(&reply);
    Outcome::Response(br#"{"errNo":0}"#.to_vec())
}

/// POSTs `body` to the gateway's reverse-push endpoint; logs anything but `{"errNo":0,...}`.
fn push(body: &Value) {
    let url = std::env::var("SCFGATE_PUSH_URL").unwrap_or_default();
    let Some(rest) = url.strip_prefix("http://") else {
        log_line!("{NAME}: SCFGATE_PUSH_URL is not set (no WebSocket API?)");
        return;
    };
    let (authority, path) =
        rest.split_once('/').map_or((rest, "/".to_string()), |(authority, path)| (authority, format!("/{path}")));
    let body = body.to_string();
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    if let Ok(token) = std::env::var("SCFGATE_PUSH_TOKEN") {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let answer = TcpStream::connect(authority).and_then(|mut stream| {
        stream.write_all(request.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    });
    match answer {
        Ok(answer) if answer.starts_with("HTTP/1.1 200") => {}
        Ok(answer) => log_line!("{NAME}: push refused: {}", answer.replace("\r\n", " | ")),
        Err(error) => log_line!("{NAME}: push to {url} failed: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The runtime loop.
// ---------------------------------------------------------------------------------------------

/// What one invocation produces.
enum Outcome {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

fn handle(mode: &str, version: &str, raw: &[u8]) -> Outcome {
    // The event as JSON; a body that is not JSON is seen as a JSON string.
    let text = String::from_utf8_lossy(raw).into_owned();
    let (event, is_json) = match serde_json::from_slice::<Value>(raw) {
        Ok(v) => (v, true),
        Err(_) => (Value::String(text.clone()), false),
    };

    if let Some(text) = query(&event, "scf_print") {
        let mut stdout = std::io::stdout();
        let _ = stdout.write_all(format!("stdout: {text}\n").as_bytes());
        let _ = stdout.flush();
        log_line!("stderr: {text}");
    }
    if let Some(megabytes) = query(&event, "scf_alloc_mb") {
        match megabytes.trim().parse::<usize>() {
            Ok(megabytes) => {
                log_line!("{NAME}[{mode}] allocating {megabytes} MiB");
                // Touched, so the pages are really used; black_box keeps it from being elided.
                let block = vec![1u8; megabytes << 20];
                std::hint::black_box(&block);
            }
            Err(_) => log_line!("{NAME}[{mode}] ignoring scf_alloc_mb={megabytes:?} (not a number)"),
        }
    }
    if let Some(ms) = query(&event, "scf_sleep_ms") {
        match ms.trim().parse::<u64>() {
            Ok(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Err(_) => log_line!("{NAME}[{mode}] ignoring scf_sleep_ms={ms:?} (not a number)"),
        }
    }
    if query(&event, "scf_crash").as_deref() == Some("1") {
        log_line!("{NAME}[{mode}] scf_crash=1: exiting with status 3 without answering");
        exit(3);
    }
    if let Some(text) = query(&event, "scf_error") {
        return Outcome::Error(text.into_bytes());
    }
    if let Some(text) = query(&event, "scf_raw") {
        return Outcome::Response(text.into_bytes());
    }

    match mode {
        "ws-register" => return Outcome::Response(ws_register(&event).to_string().into_bytes()),
        "ws-transport" => return ws_transport(&event),
        "ws-cleanup" => {
            let id = event["websocket"]["secConnectionID"].as_str().unwrap_or("-");
            log_line!("{NAME}[ws-cleanup] ws-cleanup closing {id}");
            return Outcome::Response(b"{}".to_vec());
        }
        _ => {}
    }

    // The event text exactly as the gateway sent it (re-encoded only when it was not JSON).
    let event_json = if is_json { text } else { event.to_string() };
    let value = match mode {
        "hello" => {
            let greeting = nonempty(&event, "stageVariables", "greeting").unwrap_or_else(|| "Hello".into());
            let name = nonempty(&event, "pathParameters", "name")
                .or_else(|| nonempty(&event, "queryString", "name"))
                .unwrap_or_else(|| "world".into());
            integrated(&event, "text/plain; charset=utf-8", &format!("{greeting}, {name}!\n"))
        }
        "echo-integrated" => integrated(&event, "application/json", &event_json),
        "whoami" => json!({"pid": std::process::id(), "version": version}),
        _ => return Outcome::Response(event_json.into_bytes()), // echo, exit-after-first
    };
    Outcome::Response(value.to_string().into_bytes())
}

fn main() {
    let mode = std::env::args().nth(1).or_else(|| std::env::var("_HANDLER").ok()).unwrap_or_default();
    if !MODES.contains(&mode.as_str()) {
        log_line!(
            "{NAME}: unknown mode {mode:?} (give it as the argument or in _HANDLER); modes: {}",
            MODES.join(", ")
        );
        exit(2);
    }
    if mode == "exit-at-start" {
        log_line!("{NAME}[{mode}] exiting with status 1 at start, as asked");
        exit(1);
    }
    if mode == "web" {
        web::serve();
    }
    if mode == "never-ready" {
        log_line!("{NAME}[{mode}] started; will never report ready");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    let host = std::env::var("SCF_RUNTIME_API").unwrap_or_default();
    let port = std::env::var("SCF_RUNTIME_API_PORT").ok().and_then(|p| p.trim().parse::<u16>().ok());
    let (Some(port), false) = (port, host.is_empty()) else {
        log_line!("{NAME}[{mode}] SCF_RUNTIME_API and SCF_RUNTIME_API_PORT must be set (run it through the gateway)");
        exit(2);
    };
    // Read once: a new version shows only when the gateway restarts the process.
    let version = std::fs::read_to_string("VERSION").unwrap_or_default().lines().next().unwrap_or_default().to_string();
    let mut client = RuntimeClient { host, port, conn: None };

    match client.request("POST", "/runtime/init/ready", b" ") {
        Ok(r) if (200..300).contains(&r.status) => {}
        Ok(r) => log_line!("{NAME}[{mode}] init/ready answered {}", r.status),
        Err(e) => {
            log_line!("{NAME}[{mode}] cannot reach the runtime API at {}:{}: {e}", client.host, client.port);
            exit(1);
        }
    }

    loop {
        let next = match client.request("GET", "/runtime/invocation/next", b"") {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                log_line!("{NAME}[{mode}] invocation/next answered {}; exiting", r.status);
                exit(1);
            }
            Err(e) => {
                log_line!("{NAME}[{mode}] invocation/next failed: {e}; exiting");
                exit(1);
            }
        };
        let request_id = next.header("request_id").unwrap_or("-").to_string();
        log_line!("{NAME}[{mode}] request_id={request_id}");

        match handle(&mode, &version, &next.body) {
            Outcome::Response(body) => client.post(&mode, "/runtime/invocation/response", &body),
            Outcome::Error(text) => client.post(&mode, "/runtime/invocation/error", &text),
        }
        if mode == "exit-after-first" {
            exit(0);
        }
    }
}
