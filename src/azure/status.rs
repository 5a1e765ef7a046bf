//! `status`: the gateway URL, each backend's deployed state and the drift, from one plan.

use super::{Action, ArmClient, AzureError, Kind, Plan, Stack};
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
    })
}

fn drift(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| (c.resource.label.clone(), c.action.clone()))
        .collect()
}
