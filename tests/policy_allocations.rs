//! Heap allocations per request of the frontend policies in steady state: `policy::check` and the
//! event they shape (`write_event_with`), counted on this thread with a counting global allocator.
//! Every policy that passes a request allocates nothing once the connection's buffers have grown;
//! the only allocations left are on refusals (the error carries a name) and in the first
//! verification of a JWT (RSA's big integers, inside `ring`), which the worker's token
//! cache takes off the path of every later request with the same token.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use scfgate::backend::event::{write_event_with, EventInput};
use scfgate::config::{validate::parse_str, Overrides};
use scfgate::http::{parse_request, RequestHead};
use scfgate::policy::{self, Checked, PolicyState, Request, Target, WorkerPolicy};
use scfgate::route::PathParams;
use scfgate::route::Router;

struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches no memory
// the allocator manages.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const CONFIG: &str = r#"
[[service]]
id = "service-alloc"
name = "alloc"
stages = ["release", "test"]

[[service.api]]
name = "everything"
path = "/items/{id}"
method = "GET"
auth = "key_pair"
cors = true
function = { name = "far" }
[[service.api.param]]
name = "id"
position = "path"
type = "long"
required = true
[[service.api.param]]
name = "page"
position = "query"
type = "int"
default = "1"
[[service.api.param]]
name = "X-Token"
position = "header"
required = true

[[service.api]]
name = "token"
path = "/token"
method = "GET"
auth = "oauth"
function = { name = "far" }
[service.api.oauth]
public_key = 'EC_JWK'

[[usage_plan]]
name = "gold"
secret_ids = ["AKIDalloc"]
max_requests_per_second = 1000000000
quota_per_day = 1000000000
environments = [{ service = "service-alloc", stage = "release" }]

[[usage_plan]]
name = "stage-wide"
max_requests_per_second = 1000000000
environments = [{ service = "service-alloc", stage = "release" }]

[[secret]]
id = "AKIDalloc"
key = "alloc-secret-key"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn date(unix: u64) -> String {
    scfgate::calendar::format_http_date(unix as i64)
}

#[test]
fn passing_policies_allocate_nothing_per_request() {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &SystemRandom::new()).unwrap();
    let point = key.public_key().as_ref();
    let jwk = format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        B64URL.encode(&point[1..33]),
        B64URL.encode(&point[33..])
    );
    let config =
        parse_str(&CONFIG.replace("EC_JWK", &jwk), Path::new("/nonexistent/alloc.toml"), &Overrides::default())
            .unwrap();
    let router = Router::build(&config).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();

    let x_date = date(now);
    let key_pair_key = hmac::Key::new(hmac::HMAC_SHA256, b"alloc-secret-key");
    let tag = hmac::sign(&key_pair_key, format!("x-date: {x_date}\nsource: test").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(tag);
    let signed = format!(
        "GET /release/items/42?page=3&x=1 HTTP/1.1\r\nHost: h\r\nOrigin: https://app.example.com\r\nX-Token: t\r\nX-Date: {x_date}\r\nSource: test\r\n\
         Authorization: hmac id=\"AKIDalloc\", algorithm=\"hmac-sha256\", headers=\"x-date source\", signature=\"{signature}\"\r\n\r\n"
    );
    let claims = format!(r#"{{"sub":"alice","exp":{}}}"#, now + 3600);
    let input = format!("{}.{}", B64URL.encode(r#"{"alg":"ES256"}"#), B64URL.encode(&claims));
    let jws = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let token = format!("{input}.{}", B64URL.encode(jws));
    let bearer = format!("GET /release/token HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}\r\n\r\n");
    let preflight = "OPTIONS /release/items/42 HTTP/1.1\r\nHost: h\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-token,x-date,source,authorization\r\n\r\n";

    let worker = RefCell::new(WorkerPolicy::new(&config, 0, 1, None));
    let mut state = PolicyState::default();
    let mut event = Vec::new();
    let mut scratch = Vec::new();
    for (name, raw, expected) in [
        ("key pair + CORS + params + plans", signed.as_str(), Checked::Proceed),
        ("OAuth, cached", &bearer, Checked::Proceed),
        ("preflight", preflight, Checked::Preflight),
    ] {
        let raw = raw.as_bytes();
        let mut head = RequestHead::default();
        parse_request(raw, &mut head).unwrap();
        let method = if expected == Checked::Preflight { &b"GET"[..] } else { head.method.of_buffer(raw) };
        let mut captures = PathParams::default();
        let resolved = router.resolve(b"h", method, head.path.of_buffer(raw), &mut captures).unwrap();
        let path = &head.path.of_buffer(raw)[resolved.api_path_start..];
        let api = &config.apis[resolved.api];
        let service = &config.services[api.service];
        let request = Request { buffer: raw, head: &head, path, captures: &captures, https: false };
        let target = Target { config: &config, api: resolved.api, stage: resolved.stage };
        let mut once = || {
            state.clear();
            let checked = policy::check(target, &request, &worker, &mut state, expected == Checked::Preflight).unwrap();
            assert_eq!(checked, expected, "{name}");
            event.clear();
            let input = EventInput {
                service_id: &service.id,
                api_path: &api.path.path,
                api_method: api.method.as_str(),
                qualifier: "$LATEST",
                endpoint_timeout: 15,
                request_id: b"0123456789abcdef0123456789abcdef",
                trace_id: b"0123456789abcdef0123456789abcdef",
                source_ip: b"127.0.0.1",
                stage: resolved.stage.as_str(),
                buffer: raw,
                head: &head,
                body: b"",
                base64_body: false,
                path,
                param_names: &api.path.params,
                params: &captures,
                stage_variables: &service.stage_variables[resolved.stage.index()],
                scheme: "http",
            };
            write_event_with(&mut event, &mut scratch, &input, &state.event_fields(&config, api));
        };
        // Warm up: buffers grow to size and the first JWT is verified (and cached).
        for _ in 0..10 {
            once();
        }
        COUNTING.with(|counting| counting.set(true));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..200 {
            once();
        }
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTING.with(|counting| counting.set(false));
        assert_eq!(after - before, 0, "{name}: {} allocations over 200 requests", after - before);
        if expected == Checked::Proceed {
            let parsed: serde_json::Value = serde_json::from_slice(&event).unwrap();
            assert!(
                parsed["requestContext"]["identity"].as_object().is_some_and(|identity| !identity.is_empty()),
                "{name}: {parsed}"
            );
        }
    }
}
