//! The router: Tencent API Gateway's path rules compiled once, at start, into a byte trie
//! ([`RouteTable::build`]), and the per-request [`RouteTable::lookup`] that picks one API from a
//! method and a path. It does not strip the stage prefix or the query, choose the service by Host,
//! or build 404/405 responses: its callers do.
//!
//! # Matching rules
//!
//! Tencent's priorities (spec §1.1, from `前端配置.md` and the API Gateway FAQ), highest first.
//! Paths are compared as bytes, case-sensitive; a tier is only consulted when no earlier tier
//! produced a winner.
//!
//! 1. **Exact** (`=/user`): the request path equals the route path.
//! 2. **PriorityPrefix** (`^~/user`): the route path is a byte prefix of the request path; the
//!    longest such route wins.
//! 3. **Param** (`/user/{id}`): literal text and `{name}` placeholders. Each placeholder is a
//!    greedy `.+` (one byte or more, `/` included) and the path is anchored at both ends, exactly
//!    as if each `{x}` were compiled to `(.+)` inside `^…$` for a backtracking regex engine (spec
//!    §1.2 gives Tencent's own examples). Param routes are tried in definition order; the first
//!    match wins (Tencent does not document this tie-break; it is nginx's rule for regex
//!    locations).
//! 4. **Prefix** (plain `/user`): the route path is a *character* prefix of the request path, so
//!    `/user` matches `/user`, `/usertest` and `/user/test/a`; the longest wins.
//!
//! A placeholder is `{`, one or more bytes other than `{` and `}`, then `}`; any other brace is
//! literal text.
//!
//! **Methods.** A candidate only wins when its [`ApiMethod::accepts`] the request's method token
//! (`ANY` accepts all; `HEAD` is not `GET`); otherwise the search goes on with the next candidate:
//! the next-longest prefix, the next Param route, the next tier. When some route matched the
//! path but none accepted the method the answer is [`Lookup::MethodNotAllowed`], and when no
//! route matched the path at all it is [`Lookup::NotFound`].
//!
//! **Conflicts.** An API is identified by its path and method (spec §1.1, TC-306/13034), so two
//! routes of the same kind, with the same path (for Param: the same text around the same
//! placeholder positions, names ignored) and overlapping methods (equal, or either is `ANY`) are
//! refused by [`RouteTable::build`] with [`RouteError::Conflict`], which names both APIs.
//!
//! # Examples
//!
//! ```
//! use scfgate::route::{ApiIndex, ApiMethod, ApiPath, Lookup, PathKind, PathParams, RouteSpec, RouteTable};
//! # fn api_path(kind: PathKind, path: &str) -> ApiPath {
//! #     ApiPath { kind, path: path.to_string(), params: Vec::new() }
//! # }
//! let api = ApiIndex::new; // an API's position in the configuration
//! let exact = api_path(PathKind::Exact, "/user");
//! let priority = api_path(PathKind::PriorityPrefix, "/user/admin");
//! let param = api_path(PathKind::Param, "/user/{id}");
//! let prefix = api_path(PathKind::Prefix, "/user");
//! let table = RouteTable::build(&[
//!     RouteSpec { api: api(0), path: &exact, method: ApiMethod::Get },
//!     RouteSpec { api: api(1), path: &priority, method: ApiMethod::Any },
//!     RouteSpec { api: api(2), path: &param, method: ApiMethod::Get },
//!     RouteSpec { api: api(3), path: &prefix, method: ApiMethod::Any },
//! ])
//! .unwrap();
//! let mut params = PathParams::default();
//! // Exact beats everything.
//! assert_eq!(table.lookup(b"GET", b"/user", &mut params), Lookup::Found(api(0)));
//! // PriorityPrefix beats Param.
//! assert_eq!(table.lookup(b"GET", b"/user/admin7", &mut params), Lookup::Found(api(1)));
//! // Param beats Prefix, and captures are byte ranges into the path.
//! assert_eq!(table.lookup(b"GET", b"/user/42", &mut params), Lookup::Found(api(2)));
//! assert_eq!(params.get(0), Some(6..8));
//! // The Param route only takes GET, so a POST falls through to the Prefix route.
//! assert_eq!(table.lookup(b"POST", b"/user/42", &mut params), Lookup::Found(api(3)));
//! // Prefix is a character prefix, not a segment prefix.
//! assert_eq!(table.lookup(b"GET", b"/usertest", &mut params), Lookup::Found(api(3)));
//! assert_eq!(table.lookup(b"GET", b"/other", &mut params), Lookup::NotFound);
//! ```
//!
//! Placeholders are greedy and may span `/` (the three cases of Tencent's FAQ, spec §1.2):
//!
//! ```
//! use scfgate::route::{ApiIndex, ApiMethod, ApiPath, Lookup, PathKind, PathParams, RouteSpec, RouteTable};
//! # fn api_path(path: &str) -> ApiPath {
//! #     ApiPath { kind: PathKind::Param, path: path.to_string(), params: Vec::new() }
//! # }
//! fn captures(pattern: &str, request: &str) -> Vec<String> {
//!     let path = api_path(pattern);
//!     let route = RouteSpec { api: ApiIndex::new(0), path: &path, method: ApiMethod::Any };
//!     let table = RouteTable::build(&[route]).unwrap();
//!     let mut params = PathParams::default();
//!     assert_eq!(table.lookup(b"GET", request.as_bytes(), &mut params), Lookup::Found(ApiIndex::new(0)));
//!     params.iter().map(|range| request[range].to_string()).collect()
//! }
//! assert_eq!(
//!     captures("/{PathA}/{PathB}/detail", "/middleware/apigw/detail"),
//!     ["middleware", "apigw"],
//! );
//! assert_eq!(
//!     captures("/{PathA}/product/{PathB}", "/middleware/product/apigw/detail"),
//!     ["middleware", "apigw/detail"],
//! );
//! assert_eq!(
//!     captures("/{PathA}/{PathB}", "/middleware/apigw/detail"),
//!     ["middleware/apigw", "detail"],
//! );
//! ```
//!
//! Conflicts name the other route:
//!
//! ```
//! use scfgate::route::{ApiIndex, ApiMethod, ApiPath, PathKind, RouteError, RouteSpec, RouteTable};
//! # fn api_path(path: &str) -> ApiPath {
//! #     ApiPath { kind: PathKind::Param, path: path.to_string(), params: Vec::new() }
//! # }
//! let api = ApiIndex::new; // an API's position in the configuration
//! let first = api_path("/user/{id}");
//! let second = api_path("/user/{name}");
//! let result = RouteTable::build(&[
//!     RouteSpec { api: api(0), path: &first, method: ApiMethod::Get },
//!     RouteSpec { api: api(1), path: &second, method: ApiMethod::Any },
//! ]);
//! assert_eq!(result.err(), Some(RouteError::Conflict { api: api(1), with: api(0) }));
//! ```

