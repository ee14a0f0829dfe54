//! A small JSON scanner over a borrowed reply: validates values and walks objects without building
//! a document, so mapping a function's reply allocates nothing. Strings are handed out raw (still
//! escaped) with [`unescape_into`] to write their text straight into the response.
//!
//! It accepts exactly RFC 8259 JSON (UTF-8 checked once up front by the caller), nested at most
//! [`MAX_DEPTH`] deep.

/// Deepest nesting accepted (a guard against stack exhaustion on hostile input).
pub const MAX_DEPTH: usize = 128;

/// A cursor over JSON text.
pub struct Scanner<'a> {
    bytes: &'a [u8],
    position: usize,
}

/// A scanned string: its raw bytes between the quotes, and whether it has escapes.
#[derive(Debug, Clone, Copy)]
pub struct RawString<'a> {
    /// Bytes between the quotes, escapes not yet resolved.
    pub raw: &'a [u8],
    /// Whether `raw` contains a backslash.
    pub escaped: bool,
}

/// The kind of the next value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// `-` or a digit
    Number,
    /// `true` / `false`
    Bool,
    /// `null`
    Null,
}

/// The input is not valid JSON (or not the expected shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl<'a> Scanner<'a> {
    /// A scanner at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Scanner { bytes, position: 0 }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.position) {
            self.position += 1;
        }
    }

    /// A scanner over `bytes` resuming at `position` (from [`position`](Self::position)).
    pub fn at(bytes: &'a [u8], position: usize) -> Self {
        Scanner { bytes, position }
    }

    /// Where the scanner is (after whitespace), to resume there later.
    pub fn position(&mut self) -> usize {
        self.skip_whitespace();
        self.position
    }

    /// The kind of the next value, after whitespace.
    pub fn peek_kind(&mut self) -> Result<Kind, Invalid> {
        self.skip_whitespace();
        Ok(match self.bytes.get(self.position).ok_or(Invalid)? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b'-' | b'0'..=b'9' => Kind::Number,
            b't' | b'f' => Kind::Bool,
            b'n' => Kind::Null,
            _ => return Err(Invalid),
        })
    }

    fn expect(&mut self, byte: u8) -> Result<(), Invalid> {
        self.skip_whitespace();
        if self.bytes.get(self.position) == Some(&byte) {
            self.position += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// After the last value: only whitespace may follow.
    pub fn finish(&mut self) -> Result<(), Invalid> {
        self.skip_whitespace();
        if self.position == self.bytes.len() {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Starts an object: consumes `{`.
    pub fn begin_object(&mut self) -> Result<(), Invalid> {
        self.expect(b'{')
    }

    /// The next key of an object begun with [`begin_object`](Self::begin_object), or `None` at
    /// its end. `first` is true for the first call on this object.
    pub fn next_key(&mut self, first: bool) -> Result<Option<RawString<'a>>, Invalid> {
        self.skip_whitespace();
        if self.bytes.get(self.position) == Some(&b'}') {
            self.position += 1;
            return Ok(None);
        }
        if !first {
            self.expect(b',')?;
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Starts an array: consumes `[`.
    pub fn begin_array(&mut self) -> Result<(), Invalid> {
        self.expect(b'[')
    }

    /// Whether another element follows in an array (consuming `,` or `]`).
    pub fn next_element(&mut self, first: bool) -> Result<bool, Invalid> {
        self.skip_whitespace();
        if self.bytes.get(self.position) == Some(&b']') {
            self.position += 1;
            return Ok(false);
        }
        if !first {
            self.expect(b',')?;
        }
        Ok(true)
    }

    /// A string value.
    pub fn string(&mut self) -> Result<RawString<'a>, Invalid> {
        self.expect(b'"')?;
        let start = self.position;
        let mut escaped = false;
        loop {
            let offset = memchr::memchr2(b'"', b'\\', &self.bytes[self.position..]).ok_or(Invalid)?;
            let run = &self.bytes[self.position..self.position + offset];
            if run.iter().any(|&byte| byte < 0x20) {
                return Err(Invalid);
            }
            self.position += offset;
            if self.bytes[self.position] == b'"' {
                // A lone surrogate escape is valid JSON grammar (RFC 8259 §8.2); it only fails
                // when the text is decoded, in `unescape_with`.
                let raw = RawString { raw: &self.bytes[start..self.position], escaped };
                self.position += 1;
                return Ok(raw);
            }
            escaped = true;
            match self.bytes.get(self.position + 1).ok_or(Invalid)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.position += 2,
                b'u' => {
                    let digits = self.bytes.get(self.position + 2..self.position + 6).ok_or(Invalid)?;
                    if !digits.iter().all(u8::is_ascii_hexdigit) {
                        return Err(Invalid);
                    }
                    self.position += 6;
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// A number value, as its text.
    pub fn number(&mut self) -> Result<&'a [u8], Invalid> {
        self.skip_whitespace();
        let start = self.position;
        let bytes = self.bytes;
        let digits = |position: &mut usize| {
            let begin = *position;
            while bytes.get(*position).is_some_and(u8::is_ascii_digit) {
                *position += 1;
            }
            *position > begin
        };
        let mut position = start;
        if bytes.get(position) == Some(&b'-') {
            position += 1;
        }
        if bytes.get(position) == Some(&b'0') {
            position += 1;
        } else if !digits(&mut position) {
            return Err(Invalid);
        }
        if bytes.get(position) == Some(&b'.') {
            position += 1;
            if !digits(&mut position) {
                return Err(Invalid);
            }
        }
        if let Some(b'e' | b'E') = bytes.get(position) {
            position += 1;
            if let Some(b'+' | b'-') = bytes.get(position) {
                position += 1;
            }
            if !digits(&mut position) {
                return Err(Invalid);
            }
        }
        self.position = position;
        Ok(&bytes[start..position])
    }

    /// `true` or `false`.
    pub fn boolean(&mut self) -> Result<bool, Invalid> {
        self.skip_whitespace();
        let rest = &self.bytes[self.position..];
        if rest.starts_with(b"true") {
            self.position += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.position += 5;
            Ok(false)
        } else {
            Err(Invalid)
        }
    }

    /// `null`.
    pub fn null(&mut self) -> Result<(), Invalid> {
        self.skip_whitespace();
        if self.bytes[self.position..].starts_with(b"null") {
            self.position += 4;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Validates and skips any value.
    pub fn skip_value(&mut self) -> Result<(), Invalid> {
        self.skip_value_at(0)
    }

    fn skip_value_at(&mut self, depth: usize) -> Result<(), Invalid> {
        if depth >= MAX_DEPTH {
            return Err(Invalid);
        }
        match self.peek_kind()? {
            Kind::Object => {
                self.begin_object()?;
                let mut first = true;
                while self.next_key(first)?.is_some() {
                    self.skip_value_at(depth + 1)?;
                    first = false;
                }
                Ok(())
            }
            Kind::Array => {
                self.begin_array()?;
                let mut first = true;
                while self.next_element(first)? {
                    self.skip_value_at(depth + 1)?;
                    first = false;
                }
                Ok(())
            }
            Kind::String => self.string().map(drop),
            Kind::Number => self.number().map(drop),
            Kind::Bool => self.boolean().map(drop),
            Kind::Null => self.null(),
        }
    }
}

/// Whether `bytes` is one valid JSON value (with surrounding whitespace).
pub fn is_valid_json(bytes: &[u8]) -> bool {
    if std::str::from_utf8(bytes).is_err() {
        return false;
    }
    let mut scanner = Scanner::new(bytes);
    scanner.skip_value().is_ok() && scanner.finish().is_ok()
}

/// Resolves the escapes of a scanned string, feeding each byte of its text to `sink`.
/// Fails on an unpaired surrogate.
pub fn unescape_with(raw: RawString<'_>, mut sink: impl FnMut(&[u8])) -> Result<(), Invalid> {
    if !raw.escaped {
        sink(raw.raw);
        return Ok(());
    }
    let bytes = raw.raw;
    let mut position = 0;
    while position < bytes.len() {
        let next = memchr::memchr(b'\\', &bytes[position..]).map_or(bytes.len(), |offset| position + offset);
        sink(&bytes[position..next]);
        if next == bytes.len() {
            break;
        }
        let escape = bytes[next + 1];
        position = next + 2;
        let simple: &[u8] = match escape {
            b'"' => b"\"",
            b'\\' => b"\\",
            b'/' => b"/",
            b'b' => b"\x08",
            b'f' => b"\x0c",
            b'n' => b"\n",
            b'r' => b"\r",
            b't' => b"\t",
            _ => &[],
        };
        if escape != b'u' {
            sink(simple);
            continue;
        }
        let mut code = hex4(&bytes[next + 2..next + 6]);
        position = next + 6;
        if (0xd800..0xdc00).contains(&code) {
            // A high surrogate must be followed by an escaped low one.
            if bytes.get(position) != Some(&b'\\') || bytes.get(position + 1) != Some(&b'u') {
                return Err(Invalid);
            }
            let low = hex4(bytes.get(position + 2..position + 6).ok_or(Invalid)?);
            if !(0xdc00..0xe000).contains(&low) {
                return Err(Invalid);
            }
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            position += 6;
        } else if (0xdc00..0xe000).contains(&code) {
            return Err(Invalid);
        }
        let character = char::from_u32(code).ok_or(Invalid)?;
        let mut encoded = [0u8; 4];
        sink(character.encode_utf8(&mut encoded).as_bytes());
    }
    Ok(())
}

fn hex4(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |value, &digit| value * 16 + (digit as char).to_digit(16).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_serde_json() {
        let cases: &[&str] = &[
            "{}",
            "[]",
            "0",
            "-0.5e+10",
            "\"a\\u00e9\\n\"",
            "{\"a\":[1,2,{\"b\":null}],\"c\":true}",
            " 1 ",
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "01",
            "1.",
            "\"\\x\"",
            "\"a\nb\"",
            "tru",
            "{\"a\":1,}",
            "1 2",
            "nul",
            "[[[[[[[[[[]]]]]]]]]]",
            "\"\\ud800\"",
            "{\"a\":1}x",
        ];
        for case in cases {
            let expected = serde_json::from_str::<serde::de::IgnoredAny>(case).is_ok();
            assert_eq!(is_valid_json(case.as_bytes()), expected, "{case:?}");
        }
    }

    #[test]
    fn unescapes_strings() {
        let cases: &[(&str, &str)] = &[
            (r#""plain""#, "plain"),
            (r#""a\"b\\c\/d\n""#, "a\"b\\c/d\n"),
            (r#""\u00e9\u4e2d""#, "é中"),
            (r#""\ud83d\ude00""#, "😀"),
        ];
        for (json, text) in cases {
            let raw = Scanner::new(json.as_bytes()).string().unwrap();
            let mut out = Vec::new();
            unescape_with(raw, |bytes| out.extend_from_slice(bytes)).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), *text);
        }
        let lone = Scanner::new(br#""\udc00""#).string().unwrap();
        assert_eq!(unescape_with(lone, |_| {}), Err(Invalid));
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(!is_valid_json(deep.as_bytes()));
    }
}
