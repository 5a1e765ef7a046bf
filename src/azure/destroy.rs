//! `destroy`: what `deploy` created, deleted in reverse dependency order (children go with
//! their parent), and optionally the soft-deleted APIM service and OpenAI accounts purged.
//! The resource group goes too only when oai-lb created it (its `managed-by` tag) and it
//! holds nothing else; otherwise it is kept, and the plan says why.

use serde::Serialize;
use serde_json::Value;

use super::{ArmClient, AzureError, Event, Kind, Observer, Plan, Stack};
use crate::names::MANAGED_BY_TAG;

/// What to keep and what to purge.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep the OpenAI accounts, their deployments and the resource group.
    pub keep_openai: bool,
    /// Purge the deleted APIM service and OpenAI accounts, so their names can be reused
    /// at once.
    pub purge: bool,
}

/// What `destroy` will do.
#[derive(Debug, Clone, Serialize)]
pub struct Deletions {
    /// In the order they run.
    pub deletions: Vec<Deletion>,
    /// Why the resource group is kept, when it exists and is kept.
    pub kept_group: Option<String>,
    /// Resources of the config's names that oai-lb did not create (no `managed-by` tag):
    /// kept, with why.
    pub kept: Vec<String>,
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
pub async fn plan(client: &ArmClient, stack: &Stack, options: Options) -> Result<Deletions, AzureError> {
    let plan = super::plan(client, stack.clone()).await?;
    let kept_group = match plan.changes.iter().find(|c| c.resource.kind == Kind::ResourceGroup) {
        Some(group) if options.keep_openai => {
            group.current.as_ref().map(|_| "--keep-openai keeps the accounts in it".to_string())
        }
        Some(group) => match &group.current {
            Some(current) => {
                keep_group_because(client, stack, &group.resource.name, group.resource.id(), current).await?
            }
            None => None,
        },
        None => None,
    };
    let kept = not_ours(&plan);
    let mut deletions = deletions(&plan, options.keep_openai, kept_group.is_some());
    if options.purge {
        let purged = |kind: Kind| kind == Kind::Apim || kind == Kind::Account && !options.keep_openai;
        deletions.extend(stack.resources.iter().filter(|r| purged(r.kind)).filter_map(|r| {
            Some(Deletion {
                resource: format!("purge deleted {}", r.label),
                id: r.deleted_id()?.to_string(),
                api_version: r.kind.api_version(),
            })
        }));
    }
    Ok(Deletions { deletions, kept_group, kept })
}

/// `[balancer.azure]`'s resources carry `managed-by: oai-lb` from their first write; one of
/// the same name without it was made by someone else and is not deleted.
fn tagged_kind(kind: Kind) -> bool {
    matches!(kind, Kind::ManagedEnvironment | Kind::Redis | Kind::ContainerApp)
}

fn is_ours(current: &Value) -> bool {
    let (key, value) = MANAGED_BY_TAG;
    current.pointer(&format!("/tags/{key}")).and_then(Value::as_str) == Some(value)
}

fn not_ours(plan: &Plan) -> Vec<String> {
    let (key, value) = MANAGED_BY_TAG;
    plan.changes
        .iter()
        .filter(|c| tagged_kind(c.resource.kind) && c.current.as_ref().is_some_and(|v| !is_ours(v)))
        .map(|c| format!("{} has no {key}: {value} tag: oai-lb did not create it", c.resource.label))
        .collect()
}

/// Why the existing group must stay: oai-lb did not create it, or it holds resources that
/// are not this stack's. `None`: delete it.
async fn keep_group_because(
    client: &ArmClient,
    stack: &Stack,
    name: &str,
    id: &str,
    current: &Value,
) -> Result<Option<String>, AzureError> {
    let (key, value) = MANAGED_BY_TAG;
    if current.pointer(&format!("/tags/{key}")).and_then(Value::as_str) != Some(value) {
        return Ok(Some(format!(
            "oai-lb did not create resource group {name} (it has no {key}: {value} tag); only oai-lb's resources in it are deleted"
        )));
    }
    let what = format!("resources of resource group {name}");
    let listed = client
        .get_json(&format!("{id}/resources"), Kind::ResourceGroup.api_version())
        .await
        .map_err(AzureError::arm(&what))?;
    let ours = |other: &str| stack.resources.iter().any(|r| r.id().eq_ignore_ascii_case(other));
    let others: Vec<&str> = listed["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .filter(|other| !ours(other))
        .map(|other| other.rsplit('/').next().unwrap_or(other))
        .collect();
    if others.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!("resource group {name} also holds {} that oai-lb did not create", others.join(", "))))
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
fn deletions(plan: &Plan, keep_openai: bool, keep_group: bool) -> Vec<Deletion> {
    let kept = |kind: Kind| {
        keep_group && kind == Kind::ResourceGroup
            || keep_openai && matches!(kind, Kind::ResourceGroup | Kind::Account | Kind::ModelDeployment)
    };
    // Existing resources the config names (`[monitoring]` ids) are not ours to delete.
    let ours = |c: &super::Change| !tagged_kind(c.resource.kind) || c.current.as_ref().is_some_and(is_ours);
    let doomed: Vec<bool> = plan
        .changes
        .iter()
        .map(|c| c.current.is_some() && !c.resource.existing && !kept(c.resource.kind) && ours(c))
        .collect();
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