mod addressing;
mod pattern;
#[doc(hidden)]
pub mod reference;
#[cfg(test)]
mod tests;
mod trie;

use std::collections::HashMap;
use std::ops::Range;

pub use crate::config::{ApiIndex, ApiMethod, ApiPath, PathKind};
pub(crate) use addressing::strip_port;
pub use addressing::{Resolved, Router, RouterError, Target};

/// Most `{param}` placeholders one Param route may have; [`PathParams`] holds this many captures
/// without allocating.
pub const MAX_PATH_PARAMS: usize = 16;

/// Captured `{param}` values: byte ranges into the path passed to [`RouteTable::lookup`], in the
/// order of the matched API's [`ApiPath::params`]. Ranges rather than slices so that they survive
/// the request buffer moving (STYLE convention 4); a fixed array so that a lookup never allocates.
#[derive(Debug, Clone, Default)]
pub struct PathParams {
    spans: [(u32, u32); MAX_PATH_PARAMS],
    len: usize,
}

impl PathParams {
    /// Forgets every capture.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Number of captures.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no captures (no match yet, or a route without placeholders).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The range of the `index`-th capture in the looked-up path.
    pub fn get(&self, index: usize) -> Option<Range<usize>> {
        self.spans[..self.len].get(index).map(|&(start, end)| start as usize..end as usize)
    }

    /// The captures' ranges, in placeholder order.
    pub fn iter(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.spans[..self.len].iter().map(|&(start, end)| start as usize..end as usize)
    }

    /// Records capture `index`; `len` is set separately, once the whole route has matched.
    fn set(&mut self, index: usize, range: Range<usize>) {
        // INVARIANT: lookup refuses paths longer than u32::MAX, so both ends fit.
        self.spans[index] = (range.start as u32, range.end as u32);
    }
}

