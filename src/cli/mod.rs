//! The command line: clap definitions (one file per command) and the glue that resolves
//! settings, calls the core and renders its result. Only this module prints.

mod demo;
mod deploy;
mod output;
mod probe;
mod serve;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use output::{Error, Printer};

#[derive(Debug, Parser)]
#[command(name = "oai-lb", version, about = "Smart load balancer for Azure OpenAI: APIM policy and local proxy", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The config file.
    #[arg(long, global = true, env = "OAI_LB_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Output format; json is stable, for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table, env = "OAI_LB_OUTPUT")]
    pub output: OutputFormat,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded load balancer: a local reverse proxy in front of the backends.
    Serve(serve::Args),
    /// Converge the Azure stack (APIM, OpenAI accounts, identity, roles) to the config.
    Deploy(deploy::Args),
    /// Simulated backends, the balancer and a live probe in one process: see it work in a minute.
    Demo(demo::Args),
    /// Drive traffic at an endpoint and watch each backend's throttle state.
    Probe(probe::Args),
    /// Run simulated Azure OpenAI deployments (RPM/TPM limits, 429s, SSE) on loopback.
    Simulate(simulate::Args),
}

/// Runs one command. Errors carry their exit code (see [`Error::exit_code`]).
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    let printer = Printer::new(&cli.global);
    printer.init_logging();
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args, &printer),
        Command::Deploy(args) => deploy::run(&cli.global, args, &printer),
        Command::Demo(args) => demo::run(&cli.global, args, &printer),
        Command::Probe(args) => probe::run(&cli.global, args, &printer),
        Command::Simulate(args) => simulate::run(&cli.global, args, &printer),
    }
}

/// A multi-threaded tokio runtime for commands that do network work.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))
}
