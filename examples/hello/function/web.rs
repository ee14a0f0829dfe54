//! `web` mode: an SCF **web function** (`runtime = "web"`), an HTTP/1.1 server from std only
//! (plus the package's `ring`/`base64` for the WebSocket handshake), one thread per connection,
//! keep-alive. The gateway starts it through `scf_bootstrap` with the port in `PORT` (Tencent's
//! own web functions listen on 9000, the default here too).
//!
//! Endpoints, chosen by the last segment of the path (the gateway passes the path on without its
//! stage prefix, so `/release/web/big` arrives as `/web/big`):
//! * `.../big?bytes=N`: N bytes, chunked, byte `i` being `i % 251`, written 64 KiB at a time.
//! * `.../big-close?bytes=N`: the same without any framing: the body ends when the connection closes.
//! * `.../upload`: reads the request body as it streams in (Content-Length or chunked) and answers
//!   `{"bytes": N, "checksum": C}`, C being the sum of the bytes modulo 2^64.
//! * `.../crash`: the process exits with status 3 at once, answering nothing.
//! * `.../slow?ms=N`: waits N ms, then answers as the echo does.
//! * `.../hop`: `{"hop":true}` with a field of its own named in `Connection` (`x-hop-secret`,
//!   hop-by-hop, which the gateway must not pass on) beside `x-end-to-end`.
//! * `.../ws`: a WebSocket (RFC 6455) echo: text and binary messages come back as sent.
//! * `.../status?code=N`: `{"status":N}` with status N and the reason phrase `Function Says`.
//! * anything else: `{"method", "path", "query", "headers" (names lower-cased, repeated fields
//!   joined with ", "), "body"}` of the request, plus `"pid"` (which process answered) and
//!   `"version"` (the first line of `VERSION` in the code folder, read at start; "" without one)
//!   and `"tencentcloud": {"region", "appid", "uin"}` (its `TENCENTCLOUD_*` environment).
//!
//! `SCF_EXAMPLE_LISTEN_DELAY_MS=N` in its environment makes it wait N ms before it listens (a
//! slow cold start).

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};

/// One parsed request head.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    fn query_number(&self, key: &str) -> Option<u64> {
        self.query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    }
}

/// Serves forever on `127.0.0.1:$PORT` (loopback: the gateway is the only client it needs).
pub fn serve() -> ! {
    let port: u16 = std::env::var("PORT").ok().and_then(|port| port.parse().ok()).unwrap_or(9000);
    // Read now: a new version shows only when the gateway restarts the process.
    let _ = version();
    let delay = std::env::var("SCF_EXAMPLE_LISTEN_DELAY_MS").ok().and_then(|ms| ms.parse().ok()).unwrap_or(0);
    if delay > 0 {
        log_line!("scf-example-function[web] waiting {delay} ms before listening, as asked");
        std::thread::sleep(Duration::from_millis(delay));
    }
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(error) => {
            log_line!("scf-example-function[web] cannot listen on port {port}: {error}");
            std::process::exit(1);
        }
    };
    log_line!(
        "scf-example-function[web] listening on 127.0.0.1:{port} as {}",
        std::env::var("SCF_FUNCTIONNAME").unwrap_or_default()
    );
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve_connection(stream);
        });
    }
    std::process::exit(1);
}

