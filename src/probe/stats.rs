//! Aggregation of probe outcomes: per-backend counts, shares, latency percentiles and the
//! client-visible error rate. Pure: outcomes come in, summaries come out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// What happened to one request, as the client saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The backend that answered (from the response headers), or the target's name.
    pub backend: String,
    /// The response status; `None` when no response head arrived (connection error, timeout).
    pub status: Option<u16>,
    /// Whether the whole body arrived (a stream cut mid-way is an error to the client).
    pub complete: bool,
    /// From sending the request to the end of the body.
    pub latency: Duration,
    /// Prompt + completion tokens the answer reported in its usage (0 when it had none).
    pub tokens: u64,
}

impl Outcome {
    /// A success as the client sees it: a 2xx whose body arrived whole.
    pub fn ok(&self) -> bool {
        self.complete && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Counts of one backend.
#[derive(Clone, Debug, Default)]
struct Tally {
    requests: u64,
    status_2xx: u64,
    status_429: u64,
    status_5xx: u64,
    tokens: u64,
    latencies_ms: Vec<f64>,
}

/// Everything recorded so far.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    requests: u64,
    ok: u64,
    client_429: u64,
    no_response: u64,
    latencies_ms: Vec<f64>,
    backends: BTreeMap<String, Tally>,
}

impl Stats {
    pub fn record(&mut self, outcome: &Outcome) {
        let ms = outcome.latency.as_secs_f64() * 1000.0;
        self.requests += 1;
        self.latencies_ms.push(ms);
        if outcome.ok() {
            self.ok += 1;
        }
        match outcome.status {
            Some(429) => self.client_429 += 1,
            None => self.no_response += 1,
            Some(_) => {}
        }
        let tally = self.backends.entry(outcome.backend.clone()).or_default();
        tally.requests += 1;
        tally.tokens += outcome.tokens;
        tally.latencies_ms.push(ms);
        match outcome.status {
            Some(200..=299) => tally.status_2xx += 1,
            Some(429) => tally.status_429 += 1,
            Some(500..=599) => tally.status_5xx += 1,
            _ => {}
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The summary after `elapsed` of probing `target`.
    pub fn summary(&self, target: &str, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64();
        let errors = self.requests - self.ok;
        Summary {
            target: target.to_string(),
            duration_secs: round3(secs),
            requests: self.requests,
            ok: self.ok,
            errors,
            error_rate: round3(ratio(errors, self.requests)),
            client_429: self.client_429,
            no_response: self.no_response,
            rps: round3(if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }),
            latency_ms: Latency::of(&self.latencies_ms),
            backends: self
                .backends
                .iter()
                .map(|(name, t)| BackendSummary {
                    name: name.clone(),
                    requests: t.requests,
                    status_2xx: t.status_2xx,
                    status_429: t.status_429,
                    status_5xx: t.status_5xx,
                    share: round3(ratio(t.requests, self.requests)),
                    tokens: t.tokens,
                    tpm: round3(if secs > 0.0 { t.tokens as f64 * 60.0 / secs } else { 0.0 }),
                    latency_ms: Latency::of(&t.latencies_ms),
                })
                .collect(),
        }
    }
}

/// What the client saw. `oai-lb probe --output json` is this with its backends in the
/// table's order, each with the balancer's view ([`super::view::Report`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub target: String,
    pub duration_secs: f64,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// errors / requests: what the client saw fail (429s, 5xx, cut streams, connection errors).
    pub error_rate: f64,
    pub client_429: u64,
    /// Requests that got no response head (connection refused or reset, timeout).
    pub no_response: u64,
    pub rps: f64,
    pub latency_ms: Latency,
    /// By name; [`super::view::Report`] writes them in the table's order.
    #[serde(skip)]
    pub backends: Vec<BackendSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackendSummary {
    pub name: String,
    pub requests: u64,
    pub status_2xx: u64,
    pub status_429: u64,
    pub status_5xx: u64,
    /// This backend's part of all requests (0..=1).
    pub share: f64,
    /// Tokens (prompt + completion) its answers reported, and their rate per minute.
    pub tokens: u64,
    pub tpm: f64,
    pub latency_ms: Latency,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
}

impl Latency {
    fn of(samples: &[f64]) -> Latency {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Latency { p50: round3(percentile(&sorted, 50.0)), p99: round3(percentile(&sorted, 99.0)) }
    }
}

/// Nearest-rank percentile of sorted samples; 0 when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(backend: &str, status: Option<u16>, ms: u64) -> Outcome {
        Outcome { backend: backend.into(), status, complete: true, latency: Duration::from_millis(ms), tokens: 30 }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 50.0);
        assert_eq!(percentile(&samples, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summary_counts_shares_and_client_visible_errors() {
        let mut stats = Stats::default();
        for ms in [10, 20, 30] {
            stats.record(&outcome("a", Some(200), ms));
        }
        stats.record(&outcome("b", Some(429), 5));
        stats.record(&outcome("b", Some(503), 100));
        stats.record(&Outcome { complete: false, ..outcome("b", Some(200), 40) });
        stats.record(&outcome("t", None, 1000));
        stats.record(&outcome("b", Some(200), 50));

        let s = stats.summary("http://lb", Duration::from_secs(4));
        assert_eq!((s.requests, s.ok, s.errors, s.client_429, s.no_response), (8, 4, 4, 1, 1));
        assert_eq!(s.error_rate, 0.5);
        assert_eq!(s.rps, 2.0);
        assert_eq!(s.latency_ms, Latency { p50: 30.0, p99: 1000.0 });
        let a = &s.backends[0];
        assert_eq!((a.name.as_str(), a.requests, a.status_2xx, a.share), ("a", 3, 3, 0.375));
        assert_eq!(a.latency_ms, Latency { p50: 20.0, p99: 30.0 });
        assert_eq!((a.tokens, a.tpm), (90, 1350.0), "90 tokens in 4 s");
        let b = &s.backends[1];
        assert_eq!((b.requests, b.status_2xx, b.status_429, b.status_5xx), (4, 2, 1, 1));
        assert_eq!(s.backends[2].name, "t");
    }

    #[test]
    fn empty_stats_have_no_error_rate() {
        let s = Stats::default().summary("x", Duration::ZERO);
        assert_eq!((s.requests, s.error_rate, s.rps), (0, 0.0, 0.0));
        assert!(s.backends.is_empty());
    }
}
