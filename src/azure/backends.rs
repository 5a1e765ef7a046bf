//! The APIM side of a backends edit: the backend resources, the named values, the pool and
//! the policy converge to the edited config, and a removed backend's resources are deleted.

use super::{Action, ArmClient, AzureError, Event, Kind, Observer, Plan, Stack};
use crate::names;

/// What a backends edit changes in APIM.
#[derive(Debug, Clone)]
pub struct Change {
    plan: Plan,
    deletions: Vec<Deletion>,
}

/// One resource of a removed backend that exists and will be deleted.
#[derive(Debug, Clone)]
struct Deletion {
    kind: Kind,
    label: String,
    id: String,
}

/// Plans the edit against what is deployed: the stack of the edited config (only its
/// backends, named values, pool and policy) plus the resources of `removed`.
pub async fn plan(client: &ArmClient, stack: &Stack, removed: Option<&str>) -> Result<Change, AzureError> {
    let mut plan = super::plan(client, stack.clone()).await?;
    if plan.changes.iter().any(|c| c.resource.kind == Kind::Apim && c.current.is_none()) {
        return Err(AzureError::config(
            "APIM is not deployed yet",
            "run `oai-lb deploy` first, or pass --local-only to edit the file only",
        ));
    }
    for change in &mut plan.changes {
        // `[monitoring]`'s connection string is `deploy`'s business, like the component it
        // comes from.
        let monitoring = change.resource.name == names::APP_INSIGHTS_CONNECTION_STRING_NAMED_VALUE;
        if !matches!(change.resource.kind, Kind::NamedValue | Kind::Backend | Kind::ApiPolicy) || monitoring {
            change.action = Action::Unchanged;
        }
    }
    let mut deletions = Vec::new();
    if let Some(name) = removed {
        let key = names::backend_key_named_value(name);
        let candidates = [
            (Kind::Backend, format!("backend {name}"), stack.backend_id(name)),
            (Kind::NamedValue, format!("named value {key}"), stack.named_value_id(&key)),
        ];
        for (kind, label, id) in candidates {
            let exists = client.get_optional(&id, kind.api_version()).await.map_err(AzureError::arm(&label))?;
            if exists.is_some() {
                deletions.push(Deletion { kind, label, id });
            }
        }
    }
    Ok(Change { plan, deletions })
}

impl Change {
    /// True when the edit writes the resource (creates, restores or updates it).
    pub fn writes(&self, kind: Kind, name: &str) -> bool {
        self.plan.action(kind, name).is_some_and(|a| *a != Action::Unchanged)
    }

    /// What will be written or deleted, in words (`backend west`, `delete backend east`).
    pub fn labels(&self) -> Vec<String> {
        let writes =
            self.plan.changes.iter().filter(|c| c.action != Action::Unchanged).map(|c| c.resource.label.clone());
        writes.chain(self.deletions.iter().map(|d| format!("delete {}", d.label))).collect()
    }
}

/// Converges first (so the pool and the policy stop naming a removed backend), then
/// deletes what was removed.
pub async fn apply(client: &ArmClient, change: Change, observer: Observer<'_>) -> Result<(), AzureError> {
    super::converge(client, change.plan, observer).await?;
    for d in &change.deletions {
        observer(Event::Started { label: &d.label });
        client.delete(&d.id, d.kind.api_version(), None).await.map_err(AzureError::arm(&d.label))?;
        observer(Event::Done { label: &d.label });
    }
    Ok(())
}
