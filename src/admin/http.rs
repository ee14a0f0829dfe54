//! The admin listener's HTTP/1.1: a blocking server, one thread per connection, on its own
//! threads (never a worker's). Admin traffic is a few requests a minute, so simplicity wins over
//! the data plane's machinery. It parses requests (httparse, Content-Length bodies only), checks
//! the bearer token in constant time (or, without one, that `Host` is a loopback name), and writes
//! responses; what a request means is `api`'s.

use std::io::{BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::connections::{Connections, Slot};
use super::error::AdminError;

const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Large enough for an OpenAPI document or a whole exported state.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Admin connections open at once, each on a thread of its own, so a flood of connections (before
/// any token check) cannot exhaust threads. Past it the one that has waited longest for a request
/// is closed, or the new one gets 503 when all are being answered (see `connections`).
const MAX_CONNECTIONS: usize = 64;

/// One request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, percent-decoded per segment by [`Request::segments`].
    pub path: String,
    /// Query pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's first value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// A query value.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The path's segments, percent-decoded (`/v1/services/a%2Fb` -> `["v1", "services", "a/b"]`).
    pub fn segments(&self) -> Vec<String> {
        self.path.split('/').filter(|segment| !segment.is_empty()).map(percent_decode).collect()
    }
}

/// One response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra header fields.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Response { status, content_type: "application/json", headers: Vec::new(), body }
    }

    /// A text response of some type.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Response {
        Response { status, content_type, headers: Vec::new(), body: body.into_bytes() }
    }

    /// Offers the body as a file download named `name`.
    pub fn attachment(mut self, name: &str) -> Response {
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
        self.headers.push(("Content-Disposition", format!("attachment; filename=\"{safe}\"")));
        self
    }

    /// The response for a failed call.
    pub fn error(error: &AdminError) -> Response {
        let mut response = Response::json(error.status(), &error.body());
        if matches!(error, AdminError::Unauthorized) {
            response.headers.push(("WWW-Authenticate", "Bearer realm=\"scfgate-admin\"".into()));
        }
        response
    }
}

/// What the server needs to answer: the token (none: loopback without authentication) and the
/// handlers.
pub struct Server<H> {
    /// The admin token.
    pub token: Option<String>,
    /// Answers an authenticated request.
    pub handler: H,
    /// Answers the requests for files that hold no secret (the console's), before the token is
    /// checked; `None` leaves the request to `handler`.
    pub public: fn(&Request) -> Option<Response>,
    /// Cleared when this process must stop accepting (a binary upgrade handed the listener on).
    pub accepting: Arc<AtomicBool>,
    /// Cleared by the accept loop as it leaves.
    pub running: Arc<AtomicBool>,
}

/// Clears the server's `running` flag when the accept loop leaves, whichever way it does.
struct Leaving(Arc<AtomicBool>);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How often the accept loop looks at `accepting` while no connection comes.
const ACCEPT_POLL_MS: i32 = 200;

