//! The resources `deploy` owns, in dependency order, with the bodies the config asks for.

use serde_json::{Value, json};

use super::{AzureError, api_version, openapi, policy};
use crate::config::{BackendAuth, Config, Strategy};

/// Cognitive Services OpenAI User: call the inference API, nothing else.
pub const OPENAI_USER_ROLE: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";
/// The APIM API id of the OpenAI API.
pub const API_ID: &str = "openai";
/// The APIM subscription id whose key clients use.
pub const SUBSCRIPTION_ID: &str = "oai-lb";
/// The Pool backend of the `pool` strategy.
pub const POOL_ID: &str = "oai-lb-pool";
/// Named values the policy and backends reference.
pub const CLIENT_ID_VALUE: &str = "oai-lb-identity-client-id";
pub const BACKENDS_VALUE: &str = "oai-lb-backends";

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
        }
    }

    pub fn api_version(self) -> &'static str {
        api_version(self.resource_type())
    }

    /// Fields `deploy` sets and compares (JSON pointers); anything else on the resource
    /// (defaults, fields other tools set) is left alone.
    fn owned_fields(self) -> &'static [&'static str] {
        match self {
            Kind::ResourceGroup | Kind::Identity => &[],
            Kind::Account => &["/kind", "/sku/name", "/properties/customSubDomainName"],
            Kind::ModelDeployment => &["/sku/name", "/sku/capacity", "/properties/model"],
            Kind::RoleAssignment => &["/properties/roleDefinitionId", "/properties/principalId"],
            Kind::Apim => &[
                "/sku/name",
                "/properties/publisherEmail",
                "/properties/publisherName",
                "/identity/type",
                "/identity/userAssignedIdentities",
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
        }
    }
}

/// One resource: where it lives, what it should contain, what it waits for. Its `Debug`
/// leaves the body out: a secret named value's body holds the secret.
#[derive(Clone)]
pub struct Resource {
    pub kind: Kind,
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
    /// A secret named value: its value is read with `listValue`, never shown.
    pub secret: bool,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("kind", &self.kind)
            .field("label", &self.label)
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

    /// True once every value it needs is known.
    pub fn resolved(&self) -> bool {
        !self.needs_identity
    }

    pub fn owned_fields(&self) -> &'static [&'static str] {
        self.kind.owned_fields()
    }

    /// Fills in what depends on the identity: a role assignment's principal (and so its
    /// name) and the client-id named value.
    pub fn resolve(&mut self, outputs: &Outputs) {
        if !self.needs_identity {
            return;
        }
        let (Some(principal), Some(client_id)) = (&outputs.principal_id, &outputs.client_id) else {
            return;
        };
        match self.kind {
            Kind::RoleAssignment => {
                let scope = self.id.split("/providers/Microsoft.Authorization/").next().unwrap_or_default().to_string();
                let role = self.body["properties"]["roleDefinitionId"].as_str().unwrap_or_default().to_string();
                let name =
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{scope}|{principal}|{role}").as_bytes());
                self.id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
                self.body["properties"]["principalId"] = json!(principal);
            }
            Kind::NamedValue => self.body["properties"]["value"] = json!(client_id),
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
            _ => {}
        }
    }
}

/// An OpenAI endpoint APIM balances over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayBackend {
    pub name: String,
    /// The endpoint, e.g. `https://contoso.openai.azure.com` (APIM's backend adds `/openai`).
    pub url: String,
    pub priority: u32,
    pub weight: u32,
    pub auth: BackendAuth,
    /// The secret named value holding its api-key (with `auth = "api-key"`).
    pub key_named_value: Option<String>,
}

/// The whole stack of one config.
#[derive(Debug, Clone)]
pub struct Stack {
    pub resources: Vec<Resource>,
    pub backends: Vec<GatewayBackend>,
    apim_id: String,
    api_path: String,
}

