//! Table-driven checks of the rules in the module docs: one case per line, each pointing at the
//! rule it pins ("rule N" is the numbered list in `route/mod.rs`; "§1.x" is the Tencent spec).
//! Every lookup case is also checked against the reference router.

use super::reference::reference_lookup;
use super::Lookup::{MethodNotAllowed, NotFound};
use super::*;

/// The API at `position` in the route list was found.
fn found(position: usize) -> Lookup {
    Lookup::Found(ApiIndex::new(position))
}

/// `"GET =/user"`: a method, a space, then a path written as in the config file (`=` Exact, `^~`
/// PriorityPrefix, a `{placeholder}` makes it Param, anything else Prefix).
fn parse_route(route: &str) -> (ApiMethod, ApiPath) {
    let (method, path) = route.split_once(' ').expect("METHOD path");
    let (kind, path) = if let Some(path) = path.strip_prefix('=') {
        (PathKind::Exact, path)
    } else if let Some(path) = path.strip_prefix("^~") {
        (PathKind::PriorityPrefix, path)
    } else if pattern::split_literals(path.as_bytes()).len() > 1 {
        (PathKind::Param, path)
    } else {
        (PathKind::Prefix, path)
    };
    (ApiMethod::parse(method).expect("method"), ApiPath { kind, path: path.to_string(), params: Vec::new() })
}

/// Builds `routes` (API id = position), or returns the build error.
fn build(routes: &[&str]) -> Result<(), RouteError> {
    with_table(routes, |_, _| ())
}

