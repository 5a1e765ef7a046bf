//! OpenTelemetry traces of `oai-lb serve`, exported over OTLP (HTTP/protobuf or gRPC).
//!
//! One server span per client request, continued from the client's W3C `traceparent`, and
//! one client span per attempt, whose context is sent to the backend as its `traceparent`.
//!
//! The request path only fills a small record per span (ids from a per-thread generator,
//! `Instant`s, shared names: no string is formatted, no attribute allocated) and pushes it
//! on a bounded queue; when the queue is full the span is dropped and counted
//! (`oai_lb_trace_spans_dropped_total`), never waited for. A dedicated export thread writes
//! the records as OTLP protobuf in batches (`otlp.rs`) and sends them (`export.rs`), so
//! encoding and I/O never run on a request worker's event loop.
//!
//! Architecture invariant: with tracing off, the request path creates no span and does no
//! work here at all (the proxy holds an `Option<Tracing>` that is `None`); nothing here
//! reads the environment (`cli::settings` resolves [`TelemetrySettings`]).

mod export;
mod headers;
mod otlp;
mod span;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http::HeaderName;

pub use headers::ExportHeaders;
pub use span::{RequestSpan, TraceParent};

use crate::config::OtlpProtocol;

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// How long one export may take when `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` does not say
/// (the exporter spec's default).
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how traces go, resolved once by `cli::settings` (flags, then the standard
/// `OTEL_*` variables, then `[telemetry]`). `Debug` shows the header names, not their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// The full URL spans are sent to (`…/v1/traces` for HTTP, the collector for gRPC).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub service_name: String,
    /// Spans waiting for export at most; more are dropped and counted.
    pub queue_spans: usize,
    /// Sent with every export (HTTP headers, gRPC metadata): often credentials.
    pub headers: ExportHeaders,
    /// How long one export may take before its spans count as dropped.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("telemetry: cannot export traces to {endpoint}: {problem}")]
pub struct TelemetryError {
    endpoint: String,
    problem: String,
}

/// The tracer of a running balancer.
pub struct Tracing {
    queue: Arc<export::Queue>,
    exporter: export::Handle,
}

impl Tracing {
    /// Checks the endpoint and starts the export thread. `dropped` counts spans lost to a
    /// full queue or a failed export.
    pub fn start(settings: &TelemetrySettings, dropped: Arc<AtomicU64>) -> Result<Tracing, TelemetryError> {
        let error = |problem: String| TelemetryError { endpoint: settings.endpoint.clone(), problem };
        let uri: http::Uri = settings
            .endpoint
            .parse()
            .map_err(|e: http::uri::InvalidUri| error(format!("{e} (fix: a URL such as http://127.0.0.1:4318)")))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => {}
            _ => return Err(error("not an http:// or https:// URL (fix: a URL such as http://127.0.0.1:4318)".into())),
        }
        let queue = Arc::new(export::Queue::new(settings.queue_spans.max(1), dropped));
        let exporter = export::start(settings, Arc::clone(&queue)).map_err(|e| error(e.to_string()))?;
        Ok(Tracing { queue, exporter })
    }

    /// Starts the span of one client request, continuing the client's trace if it sent a
    /// valid `traceparent`.
    pub fn request(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        deployment: &Arc<str>,
        started: std::time::Instant,
    ) -> RequestSpan {
        let parent = headers.get(TRACEPARENT).and_then(|v| TraceParent::parse(v.as_bytes()));
        RequestSpan::start(
            Arc::clone(&self.queue),
            parent,
            method.clone(),
            uri.clone(),
            Arc::clone(deployment),
            started,
        )
    }

    /// Exports what is queued (waits at most `timeout`); for a clean shutdown.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.exporter.flush()).await;
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        self.exporter.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_transports_start_and_bad_endpoints_are_refused() {
        for (protocol, endpoint) in
            [(OtlpProtocol::HttpProtobuf, "http://127.0.0.1:9/v1/traces"), (OtlpProtocol::Grpc, "http://127.0.0.1:9")]
        {
            let settings = TelemetrySettings {
                endpoint: endpoint.into(),
                protocol,
                service_name: "t".into(),
                queue_spans: 8,
                headers: ExportHeaders::parse("test", "authorization=Bearer t0ken").unwrap(),
                timeout: DEFAULT_EXPORT_TIMEOUT,
            };
            assert!(!format!("{settings:?}").contains("t0ken"), "Debug hides the header values");
            let tracing = Tracing::start(&settings, Arc::default()).unwrap();
            let deployment: Arc<str> = "d".into();
            let mut span = tracing.request(
                &http::Method::POST,
                &"/x".parse().unwrap(),
                &http::HeaderMap::new(),
                &deployment,
                std::time::Instant::now(),
            );
            let traceparent = span.attempt(&http::HeaderValue::from_static("east"));
            assert!(traceparent.to_str().unwrap().starts_with(&format!("00-{}-", span.trace_id().as_str())));
        }
        for bad in ["x", "127.0.0.1:4318", "ftp://c/v1/traces"] {
            let settings = TelemetrySettings {
                endpoint: bad.into(),
                protocol: OtlpProtocol::HttpProtobuf,
                service_name: "t".into(),
                queue_spans: 8,
                headers: ExportHeaders::default(),
                timeout: DEFAULT_EXPORT_TIMEOUT,
            };
            let e = Tracing::start(&settings, Arc::default()).err().expect(bad).to_string();
            assert!(e.contains(bad) && e.contains("fix:"), "{e}");
        }
    }
}
