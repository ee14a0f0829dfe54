//! The SCF API Gateway event: `scfgate::backend::event::write_event` (written straight into a
//! reused buffer) beside the way a typical implementation builds it, a `#[derive(Serialize)]` tree
//! of owned `String`/`HashMap` fields filled from the request and then `serde_json`. Both start
//! from the same parsed head and write into a reused output buffer, so the difference is the
//! intermediate tree. Throughput is bytes of event JSON.

use std::collections::HashMap;
use std::hint::black_box;

use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scfgate::backend::event::{write_event, EventInput};
use scfgate::config::path::parse_api_path;
use scfgate::http::{parse_request, RequestHead};
use scfgate::route::{ApiIndex, ApiMethod, ApiPath, Lookup, PathParams, RouteSpec, RouteTable};
use serde::Serialize;

mod common;
use common::ThreadTime;

const SERVICE_ID: &str = "service-hello01";
const REQUEST_ID: &[u8] = b"3f2b9c1e6d1f4c559a1e0b7f5d2a8c41";
const SOURCE_IP: &[u8] = b"127.0.0.1";
const STAGE: &str = "release";
const QUALIFIER: &str = "$LATEST";

/// One request, parsed and routed: everything `EventInput` borrows.
struct Prepared {
    name: &'static str,
    raw: Vec<u8>,
    head: RequestHead,
    body: Vec<u8>,
    api: ApiPath,
    api_method: ApiMethod,
    params: PathParams,
    stage_variables: Vec<(String, String)>,
}

impl Prepared {
    fn new(name: &'static str, raw: Vec<u8>, api_path: &str, api_method: ApiMethod) -> Prepared {
        let mut head = RequestHead::default();
        parse_request(&raw, &mut head).expect("fixture parses");
        let body = raw[head.head_len..].to_vec();
        let api = parse_api_path(api_path).expect("api path");
        let table = RouteTable::build(&[RouteSpec { api: ApiIndex::new(0), path: &api, method: api_method }]).unwrap();
        let mut params = PathParams::default();
        let prepared = Prepared {
            name,
            raw,
            head,
            body,
            api,
            api_method,
            params: PathParams::default(),
            stage_variables: vec![("greeting".to_string(), "Hello".to_string())],
        };
        let found = table.lookup(prepared.method(), prepared.path(), &mut params);
        assert_eq!(found, Lookup::Found(ApiIndex::new(0)), "{name} routes");
        Prepared { params, ..prepared }
    }

    fn method(&self) -> &[u8] {
        self.head.method.of_buffer(&self.raw)
    }

    /// The request path without the `/release` stage prefix.
    fn path(&self) -> &[u8] {
        &self.head.path.of_buffer(&self.raw)[1 + STAGE.len()..]
    }

    fn input(&self) -> EventInput<'_> {
        EventInput {
            service_id: SERVICE_ID,
            api_path: &self.api.path,
            api_method: self.api_method.as_str(),
            qualifier: QUALIFIER,
            endpoint_timeout: 15,
            request_id: REQUEST_ID,
            trace_id: REQUEST_ID,
            source_ip: SOURCE_IP,
            stage: STAGE,
            buffer: &self.raw,
            head: &self.head,
            body: &self.body,
            base64_body: false,
            path: self.path(),
            param_names: &self.api.params,
            params: &self.params,
            stage_variables: &self.stage_variables,
            scheme: "http",
        }
    }
}

fn prepared() -> Vec<Prepared> {
    vec![
        Prepared::new("small_get", common::SMALL_GET.to_vec(), "/hello/{name}", ApiMethod::Get),
        Prepared::new("browser_get_15_headers", common::BROWSER_GET.to_vec(), "/hello/{name}", ApiMethod::Get),
        Prepared::new("post_json_1k", common::post_request(), "/echo", ApiMethod::Any),
        // Not a typical request: the most header fields a request may carry, to show how the
        // header pass scales.
        Prepared::new("get_100_headers", common::get_100_headers(), "/hello/{name}", ApiMethod::Get),
        // Likewise the most query pairs a head may carry, for the repeated-key pass.
        Prepared::new("get_query_1500_pairs", common::get_query_pairs(1500), "/hello/{name}", ApiMethod::Get),
    ]
}

