//! The API policy and the backend list it reads, from `crate::policy` (the renderer shared
//! with `oai-lb policy render` and the Bicep).

use super::AzureError;
use crate::config::Config;
use crate::policy::{self, PolicyError};

/// The rendered API policy for the config's strategy.
pub fn policy_xml(config: &Config) -> Result<String, AzureError> {
    policy::render(config, policy::configured_strategy(config)).map_err(|e| AzureError::Config {
        problem: e.to_string(),
        fix: match e {
            PolicyError::NoBackends => "add a [[backends]] or [[openai]] table".into(),
            PolicyError::BackendListTooLong { .. } => "use strategy = \"pool\" under [apim]".into(),
            PolicyError::Malformed(_) => "report this as a bug".into(),
            PolicyError::PoolMixedAuth { .. } => e.fix().into(),
        },
    })
}
