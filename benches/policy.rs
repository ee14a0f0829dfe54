//! The cost of each frontend policy per request: `scfgate::policy::check` on a parsed, routed
//! request, for an API with no policy (the baseline every request pays), declared params, CORS,
//! a usage-plan rate limit, key-pair HMAC (SHA-1 and SHA-256) and OAuth JWTs (RS256 and ES256).
//! Each iteration also clears the per-connection state, as the connection does per request.
//!
//! `policy/check/oauth_*` is a token the worker has verified before (its cache); the first
//! presentation of a token pays `policy/jwt_verify/*`, the signature and claims check itself.

use std::cell::RefCell;
use std::hint::black_box;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use scfgate::config::{validate::parse_str, Auth, Config, Overrides};
use scfgate::http::{parse_request, RequestHead};
use scfgate::policy::{self, Checked, PolicyState, Request, Target, WorkerPolicy};
use scfgate::route::PathParams;
use scfgate::route::{Resolved, Router};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn config(rsa_jwk: &str, ec_jwk: &str) -> Config {
    let text = format!(
        r#"
[[service]]
id = "service-bench01"
name = "bench"
stages = ["release", "test"]

[[service.api]]
name = "none"
path = "/none"
method = "GET"
function = {{ name = "far" }}

[[service.api]]
name = "params"
path = "/items/{{id}}"
method = "GET"
function = {{ name = "far" }}
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
name = "q"
position = "query"
required = true
[[service.api.param]]
name = "X-Token"
position = "header"
required = true

[[service.api]]
name = "cors"
path = "/cors"
method = "GET"
cors = true
function = {{ name = "far" }}

[[service.api]]
name = "signed"
path = "/signed"
method = "GET"
auth = "key_pair"
function = {{ name = "far" }}

[[service.api]]
name = "rs256"
path = "/rs256"
method = "GET"
auth = "oauth"
function = {{ name = "far" }}
[service.api.oauth]
public_key = '{rsa_jwk}'
iss = "https://auth.example.com"
aud = "bench"

[[service.api]]
name = "es256"
path = "/es256"
method = "GET"
auth = "oauth"
function = {{ name = "far" }}
[service.api.oauth]
public_key = '{ec_jwk}'

[[service.api]]
name = "limited"
path = "/limited"
method = "GET"
function = {{ name = "far" }}

[[usage_plan]]
name = "gold"
secret_ids = ["AKIDbench"]
environments = [{{ service = "service-bench01", stage = "release" }}]

[[usage_plan]]
name = "stage-wide"
max_requests_per_second = 1000000000
environments = [{{ service = "service-bench01", stage = "test" }}]

[[secret]]
id = "AKIDbench"
key = "bench-secret-key"

[[function]]
name = "far"
runtime = "remote"
invoke_url = "http://127.0.0.1:9/invoke"
"#
    );
    parse_str(&text, Path::new("/nonexistent/bench.toml"), &Overrides::default()).expect("bench config")
}

fn http_date(unix: u64) -> String {
    scfgate::calendar::format_http_date(unix as i64)
}

