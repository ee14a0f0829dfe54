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
//! The runtimes are written out once per gateway, to a private folder (mode 0700) under the
//! system's temporary folder, and run from there: the code folder is left as the user shipped it.

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

/// The folder the runtimes were written to, once.
static FOLDER: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The path of `language`'s runtime, written out on first use.
fn script(language: Language) -> io::Result<PathBuf> {
    let folder = FOLDER.get_or_init(|| write_runtimes().map_err(|error| error.to_string()));
    let folder =
        folder.as_ref().map_err(|error| io::Error::other(format!("cannot write scfgate's runtimes: {error}")))?;
    Ok(folder.join(match language {
        Language::Python => "python_runtime.py",
        Language::Node => "node_runtime.js",
    }))
}

fn write_runtimes() -> io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let folder = std::env::temp_dir().join(format!("scfgate-runtimes-{}", std::process::id()));
    // Left by an earlier gateway with this pid: written anew.
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::DirBuilder::new().mode(0o700).create(&folder)?;
    for (name, text) in [("python_runtime.py", PYTHON), ("node_runtime.js", NODE)] {
        let path = folder.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(folder)
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
