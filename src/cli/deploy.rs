//! `oai-lb deploy`: plan the Azure stack from the config, show the plan, confirm, converge.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::{Error, GlobalArgs, Printer};
use crate::arm::{ArmClient, ArmSettings};
use crate::azure::{self, Action, AzureError, Event, Kind, Plan, Stack};
use crate::config::Config;
use crate::credential::{Credential, CredentialKind};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 converged (or nothing to do), 1 an Azure call failed (re-run to resume), 2 config or usage error.\n\
Tuning (mainly for tests): OAI_LB_ARM_POLL_MS (poll interval without Retry-After, default 5000), \
OAI_LB_ARM_RETRY_BASE_MS (first backoff step, 800), OAI_LB_ARM_RETRY_MAX_MS (backoff cap, 60000), \
OAI_LB_ARM_PRINCIPAL_WAIT_MS (PrincipalNotFound retry window, 120000)."
)]
pub struct Args {
    /// Print the plan and change nothing.
    #[arg(long)]
    what_if: bool,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Where the Entra ID token comes from.
    #[arg(long, value_enum, default_value_t = CredentialKind::Auto, env = "OAI_LB_CREDENTIAL")]
    credential: CredentialKind,
    /// The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts.
    #[arg(long, env = "OAI_LB_ARM_ENDPOINT")]
    arm_endpoint: Option<String>,
    /// Print the APIM subscription key.
    #[arg(long)]
    show_secrets: bool,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(&global.config)?;
    if config.azure.is_none() || config.apim.is_none() {
        return Err(Error::usage(format!(
            "{}: deploy needs the [azure] and [apim] sections (fix: add [azure] subscription_id/resource_group/location and [apim] name/publisher_email/publisher_name)",
            global.config.display()
        )));
    }
    let stack = Stack::from_config(&config).map_err(azure_error)?;
    let settings = ArmSettings::from_env(args.arm_endpoint.as_deref()).map_err(|e| Error::usage(e.to_string()))?;
    let credential = Credential::new(args.credential).map_err(|e| Error::failure(e.to_string()))?;
    let client = ArmClient::new(settings, credential).map_err(|e| Error::failure(e.to_string()))?;
    super::runtime()?.block_on(deploy(&client, stack, &args, printer))
}

async fn deploy(client: &ArmClient, stack: Stack, args: &Args, printer: &Printer) -> Result<ExitCode, Error> {
    printer.note("Reading the deployed resources…");
    let plan = azure::plan(client, stack.clone()).await.map_err(azure_error)?;
    if !printer.json() {
        print_plan(printer, &plan)?;
    }
    if plan.writes() == 0 || args.what_if {
        let gateway = plan.outputs.gateway_url.as_deref().map(|g| stack.api_url(g));
        if printer.json() {
            printer.print_json(&json!({
                "plan": plan_json(&plan), "applied": false, "writes": 0, "gateway_url": gateway,
                "endpoint": plan.outputs.gateway_url,
            }))?;
        } else if plan.writes() == 0 {
            printer.line("No changes: the deployment matches the config.")?;
            if let Some(url) = &gateway {
                printer.line(format!("Gateway URL: {url}"))?;
            }
        } else {
            printer.line(format!("What-if: {} resource(s) would change; nothing was written.", plan.writes()))?;
        }
        if plan.writes() == 0 && args.show_secrets && plan.outputs.gateway_url.is_some() {
            print_key(client, &stack, printer).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::output::confirm(
        args.yes,
        &format!("Apply these {} change(s)?", plan.writes()),
        "deploy would change resources but stdin is not a terminal (fix: pass --yes to apply, or --what-if to only plan)",
        "deploy cancelled; nothing was written",
    )?;

    let bars = Bars::new(printer);
    let observer = |event: Event<'_>| bars.event(event);
    let plan_summary = plan_json(&plan);
    let outcome = azure::converge(client, plan, &observer).await.map_err(|e| {
        Error::failure(format!("deploy stopped: {e}; fix the cause and run `oai-lb deploy` again to resume"))
    })?;
    bars.clear();
    let gateway = outcome.outputs.gateway_url.as_deref().map(|g| stack.api_url(g));
    let key = if args.show_secrets { Some(subscription_key(client, &stack).await?) } else { None };
    if printer.json() {
        // `endpoint` is what OpenAI SDKs (azure_endpoint) and `oai-lb probe --target` take;
        // `gateway_url` is the API's own URL (endpoint + api_path).
        let mut out = json!({
            "plan": plan_summary, "applied": true, "writes": outcome.writes, "gateway_url": gateway,
            "endpoint": outcome.outputs.gateway_url,
        });
        if let Some(key) = key {
            out["subscription_key"] = json!(key);
        }
        printer.print_json(&out)?;
    } else {
        printer.line(format!("Deployed: {} resource(s) written.", outcome.writes))?;
        if let Some(url) = &gateway {
            printer.line(format!("Gateway URL: {url}"))?;
        }
        match key {
            Some(key) => printer.line(format!("Subscription key (header api-key): {key}"))?,
            None => printer.line("Subscription key: hidden (pass --show-secrets to print it)")?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn print_key(client: &ArmClient, stack: &Stack, printer: &Printer) -> Result<(), Error> {
    let key = subscription_key(client, stack).await?;
    printer.line(format!("Subscription key (header api-key): {key}"))
}

async fn subscription_key(client: &ArmClient, stack: &Stack) -> Result<String, Error> {
    let path = format!("{}/listSecrets", stack.subscription_id());
    let secrets = client
        .post_json(&path, Kind::Subscription.api_version(), None)
        .await
        .map_err(|e| Error::failure(format!("cannot read the subscription key: {e}")))?;
    secrets
        .get("primaryKey")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::failure("cannot read the subscription key: listSecrets returned no primaryKey"))
}

fn azure_error(e: AzureError) -> Error {
    match e {
        AzureError::Config { .. } => Error::usage(e.to_string()),
        AzureError::Arm { .. } => Error::failure(e.to_string()),
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update { .. } => "update",
        Action::Unchanged => "unchanged",
    }
}

fn plan_json(plan: &Plan) -> Vec<Value> {
    plan.changes
        .iter()
        .map(|c| {
            let fields = match &c.action {
                Action::Update { fields } => fields.clone(),
                _ => Vec::new(),
            };
            json!({
                "resource": c.resource.label,
                "type": c.resource.kind.resource_type(),
                "id": c.resource.id(),
                "action": action_name(&c.action),
                "fields": fields,
            })
        })
        .collect()
}

fn print_plan(printer: &Printer, plan: &Plan) -> Result<(), Error> {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY).set_header(["resource", "action", "changed fields"]);
    for c in &plan.changes {
        let fields = match &c.action {
            Action::Update { fields } => fields.join(", "),
            _ => String::new(),
        };
        table.add_row([c.resource.label.as_str(), action_name(&c.action), fields.as_str()]);
    }
    printer.line(table)
}

/// One spinner per running write, with elapsed time and the operation's state.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new(printer: &Printer) -> Bars {
        let target =
            if printer.quiet || printer.json() { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        Bars { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()) }
    }

    fn event(&self, event: Event<'_>) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Started { label } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(label.to_string());
                bar.set_message("writing");
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.insert(label.to_string(), bar);
            }
            Event::State { label, state } => {
                if let Some(bar) = bars.get(label) {
                    bar.set_message(state.to_string());
                }
            }
            Event::Done { label } => {
                if let Some(bar) = bars.remove(label) {
                    bar.finish_with_message("done");
                }
            }
        }
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}
