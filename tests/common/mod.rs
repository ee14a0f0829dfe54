//! Test harness shared by the integration tests: the real `scfgate` binary started on loopback with
//! real function processes, a raw HTTP/1.1 client, and a tiny HTTP endpoint standing in for a
//! `runtime = "remote"` function.
//!
//! Nothing here mocks the gateway: every test talks to the binary over TCP, as a user's client would.
//! Waits are bounded by generous limits and only ever wait *for* something; no test asserts how
//! long anything took.

#![allow(dead_code)]

pub mod environment;
pub mod notify;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The gateway under test.
pub const GATEWAY_BIN: &str = env!("CARGO_BIN_EXE_scfgate");
/// The example function (examples/hello/function/main.rs), run by the generated bootstraps.
pub const FUNCTION_BIN: &str = env!("CARGO_BIN_EXE_scf-example-function");

/// The `PATH` gateways under test run with, and so what their functions get: the example
/// function's folder first, so that the bootstraps (examples/hello, tests/fixtures/example-
/// function) find `scf-example-function` on it whatever the target folder is.
pub fn gateway_path() -> String {
    let folder = Path::new(FUNCTION_BIN).parent().expect("the example function's folder");
    match std::env::var("PATH") {
        Ok(path) if !path.is_empty() => format!("{}:{path}", folder.display()),
        _ => folder.display().to_string(),
    }
}

/// Upper bound for the gateway to say it is listening.
const START_LIMIT: Duration = Duration::from_secs(20);
/// Upper bound for one response (functions that sleep on purpose stay well under it).
pub const READ_LIMIT: Duration = Duration::from_secs(30);

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Scratch folders.
// ---------------------------------------------------------------------------------------------

