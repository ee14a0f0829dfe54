//! WebSocket APIs end to end (issue 4, spec §5.2): the real binary, real register / transport /
//! cleanup function processes (the example function's `ws-*` modes), a real WebSocket client
//! (tungstenite over `std::net::TcpStream`), and raw frames where a well-behaved client cannot
//! misbehave on purpose.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error as WsError, HandshakeError, Message, WebSocket};

use common::{Gateway, READ_LIMIT};

/// One WebSocket API on `/ws`, its three functions local processes, and an HTTP API beside it.
fn config(gateway_extra: &str, api_extra: &str) -> String {
    format!(
        r#"[gateway]
push_listen = "127.0.0.1:0"
{gateway_extra}

[[service]]
id = "service-ws01"
name = "chat"

[[service.api]]
name = "room"
path = "/ws"
protocol = "ws"
register = {{ name = "register" }}
transport = {{ name = "transport" }}
cleanup = {{ name = "cleanup" }}
{api_extra}

[[function]]
name = "register"
runtime = "custom"
code = "register"

[[function]]
name = "transport"
runtime = "custom"
code = "transport"

[[function]]
name = "cleanup"
runtime = "custom"
code = "cleanup"
"#
    )
}

fn start(gateway_extra: &str, api_extra: &str) -> Gateway {
    Gateway::builder(&config(gateway_extra, api_extra))
        .function("register", "ws-register")
        .function("transport", "ws-transport")
        .function("cleanup", "ws-cleanup")
        .start()
}

