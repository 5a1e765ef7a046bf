//! The resources `deploy` owns, in dependency order, with the bodies the config asks for.
//! Every name comes from [`crate::names`]; secrets come in as [`BackendKeys`] (this module
//! reads no environment).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::container_apps::{self, AppSpec, Keys, SecretString};
use super::{AzureError, api_version, openapi, policy};
use crate::config::{
    ApimSection, AzureSection, BackendAuth, BalancerAzureSection, Config, GatewayBackend, MonitoringSection, Strategy,
};
use crate::names::{
    self, API_DIAGNOSTIC_ID, API_ID, APP_INSIGHTS_CONNECTION_STRING_NAMED_VALUE, APP_INSIGHTS_LOGGER_ID,
    BACKENDS_NAMED_VALUE, IDENTITY_CLIENT_ID_NAMED_VALUE, POOL_BACKEND_ID, SUBSCRIPTION_ID,
};

/// Cognitive Services OpenAI User: call the inference API, nothing else.
pub const OPENAI_USER_ROLE: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

/// The api-keys of the `api-key` backends, by backend name, as the command read them.
/// A key left out is not compared or written: fine for commands that only read ids
/// (`destroy`, `policy`), refused by the ones that write named values.
/// With `[balancer.azure]`, also the client keys the container app requires.
#[derive(Clone, Default)]
pub struct BackendKeys(BTreeMap<String, String>, Option<String>);

impl BackendKeys {
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> BackendKeys {
        BackendKeys(keys.into_iter().collect(), None)
    }

    /// The value of `client_keys_env` (comma-separated keys), for the container app.
    pub fn with_client_keys(mut self, keys: Option<String>) -> BackendKeys {
        self.1 = keys;
        self
    }

    fn get(&self, backend: &str) -> Option<&str> {
        self.0.get(backend).map(String::as_str)
    }
}

impl std::fmt::Debug for BackendKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// What a resource is; its ARM type and api-version follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ResourceGroup,
    Identity,
    Account,
    ModelDeployment,
    RoleAssignment,
    Apim,
    NamedValue,
    Backend,
    Api,
    ApiPolicy,
    Subscription,
    /// `[monitoring]`: a Log Analytics workspace.
    Workspace,
    /// `[monitoring]`: a workspace-based Application Insights component.
    AppInsights,
    /// `[monitoring]`: the APIM logger sending to the component.
    Logger,
    /// `[monitoring]`: the OpenAI API's Application Insights diagnostic.
    ApiDiagnostic,
    /// `[balancer.azure]`: the Container Apps environment.
    ManagedEnvironment,
    /// `[balancer.azure]`: the Azure Cache for Redis the replicas share cooldowns through.
    Redis,
    /// `[balancer.azure]`: the container app running `oai-lb serve`.
    ContainerApp,
}

impl Kind {
    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::ResourceGroup => "Microsoft.Resources/resourceGroups",
            Kind::Identity => "Microsoft.ManagedIdentity/userAssignedIdentities",
            Kind::Account => "Microsoft.CognitiveServices/accounts",
            Kind::ModelDeployment => "Microsoft.CognitiveServices/accounts/deployments",
            Kind::RoleAssignment => "Microsoft.Authorization/roleAssignments",
            Kind::Apim => "Microsoft.ApiManagement/service",
            Kind::NamedValue => "Microsoft.ApiManagement/service/namedValues",
            Kind::Backend => "Microsoft.ApiManagement/service/backends",
            Kind::Api => "Microsoft.ApiManagement/service/apis",
            Kind::ApiPolicy => "Microsoft.ApiManagement/service/apis/policies",
            Kind::Subscription => "Microsoft.ApiManagement/service/subscriptions",
            Kind::Workspace => "Microsoft.OperationalInsights/workspaces",
            Kind::AppInsights => "Microsoft.Insights/components",
            Kind::Logger => "Microsoft.ApiManagement/service/loggers",
            Kind::ApiDiagnostic => "Microsoft.ApiManagement/service/apis/diagnostics",
            Kind::ManagedEnvironment => "Microsoft.App/managedEnvironments",
            Kind::Redis => "Microsoft.Cache/redis",
            Kind::ContainerApp => "Microsoft.App/containerApps",
        }
    }

    pub fn api_version(self) -> &'static str {
        api_version(self.resource_type())
    }

    /// Fields `deploy` sets and compares (JSON pointers); anything else on the resource
    /// (defaults, fields other tools set) is left alone.
    fn owned_fields(self) -> &'static [&'static str] {
        match self {
            // A group is never updated: its tag says oai-lb created it (see `destroy`).
            Kind::ResourceGroup => &[],
            Kind::Identity => &["/tags/managed-by"],
            Kind::Account => &["/kind", "/sku/name", "/properties/customSubDomainName", "/tags/managed-by"],
            Kind::ModelDeployment => {
                &["/sku/name", "/sku/capacity", "/properties/model", "/properties/versionUpgradeOption"]
            }
            Kind::RoleAssignment => &["/properties/roleDefinitionId", "/properties/principalId"],
            Kind::Apim => &[
                "/sku/name",
                "/properties/publisherEmail",
                "/properties/publisherName",
                "/identity/type",
                "/identity/userAssignedIdentities",
                "/tags/managed-by",
            ],
            Kind::NamedValue => &["/properties/displayName", "/properties/value", "/properties/secret"],
            Kind::Backend => &[
                "/properties/type",
                "/properties/url",
                "/properties/protocol",
                "/properties/credentials",
                "/properties/circuitBreaker",
                "/properties/pool",
            ],
            Kind::Api => &[
                "/properties/displayName",
                "/properties/description",
                "/properties/path",
                "/properties/protocols",
                "/properties/subscriptionRequired",
                "/properties/subscriptionKeyParameterNames",
            ],
            Kind::ApiPolicy => &["/properties/value"],
            Kind::Subscription => &["/properties/displayName", "/properties/scope", "/properties/state"],
            Kind::Workspace => &["/properties/sku/name", "/properties/retentionInDays"],
            Kind::AppInsights => &[
                "/kind",
                "/properties/Application_Type",
                "/properties/WorkspaceResourceId",
                "/properties/IngestionMode",
            ],
            Kind::Logger => &["/properties/loggerType", "/properties/credentials", "/properties/resourceId"],
            Kind::ApiDiagnostic => &[
                "/properties/loggerId",
                "/properties/alwaysLog",
                "/properties/sampling",
                "/properties/frontend",
                "/properties/backend",
                "/properties/httpCorrelationProtocol",
                "/properties/verbosity",
                "/properties/metrics",
            ],
            // Secret values are write-only: the hash tag stands for them.
            Kind::ManagedEnvironment => &[
                "/properties/appLogsConfiguration",
                "/properties/workloadProfiles",
                "/tags/managed-by",
                "/tags/oai-lb-secrets",
            ],
            Kind::Redis => &[
                "/properties/sku",
                "/properties/enableNonSslPort",
                "/properties/minimumTlsVersion",
                "/tags/managed-by",
            ],
            Kind::ContainerApp => &[
                "/identity/type",
                "/identity/userAssignedIdentities",
                "/properties/environmentId",
                "/properties/configuration/activeRevisionsMode",
                "/properties/configuration/ingress",
                "/properties/configuration/secrets",
                "/properties/configuration/registries",
                "/properties/template",
                "/tags/managed-by",
                "/tags/oai-lb-secrets",
            ],
        }
    }
}

