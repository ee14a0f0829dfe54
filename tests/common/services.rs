//! Real etcd and Redis servers for the cluster tests, each started on free loopback ports with
//! its data in a temporary folder, stopped (and startable again on the same ports and data, for
//! outage tests) by the test. When the Debian packages are missing the tests say so and pass,
//! unless `REQUIRE_CLUSTER_TESTS=1` (CI) makes that a failure.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::TempDir;

/// Whether `program` is installed; when not, whether the test may skip.
pub fn available(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("REQUIRE_CLUSTER_TESTS").is_err(),
            "{program} is not installed (scripts/setup-debian.sh installs it) and REQUIRE_CLUSTER_TESTS is set"
        );
        eprintln!("skipped: {program} is not installed (apt-get install etcd-server redis-server)");
    }
    found
}

/// A free loopback port (bound and let go; the race with another process is theirs to lose).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until_accepting(address: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {address}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// One etcd member.
pub struct Etcd {
    child: Option<Child>,
    data: TempDir,
    client_port: u16,
    peer_port: u16,
}

impl Etcd {
    /// Starts a one-member etcd.
    pub fn start() -> Etcd {
        let mut etcd =
            Etcd { child: None, data: TempDir::new("etcd"), client_port: free_port(), peer_port: free_port() };
        etcd.resume();
        etcd
    }

    /// `host:port` for clients.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// Stops it (SIGKILL: an outage, not a shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, same ports and data.
    pub fn resume(&mut self) {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let data: PathBuf = self.data.path.join("data");
        let child = Command::new("etcd")
            .args(["--name", "test", "--data-dir", data.to_str().unwrap()])
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}"), "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
        wait_until_accepting(format!("127.0.0.1:{}", self.client_port).parse().unwrap(), "etcd");
    }

    /// The raw value of one key, read through etcd's own JSON gateway (`/v3/kv/range`), as an
    /// operator reading etcd sees it.
    pub fn get(&self, key: &str) -> Vec<u8> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let body = serde_json::json!({ "key": engine.encode(key) }).to_string();
        let address: SocketAddr = self.endpoint().parse().unwrap();
        let mut client = super::Client::connect(address);
        client.send(&super::request_bytes("POST", "/v3/kv/range", &self.endpoint(), &[], body.as_bytes()));
        let response = client.read_response();
        assert_eq!(response.status, 200, "{}", response.text());
        let value = response.json()["kvs"][0]["value"].as_str().map(str::to_owned).unwrap_or_default();
        engine.decode(value).unwrap()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One Redis server.
pub struct Redis {
    child: Option<Child>,
    data: TempDir,
    port: u16,
}

impl Redis {
    /// Starts Redis, persisting nothing.
    pub fn start() -> Redis {
        let mut redis = Redis { child: None, data: TempDir::new("redis"), port: free_port() };
        redis.resume();
        redis
    }

    /// `redis://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn resume(&mut self) {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", self.data.path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        self.child = Some(child);
        wait_until_accepting(format!("127.0.0.1:{}", self.port).parse().unwrap(), "redis-server");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
