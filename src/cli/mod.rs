//! The command line: clap definitions (one file per command) and the glue that resolves
//! settings, calls the core and renders its result. Only this module prints.

mod azure;
mod backends;
pub mod completions;
mod demo;
mod deploy;
mod destroy;
mod init;
mod named_values;
mod output;
pub mod policy;
mod probe;
mod serve;
mod settings;
mod simulate;
mod status;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::credential::CredentialKind;

pub use output::{Error, LogFormat, Printer};
pub use settings::{TelemetryFlags, resolve_telemetry};

#[derive(Debug, Parser)]
#[command(name = "oai-lb", version, about = "Smart load balancer for Azure OpenAI: APIM policy and local proxy", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command takes, shown under their own heading after a command's own.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The config file.
    #[arg(long, global = true, value_name = "FILE", env = "OAI_LB_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Output format; json is stable, for scripts.
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Table, env = "OAI_LB_OUTPUT")]
    pub output: OutputFormat,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// `--credential`: where Entra ID tokens come from (see `crate::credential`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum CredentialArg {
    /// Try every source below in order.
    #[default]
    Auto,
    /// Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET.
    ClientSecret,
    /// Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC).
    WorkloadIdentity,
    /// Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN).
    Pipelines,
    /// Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a
    /// user-assigned one).
    ManagedIdentity,
    /// `az login`.
    Cli,
    /// `azd auth login`.
    Azd,
}

impl From<CredentialArg> for CredentialKind {
    fn from(c: CredentialArg) -> Self {
        match c {
            CredentialArg::Auto => CredentialKind::Auto,
            CredentialArg::ClientSecret => CredentialKind::ClientSecret,
            CredentialArg::WorkloadIdentity => CredentialKind::WorkloadIdentity,
            CredentialArg::Pipelines => CredentialKind::Pipelines,
            CredentialArg::ManagedIdentity => CredentialKind::ManagedIdentity,
            CredentialArg::Cli => CredentialKind::Cli,
            CredentialArg::Azd => CredentialKind::Azd,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented oai-lb.toml (asks on a terminal, from flags otherwise).
    Init(init::Args),
    /// Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config.
    Deploy(deploy::Args),
    /// Add, list, change or remove backends in oai-lb.toml (and converge APIM).
    Backends(backends::Args),
    /// Set, list or remove APIM named values (secret values are never printed).
    NamedValues(named_values::Args),
    /// Render, diff, push or show the APIM policy.
    Policy(policy::Args),
    /// Show the gateway URL, the backends configured vs deployed, and drift (--check: exit 3 on drift).
    Status(status::Args),
    /// Delete what deploy created, after confirmation (--yes in scripts).
    Destroy(destroy::Args),
    /// Run the embedded load balancer: a local reverse proxy in front of the backends.
    Serve(serve::Args),
    /// Drive traffic at an endpoint and watch each backend's throttle state.
    Probe(probe::Args),
    /// Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback.
    Simulate(simulate::Args),
    /// Simulated backends, the balancer and a live probe in one process: see it work in a minute.
    Demo(demo::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::Args),
}

/// The command tree: the derived one, except that `completions` (which reads no config
/// and prints a script, not a result) does not take the global flags: it refuses
/// `--config` and `--output` in one line, and its help and the scripts do not list them.
pub fn command() -> clap::Command {
    // An argument with a global's id stops clap from copying the global into the command.
    let refused = |id: &'static str, why: &'static str| {
        clap::Arg::new(id).long(id).hide(true).value_parser(move |_: &str| Err::<String, String>(why.to_string()))
    };
    Cli::command().mut_subcommand("completions", |sub| {
        sub.arg(refused("config", "`completions` reads no config file (fix: drop the flag)"))
            .arg(refused("output", "`completions` prints a shell script, never JSON (fix: drop the flag)"))
            .arg(clap::Arg::new("verbose").short('v').long("verbose").hide(true).action(clap::ArgAction::Count))
            .arg(clap::Arg::new("quiet").short('q').long("quiet").hide(true).action(clap::ArgAction::SetTrue))
    })
}

/// Parses the command line. A value that a flag's parser refuses is one line naming the
/// flag (`error: --priority: must be from 1 to 100, not 0 (fix: …)`), exit 2, like every
/// other error of ours; help, version and clap's other errors are clap's.
pub fn parse() -> Result<Cli, ExitCode> {
    let parsed = command().try_get_matches().and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(err) if err.kind() == ErrorKind::ValueValidation => {
            let flag = match err.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(arg)) => arg.split(' ').next().unwrap_or(arg).to_string(),
                _ => "a value".to_string(),
            };
            let problem = std::error::Error::source(&err).map_or_else(|| err.kind().to_string(), |e| e.to_string());
            eprintln!("error: {flag}: {problem}");
            Err(ExitCode::from(2))
        }
        Err(err) => err.exit(),
    }
}

/// Runs one command. Errors carry their exit code (see [`Error::exit_code`]).
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    let printer = Printer::new(&cli.global);
    // Commands print their results, not log lines; the servers keep their access log.
    // (The demo draws a live table on the terminal: per-request lines would tear it.)
    let access_log = matches!(cli.command, Command::Serve(_) | Command::Simulate(_));
    // `--output json` keeps stderr machine-readable too: the servers' logs become JSON lines.
    let log_format = match &cli.command {
        Command::Serve(_) if printer.json() => LogFormat::Json,
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    };
    let _flush_logs_at_exit = printer.init_logging(access_log, log_format);
    azure::show_waiting(&printer);
    match cli.command {
        Command::Init(args) => init::run(&cli.global, args, &printer),
        Command::Deploy(args) => deploy::run(&cli.global, args, &printer),
        Command::Backends(args) => backends::run(&cli.global, args, &printer),
        Command::NamedValues(args) => named_values::run(&cli.global, args, &printer),
        Command::Policy(args) => policy::run(&cli.global, args, &printer),
        Command::Status(args) => status::run(&cli.global, args, &printer),
        Command::Destroy(args) => destroy::run(&cli.global, args, &printer),
        Command::Serve(args) => serve::run(&cli.global, args, &printer),
        Command::Probe(args) => probe::run(&cli.global, args, &printer),
        Command::Simulate(args) => simulate::run(&cli.global, args, &printer),
        Command::Demo(args) => demo::run(&cli.global, args, &printer),
        Command::Completions(args) => completions::run(args, &printer),
    }
}

/// A multi-threaded tokio runtime for commands that do network work.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::caused_by("cannot start the async runtime", e))
}
