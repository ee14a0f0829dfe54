//! Route lookup: `scfgate::route::RouteTable` (Tencent's four path kinds in one trie) with 10,
//! 1,000 and 10,000 APIs, hits of every kind and misses; beside it `matchit` 0.9 on the subset it
//! can express (exact paths and single-segment `{param}`s), with the same requests.
//!
//! APIs come in groups of 8 per resource `g`, so every table size mixes every kind and method:
//!
//! | r | path | method |
//! |---|---|---|
//! | 0 | `=/v1/res{g}` | GET |
//! | 1 | `=/v1/res{g}/list` | GET |
//! | 2 | `/v1/res{g}/{id}/items/{item}` | GET |
//! | 3 | `/v1/res{g}/{id}` | ANY |
//! | 4 | `^~/v1/res{g}/static/` | GET |
//! | 5 | `/v1/res{g}-legacy` (plain prefix) | ANY |
//! | 6 | `=/v2/res{g}` | POST |
//! | 7 | `/v2/res{g}/{id}` | PUT |
//!
//! (r=2 comes before r=3 because Tencent tries Param routes in definition order and `{id}` is
//! greedy: defined the other way round, `/v1/res{g}/{id}` would also take `/…/42/items/7`. For the
//! same reason the plain prefix is `-legacy`, not `/legacy`: `{id}` would take `/legacy/…` first.)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scfgate::config::path::parse_api_path;
use scfgate::route::{ApiIndex, ApiMethod, ApiPath, Lookup, PathParams, RouteSpec, RouteTable};

mod common;
use common::ThreadTime;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// One API as written in a config file, and whether matchit can express it.
struct Api {
    path: String,
    method: ApiMethod,
    matchit: Option<String>,
}

fn apis(count: usize) -> Vec<Api> {
    (0..count)
        .map(|index| {
            let group = index / 8;
            let (path, method, matchit) = match index % 8 {
                0 => (format!("=/v1/res{group}"), ApiMethod::Get, Some(format!("/v1/res{group}"))),
                1 => (format!("=/v1/res{group}/list"), ApiMethod::Get, Some(format!("/v1/res{group}/list"))),
                2 => {
                    let path = format!("/v1/res{group}/{{id}}/items/{{item}}");
                    (path.clone(), ApiMethod::Get, Some(path))
                }
                3 => {
                    let path = format!("/v1/res{group}/{{id}}");
                    (path.clone(), ApiMethod::Any, Some(path))
                }
                4 => (format!("^~/v1/res{group}/static/"), ApiMethod::Get, None),
                5 => (format!("/v1/res{group}-legacy"), ApiMethod::Any, None),
                6 => (format!("=/v2/res{group}"), ApiMethod::Post, Some(format!("/v2/res{group}"))),
                _ => {
                    let path = format!("/v2/res{group}/{{id}}");
                    (path.clone(), ApiMethod::Put, Some(path))
                }
            };
            Api { path, method, matchit }
        })
        .collect()
}

fn parsed(apis: &[Api]) -> Vec<(ApiPath, ApiMethod)> {
    apis.iter().map(|api| (parse_api_path(&api.path).expect("valid path"), api.method)).collect()
}

fn specs(paths: &[(ApiPath, ApiMethod)]) -> Vec<RouteSpec<'_>> {
    paths
        .iter()
        .enumerate()
        .map(|(api, (path, method))| RouteSpec { api: ApiIndex::new(api), path, method: *method })
        .collect()
}

fn matchit_router(apis: &[Api]) -> matchit::Router<usize> {
    let mut router = matchit::Router::new();
    for (id, api) in apis.iter().enumerate() {
        if let Some(path) = &api.matchit {
            router.insert(path.as_str(), id).expect("matchit accepts the subset");
        }
    }
    router
}