fn key_pair_request(path: &str, algorithm: &str, now: u64) -> String {
    let date = http_date(now);
    let sign_str = format!("x-date: {date}\nsource: bench");
    let algorithm_id = match algorithm {
        "hmac-sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        _ => hmac::HMAC_SHA256,
    };
    let signature = hmac::sign(&hmac::Key::new(algorithm_id, b"bench-secret-key"), sign_str.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(signature);
    format!(
        "GET {path} HTTP/1.1\r\nHost: api.example.com\r\nX-Date: {date}\r\nSource: bench\r\nAuthorization: hmac id=\"AKIDbench\", algorithm=\"{algorithm}\", headers=\"x-date source\", signature=\"{signature}\"\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    )
}

fn jwt(header: &str, claims: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", B64URL.encode(signature))
}

/// A request, parsed and routed once.
struct Prepared {
    name: &'static str,
    raw: Vec<u8>,
    head: RequestHead,
    captures: PathParams,
    resolved: Resolved,
}

fn prepare(router: &Router, name: &'static str, raw: String) -> Prepared {
    let raw = raw.into_bytes();
    let mut head = RequestHead::default();
    parse_request(&raw, &mut head).expect("fixture parses");
    let mut captures = PathParams::default();
    let resolved = router
        .resolve(b"api.example.com", head.method.of_buffer(&raw), head.path.of_buffer(&raw), &mut captures)
        .unwrap_or_else(|error| panic!("{name} routes: {error:?}"));
    Prepared { name, raw, head, captures, resolved }
}

fn bench_policies(criterion: &mut Criterion) {
    // A fixed 3072-bit key (ring does not generate RSA keys), as tests/policy.rs signs with.
    let rsa_key = RsaKeyPair::from_der(include_bytes!("../tests/fixtures/jwt/rsa-3072.der")).expect("RSA key");
    let p256 = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(p256, &SystemRandom::new()).expect("P-256 key");
    let ec_key = EcdsaKeyPair::from_pkcs8(p256, pkcs8.as_ref(), &SystemRandom::new()).expect("P-256 key");
    let rsa_jwk = {
        let public: RsaPublicKeyComponents<Vec<u8>> = rsa_key.public().into();
        format!(r#"{{"kty":"RSA","e":"{}","n":"{}"}}"#, B64URL.encode(&public.e), B64URL.encode(&public.n))
    };
    let ec_jwk = {
        let bytes = ec_key.public_key().as_ref();
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            B64URL.encode(&bytes[1..33]),
            B64URL.encode(&bytes[33..])
        )
    };
    let config = config(&rsa_jwk, &ec_jwk);
    let router = Router::build(&config).expect("routes");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = format!(
        r#"{{"sub":"alice","iss":"https://auth.example.com","aud":"bench","exp":{},"iat":{now}}}"#,
        now + 86_400
    );
    let rs256 = jwt(r#"{"alg":"RS256","typ":"JWT"}"#, &claims, |input| {
        let mut signature = vec![0; rsa_key.public().modulus_len()];
        rsa_key.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut signature).expect("RS256");
        signature
    });
    let es256 = jwt(r#"{"alg":"ES256","typ":"JWT"}"#, &claims, |input| {
        ec_key.sign(&SystemRandom::new(), input).expect("ES256").as_ref().to_vec()
    });
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n{extra}\r\n")
    };
    let cases = [
        prepare(&router, "none", get("/release/none", "")),
        prepare(&router, "params", get("/release/items/42?q=shoes&page=3", "X-Token: abc\r\n")),
        prepare(&router, "cors", get("/release/cors", "Origin: https://app.example.com\r\n")),
        prepare(&router, "rate_limit", get("/test/limited", "")),
        prepare(&router, "key_pair_sha1", key_pair_request("/release/signed", "hmac-sha1", now)),
        prepare(&router, "key_pair_sha256", key_pair_request("/release/signed", "hmac-sha256", now)),
        prepare(&router, "oauth_rs256", get("/release/rs256", &format!("Authorization: Bearer {rs256}\r\n"))),
        prepare(
            &router,
            "oauth_es256",
            get("/release/es256", &format!("Authorization: Bearer id_token=\"{es256}\"\r\n")),
        ),
    ];

    let worker = RefCell::new(WorkerPolicy::new(&config, 0, 1, None));
    let mut state = PolicyState::default();
    let mut group = criterion.benchmark_group("policy/check");
    for case in &cases {
        let path = &case.head.path.of_buffer(&case.raw)[case.resolved.api_path_start..];
        let request = Request { buffer: &case.raw, head: &case.head, path, captures: &case.captures, https: false };
        let target = Target { config: &config, api: case.resolved.api, stage: case.resolved.stage };
        assert_eq!(
            policy::check(target, &request, &worker, &mut state, false),
            Ok(Checked::Proceed),
            "{} passes",
            case.name
        );
        group.bench_function(BenchmarkId::from_parameter(case.name), |bencher| {
            bencher.iter(|| {
                state.clear();
                black_box(policy::check(target, black_box(&request), &worker, &mut state, false))
            })
        });
    }
    group.finish();

    let mut group = criterion.benchmark_group("policy/jwt_verify");
    for (name, api, token) in [("rs256", "rs256", &rs256), ("es256", "es256", &es256)] {
        let Auth::OAuth(settings) = &config.apis.iter().find(|candidate| candidate.name == api).unwrap().policy.auth
        else {
            unreachable!("{api} is an OAuth API")
        };
        let (mut scratch, mut claims) = (Vec::new(), Vec::new());
        group.bench_function(BenchmarkId::from_parameter(name), |bencher| {
            bencher.iter(|| {
                black_box(policy::oauth::verify_token(
                    black_box(token.as_bytes()),
                    settings,
                    now as i64,
                    &mut scratch,
                    &mut claims,
                ))
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_policies);
criterion_main!(benches);
