//! The head of a response read from a function (a web function's server, a remote endpoint, the
//! local function host, Tencent Cloud's API): one strict parser for every backend, so a reply
//! framed one way is never accepted on one path and refused on another.
//!
//! Strict where framing is concerned (RFC 9112 §6): `Content-Length` is digits only (no sign, no
//! list, at most 18 of them) and every copy must agree; `Transfer-Encoding` must be exactly
//! `chunked`, once; a response with both is framed as chunked and closes its connection. Fields
//! other than framing and `Connection` are handed to the caller as they are.

use super::parse::trim;

/// Most header fields accepted in one response head.
pub const MAX_FIELDS: usize = 100;

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body (HEAD request, 1xx, 204, 304).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the sender closes the connection (RFC 9112 §6.3 rule 8).
    UntilClose,
}

/// A parsed response head; its bytes stay at the start of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// Bytes of the head, its blank line included.
    pub length: usize,
    /// How the body is delimited.
    pub body: ResponseBody,
    /// The sender will close the connection after this response (or it must not be reused).
    pub close: bool,
}

/// Why a response head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or a malformed line.
    Malformed,
    /// `Content-Length` or `Transfer-Encoding` that cannot frame the body safely.
    Framing,
    /// More than [`MAX_FIELDS`] fields.
    TooManyFields,
}

/// Parses the response head at the start of `buffer`: `Ok(None)` while it is incomplete.
/// `head_request`: the request was a HEAD (the response has no body whatever it says).
/// `field` sees every field but the framing ones, `Connection` included.
pub fn parse_response_head<'b>(
    buffer: &'b [u8],
    head_request: bool,
    mut field: impl FnMut(&'b [u8], &'b [u8]),
) -> Result<Option<ResponseHead>, HeadError> {
    // Uninitialised, as for request heads: httparse fills only the slots it uses.
    let mut fields = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buffer,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
        Err(_) => return Err(HeadError::Malformed),
    };
    let status = response.code.ok_or(HeadError::Malformed)?;
    let http10 = response.version == Some(0);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let (mut close_token, mut keep_alive_token) = (false, false);
    for header in response.headers.iter() {
        let name = header.name.as_bytes();
        let value = trim(header.value);
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = parse_content_length(value).ok_or(HeadError::Framing)?;
            if content_length.is_some_and(|previous| previous != parsed) {
                return Err(HeadError::Framing);
            }
            content_length = Some(parsed);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only chunked is understood, and only alone: any other coding (or chunked given
            // twice) leaves the body's end unknown.
            if chunked || !value.eq_ignore_ascii_case(b"chunked") {
                return Err(HeadError::Framing);
            }
            chunked = true;
        } else {
            if name.eq_ignore_ascii_case(b"connection") {
                for token in value.split(|&byte| byte == b',').map(trim) {
                    close_token |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            field(name, header.value);
        }
    }
    // HTTP/1.0 closes unless it asked to keep the connection; HTTP/1.1 keeps it unless told.
    let mut close = close_token || (http10 && !keep_alive_token);
    // RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304, whatever the fields say; chunked wins
    // over a Content-Length, and a connection that carried both is not reused.
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        ResponseBody::None
    } else if chunked {
        close |= content_length.is_some();
        ResponseBody::Chunked
    } else if let Some(length) = content_length {
        ResponseBody::Length(length)
    } else {
        close = true;
        ResponseBody::UntilClose
    };
    Ok(Some(ResponseHead { status, length, body, close }))
}

/// `1*DIGIT`, at most 18 digits (so it fits in a `u64` without overflow checks).
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |total, &digit| total * 10 + u64::from(digit - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], head_request: bool) -> Result<Option<ResponseHead>, HeadError> {
        parse_response_head(raw, head_request, |_, _| {})
    }

    #[test]
    fn framing_follows_rfc_9112() {
        // (response head, HEAD request, body framing, closes)
        let cases: &[(&[u8], bool, ResponseBody, bool)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, ResponseBody::Length(5), false),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
                false,
                ResponseBody::Length(5),
                false,
            ),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, ResponseBody::Chunked, false),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", false, ResponseBody::Chunked, false),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                false,
                ResponseBody::Chunked,
                true,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", false, ResponseBody::UntilClose, true),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
                false,
                ResponseBody::Length(5),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: x-trace, Close\r\n\r\n",
                false,
                ResponseBody::Length(5),
                true,
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", false, ResponseBody::Length(5), true),
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
                false,
                ResponseBody::Length(5),
                false,
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, ResponseBody::None, false),
            (b"HTTP/1.1 204 No Content\r\n\r\n", false, ResponseBody::None, false),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, ResponseBody::None, false),
            (b"HTTP/1.1 100 Continue\r\n\r\n", false, ResponseBody::None, false),
        ];
        for (raw, head_request, body, close) in cases {
            let head = parse(raw, *head_request).unwrap().unwrap();
            assert_eq!(
                (head.body, head.close, head.length),
                (*body, *close, raw.len()),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn framing_that_cannot_be_trusted_is_refused() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(parse(bad, false), Err(HeadError::Framing), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"HTTX/1.1 200 OK\r\n\r\n", false), Err(HeadError::Malformed));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", false), Ok(None));
    }

    #[test]
    fn other_fields_reach_the_caller() {
        let raw =
            b"HTTP/1.1 200 OK\r\nX-Scf-Error-Type: FunctionCrashed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let mut seen = Vec::new();
        parse_response_head(raw, false, |name, value| seen.push((name, value))).unwrap().unwrap();
        assert_eq!(seen, [(&b"X-Scf-Error-Type"[..], &b"FunctionCrashed"[..]), (b"Connection", b"close")]);
    }
}
