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

/// `[balancer.azure]`: the Container Apps environment the balancer runs in.
pub fn container_apps_environment(apim_name: &str) -> String {
    format!("{}-env", apim_name.to_ascii_lowercase())
}

/// `[balancer.azure]`: the container app running `oai-lb serve` (unless the section names it).
pub fn container_app(apim_name: &str) -> String {
    format!("{}-lb", apim_name.to_ascii_lowercase())
}

/// `[balancer.azure]`: the Azure Cache for Redis the replicas share cooldowns through.
pub fn redis_cache(apim_name: &str) -> String {
    format!("{}-redis", apim_name.to_ascii_lowercase())
}

/// A cache's host name (what ARM reports as `properties.hostName`).
pub fn redis_host(cache: &str) -> String {
    format!("{cache}.redis.cache.windows.net")
}

/// Azure Cache for Redis' TLS port (the non-TLS port 6379 is off).
pub const REDIS_TLS_PORT: u16 = 6380;

/// The tag holding the SHA-256 of a resource's write-only secrets (Container App secrets,
/// the environment's workspace key): ARM never returns them, so `deploy` compares this.
pub const SECRETS_HASH_TAG: &str = "oai-lb-secrets";

/// Container App secrets (lower-case names, as Container Apps requires): the config file,
/// mounted as a secret volume, the client keys and the Redis access key.
pub const CONFIG_SECRET: &str = "oai-lb-config";
pub const CLIENT_KEYS_SECRET: &str = "client-keys";
pub const REDIS_PASSWORD_SECRET: &str = "redis-password";

/// The Container App secret holding an `api-key` backend's key.
pub fn backend_key_secret(backend: &str) -> String {
    let name: String =
        backend.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("key-{name}")
}

/// Where the config file is mounted in the container, and its name there.
pub const CONFIG_MOUNT_DIR: &str = "/etc/oai-lb";
pub const CONFIG_FILE_NAME: &str = "oai-lb.toml";
/// The variable the container's `[balancer.shared_state] password_env` names.
pub const REDIS_PASSWORD_ENV: &str = "OAI_LB_REDIS_PASSWORD";

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
