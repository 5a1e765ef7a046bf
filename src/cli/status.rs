//! `oai-lb status [--check]`: the gateway URL, the backends configured vs deployed, and any
//! drift between the config and Azure. With `--check`, drift exits 3 (for pipelines).

use std::process::ExitCode;

use serde::Serialize;

use super::azure::{self, AzureArgs};
use super::{Error, GlobalArgs, Printer};
use crate::azure::{Action, Kind, Plan};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 3 when anything deployed differs from the config.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Serialize)]
struct Status {
    gateway_url: Option<String>,
    backends: Vec<BackendStatus>,
    policy: String,
    /// Every resource that differs from the config.
    drift: Vec<Drift>,
}

#[derive(Debug, Serialize)]
struct BackendStatus {
    name: String,
    priority: u32,
    weight: u32,
    deployed: String,
}

#[derive(Debug, Serialize)]
struct Drift {
    resource: String,
    #[serde(flatten)]
    action: Action,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(&global.config)?;
    let stack = azure::stack(&global.config, &config)?;
    let client = args.azure.client()?;
    let plan = super::runtime()?.block_on(crate::azure::plan(&client, stack.clone())).map_err(azure::azure_error)?;
    let backends = stack
        .backends
        .iter()
        .map(|b| BackendStatus {
            name: b.name.clone(),
            priority: b.priority,
            weight: b.weight,
            deployed: azure::state(&plan, Kind::Backend, &format!("backend {}", b.name)),
        })
        .collect();
    let policy_label =
        plan.changes.iter().find(|c| c.resource.kind == Kind::ApiPolicy).map(|c| c.resource.label.clone());
    let status = Status {
        gateway_url: plan.outputs.gateway_url.as_deref().map(|g| stack.api_url(g)),
        backends,
        policy: policy_label.map_or_else(|| "unknown".into(), |l| azure::state(&plan, Kind::ApiPolicy, &l)),
        drift: drift(&plan),
    };
    print(printer, &status)?;
    match (args.check, status.drift.len()) {
        (true, n) if n > 0 => Err(Error::drift(format!(
            "{n} resource(s) differ from the config (fix: `oai-lb deploy`, or `oai-lb policy diff` for the policy)"
        ))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn drift(plan: &Plan) -> Vec<Drift> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| Drift { resource: c.resource.label.clone(), action: c.action.clone() })
        .collect()
}

fn print(printer: &Printer, status: &Status) -> Result<(), Error> {
    if printer.json() {
        return printer.print_json(status);
    }
    printer.line(format!("Gateway URL: {}", status.gateway_url.as_deref().unwrap_or("(APIM is not deployed)")))?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["BACKEND", "PRIORITY", "WEIGHT", "DEPLOYED"]);
    for b in &status.backends {
        table.add_row([b.name.clone(), b.priority.to_string(), b.weight.to_string(), b.deployed.clone()]);
    }
    printer.line(table)?;
    printer.line(format!("Policy: {}", status.policy))?;
    if status.drift.is_empty() {
        printer.line("No drift: Azure matches the config.")?;
    } else {
        printer.line(format!("Drift: {} resource(s) differ from the config:", status.drift.len()))?;
        for d in &status.drift {
            printer.line(format!("  {}: {}", d.resource, azure::describe(&d.action)))?;
        }
    }
    Ok(())
}
