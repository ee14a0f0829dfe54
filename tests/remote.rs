//! Remote functions (`runtime = "remote"`): the event is POSTed to an HTTP endpoint the user runs,
//! over pooled keep-alive connections; how each kind of reply reaches the client.

mod common;

use std::time::{Duration, Instant};

use common::{closed_port, Framing, Gateway, RemoteEndpoint, Reply};

fn single_api_config(invoke_url: &str, extra_api: &str) -> String {
    format!(
        r#"
[[service]]
id = "service-remote"
name = "remote"
[[service.api]]
name = "remote"
path = "/remote"
method = "ANY"
timeout = 9
function = {{ name = "remote" }}
{extra_api}

[[function]]
name = "remote"
runtime = "remote"
invoke_url = "{invoke_url}"
"#
    )
}

#[test]
fn the_event_is_posted_to_the_endpoint() {
    let endpoint = RemoteEndpoint::start(Reply::echo());
    let gateway = Gateway::start(&single_api_config(&endpoint.url("/invoke/fn?x=1"), ""));
    let response = gateway.request("POST", "/release/remote/sub?a=1", &[("Content-Type", "text/plain")], b"hi");
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = endpoint.last();
    assert_eq!(seen.method, "POST");
    // The invoke_url's path and query, as written.
    assert_eq!(seen.target, "/invoke/fn?x=1");
    assert_eq!(seen.header("host"), Some(endpoint.addr.to_string().as_str()));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    // The request id the client sees, and the API's timeout in milliseconds.
    assert_eq!(seen.header("x-scf-request-id"), Some(response.request_id()));
    assert_eq!(seen.header("x-scf-timeout"), Some("9000"));
    // The body is the event; pass-through sends the endpoint's JSON back unchanged.
    assert_eq!(response.body, seen.body);
    let event = response.json();
    assert_eq!(event["requestContext"]["requestId"], response.request_id());
    assert_eq!(event["path"], "/remote/sub");
    assert_eq!(event["body"], "hi");
    assert_eq!(event["queryString"]["a"], "1");
}

