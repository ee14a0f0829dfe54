//! `[[function]]` → [`Function`]: names and their uniqueness, the keys each runtime takes (a key
//! of another runtime is refused by name), the `custom`, `web` and `remote` runtimes (a code
//! folder's executable `bootstrap` is checked, an `invoke_url`'s host resolved once), ports two web
//! functions would share, and the lookup of the function an API names. The `tencentcloud` and
//! standard runtimes are [`super::tencentcloud`]'s and [`super::standard`]'s; the keys every local
//! runtime shares are [`super::local`]'s.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::local::{instance_settings, InstanceSettings};
use super::{standard, tencentcloud, ConfigError, Site};
use crate::config::file;
use crate::config::{Function, FunctionIndex, FunctionRuntime, Launcher};

pub(super) const DEFAULT_NAMESPACE: &str = "default";
pub(super) const DEFAULT_QUALIFIER: &str = "$LATEST";
const DEFAULT_MEMORY_MB: u32 = 128;
pub(super) const DEFAULT_HANDLER: &str = "index.main_handler";

/// `(namespace, name, qualifier)`: how APIs refer to a function.
pub(super) type FunctionKey = (String, String, String);

/// Builds every function, keeping its key next to it so APIs can be resolved to a [`FunctionIndex`].
pub(super) fn build_functions(
    functions: Vec<file::Function>,
    source: &Path,
    base_dir: &Path,
) -> Result<Vec<(Function, FunctionKey)>, ConfigError> {
    let mut built: Vec<(Function, FunctionKey)> = Vec::with_capacity(functions.len());
    for (index, function) in functions.into_iter().enumerate() {
        let namespace = function.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let qualifier = function.qualifier.clone().unwrap_or_else(|| DEFAULT_QUALIFIER.to_owned());
        let location = match &function.name {
            Some(name) if !name.is_empty() => format!("function `{namespace}/{name}:{qualifier}`"),
            _ => format!("function #{}", index + 1),
        };
        let site = Site::new(source, location);
        let name = site.required_text("name", function.name.clone())?;
        for (field, value) in [("name", &name), ("namespace", &namespace), ("qualifier", &qualifier)] {
            check_function_identifier(&site, field, value)?;
        }
        let key = (namespace.clone(), name.clone(), qualifier.clone());
        if built.iter().any(|(_, seen)| *seen == key) {
            return Err(site.error(
                "name",
                format!(
                    "`{namespace}/{name}:{qualifier}` is defined twice (namespace, name and qualifier must be unique)"
                ),
            ));
        }
        let memory_mb = match function.memory_limit_in_mb.unwrap_or(DEFAULT_MEMORY_MB) {
            0 => return Err(site.error("memory_limit_in_mb", "must be at least 1")),
            megabytes => megabytes,
        };
        let runtime = match function.runtime.clone() {
            None => {
                return Err(site
                    .error("runtime", "required but missing; use \"custom\", \"remote\", \"web\" or \"tencentcloud\""))
            }
            Some(file::Runtime::Custom) => build_custom(&site, &function, base_dir)?,
            Some(file::Runtime::Remote) => build_remote(&site, &function)?,
            Some(file::Runtime::Web) => build_web(&site, &function, base_dir)?,
            Some(file::Runtime::Tencentcloud) => tencentcloud::build(&site, &function, base_dir)?,
            Some(file::Runtime::Standard(name)) => standard::build(&site, &function, base_dir, &name)?,
        };
        if let FunctionRuntime::Web { port: Some(port), .. } = runtime {
            let taken = built.iter().find(|(other, _)| matches!(other.runtime, FunctionRuntime::Web { port: Some(other_port), .. } if other_port == port));
            if let Some((other, _)) = taken {
                return Err(site.error(
                    "port",
                    format!("port {port} is already the port of web function `{}`; two servers cannot listen on one port (leave `port` out to let the gateway pick one)", other.display_name()),
                ));
            }
        }
        built.push((Function { namespace, name, qualifier, memory_mb, runtime }, key));
    }
    Ok(built)
}

