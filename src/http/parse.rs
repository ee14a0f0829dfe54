//! Request-head parsing: `httparse` over the caller's buffer, recorded as byte offsets so the head
//! survives the buffer moving through monoio's owned-buffer reads (no copied strings).
//!
//! Framing follows RFC 9112 §6: `Transfer-Encoding: chunked` wins and may not be combined with
//! `Content-Length` (we refuse the request rather than guess: request smuggling), repeated
//! `Content-Length` headers must agree, and any transfer coding other than `chunked` is refused.

use std::ops::Range;

/// Most header fields a request may carry; past it the request gets 431.
pub const MAX_HEADERS: usize = 100;

/// A byte range into the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    fn of(outer: &[u8], inner: &[u8]) -> Span {
        let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
        Span { start: start as u32, end: (start + inner.len()) as u32 }
    }

    /// The bytes this span covers in `buffer`.
    #[inline]
    pub fn of_buffer(self, buffer: &[u8]) -> &[u8] {
        &buffer[self.start as usize..self.end as usize]
    }

    /// As a range.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One header field as offsets.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderSpan {
    /// The field name as sent (case preserved).
    pub name: Span,
    /// The field value, without surrounding whitespace.
    pub value: Span,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFraming {
    /// No body.
    #[default]
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head. Reused across the requests of a connection: `headers` keeps its capacity.
#[derive(Debug, Default)]
pub struct RequestHead {
    /// The method token.
    pub method: Span,
    /// The path of the request target (before `?`), always starting with `/`.
    pub path: Span,
    /// The query after `?`, without it (empty when absent).
    pub query: Span,
    /// The authority from an absolute-form target (RFC 9112 §3.2.2: it replaces `Host`).
    pub target_authority: Option<Span>,
    /// `Host` header value.
    pub host: Option<Span>,
    /// Every header field in order.
    pub headers: Vec<HeaderSpan>,
    /// Length of the head including the final CRLF CRLF.
    pub head_len: usize,
    /// Body framing.
    pub framing: BodyFraming,
    /// The client wants the connection kept open after this request.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// HTTP/1.0 (otherwise 1.1).
    pub http10: bool,
}

impl RequestHead {
    /// The host the request is addressed to: the absolute-form authority, else the `Host` header.
    pub fn authority(&self) -> Option<Span> {
        self.target_authority.or(self.host)
    }
}

/// Why a request head was refused. Each maps to one status in `crate::error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not HTTP/1.x, or a syntax error (400).
    Malformed(&'static str),
    /// More than [`MAX_HEADERS`] fields (431).
    TooManyHeaders,
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferEncoding,
}

/// Outcome of [`parse_request`] when no error occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseStatus {
    /// `head` is filled in.
    Complete,
    /// More bytes are needed.
    Partial,
}

