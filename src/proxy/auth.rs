//! Who may call the balancer (client keys) and how the balancer calls each backend
//! (api-key, Entra bearer token, or the client's own credentials).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use subtle::ConstantTimeEq;

use crate::credential::Credential;

pub const API_KEY: HeaderName = HeaderName::from_static("api-key");

/// The scope of Azure OpenAI data-plane tokens.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// Keys clients must present; empty means the balancer is open.
#[derive(Default)]
pub struct ClientKeys(Vec<Box<[u8]>>);

impl ClientKeys {
    /// Parses a comma-separated list, ignoring blanks.
    pub fn parse(list: &str) -> Self {
        ClientKeys(list.split(',').map(str::trim).filter(|k| !k.is_empty()).map(|k| k.as_bytes().into()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the request carries one of the keys as `api-key` or `Authorization: Bearer`
    /// and, when it did, the header that carried
    /// it (removed before forwarding: the client's key never reaches a backend). Every key
    /// is compared in constant time, so timing does not reveal how much matched.
    pub fn check(&self, headers: &HeaderMap) -> Access {
        if self.0.is_empty() {
            return Access::Open;
        }
        let presented = headers.get(API_KEY).map(|v| (API_KEY, v.as_bytes())).or_else(|| {
            headers.get(AUTHORIZATION).and_then(|v| {
                let v = v.as_bytes();
                (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ")).then(|| (AUTHORIZATION, &v[7..]))
            })
        });
        let Some((carrier, presented)) = presented else { return Access::Denied };
        let found = self.0.iter().fold(false, |found, key| found | bool::from(key.as_ref().ct_eq(presented)));
        if found { Access::Granted(carrier) } else { Access::Denied }
    }
}

/// The client-key check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No client keys are configured.
    Open,
    /// A valid key, carried by this header.
    Granted(HeaderName),
    Denied,
}

/// How the balancer authenticates to one backend.
pub enum BackendAuth {
    /// Pass the client's credentials through untouched.
    PassThrough,
    /// A fixed `api-key` header (marked sensitive so it never appears in debug output).
    ApiKey(HeaderValue),
    /// An Entra ID bearer token, cached.
    Entra(Arc<EntraToken>),
}

impl BackendAuth {
    /// True when the credential sent to the backend is ours (api-key or Entra), so its
    /// 401/403 is our problem with that backend, not the client's.
    pub fn is_ours(&self) -> bool {
        !matches!(self, BackendAuth::PassThrough)
    }

    /// Replaces the client's credential headers with the backend's. Returns an error message
    /// when a token cannot be obtained.
    pub async fn apply(&self, headers: &mut HeaderMap) -> Result<(), String> {
        match self {
            BackendAuth::PassThrough => {}
            BackendAuth::ApiKey(key) => {
                headers.remove(AUTHORIZATION);
                headers.insert(API_KEY, key.clone());
            }
            BackendAuth::Entra(token) => {
                let value = token.header().await?;
                headers.remove(API_KEY);
                headers.insert(AUTHORIZATION, value);
            }
        }
        Ok(())
    }
}

/// How the Entra token is refreshed: how long one refresh may take, and how long to wait
/// after a failure before the next (doubling up to `max_backoff`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntraTiming {
    pub timeout: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for EntraTiming {
    fn default() -> Self {
        EntraTiming {
            timeout: Duration::from_secs(10),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A cached Entra token for the Azure OpenAI scope, refreshed before it expires.
///
/// The hot path takes a read lock for a clone of the header value. One refresh runs at a
/// time (a tokio mutex held across the identity call on purpose: the others wait for its
/// result instead of calling too), bounded by a timeout; after a failure no refresh is
/// tried until a backoff has passed, and requests that need a token meanwhile fail at once
/// (their backend fails over). So a slow or down identity endpoint sees one call per
/// backoff, never one per request. While a token is still valid it is used and refreshed
/// in the background once within [`REFRESH_BEFORE`] of expiry.
pub struct EntraToken {
    credential: Credential,
    timing: EntraTiming,
    state: RwLock<TokenState>,
    refreshing: tokio::sync::Mutex<()>,
    background: AtomicBool,
}

#[derive(Default)]
struct TokenState {
    cached: Option<(HeaderValue, Instant)>,
    /// The last failure: no refresh before `retry_at`.
    failure: Option<Failure>,
}

#[derive(Clone)]
struct Failure {
    retry_at: Instant,
    backoff: Duration,
    message: String,
}

const REFRESH_BEFORE: Duration = Duration::from_secs(300);

impl EntraToken {
    pub fn new(credential: Credential, timing: EntraTiming) -> Arc<Self> {
        Arc::new(EntraToken {
            credential,
            timing,
            state: RwLock::new(TokenState::default()),
            refreshing: tokio::sync::Mutex::new(()),
            background: AtomicBool::new(false),
        })
    }

    fn read(&self) -> (Option<(HeaderValue, Instant)>, Option<Failure>) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        (state.cached.clone(), state.failure.clone())
    }

    async fn header(self: &Arc<Self>) -> Result<HeaderValue, String> {
        let now = Instant::now();
        let (cached, failure) = self.read();
        let backing_off = failure.as_ref().filter(|f| f.retry_at > now);
        if let Some((value, expires)) = cached {
            if expires > now + REFRESH_BEFORE {
                return Ok(value);
            }
            if expires > now {
                if backing_off.is_none() && !self.background.swap(true, Ordering::AcqRel) {
                    let this = Arc::clone(self);
                    tokio::spawn(async move {
                        if let Err(e) = this.refresh().await {
                            tracing::warn!(error = %e, "Entra token refresh failed; using the current token until it expires");
                        }
                        this.background.store(false, Ordering::Release);
                    });
                }
                return Ok(value);
            }
        }
        if let Some(failure) = backing_off {
            return Err(format!("{} (next try in {:?})", failure.message, failure.retry_at - now));
        }
        self.refresh().await
    }

    async fn refresh(&self) -> Result<HeaderValue, String> {
        let _single_flight = self.refreshing.lock().await;
        // Whoever held the lock before may have refreshed, or failed, meanwhile.
        let now = Instant::now();
        let (cached, failure) = self.read();
        if let Some((value, expires)) = cached
            && expires > now + REFRESH_BEFORE
        {
            return Ok(value);
        }
        if let Some(failure) = failure.as_ref().filter(|f| f.retry_at > now) {
            return Err(failure.message.clone());
        }
        let result =
            match tokio::time::timeout(self.timing.timeout, self.credential.token(COGNITIVE_SERVICES_SCOPE)).await {
                Ok(Ok(token)) => {
                    let lifetime = (token.expires_on - time_now()).try_into().unwrap_or(Duration::ZERO);
                    HeaderValue::try_from(format!("Bearer {}", token.token.secret()))
                        .map(|mut value| {
                            value.set_sensitive(true);
                            (value, Instant::now() + lifetime)
                        })
                        .map_err(|_| "the identity provider returned a token that is not a valid header".to_string())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("the identity provider did not answer within {:?}", self.timing.timeout)),
            };
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok((value, expires)) => {
                state.cached = Some((value.clone(), expires));
                state.failure = None;
                Ok(value)
            }
            Err(message) => {
                let backoff = match &state.failure {
                    Some(previous) => (previous.backoff * 2).min(self.timing.max_backoff),
                    None => self.timing.first_backoff,
                };
                tracing::warn!(error = %message, retry_in = ?backoff, "cannot get an Entra token");
                state.failure = Some(Failure { retry_at: Instant::now() + backoff, backoff, message: message.clone() });
                Err(message)
            }
        }
    }
}

fn time_now() -> azure_core::time::OffsetDateTime {
    azure_core::time::OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_accept_api_key_or_bearer() {
        let keys = ClientKeys::parse(" k1, k2 ,,");
        let mut h = HeaderMap::new();
        assert!(!(keys.check(&h) != Access::Denied));
        h.insert(API_KEY, HeaderValue::from_static("k2"));
        assert!((keys.check(&h) != Access::Denied));
        h.insert(API_KEY, HeaderValue::from_static("k3"));
        assert!(!(keys.check(&h) != Access::Denied));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        assert_eq!(keys.check(&h), Access::Granted(AUTHORIZATION));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic k1"));
        assert!(!(keys.check(&h) != Access::Denied));
        assert!(ClientKeys::parse("").check(&HeaderMap::new()) == Access::Open);
    }
}