#[test]
fn connections_to_the_endpoint_are_reused() {
    let endpoint = RemoteEndpoint::start(Reply::ok(r#"{"ok":true}"#));
    let gateway = Gateway::start(&single_api_config(&endpoint.url("/"), ""));
    // Sequential requests on one client connection are handled by one worker: one backend
    // connection serves them all.
    let mut client = gateway.connect();
    for _ in 0..10 {
        client.send_request("GET", "/release/remote", &gateway.host(), &[], b"");
        let response = client.read_response();
        assert_eq!((response.status, response.text()), (200, r#"{"ok":true}"#.to_string()));
    }
    assert_eq!((endpoint.requests(), endpoint.connections()), (10, 1));
    // Sequential requests on new client connections: at most one backend connection per worker.
    for _ in 0..10 {
        assert_eq!(gateway.get("/release/remote").status, 200);
    }
    assert_eq!(endpoint.requests(), 20);
    assert!(
        endpoint.connections() <= 2,
        "{} backend connections for 20 sequential requests on 2 workers",
        endpoint.connections()
    );
}

#[test]
fn a_pooled_connection_the_endpoint_closed_is_retried() {
    let endpoint = RemoteEndpoint::start(Reply::ok(r#"{"ok":true}"#));
    // The endpoint closes each connection after its response, without saying so: the gateway
    // finds out when it reuses the connection.
    endpoint.close_after_response(true);
    let gateway = Gateway::start(&single_api_config(&endpoint.url("/"), ""));
    let mut client = gateway.connect();
    for n in 0..5 {
        client.send_request("POST", "/release/remote", &gateway.host(), &[], format!("request {n}").as_bytes());
        let response = client.read_response();
        assert_eq!(response.status, 200, "request {n}: {}", response.text());
    }
    // Each event reached the endpoint exactly once, each on a new connection.
    assert_eq!((endpoint.requests(), endpoint.connections()), (5, 5));
    let bodies: Vec<String> = endpoint
        .recorded()
        .iter()
        .map(|seen| {
            serde_json::from_slice::<serde_json::Value>(&seen.body).unwrap()["body"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(bodies, ["request 0", "request 1", "request 2", "request 3", "request 4"]);
}

#[test]
fn replies_and_failures_of_the_endpoint() {
    let big = format!("\"{}\"", "x".repeat(3000));
    // (case, endpoint reply or None for a closed port, integrated_response, status, exact body
    //  with `{id}` for the request id)
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<Reply>, bool, u16, String)> = vec![
        // Nothing listens at invoke_url: 502.
        ("endpoint down", None, false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        // A non-2xx reply without an error type: 502.
        ("500", Some(Reply::ok(r#"{"a":1}"#).status(500)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        ("404", Some(Reply::ok("not here").status(404)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        // Any 2xx is a value.
        ("201", Some(Reply::ok(r#"{"a":1}"#).status(201)), false, 200, r#"{"a":1}"#.into()),
        // Reply framings: chunked and close-delimited bodies are read whole.
        ("chunked", Some(Reply::ok(r#"{"framing":"chunked"}"#).framing(Framing::Chunked)), false, 200, r#"{"framing":"chunked"}"#.into()),
        ("close-delimited", Some(Reply::ok(r#"{"framing":"close"}"#).framing(Framing::CloseDelimited)), false, 200, r#"{"framing":"close"}"#.into()),
        // A reply that is not HTTP, or that ends before its Content-Length: 502.
        ("not HTTP", Some(Reply::ok("SURPRISE\r\n\r\n").framing(Framing::Raw)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        ("truncated", Some(Reply::ok("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}").framing(Framing::Raw)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        ("closed without a reply", Some(Reply::ok("").framing(Framing::Raw)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        // Framing that cannot be trusted is refused, as web functions' replies are (one parser).
        ("signed length", Some(Reply::ok("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}").framing(Framing::Raw)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        ("length list", Some(Reply::ok("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n{}").framing(Framing::Raw)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        ("coding before chunked", Some(Reply::ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").framing(Framing::Raw)), false, 502, r#"{"message":"Bad Gateway."}"#.into()),
        // X-Scf-Error-Type marks a failed invocation, as on SCF's HTTP functions.
        ("user error", Some(Reply::ok("boom").status(500).header("X-Scf-Error-Type", "UserCodeError")), false, 502, r#"{"errorCode":-1,"errorMessage":"boom","requestId":"{id}"}"#.into()),
        ("function timeout", Some(Reply::ok("late").status(504).header("X-Scf-Error-Type", "FunctionTimeout")), false, 504, r#"{"message":"Gateway Time-out."}"#.into()),
        // Pass-through: the value must be JSON.
        ("not JSON", Some(Reply::ok("plain text")), false, 502, r#"{"message":"Bad Gateway.","error":"requestId {id} , the function returned a value that is not JSON; pass-through APIs answer JSON only."}"#.into()),
        // Integrated responses work the same with a remote function.
        ("integrated", Some(Reply::ok(r#"{"statusCode":201,"headers":{"X-From":"remote"},"body":"made"}"#)), true, 201, "made".into()),
        // Integrated: a header given as an array is sent once per value (e.g. Set-Cookie).
        ("integrated cookies", Some(Reply::ok(r#"{"statusCode":200,"headers":{"Set-Cookie":["a=1","b=2"]},"body":"c","isBase64Encoded":"false"}"#)), true, 200, "c".into()),
        ("integrated chunked", Some(Reply::ok(r#"{"statusCode":202,"body":"chunks"}"#).framing(Framing::Chunked)), true, 202, "chunks".into()),
        // Replies over [gateway] max_response_bytes (1000 here) are refused.
        ("too large", Some(Reply::ok(&big)), false, 502, r#"{"message":"Bad Gateway.","error":"requestId {id} , the function's response is larger than the gateway accepts."}"#.into()),
        ("too large chunked", Some(Reply::ok(&big).framing(Framing::Chunked)), false, 502, r#"{"message":"Bad Gateway.","error":"requestId {id} , the function's response is larger than the gateway accepts."}"#.into()),
        ("too large close-delimited", Some(Reply::ok(&big).framing(Framing::CloseDelimited)), false, 502, r#"{"message":"Bad Gateway.","error":"requestId {id} , the function's response is larger than the gateway accepts."}"#.into()),
        // An endpoint slower than the API's timeout (1 s here): 504.
        ("slow", Some(Reply::ok("{}").delay(Duration::from_secs(3))), false, 504, r#"{"message":"Gateway Time-out."}"#.into()),
    ];
    let mut endpoints = Vec::new();
    let mut config = String::from(
        "[gateway]\nmax_response_bytes = 1000\n\n[[service]]\nid = \"service-remote\"\nname = \"remote\"\n",
    );
    let mut functions = String::new();
    for (index, (_, reply, integrated, _, _)) in cases.iter().enumerate() {
        let url = match reply {
            Some(reply) => {
                let endpoint = RemoteEndpoint::start(reply.clone());
                let url = endpoint.url("/");
                endpoints.push(endpoint);
                url
            }
            None => format!("http://127.0.0.1:{}/", closed_port()),
        };
        config.push_str(&format!(
            "[[service.api]]\nname = \"case{index}\"\npath = \"/case{index}\"\nmethod = \"ANY\"\ntimeout = 1\nintegrated_response = {integrated}\nfunction = {{ name = \"f{index}\" }}\n\n"
        ));
        functions
            .push_str(&format!("[[function]]\nname = \"f{index}\"\nruntime = \"remote\"\ninvoke_url = \"{url}\"\n\n"));
    }
    config.push_str(&functions);
    let gateway = Gateway::start(&config);
    let mut failures = Vec::new();
    for (index, (label, _, _, status, body)) in cases.iter().enumerate() {
        // Twice: the second request may use a pooled connection.
        for attempt in 1..=2 {
            let response = gateway.get(&format!("/release/case{index}"));
            let expected = body.replace("{id}", response.request_id());
            if (response.status, response.text()) != (*status, expected.clone()) {
                failures.push(format!(
                    "{label} #{attempt}: got {} {} (expected {status} {expected})",
                    response.status,
                    response.text()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // The integrated reply's headers reach the client.
    let index = cases.iter().position(|case| case.0 == "integrated").unwrap();
    assert_eq!(gateway.get(&format!("/release/case{index}")).header("x-from"), Some("remote"));
    let index = cases.iter().position(|case| case.0 == "integrated cookies").unwrap();
    assert_eq!(gateway.get(&format!("/release/case{index}")).header_all("set-cookie"), ["a=1", "b=2"]);
}

#[test]
fn pooled_connections_idle_too_long_are_not_reused() {
    let endpoint = RemoteEndpoint::start(Reply::ok("{}"));
    let gateway = Gateway::builder(&single_api_config(&endpoint.url("/"), "")).arg("--pool-idle-timeout", "1").start();
    let mut client = gateway.connect();
    client.send_request("GET", "/release/remote", &gateway.host(), &[], b"");
    assert_eq!(client.read_response().status, 200);
    // Longer than --pool-idle-timeout: the idle connection is dropped, a new one is opened.
    std::thread::sleep(Duration::from_millis(1500));
    client.send_request("GET", "/release/remote", &gateway.host(), &[], b"");
    assert_eq!(client.read_response().status, 200);
    assert_eq!((endpoint.requests(), endpoint.connections()), (2, 2));
}

#[test]
fn pooled_connections_idle_too_long_are_closed_without_traffic() {
    // Each reply takes a while, so that four requests at once need four connections.
    let endpoint = RemoteEndpoint::start(Reply::ok("{}").delay(Duration::from_millis(300)));
    let gateway = Gateway::builder(&single_api_config(&endpoint.url("/"), "")).arg("--pool-idle-timeout", "1").start();
    let mut clients: Vec<_> = (0..4).map(|_| gateway.connect()).collect();
    for client in &mut clients {
        client.send_request("GET", "/release/remote", &gateway.host(), &[], b"");
    }
    for client in &mut clients {
        assert_eq!(client.read_response().status, 200);
    }
    assert_eq!((endpoint.connections(), endpoint.open_connections()), (4, 4), "four connections, pooled");
    // No more requests: the gateway closes them itself once they have been idle for a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    while endpoint.open_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(endpoint.open_connections(), 0, "idle pooled connections are closed after --pool-idle-timeout");
    // The clients' own connections stay usable: the next request opens a new backend connection.
    clients[0].send_request("GET", "/release/remote", &gateway.host(), &[], b"");
    assert_eq!(clients[0].read_response().status, 200);
    assert_eq!(endpoint.connections(), 5);
}

#[test]
fn a_late_reply_never_answers_a_later_request() {
    let endpoint = RemoteEndpoint::start(Reply::ok(r#"{"reply":"late"}"#).delay(Duration::from_secs(2)));
    let config = single_api_config(&endpoint.url("/"), "").replace("timeout = 9", "timeout = 1");
    let gateway = Gateway::start(&config);
    let mut client = gateway.connect();
    client.send_request("GET", "/release/remote", &gateway.host(), &[], b"");
    assert_eq!(client.read_response().status, 504);
    // The endpoint answers the next request at once; the late reply to the first must not be
    // taken for it.
    endpoint.set_reply(Reply::ok(r#"{"reply":"fresh"}"#));
    for _ in 0..3 {
        client.send_request("GET", "/release/remote", &gateway.host(), &[], b"");
        let response = client.read_response();
        assert_eq!((response.status, response.text()), (200, r#"{"reply":"fresh"}"#.to_string()));
        std::thread::sleep(Duration::from_millis(700));
    }
}

#[test]
fn a_502_logs_its_cause_with_the_request_id() {
    // (reply or None for a closed port, the cause the log names)
    let cases: Vec<(Option<Reply>, &str)> = vec![
        (None, "BackendUnreachable(Connect(ConnectionRefused))"),
        (Some(Reply::ok(r#"{"a":1}"#).status(500)), "BackendUnreachable(Status(500))"),
        (Some(Reply::ok("SURPRISE\r\n\r\n").framing(Framing::Raw)), "BackendUnreachable(MalformedReply)"),
        (Some(Reply::ok("").framing(Framing::Raw)), "BackendUnreachable(ClosedEarly)"),
    ];
    let mut endpoints = Vec::new();
    let mut config = String::from("[[service]]\nid = \"service-cause\"\nname = \"cause\"\n");
    let mut functions = String::new();
    for (index, (reply, _)) in cases.iter().enumerate() {
        let url = match reply {
            Some(reply) => {
                let endpoint = RemoteEndpoint::start(reply.clone());
                let url = endpoint.url("/");
                endpoints.push(endpoint);
                url
            }
            None => format!("http://127.0.0.1:{}/", closed_port()),
        };
        config.push_str(&format!(
            "[[service.api]]\nname = \"case{index}\"\npath = \"/case{index}\"\nmethod = \"GET\"\nfunction = {{ name = \"f{index}\" }}\n"
        ));
        functions
            .push_str(&format!("[[function]]\nname = \"f{index}\"\nruntime = \"remote\"\ninvoke_url = \"{url}\"\n"));
    }
    config.push_str(&functions);
    let gateway = Gateway::start(&config);
    for (index, (_, cause)) in cases.iter().enumerate() {
        let response = gateway.get(&format!("/release/case{index}"));
        assert_eq!(response.status, 502, "case {index}: {}", response.text());
        let id = response.request_id().to_string();
        let logged = |lines: &[String]| {
            lines.iter().any(|line| {
                line.contains(&id) && line.contains(cause) && line.contains(&format!("api=\"case{index}\""))
            })
        };
        assert!(
            gateway.output.wait_for(Duration::from_secs(10), logged),
            "case {index}: no line with {id} and {cause}:\n{}",
            gateway.output.text()
        );
    }
}
