//! The API policy: rendered from the config by `crate::policy` (the renderer shared with the
//! Bicep), compared with, pushed to and read from the deployed API.

use serde_json::{Value, json};

use super::{ArmClient, AzureError, Kind, Stack};
use crate::config::{Config, Strategy};
use crate::policy::{self, PolicyError};

/// The policy document for `strategy`; a config that cannot make one is a usage error.
pub fn render(config: &Config, strategy: Strategy) -> Result<String, AzureError> {
    policy::render(config, strategy).map_err(|e| {
        let fix = match e {
            PolicyError::NoBackends => "add a [[backends]] table (`oai-lb backends add`) or an [[openai]] account",
            PolicyError::BackendListTooLong { .. } => "use strategy = \"pool\" under [apim] (or --strategy pool)",
            PolicyError::Malformed(_) => "report this as a bug: the renderer wrote invalid XML",
        };
        AzureError::config(e.to_string(), fix)
    })
}

/// The rendered API policy for the config's own strategy (what `deploy` pushes).
pub fn policy_xml(config: &Config) -> Result<String, AzureError> {
    render(config, policy::configured_strategy(config))
}

/// The deployed document, `None` when the API has no policy (or does not exist).
pub async fn show(client: &ArmClient, stack: &Stack) -> Result<Option<String>, AzureError> {
    let current = client
        .get_optional(&stack.api_policy_id(), Kind::ApiPolicy.api_version())
        .await
        .map_err(AzureError::arm("cannot read the deployed policy"))?;
    Ok(current.and_then(|v| v.pointer("/properties/value").and_then(Value::as_str).map(str::to_string)))
}

/// The drift between the deployed policy and `rendered` as a unified diff (`None`: none);
/// a missing policy differs from everything.
pub async fn diff(client: &ArmClient, stack: &Stack, rendered: &str) -> Result<Option<String>, AzureError> {
    match show(client, stack).await? {
        None => Ok(Some(format!("--- deployed (none)\n+++ rendered\n{rendered}"))),
        Some(deployed) => policy::diff(&deployed, rendered).map_err(AzureError::Compare),
    }
}

/// Replaces the deployed policy with `rendered`.
pub async fn push(client: &ArmClient, stack: &Stack, rendered: &str) -> Result<(), AzureError> {
    let body = json!({"properties": {"format": policy::POLICY_FORMAT, "value": rendered}});
    client
        .put_json(&stack.api_policy_id(), Kind::ApiPolicy.api_version(), &body, None)
        .await
        .map_err(AzureError::arm("cannot push the policy"))?;
    Ok(())
}
