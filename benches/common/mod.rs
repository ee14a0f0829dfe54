//! Shared by the benches: the measurement (thread CPU time) and criterion settings, and the request
//! fixtures of `parse.rs` and `event.rs`.

#![allow(dead_code)]

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::Criterion;

/// Criterion measuring the CPU time of the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`) instead
/// of wall-clock time. On a shared machine (other builds and tests on 2 cores) wall-clock times grow
/// with every moment the thread waits for a core; its CPU time does not. Single-threaded,
/// CPU-bound code that does not block measures the same either way on an idle machine.
pub struct ThreadTime {
    /// Only for its formatter: the values are durations either way.
    wall: WallTime,
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write into; the clock id is a constant the kernel knows.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

impl Measurement for ThreadTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }

    fn add(&self, first: &Duration, second: &Duration) -> Duration {
        *first + *second
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// Criterion as every bench here runs it: thread CPU time, 1 s warm-up, 2 s of measurement.
pub fn criterion() -> Criterion<ThreadTime> {
    Criterion::default()
        .with_measurement(ThreadTime { wall: WallTime })
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

/// A curl-like GET to the example's `/release/hello/{name}` API.
pub const SMALL_GET: &[u8] =
    b"GET /release/hello/alice HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

/// A browser-like GET with 15 header fields and a query string.
pub const BROWSER_GET: &[u8] =
    b"GET /release/hello/alice?lang=en-US&ref=home%20page&utm_source=newsletter HTTP/1.1\r\n\
Host: api.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Sec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,zh-CN;q=0.8\r\n\
\r\n";

/// The worst case the parser admits: 100 header fields (`MAX_HEADERS`), 99 of them distinct
/// `X-Custom-N` names.
pub fn get_100_headers() -> Vec<u8> {
    let mut request = b"GET /release/hello/alice HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n".to_vec();
    for index in 1..100 {
        request.extend_from_slice(format!("X-Custom-{index}: value-{index}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// A GET whose query has `pairs` distinct keys (`k0=1&k1=1&…`), as many as fit the default 16 KB
/// head limit at 1,500.
pub fn get_query_pairs(pairs: usize) -> Vec<u8> {
    let query = (0..pairs).map(|index| format!("k{index}=1")).collect::<Vec<_>>().join("&");
    format!("GET /release/hello/alice?{query} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n").into_bytes()
}

/// A JSON body of exactly 1024 bytes.
pub fn json_body_1k() -> Vec<u8> {
    let mut body = String::from("{\"items\":[");
    let mut index = 0;
    loop {
        let item =
            format!("{}{{\"id\":{index},\"name\":\"item-{index}\",\"ok\":true}}", if index > 0 { "," } else { "" });
        // Leave room for the closing `],"pad":"…"}`.
        if body.len() + item.len() + 12 > 1024 {
            break;
        }
        body.push_str(&item);
        index += 1;
    }
    body.push_str("],\"pad\":\"");
    while body.len() + 2 < 1024 {
        body.push('x');
    }
    body.push_str("\"}");
    assert_eq!(body.len(), 1024);
    body.into_bytes()
}

/// The POST head alone (Content-Length framing for a 1 KB JSON body).
pub fn post_head() -> Vec<u8> {
    format!(
        "POST /release/echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-requests/2.31.0\r\n\
Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n\
Content-Length: {}\r\n\r\n",
        json_body_1k().len()
    )
    .into_bytes()
}

/// The whole POST: head then the 1 KB body.
pub fn post_request() -> Vec<u8> {
    let mut request = post_head();
    request.extend_from_slice(&json_body_1k());
    request
}

/// `body` as a chunked transfer coding with chunks of `chunk` bytes, then the last chunk.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