fn serve_connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    while let Some(request) = read_head(&mut reader)? {
        let endpoint = request.path.rsplit('/').next().unwrap_or_default().to_string();
        match endpoint.as_str() {
            "crash" => {
                log_line!("scf-example-function[web] /crash: exiting with status 3, as asked");
                std::process::exit(3);
            }
            "ws" => return websocket_echo(&request, reader, writer),
            "big" | "big-close" => {
                read_body(&request, &mut reader, |_| {})?;
                let total = request.query_number("bytes").unwrap_or(0);
                let chunked = endpoint == "big";
                let framing = if chunked { "transfer-encoding: chunked\r\n" } else { "connection: close\r\n" };
                write!(writer, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n{framing}\r\n")?;
                let mut block = vec![0u8; 64 * 1024];
                let mut sent: u64 = 0;
                while sent < total {
                    let length = (total - sent).min(block.len() as u64) as usize;
                    for (index, byte) in block[..length].iter_mut().enumerate() {
                        *byte = ((sent + index as u64) % 251) as u8;
                    }
                    if chunked {
                        write!(writer, "{length:x}\r\n")?;
                    }
                    writer.write_all(&block[..length])?;
                    if chunked {
                        writer.write_all(b"\r\n")?;
                    }
                    sent += length as u64;
                }
                if !chunked {
                    return Ok(());
                }
                writer.write_all(b"0\r\n\r\n")?;
            }
            "hop" => {
                // A hop-by-hop field of its own, named in `Connection` (RFC 9110 §7.6.1).
                read_body(&request, &mut reader, |_| {})?;
                let body = r#"{"hop":true}"#;
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\nconnection: x-hop-secret, keep-alive\r\nx-hop-secret: internal\r\nx-end-to-end: kept\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )?;
            }
            "status" => {
                read_body(&request, &mut reader, |_| {})?;
                let code = request.query_number("code").unwrap_or(200);
                let body = format!(r#"{{"status":{code}}}"#);
                write!(
                    writer,
                    "HTTP/1.1 {code} Function Says\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )?;
            }
            "upload" => {
                let (mut bytes, mut checksum) = (0u64, 0u64);
                read_body(&request, &mut reader, |data| {
                    bytes += data.len() as u64;
                    checksum = data.iter().fold(checksum, |sum, &byte| sum.wrapping_add(u64::from(byte)));
                })?;
                respond_json(&mut writer, &json!({"bytes": bytes, "checksum": checksum}))?;
            }
            other => {
                if other == "slow" {
                    std::thread::sleep(Duration::from_millis(request.query_number("ms").unwrap_or(1000)));
                }
                let mut body = Vec::new();
                read_body(&request, &mut reader, |data| body.extend_from_slice(data))?;
                let mut headers: BTreeMap<String, String> = BTreeMap::new();
                for (name, value) in &request.headers {
                    headers
                        .entry(name.to_ascii_lowercase())
                        .and_modify(|joined| *joined = format!("{joined}, {value}"))
                        .or_insert_with(|| value.clone());
                }
                let echo = json!({
                    "pid": std::process::id(),
                    "version": version(),
                    "tencentcloud": {
                        "region": std::env::var("TENCENTCLOUD_REGION").unwrap_or_default(),
                        "appid": std::env::var("TENCENTCLOUD_APPID").unwrap_or_default(),
                        "uin": std::env::var("TENCENTCLOUD_UIN").unwrap_or_default(),
                    },
                    "method": request.method,
                    "path": request.path,
                    "query": request.query,
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                });
                respond_json(&mut writer, &echo)?;
            }
        }
    }
    Ok(())
}

/// Reads a request head; `None` when the connection closed between requests.
fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(Some(Request { method, path, query, headers }))
}

/// Reads the request body as it arrives, handing each piece to `take`.
fn read_body(request: &Request, reader: &mut BufReader<TcpStream>, mut take: impl FnMut(&[u8])) -> io::Result<()> {
    let chunked = request.header("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or_default(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(());
                    }
                }
            }
            copy_exactly(reader, size as u64, &mut take)?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    }
    let length: u64 = request.header("content-length").and_then(|value| value.parse().ok()).unwrap_or(0);
    copy_exactly(reader, length, &mut take)
}

fn copy_exactly(reader: &mut BufReader<TcpStream>, mut left: u64, take: &mut impl FnMut(&[u8])) -> io::Result<()> {
    while left > 0 {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body cut short"));
        }
        let length = (available.len() as u64).min(left) as usize;
        take(&available[..length]);
        reader.consume(length);
        left -= length as u64;
    }
    Ok(())
}

/// The first line of `VERSION` in the working directory (the code folder), read once.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        std::fs::read_to_string("VERSION").unwrap_or_default().lines().next().unwrap_or_default().to_string()
    })
}

fn respond_json(writer: &mut TcpStream, value: &Value) -> io::Result<()> {
    let body = value.to_string();
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-function-mode: web\r\n\r\n{body}",
        body.len()
    )
}

/// RFC 6455 server side: the handshake, then each message echoed back until a close.
fn websocket_echo(request: &Request, mut reader: BufReader<TcpStream>, mut writer: TcpStream) -> io::Result<()> {
    use base64::Engine;
    use ring::digest;
    let key = request.header("sec-websocket-key").unwrap_or_default();
    let mut hasher = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    hasher.update(key.as_bytes());
    hasher.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(hasher.finish());
    write!(writer, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n")?;
    loop {
        let mut start = [0u8; 2];
        reader.read_exact(&mut start)?;
        let opcode = start[0] & 0x0f;
        let masked = start[1] & 0x80 != 0;
        let mut length = u64::from(start[1] & 0x7f);
        if length == 126 {
            let mut extended = [0u8; 2];
            reader.read_exact(&mut extended)?;
            length = u64::from(u16::from_be_bytes(extended));
        } else if length == 127 {
            let mut extended = [0u8; 8];
            reader.read_exact(&mut extended)?;
            length = u64::from_be_bytes(extended);
        }
        let mut mask = [0u8; 4];
        if masked {
            reader.read_exact(&mut mask)?;
        }
        let mut payload = vec![0u8; length as usize];
        reader.read_exact(&mut payload)?;
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[index % 4];
        }
        let reply_opcode = match opcode {
            0x9 => 0xA,      // ping -> pong
            0x8 => 0x8,      // close -> close, then done
            0xA => continue, // pong: nothing to say
            other => other,  // text, binary, continuation: echoed as they came
        };
        let mut frame = vec![(start[0] & 0x80) | reply_opcode];
        match payload.len() {
            length if length < 126 => frame.push(length as u8),
            length if length <= 0xffff => {
                frame.push(126);
                frame.extend_from_slice(&(length as u16).to_be_bytes());
            }
            length => {
                frame.push(127);
                frame.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&payload);
        writer.write_all(&frame)?;
        if opcode == 0x8 {
            return Ok(());
        }
    }
}