impl Stack {
    /// Builds every resource and its desired body from the config. Secrets are read from
    /// the environment variables the config names.
    pub fn from_config(config: &Config) -> Result<Stack, AzureError> {
        let (Some(azure), Some(apim)) = (&config.azure, &config.apim) else {
            return Err(AzureError::Config {
                problem: "the config has no [azure] or no [apim] section".into(),
                fix: "add [azure] (subscription_id, resource_group, location) and [apim] (name, publisher_email, publisher_name)".into(),
            });
        };
        let backends = gateway_backends(config);
        if backends.is_empty() {
            return Err(AzureError::Config {
                problem: "there is no backend for APIM to balance over".into(),
                fix: "add an [[openai]] account or a [[backends]] endpoint".into(),
            });
        }
        let sub = &azure.subscription_id;
        let rg_id = format!("/subscriptions/{sub}/resourceGroups/{}", azure.resource_group);
        let mut s = Builder { resources: Vec::new() };

        let rg = s.add(
            Kind::ResourceGroup,
            format!("resource group {}", azure.resource_group),
            rg_id.clone(),
            json!({"location": azure.location}),
            None,
            &[],
        );
        let identity_name = format!("{}-identity", apim.name);
        let identity_id = format!("{rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity_name}");
        let identity = s.add(
            Kind::Identity,
            format!("identity {identity_name}"),
            identity_id.clone(),
            json!({"location": azure.location}),
            Some(rg),
            &[],
        );

        let role_definition =
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE}");
        for account in &config.openai {
            let account_id = format!("{rg_id}/providers/Microsoft.CognitiveServices/accounts/{}", account.name);
            let body = json!({
                "location": account.location,
                "kind": "OpenAI",
                "sku": {"name": "S0"},
                "properties": {"customSubDomainName": account.name, "publicNetworkAccess": "Enabled"},
            });
            let acc = s.add(
                Kind::Account,
                format!("OpenAI account {}", account.name),
                account_id.clone(),
                body,
                Some(rg),
                &[],
            );
            // Azure OpenAI accepts one deployment change at a time per account.
            let mut previous = acc;
            for d in &account.deployments {
                let body = json!({
                    "sku": {"name": d.sku, "capacity": d.capacity},
                    "properties": {"model": {"format": "OpenAI", "name": d.model, "version": d.version}},
                });
                previous = s.add(
                    Kind::ModelDeployment,
                    format!("model deployment {}/{}", account.name, d.name),
                    format!("{account_id}/deployments/{}", d.name),
                    body,
                    Some(acc),
                    &[previous],
                );
            }
            let body = json!({"properties": {
                "roleDefinitionId": role_definition,
                "principalId": "",
                "principalType": "ServicePrincipal",
            }});
            let role = s.add(
                Kind::RoleAssignment,
                format!("role OpenAI User on {}", account.name),
                format!("{account_id}/providers/Microsoft.Authorization/roleAssignments/(from identity)"),
                body,
                Some(acc),
                &[identity],
            );
            s.resources[role].needs_identity = true;
        }

