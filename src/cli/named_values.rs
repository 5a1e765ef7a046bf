//! `oai-lb named-values set | list | remove`: APIM named values. Secret values are never
//! printed; a value can come from an environment variable so it never appears in argv.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;

use super::azure::{ApplyArgs, AzureArgs, describe};
use super::settings::Settings;
use super::{Error, GlobalArgs, Printer};
use crate::azure::named_values;
use crate::config::EnvUse;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: NamedValuesCommand,
}

#[derive(Debug, Subcommand)]
pub enum NamedValuesCommand {
    /// Create or replace a named value of your own (not one oai-lb manages).
    Set(SetArgs),
    /// Every named value of the service (secrets hidden), marking those oai-lb manages.
    List(ListArgs),
    /// Delete a named value the policy does not use.
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// Letters, digits, '.', '-' and '_'.
    pub name: String,
    /// The value; prefer --from-env for secrets (argv is visible to other processes).
    #[arg(required_unless_present = "from_env", conflicts_with = "from_env")]
    pub value: Option<String>,
    /// Read the value from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub from_env: Option<String>,
    /// Store it encrypted; it is never shown again.
    #[arg(long)]
    pub secret: bool,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The named value to delete.
    pub name: String,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// One row of `named-values list`; the JSON form is stable.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    secret: bool,
    /// The deployed value; `None` for secrets and missing ones.
    value: Option<String>,
    /// True when oai-lb writes it from the config (`deploy`, `backends` edits).
    managed: bool,
    /// For a managed value: `in sync`, `missing`, `differs (…)`; `None` for the others.
    state: Option<String>,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    match args.command {
        NamedValuesCommand::Set(set) => set_value(&Settings::load(global, EnvUse::default())?, set, printer),
        // Listing reads no key: a secret is not compared without its key.
        NamedValuesCommand::List(list_args) => list(&Settings::load(global, EnvUse::default())?, list_args, printer),
        NamedValuesCommand::Remove(remove) => {
            remove_value(&Settings::load(global, EnvUse::default())?, remove, printer)
        }
    }
}

fn set_value(settings: &Settings, set: SetArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let stack = settings.stack()?;
    named_values::check_name(&set.name)?;
    named_values::check_unmanaged(&set.name)?;
    let value = match (&set.from_env, &set.value) {
        (Some(var), _) => std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::usage(format!("environment variable {var} is not set (fix: export {var}=...)")))?,
        (None, Some(value)) => value.clone(),
        (None, None) => return Err(Error::usage("no value given (fix: pass VALUE or --from-env VAR)")),
    };
    let client = set.azure.connect()?;
    let runtime = super::runtime()?;
    let exists = runtime.block_on(named_values::exists(&client, &stack, &set.name))?;
    let verb = if exists { "replace" } else { "create" };
    let secret = if set.secret { " (secret)" } else { "" };
    if set.apply.what_if {
        if printer.json() {
            printer.print_json(&json!({"what_if": true, "name": set.name, "secret": set.secret, "action": verb}))?;
        } else {
            printer.line(format!("What-if: would {verb} named value {}{secret}.", set.name))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let what = format!("named-values set would {verb} named value {}", set.name);
    set.apply.confirm(&what, &format!("{verb} named value {}{secret}?", set.name))?;
    runtime.block_on(named_values::set(&client, &stack, &set.name, &value, set.secret))?;
    if printer.json() {
        let done =
            json!({"what_if": false, "name": set.name, "secret": set.secret, "action": verb, "created": !exists});
        printer.print_json(&done)?;
    } else {
        printer.note(format!("{} named value {}.", if exists { "Replaced" } else { "Created" }, set.name));
    }
    Ok(ExitCode::SUCCESS)
}

fn list(settings: &Settings, args: ListArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let stack = settings.stack()?;
    let client = args.azure.connect()?;
    let deployed = super::runtime()?.block_on(named_values::list(&client, &stack))?;
    let rows: Vec<Row> = deployed
        .into_iter()
        .map(|d| Row {
            managed: d.managed(),
            state: d.action.as_ref().map(describe),
            name: d.name,
            secret: d.secret,
            value: d.value,
        })
        .collect();
    if printer.json() {
        printer.print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["NAME", "MANAGED", "STATE", "VALUE"]);
    for row in &rows {
        let value = match (&row.value, row.secret) {
            (_, true) => "(secret)".to_string(),
            (Some(v), false) => shorten(v),
            (None, false) => "-".to_string(),
        };
        let managed = if row.managed { "oai-lb" } else { "-" };
        let state = row.state.clone().unwrap_or_else(|| "-".into());
        table.add_row([row.name.clone(), managed.to_string(), state, value]);
    }
    printer.line(table)?;
    Ok(ExitCode::SUCCESS)
}

/// Long values (the backend list) are cut for the table; `--output json` has them whole.
fn shorten(value: &str) -> String {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

fn remove_value(settings: &Settings, remove: RemoveArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let stack = settings.stack()?;
    named_values::check_unused(&settings.config, &remove.name)?;
    named_values::check_name(&remove.name)?;
    let client = remove.azure.connect()?;
    let runtime = super::runtime()?;
    if !runtime.block_on(named_values::exists(&client, &stack, &remove.name))? {
        return Err(named_values::missing(&remove.name).into());
    }
    if remove.apply.what_if {
        if printer.json() {
            printer.print_json(&json!({"what_if": true, "name": remove.name, "action": "delete"}))?;
        } else {
            printer.line(format!("What-if: would delete named value {}.", remove.name))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let what = format!("named-values remove would delete named value {}", remove.name);
    remove.apply.confirm(&what, &format!("Delete named value {}?", remove.name))?;
    runtime.block_on(named_values::remove(&client, &stack, &remove.name))?;
    if printer.json() {
        printer.print_json(&json!({"what_if": false, "name": remove.name, "action": "delete"}))?;
    } else {
        printer.note(format!("Deleted named value {}.", remove.name));
    }
    Ok(ExitCode::SUCCESS)
}
