//! Chunked transfer-coding decoding (RFC 9112 §7.1), incremental: the decoder keeps its state
//! between reads, so a body trickling in is scanned once, not once per read.

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// Not valid chunked syntax (400).
    Malformed,
    /// The decoded body passed the limit (413).
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Reading the hex size digits.
    #[default]
    Size,
    /// After the size: chunk extensions up to CRLF.
    Extension,
    /// Expecting LF after the CR of the size line.
    SizeLineFeed,
    /// Chunk data with this many bytes left.
    Data(u64),
    /// CR after chunk data.
    DataCarriageReturn,
    /// LF after chunk data.
    DataLineFeed,
    /// After the last (zero) chunk: at the start of a trailer line.
    TrailerLineStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// LF that ends the trailer section.
    FinalLineFeed,
    /// LF that ends one trailer field line.
    TrailerLineFeed,
    /// The body is complete.
    Done,
}

/// Incremental chunked decoder. Feed it bytes; it appends decoded data to `out`.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    size_digits: u8,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes from `input`, appending data to `out` (which may not grow past `limit` bytes).
    /// Returns how many input bytes were consumed and whether the body is complete; bytes after
    /// the end of the body are left unconsumed (they belong to the next pipelined request).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(usize, bool), ChunkedError> {
        let mut position = 0;
        while position < input.len() {
            let byte = input[position];
            match self.state {
                State::Size => match hex_value(byte) {
                    Some(digit) => {
                        // 15 hex digits is already past any body we accept.
                        if self.size_digits >= 15 {
                            return Err(ChunkedError::TooLarge);
                        }
                        self.size = self.size * 16 + u64::from(digit);
                        self.size_digits += 1;
                    }
                    None if self.size_digits == 0 => return Err(ChunkedError::Malformed),
                    None if byte == b';' || byte == b' ' || byte == b'\t' => self.state = State::Extension,
                    None if byte == b'\r' => self.state = State::SizeLineFeed,
                    None => return Err(ChunkedError::Malformed),
                },
                State::Extension => match byte {
                    b'\r' => self.state = State::SizeLineFeed,
                    b'\n' | 0 => return Err(ChunkedError::Malformed),
                    _ => {}
                },
                State::SizeLineFeed => {
                    if byte != b'\n' {
                        return Err(ChunkedError::Malformed);
                    }
                    if self.size == 0 {
                        self.state = State::TrailerLineStart;
                    } else {
                        if out.len() as u64 + self.size > limit as u64 {
                            return Err(ChunkedError::TooLarge);
                        }
                        self.state = State::Data(self.size);
                    }
                    self.size = 0;
                    self.size_digits = 0;
                }
                State::Data(remaining) => {
                    let available = (input.len() - position) as u64;
                    let take = remaining.min(available) as usize;
                    out.extend_from_slice(&input[position..position + take]);
                    position += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 { State::DataCarriageReturn } else { State::Data(left) };
                    continue;
                }
                State::DataCarriageReturn => {
                    if byte != b'\r' {
                        return Err(ChunkedError::Malformed);
                    }
                    self.state = State::DataLineFeed;
                }
                State::DataLineFeed => {
                    if byte != b'\n' {
                        return Err(ChunkedError::Malformed);
                    }
                    self.state = State::Size;
                }
                State::TrailerLineStart => {
                    self.state = if byte == b'\r' { State::FinalLineFeed } else { State::TrailerLine };
                }
                State::TrailerLine => {
                    if byte == b'\r' {
                        self.state = State::TrailerLineFeed;
                    } else if byte == b'\n' || byte == 0 {
                        return Err(ChunkedError::Malformed);
                    }
                }
                State::TrailerLineFeed => {
                    if byte != b'\n' {
                        return Err(ChunkedError::Malformed);
                    }
                    self.state = State::TrailerLineStart;
                }
                State::FinalLineFeed => {
                    if byte != b'\n' {
                        return Err(ChunkedError::Malformed);
                    }
                    self.state = State::Done;
                    return Ok((position + 1, true));
                }
                State::Done => return Ok((position, true)),
            }
            position += 1;
        }
        Ok((position, self.state == State::Done))
    }
}

/// The value of one hexadecimal digit (chunk sizes here, percent-escapes in `backend::json`).
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let (consumed, done) = decoder.decode(input, &mut out, limit)?;
        assert!(done, "incomplete: {}", String::from_utf8_lossy(input));
        Ok((out, consumed))
    }

    #[test]
    fn decodes_whole_bodies() {
        // (encoded, decoded) — RFC 9112 §7.1
        let cases: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", b"0123456789"),
        ];
        for (encoded, decoded) in cases {
            let (out, consumed) = decode_all(encoded, 1024).unwrap();
            assert_eq!(&out, decoded);
            assert_eq!(consumed, encoded.len());
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let (out, consumed) = decode_all(input, 1024).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(&input[consumed..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn byte_at_a_time_gives_the_same_result() {
        let input = b"5;x\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n";
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut done = false;
        for index in 0..input.len() {
            let (consumed, finished) = decoder.decode(&input[index..index + 1], &mut out, 100).unwrap();
            assert_eq!(consumed, 1);
            done = finished;
        }
        assert!(done);
        assert_eq!(out, b"hello!");
    }

    #[test]
    fn refuses_bad_syntax_and_oversize() {
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"x\r\n", ChunkedError::Malformed),
            (b"5\nhello", ChunkedError::Malformed),
            (b"5\r\nhelloXX", ChunkedError::Malformed),
            (b"fffffffffffffffff\r\n", ChunkedError::TooLarge),
            (b"11\r\n", ChunkedError::TooLarge),
        ];
        for (input, expected) in cases {
            let mut out = Vec::new();
            let result = ChunkedDecoder::new().decode(input, &mut out, 16);
            assert_eq!(result, Err(*expected), "{}", String::from_utf8_lossy(input));
        }
    }
}
