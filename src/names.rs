//! Every Azure name oai-lb gives a resource, defined once: the stack `deploy` converges,
//! the rendered policy and the commands read them from here. The Bicep in `bicep/` spells
//! the same names (`tests/bicep.rs` evaluates `bicep/main.bicep` and compares its names
//! with the CLI's stack ids), and both name role assignments with [`arm_guid`].

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

/// What every named value oai-lb writes starts with; `named-values set` refuses these names.
pub const MANAGED_NAMED_VALUE_PREFIX: &str = "oai-lb-";

/// The secret named value holding an `api-key` backend's key; the APIM backend resource
/// sends it as the `api-key` header (`credentials.header`).
pub fn backend_key_named_value(backend: &str) -> String {
    format!("oai-lb-key-{backend}")
}

/// The user-assigned identity APIM runs as.
pub fn identity(apim_name: &str) -> String {
    format!("{apim_name}-identity")
}

/// The tag `deploy` puts on every resource it creates whose type has tags: `destroy`
/// deletes a resource group only when it carries it (oai-lb created the group).
pub const MANAGED_BY_TAG: (&str, &str) = ("managed-by", "oai-lb");

/// The namespace of ARM's and Bicep's `guid()` function.
const ARM_GUID_NAMESPACE: uuid::Uuid = uuid::uuid!("11fb06fb-712d-4ddd-98c7-e71bbd588830");

/// ARM's and Bicep's `guid(a, b, …)`: the name-based (version 5, SHA-1) UUID of the
/// arguments joined with `-`, in a fixed namespace. Bicep's own baseline evaluates
/// `guid('asdf')` to `228d27cc-6fdb-5934-b7ac-1efccebade04`.
pub fn arm_guid(args: &[&str]) -> String {
    uuid::Uuid::new_v5(&ARM_GUID_NAMESPACE, args.join("-").as_bytes()).to_string()
}

/// The name of the role assignment of `role` (a role definition GUID) for `principal` on
/// `scope` (an ARM id), as `bicep/modules/roles.bicep` computes it: `guid(scope,
/// principal, role)`. One name for both, so switching between `oai-lb deploy` and
/// `az deployment` never meets `RoleAssignmentExists`.
pub fn role_assignment(scope: &str, principal: &str, role: &str) -> String {
    arm_guid(&[scope, principal, role])
}

/// The endpoint of an `[[openai]]` account `deploy` creates (its custom subdomain), until
/// ARM reports the account's own `properties.endpoint`, which then wins.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_guid_is_the_one_bicep_computes() {
        // src/Bicep.Core.Samples/Files/baselines_bicepparam/Expressions/parameters.json in
        // Azure/bicep: `guid('asdf')`.
        assert_eq!(arm_guid(&["asdf"]), "228d27cc-6fdb-5934-b7ac-1efccebade04");
        assert_eq!(arm_guid(&["a", "b"]), arm_guid(&["a-b"]));
        assert_ne!(arm_guid(&["a", "b"]), arm_guid(&["ab"]));
    }
}
