//! Response writing: the status line and header fields, appended to the connection's reused write
//! buffer. The body is appended by the caller after [`end_head`].

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Appends `HTTP/1.1 <status> <reason>\r\n`.
pub fn start(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut digits = itoa_buffer();
    out.extend_from_slice(format_u64(status as u64, &mut digits));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one header field.
pub fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `Content-Length`, an optional `Connection: close`, and the blank line ending the head.
pub fn end_head(out: &mut Vec<u8>, content_length: usize, close: bool) {
    out.extend_from_slice(b"content-length: ");
    let mut digits = itoa_buffer();
    out.extend_from_slice(format_u64(content_length as u64, &mut digits));
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Adds `connection: close` to a response already in `out` starting at `response_start` (used
/// when shutdown begins while the response was being produced).
pub fn mark_close(out: &mut Vec<u8>, response_start: usize) {
    let Some(head) = out.get(response_start..) else { return };
    if let Some(end) = memchr::memmem::find(head, b"\r\n\r\n") {
        let at = response_start + end + 2;
        out.splice(at..at, b"connection: close\r\n".iter().copied());
    }
}

/// The status code of the response at the start of `response` (0 if there is none).
pub fn status_of(response: &[u8]) -> u16 {
    response
        .get(9..12)
        .filter(|digits| digits.iter().all(u8::is_ascii_digit))
        .map_or(0, |digits| digits.iter().fold(0, |total, &digit| total * 10 + u16::from(digit - b'0')))
}

/// A stack buffer for [`format_u64`].
pub fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// Formats `value` in decimal into `buffer`, without allocating.
pub fn format_u64(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut position = buffer.len();
    loop {
        position -= 1;
        buffer[position] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buffer[position..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_head() {
        let mut out = Vec::new();
        start(&mut out, 404);
        header(&mut out, b"content-type", b"application/json");
        end_head(&mut out, 12, true);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 12\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn formats_numbers() {
        let mut buffer = itoa_buffer();
        assert_eq!(format_u64(0, &mut buffer), b"0");
        assert_eq!(format_u64(18446744073709551615, &mut buffer), b"18446744073709551615");
    }
}
