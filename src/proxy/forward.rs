//! One client request: authenticate, buffer the body once, then ask the balancer for a
//! backend and forward, failing over at once (no sleep) on 429/401/408/5xx, connection
//! errors and timeouts before the response head. Once a response head is returned the
//! request is committed and its body streams through untouched.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use super::body::ProxyBody;
use super::exchange::{self, Exchange};
use super::metrics::{BackendView, Outcome, StateView};
use super::reply;
use super::runtime::Runtime;
use super::{Shared, UpstreamClient, Worker, usage};
use crate::config::AllThrottled;
use crate::lb::{self, Choice, Tried, cooldown, deployment};
use crate::telemetry::TRACEPARENT;

pub const X_OAI_LB_BACKEND: HeaderName = HeaderName::from_static("x-oai-lb-backend");
pub const X_OAI_LB_ATTEMPTS: HeaderName = HeaderName::from_static("x-oai-lb-attempts");

/// Statuses after which the next backend is tried (rule 4 of the design).
fn fails_over(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 408 | 429 | 500..=599)
}

/// Entry point for every request the server accepts.
pub async fn handle(worker: Arc<Worker>, request: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let shared = &*worker.shared;
    let rt = shared.runtime.load_full();
    if request.method() == Method::GET && request.uri().path() == "/healthz" {
        return Ok(reply::ok("text/plain; charset=utf-8", "ok\n"));
    }
    if !rt.client_keys.allows(request.headers()) {
        shared.totals.rejected_unauthorized.fetch_add(1, Relaxed);
        return Ok(reply::unauthorized());
    }
    if request.method() == Method::GET {
        match request.uri().path() {
            "/lb/backends" => return Ok(state_json(shared, &rt)),
            "/metrics" => return Ok(metrics_text(shared, &rt)),
            _ => {}
        }
    }
    shared.totals.requests.fetch_add(1, Relaxed);
    Ok(forward(shared, &worker.client, &rt, request).await)
}

