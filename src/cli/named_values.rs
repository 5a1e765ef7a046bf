//! `oai-lb named-values set | list | remove`: APIM named values. Secret values are never
//! printed; a value can come from an environment variable so it never appears in argv.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;
use serde_json::{Value, json};

use super::azure::{self, AzureArgs};
use super::{Error, GlobalArgs, Printer};
use crate::arm::ArmClient;
use crate::azure::{Kind, Stack};
use crate::config::Config;
use crate::policy;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: NamedValuesCommand,
}

#[derive(Debug, Subcommand)]
pub enum NamedValuesCommand {
    /// Create or replace a named value.
    Set(SetArgs),
    /// The named values oai-lb manages for this config, as deployed (secrets hidden).
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
    /// Show what would change and write nothing.
    #[arg(long)]
    pub what_if: bool,
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
    pub name: String,
    /// Show what would change and write nothing.
    #[arg(long)]
    pub what_if: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    secret: bool,
    /// The deployed value; `None` for secrets and missing ones.
    value: Option<String>,
    state: String,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(&global.config)?;
    let stack = azure::stack(&global.config, &config)?;
    let runtime = super::runtime()?;
    match args.command {
        NamedValuesCommand::Set(set) => runtime.block_on(set_value(&set.azure.client()?, &stack, set, printer)),
        NamedValuesCommand::List(list_args) => runtime.block_on(list(&list_args.azure.client()?, &stack, printer)),
        NamedValuesCommand::Remove(remove) => {
            let rendered = super::policy::render(&global.config, &config, policy::configured_strategy(&config))?;
            if policy::referenced_named_values(&rendered).contains(&remove.name) {
                return Err(Error::usage(format!(
                    "the policy uses {{{{{}}}}}, so APIM would reject it without this named value (fix: keep it, or change the config so the policy no longer needs it)",
                    remove.name
                )));
            }
            runtime.block_on(remove_value(&remove.azure.client()?, &stack, remove, printer))
        }
    }
}

fn path(stack: &Stack, name: &str) -> String {
    format!("{}/namedValues/{name}", stack.apim_id())
}

fn valid_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "`{name}` is not a valid named value name (fix: use letters, digits, '.', '-' and '_')"
        )))
    }
}

async fn set_value(client: &ArmClient, stack: &Stack, set: SetArgs, printer: &Printer) -> Result<ExitCode, Error> {
    valid_name(&set.name)?;
    let value = match (&set.from_env, &set.value) {
        (Some(var), _) => std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::usage(format!("environment variable {var} is not set (fix: export {var}=...)")))?,
        (None, Some(value)) => value.clone(),
        (None, None) => return Err(Error::usage("no value given (fix: pass VALUE or --from-env VAR)")),
    };
    let id = path(stack, &set.name);
    let exists = client
        .get_optional(&id, Kind::NamedValue.api_version())
        .await
        .map_err(|e| Error::failure(format!("cannot read named value {}: {e}", set.name)))?
        .is_some();
    let verb = if exists { "replace" } else { "create" };
    if set.what_if {
        printer.line(format!(
            "What-if: would {verb} named value {}{}.",
            set.name,
            if set.secret { " (secret)" } else { "" }
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let body = json!({"properties": {"displayName": set.name, "value": value, "secret": set.secret}});
    client
        .put_json(&id, Kind::NamedValue.api_version(), &body, None)
        .await
        .map_err(|e| Error::failure(format!("cannot {verb} named value {}: {e}", set.name)))?;
    if printer.json() {
        printer.print_json(&json!({"name": set.name, "secret": set.secret, "created": !exists}))?;
    } else {
        printer.note(format!("{} named value {}.", if exists { "Replaced" } else { "Created" }, set.name));
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(client: &ArmClient, stack: &Stack, printer: &Printer) -> Result<ExitCode, Error> {
    let plan = crate::azure::plan(client, stack.clone()).await.map_err(azure::azure_error)?;
    let rows: Vec<Row> = plan
        .changes
        .iter()
        .filter(|c| c.resource.kind == Kind::NamedValue)
        .map(|c| {
            let name = c.resource.body().pointer("/properties/displayName").and_then(Value::as_str).unwrap_or_default();
            let secret = c.resource.secret;
            let value = match (&c.current, secret) {
                (Some(current), false) => {
                    current.pointer("/properties/value").and_then(Value::as_str).map(str::to_string)
                }
                _ => None,
            };
            Row { name: name.to_string(), secret, value, state: azure::describe(&c.action) }
        })
        .collect();
    if printer.json() {
        printer.print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["NAME", "STATE", "VALUE"]);
    for row in &rows {
        let value = match (&row.value, row.secret) {
            (_, true) => "(secret)".to_string(),
            (Some(v), false) => shorten(v),
            (None, false) => "-".to_string(),
        };
        table.add_row([row.name.clone(), row.state.clone(), value]);
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

async fn remove_value(
    client: &ArmClient,
    stack: &Stack,
    remove: RemoveArgs,
    printer: &Printer,
) -> Result<ExitCode, Error> {
    valid_name(&remove.name)?;
    let id = path(stack, &remove.name);
    let exists = client
        .get_optional(&id, Kind::NamedValue.api_version())
        .await
        .map_err(|e| Error::failure(format!("cannot read named value {}: {e}", remove.name)))?
        .is_some();
    if !exists {
        return Err(Error::usage(format!(
            "there is no named value {} (fix: check `oai-lb named-values list`)",
            remove.name
        )));
    }
    if remove.what_if {
        printer.line(format!("What-if: would delete named value {}.", remove.name))?;
        return Ok(ExitCode::SUCCESS);
    }
    client
        .delete(&id, Kind::NamedValue.api_version(), None)
        .await
        .map_err(|e| Error::failure(format!("cannot delete named value {}: {e}", remove.name)))?;
    printer.note(format!("Deleted named value {}.", remove.name));
    Ok(ExitCode::SUCCESS)
}
