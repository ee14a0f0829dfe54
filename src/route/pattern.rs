//! Param paths (`/user/{id}`): the placeholder grammar, and the anchored matcher that yields the
//! captures a backtracking regex engine would give for `^L0(.+)L1(.+)…Ln$`, without backtracking.
//!
//! Why no backtracking is needed: a backtracking engine returns the first success in the order
//! "longest first capture, then longest second capture, …". Between two greedy `.+` any literal
//! can sit anywhere, so a placement of the literals is feasible exactly when each literal ends at
//! least one byte before the next one starts. Scanning right to left and putting each literal at
//! its rightmost occurrence that still leaves one byte for the capture after it gives every literal
//! its latest feasible position at once; those positions make the first capture longest, then the
//! second, and so on, which is the backtracking engine's answer. If a literal has no occurrence
//! left, no earlier choice could have helped (later positions only leave more room), so the route
//! does not match.
//!
//! Bound: one reverse substring search per inner literal over at most the whole path, each linear
//! (`memchr::memmem` is worst-case linear), so matching is O(placeholders × path length) per route:
//! at most 16 × a few KB, with no exponential case for hostile paths.

use std::ops::Range;

use memchr::memmem::FinderRev;

use super::PathParams;

/// Length of the placeholder at the start of `bytes`, braces included: `{`, one or more bytes
/// other than `{` and `}`, then `}`. Any other brace is literal text.
fn placeholder_len(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let name_len = bytes[1..].iter().position(|&byte| byte == b'{' || byte == b'}')?;
    (name_len > 0 && bytes[1 + name_len] == b'}').then_some(name_len + 2)
}

/// The literal text around a Param path's placeholders: `n` placeholders give `n + 1` literals,
/// possibly empty (`/{a}{b}` gives `/`, ``, ``). Two Param routes have the same shape exactly when
/// their literal lists are equal.
pub(super) fn split_literals(path: &[u8]) -> Vec<&[u8]> {
    let mut literals = Vec::new();
    let mut literal_start = 0;
    let mut position = 0;
    while position < path.len() {
        match placeholder_len(&path[position..]) {
            Some(len) => {
                literals.push(&path[literal_start..position]);
                position += len;
                literal_start = position;
            }
            None => position += 1,
        }
    }
    literals.push(&path[literal_start..]);
    literals
}

/// A literal between two placeholders, ready for right-to-left search.
#[derive(Debug, Clone)]
struct Separator {
    len: usize,
    /// `None` for the empty literal between adjacent placeholders (`{a}{b}`).
    finder: Option<FinderRev<'static>>,
}

/// A compiled Param path: `prefix {…} separator {…} … {…} suffix`.
#[derive(Debug, Clone)]
pub(super) struct ParamPattern {
    /// The text before the first placeholder; the trie files the route under it.
    prefix: Box<[u8]>,
    /// The text after the last placeholder.
    suffix: Box<[u8]>,
    /// The literals between consecutive placeholders (`placeholder_count - 1` of them).
    separators: Box<[Separator]>,
    /// Zero for a Param path with no valid placeholder: then it matches its text only.
    placeholder_count: usize,
}

impl ParamPattern {
    /// Compiles a Param route's path. The caller has checked the placeholder count against
    /// [`super::MAX_PATH_PARAMS`].
    pub(super) fn compile(path: &[u8]) -> ParamPattern {
        let literals = split_literals(path);
        let placeholder_count = literals.len() - 1;
        debug_assert!(placeholder_count <= super::MAX_PATH_PARAMS);
        let inner = if placeholder_count == 0 { &[][..] } else { &literals[1..placeholder_count] };
        let separators = inner
            .iter()
            .map(|literal| Separator {
                len: literal.len(),
                finder: (!literal.is_empty()).then(|| FinderRev::new(literal).into_owned()),
            })
            .collect();
        ParamPattern {
            prefix: literals[0].into(),
            suffix: if placeholder_count == 0 { Box::default() } else { literals[placeholder_count].into() },
            separators,
            placeholder_count,
        }
    }

    /// The text before the first placeholder: every path this pattern matches starts with it.
    pub(super) fn literal_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Whether `path` matches the whole pattern; on a match `params` holds the captures.
    pub(super) fn match_into(&self, path: &[u8], params: &mut PathParams) -> bool {
        if self.placeholder_count == 0 {
            // An earlier candidate may have left captures behind.
            params.len = 0;
            return path == &*self.prefix;
        }
        if !starts_with(path, &self.prefix) || !ends_with(path, &self.suffix) {
            return false;
        }
        let first_start = self.prefix.len();
        // The prefix and the suffix may overlap in a short path; then `first_start >= capture_end`.
        let mut capture_end = path.len() - self.suffix.len();
        if capture_end <= first_start {
            return false;
        }
        for (index, separator) in self.separators.iter().enumerate().rev() {
            // The separator must leave one byte for the capture before it and one after it.
            let search = first_start + 1..capture_end - 1;
            if search.end < search.start + separator.len {
                return false;
            }
            let Some(separator_start) = rightmost(separator, path, search) else {
                return false;
            };
            params.set(index + 1, separator_start + separator.len..capture_end);
            capture_end = separator_start;
        }
        params.set(0, first_start..capture_end);
        params.len = self.placeholder_count;
        true
    }
}