/// One resource: where it lives, what it should contain, what it waits for. Its `Debug`
/// leaves the body out: a secret named value's body holds the secret.
#[derive(Clone)]
pub struct Resource {
    pub kind: Kind,
    /// Its ARM resource name (`account/deployment` for a model deployment, the account for
    /// its role assignment): with `kind`, what commands look a resource up by.
    pub name: String,
    /// What a user calls it, e.g. `model deployment contoso-eastus/gpt-4o`.
    pub label: String,
    id: String,
    body: Value,
    /// Indices (into [`Stack::resources`]) of resources that must exist first.
    pub depends_on: Vec<usize>,
    /// The index of the parent resource (its absence means this one is absent too).
    pub parent: Option<usize>,
    /// Needs the identity's principal / client id, known only once it exists.
    needs_identity: bool,
    /// An APIM backend in front of this `[[openai]]` account: its url is the account's
    /// `properties.endpoint` once ARM reports it.
    endpoint_of: Option<String>,
    /// Where ARM keeps it once deleted (an APIM service, an OpenAI account: soft delete).
    deleted_id: Option<String>,
    /// A secret named value: its value is read with `listValue`, never shown.
    pub secret: bool,
    /// Needs the Application Insights connection string, known once the component exists.
    needs_connection_string: bool,
    /// Not ours: an existing resource the config names. It is read (it must exist), never
    /// written or deleted.
    pub existing: bool,
    /// A workspace or cache whose key the container app or its environment needs: read
    /// with a POST action once it exists ([`container_apps::read_keys`]).
    pub keys_needed: bool,
    /// The environment: needs the workspace's customer id and shared key.
    needs_workspace_key: bool,
    /// The container app: needs the cache's access key.
    needs_redis_key: bool,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("id", &self.id)
            .field("depends_on", &self.depends_on)
            .finish_non_exhaustive()
    }
}

impl Resource {
    /// The ARM id (for a role assignment whose identity does not exist yet, a placeholder
    /// until [`Resource::resolve`] is called).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The body `deploy` PUTs.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// Where ARM keeps this resource for a while after it is deleted (APIM services and
    /// OpenAI accounts are soft-deleted: the name cannot be created again until the
    /// deleted one is restored or purged). Same api-version as the resource.
    pub fn deleted_id(&self) -> Option<&str> {
        self.deleted_id.as_deref()
    }

    /// True once every value it needs is known.
    pub fn resolved(&self) -> bool {
        !self.needs_identity && !self.needs_connection_string && !self.needs_workspace_key && !self.needs_redis_key
    }

    /// False for a role assignment until the identity's principal (part of its name) is
    /// known; a resource that only waits for values in its body can be read already.
    pub fn id_known(&self) -> bool {
        !(self.needs_identity && self.kind == Kind::RoleAssignment)
    }

