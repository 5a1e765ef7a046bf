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
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::SemaphorePermit;

use super::active::ActiveConfig;
use super::auth::Access;
use super::body::ProxyBody;
use super::exchange::{self, Exchange};
use super::metrics::{BackendView, Outcome, StateView};
use super::reply;
use super::upstream::ResponseBody;
use super::{Shared, UpstreamClient, Worker, usage};
use crate::config::AllThrottled;
use crate::lb::{self, Choice, Tried, cooldown, deployment};
use crate::telemetry::{RequestSpan, TRACEPARENT};

pub const X_OAI_LB_BACKEND: HeaderName = HeaderName::from_static("x-oai-lb-backend");
pub const X_OAI_LB_ATTEMPTS: HeaderName = HeaderName::from_static("x-oai-lb-attempts");

/// Statuses after which the next backend is tried (rule 4 of the design). A 401/403 is
/// the backend's fault only when the credential is ours; with pass-through auth it is the
/// client's own answer.
fn fails_over(status: StatusCode, our_credential: bool) -> bool {
    match status.as_u16() {
        408 | 429 | 500..=599 => true,
        401 | 403 => our_credential,
        _ => false,
    }
}

/// Entry point for every request the server accepts.
pub async fn handle(worker: Arc<Worker>, request: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let shared = &*worker.shared;
    let started = Instant::now();
    let active = shared.active.load_full();
    let client_key = match gate(shared, &active, &request) {
        Gate::Answer(response) => return Ok(response),
        Gate::Refuse(response, reason) => {
            let deployment: Arc<str> = deployment::of_request(request.uri().path(), &[]).into();
            let head = exchange::Head {
                method: request.method(),
                uri: request.uri(),
                headers: request.headers(),
                deployment: &deployment,
                started,
                attempts: 0,
            };
            exchange::answered_locally(shared.tracing.as_ref(), None, head, &response, reason);
            return Ok(response);
        }
        Gate::Forward { client_key } => client_key,
    };
    shared.totals.requests.fetch_add(1, Relaxed);
    Ok(forward(shared, &worker.client, &active, request, client_key, started).await)
}

