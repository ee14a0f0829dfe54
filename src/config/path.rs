//! The API path syntax: Tencent's `=` (exact) and `^~` (priority prefix) markers, `{param}`
//! placeholders and plain prefixes, parsed into an [`ApiPath`]. It owns what a path may contain; the
//! order in which kinds are tried at request time belongs to `crate::route`.
//!
//! Tencent also accepts full regular expressions in paths (spec §1.1); scfgate supports only the
//! `{param}` form and says so, rather than silently treating `*` or `(` as literal characters.

use super::{ApiPath, PathKind};

/// Longest accepted path, in bytes, after the marker.
const MAX_PATH_BYTES: usize = 1024;

/// Most `{param}` placeholders in one path, which keeps a match's capture list small and bounded.
const MAX_PARAMS: usize = 16;

/// Characters that mean "regular expression" in Tencent's path syntax. `?` is refused earlier
/// with its own message, since it is more often a query string typed by mistake.
const REGEX_CHARS: &[char] = &['*', '+', '(', ')', '[', ']', '|', '^', '$', '\\'];

const REGEX_UNSUPPORTED: &str = "regular expressions other than {param} are not supported";

/// Parses an API path as written in the config (`=/user`, `^~/user`, `/user/{id}`, `/user`).
///
/// The error is the message alone; the caller adds the file, the API and the field.
pub fn parse_api_path(raw: &str) -> Result<ApiPath, String> {
    let (kind_from_marker, path) = if let Some(rest) = raw.strip_prefix("^~") {
        (Some(PathKind::PriorityPrefix), rest)
    } else if let Some(rest) = raw.strip_prefix('=') {
        (Some(PathKind::Exact), rest)
    } else if raw.starts_with('~') {
        // nginx's `~` / `~*` regex locations: say what is wrong instead of "must start with /".
        return Err(format!("`~` marks a regular expression: {REGEX_UNSUPPORTED}"));
    } else {
        (None, raw)
    };

    if !path.starts_with('/') {
        return Err(match kind_from_marker {
            Some(_) => format!("the path after the marker must start with `/`, got `{path}`"),
            None => format!("the path must start with `/` (or `=/`, `^~/`), got `{raw}`"),
        });
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(format!("the path is {} bytes long; at most {MAX_PATH_BYTES} are allowed", path.len()));
    }
    // Offsets in messages count from the start of the value as written, marker included.
    let marker_len = raw.len() - path.len();
    for (offset, character) in path.char_indices() {
        let offset = marker_len + offset;
        if character.is_whitespace() || character.is_control() {
            return Err(format!("whitespace or control character {character:?} at byte {offset} is not allowed"));
        }
        if character == '?' || character == '#' {
            return Err(format!(
                "`{character}` at byte {offset} is not allowed: an API path has no query string or \
                 fragment, and {REGEX_UNSUPPORTED}"
            ));
        }
        if REGEX_CHARS.contains(&character) {
            return Err(format!("`{character}` at byte {offset}: {REGEX_UNSUPPORTED}"));
        }
    }

    if let Some(kind) = kind_from_marker {
        if path.contains(['{', '}']) {
            return Err(match kind {
                PathKind::Exact => "`=` exact paths may not contain `{param}` placeholders".to_owned(),
                // Tencent: "以 ^~ 开始 … 后面不能跟正则表达式" (spec §1.1); params count as regex.
                _ => "`^~` priority-prefix paths may not contain `{param}` placeholders (Tencent: \
                      `^~` may not be followed by a regular expression)"
                    .to_owned(),
            });
        }
        return Ok(ApiPath { kind, path: path.to_owned(), params: Vec::new() });
    }

    let params = parse_params(path)?;
    let kind = if params.is_empty() { PathKind::Prefix } else { PathKind::Param };
    Ok(ApiPath { kind, path: path.to_owned(), params })
}

