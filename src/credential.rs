//! Entra ID credentials from `azure_identity`, chosen with `--credential`.
//!
//! `auto` tries, in order: a service principal from the environment, workload identity,
//! Azure Pipelines, managed identity, the Azure CLI, the Azure Developer CLI. The first
//! source that answers is remembered and named in the log; tokens are never logged.

use std::fmt;
use std::sync::{Arc, OnceLock};

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_identity::{
    AzureCliCredential, AzureDeveloperCliCredential, AzurePipelinesCredential, ClientSecretCredential,
    ManagedIdentityCredential, WorkloadIdentityCredential,
};

/// Where tokens come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// Try every source below in order.
    #[default]
    Auto,
    /// Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET.
    ClientSecret,
    /// Workload identity federation: AZURE_FEDERATED_TOKEN_FILE (Kubernetes, GitHub OIDC).
    WorkloadIdentity,
    /// Azure Pipelines service connection (AZURESUBSCRIPTION_* and SYSTEM_ACCESSTOKEN).
    Pipelines,
    /// Managed identity of the VM, container or App Service (AZURE_CLIENT_ID selects a
    /// user-assigned one).
    ManagedIdentity,
    /// `az login`.
    Cli,
    /// `azd auth login`.
    Azd,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Auto => "auto",
            CredentialKind::ClientSecret => "client-secret",
            CredentialKind::WorkloadIdentity => "workload-identity",
            CredentialKind::Pipelines => "pipelines",
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::Cli => "cli",
            CredentialKind::Azd => "azd",
        }
    }
}

/// The `auto` order.
const AUTO_ORDER: [CredentialKind; 6] = [
    CredentialKind::ClientSecret,
    CredentialKind::WorkloadIdentity,
    CredentialKind::Pipelines,
    CredentialKind::ManagedIdentity,
    CredentialKind::Cli,
    CredentialKind::Azd,
];

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential {kind} is not configured: {why}")]
    NotConfigured { kind: &'static str, why: String },
    #[error(
        "no credential answered (tried {tried}); run `az login`, or set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or pass --credential"
    )]
    NoneAnswered { tried: String },
    #[error("credential {kind} failed: {message}")]
    Failed { kind: &'static str, message: String },
}

/// A token source: one credential, or the `auto` chain.
#[derive(Clone)]
pub struct Credential {
    sources: Arc<[(CredentialKind, Arc<dyn TokenCredential>)]>,
    /// The source that answered first in `auto` mode; later calls go straight to it.
    answered: Arc<OnceLock<usize>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<_> = self.sources.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Credential").field("sources", &kinds).finish()
    }
}

impl Credential {
    /// Builds the credential; `auto` keeps every source that is configured here.
    pub fn new(kind: CredentialKind) -> Result<Credential, CredentialError> {
        let sources: Vec<_> = match kind {
            CredentialKind::Auto => AUTO_ORDER.iter().filter_map(|&k| build(k).ok().map(|c| (k, c))).collect(),
            k => vec![(k, build(k)?)],
        };
        if sources.is_empty() {
            return Err(CredentialError::NoneAnswered { tried: "nothing configured".into() });
        }
        Ok(Credential { sources: sources.into(), answered: Arc::new(OnceLock::new()) })
    }

    /// Wraps an existing credential (used by tests and by callers with their own source).
    pub fn from_token_credential(kind: CredentialKind, credential: Arc<dyn TokenCredential>) -> Credential {
        Credential { sources: vec![(kind, credential)].into(), answered: Arc::new(OnceLock::new()) }
    }

    /// A token for `scope`, e.g. `https://management.azure.com/.default`.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, CredentialError> {
        if let Some(&i) = self.answered.get() {
            let (kind, source) = &self.sources[i];
            return source
                .get_token(&[scope], None::<TokenRequestOptions<'_>>)
                .await
                .map_err(|e| CredentialError::Failed { kind: kind.as_str(), message: one_line(&e) });
        }
        let mut tried = Vec::new();
        for (i, (kind, source)) in self.sources.iter().enumerate() {
            match source.get_token(&[scope], None).await {
                Ok(token) => {
                    let _ = self.answered.set(i);
                    tracing::info!(credential = kind.as_str(), "Entra ID token obtained");
                    return Ok(token);
                }
                Err(e) => {
                    tracing::debug!(credential = kind.as_str(), error = %one_line(&e), "credential did not answer");
                    if self.sources.len() == 1 {
                        return Err(CredentialError::Failed { kind: kind.as_str(), message: one_line(&e) });
                    }
                    tried.push(kind.as_str());
                }
            }
        }
        Err(CredentialError::NoneAnswered { tried: tried.join(", ") })
    }
}

fn one_line(e: &impl fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn not_configured(kind: CredentialKind, why: impl Into<String>) -> CredentialError {
    CredentialError::NotConfigured { kind: kind.as_str(), why: why.into() }
}

fn build(kind: CredentialKind) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let failed = |e: azure_core::Error| not_configured(kind, one_line(&e));
    Ok(match kind {
        CredentialKind::Auto => unreachable!("auto is expanded by Credential::new"),
        CredentialKind::ClientSecret => {
            let (Some(tenant), Some(client), Some(secret)) =
                (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET"))
            else {
                return Err(not_configured(kind, "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"));
            };
            ClientSecretCredential::new(&tenant, client, Secret::new(secret), None).map_err(failed)?
        }
        CredentialKind::WorkloadIdentity => {
            if env("AZURE_FEDERATED_TOKEN_FILE").is_none() {
                return Err(not_configured(kind, "AZURE_FEDERATED_TOKEN_FILE is not set"));
            }
            WorkloadIdentityCredential::new(None).map_err(failed)?
        }
        CredentialKind::Pipelines => {
            let (Some(tenant), Some(client), Some(connection), Some(token)) = (
                env("AZURESUBSCRIPTION_TENANT_ID"),
                env("AZURESUBSCRIPTION_CLIENT_ID"),
                env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"),
                env("SYSTEM_ACCESSTOKEN"),
            ) else {
                return Err(not_configured(
                    kind,
                    "set AZURESUBSCRIPTION_TENANT_ID, AZURESUBSCRIPTION_CLIENT_ID, AZURESUBSCRIPTION_SERVICE_CONNECTION_ID and SYSTEM_ACCESSTOKEN",
                ));
            };
            AzurePipelinesCredential::new(tenant, client, &connection, token, None).map_err(failed)?
        }
        CredentialKind::ManagedIdentity => ManagedIdentityCredential::new(None).map_err(failed)?,
        CredentialKind::Cli => AzureCliCredential::new(None).map_err(failed)?,
        CredentialKind::Azd => AzureDeveloperCliCredential::new(None).map_err(failed)?,
    })
}
