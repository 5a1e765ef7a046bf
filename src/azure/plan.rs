//! The plan: read every resource first, then diff only the fields `deploy` owns.

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::Value;

use super::container_apps::{Keys, read_keys};
use super::{AzureError, Kind, Outputs, Resource, Stack};
use crate::arm::ArmClient;

/// What converge will do to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Create,
    /// Bring back the soft-deleted one of the same name (`properties.restore: true`).
    Restore,
    /// Change it; `fields` are the owned fields that differ (dotted, e.g. `properties.url`).
    Update {
        fields: Vec<String>,
    },
    Unchanged,
}

/// One resource and what converge will do to it. Its `Debug` leaves out what ARM reported:
/// for a secret named value it holds the current secret.
#[derive(Clone)]
pub struct Change {
    pub resource: Resource,
    pub action: Action,
    /// What ARM reported when the plan was made (`None` if it does not exist).
    pub current: Option<Value>,
    /// A soft-deleted resource of the same name exists ([`Resource::deleted_id`]): restored
    /// ([`Action::Restore`]), or purged before the create ([`Plan::purge_deleted`]).
    pub soft_deleted: bool,
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change")
            .field("resource", &self.resource)
            .field("action", &self.action)
            .field("current", &self.current.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The changes for the whole stack, in dependency order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// What was learnt while reading (the identity's ids, the gateway URL).
    pub outputs: Outputs,
}

impl Plan {
    /// How many resources will be written.
    pub fn writes(&self) -> usize {
        self.changes.iter().filter(|c| c.action != Action::Unchanged).count()
    }

    /// Purges the soft-deleted resources of the same names before creating them, instead
    /// of restoring them (`deploy --purge-deleted`).
    pub fn purge_deleted(mut self) -> Plan {
        for c in &mut self.changes {
            if c.action == Action::Restore {
                c.action = Action::Create;
            }
        }
        self
    }

    /// What converge will do to the resource of `kind` named `name`, if the stack has it.
    pub fn action(&self, kind: Kind, name: &str) -> Option<&Action> {
        self.changes.iter().find(|c| c.resource.kind == kind && c.resource.name == name).map(|c| &c.action)
    }
}

/// Reads each resource of the stack (a parent level at a time; children of a missing
/// parent are not read) and diffs it with its desired body.
pub async fn plan(client: &ArmClient, stack: Stack) -> Result<Plan, AzureError> {
    let mut resources = stack.resources;
    let depth = depths(&resources);
    let mut current: Vec<Option<Value>> = vec![None; resources.len()];
    let mut absent = vec![false; resources.len()];
    let mut outputs = Outputs::default();
    for level in 0..=depth.iter().copied().max().unwrap_or(0) {
        for r in resources.iter_mut() {
            r.resolve(&outputs);
        }
        let wave: Vec<usize> = (0..resources.len())
            .filter(|&i| depth[i] == level)
            .filter(|&i| {
                let parent_absent = resources[i].parent.is_some_and(|p| absent[p]);
                let unknown = !resources[i].id_known();
                if parent_absent || unknown {
                    absent[i] = true;
                }
                !absent[i]
            })
            .collect();
        let reads = wave.iter().map(|&i| read(client, &resources[i]));
        for (&i, result) in wave.iter().zip(join_all(reads).await) {
            match result? {
                Some((value, keys)) => {
                    outputs.learn(resources[i].kind, &value);
                    if let Some(keys) = keys {
                        outputs.learn_keys(keys);
                    }
                    current[i] = Some(value);
                }
                None if resources[i].existing => {
                    return Err(AzureError::config(
                        format!("{} does not exist: {}", resources[i].label, resources[i].id()),
                        "correct the id in [monitoring], or remove it to let deploy create one",
                    ));
                }
                None => absent[i] = true,
            }
        }
    }
    // What the last level taught (an account's endpoint) reaches resources of any level.
    for r in resources.iter_mut() {
        r.resolve(&outputs);
    }
    let changes = resources
        .into_iter()
        .zip(current)
        .map(|(resource, current)| {
            let action = match &current {
                // Not ours: it was read and exists; it is never written.
                Some(_) if resource.existing => Action::Unchanged,
                None => Action::Create,
                Some(now) => {
                    let mut fields = match resource.kind {
                        Kind::ApiPolicy => policy_diff(resource.body(), now),
                        _ => diff(&resource.comparable_body(), now, resource.owned_fields()),
                    };
                    // A resource whose last write failed is written again, so a re-run resumes.
                    let state = now.pointer("/properties/provisioningState").and_then(Value::as_str);
                    if matches!(state, Some("Failed" | "Canceled")) {
                        fields.push("properties.provisioningState".into());
                    }
                    if fields.is_empty() { Action::Unchanged } else { Action::Update { fields } }
                }
            };
            Change { resource, action, current, soft_deleted: false }
        })
        .collect::<Vec<_>>();
    let mut changes = changes;
    // A resource to create may be soft-deleted under the same name (APIM, OpenAI accounts).
    let deleted: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].action == Action::Create && changes[i].resource.deleted_id().is_some())
        .collect();
    let reads = deleted.iter().map(|&i| {
        let r = &changes[i].resource;
        let label = format!("soft-deleted {}", r.label);
        async move {
            client
                .get_optional(r.deleted_id().unwrap_or_default(), r.kind.api_version())
                .await
                .map_err(|e| AzureError::Arm { resource: label, source: e })
        }
    });
    for (&i, found) in deleted.iter().zip(join_all(reads).await) {
        if found?.is_some() {
            changes[i].action = Action::Restore;
            changes[i].soft_deleted = true;
        }
    }
    Ok(Plan { changes, outputs })
}

