//! APIM policy XML, rendered from the config: the smart policy (our algorithm in policy
//! expressions) or the native backend pool behind a retry.
//!
//! Architecture invariant: pure. No I/O, no clock, no randomness; the same config renders
//! byte-identical XML, so `policy diff` can compare documents as text.
//!
//! The document is well-formed XML with its C# expressions escaped, so it is pushed with
//! `format: "xml"` ([`POLICY_FORMAT`]); `rawxml` would expect the expressions unescaped.

mod diff;
mod named_values;
mod pool;
mod smart;
mod xml;

use serde::Serialize;

use crate::config::{AllThrottled, BackendAuth, ClientAuth, Config, Strategy};

pub use diff::diff;
pub use named_values::{
    BACKENDS_NAMED_VALUE, CLIENT_APP_ID_NAMED_VALUE, CLIENT_AUDIENCE_NAMED_VALUE, IDENTITY_CLIENT_ID_NAMED_VALUE,
    MAX_NAMED_VALUE_LEN, NamedValue, NamedValueSource, TENANT_ID_NAMED_VALUE, backend_key_named_value,
    backends_named_value, referenced_named_values, required_named_values,
};

pub use crate::names::POOL_BACKEND_ID;
/// The `format` of the API policy resource for a rendered document.
pub const POLICY_FORMAT: &str = "xml";
/// The resource APIM's managed identity asks tokens for when calling Azure OpenAI.
pub const COGNITIVE_SERVICES_RESOURCE: &str = "https://cognitiveservices.azure.com";

/// Why a policy cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the config has no backends, so the policy would have nowhere to send requests")]
    NoBackends,
    #[error(
        "the backend list is {len} characters as JSON; an APIM named value holds at most {MAX_NAMED_VALUE_LEN} (use shorter backend names or fewer backends)"
    )]
    BackendListTooLong { len: usize },
    #[error("the policy is not well-formed XML: {0}")]
    Malformed(String),
}

/// One entry of the backend list the smart policy reads, in the order of [`Config::gateway_backends`]. `id` is
/// the APIM backend resource name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedBackend {
    pub id: String,
    pub priority: u32,
    pub weight: u32,
    pub auth: BackendAuth,
    /// Deployments it serves; empty means all.
    pub deployments: Vec<String>,
}

/// The backends of a config. Accounts created by `deploy` are called with APIM's managed
/// identity (their role assignment), so their auth is `entra`.
pub fn backends(config: &Config) -> Vec<ListedBackend> {
    config
        .gateway_backends()
        .into_iter()
        .map(|b| ListedBackend {
            id: b.name,
            priority: b.priority,
            weight: b.weight,
            auth: b.auth,
            deployments: b.deployments,
        })
        .collect()
}

/// The strategy `[apim] strategy` names (the smart policy when there is no `[apim]`).
pub fn configured_strategy(config: &Config) -> Strategy {
    config.apim.as_ref().map(|a| a.strategy).unwrap_or_default()
}

/// Renders the API policy document for `strategy`.
pub fn render(config: &Config, strategy: Strategy) -> Result<String, PolicyError> {
    let backends = backends(config);
    if backends.is_empty() {
        return Err(PolicyError::NoBackends);
    }
    let options = Options::of(config);
    let document = match strategy {
        Strategy::Policy => {
            let len = named_values::backends_json(&backends).len();
            if len > MAX_NAMED_VALUE_LEN {
                return Err(PolicyError::BackendListTooLong { len });
            }
            smart::document(&options)
        }
        Strategy::Pool => pool::document(&options, backends.len()),
    };
    Ok(document.render())
}

/// What shapes the document besides the strategy, resolved once from the config.
#[derive(Debug, Clone)]
struct Options {
    all_throttled: AllThrottled,
    default_cooldown_ms: u64,
    /// Seconds to wait for a backend's response head.
    timeout_secs: u64,
    /// Some backend is called with APIM's managed identity.
    entra_backends: bool,
    client_auth: Option<ClientAuth>,
    tenant_id: Option<String>,
}