/// Names appear in `namespace/name:qualifier` and in environment variables, so the separators and
/// whitespace would make them ambiguous.
fn check_function_identifier(site: &Site, field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(site.error(field, "may not be empty"));
    }
    if let Some(bad) = value.chars().find(|c| c.is_whitespace() || c.is_control() || *c == '/' || *c == ':') {
        return Err(site.error(field, format!("character {bad:?} is not allowed")));
    }
    Ok(())
}

/// Whether a `[[function]]` table sets a key.
type KeyPresent = fn(&file::Function) -> bool;

/// The `[[function]]` keys that only some runtimes take, and which ones: declared once here, so
/// every other runtime refuses a new key without a list of its own to update.
const RUNTIME_KEYS: &[(&str, KeyPresent, &[&str])] = &[
    ("code", |function| function.code.is_some(), &["custom", "web", "standard"]),
    ("handler", |function| function.handler.is_some(), &["custom", "standard"]),
    ("interpreter", |function| function.interpreter.is_some(), &["standard"]),
    ("instances", |function| function.instances.is_some(), &["custom", "web", "standard"]),
    ("init_timeout", |function| function.init_timeout.is_some(), &["custom", "web", "standard"]),
    ("invoke_url", |function| function.invoke_url.is_some(), &["remote"]),
    ("port", |function| function.port.is_some(), &["web"]),
    ("max_instances", |function| function.max_instances.is_some(), &["custom", "web", "standard"]),
    ("idle_timeout", |function| function.idle_timeout.is_some(), &["custom", "web", "standard"]),
    ("concurrency", |function| function.concurrency.is_some(), &["web"]),
    ("environment", |function| !function.environment.is_empty(), &["custom", "web", "standard"]),
    ("region", |function| function.region.is_some(), &["tencentcloud"]),
    ("endpoint", |function| function.endpoint.is_some(), &["tencentcloud"]),
    ("ca_file", |function| function.ca_file.is_some(), &["tencentcloud"]),
    ("secret_id_env", |function| function.secret_id_env.is_some(), &["tencentcloud"]),
    ("secret_key_env", |function| function.secret_key_env.is_some(), &["tencentcloud"]),
    ("token_env", |function| function.token_env.is_some(), &["tencentcloud"]),
];

/// Refuses a key of another runtime, so a half-converted function is not run with stale settings.
pub(super) fn reject_foreign_keys(site: &Site, function: &file::Function, runtime: &str) -> Result<(), ConfigError> {
    let foreign = RUNTIME_KEYS.iter().find(|(_, present, runtimes)| !runtimes.contains(&runtime) && present(function));
    match foreign {
        Some((key, _, _)) => {
            Err(site.error(key, format!("not allowed for runtime = \"{runtime}\" (it belongs to another runtime)")))
        }
        None => Ok(()),
    }
}

pub(super) fn build_custom(
    site: &Site,
    function: &file::Function,
    base_dir: &Path,
) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "custom")?;
    let code = code_folder(site, function, base_dir, "bootstrap", "a custom runtime")?;
    let handler = function.handler.clone().unwrap_or_else(|| DEFAULT_HANDLER.to_owned());
    if handler.is_empty() {
        return Err(site.error("handler", "may not be empty"));
    }
    let InstanceSettings { instances, max_instances, init_timeout, idle_timeout, environment } =
        instance_settings(site, function, false)?;
    Ok(FunctionRuntime::Custom {
        code,
        launcher: Launcher::Bootstrap,
        handler,
        instances,
        init_timeout,
        max_instances,
        idle_timeout,
        environment,
    })
}

