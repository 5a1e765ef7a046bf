//! The active configuration: everything a request needs that comes from the config, built
//! once per config version, with its secrets already resolved.
//!
//! A reload builds a new [`ActiveConfig`] and swaps it in atomically; requests in flight keep the
//! one they started with. Backends whose name and URL are unchanged keep their cooldowns,
//! counters and Entra token across the swap.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use super::Secrets;
use super::auth::{BackendAuth, ClientKeys, EntraTiming, EntraToken};
use super::metrics::BackendStats;
use crate::config::{self, AllThrottled, Config, StreamUsage};
use crate::credential::{Credential, CredentialKind};
use crate::lb::refill::Refills;
use crate::lb::{self, Balancer};

/// Request-path settings from `[balancer]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub all_throttled: AllThrottled,
    pub default_cooldown: Duration,
    pub max_body_bytes: usize,
    pub response_timeout: Duration,
    /// A client must send its whole body within this.
    pub body_timeout: Duration,
    /// The deadline for a response head, across every attempt of a request.
    pub request_timeout: Duration,
    /// `None` when proactive routing is off.
    pub proactive: Option<Proactive>,
    pub stream_usage: StreamUsage,
}

pub use crate::lb::refill::Policy as Proactive;

/// One backend as the proxy calls it.
pub struct Upstream {
    /// The `x-oai-lb-backend` value, built once.
    pub name_header: HeaderValue,
    pub url: String,
    scheme: Scheme,
    authority: Authority,
    /// Path prefix of the backend URL without a trailing slash (usually empty).
    prefix: String,
    pub auth: BackendAuth,
}

impl Upstream {
    /// The request target for a client's path and query, in origin form (the backend's
    /// path prefix, then the client's path and query): what goes on the request line.
    pub fn origin_form(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        match path_and_query {
            Some(pq) if self.prefix.is_empty() => Ok(Uri::from(pq.clone())),
            Some(pq) => Ok(Uri::try_from(format!("{}{pq}", self.prefix))?),
            None if self.prefix.is_empty() => Ok(Uri::from_static("/")),
            None => Ok(Uri::try_from(format!("{}/", self.prefix))?),
        }
    }

    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }
}

/// The config-derived state shared by every request.
pub struct ActiveConfig {
    pub balancer: Balancer,
    pub upstreams: Vec<Upstream>,
    pub stats: Vec<Arc<BackendStats>>,
    /// Proactive routing's learned refill per backend (kept across reloads like `stats`).
    pub refills: Vec<Arc<Refills>>,
    pub settings: Settings,
    pub client_keys: ClientKeys,
    entra: Option<Arc<EntraToken>>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("backends[{index}].url: {problem}")]
    Url { index: usize, problem: String },
    #[error("backends[{index}].api_key_env: environment variable {var} is not set or not a valid header value")]
    ApiKey { index: usize, var: String },
    #[error("backends[{index}].auth = \"entra\": {0}", index = .1)]
    Entra(crate::credential::CredentialError, usize),
    #[error("balancer.client_keys_env: environment variable {0} is empty")]
    ClientKeys(String),
}

