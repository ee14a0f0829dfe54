//! Starting one custom-runtime instance: its own `bootstrap`, or scfgate's runtime for a
//! standard runtime (`super::standard`), pointed at its runtime-API port, through the one way
//! every function process starts (`super::process::spawn_command`).

use std::io;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;

use super::output::{OutputTags, StderrTail};
use super::process::{function_command, spawn_command, FunctionEnvironment, ProcessRegistry};
use crate::config::Launcher;

/// What a started custom-runtime process needs to know about itself.
pub struct Launch<'a> {
    /// The function's code folder (holds `bootstrap` or the handler; the working directory).
    pub code: &'a Path,
    /// Its own `bootstrap`, or scfgate's runtime for its language.
    pub launcher: &'a Launcher,
    /// `_HANDLER`.
    pub handler: &'a str,
    /// The port of this instance's runtime API.
    pub runtime_api_port: u16,
    /// Its function's name, memory size, identity and `environment` table.
    pub function: FunctionEnvironment<'a>,
    /// How its stdout and stderr lines are tagged in the log.
    pub output: &'a Arc<OutputTags>,
}

/// Starts `bootstrap` (or scfgate's runtime for a standard runtime) in its own process group,
/// set to die with the gateway, with its memory limit; its output is logged and the tail of its
/// stderr kept in the returned [`StderrTail`].
pub fn spawn(launch: &Launch<'_>, registry: &ProcessRegistry) -> io::Result<(Child, StderrTail)> {
    let mut command = match launch.launcher {
        Launcher::Bootstrap => function_command(&launch.code.join("bootstrap"), launch.code, &launch.function),
        Launcher::Standard(runtime) => super::standard::command(runtime, launch.code, &launch.function)?,
    };
    command
        .env("SCF_RUNTIME_API", "127.0.0.1")
        .env("SCF_RUNTIME_API_PORT", launch.runtime_api_port.to_string())
        .env("_HANDLER", launch.handler);
    spawn_command(command, launch.function.memory_mb, launch.output, registry)
}
