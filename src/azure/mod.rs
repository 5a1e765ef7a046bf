//! The Azure stack `deploy` converges: resource definitions with their ARM ids and desired
//! bodies (from `oai-lb.toml`), the plan (read first, diff only the fields we own) and the
//! converge that applies it in dependency order. It knows the resources and nothing of HTTP:
//! it talks through [`ArmClient`]'s typed methods.

mod converge;
mod openapi;
mod plan;
mod policy;
mod stack;

pub use converge::{Event, Outcome, converge};
pub use plan::{Action, Change, Plan, plan};
pub use policy::policy_xml;
pub use stack::{GatewayBackend, Kind, Outputs, Resource, Stack};

use crate::arm::ArmError;

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
];

/// The api-version for a resource type of [`API_VERSIONS`].
pub fn api_version(resource_type: &str) -> &'static str {
    API_VERSIONS
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(resource_type))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{resource_type} is missing from API_VERSIONS"))
}

/// Why the stack could not be planned or converged.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// An ARM call for one resource failed.
    #[error("{resource}: {source}")]
    Arm {
        resource: String,
        #[source]
        source: ArmError,
    },
    /// The config lacks something the stack needs.
    #[error("{problem} (fix: {fix})")]
    Config { problem: String, fix: String },
}

impl AzureError {
    pub(crate) fn arm(resource: &str) -> impl FnOnce(ArmError) -> AzureError + '_ {
        move |source| AzureError::Arm { resource: resource.to_string(), source }
    }
}
