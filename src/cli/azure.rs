//! What every command that calls Azure shares: the connection flags, the client, and the
//! stack of the config (the resources `deploy` owns).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::arm::{ArmClient, ArmSettings};
use crate::azure::{Action, AzureError, Kind, Plan, Stack};
use crate::config::Config;
use crate::credential::{Credential, CredentialKind};

use super::{Error, Printer};

#[derive(Debug, Clone, clap::Args)]
pub struct AzureArgs {
    /// Where the Entra ID token comes from.
    #[arg(long, value_enum, default_value_t = CredentialKind::Auto, env = "OAI_LB_CREDENTIAL")]
    pub credential: CredentialKind,
    /// The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts.
    #[arg(long, env = "OAI_LB_ARM_ENDPOINT")]
    pub arm_endpoint: Option<String>,
}

impl AzureArgs {
    pub fn client(&self) -> Result<ArmClient, Error> {
        let settings = ArmSettings::from_env(self.arm_endpoint.as_deref()).map_err(|e| Error::usage(e.to_string()))?;
        let credential = Credential::new(self.credential).map_err(|e| Error::failure(e.to_string()))?;
        ArmClient::new(settings, credential).map_err(|e| Error::failure(e.to_string()))
    }
}

/// The stack of a config that has `[azure]` and `[apim]`.
pub fn stack(path: &Path, config: &Config) -> Result<Stack, Error> {
    if config.azure.is_none() || config.apim.is_none() {
        return Err(Error::usage(format!(
            "{}: this command works on the deployed APIM, which needs the [azure] and [apim] sections (fix: add them, see `oai-lb init`)",
            path.display()
        )));
    }
    Stack::from_config(config).map_err(azure_error)
}

/// The ARM id of the one resource of `kind` (the API policy, …) in the stack.
pub fn resource_id(stack: &Stack, kind: Kind) -> &str {
    stack
        .resources
        .iter()
        .find(|r| r.kind == kind)
        .map(|r| r.id())
        .expect("the stack has one resource of each APIM kind")
}

pub fn azure_error(e: AzureError) -> Error {
    match e {
        AzureError::Config { .. } => Error::usage(e.to_string()),
        AzureError::Arm { .. } => Error::failure(e.to_string()),
    }
}

/// How a deployed resource compares with the config, in words.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Create => "missing".into(),
        Action::Update { fields } => format!("differs ({})", fields.join(", ")),
        Action::Unchanged => "in sync".into(),
    }
}

/// The state of the resource of `kind` called `label` in a plan.
pub fn state(plan: &Plan, kind: Kind, label: &str) -> String {
    plan.changes
        .iter()
        .find(|c| c.resource.kind == kind && c.resource.label == label)
        .map_or_else(|| "unknown".into(), |c| describe(&c.action))
}

/// A spinner for one long-running ARM operation, on a terminal only; elsewhere (CI logs,
/// `-q`, `--output json`) the label is written once as a note instead.
pub fn spinner(printer: &Printer, label: &str) -> ProgressBar {
    if printer.quiet || printer.json() || !std::io::stderr().is_terminal() {
        printer.note(format!("{label}…"));
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
