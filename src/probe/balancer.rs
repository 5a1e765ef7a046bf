//! The part of oai-lb's `/lb/backends` document the probe shows: priority and cooldowns.

use serde::Deserialize;

use super::Auth;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LbBackend {
    pub name: String,
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub cooldowns: Vec<Cooldown>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Cooldown {
    #[serde(default)]
    pub deployment: String,
    pub seconds_left: f64,
}

#[derive(Deserialize)]
struct Document {
    backends: Vec<LbBackend>,
}

/// The balancer's backends, or `None` when the target does not answer `/lb/backends` the
/// way oai-lb does (an APIM gateway, a single endpoint).
pub async fn backends(client: &reqwest::Client, target: &str, auth: &Auth) -> Option<Vec<LbBackend>> {
    let url = format!("{}/lb/backends", target.trim_end_matches('/'));
    let resp = auth.apply(client.get(url)).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<Document>().await.ok().map(|d| d.backends)
}