/// What [`gate`] decides.
enum Gate {
    /// The balancer answers itself.
    Answer(Response<ProxyBody>),
    /// The balancer refuses the request (recorded like every proxied request), and why.
    Refuse(Response<ProxyBody>, &'static str),
    /// Forward; `client_key` names the header that carried the client's key, if any.
    Forward { client_key: Option<HeaderName> },
}

/// What the balancer answers itself (health, refusals, its state and metrics), and the
/// checks every proxied request passes: Host, client key.
fn gate(shared: &Shared, active: &ActiveConfig, request: &Request<Incoming>) -> Gate {
    if request.method() == Method::GET {
        // Probes carry no client key.
        match request.uri().path() {
            "/healthz" => return Gate::Answer(reply::ok("text/plain; charset=utf-8", "ok\n")),
            "/readyz" => return Gate::Answer(readyz(shared)),
            _ => {}
        }
    }
    let client_key = match active.client_keys.check(request.headers()) {
        Access::Denied => {
            shared.totals.rejected_unauthorized.fetch_add(1, Relaxed);
            return Gate::Refuse(reply::unauthorized(), "client_key");
        }
        Access::Open if !shared.allow_any_host && !loopback_host(request) => {
            shared.totals.rejected_host.fetch_add(1, Relaxed);
            return Gate::Refuse(reply::foreign_host(), "host");
        }
        Access::Open => None,
        Access::Granted(carrier) => Some(carrier),
    };
    if request.method() == Method::GET {
        match request.uri().path() {
            "/lb/backends" => return Gate::Answer(state_json(shared, active)),
            "/metrics" => return Gate::Answer(metrics_text(shared, active)),
            _ => {}
        }
    }
    Gate::Forward { client_key }
}

/// Ready once the config is loaded (always, by the time the server listens) and, with
/// shared state, once Redis has been reached or the replica has declared itself degraded.
fn readyz(shared: &Shared) -> Response<ProxyBody> {
    use super::shared_state::Readiness;
    const TEXT: &str = "text/plain; charset=utf-8";
    match shared.shared_state.as_ref().map(|s| s.readiness()) {
        None | Some(Readiness::Ready) => reply::ok(TEXT, "ready\n"),
        Some(Readiness::Degraded) => {
            reply::ok(TEXT, "ready (degraded: shared state unreachable, local cooldowns only)\n")
        }
        Some(Readiness::Waiting) => reply::not_ready("not ready: connecting to the shared state (Redis)\n"),
    }
}

/// True when the request is addressed to a loopback host (`Host`, or the HTTP/2
/// authority), or names none.
fn loopback_host<B>(request: &Request<B>) -> bool {
    // Every request of a keyless balancer passes here: the host is borrowed, not copied.
    let parsed: http::uri::Authority;
    let host = match request.uri().authority() {
        Some(authority) => authority.host(),
        None => match request.headers().get(header::HOST).map(|h| h.to_str()) {
            None => return true,
            Some(Err(_)) => return false,
            Some(Ok(value)) => match value.parse::<http::uri::Authority>() {
                Ok(authority) => {
                    parsed = authority;
                    parsed.host()
                }
                Err(_) => return false,
            },
        },
    };
    const SUFFIX: &[u8] = b".localhost";
    let tail = host.len().checked_sub(SUFFIX.len()).map(|start| &host.as_bytes()[start..]);
    crate::config::is_loopback_host(host) || tail.is_some_and(|tail| tail.eq_ignore_ascii_case(SUFFIX))
}

/// A client request whose body has been read, ready to be sent to any backend.
struct Buffered {
    parts: http::request::Parts,
    body: Bytes,
    deployment: Arc<str>,
    started: Instant,
    /// `stream_usage = "inject"` asked for usage the client did not: strip it from the answer.
    injected: usage::Injected,
}

impl Buffered {
    /// What the record of a local answer after `attempts` attempts needs.
    fn head(&self, attempts: u32) -> exchange::Head<'_> {
        exchange::Head {
            method: &self.parts.method,
            uri: &self.parts.uri,
            headers: &self.parts.headers,
            deployment: &self.deployment,
            started: self.started,
            attempts,
        }
    }
}

/// Reads the body, then routes the request within the request deadline.
async fn forward(
    shared: &Shared,
    client: &UpstreamClient,
    active: &ActiveConfig,
    request: Request<Incoming>,
    client_key: Option<HeaderName>,
    started: Instant,
) -> Response<ProxyBody> {
    let (mut parts, body) = request.into_parts();
    // The permit returns the body's bytes to the shared budget when the request is done.
    let (mut body, _budget) = match read_body(shared, active, &parts.headers, body).await {
        Ok(read) => read,
        Err((refusal, reason)) => {
            let deployment: Arc<str> = deployment::of_request(parts.uri.path(), &[]).into();
            let head = exchange::Head {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                deployment: &deployment,
                started,
                attempts: 0,
            };
            exchange::answered_locally(shared.tracing.as_ref(), None, head, &refusal, reason);
            return refusal;
        }
    };
    prepare_headers(&mut parts.headers, client_key);
    let injected = usage::inject(active.settings.stream_usage, parts.uri.path(), &mut parts.headers, &mut body);
    let deployment: Arc<str> = deployment::of_request(parts.uri.path(), &body).into();
    // Tracing (when on): the request's span, continued from the client's traceparent.
    let mut span =
        shared.tracing.as_ref().map(|t| t.request(&parts.method, &parts.uri, &parts.headers, &deployment, started));
    let request = Buffered { parts, body, deployment, started, injected };
    route(shared, client, active, &request, &mut span).await
}

