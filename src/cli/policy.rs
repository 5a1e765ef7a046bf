//! `oai-lb policy render | diff | push | show`: the APIM policy rendered from the config,
//! compared with and pushed to the deployed API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::azure::{ApplyArgs, AzureArgs};
use super::settings::Settings;
use super::{Error, GlobalArgs, Printer};
use crate::azure::{self, ArmClient, Stack};
use crate::config::{EnvUse, Strategy};
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
    #[command(flatten)]
    pub apply: ApplyArgs,
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
    // The policy names backend keys but never reads them: no variable is checked.
    let settings = Settings::load(global, EnvUse::default())?;
    match args.command {
        PolicyCommand::Render(render) => run_render(&settings, render, printer),
        PolicyCommand::Diff(remote) => {
            let target = Target::new(&settings, &remote)?;
            let drift =
                super::runtime()?.block_on(azure::policy::diff(&target.client, &target.stack, &target.rendered))?;
            if printer.json() {
                printer.print_json(&serde_json::json!({"drift": drift.is_some(), "diff": drift}))?;
            } else if let Some(diff) = &drift {
                printer.line(diff.trim_end())?;
            } else {
                printer.line("The deployed policy matches the config.")?;
            }
            match drift {
                Some(_) => Err(Error::drift("the deployed policy differs from the config").fix("`oai-lb policy push`")),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        PolicyCommand::Push(push) => push_policy(&settings, push, printer),
        PolicyCommand::Show(remote) => {
            let target = Target::new(&settings, &remote)?;
            let deployed = super::runtime()?.block_on(azure::policy::show(&target.client, &target.stack))?;
            let deployed = deployed.ok_or_else(|| {
                Error::failure("the API has no policy deployed").fix("`oai-lb deploy` or `oai-lb policy push`")
            })?;
            if printer.json() {
                printer.print_json(&serde_json::json!({"policy": deployed}))?;
            } else {
                printer.line(deployed.trim_end())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The deployed API and the rendered policy it should have.
struct Target {
    client: ArmClient,
    stack: Stack,
    rendered: String,
}

impl Target {
    fn new(settings: &Settings, remote: &RemoteArgs) -> Result<Target, Error> {
        let rendered = render(settings, remote.strategy)?;
        let stack = settings.stack()?;
        Ok(Target { client: remote.azure.connect()?, stack, rendered })
    }
}

fn push_policy(settings: &Settings, push: PushArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let target = Target::new(settings, &push.remote)?;
    let runtime = super::runtime()?;
    let report = |changed: bool, pushed: bool| -> Result<ExitCode, Error> {
        if printer.json() {
            printer.print_json(&serde_json::json!({"changed": changed, "pushed": pushed}))?;
        }
        Ok(ExitCode::SUCCESS)
    };
    let Some(diff) = runtime.block_on(azure::policy::diff(&target.client, &target.stack, &target.rendered))? else {
        printer.note("The deployed policy already matches the config; nothing to push.");
        return report(false, false);
    };
    if !printer.json() {
        printer.line(diff.trim_end())?;
    }
    if push.apply.what_if {
        printer.note("What-if: the policy above would be pushed; nothing was written.");
        return report(true, false);
    }
    push.apply.confirm("policy push would replace the deployed policy", "Push this policy?")?;
    runtime
        .block_on(azure::policy::push(&target.client, &target.stack, &target.rendered))
        .map_err(|e| Error::from(e).fix("run `oai-lb deploy` first if a named value or backend is missing"))?;
    printer.note("Pushed the policy.");
    report(true, true)
}

/// The JSON form: the document plus what it needs deployed beside it.
#[derive(Serialize)]
struct Rendered<'a> {
    strategy: &'static str,
    format: &'static str,
    policy: &'a str,
    named_values: Vec<NamedValue>,
}

fn run_render(settings: &Settings, args: RenderArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let strategy = args.strategy.map_or_else(|| policy::configured_strategy(&settings.config), Strategy::from);
    let xml = render(settings, args.strategy)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &xml).map_err(|e| {
            Error::caused_by(format!("cannot write {}", out.display()), e).fix("check the directory exists")
        })?;
        if printer.json() {
            let written = serde_json::json!({"path": out.display().to_string(), "bytes": xml.len()});
            return printer.print_json(&written).map(|()| ExitCode::SUCCESS);
        }
        printer.note(format!("wrote {} ({} bytes)", out.display(), xml.len()));
        return Ok(ExitCode::SUCCESS);
    }
    if printer.json() {
        printer.print_json(&Rendered {
            strategy: strategy.as_str(),
            format: policy::POLICY_FORMAT,
            policy: &xml,
            named_values: policy::required_named_values(&settings.config, strategy),
        })?;
    } else {
        printer.line(xml.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy for `--strategy` (else the config's); a config that cannot make one is a
/// usage error naming the file.
fn render(settings: &Settings, strategy: Option<StrategyArg>) -> Result<String, Error> {
    let strategy = strategy.map_or_else(|| policy::configured_strategy(&settings.config), Strategy::from);
    azure::policy::render(&settings.config, strategy)
        .map_err(|e| Error::caused_by(settings.path.display().to_string(), e))
}
