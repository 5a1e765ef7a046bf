//! A committed response on its way to the client, and what is recorded when it ends: the
//! tokens it reported (per backend and deployment), the access log line, and the request's
//! trace span.
//!
//! [`Metered`] wraps the backend's body: every frame passes through at once (the usage
//! [`Scanner`] reads it in place), and when the body ends — or the client goes away — the
//! [`Exchange`] is dropped and records what happened, exactly once.
//!
//! An answer the balancer writes itself (a refusal, every backend cooling, the deadline) is
//! recorded at once by [`answered_locally`]: the same access-log fields and a request span
//! with its status, so every request leaves a line and a span.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use super::upstream::ResponseBody;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, Uri, header};
use http_body::{Body, Frame, SizeHint};

use super::body::ProxyBody;
use super::metrics::BackendStats;
use super::usage::{Scanner, SseFilter, Usage};
use crate::log_writer::{self, AccessValue};
use crate::telemetry::{RequestSpan, Tracing};

/// One request's record, finished when its response body ends.
pub struct Exchange {
    pub stats: Arc<BackendStats>,
    /// The backend's name (the `x-oai-lb-backend` value).
    pub backend: HeaderValue,
    /// Shared with the request it answers (one allocation per request, not two).
    pub deployment: Arc<str>,
    /// The request's path, copied: the request's `Uri` is a slice of hyper's read buffer
    /// for the client connection, and keeping it for a stream's life kept that buffer too
    /// (hyper reads into a new one meanwhile): 8 KiB per stream for a few bytes.
    pub path: Box<str>,
    pub method: http::Method,
    pub attempts: u32,
    pub started: Instant,
    /// Time until the committed response head arrived.
    pub head_latency: Duration,
    /// The request's trace span, when tracing is on; ended with the body.
    pub span: Option<RequestSpan>,
    status: u16,
    bytes: u64,
    scanner: Option<Scanner>,
    filter: Option<SseFilter>,
    finished: bool,
}