/// Buffers the client's body once (it may be replayed to several backends), up to
/// `max_body_bytes`, within `client_body_timeout_secs`, and within the budget of bytes
/// all requests may hold together; the refusal to send when it cannot.
async fn read_body<'s>(
    shared: &'s Shared,
    active: &ActiveConfig,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<(Bytes, Option<SemaphorePermit<'s>>), (Response<ProxyBody>, &'static str)> {
    let limit = active.settings.max_body_bytes;
    let declared_len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > limit as u64) {
        shared.totals.rejected_too_large.fetch_add(1, Relaxed);
        return Err((reply::body_too_large(limit), "body_too_large"));
    }
    match tokio::time::timeout(active.settings.body_timeout, collect_body(shared, body, limit)).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(BodyError::TooLarge)) => {
            shared.totals.rejected_too_large.fetch_add(1, Relaxed);
            Err((reply::body_too_large(limit), "body_too_large"))
        }
        Ok(Err(BodyError::OverBudget)) => {
            shared.totals.rejected_busy.fetch_add(1, Relaxed);
            Err((reply::busy(), "buffer_budget"))
        }
        Ok(Err(BodyError::Read(e))) => {
            tracing::debug!(error = %e, "client body could not be read");
            let response = reply::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "400",
                "The request body could not be read.",
            );
            Err((response, "body_unreadable"))
        }
        Err(_) => {
            shared.totals.rejected_slow_body.fetch_add(1, Relaxed);
            Err((reply::body_timeout(), "body_timeout"))
        }
    }
}

enum BodyError {
    TooLarge,
    OverBudget,
    Read(hyper::Error),
}

/// Collects the body frame by frame, taking a permit per byte from the shared budget.
async fn collect_body(
    shared: &Shared,
    mut body: Incoming,
    limit: usize,
) -> Result<(Bytes, Option<SemaphorePermit<'_>>), BodyError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    let mut held: Option<SemaphorePermit<'_>> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        len += data.len();
        if len > limit {
            return Err(BodyError::TooLarge);
        }
        let permit = shared.body_budget.try_acquire_many(data.len() as u32).map_err(|_| BodyError::OverBudget)?;
        match held.as_mut() {
            Some(held) => held.merge(permit),
            None => held = Some(permit),
        }
        chunks.push(data);
    }
    let bytes = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = bytes::BytesMut::with_capacity(len);
            chunks.iter().for_each(|c| all.extend_from_slice(c));
            all.freeze()
        }
    };
    Ok((bytes, held))
}

/// What is removed from the client's headers before any backend sees them: hop-by-hop
/// headers, `Host`, and the header that carried the client's key for this balancer.
fn prepare_headers(headers: &mut HeaderMap, client_key: Option<HeaderName>) {
    remove_hop_by_hop(headers);
    headers.remove(header::HOST);
    if let Some(carrier) = client_key {
        headers.remove(carrier);
    }
}

/// The failover loop: choose, attempt, judge; until an answer is committed or no backend
/// remains.
async fn route(
    shared: &Shared,
    client: &UpstreamClient,
    active: &ActiveConfig,
    request: &Buffered,
    span: &mut Option<RequestSpan>,
) -> Response<ProxyBody> {
    let mut tried = Tried::default();
    // The last backend answer that failed over (and its backend); returned as-is when no
    // backend remains and it is more telling than a 429 (a 401 from a wrong key, a 500).
    let mut last_failure: Option<(usize, Response<ResponseBody>)> = None;
    // The request deadline (from here: the body has been read) is enforced by each
    // attempt's own timer, one timer per attempt instead of two: only attempts wait.
    let deadline = tokio::time::Instant::now() + active.settings.request_timeout;
    loop {
        let next = match next_backend(shared, active, request, tried, last_failure.is_some()) {
            Step::Try(next) => next,
            Step::Answer(answer, reason) => {
                let head = request.head(tried.count());
                exchange::answered_locally(shared.tracing.as_ref(), span.take(), head, &answer, reason);
                return answer;
            }
            Step::LastFailure => {
                let (index, response) = last_failure.take().expect("next_backend saw a last failure");
                return observed(active, index, request, response, tried.count(), span.take());
            }
        };
        if tried.count() > 0 {
            shared.totals.failovers.fetch_add(1, Relaxed);
        }
        tried.insert(next.index);
        let traceparent = span.as_mut().map(|s| s.attempt(&active.upstreams[next.index].name_header));
        let attempt_started = Instant::now();
        let outcome = match attempt(client, active, next.index, request, traceparent, deadline).await {
            Err(AttemptError::Deadline) => {
                shared.totals.deadline_exceeded.fetch_add(1, Relaxed);
                let response = reply::deadline(active.settings.request_timeout.as_secs_f64());
                let head = request.head(0);
                exchange::answered_locally(shared.tracing.as_ref(), span.take(), head, &response, "deadline");
                return response;
            }
            outcome => outcome,
        };
        let latency = attempt_started.elapsed();
        if let Some(span) = span {
            match &outcome {
                Ok(response) => span.answered(response.status().as_u16()),
                Err(problem) => span.attempt_failed(problem),
            }
        }
        match judge(active, next, request, outcome, latency) {
            Verdict::Commit(response) => {
                return commit(shared, active, next.index, request, response, tried.count(), span.take());
            }
            Verdict::FailOver { cooldown, answer } => {
                if let Some(span) = span {
                    span.failed_over(cooldown);
                }
                last_failure = answer.map(|r| (next.index, r));
                start_cooldown(shared, active, next.index, &request.deployment, cooldown);
            }
        }
    }
}

