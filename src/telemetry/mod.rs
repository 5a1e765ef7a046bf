//! OpenTelemetry traces of `oai-lb serve`, exported over OTLP (HTTP/protobuf or gRPC).
//!
//! One server span per client request, continued from the client's W3C `traceparent`, and
//! one client span per attempt, whose context is sent to the backend as its `traceparent`.
//! Spans go through a bounded queue to a background exporter task: when the queue is full,
//! a span is dropped and counted (`oai_lb_trace_spans_dropped_total`), never waited for.
//!
//! Architecture invariant: with tracing off, the request path creates no span and does no
//! work here at all (the proxy holds an `Option<Tracing>` that is `None`).

mod export;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};

use crate::config::{OtlpProtocol, TelemetrySection};

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Where and how traces go, resolved from `[telemetry]` and the standard `OTEL_*`
/// variables (which win, as `OAI_LB_*` variables win over the file elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// The full URL spans are sent to (`…/v1/traces` for HTTP, the collector for gRPC).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub service_name: String,
    /// Spans waiting for export at most; more are dropped and counted.
    pub queue_spans: usize,
}

impl TelemetrySettings {
    /// `None` when no endpoint is configured anywhere, or `OTEL_SDK_DISABLED=true`.
    pub fn resolve(section: Option<&TelemetrySection>, env: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let env = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let protocol = match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            Some(p) if p == "grpc" => OtlpProtocol::Grpc,
            Some(_) => OtlpProtocol::HttpProtobuf,
            None => section.and_then(|s| s.protocol).unwrap_or_default(),
        };
        let endpoint = match env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(full) => full,
            None => {
                let base = env("OTEL_EXPORTER_OTLP_ENDPOINT").or_else(|| section?.otlp_endpoint.clone())?;
                match protocol {
                    OtlpProtocol::Grpc => base,
                    OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
                }
            }
        };
        let service_name = env("OTEL_SERVICE_NAME")
            .or_else(|| section.and_then(|s| s.service_name.clone()))
            .unwrap_or_else(|| "oai-lb".to_string());
        let queue_spans = section.map_or(TelemetrySection::DEFAULT_QUEUE_SPANS, |s| s.queue_spans).max(1);
        Some(TelemetrySettings { endpoint, protocol, service_name, queue_spans })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("telemetry: cannot build the OTLP exporter for {endpoint}: {problem}")]
pub struct TelemetryError {
    endpoint: String,
    problem: String,
}

/// The tracer of a running balancer.
pub struct Tracing {
    tracer: SdkTracer,
    /// Owns the span processor (and so the queue) for as long as the balancer runs.
    _provider: SdkTracerProvider,
    exporter: export::Handle,
}

impl Tracing {
    /// Builds the exporter and starts its task on the current tokio runtime. `dropped` counts
    /// spans lost to a full queue or a failed export.
    pub fn start(settings: &TelemetrySettings, dropped: Arc<AtomicU64>) -> Result<Tracing, TelemetryError> {
        let error = |problem: String| TelemetryError { endpoint: settings.endpoint.clone(), problem };
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let exporter = match settings.protocol {
            OtlpProtocol::HttpProtobuf => builder
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(Duration::from_secs(10))
                .build(),
            OtlpProtocol::Grpc => builder
                .with_tonic()
                .with_protocol(Protocol::Grpc)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(Duration::from_secs(10))
                .build(),
        }
        .map_err(|e| error(e.to_string()))?;
        let resource = Resource::builder().with_service_name(settings.service_name.clone()).build();
        let (processor, handle) = export::start(exporter, &resource, settings.queue_spans, dropped);
        let provider = SdkTracerProvider::builder().with_resource(resource).with_span_processor(processor).build();
        let tracer = provider.tracer("oai-lb");
        Ok(Tracing { tracer, _provider: provider, exporter: handle })
    }

    /// Starts the span of one client request, continuing the client's trace if it sent a
    /// `traceparent`.
    pub fn request(&self, method: &http::Method, path: &str, headers: &HeaderMap, deployment: &str) -> RequestSpan {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        let name = if deployment.is_empty() { method.to_string() } else { format!("{method} {deployment}") };
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_string()),
                KeyValue::new("oai_lb.deployment", deployment.to_string()),
            ])
            .start_with_context(&self.tracer, &parent);
        let context = parent.with_remote_span_context(span.span_context().clone());
        RequestSpan { tracer: self.tracer.clone(), span, context, attempts: 0, committed: None }
    }

    /// Exports what is queued (waits at most `timeout`); for a clean shutdown.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.exporter.flush()).await;
    }
}

/// Reads headers for the W3C trace-context propagator.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// The span of one client request and its attempts. Dropped unfinished (a request answered
/// by the balancer itself), it ends with what it has.
pub struct RequestSpan {
    tracer: SdkTracer,
    span: Span,
    /// Parent context for the attempts.
    context: Context,
    attempts: u32,
    /// The attempt whose answer went to the client; ended with the body.
    committed: Option<AttemptSpan>,
}

