//! `backends list`: the configured backends, with their deployed state when APIM exists.

use std::process::ExitCode;

use serde::Serialize;

use super::ListArgs;
use crate::azure::{self, Kind};
use crate::cli::azure::describe_or_unknown;
use crate::cli::settings::Settings;
use crate::cli::{Error, GlobalArgs, Printer};
use crate::config::{BackendAuth, EnvUse};

/// One row of `backends list`; the JSON form is stable.
#[derive(Debug, Serialize)]
struct Row<'a> {
    name: &'a str,
    url: &'a str,
    priority: u32,
    weight: u32,
    auth: BackendAuth,
    api_key_env: Option<&'a str>,
    deployments: &'a [String],
    /// `in sync`, `missing`, `differs (…)`; `None` when Azure was not asked.
    deployed: Option<String>,
}

pub(super) fn run(global: &GlobalArgs, args: &ListArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let settings = Settings::load(global, EnvUse::default())?;
    let config = &settings.config;
    let plan = if args.local_only || !settings.has_apim() {
        None
    } else {
        // Listing reads no key: a secret named value is not compared without its key.
        let stack = settings.stack()?;
        let client = args.azure.connect()?;
        Some(crate::cli::runtime()?.block_on(azure::plan(&client, stack))?)
    };
    let rows: Vec<Row<'_>> = config
        .backends
        .iter()
        .map(|b| Row {
            name: &b.name,
            url: &b.url,
            priority: b.priority,
            weight: b.weight,
            auth: b.auth,
            api_key_env: b.api_key_env.as_deref(),
            deployments: &b.deployments,
            deployed: plan.as_ref().map(|p| describe_or_unknown(p.action(Kind::Backend, &b.name))),
        })
        .collect();
    if printer.json() {
        return printer.print_json(&rows).map(|()| ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        printer.note(format!("no backends in {} (add one with `oai-lb backends add`)", settings.path.display()));
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    let mut header = vec!["NAME", "PRIORITY", "WEIGHT", "AUTH", "DEPLOYMENTS", "URL"];
    header.extend(plan.as_ref().map(|_| "DEPLOYED"));
    table.set_header(header);
    for row in &rows {
        let auth = match row.api_key_env {
            Some(env) if row.auth == BackendAuth::ApiKey => format!("api-key (${env})"),
            _ => row.auth.as_str().to_string(),
        };
        let deployments = if row.deployments.is_empty() { "all".into() } else { row.deployments.join(",") };
        let mut cells = vec![row.name.to_string(), row.priority.to_string(), row.weight.to_string(), auth, deployments];
        cells.push(row.url.to_string());
        cells.extend(row.deployed.clone());
        table.add_row(cells);
    }
    printer.line(table).map(|()| ExitCode::SUCCESS)
}
