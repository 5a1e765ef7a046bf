//! The ARM client: bearer tokens, `api-version`, retries, long-running operations and ARM's
//! error model. It speaks HTTP and the ARM contract and knows nothing of APIM or OpenAI
//! (that is `crate::azure`), and reads neither the config nor the environment: the command
//! line resolves [`Tuning`] and the endpoint and passes them in.

mod error;
mod lro;
mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::time::OffsetDateTime;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::Mutex;

pub use error::ArmError;
pub use retry::{RetryPolicy, RetryReason, WaitObserver, Waiting};

use crate::credential::Credential;

/// The public-cloud ARM endpoint.
pub const PUBLIC_ENDPOINT: &str = "https://management.azure.com";

/// Called with the current state (`InProgress`, `Creating`, …) while a long-running
/// operation is polled, so the CLI can show it.
pub type Progress<'a> = Option<&'a (dyn Fn(&str) + Send + Sync)>;

/// How the client talks to ARM.
#[derive(Debug, Clone)]
pub struct ArmSettings {
    /// Scheme and host, without a trailing slash.
    pub endpoint: String,
    pub retry: RetryPolicy,
    /// Poll interval when ARM does not send `Retry-After`.
    pub poll_interval: Duration,
    /// The longest a long-running operation may take (APIM Developer: 30–45 minutes).
    pub operation_timeout: Duration,
    /// How long a `PrincipalNotFound` answer (a new identity not yet replicated) is retried.
    pub principal_wait: Duration,
}

/// The timing knobs of [`ArmSettings`] (mainly so tests run the real logic fast); `None`
/// keeps the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// Poll interval when ARM sends no `Retry-After` (default 5000 ms).
    pub poll_ms: Option<u64>,
    /// First backoff step (default 800 ms).
    pub retry_base_ms: Option<u64>,
    /// Backoff cap and longest `Retry-After` honoured (default 60000 ms).
    pub retry_max_ms: Option<u64>,
    /// How long a role assignment answering `PrincipalNotFound` is retried (default 120000 ms).
    pub principal_wait_ms: Option<u64>,
}

impl ArmSettings {
    /// Settings for `endpoint` (the public cloud when `None`) with the given tuning.
    pub fn new(endpoint: Option<&str>, tuning: Tuning) -> Result<ArmSettings, ArmError> {
        let endpoint = validate_endpoint(endpoint.unwrap_or(PUBLIC_ENDPOINT))?;
        let ms = |value: Option<u64>, default: u64| Duration::from_millis(value.unwrap_or(default));
        Ok(ArmSettings {
            endpoint,
            retry: RetryPolicy {
                base_delay: ms(tuning.retry_base_ms, 800),
                max_delay: ms(tuning.retry_max_ms, 60_000),
                ..RetryPolicy::default()
            },
            poll_interval: ms(tuning.poll_ms, 5_000),
            operation_timeout: Duration::from_secs(2 * 3600),
            principal_wait: ms(tuning.principal_wait_ms, 120_000),
        })
    }
}

/// Accepts `https://host[:port]`, or `http://` for loopback hosts only; drops a trailing `/`.
pub fn validate_endpoint(endpoint: &str) -> Result<String, ArmError> {
    let bad = |problem: &str| ArmError::Endpoint { endpoint: endpoint.to_string(), problem: problem.to_string() };
    let url = reqwest::Url::parse(endpoint).map_err(|_| bad("not a URL"))?;
    let host = url.host_str().ok_or_else(|| bad("no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => return Err(bad("plain http is allowed only for loopback hosts")),
        _ => return Err(bad("must start with https://")),
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(bad("must be only scheme and host, without a path"));
    }
    Ok(endpoint.trim_end_matches('/').to_string())
}

/// True for `localhost` and loopback IP literals (with or without IPv6 brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One ARM client; cheap to clone (shared connection pool and token cache).
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: ArmSettings,
    credential: Credential,
    scope: String,
    /// The token and its expiry; refreshed five minutes before it expires.
    token: Mutex<Option<(String, OffsetDateTime)>>,
    /// Hears every retry, so waiting can be shown (see [`ArmClient::on_wait`]).
    on_wait: std::sync::OnceLock<WaitObserver>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("endpoint", &self.inner.settings.endpoint).finish_non_exhaustive()
    }
}

/// An ARM answer: status, headers and the raw body. Its `Debug` leaves the body out: the
/// answer of `listSecrets` / `listValue` is a secret.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: String,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("request_id", &self.request_id)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish_non_exhaustive()
    }
}

