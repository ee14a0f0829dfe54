//! The OAuth policy's settings as the config model holds them: the JWS algorithms, a verifying key
//! decoded from a JWK (and the signature check with it), and the JWK decoding whose messages
//! `crate::config::validate` reports against `oauth.public_key`. This module depends on nothing of
//! the gateway's, so the config model can hold its types without depending on the policy.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use serde::de::IgnoredAny;
use serde::Deserialize;
use sha2::{Sha256, Sha384, Sha512};

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

/// A verifying key decoded from a JWK.
#[derive(Clone, PartialEq)]
pub enum PublicKey {
    /// `kty: RSA`.
    Rsa(rsa::PublicKey),
    /// `kty: EC`, `crv: P-256`.
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Rsa(key) => {
                use rsa::traits::PublicKeyParts;
                write!(formatter, "PublicKey::Rsa({} bits)", key.size() * 8)
            }
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
        // RSA verification allocates its big integers inside the `rsa` crate; it costs tens of
        // microseconds anyway, so the allocation is not what an OAuth API pays for.
        let verified = match (self, algorithm) {
            (PublicKey::Rsa(key), Algorithm::Rs256) => key.pkcs1v15_verify::<Sha256>(message, signature).is_ok(),
            (PublicKey::Rsa(key), Algorithm::Rs384) => key.pkcs1v15_verify::<Sha384>(message, signature).is_ok(),
            (PublicKey::Rsa(key), Algorithm::Rs512) => key.pkcs1v15_verify::<Sha512>(message, signature).is_ok(),
            (PublicKey::P256(key), Algorithm::Es256) => {
                // JWS ECDSA signatures are R || S, 32 bytes each (RFC 7518 §3.4), not DER.
                let signature = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| "ES256 signature is not 64 bytes of R || S")?;
                key.verify(message, &signature).is_ok()
            }
            _ => return Err("the key cannot verify this algorithm"),
        };
        if verified {
            Ok(())
        } else {
            Err("signature does not verify")
        }
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
            let exponent = exponent
                .iter()
                .position(|&byte| byte != 0)
                .map_or(&exponent[exponent.len()..], |first| &exponent[first..]);
            if exponent.len() > 8 {
                return Err("`e` is larger than 64 bits".into());
            }
            let modulus_bits = (modulus.len() * 8) as u32;
            let n =
                rsa::BoxedUint::from_be_slice(&modulus, modulus_bits).map_err(|_| "`n` does not decode".to_string())?;
            let e = rsa::BoxedUint::from_be_slice(exponent, 64).map_err(|_| "`e` does not decode".to_string())?;
            PublicKey::Rsa(rsa::PublicKey::new(n, e).map_err(|error| format!("is not a usable RSA key: {error}"))?)
        }
        Some("EC") => {
            match fields.crv.as_deref() {
                Some("P-256") => {}
                Some(other) => return Err(format!("has \"crv\": \"{other}\"; only P-256 (ES256) is supported")),
                None => return Err("has no `crv`".into()),
            }
            let x = member("x", fields.x)?;
            let y = member("y", fields.y)?;
            if x.len() != 32 || y.len() != 32 {
                return Err("`x` and `y` must be 32 bytes each for P-256".into());
            }
            let mut point = [0u8; 65];
            point[0] = 0x04;
            point[1..33].copy_from_slice(&x);
            point[33..].copy_from_slice(&y);
            PublicKey::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| "`x`/`y` is not a point on P-256".to_string())?,
            )
        }
        Some(other) => return Err(format!("has \"kty\": \"{other}\"; supported: RSA, EC")),
        None => return Err("has no `kty`".into()),
    };
    if let Some(algorithm) = algorithm.filter(|&algorithm| !key.supports(algorithm)) {
        return Err(format!("has \"alg\": \"{}\", which its key type cannot verify", algorithm.as_str()));
    }
    Ok(Jwk { key, algorithm })
}
