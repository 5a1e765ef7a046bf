//! `destroy`: what `deploy` created, deleted in reverse dependency order (children go with
//! their parent), and optionally the soft-deleted OpenAI accounts purged.

use serde::Serialize;

use super::{ArmClient, AzureError, Event, Kind, Observer, Plan, Stack};

/// What to keep and what to purge.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep the OpenAI accounts, their deployments and the resource group.
    pub keep_openai: bool,
    /// Purge the deleted OpenAI accounts, so their names can be reused at once.
    pub purge: bool,
}

/// One DELETE, in the order they run.
#[derive(Debug, Clone, Serialize)]
pub struct Deletion {
    /// What a user calls it.
    pub resource: String,
    pub id: String,
    #[serde(skip)]
    api_version: &'static str,
}

/// A deletion failed; `done` of the deletions before it were made.
#[derive(Debug, thiserror::Error)]
#[error("{done} of {total} deletion(s) done")]
pub struct Stopped {
    pub done: usize,
    pub total: usize,
    #[source]
    pub source: AzureError,
}

/// The deletions for what exists of the stack, in order.
pub async fn plan(client: &ArmClient, stack: &Stack, options: Options) -> Result<Vec<Deletion>, AzureError> {
    let plan = super::plan(client, stack.clone()).await?;
    let mut deletions = deletions(&plan, options.keep_openai);
    if options.purge {
        deletions.extend(stack.deleted_accounts().iter().map(|(account, id)| Deletion {
            resource: format!("purge deleted OpenAI account {account}"),
            id: id.clone(),
            api_version: Kind::Account.api_version(),
        }));
    }
    Ok(deletions)
}

/// Deletes one at a time, in order: a later delete may need an earlier one gone.
pub async fn apply(client: &ArmClient, deletions: &[Deletion], observer: Observer<'_>) -> Result<(), Stopped> {
    for (done, d) in deletions.iter().enumerate() {
        observer(Event::Started { label: &d.resource });
        let report = |state: &str| observer(Event::State { label: &d.resource, state });
        let deleted = client.delete(&d.id, d.api_version, Some(&report)).await;
        observer(Event::Done { label: &d.resource });
        deleted.map_err(|e| Stopped { done, total: deletions.len(), source: AzureError::arm(&d.resource)(e) })?;
    }
    Ok(())
}

/// The existing resources to delete, children left to their parent's delete, in reverse
/// dependency order (so APIM, which runs as the identity, goes before the identity).
fn deletions(plan: &Plan, keep_openai: bool) -> Vec<Deletion> {
    let kept = |kind: Kind| keep_openai && matches!(kind, Kind::ResourceGroup | Kind::Account | Kind::ModelDeployment);
    // Existing resources the config names (`[monitoring]` ids) are not ours to delete.
    let doomed: Vec<bool> =
        plan.changes.iter().map(|c| c.current.is_some() && !c.resource.existing && !kept(c.resource.kind)).collect();
    let goes_with_parent = |mut i: usize| {
        while let Some(parent) = plan.changes[i].resource.parent {
            if doomed[parent] && plan.changes[parent].resource.kind != Kind::ResourceGroup {
                return true;
            }
            i = parent;
        }
        false
    };
    (0..plan.changes.len())
        .rev()
        .filter(|&i| doomed[i] && !goes_with_parent(i))
        .map(|i| {
            let r = &plan.changes[i].resource;
            Deletion { resource: r.label.clone(), id: r.id().to_string(), api_version: r.kind.api_version() }
        })
        .collect()
}
