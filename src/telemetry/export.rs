//! The span processor and the exporter task: ended spans are handed over with `try_send`
//! on a bounded channel (a full queue drops the span and counts it) and exported in
//! batches by a task on the tokio runtime, off the request path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter as _, SpanProcessor};
use tokio::sync::{mpsc, oneshot};

/// Spans sent in one export at most.
const MAX_BATCH: usize = 512;

/// How long the task gathers spans before it exports what it has.
const BATCH_DELAY: Duration = Duration::from_millis(200);

/// Hands ended spans to the exporter task; never waits.
#[derive(Debug)]
pub struct QueueProcessor {
    queue: mpsc::Sender<SpanData>,
    dropped: Arc<AtomicU64>,
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.queue.try_send(span).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Asks the exporter task to export what is queued now.
pub struct Handle {
    flush: mpsc::Sender<oneshot::Sender<()>>,
}

impl Handle {
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.flush.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Starts the exporter task on the current runtime.
pub fn start(
    mut exporter: opentelemetry_otlp::SpanExporter,
    resource: &Resource,
    queue_spans: usize,
    dropped: Arc<AtomicU64>,
) -> (QueueProcessor, Handle) {
    exporter.set_resource(resource);
    let (queue, spans) = mpsc::channel(queue_spans);
    let (flush, flushes) = mpsc::channel(4);
    tokio::spawn(run(exporter, spans, flushes, Arc::clone(&dropped)));
    (QueueProcessor { queue, dropped }, Handle { flush })
}

async fn run(
    exporter: opentelemetry_otlp::SpanExporter,
    mut spans: mpsc::Receiver<SpanData>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut warned = false;
    loop {
        let mut flushed = None;
        tokio::select! {
            span = spans.recv() => match span {
                Some(span) => batch.push(span),
                None => break,
            },
            Some(done) = flushes.recv() => flushed = Some(done),
        }
        if flushed.is_none() {
            let deadline = tokio::time::sleep(BATCH_DELAY);
            tokio::pin!(deadline);
            while batch.len() < MAX_BATCH {
                tokio::select! {
                    span = spans.recv() => match span {
                        Some(span) => batch.push(span),
                        None => break,
                    },
                    () = &mut deadline => break,
                }
            }
        } else {
            while let Ok(span) = spans.try_recv() {
                batch.push(span);
            }
        }
        while !batch.is_empty() {
            let take = batch.len().min(MAX_BATCH);
            let chunk: Vec<SpanData> = batch.drain(..take).collect();
            if let Err(e) = exporter.export(chunk).await {
                dropped.fetch_add(take as u64, Relaxed);
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(error = %e, "trace export failed; spans are dropped and counted in oai_lb_trace_spans_dropped_total");
                }
            } else {
                warned = false;
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}
