//! `status`: the gateway URL, each backend's deployed state and the drift, from one plan.

use serde_json::Value;

use super::{Action, ArmClient, AzureError, ContainerAppTarget, Kind, Plan, Stack};
use crate::names::{API_DIAGNOSTIC_ID, APP_INSIGHTS_LOGGER_ID};

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
            action: plan.action(Kind::Backend, &b.name).cloned(),
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