/// The outcome of [`RouteTable::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// This API serves the request.
    Found(ApiIndex),
    /// Some route matched the path, but none of them accepts the request's method (405).
    MethodNotAllowed,
    /// No route matched the path (404).
    NotFound,
}

/// One route as given to [`RouteTable::build`].
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec<'a> {
    /// The API this route selects.
    pub api: ApiIndex,
    /// The API's path and match kind.
    pub path: &'a ApiPath,
    /// The API's declared method.
    pub method: ApiMethod,
}

/// Why a set of routes cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Same kind, same path and overlapping methods (ANY overlaps every method).
    #[error("api {api} conflicts with api {with}: same path and method")]
    Conflict {
        /// The later route, in definition order.
        api: ApiIndex,
        /// The earlier route it collides with.
        with: ApiIndex,
    },
    /// A Param path with more placeholders than [`PathParams`] can hold.
    #[error("api {api} has more than {MAX_PATH_PARAMS} path parameters")]
    TooManyParams {
        /// The offending API.
        api: ApiIndex,
    },
}

/// The compiled routes of one service: immutable after [`RouteTable::build`], plain data (`Send +
/// Sync`), so each worker may hold it behind an `Rc` or all may share one `Arc`.
#[derive(Debug, Clone)]
pub struct RouteTable {
    trie: trie::Trie,
    route_count: usize,
}

impl RouteTable {
    /// Compiles `routes`, which arrive in definition (file) order; that order breaks ties among
    /// Param routes. Routes are checked one by one in that order; the first problem is returned.
    pub fn build(routes: &[RouteSpec<'_>]) -> Result<RouteTable, RouteError> {
        check_routes(routes)?;
        Ok(RouteTable { trie: trie::Trie::build(routes), route_count: routes.len() })
    }

    /// Picks the API for a request, following the rules in the [module docs](self).
    ///
    /// `method` is the request method token as sent (e.g. `b"GET"`); `path` is the request path
    /// with the stage prefix and the query already removed (it starts with `/`). On
    /// [`Lookup::Found`] `params` holds the route's captures; otherwise it is left empty. Does not
    /// allocate. Paths longer than `u32::MAX` bytes (far past any request head limit) are never
    /// matched.
    pub fn lookup(&self, method: &[u8], path: &[u8], params: &mut PathParams) -> Lookup {
        params.clear();
        if u32::try_from(path.len()).is_err() {
            return Lookup::NotFound;
        }
        self.trie.lookup(method, path, params)
    }

    /// Number of routes compiled in.
    pub fn len(&self) -> usize {
        self.route_count
    }

    /// Whether the table has no routes (every lookup is [`Lookup::NotFound`]).
    pub fn is_empty(&self) -> bool {
        self.route_count == 0
    }
}

/// What makes two routes "the same path": their kind and, for Param routes, the literal text
/// around the placeholders (names ignored); for the other kinds the whole path.
type RouteShape<'a> = (PathKind, Vec<&'a [u8]>);

/// Refuses placeholder counts past [`MAX_PATH_PARAMS`] and routes that collide with an earlier one.
fn check_routes(routes: &[RouteSpec<'_>]) -> Result<(), RouteError> {
    let mut seen: HashMap<RouteShape<'_>, Vec<(ApiIndex, ApiMethod)>> = HashMap::new();
    for route in routes {
        let path = route.path.path.as_bytes();
        let literals = match route.path.kind {
            PathKind::Param => pattern::split_literals(path),
            PathKind::Exact | PathKind::PriorityPrefix | PathKind::Prefix => vec![path],
        };
        if literals.len() - 1 > MAX_PATH_PARAMS {
            return Err(RouteError::TooManyParams { api: route.api });
        }
        let same_shape = seen.entry((route.path.kind, literals)).or_default();
        if let Some(&(earlier, _)) = same_shape.iter().find(|&&(_, method)| methods_overlap(method, route.method)) {
            return Err(RouteError::Conflict { api: route.api, with: earlier });
        }
        same_shape.push((route.api, route.method));
    }
    Ok(())
}

/// Whether some request method would be accepted by both declarations.
fn methods_overlap(first: ApiMethod, second: ApiMethod) -> bool {
    first == second || first == ApiMethod::Any || second == ApiMethod::Any
}
