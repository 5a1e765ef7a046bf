//! `[balancer.azure]`: the bodies of the Container Apps environment, the Azure Cache for
//! Redis and the container app that runs `oai-lb serve`, the config file the app mounts,
//! and the write-only secrets.
//!
//! ARM never returns a Container App's secret values nor the environment's workspace key,
//! so `deploy` cannot compare them. Each body carries the SHA-256 of its secrets in the
//! [`SECRETS_HASH_TAG`] tag, and the plan compares the tag. The app's hash covers the Redis
//! access key (random, 44 characters) with the other secrets, so the tag does not help
//! anyone guess a weak client key.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AzureError, Kind, Resource};
use crate::arm::ArmClient;
use crate::config::{BackendAuth, BackendConfig, BalancerAzureSection, Config, SharedStateSection};
use crate::names::{
    self, CLIENT_KEYS_SECRET, CONFIG_FILE_NAME, CONFIG_MOUNT_DIR, CONFIG_SECRET, REDIS_PASSWORD_ENV,
    REDIS_PASSWORD_SECRET, REDIS_TLS_PORT, SECRETS_HASH_TAG,
};

/// A secret read from ARM (a workspace's shared key, a cache's access key): `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> SecretString {
        SecretString(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A key read with a POST action once its resource exists.
#[derive(Debug, Clone)]
pub enum Keys {
    /// `POST {workspace}/sharedKeys`: the key the environment sends logs with.
    Workspace(SecretString),
    /// `POST {cache}/listKeys`: the key the replicas authenticate to Redis with.
    Redis(SecretString),
}

/// Reads the key of a workspace or cache the app or environment needs (`keys_needed`).
/// A cache still being created has no keys yet: `None`, and the app waits for it.
pub(super) async fn read_keys(
    client: &ArmClient,
    resource: &Resource,
    current: &Value,
) -> Result<Option<Keys>, AzureError> {
    if !resource.keys_needed {
        return Ok(None);
    }
    let state = current.pointer("/properties/provisioningState").and_then(Value::as_str);
    if state.is_some_and(|s| s != "Succeeded") {
        return Ok(None);
    }
    let (action, field) = match resource.kind {
        Kind::Workspace => ("sharedKeys", "primarySharedKey"),
        Kind::Redis => ("listKeys", "primaryKey"),
        _ => return Ok(None),
    };
    let what = format!("keys of {}", resource.label);
    let path = format!("{}/{action}", resource.id());
    let reply = client.post_json(&path, resource.kind.api_version(), None).await.map_err(AzureError::arm(&what))?;
    let key = reply.get(field).and_then(Value::as_str).filter(|k| !k.is_empty()).ok_or_else(|| {
        AzureError::Unexpected { what: what.clone(), problem: format!("{action} returned no {field}") }
    })?;
    let key = SecretString::new(key);
    Ok(Some(if resource.kind == Kind::Redis { Keys::Redis(key) } else { Keys::Workspace(key) }))
}

/// Container Apps makes no new revision when only secrets change, and running replicas
/// keep the old values until their revision restarts: an update whose only revision-scope
/// change is the secrets restarts the latest revision (a template change starts a new one).
pub(super) fn needs_restart(kind: Kind, fields: &[String]) -> bool {
    kind == Kind::ContainerApp
        && fields.iter().any(|f| f == &format!("tags.{SECRETS_HASH_TAG}"))
        && !fields.iter().any(|f| f.starts_with("properties.template"))
}

/// `POST {app}/revisions/{latest}/restart`.
pub(super) async fn restart_revision(client: &ArmClient, app: &Resource, written: &Value) -> Result<(), AzureError> {
    let Some(revision) = written.pointer("/properties/latestRevisionName").and_then(Value::as_str) else {
        return Ok(()); // no revision yet: the one being made reads the new secrets
    };
    let what = format!("restart of revision {revision} of {}", app.label);
    let path = format!("{}/revisions/{revision}/restart", app.id());
    client.post_json(&path, app.kind.api_version(), None).await.map_err(AzureError::arm(&what))?;
    Ok(())
}

/// The environment: Consumption workload profile, logs to the Log Analytics workspace
/// (its customer id and shared key are filled in once the workspace is read).
pub(super) fn environment_body(location: &str, tags: Value) -> Value {
    json!({
        "location": location,
        "tags": tags,
        "properties": {
            "appLogsConfiguration": {
                "destination": "log-analytics",
                "logAnalyticsConfiguration": {"customerId": "", "sharedKey": ""},
            },
            "workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}],
        },
    })
}

/// The cache: TLS only (port 6380, TLS 1.2 and later), the configured SKU.
pub(super) fn redis_body(location: &str, tags: Value, section: &BalancerAzureSection) -> Value {
    let family = if section.redis_sku == "Premium" { "P" } else { "C" };
    json!({
        "location": location,
        "tags": tags,
        "properties": {
            "sku": {"name": section.redis_sku, "family": family, "capacity": section.redis_capacity},
            "enableNonSslPort": false,
            "minimumTlsVersion": "1.2",
            "publicNetworkAccess": "Enabled",
        },
    })
}

/// What the app's body is made of.
pub(super) struct AppSpec<'a> {
    pub config: &'a Config,
    pub section: &'a BalancerAzureSection,
    pub location: &'a str,
    pub tags: Value,
    pub environment_id: &'a str,
    pub identity_id: &'a str,
    pub cache: &'a str,
    /// The client keys, when the command read them.
    pub client_keys: Option<&'a str>,
    /// Each `api-key` backend's (variable, key when read).
    pub backend_keys: Vec<(String, String, Option<String>)>,
}

