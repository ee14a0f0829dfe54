//! A key pair's SecretKey as the key-pair policy signs with it: the HMAC key schedule of each
//! algorithm, prepared once at load. `crate::config` holds one per `[[secret]]`; this module
//! depends on nothing of the gateway's, so the config model can hold it without depending on the
//! policy that verifies signatures.

use std::fmt;

use hmac::{Hmac, KeyInit};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

/// A SecretKey with the HMAC key schedule of every algorithm computed once, at load: a request
/// clones the state it needs (a copy of a few hundred bytes, no allocation) instead of hashing the
/// key again.
#[derive(Clone)]
pub struct SecretKey {
    pub(super) sha1: Hmac<Sha1>,
    pub(super) sha256: Hmac<Sha256>,
    pub(super) sha384: Hmac<Sha384>,
    pub(super) sha512: Hmac<Sha512>,
}

impl SecretKey {
    /// Prepares `key` (the SecretKey's bytes, used as the HMAC key as Tencent's examples do).
    pub fn new(key: &[u8]) -> SecretKey {
        // HMAC takes keys of any length (RFC 2104 §2), so these cannot fail.
        SecretKey {
            sha1: KeyInit::new_from_slice(key).expect("HMAC accepts any key length"),
            sha256: KeyInit::new_from_slice(key).expect("HMAC accepts any key length"),
            sha384: KeyInit::new_from_slice(key).expect("HMAC accepts any key length"),
            sha512: KeyInit::new_from_slice(key).expect("HMAC accepts any key length"),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material (it shows up in `--check` and test output).
        formatter.write_str("SecretKey(..)")
    }
}
