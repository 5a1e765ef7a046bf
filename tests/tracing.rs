//! OTLP traces of `oai-lb serve`, received by real OTLP receivers started here — OTLP/HTTP
//! (a small hyper server) and OTLP/gRPC (tonic serving the collector's `TraceService`) —
//! and decoded with the OpenTelemetry protobuf definitions: one server span per request
//! continued from the client's `traceparent`, one client span per attempt, the attempt's
//! context passed to the backend, cooldowns (failover and proactive) on the attempts, a span
//! for every answer the balancer gives itself, an exporter that never blocks requests, and
//! the exporter's standard variables (per-signal endpoint, headers sent on every export and
//! never logged).

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message;
use support::{Backend, Balancer, Reply, client};

/// Spans received, with their resource's `service.name`.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// The headers (HTTP) or metadata (gRPC) of every export received.
type Headers = Arc<Mutex<Vec<http::HeaderMap>>>;

/// A real OTLP/HTTP receiver: `POST /v1/traces` with a protobuf body. With `stall`, it
/// accepts and never answers (a collector that hangs).
async fn receiver(stall: bool) -> (SocketAddr, Received) {
    let (addr, received, _) = receiver_at("/v1/traces", stall).await;
    (addr, received)
}

/// The OTLP/HTTP receiver, at `path`, keeping the headers of each export.
async fn receiver_at(path: &'static str, stall: bool) -> (SocketAddr, Received, Headers) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let headers: Headers = Arc::default();
    let (spans, seen) = (Arc::clone(&received), Arc::clone(&headers));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (spans, seen) = (Arc::clone(&spans), Arc::clone(&seen));
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (spans, seen) = (Arc::clone(&spans), Arc::clone(&seen));
                    async move {
                        assert_eq!(request.uri().path(), path);
                        seen.lock().unwrap().push(request.headers().clone());
                        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        if stall {
                            std::future::pending::<()>().await;
                        }
                        let export = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                        collect(&spans, export);
                        let reply = ExportTraceServiceResponse::default().encode_to_vec();
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::from(reply)))
                                .unwrap(),
                        )
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, received, headers)
}

/// Keeps every span of an export with its resource's `service.name`.
fn collect(received: &Received, export: ExportTraceServiceRequest) {
    for resource in export.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                received.lock().unwrap().push((service.clone(), span));
            }
        }
    }
}

/// A real OTLP/gRPC receiver: tonic serving the collector's `TraceService`.
struct Collector(Received, Headers);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.1.lock().unwrap().push(request.metadata().clone().into_headers());
        collect(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn grpc_receiver() -> (SocketAddr, Received, Headers) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (received, headers): (Received, Headers) = Default::default();
    let service = TraceServiceServer::new(Collector(Arc::clone(&received), Arc::clone(&headers)));
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming));
    (addr, received, headers)
}

/// The secret of the `authorization` header the tests configure; it must reach the
/// collector and appear nowhere in the balancer's output.
const TOKEN: &str = "t0ken";

/// Every export carried `authorization: Bearer t0ken` (and there was at least one).
fn assert_authorized(headers: &Headers) {
    let headers = headers.lock().unwrap();
    assert!(!headers.is_empty(), "no export arrived");
    for h in headers.iter() {
        assert_eq!(h.get("authorization").map(|v| v.to_str().unwrap()), Some("Bearer t0ken"), "{h:?}");
    }
}