/// `runtime = "web"`: an HTTP server started from `scf_bootstrap` (Tencent's name for it, spec
/// §7.1), on a port of its own per instance unless it insists on one.
fn build_web(site: &Site, function: &file::Function, base_dir: &Path) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "web")?;
    let code = code_folder(site, function, base_dir, "scf_bootstrap", "a web function")?;
    let InstanceSettings { instances, max_instances, init_timeout, idle_timeout, environment } =
        instance_settings(site, function, true)?;
    let port = match function.port {
        Some(0) => return Err(site.error("port", "must be a port number (1-65535); leave `port` out to let the gateway pick a free one")),
        Some(port) if instances > 1 => {
            return Err(site.error(
                "port",
                format!("{instances} instances cannot all listen on port {port}; leave `port` out (each instance then gets its own port in `PORT`) or set instances = 1"),
            ))
        }
        Some(port) if max_instances > 1 => {
            return Err(site.error(
                "max_instances",
                format!("{max_instances} instances cannot all listen on port {port}; leave `port` out (each instance then gets its own port in `PORT`) or leave `max_instances` out"),
            ))
        }
        port => port,
    };
    Ok(FunctionRuntime::Web {
        code,
        instances,
        init_timeout,
        max_instances,
        idle_timeout,
        // SCF runs one request per web function instance unless multi-concurrency is turned on.
        concurrency: site.at_least_one("concurrency", function.concurrency.unwrap_or(1))?,
        port,
        environment,
    })
}

/// The `code` folder, absolute and canonical, checked to hold an executable `program`.
fn code_folder(
    site: &Site,
    function: &file::Function,
    base_dir: &Path,
    program: &str,
    what: &str,
) -> Result<PathBuf, ConfigError> {
    let code = site.required_text("code", function.code.clone())?;
    let code = absolute_code_dir(base_dir, &code)
        .map_err(|error| site.error("code", format!("cannot resolve `{code}`: {error}")))?;
    check_bootstrap(&code, program, what).map_err(|message| site.error("code", message))?;
    // Canonical once it is known to exist: logs then show `/srv/app/functions/hello` rather than
    // `/srv/app/conf/../functions/hello`.
    std::fs::canonicalize(&code).map_err(|error| site.error("code", format!("`{}`: {error}", code.display())))
}

/// `code` relative to the config file's folder, made absolute so that the function host does not
/// depend on the gateway's working directory (and errors show where it looked).
fn absolute_code_dir(base_dir: &Path, code: &str) -> std::io::Result<PathBuf> {
    std::path::absolute(base_dir.join(code))
}

/// The function starts from `program` (`bootstrap`, or a web function's `scf_bootstrap`) in the
/// code folder; checking it now turns a failure at first request into a failure at start.
fn check_bootstrap(code: &Path, program: &str, what: &str) -> Result<(), String> {
    let folder = std::fs::metadata(code).map_err(|error| format!("folder `{}`: {error}", code.display()))?;
    if !folder.is_dir() {
        return Err(format!("`{}` is not a folder", code.display()));
    }
    let bootstrap = code.join(program);
    let metadata = std::fs::metadata(&bootstrap).map_err(|error| {
        format!("`{}`: {error}; {what} folder needs an executable `{program}`", bootstrap.display())
    })?;
    if !metadata.is_file() {
        return Err(format!("`{}` is not a file", bootstrap.display()));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(format!("`{}` is not executable (chmod +x it)", bootstrap.display()));
    }
    Ok(())
}

fn build_remote(site: &Site, function: &file::Function) -> Result<FunctionRuntime, ConfigError> {
    reject_foreign_keys(site, function, "remote")?;
    let url = site.required_text("invoke_url", function.invoke_url.clone())?;
    let endpoint = parse_invoke_url(&url).map_err(|message| site.error("invoke_url", message))?;
    Ok(FunctionRuntime::Remote { url, addr: endpoint.addr, host_header: endpoint.host_header, path: endpoint.path })
}

/// A resolved `invoke_url`.
#[derive(Debug, PartialEq)]
struct InvokeEndpoint {
    addr: SocketAddr,
    host_header: String,
    path: String,
}