async fn forward(
    shared: &Shared,
    client: &UpstreamClient,
    rt: &Runtime,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let limit = rt.settings.max_body_bytes;
    let declared_len = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > limit as u64) {
        shared.totals.rejected_too_large.fetch_add(1, Relaxed);
        return reply::body_too_large(limit);
    }
    let mut body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            shared.totals.rejected_too_large.fetch_add(1, Relaxed);
            return reply::body_too_large(limit);
        }
        Err(e) => {
            tracing::debug!(error = %e, "client body could not be read");
            return reply::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "400",
                "The request body could not be read.",
            );
        }
    };
    remove_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    let injected = usage::inject(rt.settings.stream_usage, parts.uri.path(), &mut parts.headers, &mut body);
    let deployment = deployment::of_request(parts.uri.path(), &body);
    // Tracing (when on): the request's span, continued from the client's traceparent.
    let mut span =
        shared.tracing.as_ref().map(|t| t.request(&parts.method, parts.uri.path(), &parts.headers, &deployment));

    let mut tried = Tried::default();
    // The last backend answer that failed over; returned as-is when no backend remains and
    // it is more telling than a 429 (a 401 from a wrong key, a 500).
    let mut last_failure: Option<Response<ProxyBody>> = None;
    loop {
        let now = Instant::now();
        // `last_resort`: the `primary` all-throttled mode sends to the first backend and
        // returns its answer, whatever it is.
        let (index, last_resort) = match rt.balancer.choose(&deployment, now, tried, &mut rand::rng()) {
            Choice::Backend(index) => (index, false),
            Choice::NoBackend => return reply::no_backend(&deployment),
            Choice::AllCooling { retry_after } => {
                let primary = match rt.settings.all_throttled {
                    AllThrottled::Primary => rt.balancer.primary(&deployment).filter(|&p| !tried.contains(p)),
                    AllThrottled::Reject => None,
                };
                match (primary, last_failure) {
                    (Some(index), _) => (index, true),
                    (None, Some(failure)) => return failure,
                    (None, None) => {
                        shared.totals.rejected_all_throttled.fetch_add(1, Relaxed);
                        if let Some(span) = span.take() {
                            span.answered_locally(429);
                        }
                        let secs = lb::retry_after_secs(retry_after);
                        tracing::info!(
                            target: "oai_lb::access",
                            path = parts.uri.path(), deployment = &*deployment, status = 429, attempts = tried.count(),
                            latency_ms = millis(started.elapsed()), "all backends cooling down"
                        );
                        let mut response = reply::all_throttled(secs, &deployment);
                        response.headers_mut().insert(X_OAI_LB_ATTEMPTS, attempts_header(tried.count()));
                        return response;
                    }
                }
            }
        };
        if tried.count() > 0 {
            shared.totals.failovers.fetch_add(1, Relaxed);
        }
        tried.insert(index);
        let upstream = &rt.upstreams[index];
        let stats = &rt.stats[index];

        let mut attempt_span = span.as_mut().map(|s| s.attempt(&rt.balancer.backends()[index].name, &deployment));
        if let Some(attempt_span) = &attempt_span {
            parts.headers.insert(TRACEPARENT, attempt_span.traceparent());
        }
        let attempt_started = Instant::now();
        let outcome = attempt(client, rt, index, &parts, &body).await;
        let latency = attempt_started.elapsed();
        let cooldown = match outcome {
            Ok(response) if last_resort || !fails_over(response.status()) => {
                if fails_over(response.status()) {
                    let rest = cooldown::from_headers(response.headers(), SystemTime::now());
                    start_cooldown(shared, rt, index, &deployment, rest.unwrap_or(rt.settings.default_cooldown));
                }
                let status = response.status();
                stats.record(Outcome::of_status(status.as_u16()), latency);
                if let Some(proactive) = rt.settings.proactive.filter(|_| status.is_success())
                    && let Some(rest) = cooldown::nearly_out(
                        response.headers(),
                        proactive.remaining_requests_floor,
                        || estimated_tokens(&body),
                        proactive.fallback_cooldown,
                    )
                {
                    start_cooldown(shared, rt, index, &deployment, rest);
                }
                if let (Some(span), Some(mut attempt_span)) = (span.as_mut(), attempt_span) {
                    attempt_span.answered(status.as_u16());
                    span.commit(attempt_span);
                }
                // The access log line, the token count and the spans end with the body.
                let mut exchange = Exchange::new(
                    Arc::clone(stats),
                    upstream.name_header.clone(),
                    &deployment,
                    parts.method.clone(),
                    parts.uri.clone(),
                    tried.count(),
                    started,
                );
                exchange.span = span.take();
                let response = committed(response, upstream.name_header.clone(), tried.count());
                return exchange::observe(response, exchange, injected.strip_usage_chunk);
            }
            Ok(response) => {
                let status = response.status();
                stats.record(Outcome::of_status(status.as_u16()), latency);
                let rest = cooldown::from_headers(response.headers(), SystemTime::now());
                if let Some(attempt_span) = &mut attempt_span {
                    attempt_span.answered(status.as_u16());
                }
                tracing::debug!(backend = rt.balancer.backends()[index].name, status = status.as_u16(), "failing over");
                last_failure = (status != StatusCode::TOO_MANY_REQUESTS)
                    .then(|| committed(response, upstream.name_header.clone(), tried.count()));
                rest.unwrap_or(rt.settings.default_cooldown)
            }
            Err(problem) => {
                stats.record(Outcome::Error, latency);
                if let Some(attempt_span) = &mut attempt_span {
                    attempt_span.error(&problem.to_string());
                }
                tracing::warn!(backend = rt.balancer.backends()[index].name, error = %problem, "backend unreachable; failing over");
                last_failure = None;
                rt.settings.default_cooldown
            }
        };
        if let Some(attempt_span) = attempt_span {
            attempt_span.failed_over(cooldown);
        }
        start_cooldown(shared, rt, index, &deployment, cooldown);
    }
}

/// Starts a cooldown locally (what selection reads) and, with shared state, announces it to
/// the other replicas in the background.
fn start_cooldown(shared: &Shared, rt: &Runtime, index: usize, deployment: &str, cooldown: Duration) {
    let now = Instant::now();
    let end = rt.balancer.start_cooldown(index, deployment, cooldown, now);
    rt.stats[index].cooldown_started();
    if let Some(shared_state) = &shared.shared_state {
        shared_state.announce(&rt.balancer.backends()[index].name, deployment, SystemTime::now() + (end - now));
    }
}

