//! Percent-decoding of URL components (RFC 3986 §2.1), into a reused buffer: the event's path
//! and query values, the parameters policies check, the admin API's path segments and query.

use super::body::hex_value;

/// Percent-decodes `input` into `out` (cleared first). With `plus_as_space`, `+` becomes a space,
/// as in `application/x-www-form-urlencoded` query strings. Malformed escapes are kept literally.
pub fn decode_into(out: &mut Vec<u8>, input: &[u8], plus_as_space: bool) {
    out.clear();
    let mut index = 0;
    while index < input.len() {
        let byte = input[index];
        if byte == b'%' && index + 2 < input.len() {
            if let (Some(high), Some(low)) = (hex_value(input[index + 1]), hex_value(input[index + 2])) {
                out.push(high << 4 | low);
                index += 3;
                continue;
            }
        }
        out.push(if plus_as_space && byte == b'+' { b' ' } else { byte });
        index += 1;
    }
}

/// Whether `input` has anything [`decode_into`] would change.
pub fn needs_decoding(input: &[u8], plus_as_space: bool) -> bool {
    memchr::memchr(b'%', input).is_some() || (plus_as_space && memchr::memchr(b'+', input).is_some())
}

/// [`decode_into`] for text: invalid UTF-8 is replaced (the admin API's paths and queries).
pub fn decode_text(text: &str, plus_as_space: bool) -> String {
    let mut out = Vec::with_capacity(text.len());
    decode_into(&mut out, text.as_bytes(), plus_as_space);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        let cases: &[(&[u8], bool, &[u8])] = &[
            (b"a%20b", false, b"a b"),
            (b"a+b", true, b"a b"),
            (b"a+b", false, b"a+b"),
            (b"%E4%B8%AD", false, "中".as_bytes()),
            (b"100%", false, b"100%"),
            (b"%zz%4", false, b"%zz%4"),
        ];
        for (input, plus, expected) in cases {
            let mut out = Vec::new();
            decode_into(&mut out, input, *plus);
            assert_eq!(&out, expected, "{}", String::from_utf8_lossy(input));
        }
    }
}
