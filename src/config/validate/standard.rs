//! `runtime = "<Tencent's runtime name>"`: event functions written for SCF's standard runtimes
//! (`main_handler(event, context)` in Python or Node.js), run unchanged on this machine's
//! interpreter by scfgate's own runtime for the language (`function_host::standard`).
//!
//! Names are matched as SCF writes them, ignoring case (spec tencent-migration §1.1):
//! `Python2.7`, `Python3.6` and any later `Python3.N`; `Nodejs10.15` and any later `NodejsN.M`
//! (`Nodejs6.10` and `Nodejs8.9`, which SCF retired, too). `CustomRuntime` is `custom`. Go1,
//! Java and PHP are refused with what to do instead. The handler (`file.function`, default
//! `index.main_handler`) must name a file in the code folder, and the interpreter (`interpreter`,
//! default `python3`, `python2` or `node`) must be found: both are checked here, so a typo fails
//! `--check` and the admin API, not the first request.

use std::path::{Path, PathBuf};

use super::function::DEFAULT_HANDLER;
use super::local::{instance_settings, InstanceSettings};
use super::{ConfigError, Site};
use crate::config::{file, FunctionRuntime, Language, Launcher, StandardRuntime};

/// The runtime `name` asks for: its language and the interpreter it runs on by default.
fn language_of(name: &str) -> Result<(Language, &'static str), String> {
    let lower = name.to_ascii_lowercase();
    let version = |prefix: &str| -> Option<(u32, u32)> {
        let (major, minor) = lower.strip_prefix(prefix)?.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    if let Some((major, minor)) = version("python") {
        return match (major, minor) {
            (2, 7) => Ok((Language::Python, "python2")),
            (3, _) => Ok((Language::Python, "python3")),
            _ => Err(format!("`{name}` is not a Python runtime SCF has (Python2.7, Python3.6 and later)")),
        };
    }
    if let Some((major, _)) = version("nodejs") {
        return if major >= 6 {
            Ok((Language::Node, "node"))
        } else {
            Err(format!("`{name}` is not a Node.js runtime SCF has (Nodejs10.15 and later)"))
        };
    }
    let instead = "run it as runtime = \"custom\", with a `bootstrap` that speaks SCF's custom-runtime API";
    Err(if lower.starts_with("go") {
        format!("`{name}`: Tencent's Go runtime talks to the function binary over Go's net/rpc, which scfgate does not speak; {instead}")
    } else if lower.starts_with("java") {
        format!("`{name}`: Java handlers are not run by scfgate; {instead} (or as a web function)")
    } else if lower.starts_with("php") {
        format!("`{name}`: PHP handlers are not run by scfgate; {instead} (or as a web function with `php -S`)")
    } else {
        format!("`{name}` is not a runtime scfgate knows: use \"custom\", \"web\", \"remote\", \"tencentcloud\", or one of Tencent's standard runtimes (Python2.7, Python3.6 and later, Nodejs10.15 and later)")
    })
}

/// Builds a function of a standard runtime (see the module docs).
pub(super) fn build(
    site: &Site,
    function: &file::Function,
    base_dir: &Path,
    name: &str,
) -> Result<FunctionRuntime, ConfigError> {
    if name.eq_ignore_ascii_case("customruntime") {
        // SCF's own name for a custom runtime, as exports write it.
        let mut custom = function.clone();
        custom.runtime = Some(file::Runtime::Custom);
        return super::function::build_custom(site, &custom, base_dir);
    }
    super::function::reject_foreign_keys(site, function, "standard")?;
    let (language, default_interpreter) = language_of(name).map_err(|message| site.error("runtime", message))?;
    let code = site.required_text("code", function.code.clone())?;
    let code = std::path::absolute(base_dir.join(&code))
        .and_then(std::fs::canonicalize)
        .map_err(|error| site.error("code", format!("folder `{code}`: {error}")))?;
    if !code.is_dir() {
        return Err(site.error("code", format!("`{}` is not a folder", code.display())));
    }
    let handler = function.handler.clone().unwrap_or_else(|| DEFAULT_HANDLER.to_owned());
    check_handler(&code, &handler, language).map_err(|message| site.error("handler", message))?;
    let interpreter = match &function.interpreter {
        Some(interpreter) => find_program(interpreter, base_dir).ok_or_else(|| {
            site.error("interpreter", format!("`{interpreter}` is not an executable file, nor found on PATH"))
        })?,
        None => find_program(default_interpreter, base_dir).ok_or_else(|| {
            site.error(
                "runtime",
                format!("`{name}` runs on `{default_interpreter}`, which is not on PATH: install it, or name another with `interpreter`"),
            )
        })?,
    };
    let InstanceSettings { instances, max_instances, init_timeout, idle_timeout, environment } =
        instance_settings(site, function, false)?;
    Ok(FunctionRuntime::Custom {
        code,
        launcher: Launcher::Standard(StandardRuntime { name: name.to_owned(), language, interpreter }),
        handler,
        instances,
        init_timeout,
        max_instances,
        idle_timeout,
        environment,
    })
}

/// `file.function`: a function name after the last `.`, and a file of the language before it
/// (a Python module path `pkg.module` is `pkg/module.py` or a package's `__init__.py`).
fn check_handler(code: &Path, handler: &str, language: Language) -> Result<(), String> {
    let Some((file, entry)) = handler.rsplit_once('.') else {
        return Err(format!("`{handler}` is not `file.function` (e.g. `index.main_handler`)"));
    };
    let identifier = |text: &str| {
        !text.is_empty()
            && !text.starts_with(|c: char| c.is_ascii_digit())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    if !identifier(entry) {
        return Err(format!("`{entry}` in `{handler}` is not a function name"));
    }
    if file.is_empty() || file.split(['.', '/']).any(|part| part.is_empty() || part == "..") {
        return Err(format!("`{file}` in `{handler}` is not a file name"));
    }
    let candidates: Vec<PathBuf> = match language {
        Language::Python => {
            let module = file.replace('.', "/");
            vec![code.join(format!("{module}.py")), code.join(&module).join("__init__.py")]
        }
        Language::Node => {
            ["js", "cjs", "mjs"].iter().map(|extension| code.join(format!("{file}.{extension}"))).collect()
        }
    };
    if candidates.iter().any(|candidate| candidate.is_file()) {
        return Ok(());
    }
    let names: Vec<String> = candidates
        .iter()
        .map(|candidate| candidate.strip_prefix(code).unwrap_or(candidate).display().to_string())
        .collect();
    Err(format!("`{handler}` needs {} in `{}`, which has none", names.join(" or "), code.display()))
}

/// `program` as an executable file: a path (relative ones against the config file's folder),
/// or a name looked up on `PATH`.
fn find_program(program: &str, base_dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        path.metadata().is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = base_dir.join(program);
        return executable(&path).then(|| std::path::absolute(path).ok()).flatten();
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|folder| Path::new(folder).join(program))
        .find(|path| executable(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_as_scf_writes_them() {
        // (name, language or the start of the error)
        #[rustfmt::skip]
        let cases: &[(&str, Result<Language, &str>)] = &[
            ("Python3.6", Ok(Language::Python)), ("Python3.9", Ok(Language::Python)), ("python3.10", Ok(Language::Python)),
            ("Python3.12", Ok(Language::Python)), ("Python2.7", Ok(Language::Python)),
            ("Nodejs10.15", Ok(Language::Node)), ("Nodejs16.13", Ok(Language::Node)), ("NODEJS18.15", Ok(Language::Node)),
            ("Python2.6", Err("`Python2.6` is not a Python runtime")), ("Python3", Err("`Python3` is not a runtime scfgate knows")),
            ("Go1", Err("`Go1`: Tencent's Go runtime")), ("Java8", Err("`Java8`: Java handlers")), ("Php7", Err("`Php7`: PHP handlers")),
            ("Ruby2.5", Err("`Ruby2.5` is not a runtime scfgate knows")),
        ];
        for (name, expected) in cases {
            match (language_of(name), expected) {
                (Ok((language, _)), Ok(expected)) => assert_eq!(language, *expected, "{name}"),
                (Err(message), Err(start)) => assert!(message.starts_with(start), "{name}: {message}"),
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }

    #[test]
    fn handlers_must_name_a_file_of_the_language() {
        let code = std::env::temp_dir().join(format!("scfgate-standard-{}", std::process::id()));
        std::fs::create_dir_all(code.join("pkg")).unwrap();
        for file in ["index.py", "app.js", "pkg/__init__.py", "pkg/mod.py"] {
            std::fs::write(code.join(file), "").unwrap();
        }
        #[rustfmt::skip]
        let cases: &[(&str, Language, bool)] = &[
            ("index.main_handler", Language::Python, true), ("pkg.mod.handler", Language::Python, true),
            ("pkg.handler", Language::Python, true), ("app.main_handler", Language::Node, true),
            ("index.main_handler", Language::Node, false), ("main_handler", Language::Python, false),
            ("index.", Language::Python, false), ("../index.main", Language::Python, false),
            ("missing.main_handler", Language::Python, false),
        ];
        for (handler, language, ok) in cases {
            assert_eq!(check_handler(&code, handler, *language).is_ok(), *ok, "{handler} ({language:?})");
        }
        let _ = std::fs::remove_dir_all(&code);
    }
}
