//! `oai-lb probe`: drives chat-completions traffic at any OpenAI-compatible endpoint (oai-lb,
//! an APIM gateway, one Azure OpenAI endpoint) and attributes every answer to the backend
//! that gave it. The driver records [`stats::Outcome`]s; [`view`] renders them.

pub mod balancer;
pub mod stats;
pub mod view;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use tokio::sync::watch;
use tokio::task::JoinSet;

use stats::{Outcome, Stats};

/// Response headers that name the backend, in the order they are trusted: oai-lb's, then
/// those the APIM policy sets.
const BACKEND_HEADERS: [&str; 3] = ["x-oai-lb-backend", "x-openai-backend-id", "x-openai-backendurl"];

/// How long a concurrency worker waits after a request that got no response.
const NO_RESPONSE_PAUSE: Duration = Duration::from_millis(100);

/// How the probe authenticates to the target.
#[derive(Clone)]
pub enum Auth {
    None,
    ApiKey(String),
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    /// Never shows the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::ApiKey(_) => "Auth::ApiKey(***)",
            Auth::Bearer(_) => "Auth::Bearer(***)",
        })
    }
}

impl Auth {
    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::ApiKey(key) => req.header("api-key", key),
            Auth::Bearer(token) => req.bearer_auth(token),
        }
    }
}

/// How much traffic to offer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// A fixed arrival rate, whatever the latency.
    Rps(f64),
    /// This many requests in flight at all times.
    Concurrency(usize),
}

#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    pub deployment: String,
    pub api_version: String,
    pub load: Load,
    pub stream: bool,
    pub auth: Auth,
    /// Per-request timeout.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("--target {url} is not a usable URL ({reason}); pass e.g. http://127.0.0.1:8080")]
    Target { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A configured traffic driver.
#[derive(Clone, Debug)]
pub struct Probe {
    client: reqwest::Client,
    url: String,
    body: serde_json::Value,
    opts: ProbeOptions,
    target_name: String,
}

impl Probe {
    pub fn new(opts: ProbeOptions) -> Result<Probe, ProbeError> {
        let parsed = reqwest::Url::parse(&opts.target)
            .map_err(|e| ProbeError::Target { url: opts.target.clone(), reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ProbeError::Target { url: opts.target.clone(), reason: "not an http(s) URL".into() });
        }
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| ProbeError::Client(e.to_string()))?;
        let base = opts.target.trim_end_matches('/');
        let url =
            format!("{base}/openai/deployments/{}/chat/completions?api-version={}", opts.deployment, opts.api_version);
        let body = serde_json::json!({
            "messages": [
                { "role": "system", "content": "You are a load probe. Answer briefly." },
                { "role": "user", "content": "Say hello." }
            ],
            "max_tokens": 16,
            "stream": opts.stream,
        });
        let mut body = body;
        if opts.stream {
            // Streams report their tokens only when asked to.
            body["stream_options"] = serde_json::json!({ "include_usage": true });
        }
        let target_name = parsed.host_str().map_or_else(
            || opts.target.clone(),
            |h| match parsed.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            },
        );
        Ok(Probe { client, url, body, opts, target_name })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn options(&self) -> &ProbeOptions {
        &self.opts
    }

    /// Offers traffic until `stop` turns true, recording every outcome into `stats`, then
    /// waits for the requests in flight.
    pub async fn run(&self, stats: Arc<Mutex<Stats>>, mut stop: watch::Receiver<bool>) {
        let mut inflight = JoinSet::new();
        match self.opts.load {
            Load::Concurrency(n) => {
                for _ in 0..n.max(1) {
                    let probe = self.clone();
                    let stats = stats.clone();
                    let stop = stop.clone();
                    inflight.spawn(async move {
                        while !*stop.borrow() {
                            let outcome = probe.one().await;
                            lock(&stats).record(&outcome);
                            if outcome.status.is_none() {
                                // A target that does not answer is not hammered in a tight loop.
                                tokio::time::sleep(NO_RESPONSE_PAUSE).await;
                            }
                        }
                    });
                }
            }
            Load::Rps(rps) => {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rps.max(0.001)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let probe = self.clone();
                            let stats = stats.clone();
                            inflight.spawn(async move {
                                let outcome = probe.one().await;
                                lock(&stats).record(&outcome);
                            });
                            while inflight.try_join_next().is_some() {}
                        }
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
        }
        while inflight.join_next().await.is_some() {}
    }

    /// Sends one request and reads its whole body.
    async fn one(&self) -> Outcome {
        let started = Instant::now();
        // Ask an APIM gateway to name the backend, as it does only for callers that ask.
        let req = self.client.post(&self.url).header(crate::policy::SHOW_BACKEND_HEADER, "1");
        let req = self.opts.auth.apply(req.json(&self.body));
        match req.send().await {
            Err(_) => Outcome {
                backend: self.target_name.clone(),
                status: None,
                complete: false,
                latency: started.elapsed(),
                tokens: 0,
            },
            Ok(resp) => {
                let backend = backend_of(resp.headers()).unwrap_or_else(|| self.target_name.clone());
                let status = resp.status().as_u16();
                let body = resp.bytes().await;
                let complete = body.is_ok();
                let mut usage = crate::proxy::UsageScanner::default();
                if let Ok(body) = &body {
                    usage.feed(body);
                }
                let tokens = usage.usage().map_or(0, |u| u.prompt + u.completion);
                Outcome { backend, status: Some(status), complete, latency: started.elapsed(), tokens }
            }
        }
    }

    /// The name the summary uses for answers that name no backend.
    pub fn target_name(&self) -> &str {
        &self.target_name
    }
}

/// The backend named by the response headers; a backend URL is shortened to its host.
fn backend_of(headers: &HeaderMap) -> Option<String> {
    BACKEND_HEADERS.iter().find_map(|h| {
        let value = headers.get(*h)?.to_str().ok()?.trim();
        if value.is_empty() {
            return None;
        }
        Some(match reqwest::Url::parse(value) {
            Ok(url) if url.host_str().is_some() => url.host_str().unwrap_or(value).to_string(),
            _ => value.to_string(),
        })
    })
}

/// Locks the shared stats; a panicked recorder leaves counts that are still worth showing.
pub fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_comes_from_oai_lb_then_apim_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(backend_of(&h), None);
        h.insert("x-openai-backendurl", "https://contoso-east.openai.azure.com/openai".parse().unwrap());
        assert_eq!(backend_of(&h).as_deref(), Some("contoso-east.openai.azure.com"));
        h.insert("x-openai-backend-id", "east-ptu".parse().unwrap());
        assert_eq!(backend_of(&h).as_deref(), Some("east-ptu"));
        h.insert("x-oai-lb-backend", "primary".parse().unwrap());
        assert_eq!(backend_of(&h).as_deref(), Some("primary"));
    }

    #[test]
    fn bad_targets_are_refused() {
        let opts = |target: &str| ProbeOptions {
            target: target.into(),
            deployment: "d".into(),
            api_version: "v".into(),
            load: Load::Concurrency(1),
            stream: false,
            auth: Auth::None,
            timeout: Duration::from_secs(1),
        };
        assert!(Probe::new(opts("not a url")).is_err());
        assert!(Probe::new(opts("ftp://x")).is_err());
        let probe = Probe::new(opts("http://127.0.0.1:9/")).unwrap();
        assert_eq!(probe.target_name(), "127.0.0.1:9");
        assert_eq!(probe.url, "http://127.0.0.1:9/openai/deployments/d/chat/completions?api-version=v");
    }
}