/// Splits a URL's authority (`host`, `host:port`, `[v6]:port`; no user info) into host and port,
/// `default_port` when none is written. `example` completes the messages ("like `…`").
pub(super) fn split_authority<'a>(
    authority: &'a str,
    default_port: u16,
    example: &str,
) -> Result<(&'a str, u16), String> {
    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("unbalanced `[` in the host")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or(format!("unexpected `{after}` after the IPv6 address"))?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("has no host; write it {example}"));
    }
    let port = match port_text {
        None => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && text.bytes().all(|byte| byte.is_ascii_digit()) => port,
            _ => return Err(format!("`{text}` is not a port number (1-65535)")),
        },
    };
    Ok((host, port))
}

/// Parses `http://host[:port][/path][?query]` and resolves the host once (start may block; the
/// workers must not).
fn parse_invoke_url(url: &str) -> Result<InvokeEndpoint, String> {
    const EXAMPLE: &str = "like `http://127.0.0.1:9000/invoke`";
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url["http://".len()..]
    } else if lower.starts_with("https://") {
        return Err(format!("https is not supported yet; use an http:// endpoint {EXAMPLE}"));
    } else {
        return Err(format!("must be an http:// URL {EXAMPLE}"));
    };
    if let Some(bad) = rest.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("character {bad:?} is not allowed in a URL"));
    }
    if rest.contains('#') {
        return Err("a URL fragment (`#…`) is not allowed".to_owned());
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(authority_end);
    let path = match target.chars().next() {
        None => "/".to_owned(),
        Some('?') => format!("/{target}"),
        Some(_) => target.to_owned(),
    };
    if authority.is_empty() {
        return Err(format!("has no host; write it {EXAMPLE}"));
    }
    if authority.contains('@') {
        return Err("user info (`user@`) is not supported".to_owned());
    }

    let (host, port) = split_authority(authority, 80, EXAMPLE)?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("host `{host}` does not resolve: {error}"))?
        .next()
        .ok_or_else(|| format!("host `{host}` resolves to no address"))?;
    // RFC 9110 §7.2: Host is the authority without user info, port included as written.
    Ok(InvokeEndpoint { addr, host_header: authority.to_owned(), path })
}

pub(super) fn resolve_function(
    site: &Site,
    reference: Option<file::FunctionRef>,
    functions: &[(Function, FunctionKey)],
) -> Result<FunctionIndex, ConfigError> {
    resolve_function_field(site, "function", reference, functions)
}

