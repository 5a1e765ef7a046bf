//! The HTTP side of the simulator: accept loop, auth, rate limiting, fault injection and
//! the (streamed) answers. Never holds a lock across an `.await`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rand::Rng;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::limits::{Decision, Exceeded, Limiter, Limits, Remaining};
use super::openai::{self, Operation, Route};
use super::{Counters, SimOptions};

type Body = BoxBody<Bytes, io::Error>;

/// Largest request body the simulator reads (Azure's own limit is similar).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long shutdown waits for in-flight responses.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) struct State {
    pub(super) opts: SimOptions,
    pub(super) counters: Counters,
    pub(super) rpm: AtomicU64,
    pub(super) tpm: AtomicU64,
    started: Instant,
    windows: Mutex<HashMap<String, Limiter>>,
}

impl State {
    pub(super) fn new(opts: SimOptions) -> Self {
        State {
            rpm: AtomicU64::new(opts.rpm),
            tpm: AtomicU64::new(opts.tpm),
            opts,
            counters: Counters::default(),
            started: Instant::now(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn limits(&self) -> Limits {
        Limits { rpm: self.rpm.load(Ordering::Relaxed), tpm: self.tpm.load(Ordering::Relaxed) }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn acquire(&self, deployment: &str, cost: u64) -> Decision {
        let now = self.now_ms();
        let limits = self.limits();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows
            .entry(deployment.to_string())
            .or_insert_with(|| Limiter::new(self.opts.limiter))
            .try_acquire(now, cost, limits)
    }

    fn peek(&self, deployment: &str) -> Remaining {
        let now = self.now_ms();
        let limits = self.limits();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.entry(deployment.to_string()).or_insert_with(|| Limiter::new(self.opts.limiter)).peek(now, limits)
    }

    fn deployments(&self) -> Vec<String> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = windows.keys().cloned().collect();
        names.sort();
        names
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(key) = &self.opts.api_key else { return true };
        let presented = req.headers().get("api-key").and_then(|v| v.to_str().ok()).or_else(|| {
            req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        });
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(key.as_bytes())))
    }
}

/// Serves until `stop` fires, then drains open connections for up to [`DRAIN_TIMEOUT`].
pub(super) async fn serve(listener: TcpListener, state: Arc<State>, mut stop: oneshot::Receiver<()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!("simulator accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(state, req).await) }
                });
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::trace!("simulator connection ended: {e}");
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let c = &state.counters;
    let request_id = uuid::Uuid::new_v4().to_string();
    let route = openai::route(req.uri().path());
    let api_version = query_param(req.uri().query(), "api-version").unwrap_or(openai::DEFAULT_API_VERSION.into());

    // `None` operation = the model list.
    let (operation, known_deployment) = match route {
        Route::NotFound => return json_response(StatusCode::NOT_FOUND, &openai::not_found_body(), &request_id),
        Route::Models => (None, None),
        Route::Deployment { deployment, operation } => (Some(operation), Some(deployment)),
        Route::V1 { operation } => (Some(operation), None),
    };
    // Only API calls count: a client asking whether this is an oai-lb (`/lb/backends`) is not one.
    c.requests.fetch_add(1, Ordering::Relaxed);
    if !state.authorized(&req) {
        c.unauthorized.fetch_add(1, Ordering::Relaxed);
        let mut resp = json_response(StatusCode::UNAUTHORIZED, &openai::unauthorized_body(), &request_id);
        if let Some(d) = &known_deployment {
            remaining_headers(&mut resp, &state.peek(d));
        }
        return resp;
    }
    let Some(operation) = operation else {
        if req.method() != Method::GET {
            return method_not_allowed(&request_id);
        }
        c.ok.fetch_add(1, Ordering::Relaxed);
        return json_response(StatusCode::OK, &openai::models_body(unix_now(), &state.deployments()), &request_id);
    };
    if req.method() != Method::POST {
        return method_not_allowed(&request_id);
    }

    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let body = openai::bad_request_body("The request body is too large or was not received completely.");
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, &body, &request_id);
        }
    };
    let parsed = match openai::Request::parse(operation, &body) {
        Ok(parsed) => parsed,
        Err(message) => {
            return json_response(StatusCode::BAD_REQUEST, &openai::bad_request_body(&message), &request_id);
        }
    };
    let Some(deployment) = known_deployment.or_else(|| parsed.model.clone()) else {
        let body = openai::bad_request_body("'model' is a required property");
        return json_response(StatusCode::BAD_REQUEST, &body, &request_id);
    };

    let remaining = match state.acquire(&deployment, parsed.cost()) {
        Decision::Allowed(remaining) => remaining,
        Decision::Throttled { exceeded, retry_after_ms, remaining } => {
            c.throttled.fetch_add(1, Ordering::Relaxed);
            let secs = retry_after_ms.div_ceil(1000).max(1);
            let body = openai::throttled_body(operation, &api_version, exceeded == Exceeded::Tokens, secs);
            let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, &body, &request_id);
            let h = resp.headers_mut();
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
            h.insert("retry-after-ms", HeaderValue::from(retry_after_ms));
            remaining_headers(&mut resp, &remaining);
            return resp;
        }
    };

    if !state.opts.latency.is_zero() {
        tokio::time::sleep(state.opts.latency).await;
    }
    if roll(state.opts.error_rate) {
        c.errors.fetch_add(1, Ordering::Relaxed);
        let mut resp =
            json_response(StatusCode::INTERNAL_SERVER_ERROR, &openai::server_error_body(&request_id), &request_id);
        remaining_headers(&mut resp, &remaining);
        return resp;
    }

    c.ok.fetch_add(1, Ordering::Relaxed);
    let created = unix_now();
    let model = parsed.model.clone().unwrap_or_else(|| deployment.clone());
    let mut resp = match operation {
        Operation::Embeddings => json_response(StatusCode::OK, &openai::embeddings_body(&model, &parsed), &request_id),
        _ if parsed.stream => stream_response(&state, operation, &model, created, &request_id),
        _ => {
            let words = openai::completion_words(parsed.max_tokens, state.opts.stream_chunks);
            let id = completion_id(operation, &request_id);
            let body = openai::completion_body(operation, &id, created, &model, &parsed, &words);
            json_response(StatusCode::OK, &body, &request_id)
        }
    };
    remaining_headers(&mut resp, &remaining);
    resp
}

