//! `oai-lb destroy [--yes] [--keep-openai] [--purge] [--what-if]`: deletes what `deploy`
//! created, in reverse dependency order: the APIM service (with its API, policy, backends,
//! named values and subscription), the role assignments, the OpenAI accounts (with their
//! deployments), the identity, and last the resource group — only if oai-lb created it and
//! it holds nothing else (otherwise it is kept, and the note says why).

use std::process::ExitCode;

use super::azure::{ApplyArgs, AzureArgs, Bars};
use super::settings::Settings;
use super::{Error, GlobalArgs, Printer};
use crate::azure::Event;
use crate::azure::destroy::{self, Deletions, Options};
use crate::config::EnvUse;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the OpenAI accounts, their deployments and the resource group.
    #[arg(long)]
    pub keep_openai: bool,
    /// Also purge the soft-deleted APIM service and OpenAI accounts, so their names can be
    /// reused at once (otherwise `deploy` restores them).
    #[arg(long, conflicts_with = "keep_openai")]
    pub purge: bool,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub azure: AzureArgs,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    // Deleting needs ids only: no backend key is read.
    let settings = Settings::load(global, EnvUse::default())?;
    let stack = settings.stack()?;
    let client = args.azure.connect()?;
    let runtime = super::runtime()?;
    let options = Options { keep_openai: args.keep_openai, purge: args.purge };
    let plan = runtime.block_on(destroy::plan(&client, &stack, options))?;
    for why in &plan.kept {
        printer.note(format!("Keeping {why}."));
    }
    if let Some(why) = &plan.kept_group {
        printer.note(format!("Keeping the resource group: {why}."));
    }
    let deletions = &plan.deletions;
    if deletions.is_empty() {
        printer.note("Nothing to delete: none of the resources of this config exist.");
        return report(printer, &plan, args.apply.what_if, false);
    }
    if !printer.json() {
        printer.line(format!("{} deletion(s), in this order:", deletions.len()))?;
        for d in deletions {
            printer.line(format!("  - {}", d.resource))?;
        }
    }
    if args.apply.what_if {
        printer.note("What-if: nothing was deleted.");
        return report(printer, &plan, true, false);
    }
    args.apply.confirm(
        "destroy deletes resources",
        &format!("Delete these {} resource(s)? This cannot be undone", deletions.len()),
    )?;
    let bars = Bars::new(printer, true);
    let observer = |event: Event<'_>| bars.event(event);
    let deleted = runtime.block_on(destroy::apply(&client, deletions, &observer));
    bars.clear();
    deleted.map_err(|e| {
        let step = e.to_string();
        Error::caused_by(format!("destroy stopped ({step})"), e.source)
            .fix("fix the cause and run `oai-lb destroy` again")
    })?;
    printer.note(format!("Destroyed: {} deletion(s) done.", deletions.len()));
    report(printer, &plan, false, true)
}

fn report(printer: &Printer, plan: &Deletions, what_if: bool, deleted: bool) -> Result<ExitCode, Error> {
    if printer.json() {
        printer.print_json(&serde_json::json!({
            "what_if": what_if, "deleted": deleted, "deletions": plan.deletions, "kept_group": plan.kept_group, "kept": plan.kept,
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}