    /// What it still waits for, when not [`Resource::resolved`].
    pub fn waits_for(&self) -> &'static str {
        if self.needs_redis_key {
            "the Redis cache's access key (the cache is still being created)"
        } else if self.needs_workspace_key {
            "the Log Analytics workspace's shared key"
        } else if self.needs_connection_string {
            "the Application Insights connection string"
        } else {
            "the identity, which has no principal yet"
        }
    }

    /// The body the plan compares: without write-only secret values (their hash tag stays).
    pub fn comparable_body(&self) -> Value {
        container_apps::without_secret_values(self.kind, &self.body)
    }

    pub fn owned_fields(&self) -> &'static [&'static str] {
        self.kind.owned_fields()
    }

    /// Fills in what ARM knows: an account's endpoint for its backend's url, and what
    /// depends on the identity: a role assignment's principal (and so its name) and the
    /// client-id named value.
    pub fn resolve(&mut self, outputs: &Outputs) {
        if let Some(endpoint) = self.endpoint_of.as_ref().and_then(|a| outputs.endpoints.get(a)) {
            self.body["properties"]["url"] = json!(format!("{}/openai", endpoint.trim_end_matches('/')));
        }
        if self.needs_connection_string
            && let Some(connection_string) = &outputs.app_insights_connection_string
        {
            self.body["properties"]["value"] = json!(connection_string);
            self.needs_connection_string = false;
        }
        if self.needs_workspace_key
            && let (Some(customer), Some(key)) = (&outputs.workspace_customer_id, &outputs.workspace_shared_key)
        {
            let la = &mut self.body["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"];
            la["customerId"] = json!(customer);
            la["sharedKey"] = json!(key.expose());
            self.needs_workspace_key = false;
        }
        if self.needs_redis_key
            && let Some(key) = &outputs.redis_key
        {
            container_apps::set_redis_key(&mut self.body, key.expose());
            self.needs_redis_key = false;
        }
        self.resolve_identity(outputs);
        container_apps::seal(self.kind, &mut self.body);
    }

    fn resolve_identity(&mut self, outputs: &Outputs) {
        if !self.needs_identity {
            return;
        }
        let (Some(principal), Some(client_id)) = (&outputs.principal_id, &outputs.client_id) else {
            return;
        };
        match self.kind {
            Kind::RoleAssignment => {
                let scope = self.id.split("/providers/Microsoft.Authorization/").next().unwrap_or_default().to_string();
                let name = names::role_assignment(&scope, principal, OPENAI_USER_ROLE);
                self.id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
                self.body["properties"]["principalId"] = json!(principal);
            }
            Kind::NamedValue => self.body["properties"]["value"] = json!(client_id),
            Kind::ContainerApp => container_apps::set_client_id(&mut self.body, client_id),
            _ => {}
        }
        self.needs_identity = false;
    }
}

/// Values only ARM knows, read from resources once they exist.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub principal_id: Option<String>,
    pub client_id: Option<String>,
    pub gateway_url: Option<String>,
    /// Each `[[openai]]` account's `properties.endpoint`, by account name.
    pub endpoints: BTreeMap<String, String>,
    /// The Application Insights component's connection string (a secret: never shown).
    pub app_insights_connection_string: Option<String>,
    /// The Log Analytics workspace the component sends to.
    pub workspace_id: Option<String>,
    /// The workspace's customer id and shared key (`[balancer.azure]`'s environment).
    pub workspace_customer_id: Option<String>,
    pub workspace_shared_key: Option<SecretString>,
    /// The cache's access key (the container app's `[balancer.shared_state]` password).
    pub redis_key: Option<SecretString>,
    /// The container app's public host name, running status and latest ready revision.
    pub app_fqdn: Option<String>,
    pub app_running_status: Option<String>,
    pub app_revision: Option<String>,
}

impl Outputs {
    /// Takes what a resource's ARM representation tells us.
    pub fn learn(&mut self, kind: Kind, resource: &Value) {
        let text = |p: &str| resource.pointer(p).and_then(Value::as_str).map(str::to_string);
        match kind {
            Kind::Identity => {
                self.principal_id = text("/properties/principalId").or(self.principal_id.take());
                self.client_id = text("/properties/clientId").or(self.client_id.take());
            }
            Kind::Apim => self.gateway_url = text("/properties/gatewayUrl").or(self.gateway_url.take()),
            Kind::Account => {
                if let (Some(name), Some(endpoint)) = (text("/name"), text("/properties/endpoint")) {
                    self.endpoints.insert(name, endpoint);
                }
            }
            Kind::AppInsights => {
                self.app_insights_connection_string =
                    text("/properties/ConnectionString").or(self.app_insights_connection_string.take());
                self.workspace_id = text("/properties/WorkspaceResourceId").or(self.workspace_id.take());
            }
            Kind::Workspace => {
                self.workspace_customer_id = text("/properties/customerId").or(self.workspace_customer_id.take());
            }
            Kind::ContainerApp => {
                self.app_fqdn = text("/properties/configuration/ingress/fqdn").or(self.app_fqdn.take());
                self.app_running_status = text("/properties/runningStatus").or(self.app_running_status.take());
                self.app_revision = text("/properties/latestReadyRevisionName").or(self.app_revision.take());
            }
            _ => {}
        }
    }

    /// Takes a key read with a POST action ([`container_apps::read_keys`]).
    pub fn learn_keys(&mut self, keys: Keys) {
        match keys {
            Keys::Workspace(key) => self.workspace_shared_key = Some(key),
            Keys::Redis(key) => self.redis_key = Some(key),
        }
    }
}

/// The whole stack of one config.
#[derive(Debug, Clone)]
pub struct Stack {
    pub resources: Vec<Resource>,
    /// The endpoints APIM balances over, in [`Config::gateway_backends`] order.
    pub backends: Vec<GatewayBackend>,
    apim_id: String,
    api_path: String,
    monitoring: Option<MonitoringTarget>,
    container_app: Option<ContainerAppTarget>,
}