        let apim_id = format!("{rg_id}/providers/Microsoft.ApiManagement/service/{}", apim.name);
        let body = json!({
            "location": azure.location,
            "sku": {"name": apim.sku, "capacity": if apim.sku == "Consumption" { 0 } else { 1 }},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity_id.clone(): {}}},
            "properties": {"publisherEmail": apim.publisher_email, "publisherName": apim.publisher_name},
        });
        let service =
            s.add(Kind::Apim, format!("APIM service {}", apim.name), apim_id.clone(), body, Some(rg), &[identity]);

        let mut values = Vec::new();
        let client_id = s.add(
            Kind::NamedValue,
            format!("named value {CLIENT_ID_VALUE}"),
            format!("{apim_id}/namedValues/{CLIENT_ID_VALUE}"),
            json!({"properties": {"displayName": CLIENT_ID_VALUE, "value": "", "secret": false}}),
            Some(service),
            &[identity],
        );
        s.resources[client_id].needs_identity = true;
        values.push(client_id);
        values.push(s.add(
            Kind::NamedValue,
            format!("named value {BACKENDS_VALUE}"),
            format!("{apim_id}/namedValues/{BACKENDS_VALUE}"),
            json!({"properties": {"displayName": BACKENDS_VALUE, "value": crate::policy::backends_named_value(config), "secret": false}}),
            Some(service),
            &[],
        ));
        // The Entra client-auth values the policy's validate-jwt reads, when configured.
        let strategy = crate::policy::configured_strategy(config);
        for nv in crate::policy::required_named_values(config, strategy) {
            let crate::policy::NamedValueSource::Text(value) = nv.value else { continue };
            if nv.name == BACKENDS_VALUE {
                continue;
            }
            values.push(s.add(
                Kind::NamedValue,
                format!("named value {}", nv.name),
                format!("{apim_id}/namedValues/{}", nv.name),
                json!({"properties": {"displayName": nv.name, "value": value, "secret": nv.secret}}),
                Some(service),
                &[],
            ));
        }
        for b in &backends {
            let Some(value_name) = &b.key_named_value else { continue };
            let env = config
                .backends
                .iter()
                .find(|c| c.name == b.name)
                .and_then(|c| c.api_key_env.clone())
                .unwrap_or_default();
            let secret =
                std::env::var(&env).ok().filter(|v| !v.trim().is_empty()).ok_or_else(|| AzureError::Config {
                    problem: format!("environment variable {env} (the api-key of backend {}) is not set", b.name),
                    fix: format!("export {env}=..."),
                })?;
            let i = s.add(
                Kind::NamedValue,
                format!("named value {value_name} (secret)"),
                format!("{apim_id}/namedValues/{value_name}"),
                json!({"properties": {"displayName": value_name, "value": secret, "secret": true}}),
                Some(service),
                &[],
            );
            s.resources[i].secret = true;
            values.push(i);
        }

        let mut singles = Vec::new();
        for b in &backends {
            let mut properties = json!({
                "type": "Single",
                "description": format!("oai-lb backend {} (priority {}, weight {})", b.name, b.priority, b.weight),
                "url": format!("{}/openai", b.url.trim_end_matches('/')),
                "protocol": "http",
            });
            // Only a pool needs a breaker; under the smart policy one 429 on any deployment
            // would trip the whole backend and undo the per-deployment cooldowns.
            if apim.strategy == Strategy::Pool {
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
            if let Some(value_name) = &b.key_named_value {
                properties["credentials"] = json!({"header": {"api-key": [format!("{{{{{value_name}}}}}")]}});
            }
            singles.push(s.add(
                Kind::Backend,
                format!("backend {}", b.name),
                format!("{apim_id}/backends/{}", b.name),
                json!({"properties": properties}),
                Some(service),
                &values,
            ));
        }
        let mut policy_deps = values.clone();
        policy_deps.extend(&singles);
        if apim.strategy == Strategy::Pool {
            let services: Vec<Value> = backends
                .iter()
                .map(|b| json!({"id": format!("{apim_id}/backends/{}", b.name), "priority": b.priority, "weight": b.weight}))
                .collect();
            // A Pool is sent without url/protocol (see the official examples).
            let body = json!({"properties": {
                "type": "Pool",
                "description": "oai-lb pool of every OpenAI backend",
                "pool": {"services": services},
            }});
            let pool = s.add(
                Kind::Backend,
                format!("backend {POOL_ID} (pool)"),
                format!("{apim_id}/backends/{POOL_ID}"),
                body,
                Some(service),
                &singles,
            );
            policy_deps.push(pool);
        }

        let api_id = format!("{apim_id}/apis/{API_ID}");
        let doc = openapi::document(&apim.api_path);
        let body = json!({"properties": {
            "displayName": "Azure OpenAI (oai-lb)",
            "description": format!("Azure OpenAI inference API behind oai-lb (document {})", openapi::fingerprint(&doc)),
            "path": apim.api_path,
            "protocols": ["https"],
            "subscriptionRequired": true,
            "subscriptionKeyParameterNames": {"header": "api-key", "query": "api-key"},
            "format": "openapi+json",
            "value": doc,
        }});
        let api =
            s.add(Kind::Api, format!("API {API_ID} (/{})", apim.api_path), api_id.clone(), body, Some(service), &[]);
        policy_deps.push(api);
        let xml = policy::policy_xml(config)?;
        s.add(
            Kind::ApiPolicy,
            format!("policy of API {API_ID}"),
            format!("{api_id}/policies/policy"),
            json!({"properties": {"format": crate::policy::POLICY_FORMAT, "value": xml}}),
            Some(api),
            &policy_deps,
        );
        s.add(
            Kind::Subscription,
            format!("subscription {SUBSCRIPTION_ID}"),
            format!("{apim_id}/subscriptions/{SUBSCRIPTION_ID}"),
            json!({"properties": {"displayName": SUBSCRIPTION_ID, "scope": api_id, "state": "active"}}),
            Some(service),
            &[api],
        );
        Ok(Stack { resources: s.resources, backends, apim_id, api_path: apim.api_path.clone() })
    }

    /// The APIM service's ARM id.
    pub fn apim_id(&self) -> &str {
        &self.apim_id
    }

    /// The resources of one kind, in dependency order.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind == kind)
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

