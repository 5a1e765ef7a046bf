//! The simulated Azure OpenAI deployment behind `oai-lb simulate` and `oai-lb demo`, and the
//! backend the project's own tests run against. A product feature, not a mock: it speaks
//! the Azure OpenAI data plane closely enough (paths, auth, bodies, SSE, rate-limit headers,
//! 429s with Azure's wording) that a client cannot tell it from a small real deployment.
//!
//! Limits are per deployment and follow Azure's short-window evaluation, in one of the
//! limiter shapes of [`limits::Shape`] (sliding window, token bucket, fixed windows);
//! a request's token cost is its prompt size estimate (bytes / 4) plus `max_tokens`
//! ([`openai::DEFAULT_MAX_TOKENS`] when absent). Faults are injected on request: latency
//! before the response head, a share of 500s, and a share of streams cut mid-way.

pub mod limits;
pub mod openai;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use limits::{Limits, Shape};

/// How one simulated deployment behaves.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// A label for output and logs.
    pub name: String,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Requests per minute, per deployment (enforced as `ceil(rpm/6)` per 10 s).
    pub rpm: u64,
    /// Tokens per minute, per deployment (enforced as `ceil(tpm/6)` per 10 s).
    pub tpm: u64,
    /// How the per-minute limits are enforced: the sliding 10-s window, a token bucket
    /// with a 1-s burst, or fixed 1-s / 10-s windows.
    pub limiter: Shape,
    /// The key clients must send (`api-key` or `Authorization: Bearer`); `None` accepts all.
    pub api_key: Option<String>,
    /// Delay before the response head of every admitted request.
    pub latency: Duration,
    /// Share (0..=1) of admitted requests answered with a 500.
    pub error_rate: f64,
    /// Share (0..=1) of streamed responses cut off mid-stream.
    pub reset_rate: f64,
    /// Number of content chunks in a streamed answer (and words in a non-streamed one, up
    /// to `max_tokens`).
    pub stream_chunks: usize,
    /// Pause between streamed chunks.
    pub chunk_interval: Duration,
}

impl Default for SimOptions {
    /// Generous limits, no latency, no faults: a backend that simply works.
    fn default() -> Self {
        SimOptions {
            name: "sim".into(),
            port: 0,
            rpm: 60_000,
            tpm: 10_000_000,
            limiter: Shape::Sliding,
            api_key: None,
            latency: Duration::ZERO,
            error_rate: 0.0,
            reset_rate: 0.0,
            stream_chunks: 8,
            chunk_interval: Duration::from_millis(10),
        }
    }
}

/// What the simulator has answered so far. `requests` counts calls to the API paths (unknown
/// paths are answered 404 and not counted). A stream cut mid-way counts in `ok` (its head
/// said 200) and in `resets`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    pub requests: u64,
    pub ok: u64,
    pub throttled: u64,
    pub errors: u64,
    pub resets: u64,
    pub unauthorized: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}; pick another port, or 0 for any free one")]
    Bind { port: u16, source: std::io::Error },
}

/// Counters shared by every connection.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    ok: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
    resets: AtomicU64,
    unauthorized: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> SimStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStats {
            requests: get(&self.requests),
            ok: get(&self.ok),
            throttled: get(&self.throttled),
            errors: get(&self.errors),
            resets: get(&self.resets),
            unauthorized: get(&self.unauthorized),
        }
    }
}

/// A running simulated deployment. Dropping it leaves the server running until the runtime
/// ends; call [`SimServer::shutdown`] to stop it.
pub struct SimServer {
    addr: SocketAddr,
    state: Arc<server::State>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Binds 127.0.0.1:`opts.port` and serves in a background task.
pub async fn spawn(opts: SimOptions) -> Result<SimServer, SimError> {
    let port = opts.port;
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|source| SimError::Bind { port, source })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind { port, source })?;
    let state = Arc::new(server::State::new(opts));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(server::serve(listener, state.clone(), stopped));
    Ok(SimServer { addr, state, stop: Some(stop), task })
}

impl SimServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, e.g. `http://127.0.0.1:8081`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn name(&self) -> &str {
        &self.state.opts.name
    }

    pub fn stats(&self) -> SimStats {
        self.state.counters.snapshot()
    }

    /// The simulator's clock: milliseconds since it started. Fixed windows start at whole
    /// multiples of their length on this clock.
    pub fn now_ms(&self) -> u64 {
        self.state.now_ms()
    }

    /// Current per-minute limits.
    pub fn limits(&self) -> Limits {
        self.state.limits()
    }

    /// Changes the per-minute limits while running (e.g. to make a backend recover).
    pub fn set_limits(&self, rpm: u64, tpm: u64) {
        self.state.rpm.store(rpm, Ordering::Relaxed);
        self.state.tpm.store(tpm, Ordering::Relaxed);
    }

    /// Stops accepting, lets in-flight responses finish (for up to a few seconds), and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