/// `oai-lb -vv serve` as a user runs it, with no `OTEL_*` variable but `vars`, its stdout
/// and stderr written to `output`; returns once it answers `/healthz`.
async fn serve_vv(config: &std::path::Path, vars: &[(&str, String)], output: &std::path::Path) -> (KillOnDrop, String) {
    let listen = support::dead_url().await.trim_start_matches("http://").to_string();
    let log = std::fs::File::create(output).unwrap();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("oai-lb"));
    command.args(["-vv", "serve", "--workers", "1", "--listen", &listen, "--config"]).arg(config);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        command.env_remove(name);
    }
    command.env_remove("RUST_LOG").envs(vars.iter().map(|(k, v)| (*k, v)));
    let child = command.stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    let child = KillOnDrop(child);
    let base = format!("http://{listen}");
    for _ in 0..100 {
        if client().get(format!("{base}/healthz")).send().await.is_ok() {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("oai-lb serve did not come up: {}", std::fs::read_to_string(output).unwrap());
}

/// Stops the balancer and checks its whole output: it logged (at debug level), never the
/// header's value.
fn assert_output_keeps_the_secret(child: KillOnDrop, output: &std::path::Path) {
    drop(child);
    let output = std::fs::read_to_string(output).unwrap();
    assert!(output.contains("listening") && output.contains("DEBUG"), "-vv logs: {output}");
    assert!(!output.contains(TOKEN), "the header's value was printed:\n{output}");
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn attr_str(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?} in {span:?}"),
    }
}