/// A fresh folder under the system temp dir, unique per test, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "scfgate-it-{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// Writes `<dir>/<folder>/bootstrap` that execs the example function in `mode`.
    pub fn function(&self, folder: &str, mode: &str) -> PathBuf {
        let script = format!("#!/bin/sh\nexec \"{FUNCTION_BIN}\" {mode}\n");
        self.executable(&format!("{folder}/bootstrap"), &script)
    }

    /// Writes an executable file (creating folders) and returns its path.
    pub fn executable(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.write(relative, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// Writes a file (creating folders) and returns its path.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).expect("create folder");
        std::fs::write(&path, text).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Captured output of a child process.
// ---------------------------------------------------------------------------------------------

/// Lines a child wrote, kept in full, with a condition variable to wait for one.
#[derive(Clone, Default)]
pub struct Output(Arc<(Mutex<OutputState>, Condvar)>);

#[derive(Default)]
struct OutputState {
    lines: Vec<String>,
    open_streams: usize,
}

impl Output {
    fn capture(&self, stream: impl Read + Send + 'static) {
        self.0 .0.lock().unwrap().open_streams += 1;
        let output = self.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
                        let (state, changed) = &*output.0;
                        state.lock().unwrap().lines.push(text);
                        changed.notify_all();
                    }
                }
            }
            let (state, changed) = &*output.0;
            state.lock().unwrap().open_streams -= 1;
            changed.notify_all();
        });
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().lines.clone()
    }

    /// Every line so far, joined.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits until `done` holds for the lines so far (true) or `limit` passes / the streams close
    /// without it holding (false).
    pub fn wait_for(&self, limit: Duration, mut done: impl FnMut(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let (state, changed) = &*self.0;
        let mut guard = state.lock().unwrap();
        loop {
            if done(&guard.lines) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || guard.open_streams == 0 {
                return done(&guard.lines);
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// Waits until some line contains `needle`.
    pub fn wait_for_line(&self, needle: &str, limit: Duration) -> bool {
        self.wait_for(limit, |lines| lines.iter().any(|line| line.contains(needle)))
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|line| line.contains(needle)).count()
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway.
// ---------------------------------------------------------------------------------------------

/// Builds a gateway: a config file and function folders in a fresh temp dir, plus extra flags.
pub struct GatewayBuilder {
    dir: TempDir,
    config: String,
    /// An existing config file to use instead of writing `config`.
    file: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    workers: usize,
}

impl GatewayBuilder {
    /// Worker threads (the harness runs 2 unless told otherwise).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// A custom-runtime function folder `<dir>/<folder>` running the example function in `mode`;
    /// the config names it as `code = "<folder>"` (relative to the config file).
    pub fn function(self, folder: &str, mode: &str) -> Self {
        self.dir.function(folder, mode);
        self
    }

    /// An extra command-line flag (`"--max-body-bytes", "1024"`).
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.to_string());
        self.args.push(value.to_string());
        self
    }

    /// An extra command-line flag that takes no value (`"--access-log"`).
    pub fn flag(mut self, flag: &str) -> Self {
        self.args.push(flag.to_string());
        self
    }

    /// An environment variable for the gateway process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// The temp dir, to add files before starting.
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// Writes the config, starts the binary and waits until it listens.
    pub fn start(self) -> Gateway {
        let config_path = match &self.file {
            Some(file) => file.clone(),
            None => self.dir.write("scfgate.toml", &self.config),
        };
        let mut command = Command::new(GATEWAY_BIN);
        command
            .arg("--config")
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0", "--workers", &self.workers.to_string()])
            .args(&self.args)
            .env("PATH", gateway_path())
            .envs(self.envs.iter().map(|(name, value)| (name, value)))
            .env_remove("SCFGATE_LOG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the scfgate binary");
        let output = Output::default();
        output.capture(child.stdout.take().unwrap());
        output.capture(child.stderr.take().unwrap());
        let mut gateway = Gateway { child: Some(child), addr: None, output, exit: None, dir: self.dir };

        const MARK: &str = "scfgate listening on http://";
        let listening = gateway.output.wait_for_line(MARK, START_LIMIT);
        let line = gateway.output.lines().into_iter().find(|line| line.contains(MARK));
        match (listening, line) {
            (true, Some(line)) => {
                let rest = &line[line.find(MARK).unwrap() + MARK.len()..];
                let address = rest.split_whitespace().next().unwrap_or_default();
                gateway.addr = Some(address.parse().unwrap_or_else(|_| panic!("bad address in {line:?}")));
            }
            _ => {
                let status = gateway.child.as_mut().unwrap().try_wait().ok().flatten();
                panic!(
                    "scfgate did not report listening within {START_LIMIT:?} (exit: {status:?}); its output:\n{}",
                    gateway.output.text()
                );
            }
        }
        // Wait for the first start of every local function instance, so a test's connections
        // are not open while function processes are being forked (see the `function_processes_
        // do_not_inherit_client_connections` test in functions.rs for why that matters).
        let instances = custom_instances(&self.config);
        if instances > 0 {
            gateway.wait_for_function_starts(instances);
        }
        gateway
    }
}

/// How many custom-runtime processes `config` asks for (`instances`, default 1, per function).
pub fn custom_instances(config: &str) -> usize {
    let Ok(parsed) = toml::from_str::<toml::Table>(config) else { return 0 };
    let Some(functions) = parsed.get("function").and_then(|value| value.as_array()) else { return 0 };
    functions
        .iter()
        .filter(|function| function.get("runtime").and_then(|runtime| runtime.as_str()) == Some("custom"))
        .map(|function| function.get("instances").and_then(|count| count.as_integer()).unwrap_or(1) as usize)
        .sum()
}

/// A running gateway. Dropping it sends SIGTERM and waits for the process to exit.
pub struct Gateway {
    child: Option<Child>,
    addr: Option<SocketAddr>,
    pub output: Output,
    exit: Option<ExitStatus>,
    pub dir: TempDir,
}

impl Gateway {
    /// A builder for `config` (TOML). Relative `code` folders are relative to the temp dir.
    pub fn builder(config: &str) -> GatewayBuilder {
        GatewayBuilder {
            dir: TempDir::new("gateway"),
            config: config.to_string(),
            file: None,
            args: Vec::new(),
            envs: Vec::new(),
            workers: 2,
        }
    }

    /// A builder for an existing config file (e.g. the bundled example), used in place.
    pub fn builder_for_file(file: &Path) -> GatewayBuilder {
        let config = std::fs::read_to_string(file).unwrap_or_else(|error| panic!("read {}: {error}", file.display()));
        GatewayBuilder {
            dir: TempDir::new("gateway"),
            config,
            file: Some(file.to_path_buf()),
            args: Vec::new(),
            envs: Vec::new(),
            workers: 2,
        }
    }

    /// Starts a gateway whose config needs no function folders (remote functions, fixtures).
    pub fn start(config: &str) -> Gateway {
        Gateway::builder(config).start()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("listening")
    }

    /// The `Host` value a client of this gateway sends by default.
    pub fn host(&self) -> String {
        self.addr().to_string()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr())
    }

    /// GET on a new connection.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// One request on a new connection; `Host` is added unless `headers` has one, and
    /// `Content-Length` when there is a body (or the method usually has one).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut client = self.connect();
        client.send(&request_bytes(method, path, &self.host(), headers, body));
        if method == "HEAD" {
            client.read_head_response()
        } else {
            client.read_response()
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let child = self.child.as_mut().expect("child");
        // SAFETY: kill(2) on our own child's pid; no memory involved.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    break child.wait().expect("wait for scfgate");
                }
            }
        };
        self.exit = Some(status);
        status
    }

    /// Pids from the `started function process ... pid=N` log lines, in order.
    pub fn function_pids(&self) -> Vec<i32> {
        self.output
            .lines()
            .iter()
            .filter(|line| line.contains("started function process"))
            .filter_map(|line| log_field(line, "pid")?.parse().ok())
            .collect()
    }

    /// Waits until `count` function processes have been started (logged).
    pub fn wait_for_function_starts(&self, count: usize) -> Vec<i32> {
        let started = self.output.wait_for(START_LIMIT, |lines| {
            lines.iter().filter(|line| line.contains("started function process")).count() >= count
        });
        assert!(started, "expected {count} function processes to start; output:\n{}", self.output.text());
        self.function_pids()
    }

    /// The gateway process's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    /// Whether the gateway process is still running (it has not exited or been terminated).
    pub fn is_running(&mut self) -> bool {
        self.exit.is_none() && self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

/// A process's resident set size (`VmRSS` in `/proc/<pid>/status`), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("read /proc/{pid}/status: {error}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// How many file descriptors a process has open (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap_or_else(|error| panic!("read /proc/{pid}/fd: {error}")).count()
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
        if thread::panicking() {
            let lines = self.output.lines();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!("---- scfgate output (last {} lines) ----\n{}\n----", tail.len(), tail.join("\n"));
        }
    }
}

