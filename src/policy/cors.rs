//! CORS (`cors = true`): Tencent's response headers on every response of the API, errors and
//! integrated responses included, and the preflight answered by the gateway (spec §4).
//!
//! Tencent's defaults: `Access-Control-Allow-Origin: *`, `-Allow-Methods:
//! GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH`, `-Allow-Headers` and `-Expose-Headers` with its long
//! list, `-Allow-Credentials: true`, `-Max-Age: 86400`. Where copying them verbatim would break a
//! browser, this module departs, and says so:
//!
//! - Tencent's list has `Cache- Control` (with a space); a browser refuses a preflight whose
//!   `Access-Control-Allow-Headers` holds something that is not a header name, so it is sent as
//!   `Cache-Control`.
//! - `*` is never sent to a browser that sent credentials (a `Cookie` or `Authorization`): the
//!   request's `Origin` is echoed instead, with `Vary: Origin` (Fetch §3.2.5 refuses `*` with
//!   credentials). A preflight cannot say whether the real request will carry credentials, so
//!   a preflight always gets its `Origin` echoed.
//! - A preflight's `Access-Control-Request-Headers` are echoed in `Access-Control-Allow-Headers`
//!   (when they are all header names), so headers Tencent's list lacks (`X-Date`, `Source` for key
//!   pairs, any `X-Custom`) still pass; without that field the preflight gets Tencent's list.
//! - A Function URL's `cors` (`CorsConfig`) sets the methods, allowed and exposed headers,
//!   credentials and max age; what it leaves out stays as above.
//! - Extension: `cors_origins` limits the origins. An allowed `Origin` is echoed (`Vary: Origin`);
//!   any other gets no `Access-Control-*` headers at all, so the browser refuses the response.

use super::Request;
use crate::config::Cors;
use crate::http::response;

/// `Access-Control-Allow-Methods` (Tencent's default).
pub const ALLOW_METHODS: &[u8] = b"GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH";

/// `Access-Control-Allow-Headers` and `-Expose-Headers`: Tencent's default list, `Cache-Control`
/// spelled without the stray space.
pub const DEFAULT_HEADERS: &[u8] =
    b"X-Api-ID,X-Service-RateLimit,X-UsagePlan-RateLimit,X-UsagePlan-Quota,Cache-Control,\
Connection,Content-Disposition,Date,Keep-Alive,Pragma,Via,Accept,Accept-Charset,Accept-Encoding,Accept-Language,\
Authorization,Cookie,Expect,From,Host,If-Match,If-Modified-Since,If-None-Match,If-Range,If-Unmodified-Since,Range,\
Origin,Referer,User-Agent,X-Forwarded-For,X-Forwarded-Host,X-Forwarded-Proto,Accept-Range,Age,Content-Range,\
Content-Security-Policy,ETag,Expires,Last-Modified,Location,Server,Set-Cookie,Trailer,Transfer-Encoding,Vary,Allow,\
Content-Encoding,Content-Language,Content-Length,Content-Location,Content-Type";

/// `Access-Control-Max-Age` (Tencent's default: one day).
pub const MAX_AGE: &[u8] = b"86400";

/// Appends the CORS header lines for `request` to `out`.
pub fn write_headers(out: &mut Vec<u8>, cors: &Cors, request: &Request<'_>, preflight: bool) {
    let origin = request.header(b"origin").filter(|origin| !origin.is_empty());
    let allow_origin: &[u8] = if cors.origins.is_empty() {
        let credentials = request.header(b"cookie").is_some() || request.header(b"authorization").is_some();
        match origin {
            Some(origin) if preflight || credentials => origin,
            _ => b"*",
        }
    } else {
        match origin.filter(|origin| cors.origins.iter().any(|allowed| allowed.as_bytes() == *origin)) {
            Some(origin) => origin,
            None => {
                // The answer depends on Origin even when it is a refusal: caches must know.
                response::header(out, b"vary", b"Origin");
                return;
            }
        }
    };
    response::header(out, b"access-control-allow-origin", allow_origin);
    if allow_origin != b"*" {
        response::header(out, b"vary", b"Origin");
    }
    let requested = request.header(b"access-control-request-headers").filter(|names| preflight && is_name_list(names));
    let Some(custom) = &cors.custom else {
        response::header(out, b"access-control-allow-methods", ALLOW_METHODS);
        response::header(out, b"access-control-allow-headers", requested.unwrap_or(DEFAULT_HEADERS));
        response::header(out, b"access-control-expose-headers", DEFAULT_HEADERS);
        response::header(out, b"access-control-allow-credentials", b"true");
        response::header(out, b"access-control-max-age", MAX_AGE);
        return;
    };
    // A Function URL's `CorsConfig`: what it sets, Tencent's defaults for the rest.
    let methods = custom.methods.as_deref().map_or(ALLOW_METHODS, str::as_bytes);
    response::header(out, b"access-control-allow-methods", methods);
    let allowed = custom.headers.as_deref().map(str::as_bytes).or(requested).unwrap_or(DEFAULT_HEADERS);
    response::header(out, b"access-control-allow-headers", allowed);
    let expose = custom.expose_headers.as_deref().map_or(DEFAULT_HEADERS, str::as_bytes);
    if !expose.is_empty() {
        response::header(out, b"access-control-expose-headers", expose);
    }
    if custom.credentials {
        response::header(out, b"access-control-allow-credentials", b"true");
    }
    response::header(out, b"access-control-max-age", custom.max_age.as_bytes());
}

