//! A slow, plainly written router for the same rules, kept only to check the trie against: a
//! linear scan per tier and a recursive backtracking matcher for placeholders. Tests (and the
//! route fuzz target) assert that [`super::RouteTable`] agrees with it on every input.
//!
//! It shares no code with the trie or the compiled patterns on purpose; it reads the rules in the
//! [module docs](super) and nothing else.

use std::ops::Range;

use super::{ApiMethod, Lookup, PathKind, RouteError, RouteSpec, MAX_PATH_PARAMS};

/// One element of a Param path as the reference sees it: a literal byte or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Byte(u8),
    Placeholder,
}

/// Reads a Param path: `{`, one or more bytes other than `{` and `}`, then `}` is a placeholder;
/// every other byte is itself.
fn tokens(path: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = path;
    while let Some(&byte) = rest.first() {
        let closing = rest.iter().skip(1).position(|&b| b == b'{' || b == b'}').map(|offset| offset + 1);
        match closing {
            Some(close) if byte == b'{' && rest[close] == b'}' && close > 1 => {
                tokens.push(Token::Placeholder);
                rest = &rest[close + 1..];
            }
            _ => {
                tokens.push(Token::Byte(byte));
                rest = &rest[1..];
            }
        }
    }
    tokens
}

/// Matches `tokens` against all of `path`, each placeholder trying its longest capture first, and
/// appends the captures (offset by `offset`) on success.
fn match_tokens(tokens: &[Token], path: &[u8], offset: usize, captures: &mut Vec<Range<usize>>) -> bool {
    match tokens.first() {
        None => path.is_empty(),
        Some(Token::Byte(byte)) => {
            path.first() == Some(byte) && match_tokens(&tokens[1..], &path[1..], offset + 1, captures)
        }
        Some(Token::Placeholder) => {
            for take in (1..=path.len()).rev() {
                captures.push(offset..offset + take);
                if match_tokens(&tokens[1..], &path[take..], offset + take, captures) {
                    return true;
                }
                captures.pop();
            }
            false
        }
    }
}

/// Routes of `kind` whose path is a prefix of `path`, longest first.
fn matching_prefixes<'r>(routes: &'r [RouteSpec<'r>], kind: PathKind, path: &[u8]) -> Vec<&'r RouteSpec<'r>> {
    let mut matching: Vec<_> =
        routes.iter().filter(|route| route.path.kind == kind && path.starts_with(route.path.path.as_bytes())).collect();
    matching.sort_by_key(|route| std::cmp::Reverse(route.path.path.len()));
    matching
}