/// `key=value` from a tracing log line.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    line.split_whitespace().find_map(|word| word.strip_prefix(prefix.as_str()))
}

/// Whether a process is gone (or a zombie: dead, waiting to be reaped by whoever adopted it).
pub fn process_is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])).unwrap_or(false),
    }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.
// ---------------------------------------------------------------------------------------------

/// An HTTP date, as Tencent's key-pair examples write `X-Date`:
/// `datetime.datetime.utcnow().strftime('%a, %d %b %Y %H:%M:%S GMT')`, for `unix` seconds.
pub fn http_date(unix: i64) -> String {
    scfgate::calendar::format_http_date(unix)
}

/// The bytes of one request. Adds `Host` (unless given) and `Content-Length` (unless a
/// `Content-Length` or `Transfer-Encoding` is given, and only when there is a body or the method
/// is POST/PUT).
pub fn request_bytes(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(key, _)| key.eq_ignore_ascii_case(name));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") && (!body.is_empty() || method == "POST" || method == "PUT")
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One response as the client read it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str()).collect()
    }

    /// `x-api-requestid`, which every response must carry.
    pub fn request_id(&self) -> &str {
        self.header("x-api-requestid").unwrap_or_else(|| panic!("no x-api-requestid in {self:?}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {:?} (status {})", self.text(), self.status))
    }

    /// Whether the server announced it closes the connection.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// A client connection with a read buffer: bytes after one response stay for the next read.
