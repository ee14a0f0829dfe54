//! TC3-HMAC-SHA256, Tencent Cloud API 3.0's request signature ("签名方法 v3"): a pure function of
//! the credentials, the signed headers, the timestamp and the payload. It owns no I/O and no clock.
//!
//! The steps, as Tencent documents them:
//! 1. CanonicalRequest = `POST\n/\n\n` + the signed headers as `name:value\n` (lower-case names,
//!    sorted) + `\n` + their names joined by `;` + `\n` + hex(SHA-256(payload)).
//! 2. StringToSign = `TC3-HMAC-SHA256\n<timestamp>\n<date>/<service>/tc3_request\n` +
//!    hex(SHA-256(CanonicalRequest)), where `date` is the timestamp's UTC day, `YYYY-MM-DD`.
//! 3. SecretSigning = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request");
//!    Signature = hex(HMAC(SecretSigning, StringToSign)).
//! 4. Authorization = `TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request,
//!    SignedHeaders=<names>, Signature=<signature>`.

use ring::{digest, hmac};

/// The body's media type; signed, so it must be sent byte for byte as written here.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// What one request signs besides the credentials.
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a> {
    /// The product, e.g. `scf` (the first label of its API host).
    pub service: &'a str,
    /// The `Host` header as sent.
    pub host: &'a str,
    /// `X-TC-Action` when it is signed too (`content-type;host;x-tc-action`); `None` signs only
    /// `content-type;host`, the two Tencent requires.
    pub action: Option<&'a str>,
    /// `X-TC-Timestamp`, Unix seconds.
    pub timestamp: u64,
    /// The request body.
    pub payload: &'a [u8],
}

impl SigningInput<'_> {
    /// `SignedHeaders`.
    pub fn signed_headers(&self) -> &'static str {
        match self.action {
            Some(_) => "content-type;host;x-tc-action",
            None => "content-type;host",
        }
    }

    /// Step 1: appends the CanonicalRequest to `out`.
    pub fn write_canonical_request(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"POST\n/\n\ncontent-type:");
        out.extend_from_slice(CONTENT_TYPE.as_bytes());
        out.extend_from_slice(b"\nhost:");
        out.extend(self.host.bytes().map(|byte| byte.to_ascii_lowercase()));
        out.push(b'\n');
        if let Some(action) = self.action {
            out.extend_from_slice(b"x-tc-action:");
            out.extend(action.bytes().map(|byte| byte.to_ascii_lowercase()));
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(self.signed_headers().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&hex(&sha256(self.payload)));
    }

    /// Step 2: appends the StringToSign for a CanonicalRequest to `out`.
    pub fn write_string_to_sign(&self, canonical_request: &[u8], out: &mut Vec<u8>) {
        self.write_string_to_sign_for_hash(&hex(&sha256(canonical_request)), out);
    }

    /// Step 2, given the CanonicalRequest's hex SHA-256.
    fn write_string_to_sign_for_hash(&self, hashed_canonical_request: &[u8; 64], out: &mut Vec<u8>) {
        out.extend_from_slice(ALGORITHM.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.timestamp.to_string().as_bytes());
        out.push(b'\n');
        self.write_credential_scope(out);
        out.push(b'\n');
        out.extend_from_slice(hashed_canonical_request);
    }

    /// `<date>/<service>/tc3_request`.
    fn write_credential_scope(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&utc_date(self.timestamp));
        out.push(b'/');
        out.extend_from_slice(self.service.as_bytes());
        out.extend_from_slice(b"/tc3_request");
    }
}

/// Steps 1 to 4: appends the `Authorization` value to `out`. `tc3_secret_key` is `"TC3" +
/// SecretKey`; `scratch` holds the intermediate strings.
pub fn write_authorization(
    secret_id: &str,
    tc3_secret_key: &[u8],
    input: &SigningInput<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let signature = sign(tc3_secret_key, input, scratch);
    write_authorization_value(secret_id, input, &signature, out);
}

/// Steps 1 to 3: the hex signature. `scratch` is cleared and left holding the CanonicalRequest
/// and the StringToSign, so that a caller may reuse one buffer for them and for what it writes next.
pub fn sign(tc3_secret_key: &[u8], input: &SigningInput<'_>, scratch: &mut Vec<u8>) -> [u8; 64] {
    scratch.clear();
    input.write_canonical_request(scratch);
    let canonical_end = scratch.len();
    // The StringToSign goes after the CanonicalRequest in the same buffer.
    let hashed_canonical_request = hex(&sha256(&scratch[..canonical_end]));
    input.write_string_to_sign_for_hash(&hashed_canonical_request, scratch);
    signature(tc3_secret_key, input, &scratch[canonical_end..])
}

/// Step 4: appends the `Authorization` value for a signature to `out`.
pub fn write_authorization_value(secret_id: &str, input: &SigningInput<'_>, signature: &[u8; 64], out: &mut Vec<u8>) {
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.extend_from_slice(b" Credential=");
    out.extend_from_slice(secret_id.as_bytes());
    out.push(b'/');
    input.write_credential_scope(out);
    out.extend_from_slice(b", SignedHeaders=");
    out.extend_from_slice(input.signed_headers().as_bytes());
    out.extend_from_slice(b", Signature=");
    out.extend_from_slice(signature);
}

