//! The route compiler and matcher: arbitrary API sets and request paths. No panic, and the trie
//! agrees with the plain reference matcher written from Tencent's priority rules (result and
//! captured parameter ranges), including which route sets are refused.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use scfgate::config::{path::parse_api_path, ApiMethod};
use scfgate::route::reference::{reference_check, reference_lookup};
use scfgate::route::{ApiIndex, PathParams, RouteSpec, RouteTable};

#[derive(Arbitrary, Debug)]
struct Input {
    routes: Vec<(u8, String)>,
    requests: Vec<(u8, Vec<u8>)>,
}

const METHODS: [ApiMethod; 6] =
    [ApiMethod::Get, ApiMethod::Post, ApiMethod::Put, ApiMethod::Delete, ApiMethod::Head, ApiMethod::Any];
const REQUEST_METHODS: [&[u8]; 6] = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"PATCH"];

fuzz_target!(|input: Input| {
    let paths: Vec<_> = input.routes.iter().take(32).filter_map(|(_, raw)| parse_api_path(raw).ok()).collect();
    let specs: Vec<RouteSpec<'_>> = paths
        .iter()
        .zip(input.routes.iter().map(|(method, _)| METHODS[*method as usize % METHODS.len()]))
        .enumerate()
        .map(|(api, (path, method))| RouteSpec { api: ApiIndex::new(api), path, method })
        .collect();
    let built = RouteTable::build(&specs);
    assert_eq!(built.as_ref().err(), reference_check(&specs).err().as_ref());
    let Ok(table) = built else { return };
    let mut params = PathParams::default();
    for (method, path) in input.requests.iter().take(16) {
        if path.first() != Some(&b'/') {
            continue;
        }
        let method = REQUEST_METHODS[*method as usize % REQUEST_METHODS.len()];
        let found = table.lookup(method, path, &mut params);
        let (expected, ranges) = reference_lookup(&specs, method, path);
        assert_eq!(found, expected, "{:?} {:?}", String::from_utf8_lossy(method), String::from_utf8_lossy(path));
        let captured: Vec<_> = params.iter().collect();
        if matches!(found, scfgate::route::Lookup::Found(_)) {
            assert_eq!(captured, ranges);
        }
    }
});
