//! RFC 6455 §5 framing: a pure decoder over the connection's read buffer, which unmasks in place
//! and reassembles fragmented messages, and the writer of the server's (unmasked) frames.
//!
//! The decoder never reads: [`Decoder::next`] says what the buffered bytes hold, or that more are
//! needed ([`Decoded::NeedMore`], with the size of the frame being waited for, so the caller can
//! size its buffer), or which close code the peer earned ([`Violation`]). No extension is ever
//! negotiated, so any reserved bit is a protocol error.

/// Close status codes the gateway sends (RFC 6455 §7.4.1).
pub mod close_code {
    /// The purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (here: the connection sat idle too long).
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message was not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// A frame or message was larger than the gateway accepts.
    pub const TOO_BIG: u16 = 1009;
    /// The server could not go on (here: the transport function failed).
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Largest control-frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest frame head: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEAD: usize = 14;

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// `0x0`: the next fragment of a message.
    Continuation,
    /// `0x1`: a UTF-8 text message (or its first fragment).
    Text,
    /// `0x2`: a binary message (or its first fragment).
    Binary,
    /// `0x8`
    Close,
    /// `0x9`
    Ping,
    /// `0xA`
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// The peer broke the protocol: close the connection with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The close code to send (1002, 1007 or 1009).
    pub code: u16,
    /// Why, for the close frame's reason and the log.
    pub reason: &'static str,
}

const fn violation(code: u16, reason: &'static str) -> Violation {
    Violation { code, reason }
}

/// One thing the client said.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole text message, checked to be UTF-8.
    Text(&'a [u8]),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong (unsolicited or not): nothing to do.
    Pong,
    /// A close frame: its status code (none when the payload was empty) and reason.
    Close {
        /// The status code, if the frame had one.
        code: Option<u16>,
        /// The reason text (UTF-8).
        reason: &'a [u8],
    },
}

/// What the buffered bytes hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// An event; its frames have been consumed.
    Event(Event<'a>),
    /// A frame is incomplete: it needs this many bytes buffered in all (from the current
    /// position) before it can be decoded. Every fragment consumed so far is kept.
    NeedMore(usize),
}

/// The message being reassembled across frames, and the size limit.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// Opcode of the fragmented message in progress (`Text` or `Binary`).
    fragmented: Option<Opcode>,
    /// Its payload so far.
    message: Vec<u8>,
}

impl Decoder {
    /// A decoder refusing frames and messages over `max_message` bytes (close 1009).
    pub fn new(max_message: usize) -> Self {
        Decoder { max_message, fragmented: None, message: Vec::new() }
    }

    /// Decodes from `buffer[*position..]`, unmasking payloads in place and advancing `position`
    /// past every frame it consumes. Control frames in the middle of a fragmented message come
    /// out as they arrive (RFC 6455 §5.4); data frames are held until the message is whole.
    pub fn next<'a>(&'a mut self, buffer: &'a mut [u8], position: &mut usize) -> Result<Decoded<'a>, Violation> {
        loop {
            let available = &buffer[*position..];
            let head = match parse_head(available)? {
                Head::Partial(need) => return Ok(Decoded::NeedMore(need)),
                Head::Frame(head) => head,
            };
            let limit = if head.opcode.is_control() { MAX_CONTROL_PAYLOAD as u64 } else { self.max_message as u64 };
            let so_far = if head.opcode == Opcode::Continuation { self.message.len() as u64 } else { 0 };
            if head.payload_length.saturating_add(so_far) > limit {
                return Err(violation(close_code::TOO_BIG, "message too big"));
            }
            self.check_sequence(&head)?;
            let total = head.head_length + head.payload_length as usize;
            if available.len() < total {
                return Ok(Decoded::NeedMore(total));
            }
            let start = *position + head.head_length;
            let end = *position + total;
            *position = end;
            unmask(&mut buffer[start..end], head.mask);
            let payload = &buffer[start..end];
            match head.opcode {
                Opcode::Ping => return Ok(Decoded::Event(Event::Ping(&buffer[start..end]))),
                Opcode::Pong => return Ok(Decoded::Event(Event::Pong)),
                Opcode::Close => return close_event(&buffer[start..end]).map(Decoded::Event),
                Opcode::Text | Opcode::Binary if head.fin => {
                    return data_event(head.opcode, &buffer[start..end]).map(Decoded::Event);
                }
                Opcode::Text | Opcode::Binary => {
                    self.fragmented = Some(head.opcode);
                    self.message.clear();
                    self.message.extend_from_slice(payload);
                }
                Opcode::Continuation => {
                    self.message.extend_from_slice(payload);
                    if head.fin {
                        let opcode = self.fragmented.take().unwrap_or(Opcode::Binary);
                        return data_event(opcode, &self.message).map(Decoded::Event);
                    }
                }
            }
        }
    }

