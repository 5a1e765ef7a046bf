//! `[balancer.azure]`: `deploy` also runs `oai-lb serve` on Azure Container Apps, with an
//! Azure Cache for Redis for the replicas' shared cooldowns. What the section holds and
//! what it must satisfy; the resources themselves are `src/azure/container_apps.rs`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// The Azure Cache for Redis SKUs (`Microsoft.Cache/redis` `sku.name`).
pub const REDIS_SKUS: &[&str] = &["Basic", "Standard", "Premium"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerAzureSection {
    /// The image that runs `oai-lb serve`, e.g. `ghcr.io/contoso/oai-lb:1.4.0`.
    pub image: String,
    /// The container app's name (default `{apim name}-lb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A private registry (e.g. `contoso.azurecr.io`) the image is pulled from with the
    /// stack's managed identity (it needs AcrPull there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default = "one")]
    pub min_replicas: u32,
    #[serde(default = "ten")]
    pub max_replicas: u32,
    /// Concurrent requests per replica above which Container Apps adds a replica.
    #[serde(default = "default_concurrent_requests")]
    pub concurrent_requests: u32,
    /// CPU cores per replica (Consumption: 0.25 steps, with memory = 2 × cores Gi).
    #[serde(default = "default_cpu")]
    pub cpu: f64,
    #[serde(default = "default_memory")]
    pub memory: String,
    /// Azure Cache for Redis SKU: Basic, Standard (replicated) or Premium.
    #[serde(default = "default_redis_sku")]
    pub redis_sku: String,
    /// Cache size: 0-6 for Basic/Standard (C0-C6), 1-5 for Premium (P1-P5).
    #[serde(default)]
    pub redis_capacity: u32,
}

fn one() -> u32 {
    1
}
fn ten() -> u32 {
    10
}
fn default_concurrent_requests() -> u32 {
    50
}
fn default_cpu() -> f64 {
    0.5
}
fn default_memory() -> String {
    "1Gi".into()
}
fn default_redis_sku() -> String {
    "Basic".into()
}

/// Checks `[balancer.azure]` against the rest of the config.
pub(super) fn validate(path: &Path, config: &Config, a: &BalancerAzureSection) -> Result<(), ConfigError> {
    let err = |key: &str, problem: String, fix: &str| Err(ConfigError::new(path, key, problem, fix));
    // The app's ingress is public: serve must refuse requests without a client key.
    if config.balancer.client_keys_env.is_none() {
        return err(
            "balancer.client_keys_env",
            "[balancer.azure] serves on a public URL, which needs client keys".into(),
            "add client_keys_env = \"OAI_LB_CLIENT_KEYS\" under [balancer] and export the keys (comma-separated)",
        );
    }
    if a.image.trim().is_empty() || a.image.chars().any(char::is_whitespace) {
        return err(
            "balancer.azure.image",
            format!("`{}` is not an image reference", a.image),
            "e.g. image = \"ghcr.io/contoso/oai-lb:1.4.0\"",
        );
    }
    if let Some(name) = &a.name
        && !is_container_app_name(name)
    {
        return err(
            "balancer.azure.name",
            format!("`{name}` is not a Container App name"),
            "use 2-32 lower-case letters, digits and '-', starting with a letter",
        );
    }
    if a.max_replicas == 0 || a.max_replicas > 1000 || a.min_replicas > a.max_replicas {
        return err(
            "balancer.azure.max_replicas",
            format!("min_replicas {} / max_replicas {} are out of range", a.min_replicas, a.max_replicas),
            "use 0 <= min_replicas <= max_replicas, with max_replicas between 1 and 1000",
        );
    }
    if a.concurrent_requests == 0 {
        return err("balancer.azure.concurrent_requests", "must be above 0".into(), "e.g. concurrent_requests = 50");
    }
    if !(a.cpu.is_finite() && a.cpu > 0.0 && a.cpu <= 4.0) {
        return err(
            "balancer.azure.cpu",
            format!("{} cores is out of range", a.cpu),
            "e.g. cpu = 0.5 with memory = \"1Gi\"",
        );
    }
    if !REDIS_SKUS.contains(&a.redis_sku.as_str()) {
        return err(
            "balancer.azure.redis_sku",
            format!("`{}` is not an Azure Cache for Redis SKU", a.redis_sku),
            "use Basic, Standard or Premium",
        );
    }
    let sizes = if a.redis_sku == "Premium" { 1..=5 } else { 0..=6 };
    if !sizes.contains(&a.redis_capacity) {
        return err(
            "balancer.azure.redis_capacity",
            format!("{} is not a {} size", a.redis_capacity, a.redis_sku),
            "use 0-6 for Basic/Standard (C0-C6) or 1-5 for Premium (P1-P5)",
        );
    }
    Ok(())
}

/// Container Apps' naming rule: 2-32 lower-case letters, digits and `-`, starting with a
/// letter, not ending with `-`, no `--`.
pub fn is_container_app_name(name: &str) -> bool {
    (2..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `deploy` writes the client keys into the container app: their variable must be set.
pub fn check_deploy_env(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let (Some(_), Some(var)) = (&config.balancer.azure, &config.balancer.client_keys_env) else { return Ok(()) };
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(ConfigError::new(
            path,
            "balancer.client_keys_env",
            format!("environment variable {var} is not set; deploy stores the client keys in the container app"),
            format!("export {var}=KEY1,KEY2"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(section: &str) -> Result<Config, ConfigError> {
        let text = format!("[balancer]\nclient_keys_env = \"K\"\n[balancer.azure]\nimage = \"i:1\"\n{section}");
        Config::parse(Path::new("t.toml"), &text)
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let a = parse("").unwrap().balancer.azure.unwrap();
        assert_eq!((a.min_replicas, a.max_replicas, a.concurrent_requests), (1, 10, 50));
        for (section, key) in [
            ("min_replicas = 5\nmax_replicas = 2", "balancer.azure.max_replicas"),
            ("redis_sku = \"Enterprise\"", "balancer.azure.redis_sku"),
            ("redis_sku = \"Premium\"\nredis_capacity = 0", "balancer.azure.redis_capacity"),
            ("name = \"Bad_Name\"", "balancer.azure.name"),
            ("concurrent_requests = 0", "balancer.azure.concurrent_requests"),
            ("cpu = 0.0", "balancer.azure.cpu"),
        ] {
            let e = parse(section).unwrap_err();
            assert_eq!(e.key, key, "{section}: {e}");
            assert!(!e.fix.is_empty(), "{e}");
        }
        let e = Config::parse(Path::new("t.toml"), "[balancer.azure]\nimage = \"i:1\"\n").unwrap_err();
        assert_eq!(e.key, "balancer.client_keys_env");
        assert!(e.to_string().contains("fix: add client_keys_env"), "{e}");
    }
}