fn attr_int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(AnyValue::IntValue(i)) => *i,
        other => panic!("{key}: {other:?} in {}", span.name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn wait_for(received: &Received, n: usize) -> Vec<(String, Span)> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    received.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_its_attempts_are_one_trace_continued_from_the_client() {
    let (otlp, received) = receiver(false).await;
    let ptu = Backend::always(|| Reply::throttled("30")).await;
    let usage = r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;
    let paygo = Backend::always(move || Reply::ok(usage)).await;
    let toml = format!(
        "[telemetry]\notlp_endpoint = \"http://{otlp}\"\nservice_name = \"oai-lb-test\"\n{}",
        support::backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])
    );
    let lb = Balancer::start(&toml).await;

    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let resp = client()
        .post(lb.url(support::CHAT))
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .body(support::CHAT_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();

    let spans = wait_for(&received, 3).await;
    assert_eq!(spans.len(), 3, "{spans:#?}");
    assert!(spans.iter().all(|(service, _)| service == "oai-lb-test"));
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();
    let request = spans.iter().find(|s| s.kind == SpanKind::Server as i32).expect("a server span");
    assert_eq!(hex(&request.trace_id), client_trace, "the client's trace continues");
    assert_eq!(hex(&request.parent_span_id), client_span, "the client's span is the parent");
    assert_eq!(request.name, "POST gpt-4o");
    assert_eq!(attr_int(request, "http.response.status_code"), 200);
    assert_eq!(attr_int(request, "oai_lb.attempts"), 2);
    assert_eq!(attr_str(request, "oai_lb.deployment"), "gpt-4o");
    assert_eq!(
        (attr_int(request, "gen_ai.usage.input_tokens"), attr_int(request, "gen_ai.usage.output_tokens")),
        (11, 7)
    );
    assert_eq!(attr_int(request, "http.response.body.size"), usage.len() as i64);

    let mut attempts: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Client as i32).collect();
    attempts.sort_by_key(|s| attr_int(s, "oai_lb.attempt"));
    assert_eq!(attempts.len(), 2);
    for a in &attempts {
        assert_eq!(a.trace_id, request.trace_id);
        assert_eq!(a.parent_span_id, request.span_id, "attempts are children of the request");
        assert!(
            a.start_time_unix_nano >= request.start_time_unix_nano
                && a.end_time_unix_nano <= request.end_time_unix_nano
        );
    }
    let (first, second) = (attempts[0], attempts[1]);
    assert_eq!((attr_str(first, "oai_lb.backend"), attr_int(first, "http.response.status_code")), ("ptu".into(), 429));
    assert!(matches!(attr(first, "oai_lb.cooldown_secs"), Some(AnyValue::DoubleValue(s)) if *s == 30.0));
    assert_eq!(
        (attr_str(second, "oai_lb.backend"), attr_int(second, "http.response.status_code")),
        ("paygo".into(), 200)
    );
    assert_eq!(attr_int(second, "http.response.body.size"), usage.len() as i64);
    assert!(attr(second, "oai_lb.cooldown_secs").is_none());

    // The tree, for people reading the test output (`--no-capture`).
    let ms = |s: &Span| (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6;
    let attrs = |s: &Span| {
        let value = |v: Option<&AnyValue>| match v {
            Some(AnyValue::StringValue(s)) => s.clone(),
            Some(AnyValue::IntValue(i)) => i.to_string(),
            Some(AnyValue::DoubleValue(d)) => d.to_string(),
            Some(AnyValue::BoolValue(b)) => b.to_string(),
            other => format!("{other:?}"),
        };
        s.attributes.iter().map(|a| format!("{}={}", a.key, value(attr(s, &a.key)))).collect::<Vec<_>>().join(" ")
    };
    println!("trace {client_trace}\n  {} [{:.2} ms] {}", request.name, ms(request), attrs(request));
    for a in &attempts {
        println!("    └ {} [{:.2} ms] {}", a.name, ms(a), attrs(a));
    }

    // Each backend got the traceparent of its own attempt.
    for (backend, attempt) in [(&ptu, first), (&paygo, second)] {
        let seen = backend.seen();
        let traceparent = seen[0].headers["traceparent"].to_str().unwrap();
        assert_eq!(traceparent, format!("00-{client_trace}-{}-01", hex(&attempt.span_id)));
    }

    // Without a traceparent, a request starts its own trace.
    received.lock().unwrap().clear();
    let resp = support::post(&lb.url(support::CHAT)).await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    let spans = wait_for(&received, 1).await;
    let request = spans.iter().map(|(_, s)| s).find(|s| s.kind == SpanKind::Server as i32).unwrap();
    assert!(request.parent_span_id.is_empty());
    assert_ne!(hex(&request.trace_id), client_trace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collector_never_slows_requests_spans_are_dropped_and_counted() {
    let (otlp, _) = receiver(true).await;
    let backend = Backend::always(|| Reply::ok(r#"{"choices":[]}"#)).await;
    let toml = format!(
        "[telemetry]\notlp_endpoint = \"http://{otlp}\"\nqueue_spans = 4\n{}",
        support::backends_toml(&[("east", &backend.url(), 1)])
    );
    let lb = Balancer::start(&toml).await;
    // The first spans go out in a batch that the collector never answers: the exporter is
    // stuck from then on, and the queue (4 spans) fills.
    support::post(&lb.url(support::CHAT)).await.bytes().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    for _ in 0..60 {
        let resp = support::post(&lb.url(support::CHAT)).await;
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(5), "requests waited for the exporter: {:?}", started.elapsed());
    let metrics = client().get(lb.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("oai_lb_trace_spans_dropped_total "))
        .expect("the drop counter is exposed")
        .parse()
        .unwrap();
    assert!(dropped >= 2 * 60 - 4, "2 spans a request, 4 fit in the queue: dropped {dropped}\n{metrics}");
}

#[tokio::test]
async fn without_telemetry_nothing_is_traced_and_traceparent_passes_through() {
    let backend = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&support::backends_toml(&[("east", &backend.url(), 1)])).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = client().post(lb.url(support::CHAT)).header("traceparent", traceparent).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(backend.seen()[0].headers["traceparent"], traceparent);
    let metrics = client().get(lb.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("oai_lb_trace_spans_dropped_total 0\n"));
}

/// `oai-lb serve` as a user runs it, with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`: the spans and
/// their parent/child links arrive at a gRPC collector, and the variables win over the
/// file's `[telemetry]` (whose HTTP receiver gets nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_from_the_standard_variables_wins_over_the_file() {
    let (grpc, received, headers) = grpc_receiver().await;
    let (http, from_file) = receiver(false).await;
    let ptu = Backend::always(|| Reply::throttled("30")).await;
    let paygo = Backend::always(|| Reply::ok(r#"{"choices":[]}"#)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oai-lb.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry]\notlp_endpoint = \"http://{http}\"\nservice_name = \"from-file\"\n{}",
            support::backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])
        ),
    )
    .unwrap();
    let output = dir.path().join("output");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{grpc}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ("OTEL_SERVICE_NAME", "from-env".into()),
        // Upper case in the variable, lower case in gRPC metadata.
        ("OTEL_EXPORTER_OTLP_HEADERS", format!("Authorization=Bearer%20{TOKEN}")),
    ];
    let (child, base) = serve_vv(&config, &vars, &output).await;
    let client_trace = "0af7651916cd43dd8448eb211c80319c";
    let resp = client()
        .post(format!("{base}{}", support::CHAT))
        .header("traceparent", format!("00-{client_trace}-b7ad6b7169203331-01"))
        .body(support::CHAT_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();

    let spans = wait_for(&received, 3).await;
    assert_eq!(spans.len(), 3, "{spans:#?}");
    assert!(spans.iter().all(|(service, _)| service == "from-env"), "OTEL_SERVICE_NAME wins over the file");
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();
    let request = spans.iter().find(|s| s.kind == SpanKind::Server as i32).expect("a server span");
    assert_eq!(hex(&request.trace_id), client_trace);
    assert_eq!(hex(&request.parent_span_id), "b7ad6b7169203331");
    assert_eq!(attr_int(request, "http.response.status_code"), 200);
    let mut attempts: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Client as i32).collect();
    attempts.sort_by_key(|s| attr_int(s, "oai_lb.attempt"));
    assert_eq!(attempts.iter().map(|a| attr_str(a, "oai_lb.backend")).collect::<Vec<_>>(), ["ptu", "paygo"]);
    for a in &attempts {
        assert_eq!((&a.trace_id, &a.parent_span_id), (&request.trace_id, &request.span_id));
    }
    assert!(matches!(attr(attempts[0], "oai_lb.cooldown_secs"), Some(AnyValue::DoubleValue(s)) if *s == 30.0));
    assert!(from_file.lock().unwrap().is_empty(), "the file's endpoint lost to the variables");
    assert_authorized(&headers);
    assert_output_keeps_the_secret(child, &output);
}