/// Parses one request head at the start of `buffer` into `head` (offsets relative to `buffer`).
pub fn parse_request(buffer: &[u8], head: &mut RequestHead) -> Result<ParseStatus, ParseError> {
    // Cheap completeness check first: most reads of a slow client end mid-head, and httparse would
    // redo the header scan on every partial read.
    // A head ends at an empty line: LF then LF, or LF then CRLF (httparse accepts bare LF line
    // ends; `\r\n\r\n` contains `\n\r\n`).
    if memchr::memmem::find(buffer, b"\n\r\n").is_none() && memchr::memmem::find(buffer, b"\n\n").is_none() {
        return Ok(ParseStatus::Partial);
    }
    // Left uninitialised: zeroing 100 header slots (3.2 KB) cost about a sixth of a small GET's
    // parse; httparse writes only the slots it fills and hands back exactly those.
    let mut fields = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(buffer, &mut fields) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(ParseStatus::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(ParseError::Malformed("unsupported HTTP version")),
        Err(_) => return Err(ParseError::Malformed("malformed request head")),
    };
    let method = request.method.unwrap_or_default();
    let target = request.path.unwrap_or_default();
    head.http10 = request.version == Some(0);
    head.method = Span::of(buffer, method.as_bytes());
    head.head_len = head_len;
    head.headers.clear();
    head.host = None;
    head.target_authority = None;
    head.framing = BodyFraming::None;
    head.expect_continue = false;

    split_target(buffer, target.as_bytes(), head)?;

    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    for field in request.headers.iter() {
        let name = field.name.as_bytes();
        let value = trim(field.value);
        head.headers.push(HeaderSpan { name: Span::of(buffer, name), value: Span::of(buffer, value) });
        if name.eq_ignore_ascii_case(b"host") {
            if head.host.is_some() {
                return Err(ParseError::Malformed("more than one Host header"));
            }
            head.host = Some(Span::of(buffer, value));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let length = parse_content_length(value)?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(ParseError::Malformed("conflicting Content-Length headers"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            if head.http10 {
                return Err(ParseError::Malformed("Transfer-Encoding in an HTTP/1.0 request"));
            }
            // Only a lone `chunked` is supported; gzip etc. as request codings are rare and unsafe to guess.
            for coding in value.split(|&byte| byte == b',') {
                let coding = trim(coding);
                if coding.is_empty() {
                    continue;
                }
                if !coding.eq_ignore_ascii_case(b"chunked") || chunked {
                    return Err(ParseError::UnsupportedTransferEncoding);
                }
                chunked = true;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&byte| byte == b',') {
                let option = trim(option);
                if option.eq_ignore_ascii_case(b"close") {
                    connection_close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    connection_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") && value.eq_ignore_ascii_case(b"100-continue") {
            // RFC 9110 §10.1.1: a server MUST ignore this expectation in an HTTP/1.0 request.
            head.expect_continue = !head.http10;
        }
    }
    // RFC 9112 §6.3: any Transfer-Encoding field, even an empty one, conflicts with
    // Content-Length, and one whose final coding is not chunked cannot frame a request. A proxy in
    // front may read either as chunked: refusing is the only reading nobody can disagree with.
    if transfer_encoding && content_length.is_some() {
        return Err(ParseError::Malformed("both Content-Length and Transfer-Encoding"));
    }
    if transfer_encoding && !chunked {
        return Err(ParseError::Malformed("Transfer-Encoding without chunked"));
    }
    if !head.http10 && head.host.is_none() && head.target_authority.is_none() {
        return Err(ParseError::Malformed("missing Host header"));
    }
    head.framing = match (chunked, content_length) {
        (true, _) => BodyFraming::Chunked,
        (false, Some(0)) | (false, None) => BodyFraming::None,
        (false, Some(length)) => BodyFraming::Length(length),
    };
    head.keep_alive = !connection_close && (!head.http10 || connection_keep_alive);
    Ok(ParseStatus::Complete)
}

/// Splits the request target into path and query, accepting origin-form and absolute-form
/// (RFC 9112 §3.2). Dot segments are refused: a path must mean to us what it means to a reader.
fn split_target(buffer: &[u8], target: &[u8], head: &mut RequestHead) -> Result<(), ParseError> {
    let origin_form = if target.first() == Some(&b'/') {
        target
    } else {
        let rest = strip_prefix_ignore_case(target, b"http://")
            .or_else(|| strip_prefix_ignore_case(target, b"https://"))
            .ok_or(ParseError::Malformed("request target must be origin-form or absolute-form"))?;
        let authority_end = rest.iter().position(|&byte| byte == b'/' || byte == b'?').unwrap_or(rest.len());
        if authority_end == 0 {
            return Err(ParseError::Malformed("absolute-form target without a host"));
        }
        head.target_authority = Some(Span::of(buffer, &rest[..authority_end]));
        let path_and_query = &rest[authority_end..];
        if path_and_query.first() != Some(&b'/') {
            // `http://host` has no path byte to point at; clients send `http://host/` in practice.
            return Err(ParseError::Malformed("absolute-form target without a path"));
        }
        path_and_query
    };
    let (path, query) = match memchr::memchr(b'?', origin_form) {
        Some(question) => (&origin_form[..question], &origin_form[question + 1..]),
        None => (origin_form, &origin_form[origin_form.len()..]),
    };
    if has_dot_segment(path) {
        return Err(ParseError::Malformed("dot segments in the request path"));
    }
    head.path = Span::of(buffer, path);
    head.query = Span::of(buffer, query);
    Ok(())
}

/// Whether `path` has a `.` or `..` segment, literally or percent-encoded (`%2e`).
fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&byte| byte == b'/').any(|segment| {
        let mut dots = 0;
        let mut index = 0;
        while index < segment.len() {
            if segment[index] == b'.' {
                index += 1;
            } else if segment.len() - index >= 3
                && segment[index] == b'%'
                && segment[index + 1] == b'2'
                && segment[index + 2].eq_ignore_ascii_case(&b'e')
            {
                index += 3;
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&bytes[prefix.len()..])
    } else {
        None
    }
}

fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    // RFC 9110 §8.6: 1*DIGIT. Signs, spaces and lists are refused (smuggling vectors).
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed("invalid Content-Length"));
    }
    Ok(value.iter().fold(0u64, |total, &digit| total * 10 + u64::from(digit - b'0')))
}

/// Trims spaces and tabs at both ends.
pub fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> (Result<ParseStatus, ParseError>, RequestHead) {
        let mut head = RequestHead::default();
        (parse_request(raw, &mut head), head)
    }

    #[test]
    fn simple_get_is_complete_with_offsets() {
        let raw = b"GET /release/hello?name=a HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\nrest";
        let (status, head) = parse(raw);
        assert_eq!(status, Ok(ParseStatus::Complete));
        assert_eq!(head.method.of_buffer(raw), b"GET");
        assert_eq!(head.path.of_buffer(raw), b"/release/hello");
        assert_eq!(head.query.of_buffer(raw), b"name=a");
        assert_eq!(head.host.unwrap().of_buffer(raw), b"example.com");
        assert_eq!(head.headers.len(), 2);
        assert_eq!(head.head_len, raw.len() - 4);
        assert!(head.keep_alive);
        assert_eq!(head.framing, BodyFraming::None);
    }

    #[test]
    fn partial_heads_ask_for_more() {
        for cut in 1..40 {
            let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: 1234\r\n\r\n";
            let (status, _) = parse(&raw[..cut]);
            assert_eq!(status, Ok(ParseStatus::Partial), "cut at {cut}");
        }
    }

    #[test]
    fn framing_and_refusals() {
        // (request, expected framing or error) — RFC 9112 §6.1–6.3
        let cases: &[(&[u8], Result<BodyFraming, ParseError>)] = &[
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::Length(5))),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Ok(BodyFraming::Length(5)),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                Err(ParseError::Malformed("conflicting Content-Length headers")),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
                Err(ParseError::Malformed("invalid Content-Length")),
            ),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyFraming::Chunked)),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Err(ParseError::Malformed("both Content-Length and Transfer-Encoding")),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Err(ParseError::UnsupportedTransferEncoding),
            ),
            (b"GET / HTTP/1.1\r\n\r\n", Err(ParseError::Malformed("missing Host header"))),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(ParseError::Malformed("more than one Host header"))),
            (
                b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
                Err(ParseError::Malformed("request target must be origin-form or absolute-form")),
            ),
            (
                b"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n",
                Err(ParseError::Malformed("dot segments in the request path")),
            ),
            (
                b"GET /a/%2E%2e/b HTTP/1.1\r\nHost: a\r\n\r\n",
                Err(ParseError::Malformed("dot segments in the request path")),
            ),
            (b"GET /a/..b HTTP/1.1\r\nHost: a\r\n\r\n", Ok(BodyFraming::None)),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\n",
                Err(ParseError::Malformed("both Content-Length and Transfer-Encoding")),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
                Err(ParseError::Malformed("Transfer-Encoding without chunked")),
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\n\r\n", Ok(BodyFraming::None)),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(ParseError::Malformed("unsupported HTTP version"))),
        ];
        for (raw, expected) in cases {
            let (status, head) = parse(raw);
            let got = status.map(|_| head.framing);
            assert_eq!(&got, expected, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn absolute_form_target_sets_authority() {
        let raw = b"GET http://api.example.com:8080/release/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n";
        let (status, head) = parse(raw);
        assert_eq!(status, Ok(ParseStatus::Complete));
        assert_eq!(head.authority().unwrap().of_buffer(raw), b"api.example.com:8080");
        assert_eq!(head.path.of_buffer(raw), b"/release/x");
        assert_eq!(head.query.of_buffer(raw), b"y=1");
    }

    #[test]
    fn keep_alive_rules() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ];
        for (raw, keep_alive) in cases {
            let (status, head) = parse(raw);
            assert_eq!(status, Ok(ParseStatus::Complete));
            assert_eq!(head.keep_alive, *keep_alive, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn too_many_headers() {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for index in 0..MAX_HEADERS {
            raw.extend_from_slice(format!("X-{index}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(parse(&raw).0, Err(ParseError::TooManyHeaders));
    }
}
