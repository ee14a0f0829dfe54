//! The OAuth policy's JWT verifier (`scfgate::policy::oauth::verify_token`) against an
//! independent implementation, the `jsonwebtoken` crate (on RustCrypto's RSA and ECDSA, not on
//! ring as ours is): tokens it signs verify with ours, tokens ours accepts it accepts too, and
//! every tampered, expired, `alg: none`, `crit` or wrong-algorithm token is refused by both.
//!
//! jsonwebtoken is set up as ours works: the one algorithm the API names, `exp` required, `nbf`
//! checked, `iss` and `aud` required when configured, and no leeway.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use scfgate::config::{OAuthSettings, TokenLocation};
use scfgate::policy::oauth::{parse_jwk, verify_token, Algorithm};
use serde_json::{json, Value};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fixed 3072-bit RSA key (PKCS#1 DER; ring does not generate RSA keys).
const RSA_3072_DER: &[u8] = include_bytes!("fixtures/jwt/rsa-3072.der");

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "scfgate";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Signs a message for a JWS algorithm.
type Signer = dyn Fn(Algorithm, &[u8]) -> Vec<u8>;

/// One key, as each side takes it.
struct Key {
    /// The public JWK, for our config.
    jwk: String,
    /// jsonwebtoken's signing and verifying keys.
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Signs with ring, for tokens jsonwebtoken would not make (`crit`).
    ring_sign: Box<Signer>,
}

fn rsa() -> Key {
    let pair = RsaKeyPair::from_der(RSA_3072_DER).unwrap();
    let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    Key {
        jwk: format!(r#"{{"kty":"RSA","e":"{}","n":"{}"}}"#, B64URL.encode(&public.e), B64URL.encode(&public.n)),
        encoding: EncodingKey::from_rsa_der(RSA_3072_DER),
        decoding: DecodingKey::from_rsa_raw_components(&public.n, &public.e),
        ring_sign: Box::new(move |algorithm, message| {
            let padding: &'static dyn signature::RsaEncoding = match algorithm {
                Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
                Algorithm::Es256 => unreachable!("an RSA key"),
            };
            let mut signature = vec![0; pair.public().modulus_len()];
            pair.sign(padding, &SystemRandom::new(), message, &mut signature).unwrap();
            signature
        }),
    }
}

fn p256() -> Key {
    let algorithm = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &SystemRandom::new()).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref(), &SystemRandom::new()).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = (B64URL.encode(&point[1..33]), B64URL.encode(&point[33..]));
    Key {
        jwk: format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        decoding: DecodingKey::from_ec_components(&x, &y).unwrap(),
        ring_sign: Box::new(move |_, message| pair.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()),
    }
}

fn theirs(algorithm: Algorithm) -> jsonwebtoken::Algorithm {
    match algorithm {
        Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::Rs384 => jsonwebtoken::Algorithm::RS384,
        Algorithm::Rs512 => jsonwebtoken::Algorithm::RS512,
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
    }
}

/// Whether our verifier accepts `token` for an API with `key` and `algorithm`, and the claims it
/// passes on.
fn ours(key: &Key, algorithm: Algorithm, token: &str) -> Result<Value, &'static str> {
    let settings = OAuthSettings {
        key: parse_jwk(&key.jwk).unwrap().key,
        algorithm,
        token_location: TokenLocation::Authorization,
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
    };
    let (mut scratch, mut claims) = (Vec::new(), Vec::new());
    verify_token(token.as_bytes(), &settings, now(), &mut scratch, &mut claims)?;
    Ok(serde_json::from_slice(&claims).unwrap())
}

/// Whether jsonwebtoken accepts it, checking what ours checks.
fn jsonwebtoken_accepts(key: &Key, algorithm: Algorithm, token: &str) -> Result<Value, String> {
    let mut validation = Validation::new(theirs(algorithm));
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    // Ours requires a claim it is configured to check; jsonwebtoken checks one only if present.
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|error| error.to_string())
}

fn claims(extra: Value) -> Value {
    let mut claims =
        json!({"sub": "alice", "iss": ISSUER, "aud": ["other", AUDIENCE], "iat": now(), "exp": now() + 300});
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    claims
}

/// A token jsonwebtoken signs.
fn signed_by_jsonwebtoken(key: &Key, algorithm: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(theirs(algorithm)), claims, &key.encoding).unwrap()
}

/// A token of exactly this header and these claims, signed with ring.
fn signed_by_ring(key: &Key, algorithm: Algorithm, header: &str, claims: &Value) -> String {
    let input = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims.to_string()));
    let signature = (key.ring_sign)(algorithm, input.as_bytes());
    format!("{input}.{}", B64URL.encode(signature))
}

/// `token` with its payload replaced by `claims` (the signature left as it was).
fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], B64URL.encode(claims.to_string()), parts[2])
}

