//! APIM policy XML, rendered from the config: the smart policy (our algorithm in policy
//! expressions) or the native backend pool behind a retry.
//!
//! Architecture invariant: pure. No I/O, no clock, no randomness; the same config renders
//! byte-identical XML. A deployed document is compared with a rendered one only through
//! [`equivalent`] / [`normalize`] (APIM gives policies back in its own serialization).
//!
//! The document is well-formed XML with its C# expressions escaped, so it is pushed with
//! `format: "xml"` ([`POLICY_FORMAT`]); `rawxml` would expect the expressions unescaped.

mod diff;
mod named_values;
mod pool;
mod smart;
mod xml;

use serde::Serialize;

use crate::config::{AllThrottled, ApimSection, BackendAuth, ClientAuth, Config, Strategy};

pub use diff::{diff, equivalent, normalize};
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
/// A request header asking the gateway to name the backend that answered
/// (`x-openai-backend-id`); `oai-lb probe` sends it. Other callers are not told, unless
/// `[apim] show_backend_to_all = true`.
pub const SHOW_BACKEND_HEADER: &str = "x-oai-lb-show-backend";

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
    /// APIM's backend resource (api-version 2024-05-01) has no managed-identity credential,
    /// so a pool cannot give APIM's token to its Entra members only.
    #[error(
        "strategy \"pool\" cannot mix Entra backends ({entra}) with api-key or pass-through ones ({other}): APIM's token would reach them all"
    )]
    PoolMixedAuth { entra: String, other: String },
}

impl PolicyError {
    /// How to fix it, for the one-line error.
    pub fn fix(&self) -> &'static str {
        match self {
            PolicyError::NoBackends => "add a [[backends]] or [[openai]] table",
            PolicyError::BackendListTooLong { .. } => "use strategy = \"pool\" under [apim]",
            PolicyError::Malformed(_) => "report this as a bug: the renderer wrote invalid XML",
            PolicyError::PoolMixedAuth { .. } => {
                "use strategy = \"policy\" under [apim], or give every backend auth = \"entra\""
            }
        }
    }
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
        Strategy::Pool => {
            pool_auth(&backends)?;
            pool::document(&options, backends.len())
        }
    };
    Ok(document.render())
}

/// A config key the chosen strategy cannot work with, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub key: &'static str,
    pub problem: String,
    pub fix: String,
}

/// What the strategy needs from the APIM SKU and the backends. The smart policy keeps its
/// cooldowns in APIM's built-in cache, which the Consumption tier lacks; the pool relies on
/// circuit breakers, which Consumption lacks too, and on one set of headers for every member.
pub fn requirements(config: &Config, apim: &ApimSection) -> Result<(), Unmet> {
    if apim.sku == "Consumption" {
        let needs = match apim.strategy {
            Strategy::Policy => "the smart policy keeps its cooldowns in APIM's built-in cache",
            Strategy::Pool => "the pool strategy relies on backend circuit breakers",
        };
        return Err(Unmet {
            key: "apim.sku",
            problem: format!("{needs}, which the Consumption tier does not have"),
            fix: "use sku = \"Developer\", \"Basic\", \"Standard\", \"Premium\", \"BasicV2\" or \"StandardV2\"".into(),
        });
    }
    if apim.strategy == Strategy::Pool
        && let Err(e) = pool_auth(&backends(config))
    {
        return Err(Unmet { key: "apim.strategy", problem: e.to_string(), fix: e.fix().into() });
    }
    Ok(())
}

/// A pool shares one set of headers among its members: Entra and other backends cannot mix.
pub fn pool_auth(backends: &[ListedBackend]) -> Result<(), PolicyError> {
    let names = |entra: bool| {
        backends.iter().filter(|b| (b.auth == BackendAuth::Entra) == entra).map(|b| b.id.as_str()).collect::<Vec<_>>()
    };
    let (entra, other) = (names(true), names(false));
    if entra.is_empty() || other.is_empty() {
        return Ok(());
    }
    Err(PolicyError::PoolMixedAuth { entra: entra.join(", "), other: other.join(", ") })
}

