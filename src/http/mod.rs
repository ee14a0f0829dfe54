//! The HTTP/1.1 wire format: request heads parsed into offsets over the connection's own buffer,
//! chunked body decoding, response writing, and the strict parser of the response heads
//! functions send back. No routing, no policy, no I/O: callers own the
//! buffers and enforce time limits.

pub mod body;
pub mod parse;
pub mod percent;
pub mod reader;
pub mod response;
pub mod response_head;
pub mod trace;

pub use parse::{parse_request, BodyFraming, HeaderSpan, ParseError, RequestHead, Span};