impl<H: Fn(Request) -> Response + Send + Sync + 'static> Server<H> {
    /// Accepts connections, each on its own thread, until `accepting` is cleared.
    ///
    /// The socket is non-blocking and waited on with poll(2): after a binary upgrade two
    /// processes share it for a while, so a connection poll announced may have gone to the other
    /// one, and a blocking accept would then wait past the moment this process should stop.
    pub fn run(self, listener: TcpListener) {
        let server = Arc::new(self);
        let _leaving = Leaving(server.running.clone());
        let connections = Connections::new(MAX_CONNECTIONS);
        if let Err(error) = listener.set_nonblocking(true) {
            tracing::error!(%error, "admin: cannot make the listener non-blocking");
            return;
        }
        while server.accepting.load(Ordering::Acquire) {
            let mut waiting =
                libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&listener), events: libc::POLLIN, revents: 0 };
            // SAFETY: poll(2) on one pollfd on this stack frame, for the listener this loop owns.
            // Looked at again after the wait: a connection that came while this process was being
            // told to stop is the new process's to take.
            if unsafe { libc::poll(&mut waiting, 1, ACCEPT_POLL_MS) } <= 0 || !server.accepting.load(Ordering::Acquire)
            {
                continue;
            }
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(error) => {
                    // Out of descriptors, say: back off instead of spinning.
                    tracing::warn!(%error, "admin: accept failed");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            // Accepted sockets do not inherit O_NONBLOCK on Linux; this says it anyway.
            let _ = stream.set_nonblocking(false);
            let Some(slot) = connections.admit(&stream) else {
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = write_response(&mut stream, &Response::error(&AdminError::Busy), false);
                continue;
            };
            let server = server.clone();
            let spawned = std::thread::Builder::new()
                .name("scfgate-admin-conn".into())
                .spawn(move || server.serve(stream, &slot));
            if let Err(error) = spawned {
                tracing::warn!(%error, "admin: cannot start a connection thread");
            }
        }
    }

    fn serve(&self, stream: TcpStream, slot: &Slot) {
        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().map(|address| address.ip().to_string()).unwrap_or_default();
        let port = stream.local_addr().map(|address| address.port()).unwrap_or_default();
        let Ok(mut writer) = stream.try_clone() else { return };
        let mut reader = BufReader::new(stream);
        loop {
            let request = match read_request(&mut reader) {
                Ok(Some(request)) => request,
                Ok(None) => return,
                Err(error) => {
                    let _ = write_response(&mut writer, &Response::error(&error), false);
                    return;
                }
            };
            if !slot.busy() {
                // Closed to make room for a new connection while this request arrived.
                return;
            }
            let keep_alive = !request.header("connection").is_some_and(|value| value.eq_ignore_ascii_case("close"));
            // The console's files hold no secret: served before the token check (the page asks
            // for the token when the API answers 401), but not to a name that is not this one.
            let console = match self.check_host(&request, port) {
                Ok(()) => (self.public)(&request),
                Err(error) => {
                    audit(&peer, &request.method, &request.path, error.status(), std::time::Duration::ZERO);
                    Some(Response::error(&error))
                }
            };
            let response = match console {
                Some(response) => response,
                None => {
                    let started = std::time::Instant::now();
                    let (method, path) = (request.method.clone(), request.path.clone());
                    let response = match self.admit(&request) {
                        Ok(()) => (self.handler)(request),
                        Err(error) => Response::error(&error),
                    };
                    audit(&peer, &method, &path, response.status, started.elapsed());
                    response
                }
            };
            if write_response(&mut writer, &response, keep_alive).is_err() || !keep_alive {
                return;
            }
            slot.waiting();
        }
    }

    /// Without a token, only requests that name this listener by a loopback name. Loopback alone
    /// does not keep browsers out: a page whose own name an attacker re-resolves to 127.0.0.1
    /// (DNS rebinding) reaches this listener with its name as `Host` and a matching `Origin`.
    /// With a token the token protects, and remote operators may use any name.
    fn check_host(&self, request: &Request, port: u16) -> Result<(), AdminError> {
        let host = request.header("host").unwrap_or_default();
        if self.token.is_some() || loopback_host(host, port) {
            return Ok(());
        }
        Err(AdminError::ForeignHost { host: host.to_owned(), port })
    }

    /// The token, and no cross-origin browser calls (a page elsewhere must not drive the admin
    /// API through a logged-in browser or a loopback listener without a token).
    fn admit(&self, request: &Request) -> Result<(), AdminError> {
        if let Some(origin) = request.header("origin") {
            let host = request.header("host").unwrap_or_default();
            let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
            if !same {
                return Err(AdminError::CrossOrigin);
            }
        }
        let Some(token) = &self.token else { return Ok(()) };
        let sent = request.header("authorization").and_then(|value| {
            let (scheme, credentials) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
        });
        match sent {
            Some(sent) if constant_time_eq(sent.as_bytes(), token.as_bytes()) => Ok(()),
            _ => Err(AdminError::Unauthorized),
        }
    }
}

/// Whether a `Host` value names a loopback listener on `port`: `localhost`, an address in
/// 127.0.0.0/8 or `[::1]`, without a port or with this one. Names compare case-insensitively
/// (RFC 3986 §3.2.2).
fn loopback_host(host: &str, port: u16) -> bool {
    let (loopback, after) = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, after)) => (address.parse::<Ipv6Addr>().is_ok_and(|address| address.is_loopback()), after),
            None => return false,
        },
        None => {
            let (name, after) = host.find(':').map_or((host, ""), |colon| host.split_at(colon));
            let loopback = name.eq_ignore_ascii_case("localhost")
                || name.parse::<Ipv4Addr>().is_ok_and(|address| address.is_loopback());
            (loopback, after)
        }
    };
    let same_port = after.is_empty() || after.strip_prefix(':').and_then(|text| text.parse::<u16>().ok()) == Some(port);
    loopback && same_port
}