    /// RFC 6455 §5.4: a continuation needs a message in progress, and a new data frame may not
    /// start while one is.
    fn check_sequence(&self, head: &FrameHead) -> Result<(), Violation> {
        match head.opcode {
            Opcode::Continuation if self.fragmented.is_none() => {
                Err(violation(close_code::PROTOCOL_ERROR, "continuation frame without a message"))
            }
            Opcode::Text | Opcode::Binary if self.fragmented.is_some() => {
                Err(violation(close_code::PROTOCOL_ERROR, "new message inside a fragmented one"))
            }
            _ => Ok(()),
        }
    }

    /// Gives back the memory of a large reassembled message once it has been used.
    pub fn shrink(&mut self) {
        if self.fragmented.is_none() && self.message.capacity() > 64 * 1024 {
            self.message = Vec::new();
        }
    }
}

fn data_event(opcode: Opcode, payload: &[u8]) -> Result<Event<'_>, Violation> {
    if opcode == Opcode::Text {
        // RFC 6455 §8.1: text that is not UTF-8 fails the connection with 1007.
        std::str::from_utf8(payload).map_err(|_| violation(close_code::INVALID_DATA, "text is not UTF-8"))?;
        return Ok(Event::Text(payload));
    }
    Ok(Event::Binary(payload))
}

/// RFC 6455 §5.5.1 and §7.4: a close payload is empty, or a valid code and UTF-8 text.
fn close_event(payload: &[u8]) -> Result<Event<'_>, Violation> {
    match payload {
        [] => Ok(Event::Close { code: None, reason: b"" }),
        [_] => Err(violation(close_code::PROTOCOL_ERROR, "close frame of 1 byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            // Codes a peer may send: the defined ones (1004-1006 and 1015 are reserved for
            // reporting, never for the wire) and the registered and private ranges.
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(violation(close_code::PROTOCOL_ERROR, "invalid close code"));
            }
            std::str::from_utf8(reason)
                .map_err(|_| violation(close_code::INVALID_DATA, "close reason is not UTF-8"))?;
            Ok(Event::Close { code: Some(code), reason })
        }
    }
}

/// A parsed frame head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHead {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    head_length: usize,
    payload_length: u64,
}

#[derive(Debug)]
enum Head {
    Frame(FrameHead),
    Partial(usize),
}

/// Parses a client frame's head: FIN, no reserved bits, a known opcode, a mask (clients must
/// mask, §5.1), and control frames unfragmented and at most 125 bytes (§5.5).
fn parse_head(bytes: &[u8]) -> Result<Head, Violation> {
    let [first, second, ..] = *bytes else { return Ok(Head::Partial(2)) };
    let fin = first & 0x80 != 0;
    if first & 0x70 != 0 {
        return Err(violation(close_code::PROTOCOL_ERROR, "reserved bits set"));
    }
    let opcode = Opcode::from_bits(first & 0x0f).ok_or(violation(close_code::PROTOCOL_ERROR, "unknown opcode"))?;
    if second & 0x80 == 0 {
        return Err(violation(close_code::PROTOCOL_ERROR, "client frame not masked"));
    }
    let (length_bytes, short) = match second & 0x7f {
        126 => (2, None),
        127 => (8, None),
        short => (0, Some(short as u64)),
    };
    if opcode.is_control() && (!fin || short.is_none_or(|length| length > MAX_CONTROL_PAYLOAD as u64)) {
        return Err(violation(close_code::PROTOCOL_ERROR, "fragmented or oversized control frame"));
    }
    let head_length = 2 + length_bytes + 4;
    if bytes.len() < head_length {
        return Ok(Head::Partial(head_length));
    }
    let payload_length = match short {
        Some(length) => length,
        None => {
            let mut value = 0u64;
            for &byte in &bytes[2..2 + length_bytes] {
                value = value << 8 | u64::from(byte);
            }
            // §5.2: the most significant bit of a 64-bit length must be 0.
            if value >> 63 != 0 {
                return Err(violation(close_code::PROTOCOL_ERROR, "payload length out of range"));
            }
            value
        }
    };
    let mask_start = 2 + length_bytes;
    let mask = [bytes[mask_start], bytes[mask_start + 1], bytes[mask_start + 2], bytes[mask_start + 3]];
    Ok(Head::Frame(FrameHead { fin, opcode, mask, head_length, payload_length }))
}

