//! One printer for every command (quiet, verbose, table or json), and the error type that
//! maps to exit codes: 0 ok, 1 failure, 2 usage/config error, 3 drift.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use super::{GlobalArgs, OutputFormat, log_writer};
use crate::config::ConfigError;

/// A command's failure, printed as one line by `main`.
#[derive(Debug)]
pub struct Error {
    code: u8,
    message: String,
}

impl Error {
    /// Exit 1: the operation failed (network, Azure, a backend).
    pub fn failure(message: impl Into<String>) -> Self {
        Error { code: 1, message: message.into() }
    }
    /// Exit 2: the command line or the config is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Error { code: 2, message: message.into() }
    }
    /// Exit 3: drift between the config and what is deployed.
    pub fn drift(message: impl Into<String>) -> Self {
        Error { code: 3, message: message.into() }
    }
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::usage(e.to_string())
    }
}

/// The confirmation rule of every mutating command: `--yes` goes ahead; otherwise ask on
/// a terminal, and never prompt without one (scripts must say `--yes`).
pub fn confirm(yes: bool, prompt: &str, without_terminal: &str, cancelled: &str) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !io::IsTerminal::is_terminal(&io::stdin()) {
        return Err(Error::usage(without_terminal));
    }
    let go = dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .map_err(|e| Error::failure(format!("cannot read the answer: {e}")))?;
    if go { Ok(()) } else { Err(Error::failure(cancelled)) }
}

/// Where command output goes. The core returns values; only this prints them.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    pub verbose: u8,
    pub quiet: bool,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        Printer { format: global.output, verbose: global.verbose, quiet: global.quiet }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Logs go to stderr, buffered per thread (see [`log_writer`]); `RUST_LOG` wins over
    /// -v/-q. `quiet_by_default` drops the per-request info lines unless -v asks for them.
    /// Hold the returned guard while the command runs: it writes out the last lines.
    pub fn init_logging(&self, quiet_by_default: bool) -> log_writer::Flusher {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) if quiet_by_default => "warn",
            (false, 0) => "warn,oai_lb=info",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(log_writer::Buffered)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .event_format(log_writer::AccessLineFormat::new(tracing_subscriber::fmt::format().with_target(false)))
            .try_init();
        log_writer::install()
    }

    /// Prints a line of output; a closed pipe (`oai-lb … | head`) is a normal end.
    pub fn line(&self, text: impl fmt::Display) -> Result<(), Error> {
        write_stdout(format_args!("{text}\n"))
    }

    /// Prints a value as pretty JSON.
    pub fn print_json(&self, value: &impl serde::Serialize) -> Result<(), Error> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| Error::failure(format!("cannot encode JSON: {e}")))?;
        write_stdout(format_args!("{text}\n"))
    }

    /// A status message for people (stderr, hidden by -q and in json mode).
    pub fn note(&self, text: impl fmt::Display) {
        if !self.quiet && !self.json() {
            eprintln!("{text}");
        }
    }
}

fn write_stdout(args: fmt::Arguments<'_>) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::failure(format!("cannot write output: {e}"))),
    }
}