/// `token` with one bit of its signature flipped.
fn flipped_signature(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = B64URL.decode(signature).unwrap();
    signature[10] ^= 0x01;
    format!("{input}.{}", B64URL.encode(signature))
}

#[test]
fn tokens_signed_by_jsonwebtoken_verify_with_ours() {
    let (rsa, p256) = (rsa(), p256());
    for (key, algorithm) in
        [(&rsa, Algorithm::Rs256), (&rsa, Algorithm::Rs384), (&rsa, Algorithm::Rs512), (&p256, Algorithm::Es256)]
    {
        let claims = claims(json!({"nbf": now() - 10, "scope": "read"}));
        let token = signed_by_jsonwebtoken(key, algorithm, &claims);
        assert_eq!(ours(key, algorithm, &token), Ok(claims.clone()), "{algorithm:?}: jsonwebtoken's token");
        assert_eq!(jsonwebtoken_accepts(key, algorithm, &token), Ok(claims.clone()), "{algorithm:?}");
        // And the other way: a token ring signs (as tests/policy.rs does) jsonwebtoken accepts.
        let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, algorithm.as_str());
        let token = signed_by_ring(key, algorithm, &header, &claims);
        assert_eq!(jsonwebtoken_accepts(key, algorithm, &token), Ok(claims.clone()), "{algorithm:?}: ring's token");
        assert_eq!(ours(key, algorithm, &token), Ok(claims), "{algorithm:?}: ring's token");
    }
}

#[test]
fn bad_tokens_are_refused_by_both() {
    let (rsa, p256) = (rsa(), p256());
    let good = claims(json!({}));
    let rs256 = signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &good);
    let es256 = signed_by_jsonwebtoken(&p256, Algorithm::Es256, &good);
    let without = |name: &str| {
        let mut claims = good.clone();
        claims.as_object_mut().unwrap().remove(name);
        claims
    };
    // HS256 with the RSA public key's bytes as the secret: the classic algorithm confusion.
    let confused = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(rsa.jwk.as_bytes()).unwrap(),
    )
    .unwrap();
    let unsigned =
        |claims: &Value| format!("{}.{}.", B64URL.encode(r#"{"alg":"none"}"#), B64URL.encode(claims.to_string()));
    #[rustfmt::skip]
    let cases: Vec<(&str, &Key, Algorithm, String)> = vec![
        ("payload swapped", &rsa, Algorithm::Rs256, with_payload(&rs256, &claims(json!({"admin": true})))),
        ("payload swapped", &p256, Algorithm::Es256, with_payload(&es256, &claims(json!({"admin": true})))),
        ("signature flipped", &rsa, Algorithm::Rs256, flipped_signature(&rs256)),
        ("signature flipped", &p256, Algorithm::Es256, flipped_signature(&es256)),
        ("signature dropped", &rsa, Algorithm::Rs256, format!("{}.", rs256.rsplit_once('.').unwrap().0)),
        ("expired", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &claims(json!({"exp": now() - 1})))),
        ("expired", &p256, Algorithm::Es256, signed_by_jsonwebtoken(&p256, Algorithm::Es256, &claims(json!({"exp": now() - 3600})))),
        ("no exp", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &without("exp"))),
        ("not yet valid", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &claims(json!({"nbf": now() + 60})))),
        ("wrong issuer", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &claims(json!({"iss": "https://evil.example.com"})))),
        ("no issuer", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &without("iss"))),
        ("wrong audience", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &claims(json!({"aud": "other"})))),
        ("no audience", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs256, &without("aud"))),
        ("alg none", &rsa, Algorithm::Rs256, unsigned(&good)),
        ("alg none", &p256, Algorithm::Es256, unsigned(&good)),
        ("crit", &rsa, Algorithm::Rs256, signed_by_ring(&rsa, Algorithm::Rs256, r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, &good)),
        ("crit", &p256, Algorithm::Es256, signed_by_ring(&p256, Algorithm::Es256, r#"{"alg":"ES256","crit":["x-scope"],"x-scope":"all"}"#, &good)),
        ("another RSA algorithm than the API's", &rsa, Algorithm::Rs256, signed_by_jsonwebtoken(&rsa, Algorithm::Rs512, &good)),
        ("an RSA token for an EC key", &p256, Algorithm::Es256, rs256.clone()),
        ("HS256 keyed with the public key", &rsa, Algorithm::Rs256, confused),
        ("two parts", &rsa, Algorithm::Rs256, rs256.rsplit_once('.').unwrap().0.to_owned()),
    ];
    for (what, key, algorithm, token) in cases {
        let (mine, theirs) = (ours(key, algorithm, &token), jsonwebtoken_accepts(key, algorithm, &token));
        assert!(mine.is_err() && theirs.is_err(), "{what} ({algorithm:?}): ours {mine:?}, jsonwebtoken {theirs:?}");
    }
}