/// Resolves the function reference written under `field` (`function`, or a WebSocket API's
/// `register`, `transport`, `cleanup`).
pub(super) fn resolve_function_field(
    site: &Site,
    field: &str,
    reference: Option<file::FunctionRef>,
    functions: &[(Function, FunctionKey)],
) -> Result<FunctionIndex, ConfigError> {
    let Some(reference) = reference else {
        return Err(site.error(field, format!("required but missing; write `{field} = {{ name = \"...\" }}`")));
    };
    let name = site.required_text(&format!("{field}.name"), reference.name)?;
    let key = (
        reference.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        name,
        reference.qualifier.unwrap_or_else(|| DEFAULT_QUALIFIER.to_owned()),
    );
    let find = |key: &FunctionKey| functions.iter().position(|(_, defined)| defined == key).map(FunctionIndex::new);
    find(&key)
        // `$DEFAULT` is the alias SCF gives every function, pointing at `$LATEST` until the user
        // moves it: an API that names it reaches the `$LATEST` function nobody declared an alias for.
        .or_else(|| {
            (key.2 == "$DEFAULT").then(|| find(&(key.0.clone(), key.1.clone(), DEFAULT_QUALIFIER.to_owned()))).flatten()
        })
        .ok_or_else(|| site.error(field, format!("no [[function]] is defined as `{}/{}:{}`", key.0, key.1, key.2)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::parse_str;
    use super::super::test_support::{check_errors, check_errors_in, Scratch};
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn function_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("[[function]]\nname = \"hello\"\n", "[[function]]\n", ": function #1: field `name`: required but missing"),
            ("name = \"echo\"\nnamespace", "name = \"ec ho\"\nnamespace", ": function `tools/ec ho:1`: field `name`: character ' ' is not allowed"),
            ("namespace = \"tools\"\n", "namespace = \"a/b\"\n", ": function `a/b/echo:1`: field `namespace`: character '/' is not allowed"),
            ("qualifier = \"1\"\nruntime", "qualifier = \"\"\nruntime", ": function `tools/echo:`: field `qualifier`: may not be empty"),
            ("name = \"echo\"\nnamespace = \"tools\"\nqualifier = \"1\"", "name = \"hello\"\nqualifier = \"$LATEST\"", ": function `default/hello:$LATEST`: field `name`: `default/hello:$LATEST` is defined twice (namespace, name and qualifier must be unique)"),
            ("runtime = \"remote\"\n", "", ": function `tools/echo:1`: field `runtime`: required but missing; use \"custom\", \"remote\", \"web\" or \"tencentcloud\""),
            ("memory_limit_in_mb = 256", "memory_limit_in_mb = 0", ": function `default/hello:$LATEST`: field `memory_limit_in_mb`: must be at least 1"),
            ("code = \"functions/hello\"\n", "", ": function `default/hello:$LATEST`: field `code`: required but missing"),
            ("code = \"functions/hello\"", "code = \"functions/missing\"", ": function `default/hello:$LATEST`: field `code`: folder `{dir}/functions/missing`: No such file or directory…"),
            ("code = \"functions/hello\"", "code = \"functions/hello/bootstrap\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/hello/bootstrap` is not a folder"),
            ("code = \"functions/hello\"", "code = \"functions/empty\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/empty/bootstrap`: No such file or directory (os error 2); a custom runtime folder needs an executable `bootstrap`"),
            ("code = \"functions/hello\"", "code = \"functions/plain\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/plain/bootstrap` is not executable (chmod +x it)"),
            ("code = \"functions/hello\"", "code = \"functions\"", ": function `default/hello:$LATEST`: field `code`: `{dir}/functions/bootstrap`: No such file or directory (os error 2); a custom runtime folder needs an executable `bootstrap`"),
            ("handler = \"app.handle\"", "handler = \"\"", ": function `default/hello:$LATEST`: field `handler`: may not be empty"),
            ("instances = 2", "instances = 0", ": function `default/hello:$LATEST`: field `instances`: must be at least 1"),
            ("init_timeout = 3", "init_timeout = 0.0", ": function `default/hello:$LATEST`: field `init_timeout`: must be a number of seconds greater than 0 and at most 300 (SCF's limit on a function's init timeout), got 0"),
            ("max_instances = 5", "max_instances = 1", ": function `default/hello:$LATEST`: field `max_instances`: must be at least `instances` (2), got 1"),
            ("idle_timeout = 45", "idle_timeout = -1", ": function `default/hello:$LATEST`: field `idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got -1"),
            // A key of the other runtime is refused by name.
            ("instances = 2", "instances = 2\ninvoke_url = \"http://127.0.0.1/\"", ": function `default/hello:$LATEST`: field `invoke_url`: not allowed for runtime = \"custom\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\ncode = \"x\"", ": function `tools/echo:1`: field `code`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nhandler = \"x\"", ": function `tools/echo:1`: field `handler`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\ninstances = 1", ": function `tools/echo:1`: field `instances`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\ninit_timeout = 1", ": function `tools/echo:1`: field `init_timeout`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nmax_instances = 2", ": function `tools/echo:1`: field `max_instances`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nidle_timeout = 1", ": function `tools/echo:1`: field `idle_timeout`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nenvironment = { A = \"b\" }", ": function `tools/echo:1`: field `environment`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("idle_timeout = 45", "idle_timeout = 45\nenvironment = { SCF_NAMESPACE = \"x\" }", ": function `default/hello:$LATEST`: field `environment.SCF_NAMESPACE`: names starting with `SCF_` are set by the platform (SCF reserves `SCF_`, `QCLOUD_` and `TENCENTCLOUD_`; `SCFGATE_` is the gateway's)"),
            ("invoke_url = \"http://127.0.0.1:9000/invoke?x=1\"\n", "", ": function `tools/echo:1`: field `invoke_url`: required but missing"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"https://127.0.0.1/invoke\"", ": function `tools/echo:1`: field `invoke_url`: https is not supported yet; use an http:// endpoint like `http://127.0.0.1:9000/invoke`"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"ftp://127.0.0.1/\"", ": function `tools/echo:1`: field `invoke_url`: must be an http:// URL like `http://127.0.0.1:9000/invoke`"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http:///invoke\"", ": function `tools/echo:1`: field `invoke_url`: has no host; write it like `http://127.0.0.1:9000/invoke`"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://127.0.0.1:0/\"", ": function `tools/echo:1`: field `invoke_url`: `0` is not a port number (1-65535)"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://127.0.0.1:+80/\"", ": function `tools/echo:1`: field `invoke_url`: `+80` is not a port number (1-65535)"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://user@127.0.0.1/\"", ": function `tools/echo:1`: field `invoke_url`: user info (`user@`) is not supported"),
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://127.0.0.1/#frag\"", ": function `tools/echo:1`: field `invoke_url`: a URL fragment (`#…`) is not allowed"),
            // RFC 2606: `.invalid` never resolves.
            ("\"http://127.0.0.1:9000/invoke?x=1\"", "\"http://nowhere.invalid/\"", ": function `tools/echo:1`: field `invoke_url`: host `nowhere.invalid` does not resolve: …"),
        ];
        check_errors("function", cases);
    }

    /// Web functions (`runtime = "web"`): one with a fixed port, one the gateway places.
    const WEB: &str = r#"[[service]]
id = "service-web"
name = "web"

[[service.api]]
name = "site"
path = "/site"
method = "ANY"
function = { name = "site" }

[[service.api]]
name = "app"
path = "/app"
method = "ANY"
function = { name = "app" }

[[function]]
name = "site"
runtime = "web"
code = "functions/web"
port = 9000

[[function]]
name = "app"
runtime = "web"
code = "functions/web"
instances = 3
max_instances = 5
idle_timeout = 2
concurrency = 4
init_timeout = 5
memory_limit_in_mb = 512
environment = { LOG_LEVEL = "debug" }
"#;

    #[test]
    fn web_functions_parse() {
        let scratch = Scratch::new("web");
        let config = parse_str(WEB, &scratch.source(), &Overrides::default()).unwrap();
        let code = std::fs::canonicalize(scratch.dir.join("functions/web")).unwrap();
        let runtimes: Vec<&FunctionRuntime> = config.functions.iter().map(|function| &function.runtime).collect();
        let secs = Duration::from_secs;
        assert_eq!(
            runtimes,
            [
                &FunctionRuntime::Web {
                    code: code.clone(),
                    instances: 1,
                    init_timeout: secs(30),
                    max_instances: 1,
                    idle_timeout: secs(60),
                    concurrency: 1,
                    port: Some(9000),
                    environment: vec![],
                },
                &FunctionRuntime::Web {
                    code,
                    instances: 3,
                    init_timeout: secs(5),
                    max_instances: 5,
                    idle_timeout: secs(2),
                    concurrency: 4,
                    port: None,
                    environment: vec![("LOG_LEVEL".into(), "debug".into())],
                },
            ]
        );
        assert!(config.functions.iter().all(Function::is_web));
    }

    #[test]
    fn web_function_errors() {
        let site = ": function `default/site:$LATEST`: field";
        let app = ": function `default/app:$LATEST`: field";
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            // Two servers cannot share a port: the second one named is refused, naming the first.
            ("instances = 3
max_instances = 5
", "port = 9000
", &format!("{app} `port`: port 9000 is already the port of web function `default/site:$LATEST`; two servers cannot listen on one port (leave `port` out to let the gateway pick one)")),
            ("port = 9000", "port = 9000\ninstances = 2", &format!("{site} `port`: 2 instances cannot all listen on port 9000; leave `port` out (each instance then gets its own port in `PORT`) or set instances = 1")),
            ("port = 9000", "port = 0", &format!("{site} `port`: must be a port number (1-65535); leave `port` out to let the gateway pick a free one")),
            ("port = 9000", "port = 70000", ":21:8: invalid value: integer `70000`, expected u16"),
            ("code = \"functions/web\"\nport", "code = \"functions/hello\"\nport", &format!("{site} `code`: `{{dir}}/functions/hello/scf_bootstrap`: No such file or directory (os error 2); a web function folder needs an executable `scf_bootstrap`")),
            ("code = \"functions/web\"\nport", "port", &format!("{site} `code`: required but missing")),
            ("port = 9000", "port = 9000\nhandler = \"x\"", &format!("{site} `handler`: not allowed for runtime = \"web\" (it belongs to another runtime)")),
            ("port = 9000", "port = 9000\ninvoke_url = \"http://127.0.0.1/\"", &format!("{site} `invoke_url`: not allowed for runtime = \"web\" (it belongs to another runtime)")),
            ("instances = 3", "instances = 0", &format!("{app} `instances`: must be at least 1")),
            ("max_instances = 5", "max_instances = 2", &format!("{app} `max_instances`: must be at least `instances` (3), got 2")),
            ("port = 9000", "port = 9000\nmax_instances = 2", &format!("{site} `max_instances`: 2 instances cannot all listen on port 9000; leave `port` out (each instance then gets its own port in `PORT`) or leave `max_instances` out")),
            ("concurrency = 4", "concurrency = 0", &format!("{app} `concurrency`: must be at least 1")),
            ("idle_timeout = 2", "idle_timeout = 0", &format!("{app} `idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0")),
            ("function = { name = \"site\" }", "function = { name = \"site\" }\nintegrated_response = true", ": service `web` api `site`: field `integrated_response`: not used with a web function (runtime = \"web\"): its HTTP response is passed through as it is"),
        ];
        check_errors_in(WEB, "web", cases);
    }

    #[test]
    fn port_belongs_to_web_functions_only() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("instances = 2", "instances = 2\nport = 9000", ": function `default/hello:$LATEST`: field `port`: not allowed for runtime = \"custom\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nport = 9000", ": function `tools/echo:1`: field `port`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
            ("instances = 2", "instances = 2\nconcurrency = 2", ": function `default/hello:$LATEST`: field `concurrency`: not allowed for runtime = \"custom\" (it belongs to another runtime)"),
            ("runtime = \"remote\"", "runtime = \"remote\"\nconcurrency = 2", ": function `tools/echo:1`: field `concurrency`: not allowed for runtime = \"remote\" (it belongs to another runtime)"),
        ];
        check_errors("port", cases);
    }

    #[test]
    fn invoke_urls() {
        let ok = |url: &str| parse_invoke_url(url).map(|e| (e.addr.to_string(), e.host_header, e.path));
        #[rustfmt::skip]
        let cases: &[(&str, (&str, &str, &str))] = &[
            ("http://127.0.0.1", ("127.0.0.1:80", "127.0.0.1", "/")),
            ("HTTP://127.0.0.1:9000", ("127.0.0.1:9000", "127.0.0.1:9000", "/")),
            ("http://127.0.0.1:9000/a/b", ("127.0.0.1:9000", "127.0.0.1:9000", "/a/b")),
            ("http://127.0.0.1?x=1", ("127.0.0.1:80", "127.0.0.1", "/?x=1")),
            ("http://[::1]:9000/invoke", ("[::1]:9000", "[::1]:9000", "/invoke")),
            ("http://[::1]/", ("[::1]:80", "[::1]", "/")),
        ];
        for (url, (addr, host, path)) in cases {
            assert_eq!(ok(url), Ok(((*addr).to_owned(), (*host).to_owned(), (*path).to_owned())), "{url}");
        }
    }
}
