//! `[[secret]]` → [`Secret`]s (key pairs for the key-pair policy, the key given inline or through
//! an environment variable, sorted by id for lookup) and `[[certificate]]` → the certificate specs
//! HTTPS listeners serve (hosts checked, paths resolved; the files are read by `crate::tls`).

use std::path::Path;

use super::{ConfigError, Site};
use crate::config::file;
use crate::config::Secret;
use crate::policy::key_pair::secret_key::SecretKey;

pub(super) fn build_secrets(secrets: Vec<file::Secret>, source: &Path) -> Result<Vec<Secret>, ConfigError> {
    let mut built: Vec<Secret> = Vec::with_capacity(secrets.len());
    for (index, secret) in secrets.into_iter().enumerate() {
        let site = Site::new(
            source,
            match &secret.id {
                Some(id) if !id.is_empty() => format!("secret `{id}`"),
                _ => format!("secret #{}", index + 1),
            },
        );
        let id = site.required_text("id", secret.id)?;
        // The id travels inside `Authorization: hmac id="..."`.
        if let Some(bad) = id.chars().find(|c| !c.is_ascii_graphic() || matches!(c, '"' | ',' | '\\')) {
            return Err(site.error("id", format!("character {bad:?} is not allowed")));
        }
        if built.iter().any(|other| other.id == id) {
            return Err(site.error("id", "another [[secret]] has the same id"));
        }
        let key = match (secret.key, secret.key_env) {
            (Some(_), Some(_)) => return Err(site.error("key_env", "give `key` or `key_env`, not both")),
            (None, None) => {
                return Err(
                    site.error("key", "required but missing; give `key`, or `key_env` naming an environment variable")
                )
            }
            (Some(key), None) if key.is_empty() => return Err(site.error("key", "may not be empty")),
            (Some(key), None) => key,
            (None, Some(variable)) => match std::env::var(&variable) {
                Ok(key) if !key.is_empty() => key,
                Ok(_) => return Err(site.error("key_env", format!("environment variable `{variable}` is empty"))),
                Err(std::env::VarError::NotPresent) => {
                    return Err(site.error("key_env", format!("environment variable `{variable}` is not set")))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(site.error("key_env", format!("environment variable `{variable}` is not UTF-8")))
                }
            },
        };
        built.push(Secret { id, key: SecretKey::new(key.as_bytes()) });
    }
    // `Config::secret` looks ids up by binary search.
    built.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(built)
}

/// `[[certificate]]`: hosts lower-cased, paths resolved against the config file's folder. The
/// files themselves are read once at start by `crate::tls::server_config`, whose errors name them.
pub(super) fn build_certificates(
    certificates: Vec<file::Certificate>,
    source: &Path,
    base_dir: &Path,
) -> Result<Vec<crate::tls::CertificateSpec>, ConfigError> {
    certificates
        .into_iter()
        .enumerate()
        .map(|(index, certificate)| {
            let site = Site::new(source, format!("certificate #{}", index + 1));
            let hosts = certificate.hosts.unwrap_or_default();
            if hosts.is_empty() {
                return Err(site.error("hosts", "at least one host name is required"));
            }
            for host in &hosts {
                let name = host.strip_prefix("*.").unwrap_or(host);
                if name.is_empty()
                    || !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-')
                {
                    return Err(site.error("hosts", format!("`{host}` is not a host name")));
                }
            }
            let cert = site.required_text("cert", certificate.cert)?;
            let key = site.required_text("key", certificate.key)?;
            Ok(crate::tls::CertificateSpec {
                hosts: hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
                cert: base_dir.join(cert),
                key: base_dir.join(key),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::super::test_support::{check_errors_in, Scratch, POLICY};
    use crate::config::Overrides;

    #[test]
    fn secrets_parse_sorted_by_id() {
        let scratch = Scratch::new("secrets");
        let config = parse_str(POLICY, &scratch.source(), &Overrides::default()).unwrap();
        // Secrets are sorted by id for lookup, and never print their keys.
        assert_eq!(
            format!("{:?}", config.secrets),
            r#"[Secret { id: "AKIDgold", key: SecretKey(..) }, Secret { id: "AKIDpath", key: SecretKey(..) }]"#
        );
        assert_eq!(config.secret(b"AKIDpath"), Some(crate::config::SecretIndex::new(1)));
        assert_eq!(config.secret(b"AKIDnone"), None);
    }

    #[test]
    fn secret_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("id = \"AKIDgold\"", "id = \"AKID gold\"", ": secret `AKID gold`: field `id`: character ' ' is not allowed"),
            ("id = \"AKIDpath\"", "id = \"AKIDgold\"", ": secret `AKIDgold`: field `id`: another [[secret]] has the same id"),
            ("key = \"gold-key\"\n", "", ": secret `AKIDgold`: field `key`: required but missing; give `key`, or `key_env` naming an environment variable"),
            ("key = \"gold-key\"", "key = \"\"", ": secret `AKIDgold`: field `key`: may not be empty"),
            ("key = \"gold-key\"", "key = \"gold-key\"\nkey_env = \"PATH\"", ": secret `AKIDgold`: field `key_env`: give `key` or `key_env`, not both"),
            ("key_env = \"PATH\"", "key_env = \"SCFGATE_TEST_SURELY_UNSET_VARIABLE\"", ": secret `AKIDpath`: field `key_env`: environment variable `SCFGATE_TEST_SURELY_UNSET_VARIABLE` is not set"),
        ];
        check_errors_in(POLICY, "secrets", cases);
    }
}