/// What shapes the document besides the strategy, resolved once from the config.
#[derive(Debug, Clone)]
struct Options {
    all_throttled: AllThrottled,
    default_cooldown_ms: u64,
    /// No cooldown, from any header, lasts longer (`max_cooldown_secs`, as in `src/lb`).
    max_cooldown_ms: u64,
    /// Seconds to wait for a backend's response head.
    timeout_secs: u64,
    /// Some backend is called with APIM's managed identity.
    entra_backends: bool,
    /// Some backend takes the client's own credentials (`auth = "none"`).
    pass_through_backends: bool,
    /// Every response names its backend, not only to callers that ask.
    show_backend_to_all: bool,
    client_auth: Option<ClientAuth>,
    tenant_id: Option<String>,
    /// `[monitoring]`: emit token metrics per backend and deployment.
    token_metrics: bool,
}

impl Options {
    fn of(config: &Config) -> Self {
        let b = &config.balancer;
        Options {
            all_throttled: b.all_throttled,
            default_cooldown_ms: (b.default_cooldown_secs * 1000.0).ceil() as u64,
            max_cooldown_ms: (b.max_cooldown_secs * 1000.0).ceil() as u64,
            timeout_secs: b.response_timeout_secs.ceil() as u64,
            entra_backends: backends(config).iter().any(|b| b.auth == BackendAuth::Entra),
            pass_through_backends: backends(config).iter().any(|b| b.auth == BackendAuth::None),
            show_backend_to_all: config.apim.as_ref().is_some_and(|a| a.show_backend_to_all),
            client_auth: config.apim.as_ref().and_then(|a| a.client_auth.clone()),
            tenant_id: config.azure.as_ref().and_then(|a| a.tenant_id.clone()),
            token_metrics: config.monitoring.is_some(),
        }
    }

    /// Entra client validation needs both the `[apim.client_auth]` table and the tenant.
    fn validates_clients(&self) -> bool {
        self.client_auth.is_some() && self.tenant_id.is_some()
    }

    /// The client's `Authorization` is its credential for pass-through backends; with client
    /// validation it is a token for the gateway and reaches no backend.
    fn passes_client_authorization(&self) -> bool {
        self.pass_through_backends && !self.validates_clients()
    }
}

/// Elements both strategies share.
mod common {
    use super::xml::Element;
    use super::{
        CLIENT_APP_ID_NAMED_VALUE, CLIENT_AUDIENCE_NAMED_VALUE, COGNITIVE_SERVICES_RESOURCE,
        IDENTITY_CLIENT_ID_NAMED_VALUE, Options, SHOW_BACKEND_HEADER, TENANT_ID_NAMED_VALUE,
    };
    use crate::names::{DEPLOYMENT_DIMENSION, TOKEN_METRIC_NAMESPACE};

    /// The variable holding the managed identity's token for Azure OpenAI.
    pub const TOKEN_VARIABLE: &str = "oaiLbToken";
    /// The validated client token.
    pub const CLIENT_TOKEN_VARIABLE: &str = "oaiLbClientToken";
    /// The client's own `Authorization` header, kept for pass-through backends.
    pub const CLIENT_AUTHORIZATION_VARIABLE: &str = "oaiLbClientAuthorization";