/// OTLP/HTTP from the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as it
/// is (no `/v1/traces` added) and wins over `OTEL_EXPORTER_OTLP_ENDPOINT`; the headers of
/// `OTEL_EXPORTER_OTLP_HEADERS`, percent-decoded, come with every export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_export_to_the_per_signal_endpoint_with_the_configured_headers() {
    let (traces, received, headers) = receiver_at("/custom/traces", false).await;
    let (general, from_general) = receiver(false).await;
    let backend = Backend::always(|| Reply::ok(r#"{"choices":[]}"#)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oai-lb.toml");
    std::fs::write(&config, support::backends_toml(&[("east", &backend.url(), 1)])).unwrap();
    let output = dir.path().join("output");
    let vars = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("http://{traces}/custom/traces")),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{general}")),
        ("OTEL_EXPORTER_OTLP_HEADERS", format!(" authorization = Bearer%20{TOKEN} , x-tenant=a%2Cb ")),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000".into()),
    ];
    let (child, base) = serve_vv(&config, &vars, &output).await;
    for _ in 0..2 {
        let resp = client().post(format!("{base}{}", support::CHAT)).body(support::CHAT_BODY).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        // Two batches at least: the headers go with every export, not the first only.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let spans = wait_for(&received, 4).await;
    assert_eq!(spans.len(), 4, "a request and its attempt, twice: {spans:#?}");
    assert!(headers.lock().unwrap().len() >= 2, "one export per request");
    assert_authorized(&headers);
    assert!(
        headers.lock().unwrap().iter().all(|h| h["x-tenant"] == "a,b" && h["content-type"] == "application/x-protobuf")
    );
    assert!(from_general.lock().unwrap().is_empty(), "the per-signal endpoint wins");
    assert_output_keeps_the_secret(child, &output);
}