impl Options {
    fn of(config: &Config) -> Self {
        let b = &config.balancer;
        Options {
            all_throttled: b.all_throttled,
            default_cooldown_ms: (b.default_cooldown_secs * 1000.0).ceil() as u64,
            timeout_secs: b.response_timeout_secs.ceil() as u64,
            entra_backends: backends(config).iter().any(|b| b.auth == BackendAuth::Entra),
            client_auth: config.apim.as_ref().and_then(|a| a.client_auth.clone()),
            tenant_id: config.azure.as_ref().and_then(|a| a.tenant_id.clone()),
        }
    }

    /// Entra client validation needs both the `[apim.client_auth]` table and the tenant.
    fn validates_clients(&self) -> bool {
        self.client_auth.is_some() && self.tenant_id.is_some()
    }
}

/// Elements both strategies share.
mod common {
    use super::xml::Element;
    use super::{
        CLIENT_APP_ID_NAMED_VALUE, CLIENT_AUDIENCE_NAMED_VALUE, COGNITIVE_SERVICES_RESOURCE,
        IDENTITY_CLIENT_ID_NAMED_VALUE, TENANT_ID_NAMED_VALUE,
    };

    /// The variable holding the managed identity's token for Azure OpenAI.
    pub const TOKEN_VARIABLE: &str = "oaiLbToken";

    /// `validate-jwt` for Entra client tokens, as the original sample does it.
    pub fn validate_jwt() -> Element {
        let tenant = format!("{{{{{TENANT_ID_NAMED_VALUE}}}}}");
        Element::new("validate-jwt")
            .attr("header-name", "Authorization")
            .attr("failed-validation-httpcode", "401")
            .attr("failed-validation-error-message", "Unauthorized: a valid Entra token is required")
            .attr("require-expiration-time", "true")
            .attr("require-scheme", "Bearer")
            .attr("require-signed-tokens", "true")
            .child(Element::new("openid-config").attr(
                "url",
                format!("https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"),
            ))
            .child(
                Element::new("audiences")
                    .child(Element::new("audience").text(format!("{{{{{CLIENT_AUDIENCE_NAMED_VALUE}}}}}"))),
            )
            .child(
                Element::new("issuers")
                    .child(Element::new("issuer").text(format!("https://sts.windows.net/{tenant}/")))
                    .child(Element::new("issuer").text(format!("https://login.microsoftonline.com/{tenant}/v2.0"))),
            )
            .child(
                Element::new("required-claims").child(
                    Element::new("claim")
                        .attr("name", "appid")
                        .child(Element::new("value").text(format!("{{{{{CLIENT_APP_ID_NAMED_VALUE}}}}}"))),
                ),
            )
    }

    /// Gets a token for Azure OpenAI with APIM's user-assigned identity.
    pub fn managed_identity_token() -> Element {
        Element::new("authentication-managed-identity")
            .attr("resource", COGNITIVE_SERVICES_RESOURCE)
            .attr("client-id", format!("{{{{{IDENTITY_CLIENT_ID_NAMED_VALUE}}}}}"))
            .attr("output-token-variable-name", TOKEN_VARIABLE)
            .attr("ignore-error", "false")
    }

    /// Sends the managed identity's token to the backend.
    pub fn bearer_header() -> Element {
        Element::new("set-header").attr("name", "Authorization").attr("exists-action", "override").child(
            Element::new("value").text(format!(r#"@("Bearer " + (string)context.Variables["{TOKEN_VARIABLE}"])"#)),
        )
    }

    /// `forward-request` with the body kept for the next attempt and the response streamed
    /// (server-sent events pass through as they arrive).
    pub fn forward_request(timeout_secs: u64) -> Element {
        Element::new("forward-request")
            .attr("timeout", timeout_secs.to_string())
            .attr("buffer-request-body", "true")
            .attr("buffer-response", "false")
    }

    /// The statuses after which another backend is tried (design, rule 4).
    pub const RETRYABLE: &str = "context.Response != null && (context.Response.StatusCode == 429 || context.Response.StatusCode == 401 || context.Response.StatusCode == 408 || context.Response.StatusCode >= 500)";

    pub fn section(name: &'static str) -> Element {
        Element::new(name).child(Element::new("base"))
    }
}