/// The OpenAI endpoints APIM balances over: the `[[openai]]` accounts deploy creates
/// (Entra auth through the identity) and the `[[backends]]` of the config.
fn gateway_backends(config: &Config) -> Vec<GatewayBackend> {
    let accounts = config.openai.iter().map(|a| GatewayBackend {
        name: a.name.clone(),
        url: format!("https://{}.openai.azure.com", a.name),
        priority: a.priority,
        weight: a.weight,
        auth: BackendAuth::Entra,
        key_named_value: None,
    });
    let endpoints = config.backends.iter().map(|b| GatewayBackend {
        name: b.name.clone(),
        url: b.url.trim_end_matches('/').to_string(),
        priority: b.priority,
        weight: b.weight,
        auth: b.auth,
        key_named_value: (b.auth == BackendAuth::ApiKey).then(|| format!("oai-lb-key-{}", b.name)),
    });
    accounts.chain(endpoints).collect()
}

struct Builder {
    resources: Vec<Resource>,
}

impl Builder {
    fn add(
        &mut self,
        kind: Kind,
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
            label,
            id,
            body,
            depends_on,
            parent,
            needs_identity: false,
            secret: false,
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
        Stack::from_config(&Config::parse(Path::new("t.toml"), &text).unwrap()).unwrap()
    }

    #[test]
    fn role_assignment_names_are_deterministic_per_principal() {
        let s = stack("policy");
        let role = s.of_kind(Kind::RoleAssignment).next().unwrap().clone();
        assert!(!role.resolved());
        let outputs =
            |p: &str| Outputs { principal_id: Some(p.into()), client_id: Some("c".into()), gateway_url: None };
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
        let index = |label: &str| s.resources.iter().position(|r| r.label == label).unwrap();
        let (a, b) = (index("model deployment east/a"), index("model deployment east/b"));
        assert!(s.resources[b].depends_on.contains(&a));
    }

    #[test]
    fn the_pool_is_sent_without_url_and_the_policy_targets_it() {
        let s = stack("pool");
        let pool = s.of_kind(Kind::Backend).find(|r| r.id().ends_with(POOL_ID)).unwrap();
        assert!(pool.body()["properties"].get("url").is_none());
        assert!(pool.body()["properties"].get("protocol").is_none());
        let policy = s.of_kind(Kind::ApiPolicy).next().unwrap();
        let xml = policy.body()["properties"]["value"].as_str().unwrap();
        assert!(xml.contains(&format!(r#"backend-id="{POOL_ID}""#)), "{xml}");
        assert_eq!(policy.id(), s.api_policy_id());
    }

    #[test]
    fn deploy_needs_azure_and_apim() {
        let config = Config::parse(Path::new("t.toml"), "").unwrap();
        let e = Stack::from_config(&config).unwrap_err().to_string();
        assert!(e.contains("[azure]") && e.contains("fix:"), "{e}");
    }
}