/// The backend to try next.
#[derive(Debug, Clone, Copy)]
struct Next {
    index: usize,
    /// The `primary` all-throttled mode sends to the first backend and returns its answer,
    /// whatever it is.
    last_resort: bool,
}

/// What to do after choosing.
enum Step {
    Try(Next),
    /// No backend remains: answer the client with this, for this reason.
    Answer(Response<ProxyBody>, &'static str),
    /// No backend remains: return the last backend answer that failed over.
    LastFailure,
}

/// Asks the balancer for the next backend; when none remains, the answer for the client.
fn next_backend(
    shared: &Shared,
    active: &ActiveConfig,
    request: &Buffered,
    tried: Tried,
    has_last_failure: bool,
) -> Step {
    let deployment = &*request.deployment;
    let retry_after = match active.balancer.choose(deployment, Instant::now(), tried, &mut rand::rng()) {
        Choice::Backend(index) => return Step::Try(Next { index, last_resort: false }),
        Choice::NoBackend => return Step::Answer(reply::no_backend(deployment), "no_backend"),
        Choice::AllCooling { retry_after } => retry_after,
    };
    if active.settings.all_throttled == AllThrottled::Primary
        && let Some(index) = active.balancer.primary(deployment).filter(|&p| !tried.contains(p))
    {
        return Step::Try(Next { index, last_resort: true });
    }
    if has_last_failure {
        return Step::LastFailure;
    }
    shared.totals.rejected_all_throttled.fetch_add(1, Relaxed);
    let secs = lb::retry_after_secs(retry_after);
    let mut response = reply::all_throttled(secs, deployment);
    response.headers_mut().insert(X_OAI_LB_ATTEMPTS, attempts_header(tried.count()));
    Step::Answer(response, "all_cooling")
}

/// What one attempt means for the request.
enum Verdict {
    /// Return this answer to the client.
    Commit(Response<ResponseBody>),
    /// Cool the backend for `cooldown` and try the next; `answer` is the backend's own
    /// answer, worth returning if no backend remains.
    FailOver { cooldown: Duration, answer: Option<Response<ResponseBody>> },
}

/// Judges one attempt's outcome (rules 4, 5 and 7 of the design) and records it.
fn judge(
    active: &ActiveConfig,
    next: Next,
    request: &Buffered,
    outcome: Result<Response<ResponseBody>, AttemptError>,
    latency: Duration,
) -> Verdict {
    let index = next.index;
    let stats = &active.stats[index];
    let name = &active.balancer.backends()[index].name;
    let default = active.settings.default_cooldown;
    let ours = active.upstreams[index].auth.is_ours();
    match outcome {
        Ok(response) if next.last_resort || !fails_over(response.status(), ours) => {
            stats.record(Outcome::of_status(response.status().as_u16()), latency);
            Verdict::Commit(response)
        }
        Ok(response) => {
            let status = response.status();
            stats.record(Outcome::of_status(status.as_u16()), latency);
            let cooldown = cooldown::from_headers(response.headers(), SystemTime::now()).unwrap_or(default);
            let deployment = &*request.deployment;
            if let Some(proactive) = active.settings.proactive.filter(|_| status == StatusCode::TOO_MANY_REQUESTS) {
                // A 429's retry-after-ms names an instant the quota comes back: a lesson.
                proactive.after_throttled(&active.refills[index], deployment, response.headers(), Instant::now());
            }
            if matches!(status.as_u16(), 401 | 403)
                && active.balancer.cooldowns(index).cooling_until(deployment, Instant::now()).is_none()
            {
                // Once per cooldown: while it runs no request reaches this backend.
                tracing::warn!(
                    backend = name,
                    status = status.as_u16(),
                    deployment,
                    "the backend refused the balancer's credential (check its api_key_env or the identity's role); failing over"
                );
            }
            tracing::debug!(backend = name, status = status.as_u16(), "failing over");
            let answer = (status != StatusCode::TOO_MANY_REQUESTS).then_some(response);
            Verdict::FailOver { cooldown, answer }
        }
        Err(problem) => {
            stats.record(Outcome::Error, latency);
            tracing::warn!(backend = name, error = %problem, "backend unreachable; failing over");
            Verdict::FailOver { cooldown: default, answer: None }
        }
    }
}

/// Commits an answer: a last-resort failure still cools its backend, a success that says
/// the quota is nearly out starts a proactive cooldown; then the access log line and the
/// labelled response.
fn commit(
    shared: &Shared,
    active: &ActiveConfig,
    index: usize,
    request: &Buffered,
    response: Response<ResponseBody>,
    attempts: u32,
    mut span: Option<RequestSpan>,
) -> Response<ProxyBody> {
    let status = response.status();
    let deployment = &*request.deployment;
    if fails_over(status, active.upstreams[index].auth.is_ours()) {
        let rest = cooldown::from_headers(response.headers(), SystemTime::now());
        start_cooldown(shared, active, index, deployment, rest.unwrap_or(active.settings.default_cooldown));
    }
    if let Some(proactive) = active.settings.proactive.filter(|_| status.is_success())
        && let Some(rest) =
            proactive.after_success(&active.refills[index], deployment, response.headers(), Instant::now(), || {
                estimated_tokens(&request.body)
            })
    {
        start_cooldown(shared, active, index, deployment, rest);
        if let Some(span) = &mut span {
            span.proactive_cooldown(rest);
        }
    }
    observed(active, index, request, response, attempts, span)
}

/// The labelled response, wrapped so that the access log line, the token count and the
/// request span end with its body.
fn observed(
    active: &ActiveConfig,
    index: usize,
    request: &Buffered,
    response: Response<ResponseBody>,
    attempts: u32,
    span: Option<RequestSpan>,
) -> Response<ProxyBody> {
    let upstream = &active.upstreams[index];
    let mut exchange = Exchange::new(
        Arc::clone(&active.stats[index]),
        upstream.name_header.clone(),
        Arc::clone(&request.deployment),
        request.parts.method.clone(),
        request.parts.uri.clone(),
        attempts,
        request.started,
    );
    exchange.span = span;
    let response = labelled(response, upstream.name_header.clone(), attempts);
    exchange::observe(response, exchange, request.injected.strip_usage_chunk)
}

/// Starts a cooldown locally (what selection reads) and, with shared state, announces it to
/// the other replicas in the background.
fn start_cooldown(shared: &Shared, rt: &ActiveConfig, index: usize, deployment: &str, cooldown: Duration) {
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
    /// The request's deadline passed: the client gets a 504, the backend is not blamed.
    #[error("the request deadline passed")]
    Deadline,
}

/// Sends the buffered request to one backend and waits for its response head, within the
/// response timeout and the request's `deadline`.
async fn attempt(
    client: &UpstreamClient,
    active: &ActiveConfig,
    index: usize,
    request: &Buffered,
    traceparent: Option<HeaderValue>,
    deadline: tokio::time::Instant,
) -> Result<Response<ResponseBody>, AttemptError> {
    let Buffered { parts, body, .. } = request;
    let upstream = &active.upstreams[index];
    let uri = upstream.origin_form(parts.uri.path_and_query()).map_err(|e| AttemptError::Connect(e.to_string()))?;
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = parts.headers.clone();
    if let Some(traceparent) = traceparent {
        request.headers_mut().insert(TRACEPARENT, traceparent);
    }
    // A token refresh (rare) waits within the deadline; a cached token is ready at once
    // and arms no timer.
    match tokio::time::timeout_at(deadline, upstream.auth.apply(request.headers_mut())).await {
        Ok(applied) => applied.map_err(AttemptError::Auth)?,
        Err(_) => return Err(AttemptError::Deadline),
    }
    let timeout = active.settings.response_timeout;
    let ends = deadline.min(tokio::time::Instant::now() + timeout);
    match tokio::time::timeout_at(ends, client.send(upstream.scheme(), upstream.authority(), request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(AttemptError::Connect(error_chain(&*e))),
        Err(_) if ends == deadline => Err(AttemptError::Deadline),
        Err(_) => Err(AttemptError::Timeout(timeout)),
    }
}

/// The response the client gets: the backend's head and streaming body, cleaned of
/// hop-by-hop headers and labelled with the backend and the number of attempts.
fn labelled(response: Response<ResponseBody>, backend: HeaderValue, attempts: u32) -> Response<ProxyBody> {
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
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers, and those `Connection` names. Most messages carry none,
/// or only `Connection: keep-alive`: one pass over the names (compared as the lower-case
/// strings they are, which is cheaper than `HeaderName` equality) finds out which are
/// there, cheaper than looking each one up.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| *h == name.as_str()) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        // Every `Connection` header, not only the first, may name more; `keep-alive` is in
        // the list already and `close` names no header (nothing is collected, nothing
        // allocated, for the common `Connection: keep-alive`).
        let names_a_header =
            |token: &&str| !token.is_empty() && !["keep-alive", "close"].iter().any(|t| token.eq_ignore_ascii_case(t));
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(names_a_header)
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(*name);
        }
    }
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

fn state_view(shared: &Shared, rt: &ActiveConfig) -> StateView {
    let now = Instant::now();
    let backends = rt
        .balancer
        .backends()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            BackendView::new(
                &b.name,
                &crate::config::redact_url(&rt.upstreams[i].url),
                b.priority,
                b.weight,
                &rt.stats[i],
                rt.balancer.cooldowns(i).active(now),
            )
        })
        .collect();
    StateView { backends, shared_state: shared.shared_state_view() }
}