/// Collects the `{name}` placeholders of a path in order, checking names, balance and separation.
fn parse_params(path: &str) -> Result<Vec<String>, String> {
    let mut params: Vec<String> = Vec::new();
    // Byte offset just past the previous placeholder's `}`: a new `{` there means two adjacent
    // greedy captures, whose split point no request could decide.
    let mut previous_end: Option<usize> = None;
    let mut rest = path;
    let mut offset = 0;
    while let Some(open) = rest.find(['{', '}']) {
        let at = offset + open;
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("unbalanced `}}` at byte {at}"));
        }
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find('}') else {
            return Err(format!("unbalanced `{{` at byte {at}: no closing `}}`"));
        };
        let name = &after_open[..close];
        if name.is_empty() {
            return Err(format!("empty placeholder `{{}}` at byte {at}"));
        }
        if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            return Err(format!(
                "placeholder `{{{name}}}` at byte {at}: character {bad:?} is not allowed in a param \
                 name (letters, digits, `_` and `-` only)"
            ));
        }
        if previous_end == Some(at) {
            return Err(format!(
                "placeholder `{{{name}}}` at byte {at} follows the previous one directly; literal \
                 text must separate two placeholders"
            ));
        }
        if params.iter().any(|seen| seen == name) {
            return Err(format!("param `{name}` appears twice"));
        }
        params.push(name.to_owned());
        if params.len() > MAX_PARAMS {
            return Err(format!("more than {MAX_PARAMS} `{{param}}` placeholders"));
        }
        let end = at + 1 + close + 1;
        previous_end = Some(end);
        rest = &path[end..];
        offset = end;
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shorthand for an expected `ApiPath`.
    fn expect(kind: PathKind, path: &str, params: &[&str]) -> ApiPath {
        ApiPath { kind, path: path.to_owned(), params: params.iter().map(|p| (*p).to_owned()).collect() }
    }

    #[test]
    fn valid_paths() {
        use PathKind::*;
        #[rustfmt::skip]
        let cases: &[(&str, ApiPath)] = &[
            // spec §1.1: the four forms and their markers.
            ("=/user", expect(Exact, "/user", &[])),
            ("^~/user", expect(PriorityPrefix, "/user", &[])),
            ("/user/{id}", expect(Param, "/user/{id}", &["id"])),
            ("/user", expect(Prefix, "/user", &[])),
            ("/", expect(Prefix, "/", &[])),
            ("=/", expect(Exact, "/", &[])),
            ("^~/", expect(PriorityPrefix, "/", &[])),
            // spec §1.2 FAQ examples.
            ("/{PathA}/{PathB}/detail", expect(Param, "/{PathA}/{PathB}/detail", &["PathA", "PathB"])),
            ("/{PathA}/product/{PathB}", expect(Param, "/{PathA}/product/{PathB}", &["PathA", "PathB"])),
            ("/{PathA}/{PathB}", expect(Param, "/{PathA}/{PathB}", &["PathA", "PathB"])),
            // Placeholders inside a segment, separated by any literal text.
            ("/file/{name}.{ext}", expect(Param, "/file/{name}.{ext}", &["name", "ext"])),
            ("/a/{x_1}-{Y-2}", expect(Param, "/a/{x_1}-{Y-2}", &["x_1", "Y-2"])),
            // Tolerated characters: percent-escapes, `=`, `~`, `.` and `-` after the first byte.
            ("/a%20b/c=d/~e/f.g-h", expect(Prefix, "/a%20b/c=d/~e/f.g-h", &[])),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_api_path(raw).as_ref(), Ok(expected), "{raw}");
        }
        let sixteen: String = (0..16).map(|i| format!("/{{p{i}}}")).collect();
        assert_eq!(parse_api_path(&sixteen).unwrap().params.len(), 16);
        let longest = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
        assert_eq!(parse_api_path(&longest).unwrap().kind, Prefix);
        assert_eq!(parse_api_path(&format!("={longest}")).unwrap().kind, Exact);
    }

    #[test]
    fn invalid_paths() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("", "the path must start with `/` (or `=/`, `^~/`), got ``"),
            ("user", "the path must start with `/` (or `=/`, `^~/`), got `user`"),
            ("=", "the path after the marker must start with `/`, got ``"),
            ("==/a", "the path after the marker must start with `/`, got `=/a`"),
            ("^~user", "the path after the marker must start with `/`, got `user`"),
            ("= /a", "the path after the marker must start with `/`, got ` /a`"),
            ("~/a", "`~` marks a regular expression: regular expressions other than {param} are not supported"),
            ("~*/a", "`~` marks a regular expression: regular expressions other than {param} are not supported"),
            ("/a b", "whitespace or control character ' ' at byte 2 is not allowed"),
            ("/a\tb", "whitespace or control character '\\t' at byte 2 is not allowed"),
            ("/a\u{7f}", "whitespace or control character '\\u{7f}' at byte 2 is not allowed"),
            ("/a?b=1", "`?` at byte 2 is not allowed: an API path has no query string or fragment, and regular expressions other than {param} are not supported"),
            ("/a#top", "`#` at byte 2 is not allowed: an API path has no query string or fragment, and regular expressions other than {param} are not supported"),
            ("/a*", "`*` at byte 2: regular expressions other than {param} are not supported"),
            ("/a+", "`+` at byte 2: regular expressions other than {param} are not supported"),
            ("/(a)", "`(` at byte 1: regular expressions other than {param} are not supported"),
            ("/[ab]", "`[` at byte 1: regular expressions other than {param} are not supported"),
            ("/a|b", "`|` at byte 2: regular expressions other than {param} are not supported"),
            ("/a$", "`$` at byte 2: regular expressions other than {param} are not supported"),
            ("/^a", "`^` at byte 1: regular expressions other than {param} are not supported"),
            ("/a\\d", "`\\` at byte 2: regular expressions other than {param} are not supported"),
            ("=/a*", "`*` at byte 3: regular expressions other than {param} are not supported"),
            ("^~/a.*", "`*` at byte 5: regular expressions other than {param} are not supported"),
            ("=/user/{id}", "`=` exact paths may not contain `{param}` placeholders"),
            ("^~/user/{id}", "`^~` priority-prefix paths may not contain `{param}` placeholders (Tencent: `^~` may not be followed by a regular expression)"),
            ("^~/user/}", "`^~` priority-prefix paths may not contain `{param}` placeholders (Tencent: `^~` may not be followed by a regular expression)"),
            ("/a/{id", "unbalanced `{` at byte 3: no closing `}`"),
            ("/a/id}", "unbalanced `}` at byte 5"),
            ("/a/{id}}", "unbalanced `}` at byte 7"),
            ("/a/{}", "empty placeholder `{}` at byte 3"),
            ("/a/{b{c}}", "placeholder `{b{c}` at byte 3: character '{' is not allowed in a param name (letters, digits, `_` and `-` only)"),
            ("/a/{b.c}", "placeholder `{b.c}` at byte 3: character '.' is not allowed in a param name (letters, digits, `_` and `-` only)"),
            ("/a/{名}", "placeholder `{名}` at byte 3: character '名' is not allowed in a param name (letters, digits, `_` and `-` only)"),
            ("/{a}{b}", "placeholder `{b}` at byte 4 follows the previous one directly; literal text must separate two placeholders"),
            ("/{a}/{a}", "param `a` appears twice"),
        ];
        for (raw, message) in cases {
            assert_eq!(parse_api_path(raw), Err((*message).to_owned()), "{raw:?}");
        }

        let seventeen: String = (0..17).map(|i| format!("/{{p{i}}}")).collect();
        assert_eq!(parse_api_path(&seventeen), Err("more than 16 `{param}` placeholders".to_owned()));
        let too_long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(parse_api_path(&too_long), Err("the path is 1025 bytes long; at most 1024 are allowed".to_owned()));
    }
}
