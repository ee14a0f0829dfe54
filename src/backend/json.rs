//! Minimal JSON writing helpers for hand-built documents (the SCF event, error bodies): string
//! escaping straight into a reused buffer.

/// Bytes that must be escaped inside a JSON string: `"`, `\` and the C0 controls.
const fn needs_escape_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
}
static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

/// Appends `bytes` as the contents of a JSON string (no surrounding quotes). Invalid UTF-8 is
/// replaced with U+FFFD: JSON text must be UTF-8, and a header value may carry any octet.
pub fn write_string_contents(out: &mut Vec<u8>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => write_escaped_utf8(out, text.as_bytes()),
        // Rare (obs-text in a header); the allocation is accepted on this path only.
        Err(_) => write_escaped_utf8(out, String::from_utf8_lossy(bytes).as_bytes()),
    }
}

/// Appends `"<escaped bytes>"`.
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    write_string_contents(out, bytes);
    out.push(b'"');
}

fn write_escaped_utf8(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[byte as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..index]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(control >> 4) as usize]);
                out.push(HEX[(control & 0xf) as usize]);
            }
        }
        run_start = index + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"quote\" back\\slash", "quote\\\" back\\\\slash"),
            (b"line\nfeed\ttab\x01", "line\\nfeed\\ttab\\u0001"),
            ("中文/é".as_bytes(), "中文/é"),
            (b"bad\xffbyte", "bad\u{fffd}byte"),
        ];
        for (input, expected) in cases {
            let mut out = Vec::new();
            write_string_contents(&mut out, input);
            assert_eq!(String::from_utf8(out).unwrap(), *expected);
        }
    }

    #[test]
    fn escaped_strings_round_trip_through_serde_json() {
        let input = "a\"b\\c\n\u{1}\u{1f}é中";
        let mut out = Vec::new();
        write_string(&mut out, input.as_bytes());
        let parsed: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, input);
    }
}
