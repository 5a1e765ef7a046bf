//! Every Azure name oai-lb gives a resource, defined once: the stack `deploy` converges,
//! the rendered policy and the commands read them from here. The Bicep in `bicep/` spells
//! the pool and named-value names too (`tests/bicep.rs` checks the pool's).

/// The APIM API id (resource name) of the OpenAI API.
pub const API_ID: &str = "openai";
/// The APIM subscription whose key clients send in the `api-key` header.
pub const SUBSCRIPTION_ID: &str = "oai-lb";
/// The APIM backend of type `Pool` the pool strategy sends to.
pub const POOL_BACKEND_ID: &str = "oai-lb-pool";
/// The named value holding the JSON backend list the smart policy reads.
pub const BACKENDS_NAMED_VALUE: &str = "oai-lb-backends";
/// The named value holding the client id of the identity APIM calls Entra backends with.
pub const IDENTITY_CLIENT_ID_NAMED_VALUE: &str = "oai-lb-identity-client-id";
/// The Entra tenant whose tokens clients present (with `[apim.client_auth]`).
pub const TENANT_ID_NAMED_VALUE: &str = "oai-lb-tenant-id";
/// The audience client tokens must carry.
pub const CLIENT_AUDIENCE_NAMED_VALUE: &str = "oai-lb-client-audience";
/// The one client application allowed to call.
pub const CLIENT_APP_ID_NAMED_VALUE: &str = "oai-lb-client-app-id";

/// The secret named value holding an `api-key` backend's key; the APIM backend resource
/// sends it as the `api-key` header (`credentials.header`).
pub fn backend_key_named_value(backend: &str) -> String {
    format!("oai-lb-key-{backend}")
}

/// The user-assigned identity APIM runs as.
pub fn identity(apim_name: &str) -> String {
    format!("{apim_name}-identity")
}

/// The endpoint of an `[[openai]]` account `deploy` creates (its custom subdomain).
pub fn account_endpoint(account: &str) -> String {
    format!("https://{account}.openai.azure.com")
}

/// The Log Analytics workspace `[monitoring]` creates (when it names none).
pub fn log_analytics_workspace(apim_name: &str) -> String {
    format!("{apim_name}-logs")
}

/// The workspace-based Application Insights component `[monitoring]` creates (when it names
/// none).
pub fn app_insights(apim_name: &str) -> String {
    format!("{apim_name}-insights")
}

/// The APIM logger (type `applicationInsights`) that sends to the component.
pub const APP_INSIGHTS_LOGGER_ID: &str = "oai-lb-appinsights";
/// The secret named value holding the component's connection string, which the logger's
/// credentials name (`{{…}}`) instead of holding it.
pub const APP_INSIGHTS_CONNECTION_STRING_NAMED_VALUE: &str = "oai-lb-appinsights-connection-string";
/// The OpenAI API's diagnostic: APIM names an Application Insights diagnostic this way.
pub const API_DIAGNOSTIC_ID: &str = "applicationinsights";
/// The custom-metric namespace of the policy's token metrics.
pub const TOKEN_METRIC_NAMESPACE: &str = "oai-lb";
/// The token metrics' dimension naming the model deployment.
pub const DEPLOYMENT_DIMENSION: &str = "Deployment";