impl Reply {
    fn json(&self, url: &str) -> Result<Value, ArmError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ArmError::Protocol { url: url.to_string(), message: format!("body is not JSON: {e}") })
    }

    fn into_error(self) -> ArmError {
        ArmError::from_response(self.status, &self.request_id, &self.body)
    }

    fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ArmClient {
    pub fn new(settings: ArmSettings, credential: Credential) -> Result<ArmClient, ArmError> {
        let host_is_loopback = reqwest::Url::parse(&settings.endpoint)
            .ok()
            .and_then(|u| u.host_str().map(is_loopback_host))
            .unwrap_or(false);
        // Test endpoints on loopback stand in for the public cloud, whose scope the
        // credential (e.g. the Azure CLI) knows.
        let scope = if host_is_loopback {
            format!("{PUBLIC_ENDPOINT}/.default")
        } else {
            format!("{}/.default", settings.endpoint)
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("oai-lb/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ArmError::Transport { endpoint: settings.endpoint.clone(), message: e.to_string() })?;
        let on_wait = std::sync::OnceLock::new();
        Ok(ArmClient { inner: Arc::new(Inner { http, settings, credential, scope, token: Mutex::new(None), on_wait }) })
    }

    /// Reports every retry (and the answer that ends a run of them) to `observer`; the
    /// first observer set stays.
    pub fn on_wait(&self, observer: WaitObserver) {
        let _ = self.inner.on_wait.set(observer);
    }

    fn report(&self, waiting: Waiting<'_>) {
        if let Some(observer) = self.inner.on_wait.get() {
            observer(waiting);
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.inner.settings.endpoint
    }

    pub fn settings(&self) -> &ArmSettings {
        &self.inner.settings
    }

    /// GETs a resource; a missing one is an error (`ARM 404 …`).
    pub async fn get_json(&self, path: &str, api_version: &str) -> Result<Value, ArmError> {
        self.get_optional(path, api_version).await?.ok_or_else(|| ArmError::Api {
            status: 404,
            code: "ResourceNotFound".into(),
            message: format!("{path} does not exist"),
            request_id: "unknown".into(),
        })
    }

    /// GETs a resource; `None` when ARM answers 404 (it, or its parent, does not exist).
    pub async fn get_optional(&self, path: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        let url = self.url(path, api_version);
        let reply = self.send(Method::GET, &url, None).await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.success() => reply.json(&url).map(Some),
            _ => Err(reply.into_error()),
        }
    }

    /// Creates or replaces a resource and waits for it to be provisioned; returns the
    /// resource as ARM reports it afterwards. A `PrincipalNotFound` answer (a role
    /// assignment for an identity Entra has not replicated yet) is retried for
    /// [`ArmSettings::principal_wait`]; a 409 that says the target is busy
    /// ([`ArmError::is_busy`]: APIM still activating or updating) for
    /// [`ArmSettings::operation_timeout`].
    pub async fn put_json(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        progress: Progress<'_>,
    ) -> Result<Value, ArmError> {
        self.write_retrying(Method::PUT, path, api_version, body, progress).await
    }

    /// Updates only the fields in `body` (ARM's PATCH), leaving every other field of the
    /// resource as it is, and waits for it; retried like [`ArmClient::put_json`].
    pub async fn patch_json(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        progress: Progress<'_>,
    ) -> Result<Value, ArmError> {
        self.write_retrying(Method::PATCH, path, api_version, body, progress).await
    }

    async fn write_retrying(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: &Value,
        progress: Progress<'_>,
    ) -> Result<Value, ArmError> {
        let started = Instant::now();
        let settings = &self.inner.settings;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.write(method.clone(), path, api_version, Some(body), progress).await;
            let why = match &result {
                Err(e) if e.code() == Some("PrincipalNotFound") && started.elapsed() < settings.principal_wait => {
                    "PrincipalNotFound"
                }
                Err(e) if e.is_busy() && started.elapsed() < settings.operation_timeout => "Busy",
                _ => return result,
            };
            let wait = settings.retry.delay(attempt.min(6), None);
            tracing::info!(%path, ?wait, why, "ARM not ready for this write yet; retrying");
            if let Some(report) = progress {
                report(why);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Deletes a resource and waits until it is gone; a missing resource is not an error.
    pub async fn delete(&self, path: &str, api_version: &str, progress: Progress<'_>) -> Result<(), ArmError> {
        let url = self.url(path, api_version);
        let reply = self.send(Method::DELETE, &url, None).await?;
        if reply.status == 404 {
            return Ok(());
        }
        if !reply.success() {
            return Err(reply.into_error());
        }
        lro::finish(self, Method::DELETE, &url, reply, progress).await.map(|_| ())
    }

    /// POSTs an action (`listSecrets`, `listKeys`, …) and returns its JSON answer.
    pub async fn post_json(&self, path: &str, api_version: &str, body: Option<&Value>) -> Result<Value, ArmError> {
        let url = self.url(path, api_version);
        let reply = self.send(Method::POST, &url, body).await?;
        if !reply.success() {
            return Err(reply.into_error());
        }
        if reply.status == 202 {
            return lro::finish(self, Method::POST, &url, reply, None).await;
        }
        reply.json(&url)
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        progress: Progress<'_>,
    ) -> Result<Value, ArmError> {
        let url = self.url(path, api_version);
        let reply = self.send(method.clone(), &url, body).await?;
        if !reply.success() {
            return Err(reply.into_error());
        }
        lro::finish(self, method, &url, reply, progress).await
    }

    /// `path` may carry its own query (e.g. `…/policies/policy?format=rawxml`).
    fn url(&self, path: &str, api_version: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{}{}{}api-version={}", self.inner.settings.endpoint, path, separator, api_version)
    }

    /// Sends one request, retrying throttling, server errors and connection failures (a
    /// refused connection only [`RetryPolicy::refused_attempts`] times, quickly). Returns the
    /// final answer whatever its status; callers decide what is an error.
    pub(crate) async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Reply, ArmError> {
        let policy = &self.inner.settings.retry;
        let endpoint = self.inner.settings.endpoint.as_str();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token().await?;
            let mut request = self.inner.http.request(method.clone(), url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    response.bytes().await.map(|body| (status, headers, body))
                }
                Err(e) => Err(e),
            };
            let (reason, wait, of) = match outcome {
                Ok((status, headers, body)) => {
                    let request_id = header(&headers, "x-ms-request-id");
                    tracing::debug!(%method, %url, status, %request_id, "ARM");
                    if RetryPolicy::retryable_status(status) && attempt < policy.max_attempts {
                        let wait = policy.delay(attempt, retry::retry_after(&headers));
                        tracing::info!(%method, %url, status, ?wait, attempt, "ARM asked to retry");
                        (RetryReason::Status(status), wait, policy.max_attempts)
                    } else {
                        if attempt > 1 {
                            self.report(Waiting::Ended);
                        }
                        return Ok(Reply { status, headers, body, request_id });
                    }
                }
                Err(e) => {
                    let reason = retry::transport_reason(&e);
                    let attempts =
                        if reason == RetryReason::Refused { policy.refused_attempts } else { policy.max_attempts };
                    if attempt >= attempts {
                        if attempt > 1 {
                            self.report(Waiting::Ended);
                        }
                        return Err(ArmError::Transport {
                            endpoint: endpoint.to_string(),
                            message: match reason {
                                RetryReason::Refused => format!("connection refused ({attempt} attempts)"),
                                _ => without_url(&e),
                            },
                        });
                    }
                    let wait = if reason == RetryReason::Refused {
                        policy.refused_delay(attempt)
                    } else {
                        policy.delay(attempt, None)
                    };
                    tracing::info!(%method, %url, error = %e, ?wait, attempt, "ARM unreachable; retrying");
                    (reason, wait, attempts)
                }
            };
            self.report(Waiting::Retry { endpoint, reason, retry: attempt, of: of - 1, wait });
            tokio::time::sleep(wait).await;
        }
    }

    /// A cached bearer token, refreshed five minutes before it expires. Never logged.
    ///
    /// The tokio mutex is held across the credential's `.await` on purpose: when the token
    /// expires, the parallel writes of a converge wait for the one refresh instead of each
    /// asking Entra (and the Azure CLI) for a token at once.
    async fn token(&self) -> Result<String, ArmError> {
        let mut cached = self.inner.token.lock().await;
        if let Some((token, expires_on)) = cached.as_ref()
            && *expires_on - OffsetDateTime::now_utc() > azure_core::time::Duration::minutes(5)
        {
            return Ok(token.clone());
        }
        let fresh = self.inner.credential.token(&self.inner.scope).await?;
        let token = fresh.token.secret().to_string();
        *cached = Some((token.clone(), fresh.expires_on));
        Ok(token)
    }

    /// Checks that a URL ARM told us to poll points at the same endpoint, so the bearer
    /// token is never sent anywhere else.
    fn same_origin(&self, url: &str) -> bool {
        url.strip_prefix(self.inner.settings.endpoint.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// reqwest errors name the URL; the message already says which endpoint.
fn without_url(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    if let Some(url) = e.url() {
        message = message.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(validate_endpoint("https://management.azure.com/").unwrap(), "https://management.azure.com");
        assert_eq!(validate_endpoint("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert!(validate_endpoint("http://management.azure.com").is_err());
        assert!(validate_endpoint("ftp://127.0.0.1").is_err());
        assert!(validate_endpoint("https://x/some/path").is_err());
        let e = validate_endpoint("http://example.com").unwrap_err().to_string();
        assert!(e.contains("loopback") && e.contains("fix:"), "{e}");
    }
}