/// What [`super::RouteTable::lookup`] must answer for these routes, with the captures as a list.
#[doc(hidden)]
pub fn reference_lookup(routes: &[RouteSpec<'_>], method: &[u8], path: &[u8]) -> (Lookup, Vec<Range<usize>>) {
    let mut path_matched = false;

    let exact = routes.iter().filter(|route| route.path.kind == PathKind::Exact && route.path.path.as_bytes() == path);
    let priority_prefix = matching_prefixes(routes, PathKind::PriorityPrefix, path);
    for route in exact.chain(priority_prefix) {
        path_matched = true;
        if route.method.accepts(method) {
            return (Lookup::Found(route.api), Vec::new());
        }
    }

    for route in routes.iter().filter(|route| route.path.kind == PathKind::Param) {
        let mut captures = Vec::new();
        if match_tokens(&tokens(route.path.path.as_bytes()), path, 0, &mut captures) {
            path_matched = true;
            if route.method.accepts(method) {
                return (Lookup::Found(route.api), captures);
            }
        }
    }

    for route in matching_prefixes(routes, PathKind::Prefix, path) {
        path_matched = true;
        if route.method.accepts(method) {
            return (Lookup::Found(route.api), Vec::new());
        }
    }

    (if path_matched { Lookup::MethodNotAllowed } else { Lookup::NotFound }, Vec::new())
}

/// What [`super::RouteTable::build`] must answer for these routes: routes are checked in order,
/// each against the placeholder limit and then against every earlier route.
#[doc(hidden)]
pub fn reference_check(routes: &[RouteSpec<'_>]) -> Result<(), RouteError> {
    let shape = |route: &RouteSpec<'_>| match route.path.kind {
        PathKind::Param => tokens(route.path.path.as_bytes()),
        _ => route.path.path.bytes().map(Token::Byte).collect(),
    };
    for (position, later) in routes.iter().enumerate() {
        let later_shape = shape(later);
        if later_shape.iter().filter(|&&token| token == Token::Placeholder).count() > MAX_PATH_PARAMS {
            return Err(RouteError::TooManyParams { api: later.api });
        }
        for earlier in &routes[..position] {
            let overlap =
                earlier.method == later.method || earlier.method == ApiMethod::Any || later.method == ApiMethod::Any;
            if earlier.path.kind == later.path.kind && shape(earlier) == later_shape && overlap {
                return Err(RouteError::Conflict { api: later.api, with: earlier.api });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ApiIndex, ApiPath, PathParams, RouteTable};
    use super::*;

    /// xorshift64: deterministic, dependency-free, good enough to spread test cases.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
            choices[self.below(choices.len())]
        }
    }

    const KINDS: [PathKind; 4] = [PathKind::Exact, PathKind::PriorityPrefix, PathKind::Param, PathKind::Prefix];
    const METHODS: [ApiMethod; 4] = [ApiMethod::Get, ApiMethod::Post, ApiMethod::Head, ApiMethod::Any];
    const REQUEST_METHODS: [&[u8]; 4] = [b"GET", b"POST", b"HEAD", b"PUT"];

    /// A route path over a small alphabet, so that routes share prefixes and collide often; stray
    /// braces exercise the placeholder grammar.
    fn random_route_path(random: &mut Random) -> String {
        let mut path = String::from("/");
        for _ in 0..random.below(6) {
            path.push_str(random.pick(&["a", "b", "/", "{p}", "{q}", "ab", "{", "}"]));
        }
        path
    }

    /// A request path: either random text, or a route's path with placeholders filled in, so that
    /// Param routes match often.
    fn random_request_path(random: &mut Random, route_paths: &[ApiPath]) -> String {
        if random.below(2) == 0 {
            let route = &route_paths[random.below(route_paths.len())].path;
            let mut path = String::new();
            for token in tokens(route.as_bytes()) {
                match token {
                    Token::Byte(byte) => path.push(byte as char),
                    Token::Placeholder => {
                        for _ in 0..random.below(4) {
                            path.push_str(random.pick(&["a", "b", "/"]));
                        }
                    }
                }
            }
            for _ in 0..random.below(2) {
                path.push_str(random.pick(&["a", "/"]));
            }
            path
        } else {
            let mut path = String::from("/");
            for _ in 0..random.below(9) {
                path.push_str(random.pick(&["a", "b", "/", "{", "}"]));
            }
            path
        }
    }

    #[test]
    fn trie_agrees_with_reference() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut outcomes = [0usize; 3];
        for _ in 0..400 {
            let paths: Vec<ApiPath> = (0..1 + random.below(12))
                .map(|_| ApiPath {
                    kind: random.pick(&KINDS),
                    path: random_route_path(&mut random),
                    params: Vec::new(),
                })
                .collect();
            let mut routes: Vec<RouteSpec<'_>> = paths
                .iter()
                .enumerate()
                .map(|(api, path)| RouteSpec { api: ApiIndex::new(api), path, method: random.pick(&METHODS) })
                .collect();
            // Drop each route the reference refuses, checking the trie refuses it the same way.
            let table = loop {
                let expected = reference_check(&routes);
                match (RouteTable::build(&routes), expected) {
                    (Ok(table), Ok(())) => break table,
                    (Err(error), Err(expected)) => {
                        assert_eq!(error, expected, "routes {routes:?}");
                        let (RouteError::Conflict { api, .. } | RouteError::TooManyParams { api }) = error;
                        routes.retain(|route| route.api != api);
                    }
                    (built, expected) => panic!("build {:?} but reference {expected:?} for {routes:?}", built.err()),
                }
            };
            table.trie.check_invariants();
            assert_eq!(table.len(), routes.len());
            let mut params = PathParams::default();
            for _ in 0..200 {
                let path = random_request_path(&mut random, &paths);
                let method = random.pick(&REQUEST_METHODS);
                let found = table.lookup(method, path.as_bytes(), &mut params);
                let expected = reference_lookup(&routes, method, path.as_bytes());
                assert_eq!((found, params.iter().collect::<Vec<_>>()), expected, "{path:?} {routes:?}");
                outcomes[match found {
                    Lookup::Found(_) => 0,
                    Lookup::MethodNotAllowed => 1,
                    Lookup::NotFound => 2,
                }] += 1;
            }
        }
        // The generators must actually reach every outcome, or the agreement says little.
        assert!(outcomes.iter().all(|&count| count > 1000), "outcomes (found, 405, 404): {outcomes:?}");
    }

    #[test]
    fn recurring_separators_agree_with_reference() {
        // Separators that recur, where greedy choices matter most. Six placeholders at most: the
        // reference backtracks, and more would make it crawl on the paths that fail late.
        let mut random = Random(42);
        for _ in 0..300 {
            let mut pattern = String::from("/");
            for _ in 0..1 + random.below(6) {
                pattern.push_str(random.pick(&["{p}", "{p}a", "{p}/", "{p}ab", "{p}/a/"]));
            }
            let path = ApiPath { kind: PathKind::Param, path: pattern, params: Vec::new() };
            let routes = [RouteSpec { api: ApiIndex::new(0), path: &path, method: ApiMethod::Any }];
            let table = RouteTable::build(&routes).unwrap();
            let mut params = PathParams::default();
            for _ in 0..20 {
                let request: String =
                    std::iter::once("/").chain((0..random.below(28)).map(|_| random.pick(&["a", "b", "/"]))).collect();
                let found = table.lookup(b"GET", request.as_bytes(), &mut params);
                let expected = reference_lookup(&routes, b"GET", request.as_bytes());
                assert_eq!((found, params.iter().collect::<Vec<_>>()), expected, "{:?} on {request:?}", path.path);
            }
        }
    }
}
