//! Idle keep-alive connections parked (`--park-after`), as their clients see them: a parked
//! connection answers its next request, pipelined or not, on the same socket, with nothing lost;
//! one that stays silent is closed at the idle timeout; parked connections still count against
//! `--max-connections`. What a parked connection costs is measured in
//! `tests/faults.rs` (ten thousand idle connections).

mod common;

use std::io::Read;
use std::time::Duration;

use common::metrics::{metrics_address, sample, scrape_until};
use common::{request_bytes, Gateway, RemoteEndpoint, Reply};

fn config(endpoint: &RemoteEndpoint) -> String {
    format!(
        r#"
[[service]]
id = "service-park"
name = "park"
[[service.api]]
name = "idle"
path = "/idle"
method = "ANY"
function = {{ name = "idle" }}

[[function]]
name = "idle"
runtime = "remote"
invoke_url = "{}"
"#,
        endpoint.url("/")
    )
}

/// A gateway that parks after 0.2 s idle, with its metrics listener.
fn start(endpoint: &RemoteEndpoint, idle_timeout: &str) -> (Gateway, std::net::SocketAddr) {
    let gateway = Gateway::builder(&config(endpoint))
        .arg("--park-after", "0.2")
        .arg("--idle-timeout", idle_timeout)
        .arg("--metrics-listen", "127.0.0.1:0")
        .start();
    let metrics = metrics_address(&gateway);
    (gateway, metrics)
}

fn wait_parked(metrics: std::net::SocketAddr, count: f64) -> String {
    let text = scrape_until(metrics, |text| sample(text, "scfgate_connections_parked") == Some(count));
    assert_eq!(sample(&text, "scfgate_connections_parked"), Some(count), "{text}");
    text
}

#[test]
fn a_parked_connection_answers_its_next_requests_on_the_same_socket() {
    let endpoint = RemoteEndpoint::start(Reply::ok(r#"{"parked":"no longer"}"#));
    let (gateway, metrics) = start(&endpoint, "60");
    let request = request_bytes("GET", "/release/idle", &gateway.host(), &[], b"");
    let mut client = gateway.connect();
    client.send(&request);
    assert_eq!(client.read_response().status, 200);
    wait_parked(metrics, 1.0);

    // Two requests in one write: both were in the socket when the connection woke.
    let mut pipelined = request.clone();
    pipelined.extend_from_slice(&request);
    client.send(&pipelined);
    for _ in 0..2 {
        let response = client.read_response();
        assert_eq!((response.status, response.text().as_str()), (200, r#"{"parked":"no longer"}"#));
        assert!(!response.closes());
    }
    // Parked again, and woken again by a request sent in two pieces.
    let text = wait_parked(metrics, 1.0);
    assert_eq!(sample(&text, "scfgate_connections_unparked_total"), Some(1.0), "{text}");
    let (first, rest) = request.split_at(10);
    client.send(first);
    std::thread::sleep(Duration::from_millis(50));
    client.send(rest);
    assert_eq!(client.read_response().status, 200);
    let text = scrape_until(metrics, |text| sample(text, "scfgate_connections_unparked_total") == Some(2.0));
    assert_eq!(sample(&text, "scfgate_connections_unparked_total"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "scfgate_connections_open"), Some(1.0), "{text}");
}

#[test]
fn a_silent_parked_connection_is_closed_at_its_idle_timeout() {
    let endpoint = RemoteEndpoint::start(Reply::ok("{}"));
    let (gateway, metrics) = start(&endpoint, "1");
    let mut client = gateway.connect();
    client.send(&request_bytes("GET", "/release/idle", &gateway.host(), &[], b""));
    assert_eq!(client.read_response().status, 200);
    wait_parked(metrics, 1.0);
    // The gateway closes it: the client reads the end of the stream (not its own read timeout).
    let mut byte = [0u8; 1];
    assert_eq!(client.stream.read(&mut byte).expect("the gateway closes the connection"), 0);
    wait_parked(metrics, 0.0);
}

#[test]
fn parked_connections_count_against_max_connections() {
    let endpoint = RemoteEndpoint::start(Reply::ok("{}"));
    let gateway = Gateway::builder(&config(&endpoint))
        .workers(1)
        .arg("--park-after", "0.2")
        .arg("--max-connections", "2")
        .arg("--metrics-listen", "127.0.0.1:0")
        .start();
    let metrics = metrics_address(&gateway);
    let request = request_bytes("GET", "/release/idle", &gateway.host(), &[], b"");
    let mut held: Vec<_> = (0..2).map(|_| gateway.connect()).collect();
    for client in &mut held {
        client.send(&request);
        assert_eq!(client.read_response().status, 200);
    }
    wait_parked(metrics, 2.0);
    // Parked, they still hold their descriptors: a third connection is one too many.
    let mut third = gateway.connect();
    third.send(&request);
    let refused = third.read_response();
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("too many connections"), "{}", refused.text());
    // One of them leaves: there is room again.
    drop(held.pop());
    wait_parked(metrics, 1.0);
    let mut fourth = gateway.connect();
    fourth.send(&request);
    assert_eq!(fourth.read_response().status, 200);
}

#[test]
fn requests_sent_just_as_their_connections_park_are_answered() {
    // An idle connection waits in a read that is cancelled when it parks: a request arriving
    // around then is served either from that read or from the lot, never dropped. Clients pause
    // 0 to 20 ms between requests around a 10 ms `--park-after`, so both happen many times. (The
    // window in which a request races the cancellation itself is microseconds wide: this test
    // rarely lands in it, and `RequestReader::fill_unless_idle` keeps what such a read returns.)
    let endpoint = RemoteEndpoint::start(Reply::ok(r#"{"raced":"yes"}"#));
    let gateway = Gateway::builder(&config(&endpoint))
        .workers(1)
        .arg("--park-after", "0.01")
        .arg("--metrics-listen", "127.0.0.1:0")
        .start();
    let metrics = metrics_address(&gateway);
    let request = request_bytes("GET", "/release/idle", &gateway.host(), &[], b"");
    std::thread::scope(|scope| {
        for client_number in 0..8u64 {
            let (gateway, request) = (&gateway, &request);
            scope.spawn(move || {
                let mut client = gateway.connect();
                for round in 0..120u64 {
                    client.send(request);
                    let response = client.read_response();
                    let answer = (response.status, response.text());
                    assert_eq!(answer, (200, r#"{"raced":"yes"}"#.to_owned()), "client {client_number} round {round}");
                    std::thread::sleep(Duration::from_micros((round * 7919 + client_number * 104_729) % 20_000));
                }
            });
        }
    });
    // Both paths ran: requests woke parked connections, and others were read before parking.
    let text = scrape_until(metrics, |text| sample(text, "scfgate_connections_unparked_total").is_some());
    let unparked = sample(&text, "scfgate_connections_unparked_total").unwrap_or(0.0);
    assert!(unparked > 0.0 && unparked < 960.0, "{unparked} of 960 requests woke a parked connection\n{text}");
}