/// A comma-separated list of header names (RFC 9110 tokens), the shape a browser sends.
fn is_name_list(names: &[u8]) -> bool {
    names.split(|&byte| byte == b',').all(|name| {
        let name = name.trim_ascii();
        !name.is_empty() && name.iter().all(|&byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
    })
}

/// Appends the answer to a preflight: `204 No Content` with `headers` (the CORS lines from
/// [`write_headers`]) and the request id. A 204 carries no `Content-Length` (RFC 9110 §8.6).
pub fn write_preflight(out: &mut Vec<u8>, headers: &[u8], request_id: &[u8], close: bool) {
    response::start(out, 204);
    out.extend_from_slice(headers);
    response::header(out, b"x-api-requestid", request_id);
    if close {
        response::header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, RequestHead};
    use crate::route::PathParams;

    fn headers(origins: &[&str], raw: &str, preflight: bool) -> Vec<(String, String)> {
        let raw = &crate::policy::with_host(raw);
        let mut head = RequestHead::default();
        parse_request(raw.as_bytes(), &mut head).unwrap();
        let captures = PathParams::default();
        let request = Request { buffer: raw.as_bytes(), head: &head, path: b"/", captures: &captures, https: false };
        let cors = Cors { origins: origins.iter().map(|origin| origin.to_string()).collect(), custom: None };
        let mut out = Vec::new();
        write_headers(&mut out, &cors, &request, preflight);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| {
                let (name, value) = line.split_once(": ").unwrap();
                (name.to_string(), value.to_string())
            })
            .collect()
    }

    fn get(list: &[(String, String)], name: &str) -> Option<String> {
        list.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    }

    #[test]
    fn allow_origin_by_case() {
        const APP: &str = "https://app.example.com";
        /// (allowed origins, request headers, preflight, Allow-Origin, Vary)
        type Case<'a> = (&'a [&'a str], &'a str, bool, Option<&'a str>, Option<&'a str>);
        #[rustfmt::skip]
        let cases: &[Case<'_>] = &[
            (&[], "", false, Some("*"), None),                                           // spec §4 default
            (&[], "Origin: https://app.example.com\r\n", false, Some("*"), None),
            (&[], "Origin: https://app.example.com\r\nCookie: a=1\r\n", false, Some(APP), Some("Origin")),
            (&[], "Origin: https://app.example.com\r\nAuthorization: Bearer x\r\n", false, Some(APP), Some("Origin")),
            (&[], "Cookie: a=1\r\n", false, Some("*"), None),                            // no Origin: not a browser CORS request
            (&[], "Origin: https://app.example.com\r\n", true, Some(APP), Some("Origin")),
            (&[APP], "Origin: https://app.example.com\r\n", false, Some(APP), Some("Origin")),
            (&[APP], "Origin: https://evil.example.com\r\n", false, None, Some("Origin")),
            (&[APP], "", false, None, Some("Origin")),
        ];
        for (origins, extra, preflight, allow_origin, vary) in cases {
            let list = headers(origins, &format!("GET / HTTP/1.1\r\nHost: h\r\n{extra}\r\n"), *preflight);
            assert_eq!(get(&list, "access-control-allow-origin").as_deref(), *allow_origin, "{origins:?} {extra:?}");
            assert_eq!(get(&list, "vary").as_deref(), *vary, "{origins:?} {extra:?}");
            if allow_origin.is_some() {
                assert_eq!(
                    get(&list, "access-control-allow-methods").as_deref(),
                    Some("GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH")
                );
                assert_eq!(get(&list, "access-control-allow-credentials").as_deref(), Some("true"));
                assert_eq!(get(&list, "access-control-max-age").as_deref(), Some("86400"));
                assert_eq!(get(&list, "access-control-expose-headers").unwrap().as_bytes(), DEFAULT_HEADERS);
            }
        }
    }

    #[test]
    fn allow_headers_echo_a_preflights_request() {
        let raw = |extra: &str| {
            format!("OPTIONS /x HTTP/1.1\r\nOrigin: https://a.example\r\nAccess-Control-Request-Method: POST\r\n{extra}\r\n")
        };
        #[rustfmt::skip]
        let cases: &[(&str, bool, &[u8])] = &[
            ("Access-Control-Request-Headers: x-date, source, authorization\r\n", true, b"x-date, source, authorization"),
            ("Access-Control-Request-Headers: x-date, bad header\r\n", true, DEFAULT_HEADERS),
            ("", true, DEFAULT_HEADERS),
            ("Access-Control-Request-Headers: x-date\r\n", false, DEFAULT_HEADERS),
        ];
        for (extra, preflight, expected) in cases {
            let list = headers(&[], &raw(extra), *preflight);
            assert_eq!(get(&list, "access-control-allow-headers").unwrap().as_bytes(), *expected, "{extra:?}");
        }
        assert!(!DEFAULT_HEADERS.contains(&b' '), "Tencent's `Cache- Control` typo must not reach browsers");
    }

    #[test]
    fn preflight_response_has_no_body_framing() {
        let mut out = Vec::new();
        write_preflight(&mut out, b"access-control-allow-origin: *\r\n", b"rid", false);
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\naccess-control-allow-origin: *\r\nx-api-requestid: rid\r\n\r\n");
    }
}
