//! `oai-lb status [--check]`: the gateway URL, the backends configured vs deployed, and any
//! drift between the config and Azure. With `--check`, drift exits 3 (for pipelines).

use std::process::ExitCode;

use serde::Serialize;

use super::azure::{AzureArgs, describe, describe_or_unknown};
use super::settings::Settings;
use super::{Error, GlobalArgs, Printer};
use crate::azure::{self, Action};
use crate::config::EnvUse;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 3 when anything deployed differs from the config.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// The stable JSON form.
#[derive(Debug, Serialize)]
struct Status {
    gateway_url: Option<String>,
    backends: Vec<BackendStatus>,
    policy: String,
    /// Every resource that differs from the config.
    drift: Vec<Drift>,
    /// Where `[monitoring]` sends logs and token metrics (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    monitoring: Option<Monitoring>,
    /// `[balancer.azure]`'s container app (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    container_app: Option<ContainerApp>,
}

#[derive(Debug, Serialize)]
struct ContainerApp {
    name: String,
    url: Option<String>,
    running_status: Option<String>,
    revision: Option<String>,
    replicas: Option<u64>,
    min_replicas: u32,
    max_replicas: u32,
    deployed: String,
    /// Drives traffic at it with a client key from `client_keys_env` (never printed).
    probe_command: String,
}

#[derive(Debug, Serialize)]
struct Monitoring {
    app_insights_id: String,
    workspace_id: Option<String>,
    logger: String,
    diagnostic: String,
    metrics: String,
    tokens_query: String,
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
    // A backend key is compared with APIM's when its variable is set; none is required.
    let settings = Settings::load(global, EnvUse::default())?;
    let stack = settings.stack()?;
    let client = args.azure.connect()?;
    let found = super::runtime()?.block_on(azure::status(&client, &stack))?;
    let status = Status {
        gateway_url: found.gateway_url,
        backends: found
            .backends
            .into_iter()
            .map(|b| BackendStatus {
                name: b.name,
                priority: b.priority,
                weight: b.weight,
                deployed: describe_or_unknown(b.action.as_ref()),
            })
            .collect(),
        policy: describe_or_unknown(found.policy.as_ref()),
        drift: found.drift.into_iter().map(|(resource, action)| Drift { resource, action }).collect(),
        monitoring: found.monitoring.map(|m| Monitoring {
            logger: describe_or_unknown(m.logger.as_ref()),
            diagnostic: describe_or_unknown(m.diagnostic.as_ref()),
            app_insights_id: m.app_insights_id,
            workspace_id: m.workspace_id,
            metrics: m.metrics,
            tokens_query: m.tokens_query.to_string(),
        }),
        container_app: found.container_app.map(|a| ContainerApp {
            deployed: describe_or_unknown(a.action.as_ref()),
            name: a.name,
            url: a.url,
            running_status: a.running_status,
            revision: a.revision,
            replicas: a.replicas,
            min_replicas: a.min_replicas,
            max_replicas: a.max_replicas,
            probe_command: format!("oai-lb --config {} probe --target aca --watch", settings.path.display()),
        }),
    };
    print(printer, &status)?;
    match (args.check, status.drift.len()) {
        (true, n) if n > 0 => Err(Error::drift(format!("{n} resource(s) differ from the config"))
            .fix("`oai-lb deploy`, or `oai-lb policy diff` for the policy")),
        _ => Ok(ExitCode::SUCCESS),
    }
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
    if let Some(m) = &status.monitoring {
        printer.line(format!("Monitoring: logger {}, API diagnostic {}", m.logger, m.diagnostic))?;
        printer.line(format!("  Application Insights: {}", m.app_insights_id))?;
        if let Some(workspace) = &m.workspace_id {
            printer.line(format!("  Log Analytics workspace: {workspace}"))?;
        }
        printer.line(format!("  Token metrics: {}", m.metrics))?;
        printer.line(format!(
            "  Tokens per deployment per backend, last hour (Application Insights > Logs):\n    {}",
            m.tokens_query
        ))?;
    }
    if let Some(a) = &status.container_app {
        let replicas = a.replicas.map_or_else(|| "?".to_string(), |n| n.to_string());
        printer.line(format!(
            "Container app {}: {} ({}, {replicas} replica(s) running, scales {}-{}; deployed: {})",
            a.name,
            a.url.as_deref().unwrap_or("(not deployed)"),
            a.running_status.as_deref().unwrap_or("unknown"),
            a.min_replicas,
            a.max_replicas,
            a.deployed,
        ))?;
        if let Some(revision) = &a.revision {
            printer.line(format!("  Revision: {revision}"))?;
        }
        printer.line(format!("  Probe it: {}", a.probe_command))?;
    }
    if status.drift.is_empty() {
        printer.line("No drift: Azure matches the config.")?;
    } else {
        printer.line(format!("Drift: {} resource(s) differ from the config:", status.drift.len()))?;
        for d in &status.drift {
            printer.line(format!("  {}: {}", d.resource, describe(&d.action)))?;
        }
    }
    Ok(())
}
