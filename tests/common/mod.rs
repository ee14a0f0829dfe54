//! Test harness shared by the integration tests: the real `scfgate` binary started on loopback with
//! real function processes, a raw HTTP/1.1 client, and a tiny HTTP endpoint standing in for a
//! `runtime = "remote"` function.
//!
//! Nothing here mocks the gateway: every test talks to the binary over TCP, as a user's client would.
//! Waits are bounded by generous limits and only ever wait *for* something; no test asserts how
//! long anything took.

#![allow(dead_code)]

pub mod client;
pub mod environment;
pub mod metrics;
pub mod notify;
pub mod remote;
pub mod services;

#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use remote::*;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

    /// The HTTPS listener's address (`--tls-listen`), once the gateway has logged it: the log
    /// line may come after the plain listener's, which is all `start` waits for.
    pub fn https_addr(&self) -> SocketAddr {
        const MARK: &str = "scfgate listening on https://";
        assert!(self.output.wait_for_line(MARK, START_LIMIT), "no HTTPS listener: {}", self.output.text());
        let line = self.output.lines().into_iter().find(|line| line.contains(MARK)).unwrap();
        line[line.find(MARK).unwrap() + MARK.len()..].split_whitespace().next().unwrap().parse().unwrap()
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

/// Raises this process's soft RLIMIT_NOFILE to `want` (within the hard limit); returns the soft
/// limit now in force.
pub fn raise_nofile_limit(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit on a stack value; no memory is shared.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        let target = want.min(limit.rlim_max);
        if limit.rlim_cur < target {
            limit.rlim_cur = target;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                let mut now: libc::rlimit = std::mem::zeroed();
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut now);
                return now.rlim_cur;
            }
        }
        limit.rlim_cur
    }
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