/// GETs a resource; a secret named value's value is fetched with `listValue` so it can be
/// compared (it is never shown), and the key of a workspace or cache the container app
/// needs with its POST action.
async fn read(client: &ArmClient, resource: &Resource) -> Result<Option<(Value, Option<Keys>)>, AzureError> {
    let api = resource.kind.api_version();
    let err = AzureError::arm(&resource.label);
    // A policy is read in the default `xml` format (well-formed, as it was pushed);
    // `rawxml` would return its expressions unescaped, which no XML parser reads.
    let Some(mut value) = client.get_optional(resource.id(), api).await.map_err(err)? else {
        return Ok(None);
    };
    if resource.secret {
        let secret = client
            .post_json(&format!("{}/listValue", resource.id()), api, None)
            .await
            .map_err(AzureError::arm(&resource.label))?;
        if let (Some(props), Some(v)) =
            (value.get_mut("properties").and_then(Value::as_object_mut), secret.get("value"))
        {
            props.insert("value".into(), v.clone());
        }
    }
    let keys = read_keys(client, resource, &value).await?;
    Ok(Some((value, keys)))
}

fn depths(resources: &[Resource]) -> Vec<usize> {
    let mut depth = vec![0; resources.len()];
    for i in 0..resources.len() {
        depth[i] = resources[i].parent.map_or(0, |p| depth[p] + 1);
    }
    depth
}

/// A policy differs only when its content does ([`crate::policy::equivalent`]): APIM gives
/// it back in its own serialization.
fn policy_diff(desired: &Value, current: &Value) -> Vec<String> {
    let value = |v: &Value| v.pointer("/properties/value").and_then(Value::as_str).map(str::to_string);
    match (value(desired), value(current)) {
        (Some(want), Some(have)) if crate::policy::equivalent(&want, &have) => Vec::new(),
        _ => vec!["properties.value".into()],
    }
}

/// The owned fields whose desired value is not found in the current resource.
pub(crate) fn diff(desired: &Value, current: &Value, owned: &[&str]) -> Vec<String> {
    owned
        .iter()
        .filter(|pointer| match desired.pointer(pointer) {
            None => false,
            Some(want) => !covers(want, current.pointer(pointer).unwrap_or(&Value::Null)),
        })
        .map(|pointer| pointer.trim_start_matches('/').replace('/', "."))
        .collect()
}

/// True if `actual` has everything `desired` has; ARM may add defaults we do not own.
fn covers(desired: &Value, actual: &Value) -> bool {
    match (desired, actual) {
        (Value::Object(want), Value::Object(have)) => {
            want.iter().all(|(k, v)| have.get(k).is_some_and(|h| covers(v, h)))
        }
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| covers(w, h))
        }
        (Value::String(want), Value::String(have)) => want == have,
        (Value::Number(want), Value::Number(have)) => want.as_f64() == have.as_f64(),
        _ => desired == actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_looks_only_at_owned_fields_and_tolerates_defaults() {
        let desired = json!({"sku": {"name": "S0"}, "properties": {"url": "https://a/openai", "x": 1}});
        let current =
            json!({"sku": {"name": "S0", "tier": "Standard"}, "properties": {"url": "https://a/openai", "x": 2}});
        assert!(diff(&desired, &current, &["/sku", "/properties/url"]).is_empty());
        assert_eq!(diff(&desired, &current, &["/properties/x"]), vec!["properties.x"]);
        let moved = json!({"sku": {"name": "S0"}, "properties": {"url": "https://b/openai"}});
        assert_eq!(diff(&desired, &moved, &["/sku/name", "/properties/url"]), vec!["properties.url"]);
        let arrays = json!({"a": [{"id": 1}, {"id": 2}]});
        assert!(!covers(&arrays, &json!({"a": [{"id": 1}]})));
        assert!(covers(&arrays, &json!({"a": [{"id": 1, "w": 0}, {"id": 2}]})));
    }
}
