//! `status`: the gateway URL, each backend's deployed state and the drift, from one plan.
//!
//! A backend's row tells what APIM serves for it, not only its backend entity: its entry in
//! the `oai-lb-backends` named value (priority, weight, auth, deployments: what the smart
//! policy reads), its place in the pool (priority and weight, under the pool strategy) and
//! its key named value. A row says `in sync` only when all of them match the config.

use serde_json::Value;

use super::{Action, ArmClient, AzureError, Change, ContainerAppTarget, Kind, Plan, Stack};
use crate::names::{self, API_DIAGNOSTIC_ID, APP_INSIGHTS_LOGGER_ID, BACKENDS_NAMED_VALUE, POOL_BACKEND_ID};

/// What is deployed, compared with the config.
#[derive(Debug, Clone)]
pub struct Status {
    /// The OpenAI API's public URL, once APIM exists.
    pub gateway_url: Option<String>,
    pub backends: Vec<BackendState>,
    /// What `deploy` would do to the API policy.
    pub policy: Option<Action>,
    /// Every resource that differs from the config: (its label, what deploy would do).
    pub drift: Vec<(String, Action)>,
    /// Where `[monitoring]` sends logs and token metrics.
    pub monitoring: Option<MonitoringStatus>,
    /// `[balancer.azure]`'s container app.
    pub container_app: Option<ContainerAppStatus>,
}

/// The balancer on Container Apps: where it answers and how many replicas run.
#[derive(Debug, Clone)]
pub struct ContainerAppStatus {
    pub name: String,
    /// `https://{ingress fqdn}`, once the app exists.
    pub url: Option<String>,
    /// The app's `runningStatus` (Running, Stopped, …).
    pub running_status: Option<String>,
    /// The latest ready revision and its running replicas (`revisions/{name}`'s `replicas`).
    pub revision: Option<String>,
    pub replicas: Option<u64>,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// What `deploy` would do to it.
    pub action: Option<Action>,
}

/// Where to look for the gateway's logs and token metrics.
#[derive(Debug, Clone)]
pub struct MonitoringStatus {
    /// The Application Insights component (ARM id).
    pub app_insights_id: String,
    /// Its Log Analytics workspace (ARM id), once known.
    pub workspace_id: Option<String>,
    /// What `deploy` would do to the logger and the API diagnostic (`None`: not read, APIM
    /// is missing).
    pub logger: Option<Action>,
    pub diagnostic: Option<Action>,
    /// The metrics the policy emits.
    pub metrics: String,
    /// The KQL for tokens per deployment per backend in the last hour.
    pub tokens_query: &'static str,
}

/// One gateway backend of the config and its deployed state.
#[derive(Debug, Clone)]
pub struct BackendState {
    pub name: String,
    pub priority: u32,
    pub weight: u32,
    pub action: Option<Action>,
}

/// Reads the stack and compares it with the config.
pub async fn status(client: &ArmClient, stack: &Stack) -> Result<Status, AzureError> {
    let plan = super::plan(client, stack.clone()).await?;
    let container_app = match stack.container_app() {
        Some(app) => Some(container_app_status(client, app, &plan).await?),
        None => None,
    };
    let backends = stack
        .backends
        .iter()
        .map(|b| BackendState {
            name: b.name.clone(),
            priority: b.priority,
            weight: b.weight,
            action: backend_action(&plan, &b.name),
        })
        .collect();
    Ok(Status {
        gateway_url: plan.outputs.gateway_url.as_deref().map(|g| stack.api_url(g)),
        backends,
        policy: plan.changes.iter().find(|c| c.resource.kind == Kind::ApiPolicy).map(|c| c.action.clone()),
        drift: drift(&plan),
        monitoring: stack.monitoring().map(|m| MonitoringStatus {
            app_insights_id: m.app_insights_id.clone(),
            workspace_id: m.workspace_id.clone().or(plan.outputs.workspace_id.clone()),
            logger: plan.action(Kind::Logger, APP_INSIGHTS_LOGGER_ID).cloned(),
            diagnostic: plan.action(Kind::ApiDiagnostic, API_DIAGNOSTIC_ID).cloned(),
            metrics: super::monitoring::token_metrics_hint(),
            tokens_query: super::monitoring::TOKENS_BY_DEPLOYMENT_AND_BACKEND_KQL,
        }),
        container_app,
    })
}

async fn container_app_status(
    client: &ArmClient,
    app: &ContainerAppTarget,
    plan: &Plan,
) -> Result<ContainerAppStatus, AzureError> {
    let outputs = &plan.outputs;
    let replicas = match &outputs.app_revision {
        Some(revision) => {
            let what = format!("revision {revision} of container app {}", app.name);
            let path = format!("{}/revisions/{revision}", app.id);
            let found =
                client.get_optional(&path, Kind::ContainerApp.api_version()).await.map_err(AzureError::arm(&what))?;
            found.and_then(|r| r.pointer("/properties/replicas").and_then(Value::as_u64))
        }
        None => None,
    };
    Ok(ContainerAppStatus {
        name: app.name.clone(),
        url: outputs.app_fqdn.as_deref().map(|fqdn| format!("https://{fqdn}")),
        running_status: outputs.app_running_status.clone(),
        revision: outputs.app_revision.clone(),
        replicas,
        min_replicas: app.min_replicas,
        max_replicas: app.max_replicas,
        action: plan.action(Kind::ContainerApp, &app.name).cloned(),
    })
}