// ---- The typical implementation: an owned struct tree, then serde_json. ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    service_id: String,
    path: String,
    http_method: String,
    request_id: String,
    identity: HashMap<String, String>,
    source_ip: String,
    stage: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    request_context: RequestContext,
    headers: HashMap<String, String>,
    body: String,
    path_parameters: HashMap<String, String>,
    query_string_parameters: HashMap<String, String>,
    header_parameters: HashMap<String, String>,
    stage_variables: HashMap<String, String>,
    path: String,
    query_string: HashMap<String, String>,
    http_method: String,
    is_base64_encoded: bool,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn percent_decode(raw: &[u8], plus_as_space: bool) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let byte = raw[index];
        let hex = |offset: usize| raw.get(index + offset).and_then(|&digit| (digit as char).to_digit(16));
        match byte {
            b'%' => match (hex(1), hex(2)) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    index += 3;
                    continue;
                }
                _ => out.push(byte),
            },
            b'+' if plus_as_space => out.push(b' '),
            _ => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn build_event(input: &EventInput<'_>) -> Event {
    let mut headers: HashMap<String, String> = HashMap::new();
    for header in &input.head.headers {
        let name = text(header.name.of_buffer(input.buffer)).to_ascii_lowercase();
        let value = text(header.value.of_buffer(input.buffer));
        headers
            .entry(name)
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    let request_id = text(input.request_id);
    for (name, value) in [
        ("x-api-requestid", request_id.clone()),
        ("x-b3-traceid", request_id.clone()),
        ("x-qualifier", input.qualifier.to_string()),
        ("x-api-scheme", input.scheme.to_string()),
        ("requestsource", "APIGW".to_string()),
        ("endpoint-timeout", input.endpoint_timeout.to_string()),
        ("x-anonymous-consumer", "true".to_string()),
    ] {
        headers.insert(name.to_string(), value);
    }
    let (body, is_base64_encoded) = match std::str::from_utf8(input.body) {
        Ok(body) => (body.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(input.body), true),
    };
    let path_parameters = input
        .param_names
        .iter()
        .zip(input.params.iter())
        .map(|(name, range)| (name.clone(), percent_decode(&input.path[range], false)))
        .collect();
    let query_string = input
        .head
        .query
        .of_buffer(input.buffer)
        .split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&byte| byte == b'=') {
            Some(equals) => (percent_decode(&pair[..equals], true), percent_decode(&pair[equals + 1..], true)),
            None => (percent_decode(pair, true), String::new()),
        })
        .collect();
    Event {
        request_context: RequestContext {
            service_id: input.service_id.to_string(),
            path: input.api_path.to_string(),
            http_method: input.api_method.to_string(),
            request_id,
            identity: HashMap::new(),
            source_ip: text(input.source_ip),
            stage: input.stage.to_string(),
        },
        headers,
        body,
        path_parameters,
        query_string_parameters: HashMap::new(),
        header_parameters: HashMap::new(),
        stage_variables: input.stage_variables.iter().cloned().collect(),
        path: text(input.path),
        query_string,
        http_method: text(input.head.method.of_buffer(input.buffer)),
        is_base64_encoded,
    }
}

fn events(c: &mut Criterion<ThreadTime>) {
    let mut group = c.benchmark_group("event");
    for request in prepared() {
        let input = request.input();
        let mut out = Vec::with_capacity(8192);
        let mut scratch = Vec::with_capacity(256);
        write_event(&mut out, &mut scratch, &input);
        // Both produce the same document (up to key order).
        let ours: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        let theirs = serde_json::to_value(build_event(&input)).unwrap();
        assert_eq!(ours["headers"], theirs["headers"], "{}", request.name);
        assert_eq!(ours["body"], theirs["body"], "{}", request.name);
        assert_eq!(ours["pathParameters"], theirs["pathParameters"], "{}", request.name);
        assert_eq!(ours["queryString"], theirs["queryString"], "{}", request.name);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_function(BenchmarkId::new("write_event", request.name), |b| {
            b.iter(|| {
                out.clear();
                write_event(&mut out, &mut scratch, black_box(&input));
                black_box(&out);
            })
        });
        group.bench_function(BenchmarkId::new("serde_json_struct", request.name), |b| {
            b.iter(|| {
                out.clear();
                let event = build_event(black_box(&input));
                serde_json::to_writer(&mut out, &event).unwrap();
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = events
}
criterion_main!(benches);
