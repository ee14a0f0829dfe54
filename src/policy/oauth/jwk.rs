//! The OAuth policy's settings as the config model holds them: the JWS algorithms, a verifying key
//! decoded from a JWK (and the signature check with it), and the JWK decoding whose messages
//! `crate::config::validate` reports against `oauth.public_key`. This module depends on nothing of
//! the gateway's, so the config model can hold its types without depending on the policy.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// base64url as JWS uses it (RFC 7515 §2: no padding; padding tolerated).
pub(super) const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The JWS algorithms an API may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Es256 => "ES256",
        }
    }

    /// Parses a JWS `alg` name (exact, as RFC 7518 spells it).
    pub fn parse(name: &str) -> Option<Algorithm> {
        [Algorithm::Rs256, Algorithm::Rs384, Algorithm::Rs512, Algorithm::Es256]
            .into_iter()
            .find(|algorithm| algorithm.as_str() == name)
    }
}

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3: "2048 bits or larger"); ring's
/// `RSA_PKCS1_2048_8192_*` refuse smaller keys at verification too.
pub const RSA_MIN_BITS: usize = 2048;

/// Largest RSA modulus ring verifies with, in bits.
pub const RSA_MAX_BITS: usize = 8192;

/// A verifying key decoded from a JWK.
#[derive(Clone, PartialEq)]
pub enum PublicKey {
    /// `kty: RSA`.
    Rsa(RsaKey),
    /// `kty: EC`, `crv: P-256`.
    P256(P256Key),
}

/// An RSA public key as ring takes it: `n` and `e`, big-endian without leading zeros.
#[derive(Clone)]
pub struct RsaKey {
    pub(super) components: RsaPublicKeyComponents<Box<[u8]>>,
    pub(super) bits: usize,
}

impl PartialEq for RsaKey {
    fn eq(&self, other: &RsaKey) -> bool {
        (&self.components.n, &self.components.e) == (&other.components.n, &other.components.e)
    }
}

/// A P-256 public key as ring takes it: the uncompressed point `0x04 || x || y`.
#[derive(Clone, PartialEq)]
pub struct P256Key {
    point: [u8; 65],
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Rsa(key) => write!(formatter, "PublicKey::Rsa({} bits)", key.bits),
            PublicKey::P256(_) => formatter.write_str("PublicKey::P256"),
        }
    }
}

impl PublicKey {
    /// Whether this key can verify `algorithm`.
    pub fn supports(&self, algorithm: Algorithm) -> bool {
        matches!(
            (self, algorithm),
            (PublicKey::Rsa(_), Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512)
                | (PublicKey::P256(_), Algorithm::Es256)
        )
    }

    /// The algorithm to use when neither the config nor the JWK names one.
    pub fn default_algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Rsa(_) => Algorithm::Rs256,
            PublicKey::P256(_) => Algorithm::Es256,
        }
    }

    /// Verifies a JWS signature over `message`.
    pub(super) fn verify(&self, algorithm: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), &'static str> {
        // ring allocates the RSA key's limbs for each verification; it costs tens of microseconds
        // anyway, so the allocation is not what an OAuth API pays for (the token cache is).
        let verified = match (self, algorithm) {
            (PublicKey::Rsa(key), Algorithm::Rs256) => {
                key.components.verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
            }
            (PublicKey::Rsa(key), Algorithm::Rs384) => {
                key.components.verify(&signature::RSA_PKCS1_2048_8192_SHA384, message, signature)
            }
            (PublicKey::Rsa(key), Algorithm::Rs512) => {
                key.components.verify(&signature::RSA_PKCS1_2048_8192_SHA512, message, signature)
            }
            (PublicKey::P256(key), Algorithm::Es256) => {
                // JWS ECDSA signatures are R || S, 32 bytes each (RFC 7518 §3.4), not DER.
                if signature.len() != 64 {
                    return Err("ES256 signature is not 64 bytes of R || S");
                }
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key.point[..]).verify(message, signature)
            }
            _ => return Err("the key cannot verify this algorithm"),
        };
        verified.map_err(|_| "signature does not verify")
    }
}

