//! Tencent's standard runtimes (`runtime = "Python3.9"`, `"Nodejs16.13"`, ...): scfgate's own
//! small runtime per language, embedded in the binary, runs a user's `main_handler` unchanged on
//! this machine's interpreter. It is a custom-runtime client of the host's runtime API like any
//! `bootstrap` (so instances, scaling, timeouts, memory limits, `--watch` and restarts are the
//! custom runtime's), and it does what SCF's runtime does for the handler (spec
//! tencent-migration §1.3-§1.9): imports the handler's file from the code folder once per
//! instance (global-scope code runs then), calls it with the event and a context carrying
//! Tencent's fields, accepts Node's async, promise and callback styles, returns the value as
//! JSON, and reports a thrown error, an import failure or a value that is not JSON in SCF's
//! error shape (`{"errorCode":-1,"errorMessage":...,"stackTrace":...,"statusCode":...}`), the
//! traceback going to the log with the request id.
//!
//! The runtimes are written out to a private folder (mode 0700) under the system's temporary
//! folder, and run from there: the code folder is left as the user shipped it. Web functions'
//! bootstraps mapped from SCF's image paths go there too (`super::var_lang`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::process::{function_command, FunctionEnvironment};
use crate::config::{Language, StandardRuntime};

/// The Python runtime (Python 2.7 and 3).
const PYTHON: &str = include_str!("runtimes/python_runtime.py");
/// The Node.js runtime.
const NODE: &str = include_str!("runtimes/node_runtime.js");

/// scfgate's private folder for what it runs functions with, made once.
static FOLDER: OnceLock<Result<PathBuf, String>> = OnceLock::new();

fn folder() -> io::Result<&'static Path> {
    let folder = FOLDER.get_or_init(|| make_folder().map_err(|error| error.to_string()));
    match folder {
        Ok(folder) => Ok(folder),
        Err(error) => Err(io::Error::other(format!("cannot write scfgate's runtimes: {error}"))),
    }
}

fn make_folder() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let folder = std::env::temp_dir().join(format!("scfgate-runtimes-{}", std::process::id()));
    // Left by an earlier gateway with this pid: made anew.
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::DirBuilder::new().mode(0o700).create(&folder)?;
    Ok(folder)
}

/// Writes `text` as `name` in scfgate's private folder, with `mode`, whole or not at all (a
/// process starting from it never reads half of it); returns its path.
pub fn write_private(name: &str, text: &str, mode: u32) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = folder()?.join(name);
    if std::fs::read_to_string(&path).is_ok_and(|existing| existing == text) {
        return Ok(path);
    }
    let partial = path.with_extension(format!("partial-{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    std::fs::write(&partial, text)?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// The path of `language`'s runtime, written out when first needed.
fn script(language: Language) -> io::Result<PathBuf> {
    match language {
        Language::Python => write_private("python_runtime.py", PYTHON, 0o600),
        Language::Node => write_private("node_runtime.js", NODE, 0o600),
    }
}

/// The command that runs `runtime`'s handler from `code`: the interpreter on scfgate's runtime,
/// with the variables SCF sets for the language (module search paths as SCF has them, the code
/// folder first; unbuffered Python output, so lines reach the log as they are printed).
pub fn command(runtime: &StandardRuntime, code: &Path, function: &FunctionEnvironment<'_>) -> io::Result<Command> {
    let script = script(runtime.language)?;
    let mut command = function_command(&runtime.interpreter, code, function);
    command.arg(script).env("SCF_RUNTIME", &runtime.name).env("USER_CODE_ROOT", code);
    match runtime.language {
        Language::Python => {
            command.env("PYTHONPATH", code).env("PYTHONDONTWRITEBYTECODE", "x").env("PYTHONUNBUFFERED", "1");
        }
        Language::Node => {
            let node_path = std::env::join_paths([code.to_path_buf(), code.join("node_modules")])
                .map_err(|error| io::Error::other(error.to_string()))?;
            command.env("NODE_PATH", node_path);
        }
    }
    Ok(command)
}

/// `interpreter --version`, for the log: which version serves a function that asked for another.
pub fn version(interpreter: &Path) -> Option<String> {
    let output = Command::new(interpreter).arg("--version").output().ok()?;
    // Python 2 prints it on stderr.
    let text = if output.stdout.is_empty() { output.stderr } else { output.stdout };
    Some(String::from_utf8_lossy(&text).trim().to_string()).filter(|version| !version.is_empty())
}
