//! What a function process gets of the environment: a bootstrap that records the environment it
//! was started with, a gateway environment holding secrets and allow-listed variables as an
//! operator's shell might, and the check of what reached the function.

use std::collections::BTreeMap;

use super::{gateway_path, GatewayBuilder, TempDir, FUNCTION_BIN};

/// Variables of the gateway's own environment, by name and value, that no function may see: the
/// admin API's token, Tencent Cloud API keys, a key pair's secret (`[[secret]] key_env =
/// "PAIR_SECRET_KEY"`) and something only the operator exported.
pub const GATEWAY_SECRETS: &[(&str, &str)] = &[
    ("SCFGATE_ADMIN_TOKEN", "admin-token-3f9c1e"),
    ("TENCENTCLOUD_SECRET_ID", "AKIDoperator7d2b"),
    ("TENCENTCLOUD_SECRET_KEY", "operator-secret-key-91c2"),
    ("PAIR_SECRET_KEY", "pair-secret-55d0"),
    ("OPERATOR_ONLY", "operator-only-value-0b7e"),
];

/// Variables of the gateway's environment on the allow-list of those functions get (README,
/// "What a local function's environment holds"), besides `PATH`.
pub const GATEWAY_ALLOWED: &[(&str, &str)] = &[("TZ", "Asia/Shanghai"), ("LC_TIME", "C")];

/// Checks what a function got of the environment of a gateway started with
/// [`GatewayBuilder::operator_environment`]: none of [`GATEWAY_SECRETS`] (neither the name nor
/// the value under any name), [`GATEWAY_ALLOWED`] and `PATH` as the gateway had them, and no
/// other variable but the allow-list's and `own` (the platform's and the function's
/// `environment` table's).
pub fn assert_only_allowed_environment(environment: &BTreeMap<String, String>, own: &[&str]) {
    for (name, value) in GATEWAY_SECRETS {
        assert!(!environment.contains_key(*name), "{name} reached the function: {environment:#?}");
        let leaked: Vec<&String> = environment.keys().filter(|key| environment[*key].contains(value)).collect();
        assert!(leaked.is_empty(), "the value of {name} reached the function in {leaked:?}: {environment:#?}");
    }
    const ALLOWED: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR"];
    let others: Vec<&String> = environment
        .keys()
        .filter(|name| !ALLOWED.contains(&name.as_str()) && !name.starts_with("LC_") && !own.contains(&name.as_str()))
        .collect();
    assert!(others.is_empty(), "variables neither the platform's, the function's nor allowed: {others:?}");
    assert_eq!(environment.get("PATH"), Some(&gateway_path()), "PATH is passed through");
    for (name, value) in GATEWAY_ALLOWED {
        assert_eq!(environment.get(*name).map(String::as_str), Some(*value), "{name} is passed through");
    }
}

impl TempDir {
    /// Writes an executable `relative` (`<folder>/bootstrap` or `<folder>/scf_bootstrap`) that
    /// saves the environment the gateway started it with, then runs the example function in
    /// `mode`; [`TempDir::recorded_environment`] reads what it saved (once the function has answered).
    pub fn environment_recorder(&self, relative: &str, mode: &str) {
        // /proc/$$/environ is the shell's environment as exec'd, before it adds any of its own.
        let script =
            format!("#!/bin/sh\ncp /proc/$$/environ \"$(dirname \"$0\")/environ\"\nexec \"{FUNCTION_BIN}\" {mode}\n");
        self.executable(relative, &script);
    }

    /// What the [`TempDir::environment_recorder`] in `folder` saved: every variable, by name.
    pub fn recorded_environment(&self, folder: &str) -> BTreeMap<String, String> {
        let path = self.path.join(folder).join("environ");
        let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        bytes
            .split(|&byte| byte == 0)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (name, value) = entry.split_once('=').unwrap_or((&entry, ""));
                (name.to_string(), value.to_string())
            })
            .collect()
    }
}

impl GatewayBuilder {
    /// The gateway's environment also holds [`GATEWAY_SECRETS`] and [`GATEWAY_ALLOWED`], as an
    /// operator's shell might.
    pub fn operator_environment(mut self) -> Self {
        for (name, value) in GATEWAY_SECRETS.iter().chain(GATEWAY_ALLOWED) {
            self = self.env(name, value);
        }
        self
    }
}
