//! `oai-lb destroy [--yes] [--keep-openai] [--purge] [--what-if]`: deletes what `deploy`
//! created, in reverse dependency order: the APIM service (with its API, policy, backends,
//! named values and subscription), the role assignments, the OpenAI accounts (with their
//! deployments), the identity, and last the resource group.

use std::process::ExitCode;

use serde::Serialize;

use super::azure::{self, AzureArgs};
use super::{Error, GlobalArgs, Printer};
use crate::arm::ArmClient;
use crate::azure::{Kind, Plan};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Keep the OpenAI accounts, their deployments and the resource group.
    #[arg(long)]
    pub keep_openai: bool,
    /// Also purge the deleted OpenAI accounts, so their names can be reused at once.
    #[arg(long, conflicts_with = "keep_openai")]
    pub purge: bool,
    /// List what would be deleted, and delete nothing.
    #[arg(long)]
    pub what_if: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// One DELETE, in the order they run.
#[derive(Debug, Serialize)]
struct Deletion {
    resource: String,
    id: String,
    #[serde(skip)]
    api_version: &'static str,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(&global.config)?;
    let stack = azure::stack(&global.config, &config)?;
    let client = args.azure.client()?;
    let runtime = super::runtime()?;
    let plan = runtime.block_on(crate::azure::plan(&client, stack)).map_err(azure::azure_error)?;
    let mut deletions = deletions(&plan, args.keep_openai);
    if args.purge {
        deletions.extend(purges(&config));
    }
    if deletions.is_empty() {
        printer.note("Nothing to delete: none of the resources of this config exist.");
        return report(printer, &deletions, false);
    }
    if !printer.json() || args.what_if {
        printer.line(format!("{} deletion(s), in this order:", deletions.len()))?;
        for d in &deletions {
            printer.line(format!("  - {}", d.resource))?;
        }
    }
    if args.what_if {
        printer.note("What-if: nothing was deleted.");
        return report(printer, &deletions, false);
    }
    super::output::confirm(
        args.yes,
        &format!("Delete these {} resource(s)? This cannot be undone", deletions.len()),
        "destroy deletes resources but stdin is not a terminal (fix: pass --yes to delete, or --what-if to list)",
        "destroy cancelled; nothing was deleted",
    )?;
    runtime.block_on(delete_all(&client, &deletions, printer))?;
    printer.note(format!("Destroyed: {} deletion(s) done.", deletions.len()));
    report(printer, &deletions, true)
}

/// The existing resources to delete, children left to their parent's delete, in reverse
/// dependency order (so APIM, which runs as the identity, goes before the identity).
fn deletions(plan: &Plan, keep_openai: bool) -> Vec<Deletion> {
    let kept = |kind: Kind| keep_openai && matches!(kind, Kind::ResourceGroup | Kind::Account | Kind::ModelDeployment);
    let doomed: Vec<bool> = plan.changes.iter().map(|c| c.current.is_some() && !kept(c.resource.kind)).collect();
    let goes_with_parent = |mut i: usize| {
        while let Some(parent) = plan.changes[i].resource.parent {
            if doomed[parent] && plan.changes[parent].resource.kind != Kind::ResourceGroup {
                return true;
            }
            i = parent;
        }
        false
    };
    (0..plan.changes.len())
        .rev()
        .filter(|&i| doomed[i] && !goes_with_parent(i))
        .map(|i| {
            let r = &plan.changes[i].resource;
            Deletion { resource: r.label.clone(), id: r.id().to_string(), api_version: r.kind.api_version() }
        })
        .collect()
}

/// Purges of the soft-deleted OpenAI accounts (they keep their names for 48 hours otherwise).
fn purges(config: &Config) -> Vec<Deletion> {
    let Some(azure) = &config.azure else { return Vec::new() };
    config
        .openai
        .iter()
        .map(|a| Deletion {
            resource: format!("purge deleted OpenAI account {}", a.name),
            id: format!(
                "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{}",
                azure.subscription_id, a.location, azure.resource_group, a.name
            ),
            api_version: Kind::Account.api_version(),
        })
        .collect()
}

/// One at a time, in order: a later delete may need an earlier one gone.
async fn delete_all(client: &ArmClient, deletions: &[Deletion], printer: &Printer) -> Result<(), Error> {
    for (done, d) in deletions.iter().enumerate() {
        let bar = azure::spinner(printer, &format!("Deleting {}", d.resource));
        let report = |state: &str| bar.set_message(state.to_string());
        let deleted = client.delete(&d.id, d.api_version, Some(&report)).await;
        bar.finish_and_clear();
        deleted.map_err(|e| {
            Error::failure(format!(
                "{}: {e} ({done} of {} deletion(s) done; fix the cause and run `oai-lb destroy` again)",
                d.resource,
                deletions.len()
            ))
        })?;
    }
    Ok(())
}

fn report(printer: &Printer, deletions: &[Deletion], deleted: bool) -> Result<ExitCode, Error> {
    if printer.json() {
        printer.print_json(&serde_json::json!({"deleted": deleted, "deletions": deletions}))?;
    }
    Ok(ExitCode::SUCCESS)
}