/// Step 3: the hex signature of `string_to_sign`.
pub fn signature(tc3_secret_key: &[u8], input: &SigningInput<'_>, string_to_sign: &[u8]) -> [u8; 64] {
    let secret_date = hmac_sha256(tc3_secret_key, &utc_date(input.timestamp));
    let secret_service = hmac_sha256(&secret_date, input.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    hex(&hmac_sha256(&secret_signing, string_to_sign))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    tag.as_ref().try_into().expect("HMAC-SHA256 is 32 bytes")
}

fn sha256(data: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, data).as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// Lower-case hex of a 32-byte digest.
fn hex(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (index, byte) in bytes.iter().take(32).enumerate() {
        out[index * 2] = DIGITS[(byte >> 4) as usize];
        out[index * 2 + 1] = DIGITS[(byte & 0xf) as usize];
    }
    out
}

/// The UTC day of a Unix timestamp as `YYYY-MM-DD`. Tencent stresses UTC: a local date fails
/// around midnight.
pub fn utc_date(timestamp: u64) -> [u8; 10] {
    let (year, month, day) = crate::calendar::civil_from_days((timestamp / 86_400) as i64);
    let mut out = *b"0000-00-00";
    let year = year.clamp(0, 9999) as u32;
    for (index, divisor) in [1000, 100, 10, 1].into_iter().enumerate() {
        out[index] = b'0' + (year / divisor % 10) as u8;
    }
    out[5] = b'0' + (month / 10) as u8;
    out[6] = b'0' + (month % 10) as u8;
    out[8] = b'0' + (day / 10) as u8;
    out[9] = b'0' + (day % 10) as u8;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent's worked example in "Signature v3" (签名方法 v3, API 3.0 docs, English edition as
    /// published with the `\u672a\u547d\u540d` payload): CVM DescribeInstances in ap-guangzhou at
    /// 1551113065. The page spells the SecretKey out in step 3 as `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`
    /// and documents the hashed payload, the CanonicalRequest, its hash, the StringToSign and the
    /// signature below; these inputs give exactly those outputs.
    const DOC_PAYLOAD: &[u8] =
        br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const DOC_HASHED_PAYLOAD: &str = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064";
    const DOC_CANONICAL_REQUEST: &str = "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064";
    const DOC_STRING_TO_SIGN: &str =
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031";

    fn doc_input(action: Option<&'static str>) -> SigningInput<'static> {
        SigningInput {
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            action,
            timestamp: 1_551_113_065,
            payload: DOC_PAYLOAD,
        }
    }

    #[test]
    fn tencents_documented_example_step_by_step() {
        let input = doc_input(None);
        assert_eq!(std::str::from_utf8(&hex(&sha256(DOC_PAYLOAD))).unwrap(), DOC_HASHED_PAYLOAD);
        let mut canonical = Vec::new();
        input.write_canonical_request(&mut canonical);
        assert_eq!(String::from_utf8(canonical.clone()).unwrap(), DOC_CANONICAL_REQUEST);
        let mut string_to_sign = Vec::new();
        input.write_string_to_sign(&canonical, &mut string_to_sign);
        assert_eq!(String::from_utf8(string_to_sign.clone()).unwrap(), DOC_STRING_TO_SIGN);
        let signature = signature(b"TC3Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", &input, &string_to_sign);
        assert_eq!(&signature[..], b"72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
    }

    #[test]
    fn documented_authorization_values() {
        // (SecretId, SecretKey, x-tc-action signed, the Authorization value published for it).
        // Row 1 is the page above. Rows 2 and 3 are the values earlier and later editions of the
        // page show with the key masked: they are what the algorithm gives when the mask itself
        // (`*******`, or 32 `*`) is taken as the key, the later one also signing `x-tc-action`.
        #[rustfmt::skip]
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("AKID**********************0123456789EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", None,
             "TC3-HMAC-SHA256 Credential=AKID**********************0123456789EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"),
            ("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******", None,
             "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"),
            ("AKID********************************", "********************************", Some("DescribeInstances"),
             "TC3-HMAC-SHA256 Credential=AKID********************************/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"),
        ];
        for (secret_id, secret_key, action, expected) in cases {
            let tc3_key = format!("TC3{secret_key}");
            let (mut scratch, mut out) = (Vec::new(), Vec::new());
            write_authorization(secret_id, tc3_key.as_bytes(), &doc_input(*action), &mut scratch, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), *expected, "key {secret_key}");
        }
        // With x-tc-action, the lower-cased action joins the canonical headers.
        let mut canonical = Vec::new();
        doc_input(Some("DescribeInstances")).write_canonical_request(&mut canonical);
        assert!(String::from_utf8(canonical).unwrap().contains(
            "host:cvm.tencentcloudapi.com\nx-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n"
        ));
    }

    #[test]
    fn primitives_match_published_vectors() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(&hex(&sha256(b"abc"))[..], b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        // RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe".
        assert_eq!(
            &hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?"))[..],
            b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn utc_dates() {
        #[rustfmt::skip]
        let cases: &[(u64, &[u8; 10])] = &[
            (0, b"1970-01-01"),
            // The documented timestamp is 2019-02-26 00:44:25 in UTC+8 and still 2019-02-25 in UTC.
            (1_551_113_065, b"2019-02-25"),
            (951_782_400, b"2000-02-29"),
            (951_868_799, b"2000-02-29"),
            (951_868_800, b"2000-03-01"),
            (4_102_444_799, b"2099-12-31"),
        ];
        for (timestamp, date) in cases {
            assert_eq!(&utc_date(*timestamp), *date, "{timestamp}");
        }
    }
}
