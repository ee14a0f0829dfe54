//! Trace context a client sends, so a request can be followed through the gateway into its
//! function: W3C `traceparent`, Zipkin's single `b3` header, or `X-B3-TraceId`. The trace id
//! found becomes the event's `x-b3-traceid` and the `X-B3-TraceId` a web function receives; a
//! request without one is traced by its request id, as Tencent does.

use super::RequestHead;

/// A request's trace id, copied out of the request buffer (at most 32 bytes: a trace or request id).
#[derive(Clone, Copy)]
pub struct TraceId {
    bytes: [u8; 32],
    length: usize,
}

impl TraceId {
    /// The client's trace id when it sent one, else `request_id`.
    pub fn of_request(bytes: &[u8], head: &RequestHead, request_id: &[u8]) -> TraceId {
        let id = trace_id(bytes, head).unwrap_or(request_id);
        let length = id.len().min(32);
        let mut copied = [0u8; 32];
        copied[..length].copy_from_slice(&id[..length]);
        TraceId { bytes: copied, length }
    }

    /// The id's text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

/// The trace id the request carries, when one of the headers holds a valid one (W3C first).
pub fn trace_id<'a>(bytes: &'a [u8], head: &RequestHead) -> Option<&'a [u8]> {
    // One pass over the fields, each name told apart by its length first: most requests carry
    // none of the three, and this runs for every event.
    let (mut traceparent, mut b3, mut x_b3) = (None, None, None);
    for field in &head.headers {
        let name = field.name.of_buffer(bytes);
        let slot = match name.len() {
            11 if name.eq_ignore_ascii_case(b"traceparent") => &mut traceparent,
            2 if name.eq_ignore_ascii_case(b"b3") => &mut b3,
            12 if name.eq_ignore_ascii_case(b"x-b3-traceid") => &mut x_b3,
            _ => continue,
        };
        slot.get_or_insert(field.value.of_buffer(bytes));
    }
    traceparent
        .and_then(from_traceparent)
        .or_else(|| b3.and_then(|value: &[u8]| value.split(|&byte| byte == b'-').next()).filter(|id| is_b3_id(id)))
        .or_else(|| x_b3.filter(|id| is_b3_id(id)))
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>` (W3C Trace Context §3.2): a later
/// version may append fields; version `ff` and all-zero ids are invalid.
fn from_traceparent(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let mut fields = value.split(|&byte| byte == b'-');
    let (version, trace, parent, flags) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let lower_hex = |field: &[u8], length: usize| {
        field.len() == length && field.iter().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte))
    };
    let valid = lower_hex(version, 2)
        && version != b"ff"
        && (version != b"00" || fields.next().is_none())
        && lower_hex(trace, 32)
        && lower_hex(parent, 16)
        && lower_hex(flags, 2)
        && trace.iter().any(|&byte| byte != b'0')
        && parent.iter().any(|&byte| byte != b'0');
    valid.then_some(trace)
}

/// A B3 trace id: 16 or 32 hex digits, not all zero.
fn is_b3_id(id: &[u8]) -> bool {
    (id.len() == 16 || id.len() == 32) && id.iter().all(u8::is_ascii_hexdigit) && id.iter().any(|&byte| byte != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    #[test]
    fn the_trace_id_comes_from_the_first_valid_header() {
        const W3C: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
        let cases: &[(&str, Option<&str>)] = &[
            ("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n", Some(W3C)),
            ("TraceParent:  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 \r\n", Some(W3C)),
            // A later version may add fields; version 00 may not.
            ("traceparent: 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra\r\n", Some(W3C)),
            ("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra\r\n", None),
            ("traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n", None),
            ("traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\n", None),
            ("traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\r\n", None),
            ("traceparent: 00-4bf92f3577b34da6-00f067aa0ba902b7-01\r\n", None),
            ("b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n", Some("80f198ee56343ba864fe8b2a57d3eff7")),
            ("b3: 0\r\n", None),
            ("x-b3-traceid: 463ac35c9f6413ad\r\n", Some("463ac35c9f6413ad")),
            ("x-b3-traceid: not-hex-at-all!!\r\n", None),
            // An invalid traceparent falls back to B3.
            ("traceparent: garbage\r\nx-b3-traceid: 463ac35c9f6413ad\r\n", Some("463ac35c9f6413ad")),
            ("", None),
        ];
        for (headers, expected) in cases {
            let request = format!("GET / HTTP/1.1\r\nhost: a\r\n{headers}\r\n");
            let mut head = RequestHead::default();
            parse_request(request.as_bytes(), &mut head).unwrap();
            let found = trace_id(request.as_bytes(), &head).map(|id| std::str::from_utf8(id).unwrap());
            assert_eq!(found, *expected, "{headers:?}");
        }
    }
}
