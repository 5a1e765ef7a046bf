//! Counters kept on the hot path with relaxed atomics, and their two views:
//! `GET /metrics` (Prometheus text) and `GET /lb/backends` (JSON for people and `probe`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::usage::{DeploymentTokens, TokenCounters};

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The status classes counted per backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status2xx,
    Status429,
    Status4xx,
    Status5xx,
    Other,
    /// Connection error or timeout before the response head.
    Error,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Status2xx,
        Outcome::Status429,
        Outcome::Status4xx,
        Outcome::Status5xx,
        Outcome::Other,
        Outcome::Error,
    ];

    pub fn of_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Status2xx,
            429 => Outcome::Status429,
            400..=499 => Outcome::Status4xx,
            500..=599 => Outcome::Status5xx,
            _ => Outcome::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Status2xx => "2xx",
            Outcome::Status429 => "429",
            Outcome::Status4xx => "4xx",
            Outcome::Status5xx => "5xx",
            Outcome::Other => "other",
            Outcome::Error => "error",
        }
    }
}

/// One backend's counters. Kept across config reloads while the backend is unchanged.
#[derive(Debug, Default)]
pub struct BackendStats {
    outcomes: [AtomicU64; 6],
    cooldowns_started: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Tokens the backend's answers reported, per deployment.
    pub tokens: TokenCounters,
    /// The backend's current priority and weight (set on every config build), for
    /// `oai_lb_backend_info`: dashboards group traffic by priority with it.
    priority: AtomicU32,
    weight: AtomicU32,
}