impl Exchange {
    pub fn new(
        stats: Arc<BackendStats>,
        backend: HeaderValue,
        deployment: Arc<str>,
        method: http::Method,
        uri: Uri,
        attempts: u32,
        started: Instant,
    ) -> Exchange {
        Exchange {
            stats,
            backend,
            deployment,
            path: uri.path().into(),
            method,
            attempts,
            started,
            head_latency: started.elapsed(),
            span: None,
            status: 0,
            bytes: 0,
            scanner: None,
            filter: None,
            finished: false,
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.scanner.as_ref().and_then(Scanner::usage)
    }
}

impl Exchange {
    /// Records the request: called when the body's last frame is handed on (so a client
    /// that has read the answer finds it counted), else when the body is dropped.
    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let usage = self.usage();
        if let Some(usage) = usage {
            self.stats.tokens.add(&self.deployment, usage);
        }
        let duration = self.started.elapsed();
        let backend = self.backend.to_str().unwrap_or_default();
        let trace_id = self.span.as_ref().map(RequestSpan::trace_id);
        let trace_id = trace_id.as_ref().map(|t| t.as_str());
        use AccessValue::{Absent, Millis, Str, U64};
        let written = log_writer::access_line(
            "proxied",
            &[
                ("method", Str(self.method.as_str())),
                ("path", Str(&self.path)),
                ("deployment", Str(&self.deployment)),
                ("backend", Str(backend)),
                ("status", U64(self.status.into())),
                ("attempts", U64(self.attempts.into())),
                ("latency_ms", Millis(self.head_latency)),
                ("duration_ms", Millis(duration)),
                ("bytes", U64(self.bytes)),
                ("prompt_tokens", usage.map_or(Absent, |u| U64(u.prompt))),
                ("completion_tokens", usage.map_or(Absent, |u| U64(u.completion))),
                ("trace_id", trace_id.map_or(Absent, Str)),
            ],
        );
        if !written {
            tracing::info!(
                target: "oai_lb::access",
                method = self.method.as_str(),
                path = &*self.path,
                deployment = &*self.deployment,
                backend,
                status = self.status,
                attempts = self.attempts,
                latency_ms = millis(self.head_latency),
                duration_ms = millis(duration),
                bytes = self.bytes,
                prompt_tokens = usage.map(|u| u.prompt),
                completion_tokens = usage.map(|u| u.completion),
                trace_id,
                "proxied"
            );
        }
        if let Some(span) = self.span.take() {
            span.finish(self.status, self.bytes, usage);
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Wraps a committed backend response so its usage, size and end are recorded. Successful
/// answers are scanned for usage; with `strip_usage_chunk` (the balancer asked for usage
/// the client did not want) a streamed answer loses its usage-only chunk.
pub fn observe(response: Response<ProxyBody>, mut exchange: Exchange, strip_usage_chunk: bool) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    let ProxyBody::Upstream(body) = body else {
        return Response::from_parts(parts, body);
    };
    exchange.status = parts.status.as_u16();
    if parts.status.is_success() {
        exchange.scanner = Some(Scanner::default());
        let streamed =
            parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if strip_usage_chunk && streamed {
            exchange.filter = Some(SseFilter::default());
            parts.headers.remove(header::CONTENT_LENGTH);
        }
    }
    Response::from_parts(parts, ProxyBody::Metered(Box::new(Metered { body, exchange, ended: false })))
}

/// The backend's body, observed as it streams.
pub struct Metered {
    body: ResponseBody,
    exchange: Exchange,
    ended: bool,
}

impl Body for Metered {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Some(data) = frame.data_ref() else {
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    if let Some(scanner) = &mut this.exchange.scanner {
                        scanner.feed(data);
                    }
                    let Some(filter) = &mut this.exchange.filter else {
                        this.exchange.bytes += data.len() as u64;
                        if this.body.is_end_stream() {
                            this.exchange.finish();
                        }
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    let Ok(data) = frame.into_data() else { unreachable!("checked: a data frame") };
                    let out = filter.filter(data);
                    if !out.is_empty() {
                        this.exchange.bytes += out.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    this.ended = true;
                    let rest = this.exchange.filter.as_mut().map(SseFilter::finish).unwrap_or_default();
                    this.exchange.bytes += rest.len() as u64;
                    this.exchange.finish();
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.exchange.filter.is_none() && self.body.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.exchange.filter.is_some() { SizeHint::default() } else { self.body.size_hint() }
    }
}

/// The request a local answer is for.
pub struct Head<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// Empty when it was not read yet (a refusal before the body).
    pub deployment: &'a Arc<str>,
    pub started: Instant,
    pub attempts: u32,
}

/// Records an answer the balancer wrote itself: the access log line (the fields of a
/// proxied line, no backend, and `reason`) and the request span (started here when the
/// refusal came before it), ended with the status.
pub fn answered_locally(
    tracing: Option<&Tracing>,
    span: Option<RequestSpan>,
    head: Head<'_>,
    response: &Response<ProxyBody>,
    reason: &'static str,
) {
    let span =
        span.or_else(|| tracing.map(|t| t.request(head.method, head.uri, head.headers, head.deployment, head.started)));
    let status = response.status().as_u16();
    let bytes = response.body().size_hint().exact().unwrap_or(0);
    let duration = millis(head.started.elapsed());
    tracing::info!(
        target: "oai_lb::access",
        method = head.method.as_str(),
        path = head.uri.path(),
        deployment = &**head.deployment,
        backend = "",
        status,
        attempts = head.attempts,
        latency_ms = duration,
        duration_ms = duration,
        bytes,
        trace_id = span.as_ref().map(RequestSpan::trace_id).as_ref().map(|t| t.as_str()),
        reason,
        "answered by the balancer"
    );
    if let Some(span) = span {
        span.answered_locally(status, reason, bytes);
    }
}

/// Milliseconds with microsecond precision, for log lines.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}