/// The container app: `oai-lb serve` (the image's entry point) with the config file as a
/// secret volume, every secret as a Container App secret named by an environment variable,
/// the stack's identity for Entra backends, external ingress on serve's port and an HTTP
/// scale rule on concurrent requests. The identity's client id and the Redis key are filled
/// in by [`Resource::resolve`].
pub(super) fn app_body(spec: AppSpec<'_>) -> Result<Value, AzureError> {
    let section = spec.section;
    let client_keys_env = spec.config.balancer.client_keys_env.clone().unwrap_or_default();
    let port = spec.config.listen_addr().port();
    let config_text = container_config(spec.config, spec.cache)?;
    let secret = |name: &str, value: Option<&str>| match value {
        Some(v) => json!({"name": name, "value": v}),
        None => json!({"name": name}),
    };
    let mut secrets = vec![
        secret(CONFIG_SECRET, Some(&config_text)),
        secret(CLIENT_KEYS_SECRET, spec.client_keys),
        secret(REDIS_PASSWORD_SECRET, Some("")),
    ];
    let mut env = vec![
        json!({"name": "OAI_LB_CONFIG", "value": format!("{CONFIG_MOUNT_DIR}/{CONFIG_FILE_NAME}")}),
        json!({"name": "OAI_LB_CREDENTIAL", "value": "managed-identity"}),
        // Which of the app's identities ManagedIdentityCredential asks for.
        json!({"name": "AZURE_CLIENT_ID", "value": ""}),
        json!({"name": "OAI_LB_LOG_FORMAT", "value": "json"}),
        json!({"name": client_keys_env, "secretRef": CLIENT_KEYS_SECRET}),
        json!({"name": REDIS_PASSWORD_ENV, "secretRef": REDIS_PASSWORD_SECRET}),
    ];
    for (var, backend, key) in &spec.backend_keys {
        let name = names::backend_key_secret(backend);
        secrets.push(secret(&name, key.as_deref()));
        env.push(json!({"name": var, "secretRef": name}));
    }
    let mut configuration = json!({
        "activeRevisionsMode": "Single",
        "ingress": {"external": true, "targetPort": port, "transport": "auto", "allowInsecure": false},
        "secrets": secrets,
    });
    if let Some(server) = &section.registry {
        configuration["registries"] = json!([{"server": server, "identity": spec.identity_id}]);
    }
    let container = json!({
        "name": "oai-lb",
        "image": section.image,
        "env": env,
        "resources": {"cpu": section.cpu, "memory": section.memory},
        "volumeMounts": [{"volumeName": "config", "mountPath": CONFIG_MOUNT_DIR}],
        // Ready only once the config is loaded and Redis was reached (or declared degraded).
        "probes": [
            {"type": "Liveness", "httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10},
            {"type": "Readiness", "httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 5},
        ],
    });
    Ok(json!({
        "location": spec.location,
        "tags": spec.tags,
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {spec.identity_id: {}}},
        "properties": {
            "environmentId": spec.environment_id,
            "configuration": configuration,
            "template": {
                "containers": [container],
                "scale": {
                    "minReplicas": section.min_replicas,
                    "maxReplicas": section.max_replicas,
                    "rules": [{
                        "name": "concurrent-requests",
                        "http": {"metadata": {"concurrentRequests": section.concurrent_requests.to_string()}},
                    }],
                },
                "volumes": [{
                    "name": "config",
                    "storageType": "Secret",
                    "secrets": [{"secretRef": CONFIG_SECRET, "path": CONFIG_FILE_NAME}],
                }],
            },
        },
    }))
}

/// The `oai-lb.toml` the app mounts: the balancer part of the config, listening on every
/// address of the container (same port), with the `[[openai]]` accounts as Entra backends
/// (the identity has OpenAI User on them) and `[balancer.shared_state]` on the cache over
/// TLS. The Azure sections stay out: serve does not read them.
pub fn container_config(config: &Config, cache: &str) -> Result<String, AzureError> {
    let mut c = config.clone();
    let accounts = config.openai.iter().map(|a| BackendConfig {
        name: a.name.clone(),
        url: names::account_endpoint(&a.name),
        priority: a.priority,
        weight: a.weight,
        auth: BackendAuth::Entra,
        api_key_env: None,
        deployments: a.deployments.iter().map(|d| d.name.clone()).collect(),
    });
    c.backends = accounts.chain(config.backends.iter().cloned()).collect();
    (c.azure, c.apim, c.monitoring, c.balancer.azure) = (None, None, None, None);
    c.openai.clear();
    c.balancer.listen = format!("0.0.0.0:{}", config.listen_addr().port());
    let key_prefix =
        config.balancer.shared_state.as_ref().map_or_else(|| "oai-lb".to_string(), |s| s.key_prefix.clone());
    c.balancer.shared_state = Some(SharedStateSection {
        url: format!("rediss://{}:{REDIS_TLS_PORT}", names::redis_host(cache)),
        key_prefix,
        password_env: Some(REDIS_PASSWORD_ENV.into()),
    });
    toml::to_string(&c)
        .map_err(|e| AzureError::Unexpected { what: "the container's oai-lb.toml".into(), problem: e.to_string() })
}

/// Puts the Redis key into the app's secret.
pub(super) fn set_redis_key(body: &mut Value, key: &str) {
    if let Some(secrets) = body.pointer_mut("/properties/configuration/secrets").and_then(Value::as_array_mut) {
        for s in secrets.iter_mut().filter(|s| s["name"] == REDIS_PASSWORD_SECRET) {
            s["value"] = json!(key);
        }
    }
}

/// Puts the identity's client id into the app's `AZURE_CLIENT_ID`.
pub(super) fn set_client_id(body: &mut Value, client_id: &str) {
    if let Some(containers) = body.pointer_mut("/properties/template/containers").and_then(Value::as_array_mut) {
        for env in containers.iter_mut().filter_map(|c| c.get_mut("env").and_then(Value::as_array_mut)) {
            for e in env.iter_mut().filter(|e| e["name"] == "AZURE_CLIENT_ID") {
                e["value"] = json!(client_id);
            }
        }
    }
}

/// Sets (or, while a secret is unknown, removes) the [`SECRETS_HASH_TAG`] of an app or an
/// environment from its write-only secrets.
pub(super) fn seal(kind: Kind, body: &mut Value) {
    let secrets: Vec<(String, Option<String>)> = match kind {
        Kind::ContainerApp => body
            .pointer("/properties/configuration/secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| (s["name"].as_str().unwrap_or("").to_string(), s["value"].as_str().map(str::to_string)))
            .collect(),
        Kind::ManagedEnvironment => {
            let key = body.pointer("/properties/appLogsConfiguration/logAnalyticsConfiguration/sharedKey");
            vec![("sharedKey".into(), key.and_then(Value::as_str).map(str::to_string))]
        }
        _ => return,
    };
    let known = secrets.iter().all(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()));
    let Some(tags) = body.get_mut("tags").and_then(Value::as_object_mut) else { return };
    if !known {
        tags.remove(SECRETS_HASH_TAG);
        return;
    }
    let mut hash = Sha256::new();
    for (name, value) in &secrets {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(value.as_deref().unwrap_or_default().as_bytes());
        hash.update([0]);
    }
    tags.insert(SECRETS_HASH_TAG.into(), json!(format!("sha256:{:x}", hash.finalize())));
}

/// The body without its secret values: what the plan compares (with the hash tag) and
/// what is safe to show.
pub(super) fn without_secret_values(kind: Kind, body: &Value) -> Value {
    let mut body = body.clone();
    match kind {
        Kind::ContainerApp => {
            if let Some(secrets) = body.pointer_mut("/properties/configuration/secrets").and_then(Value::as_array_mut) {
                for s in secrets.iter_mut().filter_map(Value::as_object_mut) {
                    s.remove("value");
                }
            }
        }
        Kind::ManagedEnvironment => {
            if let Some(la) = body
                .pointer_mut("/properties/appLogsConfiguration/logAnalyticsConfiguration")
                .and_then(Value::as_object_mut)
            {
                la.remove("sharedKey");
            }
        }
        _ => {}
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        Config::parse(
            Path::new("t.toml"),
            r#"
[balancer]
listen = "127.0.0.1:9000"
client_keys_env = "KEYS"
[balancer.azure]
image = "ghcr.io/contoso/oai-lb:1"
[[backends]]
name = "west"
url = "https://west.openai.azure.com"
auth = "api-key"
api_key_env = "WEST_KEY"
[[openai]]
name = "contoso-east"
location = "eastus"
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "1" }]
"#,
        )
        .unwrap()
    }

    #[test]
    fn the_container_config_serves_every_backend_on_all_addresses_with_redis_over_tls() {
        let text = container_config(&config(), "apim-redis").unwrap();
        let parsed = Config::parse(Path::new("container.toml"), &text).expect("the container's config is valid");
        assert_eq!(parsed.balancer.listen, "0.0.0.0:9000");
        assert_eq!(parsed.balancer.client_keys_env.as_deref(), Some("KEYS"));
        assert!(parsed.balancer.azure.is_none() && parsed.azure.is_none() && parsed.openai.is_empty());
        let names: Vec<_> = parsed.backends.iter().map(|b| (b.name.as_str(), b.auth)).collect();
        assert_eq!(names, [("contoso-east", BackendAuth::Entra), ("west", BackendAuth::ApiKey)]);
        let shared = parsed.balancer.shared_state.unwrap();
        assert_eq!(shared.url, "rediss://apim-redis.redis.cache.windows.net:6380");
        assert_eq!(shared.password_env.as_deref(), Some(REDIS_PASSWORD_ENV));
    }

    #[test]
    fn the_hash_changes_with_any_secret_and_is_absent_while_one_is_unknown() {
        let c = config();
        let spec = |keys: Option<&'static str>| AppSpec {
            config: &c,
            section: c.balancer.azure.as_ref().unwrap(),
            location: "eastus",
            tags: json!({"managed-by": "oai-lb"}),
            environment_id: "/env",
            identity_id: "/id",
            cache: "apim-redis",
            client_keys: keys,
            backend_keys: vec![("WEST_KEY".into(), "west".into(), Some("k".into()))],
        };
        let sealed = |keys, redis: &str| {
            let mut body = app_body(spec(keys)).unwrap();
            set_redis_key(&mut body, redis);
            seal(Kind::ContainerApp, &mut body);
            body["tags"].get(SECRETS_HASH_TAG).cloned()
        };
        let a = sealed(Some("c1"), "r").expect("all known");
        assert_ne!(Some(a.clone()), sealed(Some("c2"), "r"));
        assert_ne!(Some(a.clone()), sealed(Some("c1"), "r2"));
        assert_eq!(Some(a.clone()), sealed(Some("c1"), "r"));
        assert_eq!(sealed(None, "r"), None, "an unknown client key: not compared");
        assert!(!a.to_string().contains("c1"));
        let shown = without_secret_values(Kind::ContainerApp, &app_body(spec(Some("c1"))).unwrap());
        assert!(!shown.to_string().contains("\"c1\""), "{shown}");
    }
}