impl BackendStats {
    /// Records one attempt: its outcome and the time to the response head.
    pub fn record(&self, outcome: Outcome, latency: Duration) {
        self.outcomes[outcome as usize].fetch_add(1, Relaxed);
        let secs = latency.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&le| secs <= le) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros.fetch_add(latency.as_micros() as u64, Relaxed);
    }

    /// Notes the priority and weight the current config gives this backend.
    pub fn set_info(&self, priority: u32, weight: u32) {
        self.priority.store(priority, Relaxed);
        self.weight.store(weight, Relaxed);
    }

    pub fn cooldown_started(&self) {
        self.cooldowns_started.fetch_add(1, Relaxed);
    }

    fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Relaxed)
    }

    fn requests(&self) -> u64 {
        self.outcomes.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// Balancer-wide counters.
#[derive(Debug, Default)]
pub struct Totals {
    pub requests: AtomicU64,
    pub failovers: AtomicU64,
    pub rejected_all_throttled: AtomicU64,
    pub rejected_unauthorized: AtomicU64,
    pub rejected_too_large: AtomicU64,
    pub rejected_host: AtomicU64,
    pub rejected_busy: AtomicU64,
    pub rejected_slow_body: AtomicU64,
    pub deadline_exceeded: AtomicU64,
    /// Trace spans dropped: export queue full or export failed (shared with the exporter).
    pub trace_spans_dropped: std::sync::Arc<AtomicU64>,
}

/// What `/lb/backends` shows of one backend.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct BackendView {
    pub name: String,
    pub url: String,
    pub priority: u32,
    pub weight: u32,
    pub cooldowns: Vec<CooldownView>,
    pub requests: u64,
    pub status_2xx: u64,
    pub status_429: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub errors: u64,
    pub cooldowns_started: u64,
    /// Tokens served, per deployment (from the answers' `usage`).
    #[serde(default)]
    pub tokens: Vec<DeploymentTokens>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct CooldownView {
    /// The deployment; empty for requests that named none.
    pub deployment: String,
    pub seconds_left: f64,
}

/// The `/lb/backends` document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct StateView {
    pub backends: Vec<BackendView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<SharedStateView>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SharedStateView {
    pub url: String,
    pub healthy: bool,
    /// Messages and stored keys ignored as garbage or out of range.
    #[serde(default)]
    pub rejected_messages: u64,
}

impl BackendView {
    pub fn new(
        name: &str,
        url: &str,
        priority: u32,
        weight: u32,
        stats: &BackendStats,
        cooldowns: Vec<(String, Duration)>,
    ) -> Self {
        BackendView {
            name: name.to_string(),
            url: url.to_string(),
            priority,
            weight,
            cooldowns: cooldowns
                .into_iter()
                .map(|(deployment, left)| CooldownView {
                    deployment,
                    seconds_left: (left.as_secs_f64() * 10.0).ceil() / 10.0,
                })
                .collect(),
            requests: stats.requests(),
            status_2xx: stats.count(Outcome::Status2xx),
            status_429: stats.count(Outcome::Status429),
            status_4xx: stats.count(Outcome::Status4xx),
            status_5xx: stats.count(Outcome::Status5xx),
            errors: stats.count(Outcome::Error),
            cooldowns_started: stats.cooldowns_started.load(Relaxed),
            tokens: stats.tokens.snapshot(),
        }
    }
}

/// Renders Prometheus text exposition for the balancer.
pub fn prometheus(
    totals: &Totals,
    backends: &[(&str, &BackendStats, usize)],
    shared_state: Option<(bool, u64)>,
    _now: Instant,
) -> String {
    let mut out = String::with_capacity(4096);
    let total = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    let counters = [
        ("oai_lb_client_requests_total", "Requests received from clients.", totals.requests.load(Relaxed)),
        ("oai_lb_failovers_total", "Attempts retried on another backend.", totals.failovers.load(Relaxed)),
        (
            "oai_lb_all_throttled_total",
            "Requests answered 429 because every backend was cooling down.",
            totals.rejected_all_throttled.load(Relaxed),
        ),
        (
            "oai_lb_unauthorized_total",
            "Requests refused for a missing or wrong client key.",
            totals.rejected_unauthorized.load(Relaxed),
        ),
        (
            "oai_lb_body_too_large_total",
            "Requests refused for a body over max_body_bytes.",
            totals.rejected_too_large.load(Relaxed),
        ),
        (
            "oai_lb_foreign_host_total",
            "Requests refused for a non-loopback Host on a balancer without client keys.",
            totals.rejected_host.load(Relaxed),
        ),
        (
            "oai_lb_buffer_full_total",
            "Requests answered 503 because max_buffered_bytes was spent.",
            totals.rejected_busy.load(Relaxed),
        ),
        (
            "oai_lb_slow_body_total",
            "Requests answered 408 for a body slower than client_body_timeout_secs.",
            totals.rejected_slow_body.load(Relaxed),
        ),
        (
            "oai_lb_deadline_exceeded_total",
            "Requests answered 504 after request_timeout_secs across attempts.",
            totals.deadline_exceeded.load(Relaxed),
        ),
        (
            "oai_lb_trace_spans_dropped_total",
            "Trace spans dropped because the export queue was full or the export failed.",
            totals.trace_spans_dropped.load(Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        total(&mut out, name, help, value);
    }
    out.push_str(
        "# HELP oai_lb_backend_info Each backend's priority and weight (value 1), to group series by priority.\n",
    );
    out.push_str("# TYPE oai_lb_backend_info gauge\n");
    for (name, stats, _) in backends {
        let (priority, weight) = (stats.priority.load(Relaxed), stats.weight.load(Relaxed));
        let _ =
            writeln!(out, "oai_lb_backend_info{{backend=\"{name}\",priority=\"{priority}\",weight=\"{weight}\"}} 1");
    }
    out.push_str("# HELP oai_lb_backend_requests_total Attempts sent to each backend, by outcome.\n");
    out.push_str("# TYPE oai_lb_backend_requests_total counter\n");
    for (name, stats, _) in backends {
        for outcome in Outcome::ALL {
            let _ = writeln!(
                out,
                "oai_lb_backend_requests_total{{backend=\"{name}\",status=\"{}\"}} {}",
                outcome.label(),
                stats.count(outcome)
            );
        }
    }
    out.push_str("# HELP oai_lb_cooldowns_started_total Cooldowns started per backend.\n");
    out.push_str("# TYPE oai_lb_cooldowns_started_total counter\n");
    for (name, stats, _) in backends {
        let _ = writeln!(
            out,
            "oai_lb_cooldowns_started_total{{backend=\"{name}\"}} {}",
            stats.cooldowns_started.load(Relaxed)
        );
    }
    out.push_str("# HELP oai_lb_tokens_total Tokens reported in the usage of answers, per backend and deployment.\n");
    out.push_str("# TYPE oai_lb_tokens_total counter\n");
    for (name, stats, _) in backends {
        for d in stats.tokens.snapshot() {
            let deployment = escape_label(&d.deployment);
            for (kind, value) in [("prompt", d.prompt_tokens), ("completion", d.completion_tokens)] {
                let _ = writeln!(
                    out,
                    "oai_lb_tokens_total{{backend=\"{name}\",deployment=\"{deployment}\",kind=\"{kind}\"}} {value}"
                );
            }
        }
    }
    out.push_str("# HELP oai_lb_backend_cooling Deployments currently cooling down per backend.\n");
    out.push_str("# TYPE oai_lb_backend_cooling gauge\n");
    for (name, _, cooling) in backends {
        let _ = writeln!(out, "oai_lb_backend_cooling{{backend=\"{name}\"}} {cooling}");
    }
    out.push_str(
        "# HELP oai_lb_upstream_latency_seconds Time from sending a request to a backend until its response head.\n",
    );
    out.push_str("# TYPE oai_lb_upstream_latency_seconds histogram\n");
    for (name, stats, _) in backends {
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += stats.latency_buckets[i].load(Relaxed);
            let _ =
                writeln!(out, "oai_lb_upstream_latency_seconds_bucket{{backend=\"{name}\",le=\"{le}\"}} {cumulative}");
        }
        let count = stats.latency_count.load(Relaxed);
        let _ = writeln!(out, "oai_lb_upstream_latency_seconds_bucket{{backend=\"{name}\",le=\"+Inf\"}} {count}");
        let sum = stats.latency_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "oai_lb_upstream_latency_seconds_sum{{backend=\"{name}\"}} {sum}");
        let _ = writeln!(out, "oai_lb_upstream_latency_seconds_count{{backend=\"{name}\"}} {count}");
    }
    if let Some((healthy, rejected)) = shared_state {
        out.push_str("# HELP oai_lb_shared_state_up Whether the shared cooldown store (Redis) is reachable.\n");
        out.push_str("# TYPE oai_lb_shared_state_up gauge\n");
        let _ = writeln!(out, "oai_lb_shared_state_up {}", u8::from(healthy));
        total(
            &mut out,
            "oai_lb_shared_state_rejected_total",
            "Shared-state messages and keys ignored as garbage or out of range.",
            rejected,
        );
    }
    out
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape_label(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_counters_and_a_cumulative_histogram() {
        let totals = Totals::default();
        totals.requests.fetch_add(3, Relaxed);
        let stats = BackendStats::default();
        stats.set_info(2, 3);
        stats.record(Outcome::Status2xx, Duration::from_millis(2));
        stats.record(Outcome::Status429, Duration::from_millis(20));
        stats.record(Outcome::Error, Duration::from_secs(100));
        let text = prometheus(&totals, &[("east", &stats, 1)], Some((true, 2)), Instant::now());
        assert!(text.contains("oai_lb_client_requests_total 3\n"));
        assert!(text.contains("oai_lb_backend_info{backend=\"east\",priority=\"2\",weight=\"3\"} 1\n"));
        assert!(text.contains("oai_lb_backend_requests_total{backend=\"east\",status=\"429\"} 1\n"));
        assert!(text.contains("oai_lb_upstream_latency_seconds_bucket{backend=\"east\",le=\"0.0025\"} 1\n"));
        assert!(text.contains("oai_lb_upstream_latency_seconds_bucket{backend=\"east\",le=\"0.025\"} 2\n"));
        assert!(text.contains("oai_lb_upstream_latency_seconds_bucket{backend=\"east\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("oai_lb_backend_cooling{backend=\"east\"} 1\n"));
        assert!(text.contains("oai_lb_shared_state_up 1\n"));
        assert!(text.contains("oai_lb_shared_state_rejected_total 2\n"));
    }

    #[test]
    fn tokens_per_backend_deployment_and_kind() {
        let stats = BackendStats::default();
        stats.tokens.add("gpt-4o", super::super::usage::Usage { prompt: 10, completion: 4 });
        stats.tokens.add("we\"ird", super::super::usage::Usage { prompt: 1, completion: 0 });
        let text = prometheus(&Totals::default(), &[("east", &stats, 0)], None, Instant::now());
        assert!(text.contains("oai_lb_tokens_total{backend=\"east\",deployment=\"gpt-4o\",kind=\"prompt\"} 10\n"));
        assert!(text.contains("oai_lb_tokens_total{backend=\"east\",deployment=\"gpt-4o\",kind=\"completion\"} 4\n"));
        assert!(text.contains("deployment=\"we\\\"ird\""), "{text}");
        assert!(!text.contains("oai_lb_shared_state_up"));
    }

    #[test]
    fn backend_view_counts() {
        let stats = BackendStats::default();
        stats.record(Outcome::Status2xx, Duration::ZERO);
        stats.record(Outcome::Status5xx, Duration::ZERO);
        let view = BackendView::new("a", "https://a", 1, 2, &stats, vec![("gpt".into(), Duration::from_millis(1_234))]);
        assert_eq!((view.requests, view.status_2xx, view.status_5xx), (2, 1, 1));
        assert_eq!(view.cooldowns[0].seconds_left, 1.3);
    }
}
