//! The validated settings of a `runtime = "tencentcloud"` function: which region, where SCF's API
//! 3.0 endpoint is, the credentials read from the environment at load, and the TLS client
//! configuration built from the trusted certificates. `validate` builds it; `backend::tencentcloud`
//! uses it. Secrets never appear in `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::ServerName;

/// SCF's API 3.0 endpoint (Tencent: 接口请求域名 `scf.tencentcloudapi.com`).
pub const DEFAULT_ENDPOINT: &str = "https://scf.tencentcloudapi.com";
/// Where Debian, Ubuntu and Alpine keep the system's trusted certificates.
pub const DEFAULT_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Environment variables read by default: the names Tencent's SDKs and `tccli` use.
pub const DEFAULT_SECRET_ID_ENV: &str = "TENCENTCLOUD_SECRET_ID";
/// See [`DEFAULT_SECRET_ID_ENV`].
pub const DEFAULT_SECRET_KEY_ENV: &str = "TENCENTCLOUD_SECRET_KEY";
/// See [`DEFAULT_SECRET_ID_ENV`].
pub const DEFAULT_TOKEN_ENV: &str = "TENCENTCLOUD_SESSION_TOKEN";

/// How the gateway reaches one function in Tencent Cloud.
#[derive(Clone)]
pub struct TencentCloudFunction {
    /// `X-TC-Region`, e.g. `ap-guangzhou`.
    pub region: String,
    /// The endpoint as written, for logs and `--check`.
    pub endpoint: String,
    /// The `Host` header, which is also the signed `host`: the endpoint's authority as written.
    pub host: String,
    /// The name the server's certificate must carry (SNI): the host without a port.
    pub server_name: ServerName<'static>,
    /// The endpoint's address, resolved once at load.
    pub addr: SocketAddr,
    /// SecretId, SecretKey and the optional token.
    pub credentials: Credentials,
    /// TLS 1.2/1.3 client settings trusting `ca_file`'s certificates; shared by every worker.
    pub tls: Arc<rustls::ClientConfig>,
}

/// Equal when every setting is; the TLS settings (rustls's have no equality) only when they are the
/// very same ones, so two loads of one file compare unequal rather than equal by accident.
impl PartialEq for TencentCloudFunction {
    fn eq(&self, other: &Self) -> bool {
        self.region == other.region
            && self.endpoint == other.endpoint
            && self.host == other.host
            && self.server_name == other.server_name
            && self.addr == other.addr
            && self.credentials == other.credentials
            && Arc::ptr_eq(&self.tls, &other.tls)
    }
}

impl fmt::Debug for TencentCloudFunction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TencentCloudFunction")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("addr", &self.addr)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// A Tencent Cloud API key pair (console: 访问密钥), possibly temporary (with a token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    secret_id: String,
    /// `"TC3" + SecretKey`: the key of the first HMAC in TC3 signing, prepared once.
    tc3_secret_key: Box<[u8]>,
    token: Option<String>,
}

impl Credentials {
    /// A key pair, with the token of temporary credentials when there is one.
    pub fn new(secret_id: String, secret_key: &str, token: Option<String>) -> Self {
        let tc3_secret_key = [b"TC3".as_slice(), secret_key.as_bytes()].concat().into_boxed_slice();
        Credentials { secret_id, tc3_secret_key, token }
    }

    /// The SecretId (it travels in the clear in `Authorization`).
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// `"TC3" + SecretKey`.
    pub fn tc3_secret_key(&self) -> &[u8] {
        &self.tc3_secret_key
    }

    /// The temporary credential's token, sent as `X-TC-Token`.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_secret() {
        let credentials = Credentials::new("AKIDexample".into(), "very-secret-key", Some("very-secret-token".into()));
        let shown = format!("{credentials:?}");
        assert!(shown.contains("AKIDexample"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(credentials.tc3_secret_key(), b"TC3very-secret-key");
    }
}