/// A success that says the quota is nearly out starts a proactive cooldown: its attempt
/// span says how long, as a 429's attempt says its cooldown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proactive_cooldown_is_recorded_on_its_attempt() {
    let (otlp, received) = receiver(false).await;
    let backend = Backend::always(|| {
        Reply::ok(r#"{"choices":[]}"#)
            .with_header("x-ratelimit-remaining-requests", "0")
            .with_header("x-ratelimit-reset-requests", "4")
    })
    .await;
    let toml = format!(
        "[telemetry]\notlp_endpoint = \"http://{otlp}\"\n[balancer.proactive]\nadaptive = false\n{}",
        support::backends_toml(&[("east", &backend.url(), 1)])
    );
    let lb = Balancer::start(&toml).await;
    let resp = support::post(&lb.url(support::CHAT)).await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    let spans = wait_for(&received, 2).await;
    let attempt = spans.iter().map(|(_, s)| s).find(|s| s.kind == SpanKind::Client as i32).expect("an attempt span");
    assert_eq!(attr_int(attempt, "http.response.status_code"), 200);
    assert!(
        matches!(attr(attempt, "oai_lb.proactive_cooldown_secs"), Some(AnyValue::DoubleValue(s)) if *s == 4.0),
        "{attempt:?}"
    );
    assert!(attr(attempt, "oai_lb.cooldown_secs").is_none(), "it did not fail over");
    // The cooldown is real: the next request finds the only backend cooling.
    assert_eq!(support::post(&lb.url(support::CHAT)).await.status(), 429);
}

/// Every answer the balancer gives itself has its request span, with the status and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_local_answers_have_a_request_span() {
    let (otlp, received) = receiver(false).await;
    let backend = Backend::always(|| Reply::throttled("30")).await;
    let toml = format!(
        "[telemetry]\notlp_endpoint = \"http://{otlp}\"\n[balancer]\nclient_keys_env = \"TRACING_TEST_CLIENT_KEYS\"\nmax_body_bytes = 64\n{}",
        support::backends_toml(&[("east", &backend.url(), 1)])
    );
    let options = oai_lb::proxy::ServeOptions {
        secrets: oai_lb::proxy::Secrets::from_fn(|name| {
            (name == "TRACING_TEST_CLIENT_KEYS").then(|| "good-key".into())
        }),
        ..Default::default()
    };
    let lb = Balancer::start_with(&toml, options).await;
    let send =
        |key: &'static str, body: String| client().post(lb.url(support::CHAT)).header("api-key", key).body(body).send();
    assert_eq!(send("wrong-key", "{}".into()).await.unwrap().status(), 401);
    assert_eq!(send("good-key", "x".repeat(100)).await.unwrap().status(), 413);
    assert_eq!(send("good-key", "{}".into()).await.unwrap().status(), 429, "the only backend throttles");
    assert_eq!(send("good-key", "{}".into()).await.unwrap().status(), 429, "now it is cooling");

    let spans = wait_for(&received, 5).await;
    let mut servers: Vec<&Span> = spans.iter().map(|(_, s)| s).filter(|s| s.kind == SpanKind::Server as i32).collect();
    servers.sort_by_key(|s| s.start_time_unix_nano);
    let seen: Vec<(i64, String)> = servers
        .iter()
        .map(|s| (attr_int(s, "http.response.status_code"), attr_str(s, "oai_lb.answered_by_balancer")))
        .collect();
    assert_eq!(
        seen,
        [
            (401, "client_key".into()),
            (413, "body_too_large".into()),
            (429, "all_cooling".into()),
            (429, "all_cooling".into())
        ],
        "{servers:#?}"
    );
    assert!(servers.iter().all(|s| attr_str(s, "oai_lb.deployment") == "gpt-4o"));
    // The first 429 tried the backend: its attempt is a child, with the cooldown it started.
    let attempt = spans.iter().map(|(_, s)| s).find(|s| s.kind == SpanKind::Client as i32).expect("the attempt");
    assert_eq!(attempt.parent_span_id, servers[2].span_id);
    assert_eq!(attr_int(servers[2], "oai_lb.attempts"), 1);
    assert_eq!(attr_int(servers[3], "oai_lb.attempts"), 0);
}

/// Stops the `oai-lb serve` a test started, however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
