//! The bounded span queue and the export thread.
//!
//! The request path pushes ended spans with [`Queue::push`]: a short uncontended lock and a
//! move into a vector that holds at most `queue_spans` records; a full queue drops the span
//! and counts it. Nothing wakes the exporter per span: it wakes every [`BATCH_DELAY`] (or
//! when the queue is half full), swaps the vector out, writes OTLP protobuf from the
//! records (`otlp.rs`) in batches of at most [`MAX_BATCH`] and sends them over HTTP or gRPC on its own
//! thread and its own single-threaded runtime, never on a request worker's event loop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tokio::sync::oneshot;

use super::TelemetrySettings;
use super::otlp::Encoder;
use super::span::Record;
use crate::config::OtlpProtocol;

/// Spans sent in one export at most.
const MAX_BATCH: usize = 512;

/// How long the exporter sleeps between looks at the queue.
const BATCH_DELAY: Duration = Duration::from_millis(200);

/// Ended spans waiting for the export thread.
pub struct Queue {
    spans: Mutex<Vec<Record>>,
    capacity: usize,
    dropped: Arc<AtomicU64>,
    /// The export thread, woken early when the queue is half full.
    exporter: OnceLock<std::thread::Thread>,
    stopped: AtomicBool,
}

impl Queue {
    pub fn new(capacity: usize, dropped: Arc<AtomicU64>) -> Queue {
        Queue {
            spans: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
            dropped,
            exporter: OnceLock::new(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Queues an ended span, or drops and counts it when the queue is full. Never waits for
    /// the exporter (the lock is only ever held for a push or a swap).
    pub(super) fn push(&self, record: Record) {
        let mut spans = lock(&self.spans);
        if spans.len() >= self.capacity {
            drop(spans);
            self.dropped.fetch_add(1, Relaxed);
            return;
        }
        spans.push(record);
        let half_full = spans.len() == self.capacity / 2;
        drop(spans);
        if half_full && let Some(exporter) = self.exporter.get() {
            exporter.unpark();
        }
    }

    /// Moves every queued span into `into` (which must be empty), leaving its buffer here.
    fn take(&self, into: &mut Vec<Record>) {
        std::mem::swap(&mut *lock(&self.spans), into);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asks the export thread to export what is queued now, or to stop.
pub struct Handle {
    queue: Arc<Queue>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
}

impl Handle {
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.flushes.send(done).is_ok() {
            if let Some(exporter) = self.queue.exporter.get() {
                exporter.unpark();
            }
            let _ = wait.await;
        }
    }

    pub fn stop(&self) {
        self.queue.stopped.store(true, Relaxed);
        if let Some(exporter) = self.queue.exporter.get() {
            exporter.unpark();
        }
    }
}

/// Starts the export thread.
pub fn start(settings: &TelemetrySettings, queue: Arc<Queue>) -> std::io::Result<Handle> {
    let (flushes, flush_requests) = mpsc::channel();
    let encoder = Encoder::new(&settings.service_name);
    let (endpoint, protocol, timeout) = (settings.endpoint.clone(), settings.protocol, settings.timeout);
    let headers = settings.headers.map().clone();
    let in_thread = Arc::clone(&queue);
    let thread = std::thread::Builder::new().name("oai-lb-otlp".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        match runtime {
            Ok(runtime) => {
                let transport = runtime.block_on(async { Transport::new(protocol, &endpoint, headers, timeout) });
                run(&runtime, transport, timeout, encoder, &in_thread, &flush_requests);
            }
            Err(e) => tracing::error!(error = %e, "the trace export thread cannot start a runtime; spans are dropped"),
        }
    })?;
    let _ = queue.exporter.set(thread.thread().clone());
    Ok(Handle { queue, flushes })
}

fn run(
    runtime: &tokio::runtime::Runtime,
    transport: Result<Transport, String>,
    timeout: Duration,
    mut encoder: Encoder,
    queue: &Queue,
    flush_requests: &mpsc::Receiver<oneshot::Sender<()>>,
) {
    let mut transport = match transport {
        Ok(transport) => transport,
        Err(e) => {
            tracing::error!(error = %e, "cannot export traces; spans are dropped");
            return;
        }
    };
    let mut batch: Vec<Record> = Vec::with_capacity(queue.capacity);
    let mut body: Vec<u8> = Vec::new();
    let mut warned = false;
    loop {
        std::thread::park_timeout(BATCH_DELAY);
        let stopping = queue.stopped.load(Relaxed);
        let flushes: Vec<_> = flush_requests.try_iter().collect();
        queue.take(&mut batch);
        for chunk in batch.chunks(MAX_BATCH) {
            encoder.request(chunk, &mut body);
            // Handed over, not copied: a batch is tens of kilobytes.
            let request = Bytes::from(std::mem::take(&mut body));
            let sent = runtime.block_on(async {
                tokio::time::timeout(timeout, transport.send(request))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
            });
            match sent {
                Ok(()) => warned = false,
                Err(e) => {
                    queue.dropped.fetch_add(chunk.len() as u64, Relaxed);
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(error = %e, "trace export failed; spans are dropped and counted in oai_lb_trace_spans_dropped_total");
                    }
                }
            }
        }
        batch.clear();
        for done in flushes {
            let _ = done.send(());
        }
        if stopping {
            return;
        }
    }
}

/// Where batches go: OTLP/HTTP (protobuf body) or OTLP/gRPC (the collector's
/// `TraceService/Export`, the encoded request as its message), with the configured headers
/// (for HTTP the client's default headers; for gRPC the metadata of every call).
#[allow(clippy::large_enum_variant, reason = "one value, owned by the export thread, never moved per batch")]
enum Transport {
    Http { client: reqwest::Client, endpoint: String },
    Grpc { grpc: tonic::client::Grpc<tonic::transport::Channel>, metadata: http::HeaderMap },
}

/// The gRPC method OTLP exports traces with.
const EXPORT_METHOD: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

impl Transport {
    /// Within the export runtime (the gRPC channel's worker task runs there).
    fn new(
        protocol: OtlpProtocol,
        endpoint: &str,
        mut headers: http::HeaderMap,
        timeout: Duration,
    ) -> Result<Transport, String> {
        match protocol {
            OtlpProtocol::HttpProtobuf => {
                // Ours wins over a configured one: the body is protobuf.
                headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-protobuf"));
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .default_headers(headers)
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(Transport::Http { client, endpoint: endpoint.to_string() })
            }
            OtlpProtocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
                    .map_err(|e| e.to_string())?
                    .timeout(timeout)
                    .connect_lazy();
                Ok(Transport::Grpc { grpc: tonic::client::Grpc::new(channel), metadata: headers })
            }
        }
    }

    async fn send(&mut self, request: Bytes) -> Result<(), String> {
        match self {
            Transport::Http { client, endpoint } => {
                let response = client.post(endpoint.as_str()).body(request).send().await.map_err(|e| e.to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the collector answered {}", response.status()))
                }
            }
            Transport::Grpc { grpc, metadata } => {
                grpc.ready().await.map_err(|e| e.to_string())?;
                let method = http::uri::PathAndQuery::from_static(EXPORT_METHOD);
                // A copy per batch, not per span; header names are lower-case already.
                let metadata = tonic::metadata::MetadataMap::from_headers(metadata.clone());
                let request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), request);
                grpc.unary(request, method, Encoded).await.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }
}

/// A gRPC codec for a message that is already encoded; the answer
/// (`ExportTraceServiceResponse`: an optional partial-success note) is read and ignored.
#[derive(Clone, Copy)]
struct Encoded;

impl tonic::codec::Codec for Encoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Encoded;
    type Decoder = Encoded;

    fn encoder(&mut self) -> Encoded {
        Encoded
    }

    fn decoder(&mut self) -> Encoded {
        Encoded
    }
}

impl tonic::codec::Encoder for Encoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Encoded {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
