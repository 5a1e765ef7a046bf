//! When to retry an ARM call and how long to wait: `Retry-After` when ARM sends it, else
//! capped exponential backoff with full jitter. A refused connection is not throttling:
//! nothing listens there, so it gets a couple of quick retries (a restarting proxy) and
//! then an error, instead of minutes of backoff.

use std::time::Duration;

use rand::Rng;

/// Retry settings. The delays are configurable so tests can run the real logic fast.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first backoff step; doubles per attempt.
    pub base_delay: Duration,
    /// The longest backoff step (and the longest `Retry-After` honoured).
    pub max_delay: Duration,
    /// Attempts when the connection is refused, the first included.
    pub refused_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(60),
            refused_attempts: 3,
        }
    }
}

/// Why a request is being sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// Nothing accepted the connection.
    Refused,
    /// The connection or the answer took too long.
    TimedOut,
    /// Another connection failure (DNS, TLS, a reset).
    Unreachable,
    /// ARM answered with a status it asks clients to retry (429, 5xx, 408).
    Status(u16),
}

impl std::fmt::Display for RetryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryReason::Refused => f.write_str("ARM unreachable (connection refused)"),
            RetryReason::TimedOut => f.write_str("ARM unreachable (timed out)"),
            RetryReason::Unreachable => f.write_str("ARM unreachable (connection failed)"),
            RetryReason::Status(429) => f.write_str("ARM throttling (429)"),
            RetryReason::Status(status) => write!(f, "ARM busy ({status})"),
        }
    }
}

/// What the client reports while it waits, so the command line can show it (the client
/// itself never prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting<'a> {
    /// Retry number `retry` of at most `of` will be sent after `wait`.
    Retry { endpoint: &'a str, reason: RetryReason, retry: u32, of: u32, wait: Duration },
    /// A request that was retried got its final answer, or was given up.
    Ended,
}

/// Who hears the [`Waiting`] reports of a client.
pub type WaitObserver = std::sync::Arc<dyn Fn(Waiting<'_>) + Send + Sync>;

impl RetryPolicy {
    /// Statuses ARM asks us to retry: throttling and server-side failures.
    pub fn retryable_status(status: u16) -> bool {
        status == 429 || status == 408 || (500..=599).contains(&status) && status != 501 && status != 505
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1): the server's
    /// `Retry-After` if given, else a random delay in `[0, min(max, base * 2^(attempt-1))]`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let step = self.base_delay.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16)).min(self.max_delay);
        let millis = step.as_millis() as u64;
        Duration::from_millis(if millis == 0 { 0 } else { rand::rng().random_range(millis / 2..=millis) })
    }

    /// The wait after the `attempt`-th refused connection: short and growing, no jitter
    /// (nothing is overloaded), capped at two seconds.
    pub fn refused_delay(&self, attempt: u32) -> Duration {
        self.base_delay.saturating_mul(attempt.max(1)).min(Duration::from_secs(2))
    }
}

/// The reason for a failed send: a refused connection is told apart from other failures by
/// the `io::Error` at the end of reqwest's source chain.
pub fn transport_reason(e: &reqwest::Error) -> RetryReason {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return RetryReason::Refused;
        }
        source = inner.source();
    }
    if e.is_timeout() { RetryReason::TimedOut } else { RetryReason::Unreachable }
}

/// `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds) or `Retry-After` (seconds or an
/// HTTP date), as ARM and its resource providers send them.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            refused_attempts: 3,
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            assert!(p.delay(30, None) <= Duration::from_millis(1000));
        }
        assert_eq!(p.delay(1, Some(Duration::from_millis(7))), Duration::from_millis(7));
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), Duration::from_millis(1000));
    }

    #[test]
    fn a_refused_connection_waits_briefly() {
        let p = RetryPolicy::default();
        assert_eq!((p.refused_delay(1), p.refused_delay(2)), (Duration::from_millis(800), Duration::from_millis(1600)));
        assert_eq!(p.refused_delay(9), Duration::from_secs(2));
        assert_eq!(RetryReason::Refused.to_string(), "ARM unreachable (connection refused)");
        assert_eq!(RetryReason::Status(429).to_string(), "ARM throttling (429)");
    }

    #[tokio::test]
    async fn a_refused_connection_is_recognised() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = reqwest::get(format!("http://{addr}/")).await.unwrap_err();
        assert_eq!(transport_reason(&e), RetryReason::Refused);
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504, 408] {
            assert!(RetryPolicy::retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409, 501] {
            assert!(!RetryPolicy::retryable_status(s), "{s}");
        }
    }
}