/// `[balancer.azure]`: the container app and its replica bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerAppTarget {
    pub name: String,
    pub id: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
}

/// Where `[monitoring]` sends: the Application Insights component and, when the config
/// knows it, its Log Analytics workspace (ARM ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringTarget {
    pub app_insights_id: String,
    pub workspace_id: Option<String>,
}

impl Stack {
    /// Builds every resource and its desired body from the config, one builder per kind.
    pub fn new(config: &Config, keys: &BackendKeys) -> Result<Stack, AzureError> {
        let (Some(azure), Some(apim)) = (&config.azure, &config.apim) else {
            return Err(AzureError::Config {
                problem: "the config has no [azure] or no [apim] section".into(),
                fix: "add [azure] (subscription_id, resource_group, location) and [apim] (name, publisher_email, publisher_name)".into(),
            });
        };
        let backends = config.gateway_backends();
        if backends.is_empty() {
            return Err(AzureError::Config {
                problem: "there is no backend for APIM to balance over".into(),
                fix: "add an [[openai]] account or a [[backends]] endpoint".into(),
            });
        }
        let mut b = Builder::new(azure, apim);
        let rg = b.resource_group();
        let identity = b.identity(rg);
        b.openai_accounts(config, rg, identity);
        let service = b.apim_service(rg, identity);
        let values = b.named_values(config, &backends, keys, service, identity);
        let singles = b.backends(&backends, apim.strategy, service, &values);
        let mut policy_deps = values;
        policy_deps.extend(&singles);
        if apim.strategy == Strategy::Pool {
            policy_deps.push(b.pool(&backends, service, &singles));
        }
        let api = b.api(service);
        policy_deps.push(api);
        b.api_policy(config, api, &policy_deps)?;
        b.subscription(service, api);
        let monitoring = config.monitoring.as_ref().map(|m| b.monitoring(m, rg, service, api));
        let container_app = match &config.balancer.azure {
            Some(section) => Some(b.container_apps(config, section, keys, rg, identity)?),
            None => None,
        };
        Ok(Stack {
            resources: b.resources,
            backends,
            apim_id: b.apim_id,
            api_path: apim.api_path.clone(),
            monitoring,
            container_app,
        })
    }

    /// `[balancer.azure]`'s container app, when the config has it.
    pub fn container_app(&self) -> Option<&ContainerAppTarget> {
        self.container_app.as_ref()
    }

    /// Where `[monitoring]` sends logs and metrics, when the config has it.
    pub fn monitoring(&self) -> Option<&MonitoringTarget> {
        self.monitoring.as_ref()
    }

    /// The resources of one kind, in dependency order.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// The resource of `kind` named `name`, if the config has it.
    pub fn find(&self, kind: Kind, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.kind == kind && r.name == name)
    }

    /// The OpenAI API's ARM id.
    pub fn api_id(&self) -> String {
        format!("{}/apis/{API_ID}", self.apim_id)
    }

    /// The API policy's ARM id (`policy push/diff/show`).
    pub fn api_policy_id(&self) -> String {
        format!("{}/policies/policy", self.api_id())
    }

    /// A named value's ARM id.
    pub fn named_value_id(&self, name: &str) -> String {
        format!("{}/namedValues/{name}", self.apim_id)
    }

    /// The service's named values collection (`GET` lists them).
    pub fn named_values_id(&self) -> String {
        format!("{}/namedValues", self.apim_id)
    }

    /// An APIM backend's ARM id.
    pub fn backend_id(&self, name: &str) -> String {
        format!("{}/backends/{name}", self.apim_id)
    }

    /// The subscription whose keys clients send (`POST {id}/listSecrets`).
    pub fn subscription_id(&self) -> String {
        format!("{}/subscriptions/{SUBSCRIPTION_ID}", self.apim_id)
    }

    /// The public URL of the OpenAI API, given the service's `gatewayUrl`.
    pub fn api_url(&self, gateway_url: &str) -> String {
        format!("{}/{}", gateway_url.trim_end_matches('/'), self.api_path.trim_matches('/'))
    }
}

/// Adds the resources of one config, a kind at a time, and knows their ids.
struct Builder<'a> {
    azure: &'a AzureSection,
    apim: &'a ApimSection,
    resources: Vec<Resource>,
    rg_id: String,
    identity_id: String,
    apim_id: String,
    /// The `[[openai]]` accounts: (name, index).
    accounts: Vec<(String, usize)>,
    /// The Log Analytics workspace `[monitoring]` created or named: (index, id).
    workspace: Option<(usize, String)>,
}

/// A location as ARM spells it in ids (`East US` → `eastus`).
fn location_name(location: &str) -> String {
    location.to_ascii_lowercase().replace(' ', "")
}

/// The tag that marks what oai-lb created.
fn managed_by() -> Value {
    let (key, value) = names::MANAGED_BY_TAG;
    json!({ key: value })
}

