//! `oai-lb deploy [--what-if] [--yes]`: converges the whole Azure stack to the config,
//! printing the plan first. Idempotent, and resumable: the plan is read from what exists.

use std::process::ExitCode;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::azure::{ApplyArgs, AzureArgs, Bars};
use super::settings::Settings;
use super::{Error, GlobalArgs, Printer};
use crate::azure::{self, Action, ArmClient, Event, Kind, Plan, Stack};
use crate::config::EnvUse;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 converged (or nothing to do), 1 an Azure call failed (re-run to resume), 2 config or usage error.\n\
Tuning (mainly for tests): OAI_LB_ARM_POLL_MS (poll interval without Retry-After, default 5000), \
OAI_LB_ARM_RETRY_BASE_MS (first backoff step, 800), OAI_LB_ARM_RETRY_MAX_MS (backoff cap, 60000), \
OAI_LB_ARM_PRINCIPAL_WAIT_MS (PrincipalNotFound retry window, 120000)."
)]
pub struct Args {
    #[command(flatten)]
    apply: ApplyArgs,
    #[command(flatten)]
    azure: AzureArgs,
    /// Print the APIM subscription key.
    #[arg(long)]
    show_secrets: bool,
    /// Purge a soft-deleted APIM service or OpenAI account of the same name and create it
    /// anew, instead of restoring it (the default).
    #[arg(long)]
    purge_deleted: bool,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    // Backend keys are checked once the plan says which ones are uploaded.
    let settings = Settings::load(global, EnvUse::default())?;
    if !settings.has_apim() {
        return Err(Error::usage(format!(
            "{}: deploy needs the [azure] and [apim] sections (fix: add [azure] subscription_id/resource_group/location and [apim] name/publisher_email/publisher_name)",
            settings.path.display()
        )));
    }
    crate::config::balancer_azure::check_deploy_env(&settings.path, &settings.config)?;
    let stack = settings.stack()?;
    let client = args.azure.connect()?;
    super::runtime()?.block_on(deploy(&client, &settings, stack, &args, printer))
}

async fn deploy(
    client: &ArmClient,
    settings: &Settings,
    stack: Stack,
    args: &Args,
    printer: &Printer,
) -> Result<ExitCode, Error> {
    printer.note("Reading the deployed resources…");
    let mut plan = azure::plan(client, stack.clone()).await?;
    if args.purge_deleted {
        plan = plan.purge_deleted();
    }
    if !args.apply.what_if {
        let writes = |name: &str| plan.action(Kind::NamedValue, name).is_some_and(|a| *a != Action::Unchanged);
        settings.check_uploaded_keys(writes, "")?;
    }
    if !printer.json() {
        print_plan(printer, &plan)?;
    }
    if plan.writes() == 0 || args.apply.what_if {
        let gateway = plan.outputs.gateway_url.as_deref().map(|g| stack.api_url(g));
        // The key of a service that exists, for the CI step after a converged deploy.
        let key = match args.show_secrets && plan.writes() == 0 && plan.outputs.gateway_url.is_some() {
            true => Some(azure::subscription_key(client, &stack).await?),
            false => None,
        };
        if printer.json() {
            let mut out = json!({
                "plan": plan_json(&plan), "applied": false, "writes": 0, "gateway_url": gateway,
                "endpoint": plan.outputs.gateway_url, "balancer_url": balancer_url(&plan.outputs),
            });
            if let Some(key) = key {
                out["subscription_key"] = json!(key);
            }
            printer.print_json(&out)?;
            return Ok(ExitCode::SUCCESS);
        }
        if plan.writes() == 0 {
            printer.line("No changes: the deployment matches the config.")?;
            if let Some(url) = &gateway {
                printer.line(format!("Gateway URL: {url}"))?;
            }
            if let Some(url) = balancer_url(&plan.outputs) {
                printer.line(format!("Balancer URL (Container Apps): {url}"))?;
            }
        } else {
            printer.line(format!("What-if: {} resource(s) would change; nothing was written.", plan.writes()))?;
        }
        if let Some(key) = key {
            printer.line(format!("Subscription key (header api-key): {key}"))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    args.apply.confirm("deploy would change resources", &format!("Apply these {} change(s)?", plan.writes()))?;

    let bars = Bars::new(printer, false);
    let progress = Mutex::new(Progress::default());
    let observer = |event: Event<'_>| {
        progress.lock().unwrap_or_else(|e| e.into_inner()).hear(event);
        bars.event(event)
    };
    let plan_summary = plan_json(&plan);
    let converged = tokio::select! {
        converged = azure::converge(client, plan, &observer) => converged,
        _ = tokio::signal::ctrl_c() => {
            bars.clear();
            return Err(progress.lock().unwrap_or_else(|e| e.into_inner()).interrupted());
        }
    };
    let outcome = converged.map_err(|e| {
        Error::caused_by("deploy stopped", e).fix("fix the cause and run `oai-lb deploy` again to resume")
    })?;
    bars.clear();
    let gateway = outcome.outputs.gateway_url.as_deref().map(|g| stack.api_url(g));
    let key = if args.show_secrets { Some(azure::subscription_key(client, &stack).await?) } else { None };
    if printer.json() {
        // `endpoint` is what OpenAI SDKs (azure_endpoint) and `oai-lb probe --target` take;
        // `gateway_url` is the API's own URL (endpoint + api_path).
        let mut out = json!({
            "plan": plan_summary, "applied": true, "writes": outcome.writes, "gateway_url": gateway,
            "endpoint": outcome.outputs.gateway_url, "balancer_url": balancer_url(&outcome.outputs),
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
        if let Some(url) = balancer_url(&outcome.outputs) {
            printer.line(format!("Balancer URL (Container Apps): {url} (clients send a client key as api-key)"))?;
        }
        match key {
            Some(key) => printer.line(format!("Subscription key (header api-key): {key}"))?,
            None => printer.line("Subscription key: hidden (pass --show-secrets to print it)")?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What converge has done so far, to say it when the user interrupts.
#[derive(Default)]
struct Progress {
    written: Vec<String>,
    running: Vec<String>,
}

impl Progress {
    fn hear(&mut self, event: Event<'_>) {
        match event {
            Event::Started { label } => self.running.push(label.to_string()),
            Event::Written { label } => self.written.push(label.to_string()),
            Event::Done { label } => self.running.retain(|l| l != label),
            Event::State { .. } => {}
        }
    }

    /// Ctrl-C: what was written, what may still finish in Azure, and how to resume.
    fn interrupted(&self) -> Error {
        let mut message = format!("interrupted: {} resource(s) written so far", self.written.len());
        if !self.written.is_empty() {
            message.push_str(&format!(" ({})", self.written.join(", ")));
        }
        if !self.running.is_empty() {
            message.push_str(&format!(
                "; {} write(s) were under way and may still finish in Azure ({})",
                self.running.len(),
                self.running.join(", ")
            ));
        }
        Error::interrupted(message)
            .fix("run `oai-lb deploy` again to resume: it reads what exists and writes only what is missing")
    }
}

/// The container app's public URL, when `[balancer.azure]` deployed one.
fn balancer_url(outputs: &azure::Outputs) -> Option<String> {
    outputs.app_fqdn.as_deref().map(|fqdn| format!("https://{fqdn}"))
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Restore => "restore",
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
            Action::Restore => "soft-deleted: restored (--purge-deleted creates it anew)".into(),
            Action::Create if c.soft_deleted => "soft-deleted: purged first".into(),
            _ => String::new(),
        };
        table.add_row([c.resource.label.as_str(), action_name(&c.action), fields.as_str()]);
    }
    printer.line(table)
}
