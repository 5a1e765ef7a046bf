//! `status`: the gateway URL, each backend's deployed state and the drift, from one plan.

use super::{Action, ArmClient, AzureError, Kind, Plan, Stack};

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
    })
}

fn drift(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| (c.resource.label.clone(), c.action.clone()))
        .collect()
}
