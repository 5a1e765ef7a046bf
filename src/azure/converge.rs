//! Applies a plan: each resource after the ones it depends on, independent ones at the
//! same time. On a failure nothing new starts, running writes finish, and the first error
//! is returned; a re-run plans from what exists and so resumes.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use super::container_apps::{self, read_keys};
use super::{Action, AzureError, Kind, Outputs, Plan, Resource};
use crate::arm::ArmClient;

/// What converge reports while it runs (the CLI turns these into progress bars).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A write started.
    Started { label: &'a str },
    /// A long-running write reported its state (`InProgress`, `Creating`, …).
    State { label: &'a str, state: &'a str },
    /// A write succeeded (its `Done` follows).
    Written { label: &'a str },
    /// A write finished, written or failed.
    Done { label: &'a str },
}

/// Who hears the [`Event`]s of an operation (the CLI's progress bars).
pub type Observer<'a> = &'a (dyn Fn(Event<'_>) + Send + Sync);

/// The result of a converge.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Resources written.
    pub writes: usize,
    pub outputs: Outputs,
}

/// One write. A create PUTs the whole body (after purging a soft-deleted namesake when
/// asked); a restore PUTs `properties.restore: true`; an update of a resource others may
/// configure too (identity, OpenAI account, APIM service: custom domains, VNet,
/// `networkAcls`, tags) PATCHes only the fields we own, so theirs survive.
async fn write(
    client: &ArmClient,
    resource: &Resource,
    action: &Action,
    soft_deleted: bool,
    report: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, AzureError> {
    let (id, api) = (resource.id(), resource.kind.api_version());
    let err = || AzureError::arm(&resource.label);
    match action {
        Action::Restore => {
            let mut body = resource.body().clone();
            body["properties"]["restore"] = json!(true);
            client.put_json(id, api, &body, Some(report)).await.map_err(err())
        }
        Action::Update { .. } if matches!(resource.kind, Kind::Identity | Kind::Account | Kind::Apim) => {
            let mut body = resource.body().clone();
            if resource.kind == Kind::Apim
                && let Some(fields) = body.as_object_mut()
            {
                fields.remove("location"); // not part of APIM's update parameters
            }
            client.patch_json(id, api, &body, Some(report)).await.map_err(err())
        }
        _ => {
            if soft_deleted && let Some(deleted) = resource.deleted_id() {
                report("Purging");
                client.delete(deleted, api, Some(report)).await.map_err(err())?;
            }
            let written = client.put_json(id, api, resource.body(), Some(report)).await.map_err(err())?;
            if let Action::Update { fields } = action
                && container_apps::needs_restart(resource.kind, fields)
            {
                report("Restarting");
                container_apps::restart_revision(client, resource, &written).await?;
            }
            Ok(written)
        }
    }
}

/// Applies `plan` through `client`, reporting to `observer`.
pub async fn converge(client: &ArmClient, plan: Plan, observer: Observer<'_>) -> Result<Outcome, AzureError> {
    let Plan { mut changes, mut outputs } = plan;
    let n = changes.len();
    let mut done = vec![false; n];
    let mut started = vec![false; n];
    let mut writes = 0;
    let mut failure: Option<AzureError> = None;
    let mut running = FuturesUnordered::new();
    loop {
        if failure.is_none() {
            // Start everything whose dependencies are done; unchanged ones finish at once.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for i in 0..n {
                    if started[i] || !changes[i].resource.depends_on.iter().all(|&d| done[d]) {
                        continue;
                    }
                    started[i] = true;
                    if changes[i].action == Action::Unchanged {
                        if let Some(current) = &changes[i].current {
                            outputs.learn(changes[i].resource.kind, current);
                        }
                        done[i] = true;
                        progressed = true;
                        continue;
                    }
                    let mut resource = changes[i].resource.clone();
                    resource.resolve(&outputs);
                    changes[i].resource = resource.clone();
                    let (action, soft_deleted) = (changes[i].action.clone(), changes[i].soft_deleted);
                    running.push(async move {
                        observer(Event::Started { label: &resource.label });
                        let report = |state: &str| observer(Event::State { label: &resource.label, state });
                        let result = if resource.resolved() {
                            match write(client, &resource, &action, soft_deleted, &report).await {
                                Ok(value) => read_keys(client, &resource, &value).await.map(|keys| (value, keys)),
                                Err(e) => Err(e),
                            }
                        } else {
                            Err(AzureError::Config {
                                problem: format!("{} needs {}", resource.label, resource.waits_for()),
                                fix: "run deploy again".into(),
                            })
                        };
                        if result.is_ok() {
                            observer(Event::Written { label: &resource.label });
                        }
                        observer(Event::Done { label: &resource.label });
                        (i, result)
                    });
                }
            }
        }
        let Some((i, result)) = running.next().await else { break };
        match result {
            Ok((value, keys)) => {
                let value: Value = value;
                outputs.learn(changes[i].resource.kind, &value);
                if let Some(keys) = keys {
                    outputs.learn_keys(keys);
                }
                done[i] = true;
                writes += 1;
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Outcome { writes, outputs }),
    }
}
