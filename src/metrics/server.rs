//! `--metrics-listen`: `GET /metrics`, `GET /healthz` and `GET /readyz` on an address of their
//! own, off the workers (one thread accepts, one thread per connection, at most
//! [`MAX_CONNECTIONS`] at once; a scraper is not a client to serve at scale). The admin listener
//! answers the same paths through [`respond`].

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::exposition::Format;
use super::Registry;

/// Scrape connections served at once; more are closed unanswered.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a scraper has to send its request, and to read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// An answer to one of the monitoring paths.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// Its status.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
}

/// Answers `path` when it is one of the monitoring paths (`None` otherwise); `accept` chooses
/// the metrics' format.
pub fn respond(registry: &Registry, method: &str, path: &str, accept: &str) -> Option<Response> {
    let path = path.split('?').next().unwrap_or(path);
    if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
        return None;
    }
    if method != "GET" && method != "HEAD" {
        return Some(text(405, "only GET is served here\n".into()));
    }
    Some(match path {
        "/metrics" => {
            let format = Format::from_accept(accept);
            Response { status: 200, content_type: format.content_type(), body: registry.render(format) }
        }
        "/healthz" => text(200, "ok\n".into()),
        _ => match registry.readiness() {
            Ok(()) => text(200, "ready\n".into()),
            Err(reason) => text(503, format!("not ready: {reason}\n")),
        },
    })
}

fn text(status: u16, body: String) -> Response {
    Response { status, content_type: "text/plain; charset=utf-8", body }
}

/// Serves the monitoring paths on `listener` for the process's life.
pub fn serve(listener: TcpListener, registry: Arc<Registry>) -> std::io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("scfgate-metrics-accept".into()).spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            let (registry, open) = (registry.clone(), open.clone());
            let spawned = std::thread::Builder::new().name("scfgate-metrics".into()).spawn(move || {
                serve_connection(stream, &registry);
                open.fetch_sub(1, Ordering::AcqRel);
            });
            if spawned.is_err() {
                // The connection was moved into the closure that failed to start: it is closed.
                tracing::warn!("cannot start a thread for a metrics connection");
            }
        }
    })?;
    Ok(())
}

/// Keep-alive requests on one connection until it closes, idles past the timeout, or sends
/// something unreadable.
fn serve_connection(stream: TcpStream, registry: &Registry) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(writer) = stream.try_clone() else { return };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let Some((method, path, accept, keep_alive)) = read_head(&mut reader) else { return };
        let response = respond(registry, &method, &path, &accept)
            .unwrap_or_else(|| text(404, "not found: try /metrics, /healthz or /readyz\n".into()));
        let reason = match response.status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Service Unavailable",
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-store\r\n{}\r\n",
            response.status,
            response.content_type,
            response.body.len(),
            if keep_alive { "" } else { "connection: close\r\n" },
        );
        let body = if method == "HEAD" { "" } else { response.body.as_str() };
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body.as_bytes())).is_err() || !keep_alive {
            return;
        }
    }
}

/// The request line's method and target, the `Accept` header, and whether to keep the
/// connection; `None` when the connection ended or sent a head that is not HTTP/1.x or too long.
fn read_head<R: BufRead>(reader: &mut R) -> Option<(String, String, String, bool)> {
    let mut line = String::new();
    let mut total = 0;
    let mut read_line = |line: &mut String| -> Option<()> {
        line.clear();
        let read = std::io::Read::take(&mut *reader, (MAX_HEAD_BYTES - total) as u64 + 1).read_line(line).ok()?;
        total += read;
        (read > 0 && total <= MAX_HEAD_BYTES).then_some(())
    };
    read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path, version) = (parts.next()?.to_string(), parts.next()?.to_string(), parts.next()?.to_string());
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut accept = String::new();
    loop {
        read_line(&mut line)?;
        let field = line.trim_end_matches(['\r', '\n']);
        if field.is_empty() {
            break;
        }
        let (name, value) = field.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("accept") {
            accept = value.to_string();
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive =
                !value.eq_ignore_ascii_case("close") && (keep_alive || value.eq_ignore_ascii_case("keep-alive"));
        } else if name.eq_ignore_ascii_case("content-length") && value != "0" {
            // No path here takes a body.
            return None;
        }
    }
    Some((method, path, accept, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitoring_paths_answer_and_others_are_left_to_the_caller() {
        let registry = Registry::new(1);
        let cases: &[(&str, &str, Option<u16>)] = &[
            ("GET", "/metrics", Some(200)),
            ("GET", "/healthz", Some(200)),
            ("GET", "/readyz?verbose", Some(200)),
            ("POST", "/metrics", Some(405)),
            ("GET", "/v1/services", None),
        ];
        for &(method, path, status) in cases {
            assert_eq!(respond(&registry, method, path, "").map(|response| response.status), status, "{method} {path}");
        }
        registry.set_readiness(Box::new(|| Err("default/hello:$LATEST 0/1 ready".into())));
        let response = respond(&registry, "GET", "/readyz", "").unwrap();
        assert_eq!((response.status, response.body.as_str()), (503, "not ready: default/hello:$LATEST 0/1 ready\n"));
    }

    #[test]
    fn heads_are_read_with_their_accept_and_keep_alive() {
        type Head<'a> = Option<(&'a str, &'a str, &'a str, bool)>;
        let cases: &[(&str, Head<'_>)] = &[
            (
                "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n",
                Some(("GET", "/metrics", "application/openmetrics-text", true)),
            ),
            ("GET /healthz HTTP/1.0\r\n\r\n", Some(("GET", "/healthz", "", false))),
            ("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", Some(("GET", "/healthz", "", false))),
            ("GET /healthz SPDY/3\r\n\r\n", None),
            ("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", None),
            ("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", None),
            ("", None),
        ];
        for &(head, expected) in cases {
            let read = read_head(&mut std::io::Cursor::new(head.as_bytes()));
            let read = read.as_ref().map(|(m, p, a, k)| (m.as_str(), p.as_str(), a.as_str(), *k));
            assert_eq!(read, expected, "{head:?}");
        }
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(read_head(&mut std::io::Cursor::new(long.as_bytes())).is_none());
    }
}