/// An SSE answer whose chunks are produced by a task and flushed one frame each, so the
/// client sees them arrive `chunk_interval` apart. A reset ends the body with an error,
/// which makes hyper drop the connection before the terminating chunk.
fn stream_response(
    state: &Arc<State>,
    operation: Operation,
    model: &str,
    created: u64,
    request_id: &str,
) -> Response<Body> {
    let (tx, mut rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(2);
    let chunks = state.opts.stream_chunks.max(1);
    let reset_after = roll(state.opts.reset_rate).then(|| (chunks / 2).clamp(1, 3));
    let words = openai::completion_words(chunks as u64, chunks);
    let id = completion_id(operation, request_id);
    let model = model.to_string();
    let interval = state.opts.chunk_interval;
    let state = state.clone();
    tokio::spawn(async move {
        for (i, word) in words.iter().enumerate() {
            if reset_after == Some(i) {
                state.counters.resets.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(Err(io::Error::new(io::ErrorKind::ConnectionReset, "simulated reset"))).await;
                return;
            }
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let event = openai::chunk_event(operation, &id, created, &model, word, i == 0, i + 1 == chunks);
            if tx.send(Ok(Frame::data(Bytes::from(event)))).await.is_err() {
                return; // the client went away
            }
        }
        let _ = tx.send(Ok(Frame::data(Bytes::from_static(openai::DONE_EVENT.as_bytes())))).await;
    });
    let body = StreamBody::new(stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut resp = Response::new(BodyExt::boxed(body));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    request_id_headers(&mut resp, request_id);
    resp
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response<Body> {
    let bytes = Bytes::from(body.to_string());
    let mut resp = Response::new(Full::new(bytes).map_err(|never: Infallible| match never {}).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request_id_headers(&mut resp, request_id);
    resp
}

fn method_not_allowed(request_id: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": { "code": "405", "message": "Method not allowed" } });
    json_response(StatusCode::METHOD_NOT_ALLOWED, &body, request_id)
}

fn request_id_headers(resp: &mut Response<Body>, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-request-id", v.clone());
        resp.headers_mut().insert("apim-request-id", v);
    }
}

/// `x-ratelimit-remaining-*` always; with the `sliding` limiter also the reset headers
/// (whole seconds) while something in the window is still counted. The other shapes send
/// none, like Azure, so a client must learn their refill from the remaining counts.
fn remaining_headers(resp: &mut Response<Body>, r: &Remaining) {
    let h = resp.headers_mut();
    h.insert("x-ratelimit-remaining-requests", HeaderValue::from(r.requests));
    h.insert("x-ratelimit-remaining-tokens", HeaderValue::from(r.tokens));
    if r.reset_ms > 0 {
        let secs = r.reset_ms.div_ceil(1000);
        h.insert("x-ratelimit-reset-requests", HeaderValue::from(secs));
        h.insert("x-ratelimit-reset-tokens", HeaderValue::from(secs));
    }
}

fn completion_id(operation: Operation, request_id: &str) -> String {
    let prefix = if operation == Operation::Completions { "cmpl" } else { "chatcmpl" };
    format!("{prefix}-{}", request_id.replace('-', ""))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

/// True with probability `rate` (clamped to 0..=1).
fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::rng().random::<f64>() < rate.min(1.0)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
