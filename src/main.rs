//! The `scfgate` binary: parse flags, set up logging, load and check the configuration, then
//! hand it to `scfgate::gateway::serve` (or signal a running gateway to reload or upgrade).
//! Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

use scfgate::admin::Management;
use scfgate::cli::{AccessLogFormat, Args};
use scfgate::config::{self};
use scfgate::route::Router;
use scfgate::upgrade;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(import) = scfgate::cli::ImportArgs::from_command_line() {
        return scfgate::import::main(import);
    }
    let args = Args::parse();
    let _log_writer = init_logging(&args);
    if (args.reload || args.upgrade) && args.uses_state() {
        // The running gateway holds the state; only the file's own tables need checking here.
        let parsed = std::fs::read_to_string(&args.config)
            .map_err(|error| format!("{}: cannot read the file: {error}", args.config.display()))
            .and_then(|text| config::validate::parse_file(&text, &args.config).map_err(|error| error.to_string()));
        if let Err(error) = parsed {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        return if args.upgrade { request_upgrade(&args) } else { signal_reload(&args) };
    }
    // With a state directory, the management plane's state decides what is served.
    let loaded = match args.store_choice() {
        Ok(Some(choice)) => Management::open(&args.config, choice, &args.overrides(), args.max_releases, args.check)
            .map(|(management, config)| (Some(management), config)),
        Ok(None) => config::load(&args.config, &args.overrides())
            .map(|config| (None, config))
            .map_err(|error| error.to_string()),
        Err(error) => Err(error),
    };
    let (management, config) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let router = match Router::build(&config) {
        Ok(router) => router,
        Err(error) => {
            eprintln!("error: {}", error.0);
            return ExitCode::from(2);
        }
    };
    if !config.certificates.is_empty() {
        // Certificates are read and checked here so --check catches a bad one too.
        if let Err(error) = scfgate::tls::server_config(&config.certificates) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    }
    if args.reload {
        return signal_reload(&args);
    }
    if args.upgrade {
        return request_upgrade(&args);
    }
    if args.check {
        print!("{}", scfgate::check::route_table(&config));
        println!("{}: configuration is valid", config.source.display());
        return ExitCode::SUCCESS;
    }
    match scfgate::gateway::serve(args, config, router, management) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // When this process was started by an upgrade, the running one hears why it failed.
            upgrade::report_failure(&error);
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr through a writer thread (`tracing_appender`): a worker formats its line
/// and hands it over, never waiting on the pipe or the journal; when the writer falls behind by
/// more than its buffer, lines are dropped rather than workers stalled. The access log is its
/// own target, off unless asked for (it costs a line per request), in the text or JSON format.
/// The returned guard flushes what is buffered when `main` returns.
fn init_logging(args: &Args) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(true).finish(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let filter = format!("{},access=off", args.log);
    let general = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_ansi(ansi)
        .with_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info,access=off".into()));
    let access_only = tracing_subscriber::filter::Targets::new().with_target("access", tracing::Level::INFO);
    // Without an access layer at all when it is off: then `tracing::enabled!(target: "access")`
    // is false and a request pays nothing for the access log.
    let registry = tracing_subscriber::registry().with(general);
    match args.access_log_format {
        Some(AccessLogFormat::Json) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(writer)
                    .with_filter(access_only),
            )
            .init(),
        Some(AccessLogFormat::Text) | None if args.access_log || args.access_log_format.is_some() => registry
            .with(tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).with_filter(access_only))
            .init(),
        _ => registry.init(),
    }
    guard
}

/// `--reload`: the file was just validated; signal the running gateway to load it.
fn signal_reload(args: &Args) -> ExitCode {
    let path = args.pid_file.as_ref().expect("clap requires --pid-file with --reload");
    let pid = match std::fs::read_to_string(path).ok().and_then(|text| text.trim().parse::<i32>().ok()) {
        Some(pid) if pid > 0 => pid,
        _ => {
            eprintln!("error: {}: no gateway pid in this file (is scfgate running with --pid-file?)", path.display());
            return ExitCode::from(2);
        }
    };
    // SAFETY: kill(2) sends a signal to a process id; no memory is involved.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        eprintln!("error: cannot signal pid {pid}: {}", std::io::Error::last_os_error());
        return ExitCode::from(2);
    }
    println!("{}: valid; asked scfgate (pid {pid}) to reload it", args.config.display());
    ExitCode::SUCCESS
}

/// `--upgrade`: the file was just validated; ask the running gateway to upgrade and wait.
fn request_upgrade(args: &Args) -> ExitCode {
    let path = args.pid_file.as_ref().expect("clap requires --pid-file with --upgrade");
    match upgrade::request(path) {
        Ok(outcome) => {
            println!("{outcome}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}