impl ActiveConfig {
    /// Builds the active config for `config`, carrying state over from `previous` where the
    /// backend is unchanged. Secrets named in the config (backend keys, client keys) are
    /// looked up through `secrets`; this module never reads the environment itself.
    pub fn build(
        config: &Config,
        previous: Option<&ActiveConfig>,
        secrets: &Secrets,
        credential: CredentialKind,
        entra_timing: EntraTiming,
    ) -> Result<ActiveConfig, BuildError> {
        let mut entra = previous.and_then(|p| p.entra.clone());
        let mut upstreams = Vec::with_capacity(config.backends.len());
        for (index, backend) in config.backends.iter().enumerate() {
            let uri =
                config::validate_backend_url(&backend.url).map_err(|problem| BuildError::Url { index, problem })?;
            let parts = uri.into_parts();
            let auth = match backend.auth {
                config::BackendAuth::None => BackendAuth::PassThrough,
                config::BackendAuth::ApiKey => {
                    let var = backend.api_key_env.clone().unwrap_or_default();
                    let mut key = secrets
                        .get(&var)
                        .and_then(|k| HeaderValue::try_from(k.trim()).ok())
                        .filter(|k| !k.is_empty())
                        .ok_or(BuildError::ApiKey { index, var })?;
                    key.set_sensitive(true);
                    BackendAuth::ApiKey(key)
                }
                config::BackendAuth::Entra => {
                    let token = match &entra {
                        Some(token) => Arc::clone(token),
                        None => {
                            let credential = Credential::new(credential).map_err(|e| BuildError::Entra(e, index))?;
                            let token = EntraToken::new(credential, entra_timing);
                            entra = Some(Arc::clone(&token));
                            token
                        }
                    };
                    BackendAuth::Entra(token)
                }
            };
            upstreams.push(Upstream {
                name_header: HeaderValue::try_from(backend.name.as_str()).expect("names are validated as header-safe"),
                url: backend.url.clone(),
                scheme: parts.scheme.expect("validated: has a scheme"),
                authority: parts.authority.expect("validated: has a host"),
                prefix: parts.path_and_query.map(|pq| pq.path().trim_end_matches('/').to_string()).unwrap_or_default(),
                auth,
            });
        }

        let mut balancer = Balancer::new(
            config
                .backends
                .iter()
                .map(|b| lb::Backend {
                    name: b.name.clone(),
                    priority: b.priority,
                    weight: b.weight,
                    deployments: b.deployments.clone(),
                })
                .collect(),
        )
        .with_max_cooldown(Duration::from_secs_f64(config.balancer.max_cooldown_secs));
        let mut stats = Vec::with_capacity(config.backends.len());
        let mut refills = Vec::with_capacity(config.backends.len());
        for (index, backend) in config.backends.iter().enumerate() {
            let kept = previous.and_then(|p| {
                let old = p.balancer.index_of(&backend.name)?;
                (p.upstreams[old].url == backend.url).then_some(old)
            });
            match (previous, kept) {
                (Some(p), Some(old)) => {
                    // The same table, not a copy: a cooldown started on the old version
                    // after this point is seen by the new one too.
                    balancer.share_cooldowns(index, p.balancer.cooldowns_arc(old));
                    stats.push(Arc::clone(&p.stats[old]));
                    refills.push(Arc::clone(&p.refills[old]));
                }
                _ => {
                    stats.push(Arc::new(BackendStats::default()));
                    refills.push(Arc::new(Refills::default()));
                }
            }
            stats[index].set_info(backend.priority, backend.weight);
        }

        let client_keys = match &config.balancer.client_keys_env {
            Some(var) => {
                let keys = ClientKeys::parse(&secrets.get(var).unwrap_or_default());
                if keys.is_empty() {
                    return Err(BuildError::ClientKeys(var.clone()));
                }
                keys
            }
            None => ClientKeys::default(),
        };
        let b = &config.balancer;
        let settings = Settings {
            all_throttled: b.all_throttled,
            default_cooldown: Duration::from_secs_f64(b.default_cooldown_secs),
            max_body_bytes: b.max_body_bytes,
            response_timeout: Duration::from_secs_f64(b.response_timeout_secs),
            body_timeout: Duration::from_secs_f64(b.client_body_timeout_secs),
            request_timeout: Duration::from_secs_f64(b.request_timeout_secs),
            proactive: b.proactive.enabled.then(|| Proactive {
                remaining_requests_floor: b.proactive.remaining_requests_floor,
                fallback_cooldown: Duration::from_secs_f64(b.proactive.default_cooldown_secs),
                adaptive: b.proactive.adaptive,
            }),
            stream_usage: b.stream_usage,
        };
        Ok(ActiveConfig { balancer, upstreams, stats, refills, settings, client_keys, entra })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("t.toml"), text).unwrap()
    }

    #[test]
    fn uri_keeps_path_and_query_and_prefix() {
        let rt = ActiveConfig::build(
            &config("[[backends]]\nname='a'\nurl='http://127.0.0.1:1'\n[[backends]]\nname='b'\nurl='https://apim.example/gw/'\n"),
            None,
            &Secrets::default(),
            CredentialKind::Auto,
            EntraTiming::default(),
        )
        .unwrap();
        let pq: PathAndQuery = "/openai/deployments/x/chat/completions?api-version=2024-10-21".parse().unwrap();
        assert_eq!(
            rt.upstreams[0].origin_form(Some(&pq)).unwrap().to_string(),
            "/openai/deployments/x/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            rt.upstreams[1].origin_form(Some(&pq)).unwrap().to_string(),
            "/gw/openai/deployments/x/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(rt.upstreams[1].origin_form(None).unwrap().to_string(), "/gw/");
        assert_eq!(rt.upstreams[1].authority().as_str(), "apim.example");
    }

    #[test]
    fn reload_keeps_state_of_unchanged_backends_only() {
        let now = Instant::now();
        let old = ActiveConfig::build(
            &config(
                "[[backends]]\nname='a'\nurl='http://127.0.0.1:1'\n[[backends]]\nname='b'\nurl='http://127.0.0.1:2'\n",
            ),
            None,
            &Secrets::default(),
            CredentialKind::Auto,
            EntraTiming::default(),
        )
        .unwrap();
        old.balancer.start_cooldown(0, "d", Duration::from_secs(30), now);
        old.balancer.start_cooldown(1, "d", Duration::from_secs(30), now);
        let new = ActiveConfig::build(
            &config(
                "[[backends]]\nname='b'\nurl='http://127.0.0.1:3'\n[[backends]]\nname='a'\nurl='http://127.0.0.1:1'\n",
            ),
            Some(&old),
            &Secrets::default(),
            CredentialKind::Auto,
            EntraTiming::default(),
        )
        .unwrap();
        assert!(new.balancer.cooldowns(1).cooling_until("d", now).is_some(), "a is unchanged: keeps its cooldown");
        assert!(new.balancer.cooldowns(0).cooling_until("d", now).is_none(), "b moved to a new URL: starts fresh");
        assert!(Arc::ptr_eq(&new.stats[1], &old.stats[0]));
        old.balancer.start_cooldown(0, "late", Duration::from_secs(30), now);
        assert!(
            new.balancer.cooldowns(1).cooling_until("late", now).is_some(),
            "a cooldown started on the old version after the build is not lost"
        );
    }
}
