//! HTTPS against the real binary with a real TLS client: the certificate is chosen by SNI, a
//! hello without SNI or with an unknown name is refused with an alert, TLS 1.2 and 1.3 both
//! work with ALPN `http/1.1`, HTTPS serves the same APIs as HTTP, and bad certificates are
//! refused at start with an error naming the file.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::metrics::{metrics_address, sample, scrape, scrape_until, value};
use common::{Gateway, TempDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

const CONFIG: &str = r#"
[[service]]
id = "service-tls"
name = "tls"

[[service.api]]
name = "echo"
path = "/echo"
method = "ANY"
function = { name = "echo" }

[[service.api]]
name = "secure-only"
path = "/secure"
method = "GET"
protocol = "https"
function = { name = "echo" }

[[function]]
name = "echo"
runtime = "custom"
code = "echo"

[[certificate]]
hosts = ["a.example"]
cert = "a.crt"
key = "a.key"

[[certificate]]
hosts = ["*.b.example"]
cert = "b.crt"
key = "b.key"
"#;

/// A self-signed certificate for `name`, written as `<stem>.crt` / `<stem>.key` in `dir`.
fn write_certificate(dir: &TempDir, stem: &str, name: &str) -> String {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    dir.write(&format!("{stem}.crt"), &certified.cert.pem());
    dir.write(&format!("{stem}.key"), &certified.signing_key.serialize_pem());
    certified.cert.pem()
}

struct Certificates {
    a: String,
    b: String,
}

fn start() -> (Gateway, SocketAddr, Certificates) {
    start_with(&[])
}

/// [`start`] with extra command-line flags.
fn start_with(args: &[(&str, &str)]) -> (Gateway, SocketAddr, Certificates) {
    let mut builder = Gateway::builder(CONFIG).function("echo", "echo").arg("--tls-listen", "127.0.0.1:0");
    for (flag, value) in args {
        builder = builder.arg(flag, value);
    }
    let certificates = Certificates {
        a: write_certificate(builder.dir(), "a", "a.example"),
        b: write_certificate(builder.dir(), "b", "api.b.example"),
    };
    let gateway = builder.start();
    let address = gateway.https_addr();
    (gateway, address, certificates)
}

fn client_config(
    trusted_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    sni: bool,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(trusted_pem.as_bytes()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.enable_sni = sni;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Sends one request over TLS; returns the status line and body, or the TLS/IO error text.
fn https_get(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    name: &str,
    path: &str,
) -> Result<(String, String, Option<Vec<u8>>), String> {
    https_exchange(address, config, name, path).map(|(status, body, alpn, _)| (status, body, alpn))
}

/// Status line, body, ALPN protocol and whether the handshake was full or resumed.
type Exchanged = (String, String, Option<Vec<u8>>, Option<rustls::HandshakeKind>);

/// [`https_get`], also saying whether the handshake was full or resumed.
fn https_exchange(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    name: &str,
    path: &str,
) -> Result<Exchanged, String> {
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let connection = rustls::ClientConnection::new(config, server_name).map_err(|error| error.to_string())?;
    let socket = TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A server that closes without close_notify after a complete response is fine here.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(error) => return Err(error.to_string()),
    }
    let alpn = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
    let kind = stream.conn.handshake_kind();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Ok((status, body, alpn, kind))
}

#[test]
fn a_returning_client_resumes_its_session_over_tls_1_3_and_1_2() {
    let (gateway, address, certificates) = start();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        // One client config: its session store keeps what the gateway gave the first connection.
        let config = client_config(&certificates.a, &[version], true);
        let kinds: Vec<_> = (0..3)
            .map(|_| {
                let (status, _, _, kind) =
                    https_exchange(address, config.clone(), "a.example", "/release/echo").unwrap();
                assert_eq!(status, "HTTP/1.1 200 OK");
                kind
            })
            .collect();
        use rustls::HandshakeKind::{Full, Resumed};
        assert_eq!(kinds, [Some(Full), Some(Resumed), Some(Resumed)], "{version:?}");
    }
    drop(gateway);
}

/// Reads one response with a `content-length` body from a TLS stream: (status line, body).
fn read_response(stream: &mut impl Read, buffered: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut fill = |buffered: &mut Vec<u8>| {
        let count = stream.read(&mut chunk).unwrap();
        assert!(count > 0, "closed mid-response: {:?}", String::from_utf8_lossy(buffered));
        buffered.extend_from_slice(&chunk[..count]);
    };
    let head_end = loop {
        if let Some(end) = buffered.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        fill(buffered);
    };
    let head = String::from_utf8_lossy(&buffered[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|value| value.trim().parse()))
        .expect("a content-length")
        .unwrap();
    while buffered.len() < head_end + length {
        fill(buffered);
    }
    let body = buffered[head_end..head_end + length].to_vec();
    buffered.drain(..head_end + length);
    (head.lines().next().unwrap_or_default().to_string(), body)
}

/// Idle HTTPS connections park with their sessions (issue 23): two thousand, each served one
/// request and then silent, grow the gateway's resident memory by under 24 KiB each (about 9.5 KB
/// measured by `loadtest/connections.py` in a release build; each held two 16 KiB I/O buffers
/// and its task, 57 KB, before), and each answers when it speaks again.
#[test]
fn idle_https_connections_park_with_their_sessions_in_bounded_memory() {
    const IDLE: usize = 2_000;
    let needed = 2 * IDLE as u64 + 500;
    let limit = common::raise_nofile_limit(needed);
    if limit < needed {
        println!("SKIPPED: RLIMIT_NOFILE is {limit} (the hard limit allows no more); {needed} descriptors are needed");
        return;
    }
    let (gateway, address, certificates) = start_with(&[("--park-after", "0.2"), ("--metrics-listen", "127.0.0.1:0")]);
    let metrics = metrics_address(&gateway);
    let config = client_config(&certificates.a, &[&rustls::version::TLS13], true);
    let get = b"GET /release/echo HTTP/1.1\r\nHost: a.example\r\n\r\n";
    let open = || {
        let connection =
            rustls::ClientConnection::new(config.clone(), ServerName::try_from("a.example").unwrap()).unwrap();
        let socket = TcpStream::connect(address).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut stream = rustls::StreamOwned::new(connection, socket);
        stream.write_all(get).unwrap();
        assert_eq!(read_response(&mut stream, &mut Vec::new()).0, "HTTP/1.1 200 OK");
        stream
    };
    // Warm up (allocator arenas, pools, the function's instances) before the baseline.
    drop((0..50).map(|_| open()).collect::<Vec<_>>());
    let parked = |text: &str| sample(text, "scfgate_connections_parked");
    scrape_until(metrics, |text| parked(text) == Some(0.0));
    let rss_before = common::rss_kib(gateway.pid());

    let mut idle: Vec<_> = (0..IDLE).map(|_| open()).collect();
    let text = scrape_until(metrics, |text| parked(text) == Some(IDLE as f64));
    assert_eq!(parked(&text), Some(IDLE as f64), "{text}");
    // What the allocator freed with their tasks goes back on the workers' next sweep.
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = common::rss_kib(gateway.pid());
    let per_connection = rss_after.saturating_sub(rss_before) * 1024 / IDLE as u64;
    println!(
        "{IDLE} idle HTTPS connections: gateway RSS {rss_before} KiB -> {rss_after} KiB ({per_connection} bytes each)"
    );
    assert!(per_connection < 24 * 1024, "{per_connection} bytes per idle HTTPS connection");

    for stream in idle.iter_mut().step_by(100) {
        stream.write_all(get).unwrap();
        assert_eq!(read_response(stream, &mut Vec::new()).0, "HTTP/1.1 200 OK");
    }
}

/// One keep-alive HTTPS connection serves request after request: after waiting idle past
/// `--park-after` (parked: its task ended, its session kept in the lot), two pipelined in the
/// write that wakes it, and bodies of megabytes both ways (many TLS records each way, and a
/// response larger than any one write), on both I/O drivers (`--driver legacy` is epoll, where
/// io_uring is unavailable: the TLS stream's readiness waits go through its poller).
#[test]
fn a_keep_alive_connection_serves_parked_pipelined_and_large_requests() {
    for driver in ["auto", "legacy"] {
        keep_alive_over_tls(driver);
    }
}

fn keep_alive_over_tls(driver: &str) {
    let args = [("--park-after", "0.2"), ("--metrics-listen", "127.0.0.1:0"), ("--driver", driver)];
    let (gateway, address, certificates) = start_with(&args);
    if driver == "legacy" {
        assert!(gateway.output.text().contains("epoll"), "not on the epoll driver:\n{}", gateway.output.text());
    }
    let metrics = metrics_address(&gateway);
    for (round, version) in [&rustls::version::TLS13, &rustls::version::TLS12].into_iter().enumerate() {
        let config = client_config(&certificates.a, &[version], true);
        let server_name = ServerName::try_from("a.example").unwrap();
        let connection = rustls::ClientConnection::new(config, server_name).unwrap();
        let socket = TcpStream::connect(address).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut stream = rustls::StreamOwned::new(connection, socket);
        let mut buffered = Vec::new();
        let get = "GET /release/echo?n=1 HTTP/1.1\r\nHost: a.example\r\n\r\n";
        stream.write_all(get.as_bytes()).unwrap();
        assert_eq!(read_response(&mut stream, &mut buffered).0, "HTTP/1.1 200 OK", "{driver} {version:?}");

        let text = scrape_until(metrics, |text| sample(text, "scfgate_connections_parked") == Some(1.0));
        assert_eq!(sample(&text, "scfgate_connections_parked"), Some(1.0), "{driver} {version:?}: {text}");
        stream.write_all(format!("{get}{get}").as_bytes()).unwrap();
        for _ in 0..2 {
            assert_eq!(read_response(&mut stream, &mut buffered).0, "HTTP/1.1 200 OK", "{driver} {version:?}");
        }
        let unparked = scrape(metrics);
        assert!(value(&unparked, "scfgate_connections_unparked_total") >= (round + 1) as f64, "{unparked}");

        // The echo function answers with the event, the body in it as sent (ASCII: no escapes).
        let body: Vec<u8> = (0..3_000_000u32).map(|index| b'a' + (index % 26) as u8).collect();
        let head = format!(
            "POST /release/echo HTTP/1.1\r\nHost: a.example\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        let (status, answer) = read_response(&mut stream, &mut buffered);
        assert_eq!(status, "HTTP/1.1 200 OK", "{driver} {version:?}");
        let event: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert!(
            event["body"].as_str().unwrap().as_bytes() == body.as_slice(),
            "{driver} {version:?}: the body came back whole"
        );

        // And it is still good for a small one.
        stream.write_all(get.as_bytes()).unwrap();
        assert_eq!(read_response(&mut stream, &mut buffered).0, "HTTP/1.1 200 OK", "{driver} {version:?}");
        assert!(buffered.is_empty());
    }
}

#[test]
fn sni_chooses_the_certificate_and_https_serves_the_apis() {
    let (gateway, address, certificates) = start();
    // (trusted certificate, SNI name) — each must verify against only its own certificate.
    let cases = [(&certificates.a, "a.example"), (&certificates.b, "api.b.example")];
    for (trusted, name) in cases {
        let config = client_config(trusted, &[&rustls::version::TLS13], true);
        let (status, body, alpn) = https_get(address, config, name, "/release/echo").unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK", "{name}");
        let event: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(event["headers"]["x-api-scheme"], "https", "{name}");
        assert_eq!(event["headers"]["host"], name);
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    }
    // TLS 1.2 is offered too.
    let tls12 = client_config(&certificates.a, &[&rustls::version::TLS12], true);
    assert_eq!(https_get(address, tls12, "a.example", "/release/echo").unwrap().0, "HTTP/1.1 200 OK");
    // The same API over plain HTTP.
    assert_eq!(gateway.get("/release/echo").status, 200);
    drop(gateway);
}

#[test]
fn hellos_without_sni_or_with_unknown_names_are_refused() {
    let (_gateway, address, certificates) = start();
    let both = format!("{}{}", certificates.a, certificates.b);
    // (SNI sent, name) — a refused handshake is an alert, never another host's certificate.
    let cases = [(false, "a.example"), (true, "c.example"), (true, "b.example"), (true, "deep.api.b.example")];
    for (sni, name) in cases {
        let config = client_config(&both, &[&rustls::version::TLS13, &rustls::version::TLS12], sni);
        let error = https_get(address, config, name, "/release/echo").unwrap_err();
        assert!(error.contains("alert"), "sni={sni} {name}: {error}");
    }
}

#[test]
fn https_only_apis_refuse_plain_http() {
    let (gateway, address, certificates) = start();
    let plain = gateway.get("/release/secure");
    assert_eq!(plain.status, 426);
    assert_eq!(plain.json()["message"], "Not allow use HTTP protocol.");
    let config = client_config(&certificates.a, &[&rustls::version::TLS13], true);
    assert_eq!(https_get(address, config, "a.example", "/release/secure").unwrap().0, "HTTP/1.1 200 OK");
}

#[test]
fn bad_certificates_are_refused_at_start_naming_the_file() {
    let dir = TempDir::new("tls-check");
    write_certificate(&dir, "a", "a.example");
    write_certificate(&dir, "b", "api.b.example");
    dir.function("echo", "echo");
    // (what to break, text the error must contain)
    let cases: [(&str, &str); 3] = [
        ("key = \"a.key\"", "b.key: the key does not match the certificate in"),
        ("cert = \"a.crt\"", "missing.crt: cannot read"),
        ("hosts = [\"a.example\"]", "certificate #1: field `hosts`: `bad host!` is not a host name"),
    ];
    let replacements = ["key = \"b.key\"", "cert = \"missing.crt\"", "hosts = [\"bad host!\"]"];
    for ((original, expected), replacement) in cases.iter().zip(replacements) {
        let config = CONFIG.replacen(original, replacement, 1);
        let file = dir.write("scfgate.toml", &config);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_scfgate"))
            .args(["--config", file.to_str().unwrap(), "--check"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in {stderr}");
        assert!(stderr.contains(&*Path::new(&file).parent().unwrap().to_string_lossy()), "{stderr}");
    }
}
