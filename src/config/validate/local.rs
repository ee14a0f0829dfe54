//! The `[[function]]` keys every locally run function (`custom` and `web`) shares: how many
//! processes run (`instances`, `max_instances`), their timeouts (`init_timeout`, `idle_timeout`)
//! and the variables they are given (`environment`). The runtime-specific keys stay with
//! `build_custom` and `build_web`; what else a process's environment holds (the platform's
//! variables, the few passed through from the gateway's) is `function_host::process`'s business.

use std::collections::BTreeMap;
use std::time::Duration;

use super::durations::{INIT_TIMEOUT, ONE_DAY};
use super::{ConfigError, Site};
use crate::config::file;

const DEFAULT_INSTANCES: usize = 1;
const DEFAULT_INIT_TIMEOUT_SECS: u64 = 30;
/// Like SCF, which reclaims an instance some minutes after its last invocation; shorter here,
/// since a local machine has less to spare.
const DEFAULT_INSTANCE_IDLE_TIMEOUT_SECS: u64 = 60;

/// Prefixes of the variables the platform sets, which a function's `environment` may not set:
/// SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_` (spec tencent-migration §1.5), and
/// `SCFGATE_` is this gateway's (`SCFGATE_PUSH_URL`, `SCFGATE_PUSH_TOKEN`).
const RESERVED_PREFIXES: &[&str] = &["SCF_", "QCLOUD_", "TENCENTCLOUD_", "SCFGATE_"];

/// Reserved names a function may set all the same: SCF fills them with the temporary credentials
/// of the function's run role (spec §1.5), and a local gateway has no role to take them from, so
/// a function that calls Tencent Cloud APIs gets its credentials here or nowhere.
const ROLE_CREDENTIALS: &[&str] = &["TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"];

/// What a `custom` or `web` function's shared keys come to.
pub(super) struct InstanceSettings {
    pub instances: usize,
    pub max_instances: usize,
    pub init_timeout: Duration,
    pub idle_timeout: Duration,
    /// The function's `environment` table, in name order.
    pub environment: Vec<(String, String)>,
}

/// `instances`, `max_instances` (at least `instances`), `init_timeout` and `idle_timeout`, with
/// their defaults, and `environment`. `web`: whether the function is a web function, whose
/// `PORT` the gateway sets.
pub(super) fn instance_settings(
    site: &Site,
    function: &file::Function,
    web: bool,
) -> Result<InstanceSettings, ConfigError> {
    let instances = site.at_least_one("instances", function.instances.unwrap_or(DEFAULT_INSTANCES))?;
    let max_instances = function.max_instances.unwrap_or(instances);
    if max_instances < instances {
        return Err(
            site.error("max_instances", format!("must be at least `instances` ({instances}), got {max_instances}"))
        );
    }
    let init_timeout = match function.init_timeout {
        Some(seconds) => site.duration("init_timeout", seconds, INIT_TIMEOUT)?,
        None => Duration::from_secs(DEFAULT_INIT_TIMEOUT_SECS),
    };
    let idle_timeout = match function.idle_timeout {
        Some(seconds) => site.duration("idle_timeout", seconds, ONE_DAY)?,
        None => Duration::from_secs(DEFAULT_INSTANCE_IDLE_TIMEOUT_SECS),
    };
    let environment = environment(site, &function.environment, web)?;
    Ok(InstanceSettings { instances, max_instances, init_timeout, idle_timeout, environment })
}

