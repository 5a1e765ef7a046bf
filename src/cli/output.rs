//! One printer for every command (quiet, verbose, table or json), and the error type that
//! maps to exit codes: 0 ok, 1 failure, 2 usage/config error, 3 drift.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use super::{GlobalArgs, OutputFormat};
use crate::azure::AzureError;
use crate::config::ConfigError;
use crate::config::edit::WriteError;
use crate::log_writer;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A command's failure: what failed, the typed error that caused it (with its own source
/// chain), an optional fix, and the exit code. `main` prints it as one line with
/// [`Error::line`]: `what: cause: its cause (fix: …)`.
#[derive(Debug)]
pub struct Error {
    code: u8,
    message: Option<String>,
    source: Option<Cause>,
    fix: Option<String>,
    broken_pipe: bool,
}

impl Error {
    fn new(code: u8, message: Option<String>, source: Option<Cause>) -> Self {
        Error { code, message, source, fix: None, broken_pipe: false }
    }
    /// Exit 1: the operation failed (network, Azure, a backend).
    pub fn failure(message: impl Into<String>) -> Self {
        Error::new(1, Some(message.into()), None)
    }
    /// Exit 2: the command line or the config is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(2, Some(message.into()), None)
    }
    /// Exit 3: drift between the config and what is deployed.
    pub fn drift(message: impl Into<String>) -> Self {
        Error::new(3, Some(message.into()), None)
    }
    /// Exit 130: the user pressed Ctrl-C (128 + SIGINT, as shells report it).
    pub fn interrupted(message: impl Into<String>) -> Self {
        Error::new(130, Some(message.into()), None)
    }
    /// The reader of stdout went away (`oai-lb … | head`): a normal end, exit 0.
    pub fn broken_pipe() -> Self {
        Error { broken_pipe: true, ..Error::new(0, None, None) }
    }
    /// `message` as context before the typed `source`: exit 1, or 2 when the source is an
    /// Azure usage error (a bad input or config).
    pub fn caused_by(message: impl Into<String>, source: impl Into<Cause>) -> Self {
        let source = source.into();
        let usage = source.downcast_ref::<AzureError>().is_some_and(AzureError::is_usage);
        Error::new(if usage { 2 } else { 1 }, Some(message.into()), Some(source))
    }
    /// Adds the hint printed at the end of the line.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    pub fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The message, then every cause in the source chain, joined with `: `, then the fix.
    pub fn line(&self) -> String {
        let mut parts: Vec<String> = self.message.iter().cloned().collect();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = self.source.as_deref().map(|c| c as _);
        while let Some(c) = cause {
            parts.push(c.to_string());
            cause = c.source();
        }
        let mut line = parts.join(": ");
        if let Some(fix) = &self.fix {
            line.push_str(&format!(" (fix: {fix})"));
        }
        line.replace('\n', " ")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::usage(e.to_string())
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        Error::new(1, Some(e.to_string()), Some(Box::new(e.source)))
    }
}

impl From<AzureError> for Error {
    fn from(e: AzureError) -> Self {
        Error::new(if e.is_usage() { 2 } else { 1 }, None, Some(Box::new(e)))
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one aligned line per event.
    #[default]
    Text,
    /// For Loki, Elastic or Azure Monitor: one JSON object per line with stable field names
    /// (`timestamp`, `level`, `target`, `message`, then the event's fields; the balancer's
    /// per-request line has `target` = `oai_lb::access`). Never a key or a token.
    Json,
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

    /// Logs go to stderr at `warn` unless -v asks for more, buffered per thread (see
    /// [`log_writer`]); `RUST_LOG` wins over -v/-q. `access_log` (the servers) keeps
    /// oai-lb's own info lines, the per-request log. `LogFormat::Json` writes one JSON
    /// object per line (see [`LogFormat`]). Hold the returned guard while the command runs:
    /// it writes out the last lines.
    pub fn init_logging(&self, access_log: bool, format: LogFormat) -> log_writer::Flusher {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) if access_log => "warn,oai_lb=info",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        if format == LogFormat::Json {
            let _ = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_env_filter(filter)
                .with_writer(log_writer::Buffered)
                .try_init();
            return log_writer::install();
        }
        let ansi = io::IsTerminal::is_terminal(&io::stderr());
        let installed = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(log_writer::Buffered)
            .with_ansi(ansi)
            .event_format(log_writer::AccessLineFormat::new(tracing_subscriber::fmt::format().with_target(false)))
            .try_init();
        log_writer::write_access_lines_directly(
            installed.is_ok() && !ansi && tracing::enabled!(target: "oai_lb::access", tracing::Level::INFO),
        );
        log_writer::install()
    }

    /// Prints a line of output; a closed pipe (`oai-lb … | head`) is a normal end.
    pub fn line(&self, text: impl fmt::Display) -> Result<(), Error> {
        write_stdout(format_args!("{text}\n"))
    }

    /// Prints a value as pretty JSON.
    pub fn print_json(&self, value: &impl serde::Serialize) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(value).map_err(|e| Error::caused_by("cannot encode JSON", e))?;
        write_stdout(format_args!("{text}\n"))
    }

    /// A warning for people and scripts alike: stderr, `warning: …`, hidden only by -q.
    pub fn warn(&self, text: impl fmt::Display) {
        if !self.quiet {
            eprintln!("warning: {text}");
        }
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
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Error::broken_pipe()),
        Err(e) => Err(Error::caused_by("cannot write output", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[test]
    fn the_line_keeps_every_cause_and_the_fix() {
        let e = Error::caused_by("cannot push the policy", Outer(Inner)).fix("run `oai-lb deploy`");
        assert_eq!(e.line(), "cannot push the policy: outer: inner (fix: run `oai-lb deploy`)");
        assert_eq!(e.code(), 1);
        let usage = Error::from(AzureError::Config { problem: "p".into(), fix: "f".into() });
        assert_eq!((usage.code(), usage.line().as_str()), (2, "p (fix: f)"));
    }

    #[test]
    fn a_broken_pipe_is_a_quiet_success() {
        let e = Error::broken_pipe();
        assert!(e.is_broken_pipe());
        assert_eq!(e.code(), 0);
    }
}
