//! A remote function endpoint (`runtime = "remote"`): a tiny HTTP server on loopback that
//! records what the gateway sent it and answers as a test scripts it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::*;

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