/// `environment` (SCF: 环境变量, `Environment.Variables`), checked as SCF checks it, so a table
/// that works here works on Tencent Cloud: names `[A-Za-z][A-Za-z0-9_]*` (spec §1.5), none of
/// the platform's. A value may hold anything but NUL, which no process environment can carry.
fn environment(site: &Site, table: &BTreeMap<String, String>, web: bool) -> Result<Vec<(String, String)>, ConfigError> {
    for (name, value) in table {
        let field = format!("environment.{name}");
        let mut characters = name.chars();
        let well_formed = characters.next().is_some_and(|first| first.is_ascii_alphabetic())
            && characters.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(site.error(
                &field,
                "a variable name starts with a letter and holds only letters, digits and `_` (as SCF requires)",
            ));
        }
        let reserved = RESERVED_PREFIXES.iter().find(|prefix| name.starts_with(**prefix));
        if let (Some(prefix), false) = (reserved, ROLE_CREDENTIALS.contains(&name.as_str())) {
            return Err(site.error(
                &field,
                format!("names starting with `{prefix}` are set by the platform (SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_`; `SCFGATE_` is the gateway's)"),
            ));
        }
        if web && name == "PORT" {
            return Err(site.error(
                &field,
                "the gateway sets `PORT` to the port each instance must listen on; to fix the port, set `port = N` instead",
            ));
        }
        if value.contains('\0') {
            return Err(site.error(&field, "a value may not contain a NUL character"));
        }
    }
    Ok(table.iter().map(|(name, value)| (name.clone(), value.clone())).collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Variables, as written in a test table.
    type Pairs = &'static [(&'static str, &'static str)];

    /// One line per case: the table, whether the function is a web function, and what `--check`
    /// prints (spec tencent-migration §1.5 for the name rules).
    #[test]
    fn environment_tables() {
        let site = Site::new(Path::new("scfgate.toml"), "function `default/f:$LATEST`".to_owned());
        let at = "scfgate.toml: function `default/f:$LATEST`: field";
        #[rustfmt::skip]
        let cases: &[(Pairs, bool, Result<Pairs, String>)] = &[
            (&[("DB_HOST", "127.0.0.1"), ("A", "")], false, Ok(&[("A", ""), ("DB_HOST", "127.0.0.1")])),
            (&[("PORT", "9000")], false, Ok(&[("PORT", "9000")])),
            (&[("TENCENTCLOUD_SECRETKEY", "role key")], true, Ok(&[("TENCENTCLOUD_SECRETKEY", "role key")])),
            (&[("PORT", "9000")], true, Err(format!("{at} `environment.PORT`: the gateway sets `PORT` to the port each instance must listen on; to fix the port, set `port = N` instead"))),
            (&[("_HANDLER", "x")], false, Err(format!("{at} `environment._HANDLER`: a variable name starts with a letter and holds only letters, digits and `_` (as SCF requires)"))),
            (&[("A-B", "x")], false, Err(format!("{at} `environment.A-B`: a variable name starts with a letter and holds only letters, digits and `_` (as SCF requires)"))),
            (&[("", "x")], false, Err(format!("{at} `environment.`: a variable name starts with a letter and holds only letters, digits and `_` (as SCF requires)"))),
            (&[("SCF_FUNCTIONNAME", "x")], false, Err(format!("{at} `environment.SCF_FUNCTIONNAME`: names starting with `SCF_` are set by the platform (SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_`; `SCFGATE_` is the gateway's)"))),
            (&[("TENCENTCLOUD_REGION", "x")], false, Err(format!("{at} `environment.TENCENTCLOUD_REGION`: names starting with `TENCENTCLOUD_` are set by the platform (SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_`; `SCFGATE_` is the gateway's)"))),
            (&[("SCFGATE_PUSH_TOKEN", "x")], true, Err(format!("{at} `environment.SCFGATE_PUSH_TOKEN`: names starting with `SCFGATE_` are set by the platform (SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_`; `SCFGATE_` is the gateway's)"))),
            (&[("A", "x\0y")], false, Err(format!("{at} `environment.A`: a value may not contain a NUL character"))),
        ];
        for (table, web, expected) in cases {
            let table: BTreeMap<String, String> =
                table.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
            let got = environment(&site, &table, *web).map_err(|error| error.to_string());
            let expected = expected
                .clone()
                .map(|pairs| pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect());
            assert_eq!(got, expected, "{table:?}");
        }
    }
}
