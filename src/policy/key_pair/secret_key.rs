//! A key pair's SecretKey as the key-pair policy signs with it: the HMAC key schedule of each
//! algorithm, prepared once at load. `crate::config` holds one per `[[secret]]`; this module
//! depends on nothing of the gateway's, so the config model can hold it without depending on the
//! policy that verifies signatures.

use std::fmt;

use ring::hmac;

/// A SecretKey with the HMAC key schedule of every algorithm computed once, at load (ring's
/// `hmac::Key`): a request starts from a copy of the state it needs (a few hundred bytes, no
/// allocation) instead of hashing the key again.
#[derive(Clone)]
pub struct SecretKey {
    pub(super) sha1: hmac::Key,
    pub(super) sha256: hmac::Key,
    pub(super) sha384: hmac::Key,
    pub(super) sha512: hmac::Key,
}

impl SecretKey {
    /// Prepares `key` (the SecretKey's bytes, used as the HMAC key as Tencent's examples do).
    pub fn new(key: &[u8]) -> SecretKey {
        // HMAC takes keys of any length (RFC 2104 §2). SHA-1 is what Tencent's clients sign with.
        SecretKey {
            sha1: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key),
            sha256: hmac::Key::new(hmac::HMAC_SHA256, key),
            sha384: hmac::Key::new(hmac::HMAC_SHA384, key),
            sha512: hmac::Key::new(hmac::HMAC_SHA512, key),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material (it shows up in `--check` and test output).
        formatter.write_str("SecretKey(..)")
    }
}