pub struct Client {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|error| panic!("connect to {addr}: {error}"));
        stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
        stream.set_write_timeout(Some(READ_LIMIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream, buffer: Vec::new() }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the gateway");
    }

    /// Writes raw bytes, reporting failure (the server may have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a request built by [`request_bytes`] with `host`.
    pub fn send_request(&mut self, method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) {
        self.send(&request_bytes(method, path, host, headers, body));
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let count = self.stream.read(&mut chunk)?;
        self.buffer.extend_from_slice(&chunk[..count]);
        Ok(count)
    }

    /// Reads one response (panics on a read error, a timeout or a closed connection).
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false).unwrap_or_else(|error| panic!("reading a response: {error}"))
    }

    /// Reads the response to a HEAD request: no body follows its head.
    pub fn read_head_response(&mut self) -> Response {
        self.try_read_response(true).unwrap_or_else(|error| panic!("reading a HEAD response: {error}"))
    }

    /// Reads one response; `head_only` for the answer to HEAD.
    pub fn try_read_response(&mut self, head_only: bool) -> io::Result<Response> {
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a whole response head; got {:?}",
                        String::from_utf8_lossy(&self.buffer)
                    ),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end - 4]).into_owned();
        self.buffer.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
            .collect();
        let mut response = Response { status, reason, headers, body: Vec::new() };
        if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(response);
        }
        let chunked = response.header("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
        if chunked {
            response.body = self.read_chunked()?;
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad content-length {length:?}")))?;
            while self.buffer.len() < length {
                if self.fill()? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a body"));
                }
            }
            response.body = self.buffer.drain(..length).collect();
        } else {
            while self.fill()? > 0 {}
            response.body = std::mem::take(&mut self.buffer);
        }
        Ok(response)
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                self.buffer.drain(..end + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a chunked body"));
            }
        }
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
            if size == 0 {
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            while self.buffer.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a chunk"));
                }
            }
            body.extend(self.buffer.drain(..size));
            self.buffer.drain(..2);
        }
    }

    /// Waits (up to the read limit) for the server to close: true when it closed (EOF or reset)
    /// with nothing more sent, false when bytes arrived or the wait ran out.
    pub fn closed_by_server(&mut self) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        match self.fill() {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => matches!(error.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted),
        }
    }

    /// Bytes buffered beyond the responses read so far.
    pub fn leftover(&self) -> &[u8] {
        &self.buffer
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

// ---------------------------------------------------------------------------------------------
// A remote function endpoint (`runtime = "remote"`).
// ---------------------------------------------------------------------------------------------

/// How the endpoint frames its reply body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    Chunked,
    /// No length: the body ends when the endpoint closes the connection.
    CloseDelimited,
    /// `body` is the whole reply, status line included, sent as is; then the connection closes.
    Raw,
}