impl RsaKey {
    /// Checks `n` and `e` (big-endian, leading zeros allowed) the way ring will when verifying, so
    /// that a key ring would refuse is a config error: a modulus of [`RSA_MIN_BITS`] to
    /// [`RSA_MAX_BITS`] bits, odd; an odd exponent from 3 to 2^33 - 1.
    fn new(n: &[u8], e: &[u8]) -> Result<RsaKey, String> {
        let strip = |bytes: &[u8]| -> Box<[u8]> {
            let first = bytes.iter().position(|&byte| byte != 0).unwrap_or(bytes.len());
            bytes[first..].into()
        };
        let (n, e) = (strip(n), strip(e));
        let bits = n.first().map_or(0, |&top| (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize));
        if bits < RSA_MIN_BITS {
            return Err(format!(
                "is not a usable RSA key: a {bits}-bit modulus; at least {RSA_MIN_BITS} bits are required"
            ));
        }
        if bits > RSA_MAX_BITS {
            return Err(format!(
                "is not a usable RSA key: a {bits}-bit modulus; at most {RSA_MAX_BITS} bits are supported"
            ));
        }
        if n.last().is_some_and(|&low| low & 1 == 0) {
            return Err("is not a usable RSA key: `n` is even".into());
        }
        let exponent = e.iter().fold(0u64, |value, &byte| value << 8 | u64::from(byte));
        if e.len() > 5 || !(3..=(1 << 33) - 1).contains(&exponent) || exponent & 1 == 0 {
            return Err("is not a usable RSA key: `e` must be odd, from 3 to 2^33 - 1".into());
        }
        Ok(RsaKey { components: RsaPublicKeyComponents { n, e }, bits })
    }
}

impl P256Key {
    /// Checks that `0x04 || x || y` is a point on P-256, as ECDSA verification will: by public-key
    /// validation in an ECDH agreement with a throwaway key (ring validates peer keys the same way
    /// for both, and has no other public way to do it before a signature arrives).
    fn new(x: &[u8; 32], y: &[u8; 32]) -> Result<P256Key, String> {
        use ring::agreement;
        let mut point = [0u8; 65];
        point[0] = 0x04;
        point[1..33].copy_from_slice(x);
        point[33..].copy_from_slice(y);
        let throwaway =
            agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &ring::rand::SystemRandom::new())
                .map_err(|_| "no randomness to check the key with".to_string())?;
        agreement::agree_ephemeral(
            throwaway,
            &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point),
            |_| (),
        )
        .map_err(|_| "`x`/`y` is not a point on P-256".to_string())?;
        Ok(P256Key { point })
    }
}

/// A decoded JWK: the key and the `alg` it names, if any.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// The verifying key.
    pub key: PublicKey,
    /// The JWK's `alg` member.
    pub algorithm: Option<Algorithm>,
}

#[derive(Deserialize)]
struct JwkFields {
    kty: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<IgnoredAny>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
}

/// Decodes a public JWK (RFC 7517, as Tencent's console takes it: `{"kty":"RSA","e":"AQAB","n":"..."}`).
/// The error says what is wrong, for the config error that names the field.
pub fn parse_jwk(text: &str) -> Result<Jwk, String> {
    let fields: JwkFields =
        serde_json::from_str(text).map_err(|error| format!("is not a JWK (JSON object): {error}"))?;
    if fields.d.is_some() {
        return Err("is a private key (it has `d`); give the public JWK only".into());
    }
    if let Some(usage) = fields.usage.as_deref().filter(|usage| *usage != "sig") {
        return Err(format!("has \"use\": \"{usage}\"; a token-verifying key must be \"sig\""));
    }
    let algorithm = match fields.alg.as_deref() {
        None => None,
        Some(name) => Some(
            Algorithm::parse(name)
                .ok_or_else(|| format!("has \"alg\": \"{name}\"; supported: RS256, RS384, RS512, ES256"))?,
        ),
    };
    let member = |name: &str, value: Option<String>| -> Result<Vec<u8>, String> {
        let value = value.ok_or_else(|| format!("has no `{name}`"))?;
        BASE64URL.decode(value.trim()).map_err(|_| format!("`{name}` is not base64url"))
    };
    let key = match fields.kty.as_deref() {
        Some("RSA") => {
            let modulus = member("n", fields.n)?;
            let exponent = member("e", fields.e)?;
            PublicKey::Rsa(RsaKey::new(&modulus, &exponent)?)
        }
        Some("EC") => {
            match fields.crv.as_deref() {
                Some("P-256") => {}
                Some(other) => return Err(format!("has \"crv\": \"{other}\"; only P-256 (ES256) is supported")),
                None => return Err("has no `crv`".into()),
            }
            let x = member("x", fields.x)?;
            let y = member("y", fields.y)?;
            let (Ok(x), Ok(y)) = (<&[u8; 32]>::try_from(&x[..]), <&[u8; 32]>::try_from(&y[..])) else {
                return Err("`x` and `y` must be 32 bytes each for P-256".into());
            };
            PublicKey::P256(P256Key::new(x, y)?)
        }
        Some(other) => return Err(format!("has \"kty\": \"{other}\"; supported: RSA, EC")),
        None => return Err("has no `kty`".into()),
    };
    if let Some(algorithm) = algorithm.filter(|&algorithm| !key.supports(algorithm)) {
        return Err(format!("has \"alg\": \"{}\", which its key type cannot verify", algorithm.as_str()));
    }
    Ok(Jwk { key, algorithm })
}