/// Why an attempt produced no response head.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("no response head within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Connect(String),
    #[error("cannot authenticate to the backend: {0}")]
    Auth(String),
}

/// Sends the buffered request to one backend and waits for its response head.
async fn attempt(
    client: &UpstreamClient,
    rt: &Runtime,
    index: usize,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<Response<Incoming>, AttemptError> {
    let upstream = &rt.upstreams[index];
    let uri = upstream.uri(parts.uri.path_and_query()).map_err(|e| AttemptError::Connect(e.to_string()))?;
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = parts.headers.clone();
    upstream.auth.apply(request.headers_mut()).await.map_err(AttemptError::Auth)?;
    let timeout = rt.settings.response_timeout;
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(AttemptError::Connect(error_chain(&e))),
        Err(_) => Err(AttemptError::Timeout(timeout)),
    }
}

/// The response the client gets: the backend's head and streaming body, cleaned of
/// hop-by-hop headers and labelled with the backend and the number of attempts.
fn committed(response: Response<Incoming>, backend: HeaderValue, attempts: u32) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    parts.headers.insert(X_OAI_LB_BACKEND, backend);
    parts.headers.insert(X_OAI_LB_ATTEMPTS, attempts_header(attempts));
    Response::from_parts(parts, ProxyBody::Upstream(body))
}

fn attempts_header(attempts: u32) -> HeaderValue {
    const SMALL: [HeaderValue; 5] = [
        HeaderValue::from_static("0"),
        HeaderValue::from_static("1"),
        HeaderValue::from_static("2"),
        HeaderValue::from_static("3"),
        HeaderValue::from_static("4"),
    ];
    SMALL.get(attempts as usize).cloned().unwrap_or_else(|| HeaderValue::from(attempts))
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    const HOP_BY_HOP: [HeaderName; 8] = [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ];
    if let Some(named) = headers.get(header::CONNECTION).and_then(|v| v.to_str().ok()).map(str::to_owned) {
        for name in named.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// A rough token cost for proactive routing: prompt bytes / 4 plus the completion budget.
fn estimated_tokens(body: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Budget {
        max_tokens: Option<u64>,
        max_completion_tokens: Option<u64>,
    }
    let budget = serde_json::from_slice::<Budget>(body).ok();
    let completion = budget.and_then(|b| b.max_completion_tokens.or(b.max_tokens)).unwrap_or(0);
    body.len() as u64 / 4 + completion
}

/// Milliseconds with microsecond precision, for log lines.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn state_view(shared: &Shared, rt: &Runtime) -> StateView {
    let now = Instant::now();
    let backends = rt
        .balancer
        .backends()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            BackendView::new(
                &b.name,
                &rt.upstreams[i].url,
                b.priority,
                b.weight,
                &rt.stats[i],
                rt.balancer.cooldowns(i).active(now),
            )
        })
        .collect();
    StateView { backends, shared_state: shared.shared_state_view() }
}

fn state_json(shared: &Shared, rt: &Runtime) -> Response<ProxyBody> {
    let body = serde_json::to_vec(&state_view(shared, rt)).unwrap_or_default();
    reply::ok("application/json", body)
}

fn metrics_text(shared: &Shared, rt: &Runtime) -> Response<ProxyBody> {
    let now = Instant::now();
    let backends: Vec<_> = rt
        .balancer
        .backends()
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), &*rt.stats[i], rt.balancer.cooldowns(i).active(now).len()))
        .collect();
    let text = super::metrics::prometheus(&shared.totals, &backends, shared.shared_state_healthy(), now);
    reply::ok("text/plain; version=0.0.4; charset=utf-8", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_statuses_are_the_design_s() {
        for s in [401, 408, 429, 500, 502, 503, 504] {
            assert!(fails_over(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 201, 204, 400, 403, 404, 413, 422] {
            assert!(!fails_over(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_named_by_connection() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("api-key", HeaderValue::from_static("k"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("api-key"));
    }

    #[test]
    fn token_estimate_counts_prompt_and_budget() {
        assert_eq!(estimated_tokens(br#"{"max_tokens": 100}"#), 4 + 100);
        assert_eq!(estimated_tokens(b"12345678"), 2);
    }

    #[test]
    fn attempts_header_values() {
        assert_eq!(attempts_header(1), "1");
        assert_eq!(attempts_header(12), "12");
    }
}