fn with_table<T>(routes: &[&str], then: impl FnOnce(&RouteTable, &[RouteSpec<'_>]) -> T) -> Result<T, RouteError> {
    let parsed: Vec<(ApiMethod, ApiPath)> = routes.iter().map(|route| parse_route(route)).collect();
    let specs: Vec<RouteSpec<'_>> = parsed
        .iter()
        .enumerate()
        .map(|(api, (method, path))| RouteSpec { api: ApiIndex::new(api), path, method: *method })
        .collect();
    let table = RouteTable::build(&specs)?;
    table.trie.check_invariants();
    Ok(then(&table, &specs))
}

/// Looks up `request` (`"GET /user/7"`) and checks the outcome and the captured text.
fn check(routes: &[&str], request: &str, expected: Lookup, captures: &[&str]) {
    let (method, path) = request.split_once(' ').expect("METHOD path");
    with_table(routes, |table, specs| {
        let mut params = PathParams::default();
        let found = table.lookup(method.as_bytes(), path.as_bytes(), &mut params);
        let captured: Vec<&str> = params.iter().map(|range| &path[range]).collect();
        assert_eq!((found, captured.as_slice()), (expected, captures), "{request} on {routes:?}");
        let (reference, reference_captures) = reference_lookup(specs, method.as_bytes(), path.as_bytes());
        assert_eq!((reference, reference_captures), (found, params.iter().collect()), "reference disagrees");
    })
    .expect("routes build");
}

#[test]
#[rustfmt::skip] // one case per line
fn exact() {
    check(&["GET =/user"], "GET /user", found(0), &[]); // rule 1: the whole path
    check(&["GET =/user"], "GET /user/1", NotFound, &[]); // rule 1: not a prefix
    check(&["GET =/user"], "GET /User", NotFound, &[]); // bytes, case-sensitive
    check(&["ANY ^~/user", "ANY /{a}", "ANY /user", "GET =/user"], "GET /user", found(3), &[]); // rule 1 beats 2, 3, 4
    check(&["ANY /", "GET =/"], "GET /", found(1), &[]); // rule 1 at the root
}

#[test]
#[rustfmt::skip] // one case per line
fn priority_prefix() {
    check(&["GET ^~/user"], "GET /user/1", found(0), &[]); // rule 2: byte prefix
    check(&["GET ^~/user"], "GET /users", found(0), &[]); // rule 2: character prefix, not segment
    check(&["ANY ^~/u", "ANY ^~/user/ad", "ANY ^~/user"], "GET /user/admin", found(1), &[]); // rule 2: longest wins
    check(&["ANY /user/{id}", "ANY ^~/user/"], "GET /user/1", found(1), &[]); // rule 2 beats rule 3
    check(&["ANY /user/admin", "ANY ^~/user"], "GET /user/admin", found(1), &[]); // rule 2 beats a longer rule 4
    check(&["ANY ^~/user/"], "GET /user", NotFound, &[]); // longer than the path
}

#[test]
#[rustfmt::skip] // one case per line
fn param() {
    check(&["ANY /{PathA}/{PathB}/detail"], "GET /middleware/apigw/detail", found(0), &["middleware", "apigw"]); // §1.2 row 1
    check(&["ANY /{PathA}/product/{PathB}"], "GET /middleware/product/apigw/detail", found(0), &["middleware", "apigw/detail"]); // §1.2 row 2
    check(&["ANY /{PathA}/{PathB}"], "GET /middleware/apigw/detail", found(0), &["middleware/apigw", "detail"]); // §1.2 row 3
    check(&["ANY /{a}/{b}"], "GET /x/y/z", found(0), &["x/y", "z"]); // rule 3: greedy .+, first capture longest
    check(&["ANY /user/{id}"], "GET /user/", NotFound, &[]); // rule 3: a capture is never empty
    check(&["ANY /user/{id}/x"], "GET /user/1/x/y", NotFound, &[]); // rule 3: anchored at the end
    check(&["ANY /user/{id}"], "GET /users/1", NotFound, &[]); // rule 3: anchored at the start
    check(&["ANY /user/1", "ANY /user/{id}"], "GET /user/1", found(1), &["1"]); // rule 3 beats a longer rule 4
    check(&["ANY /{a}/{b}", "ANY /{a}"], "GET /x/y", found(0), &["x", "y"]); // rule 3: definition order
    check(&["ANY /{a}", "ANY /{a}/{b}"], "GET /x/y", found(0), &["x/y"]); // rule 3: definition order, reversed
    check(&["ANY /{rest}", "ANY /user/{id}"], "GET /user/1", found(0), &["user/1"]); // rule 3: no longest-literal rule
    check(&["ANY /user/{id}", "ANY /{rest}"], "GET /user/1", found(0), &["1"]); // rule 3: ... either way
    check(&["ANY /{a}{b}"], "GET /xyz", found(0), &["xy", "z"]); // adjacent placeholders
    check(&["ANY /a{}/{id}"], "GET /a{}/7", found(0), &["7"]); // `{}` is literal text
    check(&["ANY /file/{name}.{ext}"], "GET /file/a.b.c", found(0), &["a.b", "c"]); // captures slice the right text
}

#[test]
#[rustfmt::skip] // one case per line
fn prefix() {
    check(&["ANY /user"], "GET /user", found(0), &[]); // rule 4: the path itself
    check(&["ANY /user"], "GET /usertest", found(0), &[]); // rule 4: character prefix, not segment
    check(&["ANY /user"], "GET /user/test/a", found(0), &[]); // rule 4
    check(&["ANY /user"], "GET /use", NotFound, &[]); // rule 4: route longer than the path
    check(&["ANY /", "ANY /user", "ANY /us"], "GET /user/1", found(1), &[]); // rule 4: longest wins
    check(&["ANY /"], "GET /anything/at/all", found(0), &[]); // rule 4: `/` catches everything
    check(&["ANY /ab", "ANY /ac"], "GET /a", NotFound, &[]); // a split label is not a route
}

#[test]
#[rustfmt::skip] // one case per line
fn methods() {
    check(&["GET /user", "POST /user"], "POST /user", found(1), &[]); // one path, several methods
    check(&["GET /user", "POST /user"], "GET /user", found(0), &[]);
    check(&["ANY /user"], "PATCH /user", found(0), &[]); // ANY accepts every token
    check(&["GET /user"], "HEAD /user", MethodNotAllowed, &[]); // HEAD is not GET
    check(&["HEAD /user"], "GET /user", MethodNotAllowed, &[]);
    check(&["GET /user"], "get /user", MethodNotAllowed, &[]); // the token as sent, case-sensitive
    check(&["POST =/user", "GET /user"], "GET /user", found(1), &[]); // fallthrough: rule 1 to rule 4
    check(&["POST ^~/user", "GET /user/{id}"], "GET /user/1", found(1), &["1"]); // fallthrough: rule 2 to rule 3
    check(&["POST ^~/u", "GET ^~/", "POST ^~/user"], "GET /user", found(1), &[]); // fallthrough: to a shorter rule 2
    check(&["POST /user/{id}", "GET /{rest}"], "GET /user/1", found(1), &["user/1"]); // fallthrough: next rule 3
    check(&["POST /user/{id}", "GET /user"], "GET /user/1", found(1), &[]); // fallthrough: rule 3 to rule 4, no stale captures
    check(&["ANY /", "POST /user"], "GET /user", found(0), &[]); // fallthrough: to a shorter rule 4
}

#[test]
#[rustfmt::skip] // one case per line
fn not_allowed_versus_not_found() {
    check(&["POST /user"], "GET /user", MethodNotAllowed, &[]); // 405: the path matched
    check(&["POST =/user"], "GET /user", MethodNotAllowed, &[]); // 405 through rule 1
    check(&["POST ^~/user"], "GET /user/1", MethodNotAllowed, &[]); // 405 through rule 2
    check(&["POST /user/{id}"], "GET /user/1", MethodNotAllowed, &[]); // 405 through rule 3
    check(&["POST /user/{id}"], "GET /user/", NotFound, &[]); // 404: rule 3 did not match
    check(&["POST =/user"], "GET /user/1", NotFound, &[]); // 404: rule 1 did not match
    check(&["POST /user"], "GET /other", NotFound, &[]); // 404: nothing matched
    check(&[], "GET /", NotFound, &[]); // 404: empty table
}

#[test]
#[rustfmt::skip] // one case per line
fn conflicts() {
    let conflict = |api, with| Err(RouteError::Conflict { api: ApiIndex::new(api), with: ApiIndex::new(with) });
    assert_eq!(build(&["GET /user", "GET /user"]), conflict(1, 0)); // same kind, path, method
    assert_eq!(build(&["GET /user", "ANY /user"]), conflict(1, 0)); // ANY overlaps GET
    assert_eq!(build(&["ANY =/user", "GET =/user"]), conflict(1, 0)); // ... either way round
    assert_eq!(build(&["GET /a", "POST /b", "ANY /a"]), conflict(2, 0)); // names the earlier route
    assert_eq!(build(&["GET /user/{id}", "GET /user/{name}"]), conflict(1, 0)); // param names ignored
    assert_eq!(build(&["GET /user", "POST /user", "HEAD /user"]), Ok(())); // distinct methods
    assert_eq!(build(&["GET /user", "GET =/user", "GET ^~/user"]), Ok(())); // distinct kinds
    assert_eq!(build(&["GET /user/{id}", "GET /user/{id}/x"]), Ok(())); // distinct literal text
    assert_eq!(build(&["GET /{a}{b}", "GET /{a}/{b}"]), Ok(())); // distinct placeholder positions
}

#[test]
fn conflicts_name_api_indices_not_route_positions() {
    let path = ApiPath { kind: PathKind::Prefix, path: "/user".into(), params: Vec::new() };
    let routes = [
        RouteSpec { api: ApiIndex::new(7), path: &path, method: ApiMethod::Get },
        RouteSpec { api: ApiIndex::new(3), path: &path, method: ApiMethod::Get },
    ];
    assert_eq!(
        RouteTable::build(&routes).err(),
        Some(RouteError::Conflict { api: ApiIndex::new(3), with: ApiIndex::new(7) })
    );
}

#[test]
fn placeholder_limit() {
    let placeholders = |count: usize| format!("GET /{}", "{p}/".repeat(count));
    assert_eq!(build(&[&placeholders(MAX_PATH_PARAMS)]), Ok(())); // the limit itself is fine
    assert_eq!(build(&[&placeholders(MAX_PATH_PARAMS + 1)]), Err(RouteError::TooManyParams { api: ApiIndex::new(0) }));
    let sixteen = "/a".repeat(MAX_PATH_PARAMS);
    let routes = [&*placeholders(MAX_PATH_PARAMS)];
    let captures = ["a"; MAX_PATH_PARAMS];
    check(&routes, &format!("GET {sixteen}/"), found(0), &captures); // all sixteen captured
}

#[test]
fn table_shape() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RouteTable>();
    let empty = RouteTable::build(&[]).unwrap();
    assert!(empty.is_empty());
    let mut params = PathParams::default();
    assert_eq!(empty.lookup(b"GET", b"/", &mut params), NotFound);
    with_table(&["GET /a", "POST /a", "GET =/b"], |table, _| {
        assert_eq!(table.len(), 3);
        assert!(!table.is_empty());
    })
    .unwrap();
    assert!(params.is_empty() && params.get(0).is_none());
}

#[test]
fn param_route_without_placeholders_leaves_no_stale_captures() {
    // Found by the agreement test: a Param-kind path with no valid placeholder matched after an
    // earlier Param route had matched with the wrong method and left its captures behind.
    let any_user = ApiPath { kind: PathKind::Param, path: "/{user}".into(), params: vec!["user".into()] };
    let literal = ApiPath { kind: PathKind::Param, path: "/ab/a".into(), params: Vec::new() };
    let routes = [
        RouteSpec { api: ApiIndex::new(0), path: &any_user, method: ApiMethod::Get },
        RouteSpec { api: ApiIndex::new(1), path: &literal, method: ApiMethod::Post },
    ];
    let table = RouteTable::build(&routes).unwrap();
    let mut params = PathParams::default();
    assert_eq!(table.lookup(b"POST", b"/ab/a", &mut params), found(1));
    assert!(params.is_empty());
    assert_eq!(table.lookup(b"POST", b"/ab/ab", &mut params), MethodNotAllowed);
    // exact text only
}
