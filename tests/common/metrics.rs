//! The gateway's Prometheus endpoint (`--metrics-listen`) as a scraper sees it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{request_bytes, Client, Gateway, Response};

const LIMIT: Duration = Duration::from_secs(20);
const METRICS_MARK: &str = "scfgate metrics on http://";

/// Where a gateway started with `--metrics-listen 127.0.0.1:0` serves its metrics (from its log).
pub fn metrics_address(gateway: &Gateway) -> SocketAddr {
    assert!(gateway.output.wait_for_line(METRICS_MARK, LIMIT), "{}", gateway.output.text());
    let line = gateway.output.lines().into_iter().find(|line| line.contains(METRICS_MARK)).unwrap();
    let rest = &line[line.find(METRICS_MARK).unwrap() + METRICS_MARK.len()..];
    rest.split('/').next().unwrap().parse().unwrap()
}

/// One GET to the metrics listener.
pub fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut client = Client::connect(address);
    client.send(&request_bytes("GET", path, &address.to_string(), headers, b""));
    client.read_response()
}

/// The Prometheus text, checked to be served as such.
pub fn scrape(address: SocketAddr) -> String {
    let response = get(address, "/metrics", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    response.text()
}

/// The value of the sample written exactly as `series` (name and labels), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Scrapes until `done` holds for the text (function restarts and gauges move on their own time).
pub fn scrape_until(address: SocketAddr, mut done: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let text = scrape(address);
        if done(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
