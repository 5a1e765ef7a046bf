//! The Azure operations layer: the stack `deploy` converges (resource definitions with
//! their ARM ids and desired bodies, from `oai-lb.toml`), the plan (read first, diff only
//! the fields we own), the converge that applies it in dependency order, and every other
//! operation a command runs on Azure: [`named_values`], [`policy`], [`backends`],
//! [`destroy`], [`status()`] and the [`subscription_key`]. Operations take typed inputs
//! and return typed results; `src/cli` renders them. This module knows the resources and
//! nothing of HTTP (it talks through [`ArmClient`]'s typed methods) and nothing of clap.

pub mod backends;
pub mod container_apps;
mod converge;
pub mod destroy;
pub mod monitoring;
pub mod named_values;
mod openapi;
mod plan;
pub mod policy;
mod stack;
mod status;

pub use converge::{Event, Observer, Outcome, converge};
pub use plan::{Action, Change, Plan, plan};
pub use stack::{BackendKeys, ContainerAppTarget, Kind, MonitoringTarget, Outputs, Resource, Stack};
pub use status::{BackendState, ContainerAppStatus, MonitoringStatus, Status, container_app_url, status};

pub use crate::arm::{ArmClient, Tuning};
use crate::arm::{ArmError, ArmSettings};
use crate::credential::{Credential, CredentialKind};

/// Connects to ARM at `endpoint` (the public cloud when `None`) with tokens from
/// `credential`.
pub fn connect(endpoint: Option<&str>, credential: CredentialKind, tuning: Tuning) -> Result<ArmClient, AzureError> {
    let settings = ArmSettings::new(endpoint, tuning).map_err(AzureError::Connect)?;
    let credential = Credential::new(credential).map_err(|e| AzureError::Connect(e.into()))?;
    ArmClient::new(settings, credential).map_err(AzureError::Connect)
}

/// The key clients send in the `api-key` header (the subscription's primary key).
pub async fn subscription_key(client: &ArmClient, stack: &Stack) -> Result<String, AzureError> {
    let what = "cannot read the subscription key";
    let path = format!("{}/listSecrets", stack.subscription_id());
    let secrets =
        client.post_json(&path, Kind::Subscription.api_version(), None).await.map_err(AzureError::arm(what))?;
    secrets.get("primaryKey").and_then(serde_json::Value::as_str).map(str::to_string).ok_or_else(|| {
        AzureError::Unexpected { what: what.into(), problem: "listSecrets returned no primaryKey".into() }
    })
}

/// Every resource type the CLI touches, with the api-version it sends (from
/// `tests/armspecs`, the official specs).
pub const API_VERSIONS: &[(&str, &str)] = &[
    ("Microsoft.Resources/resourceGroups", "2025-04-01"),
    ("Microsoft.ManagedIdentity/userAssignedIdentities", "2023-01-31"),
    ("Microsoft.CognitiveServices/accounts", "2024-10-01"),
    ("Microsoft.CognitiveServices/accounts/deployments", "2024-10-01"),
    ("Microsoft.Authorization/roleAssignments", "2022-04-01"),
    ("Microsoft.ApiManagement/service", "2024-05-01"),
    ("Microsoft.ApiManagement/service/namedValues", "2024-05-01"),
    ("Microsoft.ApiManagement/service/backends", "2024-05-01"),
    ("Microsoft.ApiManagement/service/apis", "2024-05-01"),
    ("Microsoft.ApiManagement/service/apis/policies", "2024-05-01"),
    ("Microsoft.ApiManagement/service/subscriptions", "2024-05-01"),
    ("Microsoft.ApiManagement/service/loggers", "2024-05-01"),
    ("Microsoft.ApiManagement/service/apis/diagnostics", "2024-05-01"),
    ("Microsoft.OperationalInsights/workspaces", "2025-07-01"),
    ("Microsoft.Insights/components", "2020-02-02"),
    ("Microsoft.App/managedEnvironments", "2025-07-01"),
    ("Microsoft.App/containerApps", "2025-07-01"),
    ("Microsoft.Cache/redis", "2024-11-01"),
];

/// The api-version for a resource type of [`API_VERSIONS`].
pub fn api_version(resource_type: &str) -> &'static str {
    API_VERSIONS
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(resource_type))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{resource_type} is missing from API_VERSIONS"))
}

/// Why an operation failed. The ARM cause stays the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// An ARM call for one resource (or one step) failed.
    #[error("{resource}")]
    Arm {
        resource: String,
        #[source]
        source: ArmError,
    },
    /// No client: a bad endpoint or no credential.
    #[error(transparent)]
    Connect(ArmError),
    /// The config or the input lacks something the operation needs (a usage error).
    #[error("{problem} (fix: {fix})")]
    Config { problem: String, fix: String },
    /// ARM answered, but not with what the operation needs.
    #[error("{what}: {problem}")]
    Unexpected { what: String, problem: String },
    /// The deployed policy cannot be compared with the rendered one.
    #[error("cannot compare with the deployed policy")]
    Compare(#[source] crate::policy::PolicyError),
}

impl AzureError {
    pub(crate) fn arm(resource: &str) -> impl FnOnce(ArmError) -> AzureError + '_ {
        move |source| AzureError::Arm { resource: resource.to_string(), source }
    }

    pub(crate) fn config(problem: impl Into<String>, fix: impl Into<String>) -> AzureError {
        AzureError::Config { problem: problem.into(), fix: fix.into() }
    }

    /// True when the input or the config is wrong (exit 2), not Azure.
    pub fn is_usage(&self) -> bool {
        matches!(self, AzureError::Config { .. } | AzureError::Connect(ArmError::Endpoint { .. }))
    }
}
