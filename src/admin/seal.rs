//! Sealing the state kept in etcd: AES-256-GCM under a key the operator gives every node
//! (`--store-seal-key-file`), so whoever can read etcd (its backups, a shared cluster) cannot read
//! the key pairs, functions' environments and services the state holds. Each value is sealed
//! with a fresh random nonce and carries a marker, so a node tells a sealed value from a plain
//! one and refuses a sealed one it has no key for instead of misreading it.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// What a sealed value starts with (then the nonce, then the ciphertext and its tag).
const MARKER: &[u8] = b"scfgate-sealed-1\n";

/// The key every node of a cluster shares.
pub struct Seal {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Seal(..)")
    }
}

impl Seal {
    /// The key written in `text`: 64 hexadecimal digits (`openssl rand -hex 32`), surrounding
    /// whitespace ignored.
    pub fn from_hex(text: &str) -> Result<Seal, String> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err("must hold 64 hexadecimal digits (a 256-bit key: `openssl rand -hex 32`)".into());
        }
        let bytes: Vec<u8> =
            (0..32).map(|index| u8::from_str_radix(&text[2 * index..2 * index + 2], 16).unwrap_or(0)).collect();
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| "is not an AES-256 key".to_owned())?;
        Ok(Seal { key: LessSafeKey::new(key), random: SystemRandom::new() })
    }

    /// `plain`, sealed. `context` (the etcd key) is authenticated with it, so a sealed value
    /// copied under another key does not open.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| "no random numbers for a nonce".to_owned())?;
        let mut sealed = Vec::with_capacity(MARKER.len() + NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
        sealed.extend_from_slice(MARKER);
        sealed.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut body)
            .map_err(|_| "cannot seal the value".to_owned())?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// The plain value of `stored` (written under `context`).
    pub fn open(&self, context: &[u8], stored: &[u8]) -> Result<Vec<u8>, String> {
        let Some(rest) = stored.strip_prefix(MARKER) else {
            return Ok(stored.to_vec());
        };
        if rest.len() < NONCE_LEN {
            return Err("a sealed value too short to hold its nonce".into());
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "a bad nonce".to_owned())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| "cannot open a sealed value: another key sealed it, or it was altered".to_owned())?;
        Ok(plain.to_vec())
    }
}

/// Whether `stored` is sealed.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let seal = Seal::from_hex(KEY).unwrap();
        let sealed = seal.seal(b"/scfgate/state", b"{\"secret\":\"s3cr3t\"}").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(6).any(|window| window == b"s3cr3t"));
        assert_eq!(seal.open(b"/scfgate/state", &sealed).unwrap(), b"{\"secret\":\"s3cr3t\"}");
        assert!(seal.open(b"/scfgate/other", &sealed).is_err());
        let other = Seal::from_hex(&KEY.replace('0', "1")).unwrap();
        assert!(other.open(b"/scfgate/state", &sealed).is_err());
        // Two seals of one value differ (fresh nonces).
        assert_ne!(sealed, seal.seal(b"/scfgate/state", b"{\"secret\":\"s3cr3t\"}").unwrap());
        // A plain value reads as it is (a state written before sealing was turned on).
        assert_eq!(seal.open(b"k", b"{}").unwrap(), b"{}");
    }

    #[test]
    fn keys_must_be_256_bits_of_hex() {
        for bad in ["", "abc", &KEY[..62], &KEY.replace('0', "g")] {
            assert!(Seal::from_hex(bad).is_err(), "{bad}");
        }
        assert!(Seal::from_hex(&format!("  {KEY}\n")).is_ok());
    }
}
