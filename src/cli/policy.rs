//! `oai-lb policy render`: the APIM policy rendered from the config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::{Error, GlobalArgs, Printer};
use crate::config::{Config, Strategy};
use crate::policy::{self, NamedValue};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the API policy XML rendered from the config (the same config renders the same bytes).
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The strategy to render; defaults to `[apim] strategy` (policy when unset).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Write the XML to this file instead of stdout (e.g. bicep/policy.xml).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `--strategy`, as the config spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// The smart load-balancing policy: priorities, weights, per-deployment cooldowns.
    Policy,
    /// APIM's native backend pool with circuit breakers, behind a retry.
    Pool,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Policy => Strategy::Policy,
            StrategyArg::Pool => Strategy::Pool,
        }
    }
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    match args.command {
        PolicyCommand::Render(render) => run_render(global, render, printer),
    }
}

/// The JSON form: the document plus what it needs deployed beside it.
#[derive(Serialize)]
struct Rendered<'a> {
    strategy: &'static str,
    format: &'static str,
    policy: &'a str,
    named_values: Vec<NamedValue>,
}

fn run_render(global: &GlobalArgs, args: RenderArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(&global.config)?;
    let strategy = args.strategy.map_or_else(|| policy::configured_strategy(&config), Strategy::from);
    let xml = render(&global.config, &config, strategy)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &xml)
            .map_err(|e| Error::failure(format!("cannot write {}: {e} (check the directory exists)", out.display())))?;
        printer.note(format!("wrote {} ({} bytes)", out.display(), xml.len()));
        return Ok(ExitCode::SUCCESS);
    }
    if printer.json() {
        printer.print_json(&Rendered {
            strategy: strategy_name(strategy),
            format: policy::POLICY_FORMAT,
            policy: &xml,
            named_values: policy::required_named_values(&config, strategy),
        })?;
    } else {
        printer.line(xml.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The config's spelling of a strategy.
pub(crate) fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Policy => "policy",
        Strategy::Pool => "pool",
    }
}

/// Renders, turning a config that cannot make a policy into a usage error naming the file.
pub(crate) fn render(path: &Path, config: &Config, strategy: Strategy) -> Result<String, Error> {
    policy::render(config, strategy).map_err(|e| {
        let fix = match e {
            policy::PolicyError::NoBackends => "add a [[backends]] table or run `oai-lb backends add`",
            policy::PolicyError::BackendListTooLong { .. } => "or use --strategy pool",
            policy::PolicyError::Malformed(_) => "report this as a bug: the renderer wrote invalid XML",
        };
        Error::usage(format!("{}: {e} (fix: {fix})", path.display()))
    })
}
