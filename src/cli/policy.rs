//! `oai-lb policy render | diff | push | show`: the APIM policy rendered from the config,
//! compared with and pushed to the deployed API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use serde_json::Value;

use super::azure::{self, AzureArgs};
use super::{Error, GlobalArgs, Printer};
use crate::arm::ArmClient;
use crate::azure::Kind;
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
    /// Compare the deployed API policy with the rendered one as a unified diff; exit 3 on drift.
    Diff(RemoteArgs),
    /// Push the rendered policy to the deployed API (after showing the diff).
    Push(PushArgs),
    /// Print the API policy as deployed.
    Show(RemoteArgs),
}

#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    /// The strategy to render; defaults to `[apim] strategy`.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Show what would change and write nothing.
    #[arg(long)]
    pub what_if: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
        PolicyCommand::Diff(remote) => {
            let target = Target::new(global, &remote)?;
            super::runtime()?.block_on(target.diff(printer))
        }
        PolicyCommand::Push(push) => {
            let target = Target::new(global, &push.remote)?;
            super::runtime()?.block_on(target.push(push.what_if, printer))
        }
        PolicyCommand::Show(remote) => {
            let target = Target::new(global, &remote)?;
            super::runtime()?.block_on(target.show(printer))
        }
    }
}

/// The deployed API policy and the rendered one it should equal.
struct Target {
    client: ArmClient,
    id: String,
    rendered: String,
}

impl Target {
    fn new(global: &GlobalArgs, remote: &RemoteArgs) -> Result<Target, Error> {
        let config = Config::load(&global.config)?;
        let strategy = remote.strategy.map_or_else(|| policy::configured_strategy(&config), Strategy::from);
        let rendered = render(&global.config, &config, strategy)?;
        let stack = azure::stack(&global.config, &config)?;
        let id = azure::resource_id(&stack, Kind::ApiPolicy).to_string();
        Ok(Target { client: remote.azure.client()?, id, rendered })
    }

    /// The deployed document, `None` when the API has no policy (or does not exist).
    async fn deployed(&self) -> Result<Option<String>, Error> {
        let current = self
            .client
            .get_optional(&self.id, Kind::ApiPolicy.api_version())
            .await
            .map_err(|e| Error::failure(format!("cannot read the deployed policy: {e}")))?;
        Ok(current.and_then(|v| v.pointer("/properties/value").and_then(Value::as_str).map(str::to_string)))
    }

    /// The drift as a unified diff; a missing policy differs from everything.
    async fn drift(&self) -> Result<Option<String>, Error> {
        match self.deployed().await? {
            None => Ok(Some(format!("--- deployed (none)\n+++ rendered\n{}", self.rendered))),
            Some(deployed) => policy::diff(&deployed, &self.rendered)
                .map_err(|e| Error::failure(format!("cannot compare with the deployed policy: {e}"))),
        }
    }

    async fn diff(&self, printer: &Printer) -> Result<ExitCode, Error> {
        let drift = self.drift().await?;
        if printer.json() {
            printer.print_json(&serde_json::json!({"drift": drift.is_some(), "diff": drift}))?;
        } else if let Some(diff) = &drift {
            printer.line(diff.trim_end())?;
        } else {
            printer.line("The deployed policy matches the config.")?;
        }
        match drift {
            Some(_) => Err(Error::drift("the deployed policy differs from the config (fix: `oai-lb policy push`)")),
            None => Ok(ExitCode::SUCCESS),
        }
    }

    async fn push(&self, what_if: bool, printer: &Printer) -> Result<ExitCode, Error> {
        let Some(diff) = self.drift().await? else {
            printer.note("The deployed policy already matches the config; nothing to push.");
            return self.report(printer, false, false);
        };
        if !printer.json() {
            printer.line(diff.trim_end())?;
        }
        if what_if {
            printer.note("What-if: the policy above would be pushed; nothing was written.");
            return self.report(printer, true, false);
        }
        let body = serde_json::json!({"properties": {"format": policy::POLICY_FORMAT, "value": self.rendered}});
        self.client.put_json(&self.id, Kind::ApiPolicy.api_version(), &body, None).await.map_err(|e| {
            Error::failure(format!(
                "cannot push the policy: {e} (fix: run `oai-lb deploy` first if a named value or backend is missing)"
            ))
        })?;
        printer.note("Pushed the policy.");
        self.report(printer, true, true)
    }

    fn report(&self, printer: &Printer, changed: bool, pushed: bool) -> Result<ExitCode, Error> {
        if printer.json() {
            printer.print_json(&serde_json::json!({"changed": changed, "pushed": pushed}))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn show(&self, printer: &Printer) -> Result<ExitCode, Error> {
        let deployed = self.deployed().await?.ok_or_else(|| {
            Error::failure("the API has no policy deployed (fix: `oai-lb deploy` or `oai-lb policy push`)")
        })?;
        if printer.json() {
            printer.print_json(&serde_json::json!({"policy": deployed}))?;
        } else {
            printer.line(deployed.trim_end())?;
        }
        Ok(ExitCode::SUCCESS)
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
            policy::PolicyError::PoolMixedAuth { .. } => e.fix(),
        };
        Error::usage(format!("{}: {e} (fix: {fix})", path.display()))
    })
}