/// The deployed container app's URL (`probe --target aca`).
pub async fn container_app_url(client: &ArmClient, stack: &Stack) -> Result<String, AzureError> {
    let Some(app) = stack.container_app() else {
        return Err(AzureError::config(
            "the config has no [balancer.azure] section",
            "add [balancer.azure] and run `oai-lb deploy`, or pass the balancer's URL as --target",
        ));
    };
    let what = format!("container app {}", app.name);
    let found = client.get_optional(&app.id, Kind::ContainerApp.api_version()).await.map_err(AzureError::arm(&what))?;
    found
        .as_ref()
        .and_then(|a| a.pointer("/properties/configuration/ingress/fqdn"))
        .and_then(Value::as_str)
        .map(|fqdn| format!("https://{fqdn}"))
        .ok_or_else(|| AzureError::config(format!("{what} is not deployed"), "run `oai-lb deploy` first"))
}

fn drift(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| (c.resource.label.clone(), c.action.clone()))
        .collect()
}

/// What `deploy` would change for one backend, over every resource that serves it: the
/// backend entity (`missing` wins), then the fields that differ, named after where they
/// live (`weight in oai-lb-backends`, `priority in oai-lb-pool`, `key oai-lb-key-east`).
fn backend_action(plan: &Plan, name: &str) -> Option<Action> {
    let change = |kind: Kind, id: &str| plan.changes.iter().find(|c| c.resource.kind == kind && c.resource.name == id);
    let entity = change(Kind::Backend, name)?;
    let mut fields = match &entity.action {
        Action::Create | Action::Restore => return Some(entity.action.clone()),
        Action::Update { fields } => fields.clone(),
        Action::Unchanged => Vec::new(),
    };
    if let Some(list) = change(Kind::NamedValue, BACKENDS_NAMED_VALUE) {
        let entry = |value: Option<&Value>| -> Option<Value> {
            let text = value?.pointer("/properties/value")?.as_str()?;
            let list: Value = serde_json::from_str(text).ok()?;
            list["backends"].as_array()?.iter().find(|b| b["id"] == name).cloned()
        };
        let desired = entry(Some(list.resource.body()));
        fields.extend(differences(desired.as_ref(), entry(list.current.as_ref()).as_ref(), BACKENDS_NAMED_VALUE));
    }
    if let Some(pool) = change(Kind::Backend, POOL_BACKEND_ID) {
        let suffix = format!("/backends/{name}");
        let member = |value: Option<&Value>| -> Option<Value> {
            let services = value?.pointer("/properties/pool/services")?.as_array()?;
            let found = services.iter().find(|s| s["id"].as_str().is_some_and(|id| id.ends_with(&suffix)))?;
            Some(serde_json::json!({"priority": found["priority"], "weight": found["weight"]}))
        };
        let desired = member(Some(pool.resource.body()));
        fields.extend(differences(desired.as_ref(), member(pool.current.as_ref()).as_ref(), POOL_BACKEND_ID));
    }
    let key = names::backend_key_named_value(name);
    if let Some(Change { action: Action::Create | Action::Restore | Action::Update { .. }, .. }) =
        change(Kind::NamedValue, &key)
    {
        fields.push(format!("key {key}"));
    }
    Some(if fields.is_empty() { Action::Unchanged } else { Action::Update { fields } })
}

/// The keys of `desired` whose value `current` does not have, as `KEY in WHERE`; `not in
/// WHERE` when `current` lacks the entry.
fn differences(desired: Option<&Value>, current: Option<&Value>, place: &str) -> Vec<String> {
    let Some(desired) = desired.and_then(Value::as_object) else { return Vec::new() };
    let Some(current) = current else { return vec![format!("not in {place}")] };
    desired
        .iter()
        .filter(|(key, want)| current.get(key.as_str()) != Some(*want))
        .map(|(key, _)| format!("{key} in {place}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_the_field_and_where_it_lives() {
        let want = json!({"id": "east", "priority": 1, "weight": 3});
        let have = json!({"id": "east", "priority": 1, "weight": 1});
        assert_eq!(differences(Some(&want), Some(&have), "oai-lb-backends"), vec!["weight in oai-lb-backends"]);
        assert!(differences(Some(&want), Some(&want), "oai-lb-backends").is_empty());
        assert_eq!(differences(Some(&want), None, "oai-lb-pool"), vec!["not in oai-lb-pool"]);
        assert!(differences(None, Some(&have), "oai-lb-pool").is_empty(), "not wanted there: no drift");
    }
}