/// Requests against the resource group in the middle of the table: (name, method, path, the
/// expected lookup, whether matchit can serve it).
fn requests(count: usize) -> Vec<(&'static str, &'static str, String, Lookup, bool)> {
    let group = (count - 1) / 8 / 2;
    let api = |r: usize| Lookup::Found(ApiIndex::new(group * 8 + r));
    vec![
        ("hit_exact", "GET", format!("/v1/res{group}/list"), api(1), true),
        ("hit_param_1", "GET", format!("/v1/res{group}/42"), api(3), true),
        ("hit_param_2", "GET", format!("/v1/res{group}/42/items/7"), api(2), true),
        ("hit_priority_prefix", "GET", format!("/v1/res{group}/static/js/app.js"), api(4), false),
        ("hit_prefix", "GET", format!("/v1/res{group}-legacy/old/page"), api(5), false),
        ("miss_405", "DELETE", format!("/v2/res{group}"), Lookup::MethodNotAllowed, false),
        ("miss_near", "GET", format!("/v1/res{group}0000"), Lookup::NotFound, true),
        ("miss_far", "GET", "/v3/nothing/here".to_string(), Lookup::NotFound, true),
    ]
}

fn build(c: &mut Criterion<ThreadTime>) {
    let mut group = c.benchmark_group("route_build");
    group.sample_size(20);
    for count in SIZES {
        let apis = apis(count);
        let paths = parsed(&apis);
        let routes = specs(&paths);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::new("scfgate", count), &routes, |b, routes| {
            b.iter(|| black_box(RouteTable::build(black_box(routes)).unwrap()))
        });
        let subset = apis.iter().filter(|api| api.matchit.is_some()).count();
        group.throughput(Throughput::Elements(subset as u64));
        group.bench_with_input(BenchmarkId::new("matchit_subset", count), &apis, |b, apis| {
            b.iter(|| black_box(matchit_router(black_box(apis))))
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion<ThreadTime>) {
    for count in SIZES {
        let apis = apis(count);
        let paths = parsed(&apis);
        let table = RouteTable::build(&specs(&paths)).unwrap();
        // The same trie built from only what matchit can express: the like-for-like comparison.
        let subset_paths: Vec<(ApiPath, ApiMethod)> =
            apis.iter().zip(&paths).filter(|(api, _)| api.matchit.is_some()).map(|(_, path)| path.clone()).collect();
        let subset_table = RouteTable::build(&specs(&subset_paths)).unwrap();
        let router = matchit_router(&apis);
        let mut group = c.benchmark_group(format!("route_lookup_{count}"));
        group.throughput(Throughput::Elements(1));
        let mut params = PathParams::default();
        for (name, method, path, expected, matchit_can) in requests(count) {
            assert_eq!(table.lookup(method.as_bytes(), path.as_bytes(), &mut params), expected, "{name} {path}");
            group.bench_function(BenchmarkId::new("scfgate", name), |b| {
                b.iter(|| {
                    black_box(table.lookup(black_box(method.as_bytes()), black_box(path.as_bytes()), &mut params))
                })
            });
            if !matchit_can {
                continue;
            }
            let expected_api = match expected {
                Lookup::Found(api) => Some(api.get()),
                _ => None,
            };
            assert_eq!(router.at(&path).ok().map(|found| *found.value), expected_api, "matchit {name} {path}");
            let subset_found = subset_table.lookup(method.as_bytes(), path.as_bytes(), &mut params);
            assert_eq!(matches!(subset_found, Lookup::Found(_)), expected_api.is_some(), "subset {name} {path}");
            group.bench_function(BenchmarkId::new("scfgate_subset", name), |b| {
                b.iter(|| {
                    black_box(subset_table.lookup(
                        black_box(method.as_bytes()),
                        black_box(path.as_bytes()),
                        &mut params,
                    ))
                })
            });
            group.bench_function(BenchmarkId::new("matchit_subset", name), |b| {
                b.iter(|| match router.at(black_box(path.as_str())) {
                    Ok(found) => black_box((*found.value, found.params.len())),
                    Err(_) => black_box((usize::MAX, 0)),
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = build, lookup
}
criterion_main!(benches);