fn state_json(shared: &Shared, rt: &ActiveConfig) -> Response<ProxyBody> {
    let body = serde_json::to_vec(&state_view(shared, rt)).unwrap_or_default();
    reply::ok("application/json", body)
}

fn metrics_text(shared: &Shared, rt: &ActiveConfig) -> Response<ProxyBody> {
    let now = Instant::now();
    let backends: Vec<_> = rt
        .balancer
        .backends()
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), &*rt.stats[i], rt.balancer.cooldowns(i).active(now).len()))
        .collect();
    let text = super::metrics::prometheus(&shared.totals, &backends, shared.shared_state_health(), now);
    reply::ok("text/plain; version=0.0.4; charset=utf-8", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_statuses_are_the_design_s() {
        for s in [401, 403, 408, 429, 500, 502, 503, 504] {
            assert!(fails_over(StatusCode::from_u16(s).unwrap(), true), "{s}");
        }
        for s in [200, 201, 204, 400, 404, 413, 422] {
            assert!(!fails_over(StatusCode::from_u16(s).unwrap(), true), "{s}");
        }
        for s in [401, 403] {
            assert!(!fails_over(StatusCode::from_u16(s).unwrap(), false), "pass-through {s} is the client's");
        }
    }

    #[test]
    fn every_connection_header_s_names_go() {
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("x-a"));
        h.append(header::CONNECTION, HeaderValue::from_static("x-b, x-c"));
        for name in ["x-a", "x-b", "x-c", "x-d"] {
            h.insert(name, HeaderValue::from_static("1"));
        }
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-d"));
    }

    #[test]
    fn only_loopback_hosts_pass_the_host_check() {
        let with_host = |host: &str| Request::builder().uri("/x").header("host", host).body(()).unwrap();
        for ok in ["127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:8080", "app.localhost"] {
            assert!(loopback_host(&with_host(ok)), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.1"] {
            assert!(!loopback_host(&with_host(bad)), "{bad}");
        }
        assert!(!loopback_host(&Request::builder().uri("http://evil.example/x").body(()).unwrap()));
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_named_by_connection() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Private, close"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("api-key", HeaderValue::from_static("k"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("api-key"));

        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_LENGTH));
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