impl RequestSpan {
    /// Starts the span of one attempt at `backend`.
    pub fn attempt(&mut self, backend: &str, deployment: &str) -> AttemptSpan {
        self.attempts += 1;
        let span = self
            .tracer
            .span_builder(format!("attempt {backend}"))
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("oai_lb.backend", backend.to_string()),
                KeyValue::new("oai_lb.deployment", deployment.to_string()),
                KeyValue::new("oai_lb.attempt", i64::from(self.attempts)),
            ])
            .start_with_context(&self.tracer, &self.context);
        AttemptSpan { span }
    }

    /// The attempt whose response is being sent to the client.
    pub fn commit(&mut self, attempt: AttemptSpan) {
        self.committed = Some(attempt);
    }

    /// The request was answered by the balancer itself (every backend cooling, no backend).
    pub fn answered_locally(mut self, status: u16) {
        self.span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        self.span.set_status(Status::error(format!("answered {status} by the balancer")));
        self.span.end();
    }

    /// The 32-hex-digit trace id, for log lines.
    pub fn trace_id(&self) -> String {
        self.span.span_context().trace_id().to_string()
    }

    /// Ends the request (and its committed attempt) when the response body has been sent.
    pub fn finish(mut self, status: u16, bytes: u64, usage: Option<crate::proxy::Usage>) {
        let mut attributes = vec![
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("oai_lb.attempts", i64::from(self.attempts)),
            KeyValue::new("http.response.body.size", bytes as i64),
        ];
        if let Some(usage) = usage {
            attributes.push(KeyValue::new("gen_ai.usage.input_tokens", usage.prompt as i64));
            attributes.push(KeyValue::new("gen_ai.usage.output_tokens", usage.completion as i64));
        }
        if let Some(mut attempt) = self.committed.take() {
            attempt.span.set_attribute(KeyValue::new("http.response.body.size", bytes as i64));
            attempt.span.end();
        }
        self.span.set_attributes(attributes);
        if status >= 500 {
            self.span.set_status(Status::error(format!("status {status}")));
        }
        self.span.end();
    }
}

/// The span of one attempt at a backend.
pub struct AttemptSpan {
    span: Span,
}

impl AttemptSpan {
    /// The `traceparent` the backend gets: this attempt is its parent.
    pub fn traceparent(&self) -> HeaderValue {
        let sc = self.span.span_context();
        let flags = if sc.is_sampled() { "01" } else { "00" };
        HeaderValue::try_from(format!("00-{}-{}-{flags}", sc.trace_id(), sc.span_id()))
            .expect("hex digits are a valid header value")
    }

    /// The attempt failed over and started this cooldown of the backend.
    pub fn failed_over(mut self, cooldown: Duration) {
        self.span.set_attribute(KeyValue::new("oai_lb.cooldown_secs", cooldown.as_secs_f64()));
        self.span.set_attribute(KeyValue::new("oai_lb.failed_over", true));
        self.span.set_status(Status::error("failed over"));
        self.span.end();
    }

    /// The backend's status.
    pub fn answered(&mut self, status: u16) {
        self.span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
    }

    /// No response head: connection error or timeout.
    pub fn error(&mut self, message: &str) {
        self.span.set_attribute(KeyValue::new("error.type", message.to_string()));
        self.span.set_status(Status::error(message.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(TelemetrySettings::resolve(None, env(&[])), None);
        let section = TelemetrySection { otlp_endpoint: Some("http://c:4318".into()), ..TelemetrySection::default() };
        assert_eq!(TelemetrySettings::resolve(Some(&section), env(&[("OTEL_SDK_DISABLED", "true")])), None);
    }

    #[test]
    fn file_then_standard_variables() {
        let section = TelemetrySection {
            otlp_endpoint: Some("http://file:4318/".into()),
            service_name: Some("lb-east".into()),
            ..TelemetrySection::default()
        };
        let s = TelemetrySettings::resolve(Some(&section), env(&[])).unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.protocol, s.service_name.as_str()),
            ("http://file:4318/v1/traces", OtlpProtocol::HttpProtobuf, "lb-east")
        );
        let s = TelemetrySettings::resolve(
            Some(&section),
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_SERVICE_NAME", "from-env"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.protocol, s.service_name.as_str()),
            ("http://env:4317", OtlpProtocol::Grpc, "from-env")
        );
        let s = TelemetrySettings::resolve(
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.endpoint, "http://c:4318/custom");
    }

    #[tokio::test]
    async fn both_transports_build_an_exporter() {
        for (protocol, endpoint) in
            [(OtlpProtocol::HttpProtobuf, "http://127.0.0.1:9/v1/traces"), (OtlpProtocol::Grpc, "http://127.0.0.1:9")]
        {
            let settings =
                TelemetrySettings { endpoint: endpoint.into(), protocol, service_name: "t".into(), queue_spans: 8 };
            let tracing = Tracing::start(&settings, Arc::default()).unwrap();
            let mut span = tracing.request(&http::Method::POST, "/x", &HeaderMap::new(), "d");
            let attempt = span.attempt("east", "d");
            assert!(attempt.traceparent().to_str().unwrap().starts_with(&format!("00-{}-", span.trace_id())));
        }
    }
}
