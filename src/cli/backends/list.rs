//! `backends list`: the configured backends, with their deployed state when APIM exists.

use std::process::ExitCode;
use std::time::Duration;

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
    /// `in sync`, `missing`, `differs (…)`, or `unavailable` when Azure could not tell;
    /// `None` when Azure was not asked.
    deployed: Option<String>,
}

/// How long `backends list` waits for the deployed state before it shows the local list
/// without it: ARM's own retries (throttling, a slow network) can take minutes.
const DEPLOYED_STATE_WAIT: Duration = Duration::from_secs(15);

/// What `DEPLOYED` says when Azure was asked but did not tell (unreachable, no credential,
/// too slow): the list is then oai-lb.toml's only, and the command still exits 0.
const UNAVAILABLE: &str = "unavailable";

pub(super) fn run(global: &GlobalArgs, args: &ListArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let settings = Settings::load(global, EnvUse::default())?;
    let config = &settings.config;
    let asked = !args.local_only && settings.has_apim();
    let plan = if asked {
        // Listing reads no key: a secret named value is not compared without its key.
        let stack = settings.stack()?;
        let client = args.azure.connect()?;
        let read = async { tokio::time::timeout(DEPLOYED_STATE_WAIT, azure::plan(&client, stack)).await };
        match crate::cli::runtime()?.block_on(read) {
            Ok(Ok(plan)) => Some(plan),
            Ok(Err(e)) if e.is_usage() => return Err(e.into()),
            Ok(Err(e)) => {
                let why = Error::caused_by("the deployed state is unavailable", e);
                printer.warn(format!("{}; listing oai-lb.toml only", why.line()));
                None
            }
            Err(_) => {
                printer.warn(format!(
                    "the deployed state is unavailable: ARM did not answer within {} s; listing oai-lb.toml only",
                    DEPLOYED_STATE_WAIT.as_secs()
                ));
                None
            }
        }
    } else {
        None
    };
    let deployed = |name: &str| match &plan {
        Some(plan) => Some(describe_or_unknown(plan.action(Kind::Backend, name))),
        None if asked => Some(UNAVAILABLE.to_string()),
        None => None,
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
            deployed: deployed(&b.name),
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
    header.extend(asked.then_some("DEPLOYED"));
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