/// XORs `payload` with the 4-byte `mask` (RFC 6455 §5.3), eight bytes at a time.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let (chunks, remainder) = payload.as_chunks_mut::<8>();
    for chunk in chunks {
        *chunk = (u64::from_ne_bytes(*chunk) ^ wide).to_ne_bytes();
    }
    for (index, byte) in remainder.iter_mut().enumerate() {
        *byte ^= mask[index % 4];
    }
}

/// Appends the head of an unmasked, final server frame (RFC 6455 §5.2: the shortest length form).
pub fn write_head(out: &mut Vec<u8>, opcode: Opcode, length: usize) {
    out.push(0x80 | opcode.bits());
    match length {
        0..=125 => out.push(length as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(length as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
}

/// Appends a whole unmasked server frame.
pub fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    write_head(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` (none: an empty payload) and a reason, cut to fit the 125
/// bytes of a control frame on a character boundary.
pub fn write_close(out: &mut Vec<u8>, code: Option<u16>, reason: &str) {
    let Some(code) = code else {
        return write_head(out, Opcode::Close, 0);
    };
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    write_head(out, Opcode::Close, 2 + end);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame: `first` is the FIN/RSV/opcode byte as sent.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![first];
        match payload.len() {
            0..=125 => frame.push(0x80 | payload.len() as u8),
            126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        let mut masked = payload.to_vec();
        unmask(&mut masked, MASK);
        frame.extend_from_slice(&masked);
        frame
    }

    const TEXT: u8 = 0x81;
    const BINARY: u8 = 0x82;
    const TEXT_START: u8 = 0x01;
    const BINARY_START: u8 = 0x02;
    const MORE: u8 = 0x00;
    const LAST: u8 = 0x80;
    const CLOSE: u8 = 0x88;
    const PING: u8 = 0x89;
    const PONG: u8 = 0x8a;

    /// What a test expects an event to be, owned.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Text(Vec<u8>),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>, Vec<u8>),
        Fail(u16),
    }

    fn text(value: &str) -> Seen {
        Seen::Text(value.as_bytes().to_vec())
    }

    /// Decodes `frames` (delivered whole) with a 64-byte limit, until the bytes run out or a
    /// violation.
    fn decode(frames: &[Vec<u8>]) -> Vec<Seen> {
        let mut buffer: Vec<u8> = frames.concat();
        let mut decoder = Decoder::new(64);
        let mut position = 0;
        let mut seen = Vec::new();
        loop {
            match decoder.next(&mut buffer, &mut position) {
                Ok(Decoded::NeedMore(_)) => return seen,
                Ok(Decoded::Event(event)) => seen.push(match event {
                    Event::Text(data) => Seen::Text(data.to_vec()),
                    Event::Binary(data) => Seen::Binary(data.to_vec()),
                    Event::Ping(data) => Seen::Ping(data.to_vec()),
                    Event::Pong => Seen::Pong,
                    Event::Close { code, reason } => Seen::Close(code, reason.to_vec()),
                }),
                Err(violation) => {
                    seen.push(Seen::Fail(violation.code));
                    return seen;
                }
            }
        }
    }

    #[test]
    fn decodes_frames_and_messages() {
        let mut close_normal = 1000u16.to_be_bytes().to_vec();
        close_normal.extend_from_slice(b"bye");
        type Case = (&'static str, Vec<Vec<u8>>, Vec<Seen>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // RFC 6455 §5.7's examples, masked.
            ("single text", vec![client_frame(TEXT, b"Hello")], vec![text("Hello")]),
            ("binary", vec![client_frame(BINARY, &[0, 255, 7])], vec![Seen::Binary(vec![0, 255, 7])]),
            ("empty text", vec![client_frame(TEXT, b"")], vec![text("")]),
            ("two messages", vec![client_frame(TEXT, b"a"), client_frame(TEXT, b"b")], vec![text("a"), text("b")]),
            ("16-bit length", vec![client_frame(BINARY, &[9; 60]), client_frame(TEXT, b"x")], vec![Seen::Binary(vec![9; 60]), text("x")]),
            // §5.4: fragmentation, and control frames between fragments.
            ("fragmented text", vec![client_frame(TEXT_START, b"Hel"), client_frame(MORE, b"l"), client_frame(LAST, b"o")], vec![text("Hello")]),
            ("fragmented binary", vec![client_frame(BINARY_START, &[1]), client_frame(LAST, &[2])], vec![Seen::Binary(vec![1, 2])]),
            ("ping between fragments", vec![client_frame(TEXT_START, b"Hel"), client_frame(PING, b"p"), client_frame(LAST, b"lo")], vec![Seen::Ping(b"p".to_vec()), text("Hello")]),
            ("pong between fragments", vec![client_frame(TEXT_START, b"a"), client_frame(PONG, b""), client_frame(LAST, b"b")], vec![Seen::Pong, text("ab")]),
            ("close between fragments", vec![client_frame(TEXT_START, b"a"), client_frame(CLOSE, &close_normal)], vec![Seen::Close(Some(1000), b"bye".to_vec())]),
            ("UTF-8 split across fragments", vec![client_frame(TEXT_START, &"é".as_bytes()[..1]), client_frame(LAST, &"é".as_bytes()[1..])], vec![text("é")]),
            ("ping", vec![client_frame(PING, b"are you there")], vec![Seen::Ping(b"are you there".to_vec())]),
            ("empty close", vec![client_frame(CLOSE, b"")], vec![Seen::Close(None, vec![])]),
            ("close with code", vec![client_frame(CLOSE, &close_normal)], vec![Seen::Close(Some(1000), b"bye".to_vec())]),
            ("private close code", vec![client_frame(CLOSE, &4001u16.to_be_bytes())], vec![Seen::Close(Some(4001), vec![])]),
            // §5.2: bad opcodes and reserved bits -> 1002.
            ("reserved opcode 3", vec![client_frame(0x83, b"x")], vec![Seen::Fail(1002)]),
            ("reserved opcode 0xB", vec![client_frame(0x8b, b"")], vec![Seen::Fail(1002)]),
            ("RSV1", vec![client_frame(0xc1, b"x")], vec![Seen::Fail(1002)]),
            ("RSV2", vec![client_frame(0xa1, b"x")], vec![Seen::Fail(1002)]),
            ("RSV3", vec![client_frame(0x91, b"x")], vec![Seen::Fail(1002)]),
            // §5.1: a client frame must be masked.
            ("unmasked", vec![vec![TEXT, 0x01, b'x']], vec![Seen::Fail(1002)]),
            // §5.4: fragment sequencing.
            ("continuation first", vec![client_frame(LAST, b"x")], vec![Seen::Fail(1002)]),
            ("text inside fragments", vec![client_frame(TEXT_START, b"a"), client_frame(TEXT, b"b")], vec![Seen::Fail(1002)]),
            // §5.5: control frames are final and short.
            ("fragmented ping", vec![client_frame(0x09, b"x")], vec![Seen::Fail(1002)]),
            ("126-byte ping", vec![client_frame(PING, &[0; 126])], vec![Seen::Fail(1002)]),
            // §7.4: close codes and reasons.
            ("1-byte close", vec![client_frame(CLOSE, &[3])], vec![Seen::Fail(1002)]),
            ("close code 1005", vec![client_frame(CLOSE, &1005u16.to_be_bytes())], vec![Seen::Fail(1002)]),
            ("close code 999", vec![client_frame(CLOSE, &999u16.to_be_bytes())], vec![Seen::Fail(1002)]),
            ("close code 2000", vec![client_frame(CLOSE, &2000u16.to_be_bytes())], vec![Seen::Fail(1002)]),
            ("close reason not UTF-8", vec![client_frame(CLOSE, &[0x03, 0xe8, 0xff])], vec![Seen::Fail(1007)]),
            // §8.1: text must be UTF-8 -> 1007.
            ("invalid UTF-8", vec![client_frame(TEXT, &[0x66, 0xff])], vec![Seen::Fail(1007)]),
            ("invalid UTF-8 fragmented", vec![client_frame(TEXT_START, b"ok"), client_frame(LAST, &[0xc3])], vec![Seen::Fail(1007)]),
            // Over the limit (64 here) -> 1009, for one frame or a whole message.
            ("frame too big", vec![client_frame(BINARY, &[0; 65])], vec![Seen::Fail(1009)]),
            ("message too big", vec![client_frame(BINARY_START, &[0; 40]), client_frame(LAST, &[0; 25])], vec![Seen::Fail(1009)]),
            ("at the limit", vec![client_frame(BINARY_START, &[0; 40]), client_frame(LAST, &[0; 24])], vec![Seen::Binary(vec![0; 64])]),
        ];
        for (name, frames, expected) in cases {
            assert_eq!(decode(frames), *expected, "{name}");
        }
    }

    #[test]
    fn too_big_is_refused_from_the_head_alone() {
        // A 64-bit length announcing 1 GiB: refused before any payload arrives.
        let mut head = vec![BINARY, 0x80 | 127];
        head.extend_from_slice(&(1u64 << 30).to_be_bytes());
        head.extend_from_slice(&MASK);
        let mut position = 0;
        assert_eq!(Decoder::new(64).next(&mut head, &mut position).unwrap_err().code, 1009);
        // §5.2: a 64-bit length with its top bit set is a protocol error.
        let mut huge = vec![BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(Decoder::new(64).next(&mut huge, &mut 0).unwrap_err().code, 1002);
    }

    #[test]
    fn partial_input_asks_for_the_whole_frame() {
        let frame = client_frame(BINARY, &[7; 60]);
        let mut decoder = Decoder::new(1024);
        for cut in 0..frame.len() {
            let mut prefix = frame[..cut].to_vec();
            let mut position = 0;
            let need = match decoder.next(&mut prefix, &mut position).unwrap() {
                Decoded::NeedMore(need) => need,
                other => panic!("cut {cut}: {other:?}"),
            };
            assert!(need > cut && need <= frame.len(), "cut {cut}: need {need}");
            assert_eq!(position, 0);
        }
        let mut whole = frame.clone();
        let mut position = 0;
        assert_eq!(decoder.next(&mut whole, &mut position).unwrap(), Decoded::Event(Event::Binary(&[7; 60])));
        assert_eq!(position, frame.len());
    }

    #[test]
    fn fragments_survive_between_reads() {
        let mut decoder = Decoder::new(1024);
        let mut first = client_frame(TEXT_START, b"Hel");
        let mut position = 0;
        assert_eq!(decoder.next(&mut first, &mut position).unwrap(), Decoded::NeedMore(2));
        assert_eq!(position, first.len());
        let mut second = client_frame(LAST, b"lo");
        let mut position = 0;
        assert_eq!(decoder.next(&mut second, &mut position).unwrap(), Decoded::Event(Event::Text(b"Hello")));
    }

    #[test]
    fn unmask_matches_bytewise_xor() {
        for length in 0..40 {
            let data: Vec<u8> = (0..length as u8).map(|byte| byte.wrapping_mul(31)).collect();
            let mut fast = data.clone();
            unmask(&mut fast, MASK);
            let slow: Vec<u8> = data.iter().enumerate().map(|(index, byte)| byte ^ MASK[index % 4]).collect();
            assert_eq!(fast, slow, "length {length}");
        }
    }

    #[test]
    fn server_frames() {
        #[rustfmt::skip]
        let cases: &[(Opcode, usize, &[u8])] = &[
            (Opcode::Text, 5, &[0x81, 5]),
            (Opcode::Binary, 125, &[0x82, 125]),
            (Opcode::Binary, 126, &[0x82, 126, 0, 126]),
            (Opcode::Text, 65535, &[0x81, 126, 0xff, 0xff]),
            (Opcode::Text, 65536, &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (Opcode::Pong, 0, &[0x8a, 0]),
        ];
        for (opcode, length, expected) in cases {
            let mut out = Vec::new();
            write_head(&mut out, *opcode, *length);
            assert_eq!(out, *expected, "{opcode:?} {length}");
        }
        let mut out = Vec::new();
        write_close(&mut out, Some(1009), "too big");
        assert_eq!(out, [&[0x88, 9, 0x03, 0xf1][..], b"too big"].concat());
        let mut out = Vec::new();
        write_close(&mut out, None, "ignored");
        assert_eq!(out, [0x88, 0]);
        // A long reason is cut to fit 125 bytes, on a character boundary.
        let mut out = Vec::new();
        write_close(&mut out, Some(1000), &"é".repeat(100));
        assert_eq!(out[1], 124);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