    /// Entra client tokens: `validate-jwt` (signature, lifetime, issuer, audience), then the
    /// calling application, which v2 tokens name in `azp` and v1 tokens in `appid` (one
    /// required claim cannot accept either, so an expression checks it).
    pub fn validate_client() -> Vec<Element> {
        let tenant = format!("{{{{{TENANT_ID_NAMED_VALUE}}}}}");
        let unauthorized = "Unauthorized: a valid Entra token is required";
        let jwt = Element::new("validate-jwt")
            .attr("header-name", "Authorization")
            .attr("failed-validation-httpcode", "401")
            .attr("failed-validation-error-message", unauthorized)
            .attr("require-expiration-time", "true")
            .attr("require-scheme", "Bearer")
            .attr("require-signed-tokens", "true")
            .attr("output-token-variable-name", CLIENT_TOKEN_VARIABLE)
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
            );
        let other_app = format!(
            r#"@{{
    var claims = ((Jwt)context.Variables["{CLIENT_TOKEN_VARIABLE}"]).Claims;
    var app = claims.GetValueOrDefault("azp", "");
    if (app.Length == 0)
    {{
        app = claims.GetValueOrDefault("appid", "");
    }}
    return app != "{{{{{CLIENT_APP_ID_NAMED_VALUE}}}}}";
}}"#
        );
        let refuse =
            Element::new("return-response")
                .child(Element::new("set-status").attr("code", "401").attr("reason", "Unauthorized"))
                .child(
                    Element::new("set-header")
                        .attr("name", "Content-Type")
                        .attr("exists-action", "override")
                        .child(Element::new("value").text("application/json")),
                )
                .child(Element::new("set-body").text(
                    r#"{"statusCode": 401, "message": "Unauthorized: this application may not call the gateway"}"#,
                ));
        let app_check = Element::new("choose").child(Element::new("when").attr("condition", other_app).child(refuse));
        vec![jwt, app_check]
    }

    /// Keeps the client's `Authorization` for pass-through backends (nothing when none is).
    pub fn keep_client_authorization(options: &Options) -> Vec<Element> {
        if !options.passes_client_authorization() {
            return Vec::new();
        }
        vec![
            Element::new("set-variable")
                .attr("name", CLIENT_AUTHORIZATION_VARIABLE)
                .attr("value", r#"@(context.Request.Headers.GetValueOrDefault("Authorization", ""))"#),
        ]
    }

    /// Puts the client's own `Authorization` back (a previous attempt may have replaced it
    /// with APIM's token), or removes it when the client sent none.
    pub fn restore_client_authorization(options: &Options) -> Option<Element> {
        if !options.passes_client_authorization() {
            return None;
        }
        let kept = format!(r#"(string)context.Variables["{CLIENT_AUTHORIZATION_VARIABLE}"]"#);
        Some(
            Element::new("choose")
                .child(
                    Element::new("when").attr("condition", format!("@(({kept}).Length > 0)")).child(
                        Element::new("set-header")
                            .attr("name", "Authorization")
                            .attr("exists-action", "override")
                            .child(Element::new("value").text(format!("@({kept})"))),
                    ),
                )
                .child(Element::new("otherwise").child(drop_authorization())),
        )
    }

    pub fn drop_authorization() -> Element {
        Element::new("set-header").attr("name", "Authorization").attr("exists-action", "delete")
    }

    /// True when the caller asked for the backend's name.
    pub fn asks_for_backend() -> String {
        format!(r#"@(context.Request.Headers.GetValueOrDefault("{SHOW_BACKEND_HEADER}", "").Length > 0)"#)
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

    /// The statuses after which the pool tries another backend (design, rule 4): 401/403
    /// only when no member takes the client's own credentials.
    pub fn pool_retryable(options: &Options) -> String {
        let ours = if options.passes_client_authorization() {
            ""
        } else {
            " || context.Response.StatusCode == 401 || context.Response.StatusCode == 403"
        };
        format!(
            "@(context.Response != null && (context.Response.StatusCode == 429 || context.Response.StatusCode == 408 || context.Response.StatusCode >= 500{ours}))"
        )
    }

    /// Token metrics (Total, Prompt, Completion Tokens) to Application Insights, by API,
    /// backend (APIM fills in the backend that answered) and deployment (`deployment` is its
    /// expression). APIM allows this policy in `<inbound>` only; it counts the response's
    /// `usage` (and estimates streamed ones) once the request is done.
    pub fn emit_token_metric(deployment: &str) -> Element {
        Element::new("azure-openai-emit-token-metric")
            .attr("namespace", TOKEN_METRIC_NAMESPACE)
            .child(Element::new("dimension").attr("name", "API ID"))
            .child(Element::new("dimension").attr("name", "Backend ID"))
            .child(Element::new("dimension").attr("name", DEPLOYMENT_DIMENSION).attr("value", deployment))
    }

    pub fn section(name: &'static str) -> Element {
        Element::new(name).child(Element::new("base"))
    }
}
