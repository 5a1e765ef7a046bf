//! APIM named values: set, list and remove, by name. Secret values are never read back.

use serde_json::{Value, json};

use super::{Action, ArmClient, AzureError, Kind, Stack};
use crate::config::Config;
use crate::names;

/// A named value of the service, or one the config wants.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub name: String,
    pub secret: bool,
    /// The deployed value; `None` for secrets and missing ones.
    pub value: Option<String>,
    /// What `deploy` would do to it; `None` for a value oai-lb does not manage.
    pub action: Option<Action>,
}

impl Deployed {
    /// True when oai-lb writes it (`deploy`, `backends` edits), or wrote it for a config
    /// that has changed since (the key of a removed backend).
    pub fn managed(&self) -> bool {
        self.action.is_some() || is_managed(&self.name)
    }
}

/// True for the names oai-lb writes: every one of its named values starts with `oai-lb-`
/// (see [`crate::names`]), including the keys of backends removed from the config.
pub fn is_managed(name: &str) -> bool {
    name.starts_with(names::MANAGED_NAMED_VALUE_PREFIX)
}

/// Refuses to set a named value oai-lb writes itself: the next `deploy` would undo it.
pub fn check_unmanaged(name: &str) -> Result<(), AzureError> {
    if is_managed(name) {
        return Err(AzureError::config(
            format!("named value {name} is managed by oai-lb (`deploy` writes it from the config)"),
            format!(
                "change oai-lb.toml and run `oai-lb deploy`, or pick a name without the `{}` prefix",
                names::MANAGED_NAMED_VALUE_PREFIX
            ),
        ));
    }
    Ok(())
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

/// Every named value of the service (secrets hidden), and those the config's stack wants
/// that are missing: oai-lb's first (with what `deploy` would do), then the others by name.
pub async fn list(client: &ArmClient, stack: &Stack) -> Result<Vec<Deployed>, AzureError> {
    let plan = super::plan(client, stack.clone()).await?;
    let mut values: Vec<Deployed> = plan
        .changes
        .into_iter()
        .filter(|c| c.resource.kind == Kind::NamedValue)
        .map(|c| {
            let secret = c.resource.secret;
            let value = match (&c.current, secret) {
                (Some(current), false) => text_value(current),
                _ => None,
            };
            Deployed { name: c.resource.name, secret, value, action: Some(c.action) }
        })
        .collect();
    let mut others: Vec<Deployed> = service_values(client, stack)
        .await?
        .into_iter()
        .filter(|v| !values.iter().any(|m| m.name.eq_ignore_ascii_case(&v.name)))
        .collect();
    others.sort_by(|a, b| a.name.cmp(&b.name));
    values.extend(others);
    Ok(values)
}

/// `GET {service}/namedValues`, page by page (`$top`/`$skip`, as APIM's `nextLink` does);
/// empty when the service does not exist.
async fn service_values(client: &ArmClient, stack: &Stack) -> Result<Vec<Deployed>, AzureError> {
    const PAGE: usize = 100;
    let mut found = Vec::new();
    loop {
        let path = format!("{}?$top={PAGE}&$skip={}", stack.named_values_id(), found.len());
        let page = client
            .get_optional(&path, Kind::NamedValue.api_version())
            .await
            .map_err(AzureError::arm("cannot list the named values"))?;
        let items = page.as_ref().and_then(|p| p["value"].as_array()).cloned().unwrap_or_default();
        let more = items.len() == PAGE;
        found.extend(items.iter().map(|item| {
            let secret = item.pointer("/properties/secret").and_then(Value::as_bool).unwrap_or(false);
            let name = item["name"].as_str().unwrap_or_default().to_string();
            Deployed { name, secret, value: if secret { None } else { text_value(item) }, action: None }
        }));
        if !more {
            return Ok(found);
        }
    }
}

fn text_value(resource: &Value) -> Option<String> {
    resource.pointer("/properties/value").and_then(Value::as_str).map(str::to_string)
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::azure::BackendKeys;

    /// `named-values set` refuses by prefix, so every named value the stack writes must
    /// carry it: the backend list, the identity, client auth, monitoring and the keys.
    #[test]
    fn every_named_value_of_the_stack_is_managed() {
        let text = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg"
location = "eastus"
tenant_id = "11111111-1111-1111-1111-111111111111"
[apim]
name = "apim"
publisher_email = "ops@example.com"
publisher_name = "Contoso"
[apim.client_auth]
audience = "api://oai-lb"
client_id = "22222222-2222-2222-2222-222222222222"
[monitoring]
[[backends]]
name = "keyed"
url = "https://keyed.openai.azure.com"
auth = "api-key"
api_key_env = "K"
"#;
        let config = Config::parse(Path::new("t.toml"), text).unwrap();
        let stack = Stack::new(&config, &BackendKeys::default()).unwrap();
        let names: Vec<&str> = stack.of_kind(Kind::NamedValue).map(|r| r.name.as_str()).collect();
        assert!(names.len() >= 4, "{names:?}");
        assert!(names.iter().all(|n| is_managed(n)), "{names:?}");
        assert!(check_unmanaged("oai-lb-key-keyed").is_err() && check_unmanaged("team").is_ok());
    }
}