/// What the endpoint answers to every POST.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None`: answer with the request body (the event).
    pub body: Option<Vec<u8>>,
    pub framing: Framing,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: Some(body.as_bytes().to_vec()),
            framing: Framing::ContentLength,
            delay: Duration::ZERO,
        }
    }

    /// 200 echoing the event back.
    pub fn echo() -> Reply {
        Reply { body: None, ..Reply::ok("") }
    }

    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn framing(mut self, framing: Framing) -> Reply {
        self.framing = framing;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// One request the endpoint received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

struct EndpointState {
    reply: Mutex<Reply>,
    close_after_response: AtomicBool,
    connections: AtomicUsize,
    /// Connections accepted and not yet closed by the gateway (or by the endpoint).
    open: AtomicUsize,
    requests: AtomicUsize,
    recorded: Mutex<Vec<Recorded>>,
    stop: AtomicBool,
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1:0 answering every request with a configurable reply.
pub struct RemoteEndpoint {
    pub addr: SocketAddr,
    state: Arc<EndpointState>,
}

impl RemoteEndpoint {
    pub fn start(reply: Reply) -> RemoteEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the remote endpoint");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(EndpointState {
            reply: Mutex::new(reply),
            close_after_response: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                shared.open.fetch_add(1, Ordering::SeqCst);
                let state = shared.clone();
                thread::spawn(move || {
                    serve_endpoint_connection(stream, state.clone());
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        RemoteEndpoint { addr, state }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_reply(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    /// Close each connection right after its response, without announcing it (no
    /// `Connection: close`), as an endpoint that drops idle keep-alive connections does.
    pub fn close_after_response(&self, close: bool) {
        self.state.close_after_response.store(close, Ordering::SeqCst);
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Connections open now (accepted, and neither side has closed yet).
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.recorded().pop().expect("the endpoint received a request")
    }
}

impl Drop for RemoteEndpoint {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// Reads one HTTP/1.1 request (head and Content-Length body) from `stream`, with `buffer` holding
/// bytes already read (and left holding what follows the request). `None`: the peer closed.
pub fn read_request(stream: &mut impl Read, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end - 4]).into_owned();
    let mut lines = head.split("\r\n");
    let mut words = lines.next().unwrap_or_default().split(' ');
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
        }
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(Recorded { method, target, headers, body })
}

fn serve_endpoint_connection(mut stream: TcpStream, state: Arc<EndpointState>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer) else { return };
        let body = request.body.clone();
        state.requests.fetch_add(1, Ordering::SeqCst);
        state.recorded.lock().unwrap().push(request);

        let reply = state.reply.lock().unwrap().clone();
        if !reply.delay.is_zero() {
            thread::sleep(reply.delay);
        }
        let reply_body = reply.body.clone().unwrap_or(body);
        if reply.framing == Framing::Raw {
            let _ = stream.write_all(&reply_body);
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (name, value) in &reply.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut bytes;
        match reply.framing {
            Framing::ContentLength => {
                out.push_str(&format!("Content-Length: {}\r\n\r\n", reply_body.len()));
                bytes = out.into_bytes();
                bytes.extend_from_slice(&reply_body);
            }
            Framing::Chunked => {
                out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                bytes = out.into_bytes();
                // Two chunks (when there is enough body), to exercise reassembly.
                let middle = reply_body.len() / 2;
                for part in [&reply_body[..middle], &reply_body[middle..]] {
                    if !part.is_empty() {
                        bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                        bytes.extend_from_slice(part);
                        bytes.extend_from_slice(b"\r\n");
                    }
                }
                bytes.extend_from_slice(b"0\r\n\r\n");
            }
            Framing::CloseDelimited => {
                out.push_str("\r\n");
                bytes = out.into_bytes();
                bytes.extend_from_slice(&reply_body);
            }
            Framing::Raw => unreachable!("sent above"),
        }
        if stream.write_all(&bytes).is_err() {
            return;
        }
        if reply.framing == Framing::CloseDelimited || state.close_after_response.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Small helpers.
// ---------------------------------------------------------------------------------------------

/// Runs `scfgate` with `args` to completion; returns (exit status, stdout, stderr).
pub fn run_gateway(args: &[&str]) -> (ExitStatus, String, String) {
    let output = Command::new(GATEWAY_BIN).args(args).env_remove("SCFGATE_LOG").output().expect("run scfgate");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Sends `count` requests concurrently (one thread and connection each) and returns the
/// responses in request order.
pub fn concurrently(addr: SocketAddr, requests: Vec<Vec<u8>>) -> Vec<Response> {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|bytes| {
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                client.send(&bytes);
                client.read_response()
            })
        })
        .collect();
    handles.into_iter().map(|handle| handle.join().expect("request thread")).collect()
}
