//! APIM named values: set, list and remove, by name. Secret values are never read back.

use serde_json::{Value, json};

use super::{Action, ArmClient, AzureError, Kind, Stack};
use crate::config::Config;

/// A named value as deployed, beside what the config wants.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub name: String,
    pub secret: bool,
    /// The deployed value; `None` for secrets and missing ones.
    pub value: Option<String>,
    /// What `deploy` would do to it.
    pub action: Action,
}

/// Letters, digits, `.`, `-` and `_`, at most 256 of them (what APIM accepts).
pub fn check_name(name: &str) -> Result<(), AzureError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(AzureError::config(
            format!("`{name}` is not a valid named value name"),
            "use letters, digits, '.', '-' and '_'",
        ))
    }
}

/// Whether the named value exists.
pub async fn exists(client: &ArmClient, stack: &Stack, name: &str) -> Result<bool, AzureError> {
    check_name(name)?;
    let what = format!("cannot read named value {name}");
    let current = client
        .get_optional(&stack.named_value_id(name), Kind::NamedValue.api_version())
        .await
        .map_err(AzureError::arm(&what))?;
    Ok(current.is_some())
}

/// Creates or replaces a named value.
pub async fn set(client: &ArmClient, stack: &Stack, name: &str, value: &str, secret: bool) -> Result<(), AzureError> {
    check_name(name)?;
    let body = json!({"properties": {"displayName": name, "value": value, "secret": secret}});
    let what = format!("cannot write named value {name}");
    client
        .put_json(&stack.named_value_id(name), Kind::NamedValue.api_version(), &body, None)
        .await
        .map_err(AzureError::arm(&what))?;
    Ok(())
}

/// The named values the config's stack owns, as deployed (secrets hidden).
pub async fn list(client: &ArmClient, stack: &Stack) -> Result<Vec<Deployed>, AzureError> {
    let plan = super::plan(client, stack.clone()).await?;
    let values = plan.changes.into_iter().filter(|c| c.resource.kind == Kind::NamedValue).map(|c| {
        let secret = c.resource.secret;
        let value = match (&c.current, secret) {
            (Some(current), false) => current.pointer("/properties/value").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        Deployed { name: c.resource.name, secret, value, action: c.action }
    });
    Ok(values.collect())
}

/// Refuses to remove a named value the config's policy reads: APIM would reject the policy.
pub fn check_unused(config: &Config, name: &str) -> Result<(), AzureError> {
    let rendered = super::policy::policy_xml(config)?;
    if crate::policy::referenced_named_values(&rendered).iter().any(|n| n == name) {
        return Err(AzureError::config(
            format!("the policy uses {{{{{name}}}}}, so APIM would reject it without this named value"),
            "keep it, or change the config so the policy no longer needs it",
        ));
    }
    Ok(())
}

/// Deletes a named value; one that does not exist is a usage error.
pub async fn remove(client: &ArmClient, stack: &Stack, name: &str) -> Result<(), AzureError> {
    if !exists(client, stack, name).await? {
        return Err(missing(name));
    }
    let what = format!("cannot delete named value {name}");
    client
        .delete(&stack.named_value_id(name), Kind::NamedValue.api_version(), None)
        .await
        .map_err(AzureError::arm(&what))
}

/// The error for a name that is not deployed.
pub fn missing(name: &str) -> AzureError {
    AzureError::config(format!("there is no named value {name}"), "check `oai-lb named-values list`")
}