/// The push endpoint's address, from the gateway's log.
fn push_address(gateway: &Gateway) -> SocketAddr {
    const MARK: &str = "scfgate WebSocket push endpoint on http://";
    // Logged through the log's writer thread: it may come after the listener's line.
    assert!(gateway.output.wait_for_line(MARK, std::time::Duration::from_secs(20)), "{}", gateway.output.text());
    let line =
        gateway.output.lines().into_iter().find(|line| line.contains(MARK)).expect("the push endpoint is logged");
    line[line.find(MARK).unwrap() + MARK.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

type Socket = WebSocket<TcpStream>;
type HandshakeResponse = tungstenite::http::Response<Option<Vec<u8>>>;

/// Opens a WebSocket to `path` with extra handshake headers.
fn open(
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, HandshakeResponse), Box<HandshakeResponse>> {
    let stream = TcpStream::connect(gateway.addr()).unwrap();
    stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
    let mut request = format!("ws://{}{path}", gateway.addr()).into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    match tungstenite::client::client(request, stream) {
        Ok(done) => Ok(done),
        Err(HandshakeError::Failure(WsError::Http(response))) => Err(response),
        Err(error) => panic!("handshake failed: {error}"),
    }
}

fn connect(gateway: &Gateway) -> Socket {
    open(gateway, "/release/ws", &[]).unwrap_or_else(|response| panic!("refused: {response:?}")).0
}

/// The next message that is not a pong (tungstenite answers pings itself).
fn next_message<S: Read + Write>(socket: &mut WebSocket<S>) -> Message {
    loop {
        match socket.read().expect("a message") {
            Message::Pong(_) => continue,
            message => return message,
        }
    }
}

fn next_text<S: Read + Write>(socket: &mut WebSocket<S>) -> String {
    match next_message(socket) {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn expect_close<S: Read + Write>(socket: &mut WebSocket<S>, code: u16) {
    match next_message(socket) {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), code, "{frame:?}"),
        other => panic!("expected a close frame with {code}, got {other:?}"),
    }
}

/// Connects with `?echo_event=1`: the register function pushes the connect event first.
fn connect_with_id(gateway: &Gateway) -> (Socket, String) {
    let (mut socket, _) = open(gateway, "/release/ws?echo_event=1", &[]).unwrap();
    let event: Value = serde_json::from_str(&next_text(&mut socket)).unwrap();
    let id = event["websocket"]["secConnectionID"].as_str().unwrap().to_string();
    (socket, id)
}

/// POSTs `body` to the push endpoint; returns the status and the JSON answer.
fn push(address: SocketAddr, token: Option<&str>, method: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
    let authorization = token.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} /push HTTP/1.1\r\nHost: {address}\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    (status, serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {answer}")))
}

fn send_push(address: SocketAddr, token: Option<&str>, id: &str, text: &str) -> (u16, Value) {
    let body = json!({"websocket": {"action": "data send", "secConnectionID": id, "dataType": "text", "data": text}});
    push(address, token, "POST", &body.to_string())
}

type Headers<'a> = &'a [(&'a str, &'a str)];

#[test]
fn missing_handshake_headers_get_tencents_403() {
    let gateway = start("", "");
    // spec §5.2: Tencent's messages, Sec-WebSocket-Key checked first.
    #[rustfmt::skip]
    let cases: &[(Headers, u16, Value)] = &[
        (&[], 403, json!({"message": "need header Sec-WebSocket-Key."})),
        (&[("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")], 403, json!({"message": "need header Sec-WebSocket-Key."})),
        (&[("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], 403, json!({"message": "need header Sec-WebSocket-Version."})),
        // RFC 6455 §4.4: another version gets 426 and the version spoken.
        (&[("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "8")], 426, json!({"message": "Sec-WebSocket-Version not supported; this gateway speaks version 13."})),
        (&[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")], 400, json!({"message": "Bad Request: a WebSocket API expects `Upgrade: websocket` and `Connection: Upgrade`."})),
    ];
    for (headers, status, body) in cases {
        let response = gateway.request("GET", "/release/ws", headers, b"");
        assert_eq!(response.status, *status, "{headers:?}: {}", response.text());
        assert_eq!(response.json(), *body, "{headers:?}");
        assert!(!response.request_id().is_empty());
        if *status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
    }
    // A WebSocket API answers GET only (405 otherwise), and the refusals above keep the
    // connection usable for the next request.
    let mut client = gateway.connect();
    client.send_request("POST", "/release/ws", &gateway.host(), &[], b"");
    assert_eq!(client.read_response().status, 405);
    client.send_request("GET", "/release/ws", &gateway.host(), &[], b"");
    assert_eq!(client.read_response().status, 403);
}

#[test]
fn register_refuses_or_accepts() {
    let gateway = start("", "timeout = 2");
    // errNo other than 0: refused with the function's errNo and errMsg.
    let refused = open(&gateway, "/release/ws?refuse=no+entry", &[]).unwrap_err();
    assert_eq!(refused.status(), 403);
    let body: Value = serde_json::from_slice(refused.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["errNo"], 4001);
    assert_eq!(body["errMsg"], "no entry");
    assert_eq!(body["message"], "WebSocket connection refused by the register function.");
    // A register function that fails, answers no errNo, or runs past the timeout refuses too.
    assert_eq!(open(&gateway, "/release/ws?scf_error=boom", &[]).unwrap_err().status(), 502);
    let not_a_reply = open(&gateway, "/release/ws?scf_raw=%7B%22ok%22%3Atrue%7D", &[]).unwrap_err();
    assert_eq!(not_a_reply.status(), 502);
    assert!(String::from_utf8_lossy(not_a_reply.body().as_deref().unwrap())
        .contains("the register function's value is not"));
    assert_eq!(open(&gateway, "/release/ws?scf_sleep_ms=3000", &[]).unwrap_err().status(), 504);
    // Accepted: the 101 carries the subprotocol the register function chose among those offered.
    let (mut socket, response) =
        open(&gateway, "/release/ws", &[("Sec-WebSocket-Protocol", "chat, superchat")]).unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    assert!(response.headers().contains_key("x-api-requestid"));
    socket.send(Message::text("hi")).unwrap();
    assert_eq!(next_text(&mut socket), "echo: hi");
}

#[test]
fn the_connect_event_and_the_data_event() {
    let gateway = start("", "");
    let headers = [("Sec-WebSocket-Protocol", "chat,binary"), ("X-Custom", "yes")];
    let (mut socket, _) = open(&gateway, "/release/ws?echo_event=1&room=7", &headers).unwrap();
    let event: Value = serde_json::from_str(&next_text(&mut socket)).unwrap();
    // spec §5.2's connect event, inside the API Gateway event.
    let context = &event["requestContext"];
    assert_eq!(context["websocketEnable"], true);
    assert_eq!(context["serviceName"], "chat");
    assert_eq!(context["serviceId"], "service-ws01");
    assert_eq!(
        (context["path"].as_str(), context["httpMethod"].as_str(), context["stage"].as_str()),
        (Some("/ws"), Some("GET"), Some("release"))
    );
    let websocket = &event["websocket"];
    assert_eq!(websocket["action"], "connecting");
    assert_eq!(websocket["secWebSocketProtocol"], "chat,binary");
    assert!(websocket.get("secWebSocketExtensions").is_none(), "{websocket}");
    let id = websocket["secConnectionID"].as_str().unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(id).unwrap().len(), 16, "{id}");
    assert_eq!(event["queryString"]["room"], "7");
    assert_eq!(event["headers"]["x-custom"], "yes");

    socket.send(Message::text("event")).unwrap();
    let data: Value = serde_json::from_str(&next_text(&mut socket)).unwrap();
    assert_eq!(
        data,
        json!({"websocket": {"action": "data recv", "secConnectionID": id, "dataType": "text", "data": "event"}})
    );
}

#[test]
fn echo_through_transport_and_push() {
    echo_checks(&mut connect(&start("", "")));
}

#[test]
fn echo_on_the_epoll_driver() {
    // The session reads and writes the socket at once: on epoll as on io_uring.
    let gateway = Gateway::builder(&config("", ""))
        .function("register", "ws-register")
        .function("transport", "ws-transport")
        .function("cleanup", "ws-cleanup")
        .arg("--driver", "legacy")
        .start();
    echo_checks(&mut connect(&gateway));
}

/// Text, binary, ping, and order, through the transport function and the push endpoint.
fn echo_checks<S: Read + Write>(socket: &mut WebSocket<S>) {
    for text in ["hello", "", "中文 and \"quotes\"\n"] {
        socket.send(Message::text(text)).unwrap();
        assert_eq!(next_text(socket), format!("echo: {text}"));
    }
    let bytes: Vec<u8> = (0..=255u8).collect();
    socket.send(Message::binary(bytes.clone())).unwrap();
    match next_message(socket) {
        Message::Binary(echoed) => assert_eq!(echoed.to_vec(), bytes),
        other => panic!("expected binary, got {other:?}"),
    }
    // Ping/pong: answered by the gateway, not the function.
    socket.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    match socket.read().unwrap() {
        Message::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    // Messages keep their order through the transport function.
    for index in 0..20 {
        socket.send(Message::text(index.to_string())).unwrap();
    }
    for index in 0..20 {
        assert_eq!(next_text(socket), format!("echo: {index}"));
    }
}

#[test]
fn client_close_reaches_cleanup() {
    let gateway = start("", "");
    let (mut socket, id) = connect_with_id(&gateway);
    socket.close(Some(tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "bye".into() })).unwrap();
    // RFC 6455 §5.5.1: the close is echoed with its code.
    expect_close(&mut socket, 1000);
    assert!(matches!(socket.read(), Err(WsError::ConnectionClosed | WsError::AlreadyClosed)));
    let line = format!("ws-cleanup closing {id}");
    assert!(gateway.output.wait_for_line(&line, READ_LIMIT), "no cleanup for {id}");
    // A client that just disconnects (no close frame) reaches cleanup too.
    let (socket, id) = connect_with_id(&gateway);
    drop(socket);
    assert!(gateway.output.wait_for_line(&format!("ws-cleanup closing {id}"), READ_LIMIT), "no cleanup for {id}");
    assert_eq!(gateway.output.count("ws-cleanup closing"), 2);
}

#[test]
fn server_initiated_close_through_push() {
    let gateway = start("", "");
    let (mut socket, id) = connect_with_id(&gateway);
    // The transport function pushes `closing`.
    socket.send(Message::text("close")).unwrap();
    expect_close(&mut socket, 1000);
    assert!(gateway.output.wait_for_line(&format!("ws-cleanup closing {id}"), READ_LIMIT));
    // The connection is gone: pushes to it are refused.
    let (status, body) = send_push(push_address(&gateway), None, &id, "late");
    assert_eq!((status, body["errNo"].as_i64()), (404, Some(404)), "{body}");
}

#[test]
fn a_failing_transport_function_closes_the_connection() {
    let gateway = start("", "");
    let (mut socket, id) = connect_with_id(&gateway);
    socket.send(Message::text("fail")).unwrap();
    expect_close(&mut socket, 1011);
    assert!(gateway.output.wait_for_line(&format!("ws-cleanup closing {id}"), READ_LIMIT));
}

#[test]
fn oversize_messages_close_with_1009() {
    let gateway = start("websocket_max_message_bytes = 1024", "");
    let mut socket = connect(&gateway);
    socket.send(Message::text("x".repeat(1024))).unwrap();
    assert_eq!(next_text(&mut socket), format!("echo: {}", "x".repeat(1024)));
    socket.send(Message::text("x".repeat(1025))).unwrap();
    expect_close(&mut socket, 1009);
}

#[test]
fn the_push_endpoint_wants_its_token_and_a_known_connection() {
    let gateway = start("push_token = \"s3cret-token\"", "");
    let address = push_address(&gateway);
    let (mut socket, id) = connect_with_id(&gateway);
    // The functions were given the token: the echo goes through.
    socket.send(Message::text("with token")).unwrap();
    assert_eq!(next_text(&mut socket), "echo: with token");
    #[rustfmt::skip]
    let cases: Vec<(Option<&str>, &str, String, u16)> = vec![
        (Some("s3cret-token"), "POST", json!({"websocket": {"action": "data send", "secConnectionID": id, "data": "pushed"}}).to_string(), 200),
        (None, "POST", json!({"websocket": {"action": "data send", "secConnectionID": id, "data": "x"}}).to_string(), 401),
        (Some("wrong"), "POST", json!({"websocket": {"action": "data send", "secConnectionID": id, "data": "x"}}).to_string(), 401),
        (Some("s3cret-token"), "PUT", json!({"websocket": {"action": "data send", "secConnectionID": id, "data": "x"}}).to_string(), 405),
        (Some("s3cret-token"), "POST", "{not json".into(), 400),
        (Some("s3cret-token"), "POST", json!({"websocket": {"action": "data send", "secConnectionID": "AAAAAAAAAAAAAAAAAAAAAA==", "data": "x"}}).to_string(), 404),
        (Some("s3cret-token"), "POST", json!({"websocket": {"action": "data send", "secConnectionID": id, "dataType": "binary", "data": "%%"}}).to_string(), 400),
    ];
    for (token, method, body, status) in cases {
        let (got, answer) = push(address, token, method, &body);
        assert_eq!(got, status, "{token:?} {method} {body}: {answer}");
        if status == 200 {
            assert_eq!(answer, json!({"errNo": 0, "errMsg": "ok"}));
        } else {
            assert_eq!(answer["errNo"], status, "{answer}");
            assert!(answer["errMsg"].as_str().is_some_and(|text| !text.is_empty()), "{answer}");
        }
    }
    assert_eq!(next_text(&mut socket), "pushed");
}

#[test]
fn pushes_reach_connections_on_every_worker() {
    // The harness runs two workers; the kernel spreads both the WebSocket connections and the
    // push connections over them, so most pushes land on the other worker than the one holding
    // their connection (and all 36 landing right is a 2^-36 chance).
    let gateway = start("", "");
    let address = push_address(&gateway);
    let mut sockets: Vec<(Socket, String)> = (0..12).map(|_| connect_with_id(&gateway)).collect();
    let workers: std::collections::BTreeSet<u16> = sockets
        .iter()
        .map(|(_, id)| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(id).unwrap();
            u16::from_be_bytes([bytes[0], bytes[1]])
        })
        .collect();
    assert!(workers.iter().all(|worker| *worker < 2), "{workers:?}");
    // Each push lands on whichever worker accepts it and is forwarded to the one holding the
    // connection: every connection gets its own messages, in order.
    for round in 0..3 {
        for (_, id) in &sockets {
            let (status, answer) = send_push(address, None, id, &format!("{id} #{round}"));
            assert_eq!(status, 200, "{answer}");
        }
    }
    for (socket, id) in &mut sockets {
        for round in 0..3 {
            assert_eq!(next_text(socket), format!("{id} #{round}"));
        }
    }
    // Closing through the push endpoint works from any worker too.
    for (socket, id) in &mut sockets {
        let body = json!({"websocket": {"action": "closing", "secConnectionID": id}}).to_string();
        assert_eq!(push(address, None, "POST", &body).0, 200);
        expect_close(socket, 1000);
    }
}

#[test]
fn idle_connections_are_closed_with_1001() {
    let gateway = start("websocket_idle_timeout = 1", "");
    let (mut socket, id) = connect_with_id(&gateway);
    expect_close(&mut socket, 1001);
    assert!(gateway.output.wait_for_line(&format!("ws-cleanup closing {id}"), READ_LIMIT));
}

#[test]
fn shutdown_closes_websockets_with_1001() {
    let mut gateway = start("", "");
    let (mut socket, id) = connect_with_id(&gateway);
    let waiter = std::thread::spawn(move || {
        expect_close(&mut socket, 1001);
    });
    let status = gateway.terminate();
    assert!(status.success(), "{status:?}");
    waiter.join().unwrap();
    assert!(gateway.output.wait_for_line(&format!("ws-cleanup closing {id}"), READ_LIMIT));
}

// ---------------------------------------------------------------------------------------------
// Raw frames: what tungstenite will not send.
// ---------------------------------------------------------------------------------------------

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A masked client frame with the given first byte (FIN, RSV, opcode).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![first];
    match payload.len() {
        0..=125 => bytes.push(0x80 | payload.len() as u8),
        length => {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&(length as u16).to_be_bytes());
        }
    }
    bytes.extend_from_slice(&MASK);
    bytes.extend(payload.iter().enumerate().map(|(index, byte)| byte ^ MASK[index % 4]));
    bytes
}

/// A raw connection after the handshake (with `first_frames` sent along with the request,
/// before the 101 arrives).
struct Raw {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Raw {
    fn open(gateway: &Gateway, first_frames: &[u8]) -> Raw {
        let mut stream = TcpStream::connect(gateway.addr()).unwrap();
        stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
        let mut request = format!(
            "GET /release/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            gateway.addr()
        )
        .into_bytes();
        request.extend_from_slice(first_frames);
        stream.write_all(&request).unwrap();
        let mut raw = Raw { stream, buffer: Vec::new() };
        let end = loop {
            if let Some(end) = raw.buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end + 4;
            }
            raw.fill();
        };
        let head = String::from_utf8_lossy(&raw.buffer[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
        raw.buffer.drain(..end);
        raw
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let count = self.stream.read(&mut chunk).unwrap_or(0);
        self.buffer.extend_from_slice(&chunk[..count]);
        count
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next server frame: (opcode, payload). Server frames are unmasked and final.
    fn next_frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buffer.len() >= 2 {
                let (length, start) = match self.buffer[1] & 0x7f {
                    126 if self.buffer.len() >= 4 => (u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize, 4),
                    126 => (usize::MAX, 0),
                    127 => panic!("unexpectedly large frame"),
                    short => (short as usize, 2),
                };
                if length != usize::MAX && self.buffer.len() >= start + length {
                    assert_eq!(self.buffer[0] & 0xf0, 0x80, "server frames are final, no reserved bits");
                    assert_eq!(self.buffer[1] & 0x80, 0, "server frames are not masked");
                    let opcode = self.buffer[0] & 0x0f;
                    let payload = self.buffer[start..start + length].to_vec();
                    self.buffer.drain(..start + length);
                    return (opcode, payload);
                }
            }
            assert!(self.fill() > 0, "connection closed; buffered {:?}", self.buffer);
        }
    }

    fn expect_text(&mut self, text: &str) {
        assert_eq!(self.next_frame(), (0x1, text.as_bytes().to_vec()));
    }

    fn expect_close(&mut self, code: u16) {
        let (opcode, payload) = self.next_frame();
        assert_eq!(opcode, 0x8, "{payload:?}");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code, "{}", String::from_utf8_lossy(&payload[2..]));
    }
}

#[test]
fn raw_frames_fragmentation_control_frames_and_violations() {
    let gateway = start("websocket_max_message_bytes = 1024", "");
    // Frames sent before the 101 arrived are kept for the session.
    let mut raw = Raw::open(&gateway, &frame(0x81, b"early"));
    raw.expect_text("echo: early");
    // RFC 6455 §5.4: a fragmented message, with a ping between its fragments: the pong comes
    // first, then the echo of the whole message.
    let mut fragments = frame(0x01, b"frag");
    fragments.extend(frame(0x89, b"p"));
    fragments.extend(frame(0x00, b"men"));
    fragments.extend(frame(0x80, b"ted"));
    raw.send(&fragments);
    assert_eq!(raw.next_frame(), (0xA, b"p".to_vec()));
    raw.expect_text("echo: fragmented");

    #[rustfmt::skip]
    let violations: &[(&str, Vec<u8>, u16)] = &[
        ("invalid UTF-8", frame(0x81, &[0x68, 0xff]), 1007),
        ("reserved bit", frame(0xC1, b"x"), 1002),
        ("reserved opcode", frame(0x83, b"x"), 1002),
        ("unmasked", vec![0x81, 0x01, b'x'], 1002),
        ("continuation first", frame(0x80, b"x"), 1002),
        ("oversize frame", frame(0x82, &[0; 1500]), 1009),
        ("fragmented ping", frame(0x09, b"x"), 1002),
    ];
    for (name, bytes, code) in violations {
        let mut raw = Raw::open(&gateway, b"");
        raw.send(bytes);
        raw.expect_close(*code);
        // Once the client is done too, the gateway closes the connection, with nothing more.
        raw.stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = raw.stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{name}: {rest:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// wss: the same session over the TLS stream.
// ---------------------------------------------------------------------------------------------

#[test]
fn wss_runs_over_tls_and_ws_is_refused_with_426() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::sync::Arc;

    let text = config("", "").replacen("protocol = \"ws\"", "protocol = \"wss\"", 1)
        + "\n[[certificate]]\nhosts = [\"ws.example\"]\ncert = \"ws.crt\"\nkey = \"ws.key\"\n";
    let builder = Gateway::builder(&text)
        .function("register", "ws-register")
        .function("transport", "ws-transport")
        .function("cleanup", "ws-cleanup")
        .arg("--tls-listen", "127.0.0.1:0");
    let certified = rcgen::generate_simple_self_signed(vec!["ws.example".to_string()]).unwrap();
    builder.dir().write("ws.crt", &certified.cert.pem());
    builder.dir().write("ws.key", &certified.signing_key.serialize_pem());
    let gateway = builder.start();
    let address = gateway.https_addr();

    // A wss API reached over plain HTTP: the protocol policy's 426.
    let refused = open(&gateway, "/release/ws", &[]).unwrap_err();
    assert_eq!(refused.status(), 426);

    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(certified.cert.pem().as_bytes()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(client), ServerName::try_from("ws.example").unwrap()).unwrap();
    let tcp = TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(READ_LIMIT)).unwrap();
    let stream = rustls::StreamOwned::new(connection, tcp);
    let (mut socket, response) = match tungstenite::client::client("wss://ws.example/release/ws?echo_event=1", stream) {
        Ok(done) => done,
        Err(error) => panic!("wss handshake failed: {error}"),
    };
    assert_eq!(response.status(), 101);
    let event: Value = serde_json::from_str(&next_text(&mut socket)).unwrap();
    assert_eq!(event["headers"]["x-api-scheme"], "https");
    let id = event["websocket"]["secConnectionID"].as_str().unwrap().to_string();
    echo_checks(&mut socket);
    socket.close(None).unwrap();
    match next_message(&mut socket) {
        Message::Close(_) => {}
        other => panic!("expected the close echo, got {other:?}"),
    }
    assert!(gateway.output.wait_for_line(&format!("ws-cleanup closing {id}"), READ_LIMIT));
}

#[test]
fn check_lists_the_three_functions() {
    let builder = Gateway::builder(&config("", ""))
        .function("register", "ws-register")
        .function("transport", "ws-transport")
        .function("cleanup", "ws-cleanup");
    let file = builder.dir().write("scfgate.toml", &config("", ""));
    let (status, stdout, stderr) = common::run_gateway(&["--config", file.to_str().unwrap(), "--check"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("-> register default/register:$LATEST, transport default/transport:$LATEST, cleanup default/cleanup:$LATEST (websocket, timeout 15s)"),
        "{stdout}"
    );
}