/// `haystack.starts_with(prefix)` without the call into libc's `memcmp` that slice comparison
/// compiles to: labels and literals are a few bytes, where the call costs more than the compare
/// (measured on an 800-route table: a Param lookup went from 118 ns to 53 ns).
pub(super) fn starts_with(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack.iter().zip(prefix).all(|(a, b)| a == b)
}

/// `haystack.ends_with(suffix)`, inlined for the same reason as [`starts_with`].
fn ends_with(haystack: &[u8], suffix: &[u8]) -> bool {
    haystack.len() >= suffix.len() && haystack[haystack.len() - suffix.len()..].iter().zip(suffix).all(|(a, b)| a == b)
}

/// Start of the last occurrence of `separator` lying wholly inside `path[search]`.
fn rightmost(separator: &Separator, path: &[u8], search: Range<usize>) -> Option<usize> {
    match &separator.finder {
        None => Some(search.end),
        Some(finder) => finder.rfind(&path[search.clone()]).map(|offset| search.start + offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(pattern, path, captures or None when it must not match)`.
    fn check(pattern: &str, path: &str, expected: Option<&[&str]>) {
        let compiled = ParamPattern::compile(pattern.as_bytes());
        let mut params = PathParams::default();
        let matched = compiled.match_into(path.as_bytes(), &mut params);
        let captures: Option<Vec<&str>> = matched.then(|| params.iter().map(|range| &path[range]).collect());
        assert_eq!(captures.as_deref(), expected, "pattern {pattern:?} on {path:?}");
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn placeholder_grammar() {
        let split = |path: &'static str| -> Vec<&'static [u8]> { split_literals(path.as_bytes()) };
        assert_eq!(split("/user/{id}"), [&b"/user/"[..], b""]); // one placeholder, two literals
        assert_eq!(split("/{a}{b}"), [&b"/"[..], b"", b""]); // adjacent placeholders
        assert_eq!(split("/{}/{x"), [&b"/{}/{x"[..]]); // empty name and unclosed brace are text
        assert_eq!(split("/{{a}}"), [&b"/{"[..], b"}"]); // innermost well-formed pair only
        assert_eq!(split("/plain"), [&b"/plain"[..]]);
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn greedy_captures_like_a_backtracking_regex() {
        // spec §1.2, Tencent FAQ examples
        check("/{PathA}/{PathB}/detail", "/middleware/apigw/detail", Some(&["middleware", "apigw"]));
        check("/{PathA}/product/{PathB}", "/middleware/product/apigw/detail", Some(&["middleware", "apigw/detail"]));
        check("/{PathA}/{PathB}", "/middleware/apigw/detail", Some(&["middleware/apigw", "detail"]));
        check("/{a}/{b}", "/x/y/z", Some(&["x/y", "z"])); // the first capture is the greedy one
        check("/user/{id}", "/user/", None); // a capture is never empty
        check("/user/{id}", "/user/7", Some(&["7"]));
        check("/user/{id}", "/users/7", None); // anchored at the start
        check("/{id}/x", "/7/x/y", None); // anchored at the end
        check("/{a}{b}", "/xyz", Some(&["xy", "z"])); // adjacent: the last one keeps one byte
        check("/{a}{b}", "/x", None);
        check("/{a}aa{b}", "/aaaaa", Some(&["aa", "a"])); // overlapping separator occurrences
        check("/a{x}a", "/aa", None); // prefix and suffix overlap in a short path
        check("/a{x}a", "/aba", Some(&["b"]));
        check("/plain", "/plain", Some(&[])); // no placeholder: the text only
        check("/plain", "/plainer", None);
    }

    #[test]
    fn hostile_paths_stay_linear() {
        // `^/(.+)a(.+)a…(.+)$` with 16 captures on a path of `a`s one byte too short: a
        // backtracking engine tries millions of splits; the right-to-left scan gives up after
        // fifteen searches.
        let pattern = format!("/{{p}}{}", "a{p}".repeat(15));
        check(&pattern, &format!("/{}", "a".repeat(30)), None);
        let captures = ["a"; 16];
        check(&pattern, &format!("/{}", "a".repeat(31)), Some(&captures));
    }
}
