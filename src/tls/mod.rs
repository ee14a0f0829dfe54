//! HTTPS: a rustls server configuration whose certificate is chosen by SNI. A ClientHello without
//! SNI is refused, as Tencent API Gateway refuses it, and so is a name no certificate covers: the
//! handshake fails with an alert rather than answering with another host's certificate.
//!
//! Certificates load once at start, with errors that name the file: missing, unreadable, no
//! certificate or key in it, a key that does not match the certificate, or a certificate outside
//! its validity period.
//!
//! The connections themselves run over [`stream::TlsStream`], which holds no I/O buffer while
//! a connection waits.

pub mod stream;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::ring;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// One certificate and the host names it serves.
#[derive(Debug, Clone)]
pub struct CertificateSpec {
    /// Host names (lower-case); `*.example.com` covers one label below `example.com`.
    pub hosts: Vec<String>,
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key.
    pub key: PathBuf,
}

/// A certificate that cannot be used.
#[derive(Debug)]
pub struct TlsError {
    /// The file at fault.
    pub file: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for TlsError {}

fn error(file: &Path, message: impl Into<String>) -> TlsError {
    TlsError { file: file.to_path_buf(), message: message.into() }
}

/// Builds the server configuration (TLS 1.2 and 1.3, ALPN `http/1.1`) from the certificates.
pub fn server_config(certificates: &[CertificateSpec]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let mut resolver = SniResolver::default();
    for spec in certificates {
        let certified = Arc::new(load_certified_key(spec, &provider)?);
        for host in &spec.hosts {
            let host = host.to_ascii_lowercase();
            let named: Arc<str> = Arc::from(host.as_str());
            match host.strip_prefix("*.") {
                Some(suffix) => resolver.wildcard.insert(suffix.to_string(), (certified.clone(), named)),
                None => resolver.exact.insert(host, (certified.clone(), named)),
            };
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|problem| error(Path::new("(tls)"), problem.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Session resumption with stateless tickets: a returning client skips the certificate and
    // key exchange work (the handshake's cost) and no per-session state is kept here. One
    // ticket key set for the process, so tickets stay good across reloads.
    if let Some(ticketer) = session_ticketer() {
        config.ticketer = ticketer;
    }
    Ok(Arc::new(config))
}

/// The process's ticket keys (rotated by rustls every 6 hours), made once.
fn session_ticketer() -> Option<Arc<dyn rustls::server::ProducesTickets>> {
    static TICKETER: std::sync::OnceLock<Option<Arc<dyn rustls::server::ProducesTickets>>> = std::sync::OnceLock::new();
    TICKETER
        .get_or_init(|| match rustls::crypto::ring::Ticketer::new() {
            Ok(ticketer) => Some(ticketer),
            Err(problem) => {
                tracing::warn!(%problem, "no TLS session tickets: resumed handshakes are not offered");
                None
            }
        })
        .clone()
}

fn load_certified_key(
    spec: &CertificateSpec,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| std::fs::read(path).map_err(|problem| error(path, format!("cannot read: {problem}")));
    let cert_pem = read(&spec.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|problem| error(&spec.cert, format!("not a PEM certificate file: {problem}")))?;
    let leaf = chain.first().ok_or_else(|| error(&spec.cert, "no certificate in the file"))?;
    check_validity(leaf, SystemTime::now()).map_err(|message| error(&spec.cert, message))?;
    let key_pem = read(&spec.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|problem| error(&spec.key, format!("no private key in the file: {problem}")))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|problem| error(&spec.key, format!("unusable private key: {problem}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|_| error(&spec.key, format!("the key does not match the certificate in {}", spec.cert.display())))?;
    Ok(certified)
}

/// Chooses the certificate by SNI; no SNI or an unknown name gets none, so the handshake fails.
#[derive(Debug, Default)]
struct SniResolver {
    exact: HashMap<String, (Arc<CertifiedKey>, Arc<str>)>,
    /// `*.example.com` stored as `example.com` (with its host as configured, for metrics).
    wildcard: HashMap<String, (Arc<CertifiedKey>, Arc<str>)>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls lower-cases the name and strips a trailing dot.
        let Some(name) = hello.server_name() else {
            HELLOS.with(|hellos| hellos.borrow_mut().no_name += 1);
            return None;
        };
        let found = self.exact.get(name).or_else(|| self.wildcard.get(name.split_once('.')?.1));
        HELLOS.with(|hellos| {
            let mut hellos = hellos.borrow_mut();
            match found {
                Some((_, host)) => match hellos.accepted.iter_mut().find(|(seen, _)| Arc::ptr_eq(seen, host)) {
                    Some((_, count)) => *count += 1,
                    None => hellos.accepted.push((host.clone(), 1)),
                },
                None => hellos.unknown_name += 1,
            }
        });
        found.map(|(certified, _)| certified.clone())
    }
}

/// The hellos one thread's handshakes saw since they were last drained.
#[derive(Default)]
struct Hellos {
    /// Refused: no name.
    no_name: u64,
    /// Refused: a name no certificate covers.
    unknown_name: u64,
    /// Accepted, per certificate host as configured (`*.` wildcards included).
    accepted: Vec<(Arc<str>, u64)>,
}

thread_local! {
    /// Handshakes run on their worker's thread, so each worker counts its own hellos, with no
    /// sharing; its control task drains them into its metrics ([`drain_hellos`]).
    static HELLOS: std::cell::RefCell<Hellos> = std::cell::RefCell::new(Hellos::default());
}

/// What a hello was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello<'a> {
    /// A certificate covering its name, configured under this host.
    Accepted(&'a str),
    /// Refused: it named no server.
    NoName,
    /// Refused: no certificate covers its name.
    UnknownName,
}

/// Hands `each` the hellos seen on this thread since the last call, with how many, and
/// forgets them.
pub fn drain_hellos(mut each: impl FnMut(Hello<'_>, u64)) {
    HELLOS.with(|hellos| {
        let mut hellos = hellos.borrow_mut();
        for (outcome, count) in [
            (Hello::NoName, std::mem::take(&mut hellos.no_name)),
            (Hello::UnknownName, std::mem::take(&mut hellos.unknown_name)),
        ] {
            if count > 0 {
                each(outcome, count);
            }
        }
        for (host, count) in hellos.accepted.iter_mut() {
            if *count > 0 {
                each(Hello::Accepted(host), std::mem::take(count));
            }
        }
        // Hosts of configurations no longer served go; the others keep their place.
        if hellos.accepted.len() > 64 {
            hellos.accepted.clear();
        }
    });
}

/// Refuses a certificate outside its validity period (read from the DER `Validity` field).
fn check_validity(certificate: &CertificateDer<'_>, now: SystemTime) -> Result<(), String> {
    let (not_before, not_after) = validity(certificate).ok_or("cannot read the certificate's validity period")?;
    let now = now.duration_since(UNIX_EPOCH).map(|since| since.as_secs() as i64).unwrap_or(0);
    if now > not_after {
        return Err(format!("the certificate expired ({} UTC)", crate::calendar::format_date_time(not_after)));
    }
    if now < not_before {
        return Err(format!(
            "the certificate is not valid before {} UTC",
            crate::calendar::format_date_time(not_before)
        ));
    }
    Ok(())
}

/// `(notBefore, notAfter)` in Unix seconds: Certificate → tbsCertificate → validity (RFC 5280 §4.1).
fn validity(certificate: &[u8]) -> Option<(i64, i64)> {
    let (_, certificate_body, _) = der_element(certificate)?;
    let (_, mut tbs, _) = der_element(certificate_body)?;
    let (tag, _, rest) = der_element(tbs)?;
    if tag == 0xa0 {
        tbs = rest; // explicit [0] version
    }
    // serialNumber, signature, issuer, then validity.
    for _ in 0..3 {
        tbs = der_element(tbs)?.2;
    }
    let (_, validity, _) = der_element(tbs)?;
    let (before_tag, before, rest) = der_element(validity)?;
    let (after_tag, after, _) = der_element(rest)?;
    Some((der_time(before_tag, before)?, der_time(after_tag, after)?))
}

/// One DER element: (tag, contents, the bytes after it).
fn der_element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)? as usize;
    let (length, header) = if first < 0x80 {
        (first, 2)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let length = bytes.get(2..2 + count)?.iter().fold(0usize, |total, &byte| total << 8 | byte as usize);
        (length, 2 + count)
    };
    let contents = bytes.get(header..header + length)?;
    Some((tag, contents, &bytes[header + length..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18).
fn der_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits =
        |range: std::ops::Range<usize>| -> Option<i64> { std::str::from_utf8(text.get(range)?).ok()?.parse().ok() };
    let (year, rest) = match tag {
        0x17 => {
            let short = digits(0..2)?;
            (if short >= 50 { 1900 + short } else { 2000 + short }, 2)
        }
        0x18 => (digits(0..4)?, 4),
        _ => return None,
    };
    let month = digits(rest..rest + 2)?;
    let day = digits(rest + 2..rest + 4)?;
    let hour = digits(rest + 4..rest + 6)?;
    let minute = digits(rest + 6..rest + 8)?;
    let second = digits(rest + 8..rest + 10)?;
    Some(crate::calendar::days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_times() {
        use crate::calendar::days_from_civil;
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(days_from_civil(2049, 12, 31) * 86_400 + 86_399));
        assert_eq!(der_time(0x18, b"19991231000000Z"), Some(days_from_civil(1999, 12, 31) * 86_400));
    }
}