impl<'a> Builder<'a> {
    fn new(azure: &'a AzureSection, apim: &'a ApimSection) -> Builder<'a> {
        let rg_id = format!("/subscriptions/{}/resourceGroups/{}", azure.subscription_id, azure.resource_group);
        let identity_id = format!(
            "{rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            names::identity(&apim.name)
        );
        let apim_id = format!("{rg_id}/providers/Microsoft.ApiManagement/service/{}", apim.name);
        Builder {
            azure,
            apim,
            resources: Vec::new(),
            rg_id,
            identity_id,
            apim_id,
            accounts: Vec::new(),
            workspace: None,
        }
    }

    fn resource_group(&mut self) -> usize {
        let name = self.azure.resource_group.clone();
        let body = json!({"location": self.azure.location, "tags": managed_by()});
        self.add(Kind::ResourceGroup, &name, format!("resource group {name}"), self.rg_id.clone(), body, None, &[])
    }

    fn identity(&mut self, rg: usize) -> usize {
        let name = names::identity(&self.apim.name);
        let body = json!({"location": self.azure.location, "tags": managed_by()});
        self.add(Kind::Identity, &name, format!("identity {name}"), self.identity_id.clone(), body, Some(rg), &[])
    }

    /// The `[[openai]]` accounts, their model deployments (one after another: Azure OpenAI
    /// accepts one deployment change at a time per account) and the identity's role on each.
    fn openai_accounts(&mut self, config: &Config, rg: usize, identity: usize) {
        let role_definition = format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE}",
            self.azure.subscription_id
        );
        for account in &config.openai {
            let account_id = format!("{}/providers/Microsoft.CognitiveServices/accounts/{}", self.rg_id, account.name);
            let body = json!({
                "location": account.location,
                "kind": "OpenAI",
                "sku": {"name": "S0"},
                "properties": {"customSubDomainName": account.name, "publicNetworkAccess": "Enabled"},
                "tags": managed_by(),
            });
            let label = format!("OpenAI account {}", account.name);
            let acc = self.add(Kind::Account, &account.name, label, account_id.clone(), body, Some(rg), &[]);
            self.resources[acc].deleted_id = Some(self.deleted_account_id(&account.location, &account.name));
            self.accounts.push((account.name.clone(), acc));
            let mut previous = acc;
            for d in &account.deployments {
                let body = json!({
                    "sku": {"name": d.sku, "capacity": d.capacity},
                    "properties": {
                        "model": {"format": "OpenAI", "name": d.model, "version": d.version},
                        // Azure must not upgrade a model behind our back (it would show as drift).
                        "versionUpgradeOption": "NoAutoUpgrade",
                    },
                });
                let name = format!("{}/{}", account.name, d.name);
                let id = format!("{account_id}/deployments/{}", d.name);
                let label = format!("model deployment {name}");
                previous = self.add(Kind::ModelDeployment, &name, label, id, body, Some(acc), &[previous]);
            }
            let body = json!({"properties": {
                "roleDefinitionId": role_definition,
                "principalId": "",
                "principalType": "ServicePrincipal",
            }});
            let id = format!("{account_id}/providers/Microsoft.Authorization/roleAssignments/(from identity)");
            let label = format!("role OpenAI User on {}", account.name);
            let role = self.add(Kind::RoleAssignment, &account.name, label, id, body, Some(acc), &[identity]);
            self.resources[role].needs_identity = true;
        }
    }

    fn apim_service(&mut self, rg: usize, identity: usize) -> usize {
        let apim = self.apim;
        let body = json!({
            "location": self.azure.location,
            "sku": {"name": apim.sku, "capacity": if apim.sku == "Consumption" { 0 } else { 1 }},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {self.identity_id.clone(): {}}},
            "properties": {"publisherEmail": apim.publisher_email, "publisherName": apim.publisher_name},
            "tags": managed_by(),
        });
        let label = format!("APIM service {}", apim.name);
        let i = self.add(Kind::Apim, &apim.name, label, self.apim_id.clone(), body, Some(rg), &[identity]);
        self.resources[i].deleted_id = Some(format!(
            "/subscriptions/{}/providers/Microsoft.ApiManagement/locations/{}/deletedservices/{}",
            self.azure.subscription_id,
            location_name(&self.azure.location),
            apim.name
        ));
        i
    }

    /// The identity's client id, the backend list, the client-auth values the policy's
    /// validate-jwt reads (when configured) and each `api-key` backend's secret key.
    fn named_values(
        &mut self,
        config: &Config,
        backends: &[GatewayBackend],
        keys: &BackendKeys,
        service: usize,
        identity: usize,
    ) -> Vec<usize> {
        let mut values = Vec::new();
        let client_id = self.named_value(IDENTITY_CLIENT_ID_NAMED_VALUE, json!(""), false, service, &[identity]);
        self.resources[client_id].needs_identity = true;
        values.push(client_id);
        let list = json!(crate::policy::backends_named_value(config));
        values.push(self.named_value(BACKENDS_NAMED_VALUE, list, false, service, &[]));
        let strategy = crate::policy::configured_strategy(config);
        for nv in crate::policy::required_named_values(config, strategy) {
            let crate::policy::NamedValueSource::Text(value) = nv.value else { continue };
            if nv.name != BACKENDS_NAMED_VALUE {
                values.push(self.named_value(&nv.name, json!(value), nv.secret, service, &[]));
            }
        }
        for b in backends.iter().filter(|b| b.auth == BackendAuth::ApiKey) {
            let name = names::backend_key_named_value(&b.name);
            // Without the key the value is left out of the body, so it is neither compared
            // nor written; commands that write check the keys before building the stack.
            let value = keys.get(&b.name).map_or(Value::Null, |k| json!(k));
            values.push(self.named_value(&name, value, true, service, &[]));
        }
        values
    }

    fn named_value(&mut self, name: &str, value: Value, secret: bool, service: usize, deps: &[usize]) -> usize {
        let mut properties = json!({"displayName": name, "secret": secret});
        if !value.is_null() {
            properties["value"] = value;
        }
        let label = if secret { format!("named value {name} (secret)") } else { format!("named value {name}") };
        let id = format!("{}/namedValues/{name}", self.apim_id);
        let i = self.add(Kind::NamedValue, name, label, id, json!({"properties": properties}), Some(service), deps);
        self.resources[i].secret = secret;
        i
    }

    /// One `Single` backend per endpoint, with a circuit breaker that honours Retry-After.
    fn backends(
        &mut self,
        backends: &[GatewayBackend],
        strategy: Strategy,
        service: usize,
        values: &[usize],
    ) -> Vec<usize> {
        let mut singles = Vec::new();
        for b in backends {
            let mut properties = json!({
                "type": "Single",
                "description": format!("oai-lb backend {} (priority {}, weight {})", b.name, b.priority, b.weight),
                "url": format!("{}/openai", b.url.trim_end_matches('/')),
                "protocol": "http",
            });
            // Only a pool needs a breaker; under the smart policy one 429 on any deployment
            // would trip the whole backend and undo the per-deployment cooldowns.
            if strategy == Strategy::Pool {
                properties["circuitBreaker"] = json!({"rules": [{
                    "name": "throttled",
                    "failureCondition": {
                        "count": 1,
                        "interval": "PT10S",
                        "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
                    },
                    "tripDuration": "PT10S",
                    "acceptRetryAfter": true,
                }]});
            }
            if b.auth == BackendAuth::ApiKey {
                let value_name = names::backend_key_named_value(&b.name);
                properties["credentials"] = json!({"header": {"api-key": [format!("{{{{{value_name}}}}}")]}});
            }
            let id = format!("{}/backends/{}", self.apim_id, b.name);
            let body = json!({"properties": properties});
            let label = format!("backend {}", b.name);
            // An account's backend waits for the account, whose endpoint is its url.
            let account = self.accounts.iter().find(|(name, _)| *name == b.name).map(|&(_, i)| i);
            let deps: Vec<usize> = values.iter().copied().chain(account).collect();
            let i = self.add(Kind::Backend, &b.name, label, id, body, Some(service), &deps);
            self.resources[i].endpoint_of = account.map(|_| b.name.clone());
            singles.push(i);
        }
        singles
    }

    /// The `Pool` backend of the pool strategy, sent without url/protocol (see the
    /// official examples).
    fn pool(&mut self, backends: &[GatewayBackend], service: usize, singles: &[usize]) -> usize {
        let services: Vec<Value> = backends
            .iter()
            .map(|b| json!({"id": format!("{}/backends/{}", self.apim_id, b.name), "priority": b.priority, "weight": b.weight}))
            .collect();
        let body = json!({"properties": {
            "type": "Pool",
            "description": "oai-lb pool of every OpenAI backend",
            "pool": {"services": services},
        }});
        let id = format!("{}/backends/{POOL_BACKEND_ID}", self.apim_id);
        let label = format!("backend {POOL_BACKEND_ID} (pool)");
        self.add(Kind::Backend, POOL_BACKEND_ID, label, id, body, Some(service), singles)
    }

    fn api(&mut self, service: usize) -> usize {
        let api_path = &self.apim.api_path;
        let doc = openapi::document(api_path);
        let body = json!({"properties": {
            "displayName": "Azure OpenAI (oai-lb)",
            "description": format!("Azure OpenAI inference API behind oai-lb (document {})", openapi::fingerprint(&doc)),
            "path": api_path,
            "protocols": ["https"],
            "subscriptionRequired": true,
            "subscriptionKeyParameterNames": {"header": "api-key", "query": "api-key"},
            "format": "openapi+json",
            "value": doc,
        }});
        let id = format!("{}/apis/{API_ID}", self.apim_id);
        let label = format!("API {API_ID} (/{api_path})");
        self.add(Kind::Api, API_ID, label, id, body, Some(service), &[])
    }

    fn api_policy(&mut self, config: &Config, api: usize, deps: &[usize]) -> Result<usize, AzureError> {
        let xml = policy::policy_xml(config)?;
        let body = json!({"properties": {"format": crate::policy::POLICY_FORMAT, "value": xml}});
        let id = format!("{}/apis/{API_ID}/policies/policy", self.apim_id);
        Ok(self.add(Kind::ApiPolicy, "policy", format!("policy of API {API_ID}"), id, body, Some(api), deps))
    }

    fn subscription(&mut self, service: usize, api: usize) -> usize {
        let api_id = format!("{}/apis/{API_ID}", self.apim_id);
        let body = json!({"properties": {"displayName": SUBSCRIPTION_ID, "scope": api_id, "state": "active"}});
        let id = format!("{}/subscriptions/{SUBSCRIPTION_ID}", self.apim_id);
        let label = format!("subscription {SUBSCRIPTION_ID}");
        self.add(Kind::Subscription, SUBSCRIPTION_ID, label, id, body, Some(service), &[api])
    }

    /// `[monitoring]`: the workspace and the component (created, or existing ones read for
    /// their connection string), the secret named value holding the connection string, the
    /// logger naming it, and the API diagnostic with custom metrics on.
    fn monitoring(&mut self, m: &MonitoringSection, rg: usize, service: usize, api: usize) -> MonitoringTarget {
        let location = self.azure.location.clone();
        let (component, target) = match &m.app_insights_id {
            Some(id) => {
                let i = self.existing(Kind::AppInsights, id, "Application Insights component");
                (i, MonitoringTarget { app_insights_id: id.clone(), workspace_id: None })
            }
            None => {
                let (workspace, workspace_id) = match &m.workspace_id {
                    Some(id) => (self.existing(Kind::Workspace, id, "Log Analytics workspace"), id.clone()),
                    None => self.own_workspace(rg),
                };
                self.workspace = Some((workspace, workspace_id.clone()));
                let name = names::app_insights(&self.apim.name);
                let id = format!("{}/providers/Microsoft.Insights/components/{name}", self.rg_id);
                let body = json!({
                    "location": location,
                    "kind": "web",
                    "properties": {
                        "Application_Type": "web",
                        "WorkspaceResourceId": workspace_id,
                        "IngestionMode": "LogAnalytics",
                    },
                });
                let label = format!("Application Insights component {name}");
                let i = self.add(Kind::AppInsights, &name, label, id.clone(), body, Some(rg), &[workspace]);
                (i, MonitoringTarget { app_insights_id: id, workspace_id: Some(workspace_id) })
            }
        };
        let value =
            self.named_value(APP_INSIGHTS_CONNECTION_STRING_NAMED_VALUE, json!(""), true, service, &[component]);
        self.resources[value].needs_connection_string = true;
        let logger_id = format!("{}/loggers/{APP_INSIGHTS_LOGGER_ID}", self.apim_id);
        let body = json!({"properties": {
            "loggerType": "applicationInsights",
            "description": "oai-lb: gateway logs and token metrics",
            "credentials": {"connectionString": format!("{{{{{APP_INSIGHTS_CONNECTION_STRING_NAMED_VALUE}}}}}")},
            "isBuffered": true,
            "resourceId": target.app_insights_id,
        }});
        let label = format!("logger {APP_INSIGHTS_LOGGER_ID}");
        let logger =
            self.add(Kind::Logger, APP_INSIGHTS_LOGGER_ID, label, logger_id.clone(), body, Some(service), &[value]);
        let body = json!({"properties": super::monitoring::api_diagnostic(m, &logger_id)});
        let id = format!("{}/apis/{API_ID}/diagnostics/{API_DIAGNOSTIC_ID}", self.apim_id);
        let label = format!("diagnostic {API_DIAGNOSTIC_ID} of API {API_ID}");
        self.add(Kind::ApiDiagnostic, API_DIAGNOSTIC_ID, label, id, body, Some(api), &[logger]);
        target
    }

    /// The Log Analytics workspace `deploy` creates (for `[monitoring]`, or for the
    /// Container Apps environment when `[monitoring]` names none): (index, id).
    fn own_workspace(&mut self, rg: usize) -> (usize, String) {
        let name = names::log_analytics_workspace(&self.apim.name);
        let id = format!("{}/providers/Microsoft.OperationalInsights/workspaces/{name}", self.rg_id);
        let body = json!({
            "location": self.azure.location,
            "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30},
        });
        let label = format!("Log Analytics workspace {name}");
        (self.add(Kind::Workspace, &name, label, id.clone(), body, Some(rg), &[]), id)
    }

    /// `[balancer.azure]`: the environment (on `[monitoring]`'s workspace, or its own), the
    /// cache and the app, which runs as the stack's identity (OpenAI User on the accounts).
    fn container_apps(
        &mut self,
        config: &Config,
        section: &BalancerAzureSection,
        keys: &BackendKeys,
        rg: usize,
        identity: usize,
    ) -> Result<ContainerAppTarget, AzureError> {
        let location = self.azure.location.clone();
        let (workspace, _) = match self.workspace.clone() {
            Some(w) => w,
            None => self.own_workspace(rg),
        };
        self.resources[workspace].keys_needed = true;

        let env_name = names::container_apps_environment(&self.apim.name);
        let env_id = format!("{}/providers/Microsoft.App/managedEnvironments/{env_name}", self.rg_id);
        let body = container_apps::environment_body(&location, managed_by());
        let label = format!("Container Apps environment {env_name}");
        let env = self.add(Kind::ManagedEnvironment, &env_name, label, env_id.clone(), body, Some(rg), &[workspace]);
        self.resources[env].needs_workspace_key = true;

        let cache = names::redis_cache(&self.apim.name);
        let cache_id = format!("{}/providers/Microsoft.Cache/redis/{cache}", self.rg_id);
        let body = container_apps::redis_body(&location, managed_by(), section);
        let label = format!("Azure Cache for Redis {cache}");
        let redis = self.add(Kind::Redis, &cache, label, cache_id, body, Some(rg), &[]);
        self.resources[redis].keys_needed = true;

        let name = section.name.clone().unwrap_or_else(|| names::container_app(&self.apim.name));
        if !crate::config::balancer_azure::is_container_app_name(&name) {
            return Err(AzureError::config(
                format!("the container app name `{name}` (from [apim] name) is not a valid Container App name"),
                "set name = \"my-oai-lb\" under [balancer.azure] (2-32 lower-case letters, digits and '-')",
            ));
        }
        let app_id = format!("{}/providers/Microsoft.App/containerApps/{name}", self.rg_id);
        let backend_keys = config
            .backends
            .iter()
            .filter(|b| b.auth == BackendAuth::ApiKey)
            .filter_map(|b| Some((b.api_key_env.clone()?, b.name.clone(), keys.get(&b.name).map(str::to_string))))
            .collect();
        let body = container_apps::app_body(AppSpec {
            config,
            section,
            location: &location,
            tags: managed_by(),
            environment_id: &env_id,
            identity_id: &self.identity_id,
            cache: &cache,
            client_keys: keys.1.as_deref(),
            backend_keys,
        })?;
        // It starts calling the accounts at once: their role assignments come first.
        let mut deps = vec![env, redis, identity];
        deps.extend((0..self.resources.len()).filter(|&i| self.resources[i].kind == Kind::RoleAssignment));
        let label = format!("container app {name}");
        let app = self.add(Kind::ContainerApp, &name, label, app_id.clone(), body, Some(rg), &deps);
        self.resources[app].needs_identity = true;
        self.resources[app].needs_redis_key = true;
        Ok(ContainerAppTarget {
            name,
            id: app_id,
            min_replicas: section.min_replicas,
            max_replicas: section.max_replicas,
        })
    }

    /// An existing resource the config names by id: read, never written.
    fn existing(&mut self, kind: Kind, id: &str, what: &str) -> usize {
        let name = id.rsplit('/').next().unwrap_or(id).to_string();
        let label = format!("{what} {name} (existing)");
        let i = self.add(kind, &name, label, id.to_string(), json!({}), None, &[]);
        self.resources[i].existing = true;
        i
    }

    fn deleted_account_id(&self, location: &str, account: &str) -> String {
        format!(
            "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{account}",
            self.azure.subscription_id,
            location_name(location),
            self.azure.resource_group
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: Kind,
        name: &str,
        label: String,
        id: String,
        body: Value,
        parent: Option<usize>,
        deps: &[usize],
    ) -> usize {
        let mut depends_on: Vec<usize> = parent.into_iter().chain(deps.iter().copied()).collect();
        depends_on.sort_unstable();
        depends_on.dedup();
        self.resources.push(Resource {
            kind,
            name: name.to_string(),
            label,
            id,
            body,
            depends_on,
            parent,
            needs_identity: false,
            endpoint_of: None,
            deleted_id: None,
            secret: false,
            needs_connection_string: false,
            existing: false,
            keys_needed: false,
            needs_workspace_key: false,
            needs_redis_key: false,
        });
        self.resources.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn stack(strategy: &str) -> Stack {
        let text = format!(
            r#"
[azure]
subscription_id = "s"
resource_group = "rg"
location = "eastus"
[apim]
name = "apim"
publisher_email = "ops@example.com"
publisher_name = "Contoso"
strategy = "{strategy}"
[[openai]]
name = "east"
location = "eastus"
deployments = [{{ name = "a", model = "gpt-4o", version = "1" }}, {{ name = "b", model = "gpt-4o", version = "1" }}]
"#
        );
        Stack::new(&Config::parse(Path::new("t.toml"), &text).unwrap(), &BackendKeys::default()).unwrap()
    }

    #[test]
    fn role_assignment_names_are_deterministic_per_principal() {
        let s = stack("policy");
        let role = s.of_kind(Kind::RoleAssignment).next().unwrap().clone();
        assert!(!role.resolved());
        let outputs =
            |p: &str| Outputs { principal_id: Some(p.into()), client_id: Some("c".into()), ..Outputs::default() };
        let (mut a, mut b, mut c) = (role.clone(), role.clone(), role);
        a.resolve(&outputs("p1"));
        b.resolve(&outputs("p1"));
        c.resolve(&outputs("p2"));
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_eq!(a.body()["properties"]["principalId"], "p1");
        assert!(a.body()["properties"]["roleDefinitionId"].as_str().unwrap().ends_with(OPENAI_USER_ROLE));
    }

    #[test]
    fn deployments_of_an_account_run_one_after_another() {
        let s = stack("policy");
        let index = |name: &str| s.resources.iter().position(|r| r.name == name).unwrap();
        let (a, b) = (index("east/a"), index("east/b"));
        assert!(s.resources[b].depends_on.contains(&a));
    }

    #[test]
    fn the_pool_is_sent_without_url_and_the_policy_targets_it() {
        let s = stack("pool");
        let pool = s.find(Kind::Backend, POOL_BACKEND_ID).unwrap();
        assert!(pool.body()["properties"].get("url").is_none());
        assert!(pool.body()["properties"].get("protocol").is_none());
        let policy = s.of_kind(Kind::ApiPolicy).next().unwrap();
        let xml = policy.body()["properties"]["value"].as_str().unwrap();
        assert!(xml.contains(&format!(r#"backend-id="{POOL_BACKEND_ID}""#)), "{xml}");
        assert_eq!(policy.id(), s.api_policy_id());
    }

    #[test]
    fn deploy_needs_azure_and_apim() {
        let config = Config::parse(Path::new("t.toml"), "").unwrap();
        let e = Stack::new(&config, &BackendKeys::default()).unwrap_err().to_string();
        assert!(e.contains("[azure]") && e.contains("fix:"), "{e}");
    }
}
