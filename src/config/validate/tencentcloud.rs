//! `runtime = "tencentcloud"` → [`TencentCloudFunction`]: the region, the endpoint (resolved once,
//! as `invoke_url` is), the credentials from the environment and the TLS client configuration.
//! Everything that can fail does so here, at load, with an error naming the field and, for
//! credentials, the environment variable.

use std::net::ToSocketAddrs;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use super::function::reject_foreign_keys;
use super::{ConfigError, Site};
use crate::config::tencentcloud::{
    Credentials, TencentCloudFunction, DEFAULT_CA_FILE, DEFAULT_ENDPOINT, DEFAULT_SECRET_ID_ENV,
    DEFAULT_SECRET_KEY_ENV, DEFAULT_TOKEN_ENV,
};
use crate::config::{file, FunctionRuntime};

/// Builds a `tencentcloud` function's runtime settings.
pub(super) fn build(site: &Site, function: &file::Function, base_dir: &Path) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "tencentcloud")?;
    let region = site.required_text("region", function.region.clone())?;
    // The region travels in a header; Tencent's are like `ap-guangzhou` or `na-siliconvalley`.
    if !region.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-') {
        return Err(site.error("region", format!("`{region}` is not a region name like `ap-guangzhou`")));
    }
    let endpoint = function.endpoint.clone().unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let (host, host_name, port) = parse_endpoint(&endpoint).map_err(|message| site.error("endpoint", message))?;
    let server_name = ServerName::try_from(host_name.clone())
        .map_err(|_| site.error("endpoint", format!("`{host_name}` is not a valid server name for TLS")))?;
    let addr = (host_name.as_str(), port)
        .to_socket_addrs()
        .map_err(|error| site.error("endpoint", format!("host `{host_name}` does not resolve: {error}")))?
        .next()
        .ok_or_else(|| site.error("endpoint", format!("host `{host_name}` resolves to no address")))?;

    let ca_file = match &function.ca_file {
        Some(path) if path.is_empty() => return Err(site.error("ca_file", "may not be empty")),
        Some(path) => base_dir.join(path),
        None => Path::new(DEFAULT_CA_FILE).to_path_buf(),
    };
    let tls = client_config(&ca_file).map_err(|message| site.error("ca_file", message))?;

    let credentials = credentials(site, function)?;
    Ok(FunctionRuntime::TencentCloud(TencentCloudFunction {
        region,
        endpoint,
        host,
        server_name,
        addr,
        credentials,
        tls,
    }))
}

/// Reads the key pair (and a token, when its variable is set) from the environment.
fn credentials(site: &Site, function: &file::Function) -> Result<Credentials, ConfigError> {
    let variable = |field: &str, value: &Option<String>, default: &str| -> Result<String, ConfigError> {
        match value {
            Some(name) if name.is_empty() => Err(site.error(field, "may not be empty")),
            Some(name) => Ok(name.clone()),
            None => Ok(default.to_owned()),
        }
    };
    let id_env = variable("secret_id_env", &function.secret_id_env, DEFAULT_SECRET_ID_ENV)?;
    let key_env = variable("secret_key_env", &function.secret_key_env, DEFAULT_SECRET_KEY_ENV)?;
    let token_env = variable("token_env", &function.token_env, DEFAULT_TOKEN_ENV)?;
    let required = |field: &str, name: &str| -> Result<String, ConfigError> {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            Ok(_) => Err(site.error(field, format!("the environment variable `{name}` is empty"))),
            Err(std::env::VarError::NotPresent) => Err(site.error(
                field,
                format!("the environment variable `{name}` is not set; it must hold the Tencent Cloud API key"),
            )),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(site.error(field, format!("the environment variable `{name}` is not valid UTF-8")))
            }
        }
    };
    let secret_id = required("secret_id_env", &id_env)?;
    let secret_key = required("secret_key_env", &key_env)?;
    let token = match std::env::var(&token_env) {
        Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        _ => None,
    };
    // Both go into header values.
    let sent =
        [("secret_id_env", &id_env, secret_id.as_str()), ("token_env", &token_env, token.as_deref().unwrap_or(""))];
    if let Some((field, name, _)) = sent.iter().find(|(_, _, value)| value.bytes().any(|byte| byte.is_ascii_control()))
    {
        return Err(site.error(field, format!("the environment variable `{name}` holds a control character")));
    }
    Ok(Credentials::new(secret_id, &secret_key, token))
}

/// Splits `https://host[:port][/]` into (authority as written, host, port). API 3.0 has one path,
/// `/`, so anything else is refused rather than silently ignored.
fn parse_endpoint(endpoint: &str) -> Result<(String, String, u16), String> {
    const EXAMPLE: &str = "like `https://scf.tencentcloudapi.com`";
    let Some(rest) = endpoint.get(..8).filter(|scheme| scheme.eq_ignore_ascii_case("https://")).map(|_| &endpoint[8..])
    else {
        return Err(format!("must be an https:// URL {EXAMPLE}"));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(format!("has no host; write it {EXAMPLE}"));
    }
    if let Some(bad) =
        authority.chars().find(|c| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace() || c.is_control())
    {
        return Err(format!("character {bad:?} is not allowed: the endpoint is a scheme and a host only, {EXAMPLE}"));
    }
    let (host, port) = super::function::split_authority(authority, 443, EXAMPLE)?;
    Ok((authority.to_ascii_lowercase(), host.to_ascii_lowercase(), port))
}

/// TLS 1.2/1.3 client settings (ring, as the server side uses) trusting the certificates in
/// `ca_file`, with ALPN `http/1.1`: the client speaks HTTP/1.1 only.
fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = std::fs::read(ca_file).map_err(|error| format!("`{}`: cannot read: {error}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate =
            certificate.map_err(|error| format!("`{}`: not a PEM certificate file: {error}", ca_file.display()))?;
        // A bundle may hold a certificate webpki cannot use as an anchor; the rest still serve.
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        return Err(format!("`{}` holds no usable certificate", ca_file.display()));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (authority as written, host, port) or the error message.
    type Parsed = Result<(&'static str, &'static str, u16), &'static str>;

    #[test]
    fn endpoints() {
        #[rustfmt::skip]
        let cases: &[(&str, Parsed)] = &[
            ("https://scf.tencentcloudapi.com", Ok(("scf.tencentcloudapi.com", "scf.tencentcloudapi.com", 443))),
            ("HTTPS://SCF.ap-guangzhou.tencentcloudapi.com/", Ok(("scf.ap-guangzhou.tencentcloudapi.com", "scf.ap-guangzhou.tencentcloudapi.com", 443))),
            ("https://127.0.0.1:8443", Ok(("127.0.0.1:8443", "127.0.0.1", 8443))),
            ("https://[::1]:8443/", Ok(("[::1]:8443", "::1", 8443))),
            ("http://scf.tencentcloudapi.com", Err("must be an https:// URL like `https://scf.tencentcloudapi.com`")),
            ("https://", Err("has no host; write it like `https://scf.tencentcloudapi.com`")),
            ("https://host/invoke", Err("character '/' is not allowed: the endpoint is a scheme and a host only, like `https://scf.tencentcloudapi.com`")),
            ("https://host:0", Err("`0` is not a port number (1-65535)")),
            ("https://host:+443", Err("`+443` is not a port number (1-65535)")),
        ];
        for (endpoint, expected) in cases {
            let got = parse_endpoint(endpoint);
            let expected = expected.map(|(a, h, p)| (a.to_owned(), h.to_owned(), p)).map_err(str::to_owned);
            assert_eq!(got, expected, "{endpoint}");
        }
    }
}