/// Compares without an early exit (`crate::constant_time`), so the time taken does not tell how
/// much of a guess matched; the SHA-256 digests are compared, so that it does not tell the token's
/// length either.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    use ring::digest::{digest, SHA256};
    crate::constant_time::eq(digest(&SHA256, left).as_ref(), digest(&SHA256, right).as_ref())
}

/// Reads one request; `None` when the client closed between requests.
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>, AdminError> {
    let mut head = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        match reader.read(&mut byte) {
            Ok(0) if head.is_empty() => return Ok(None),
            Ok(0) => return Err(AdminError::bad("the connection closed in the middle of a request")),
            Ok(_) => head.push(byte[0]),
            Err(_) if head.is_empty() => return Ok(None),
            Err(error) => return Err(AdminError::bad(format!("cannot read the request: {error}"))),
        }
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(AdminError::bad("the request head is too large"));
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(AdminError::bad("malformed HTTP request")),
    }
    let method = parsed.method.unwrap_or_default().to_owned();
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|field| (field.name.to_ascii_lowercase(), String::from_utf8_lossy(field.value).trim().to_owned()))
        .collect();
    if headers.iter().any(|(name, _)| name == "transfer-encoding") {
        return Err(AdminError::bad("send the body with Content-Length (chunked bodies are not accepted here)"));
    }
    let length = match headers.iter().find(|(name, _)| name == "content-length") {
        None => 0,
        Some((_, value)) => value.parse::<usize>().map_err(|_| AdminError::bad("Content-Length is not a number"))?,
    };
    if length > MAX_BODY_BYTES {
        return Err(AdminError::TooLarge);
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|error| AdminError::bad(format!("cannot read the request body: {error}")))?;
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (crate::http::percent::decode_text(key, true), crate::http::percent::decode_text(value, true))
        })
        .collect();
    Ok(Some(Request { method, path: path.to_owned(), query, headers, body }))
}

/// The admin API's audit trail (log target `admin`): every change (any method but GET and HEAD)
/// at info, with who sent it and how it ended, so an operator can tell who published what; reads
/// at debug, as the console reads often.
fn audit(peer: &str, method: &str, path: &str, status: u16, took: std::time::Duration) {
    let took_ms = took.as_secs_f64() * 1000.0;
    if method == "GET" || method == "HEAD" {
        tracing::debug!(target: "admin", client = peer, method, path, status, took_ms, "admin request");
    } else {
        tracing::info!(target: "admin", client = peer, method, path, status, took_ms, "admin change");
    }
}

fn write_response(writer: &mut TcpStream, response: &Response, keep_alive: bool) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\n",
        response.status,
        crate::http::response::reason(response.status),
        response.content_type,
        response.body.len()
    );
    if !response.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("cache-control")) {
        head.push_str("Cache-Control: no-store\r\n");
    }
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(if keep_alive { "\r\n" } else { "Connection: close\r\n\r\n" });
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}

/// `%XX` decoding; invalid escapes stay as written, invalid UTF-8 is replaced.
pub fn percent_decode(text: &str) -> String {
    crate::http::percent::decode_text(text, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("%24LATEST"), "$LATEST");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn loopback_host_names() {
        let cases = [
            // The names a browser sends for this listener (tests/admin.rs drives them end to end).
            ("127.0.0.1:9180", true),
            ("127.0.0.1", true),
            ("localhost:9180", true),
            ("LOCALHOST", true),
            ("127.3.4.5:9180", true),
            ("[::1]:9180", true),
            ("[::1]", true),
            // Another port is another origin; anything else could be a rebinding page's name.
            ("127.0.0.1:9181", false),
            ("localhost:", false),
            ("rebind.evil.example:9180", false),
            ("localhost.evil.example:9180", false),
            ("127.0.0.1.nip.io:9180", false),
            ("10.0.0.1:9180", false),
            ("[::2]:9180", false),
            ("[::1", false),
            ("::1", false),
            ("", false),
        ];
        for (host, expected) in cases {
            assert_eq!(loopback_host(host, 9180), expected, "{host:?}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
