//! The embedded balancer: a hyper server that runs the `src/lb` algorithm in front of the
//! configured backends.
//!
//! Architecture invariant: nothing here blocks a runtime thread or holds a lock across an
//! `.await`; request bodies are buffered once (for replay on failover), response bodies are
//! never buffered.

mod active;
mod auth;
mod body;
mod client;
mod conn;
mod exchange;
mod forward;
mod listen;
mod metrics;
mod reply;
mod secrets;
mod shared_state;
mod upstream;
mod usage;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use arc_swap::ArcSwap;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use active::BuildError;
pub use auth::EntraTiming;
pub use forward::{X_OAI_LB_ATTEMPTS, X_OAI_LB_BACKEND};
pub use metrics::{BackendView, CooldownView, SharedStateView, StateView};
pub use secrets::Secrets;
pub use usage::{DeploymentTokens, Scanner as UsageScanner, Usage};

use crate::config::Config;
use crate::credential::CredentialKind;
use active::ActiveConfig;
use metrics::Totals;
use shared_state::SharedCooldowns;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the config file is checked for changes.
const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Options of `oai-lb serve` that are not in the config file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Listen here instead of `balancer.listen`.
    pub listen: Option<SocketAddr>,
    /// Allow a non-loopback address without client keys.
    pub allow_unauthenticated: bool,
    /// Reload from this file on SIGHUP or when it changes.
    pub config_path: Option<PathBuf>,
    /// Worker threads (one event loop each); default: one per core.
    pub workers: Option<usize>,
    /// Where Entra tokens for `auth = "entra"` backends come from.
    pub credential: CredentialKind,
    /// Where the secrets the config names come from (default: the environment); asked
    /// again on every reload.
    pub secrets: Secrets,
    /// Entra token refresh: timeout and backoff after a failure.
    pub entra_timing: EntraTiming,
    /// Where traces go (resolved by the caller from flags, `OTEL_*` and `[telemetry]`);
    /// `None`: tracing off.
    pub telemetry: Option<crate::telemetry::TelemetrySettings>,
}

impl ServeOptions {
    /// Worker threads to run: `workers`, or one per core.
    fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "refusing to listen on {0} without client keys: anyone who can reach it could spend your quota (fix: set balancer.client_keys_env, listen on 127.0.0.1, or pass --allow-unauthenticated)"
    )]
    Unauthenticated(SocketAddr),
    #[error("cannot listen on {addr}: {source} (fix: choose another address with --listen)")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Config(#[from] BuildError),
    #[error("{0}")]
    SharedState(#[from] shared_state::SharedStateError),
    #[error("no backends configured (fix: add a [[backends]] section to the config)")]
    NoBackends,
    #[error("{0}")]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

/// Each worker's own pool of backend connections.
pub(crate) type UpstreamClient = upstream::Pool;

/// Limits fixed when the server starts (changing them needs a restart).
#[derive(Debug, Clone, PartialEq)]
struct Limits {
    header_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    http2_max_concurrent_streams: u32,
    max_buffered_bytes: usize,
}

impl Limits {
    fn of(config: &Config) -> Limits {
        let b = &config.balancer;
        Limits {
            header_timeout: Duration::from_secs_f64(b.client_header_timeout_secs),
            idle_timeout: Duration::from_secs_f64(b.client_idle_timeout_secs),
            max_connections: b.max_connections,
            http2_max_concurrent_streams: b.http2_max_concurrent_streams,
            max_buffered_bytes: b.max_buffered_bytes,
        }
    }
}

/// What a reload cannot change: the listening socket, the Redis link, the upstream
/// client's connect timeout and the server limits.
#[derive(Debug, Clone, PartialEq)]
struct RestartOnly {
    listen: String,
    shared_state: Option<crate::config::SharedStateSection>,
    connect_timeout_secs: f64,
    limits: Limits,
}

impl RestartOnly {
    fn of(config: &Config) -> RestartOnly {
        let b = &config.balancer;
        RestartOnly {
            listen: b.listen.clone(),
            shared_state: b.shared_state.clone(),
            connect_timeout_secs: b.connect_timeout_secs,
            limits: Limits::of(config),
        }
    }

    /// The `[balancer]` keys that differ in `new` and wait for a restart.
    fn changed(&self, new: &RestartOnly) -> Vec<&'static str> {
        let (a, b) = (&self.limits, &new.limits);
        [
            ("balancer.listen", self.listen != new.listen),
            ("balancer.shared_state", self.shared_state != new.shared_state),
            ("balancer.connect_timeout_secs", self.connect_timeout_secs != new.connect_timeout_secs),
            ("balancer.client_header_timeout_secs", a.header_timeout != b.header_timeout),
            ("balancer.client_idle_timeout_secs", a.idle_timeout != b.idle_timeout),
            ("balancer.max_connections", a.max_connections != b.max_connections),
            ("balancer.http2_max_concurrent_streams", a.http2_max_concurrent_streams != b.http2_max_concurrent_streams),
            ("balancer.max_buffered_bytes", a.max_buffered_bytes != b.max_buffered_bytes),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// State shared by every worker thread.
pub(crate) struct Shared {
    active: Arc<ArcSwap<ActiveConfig>>,
    totals: Totals,
    connect_timeout: Duration,
    limits: Limits,
    /// One permit per open client connection.
    connections: Arc<Semaphore>,
    /// One permit per request-body byte buffered, all requests together.
    body_budget: Semaphore,
    /// Without client keys (and without `--allow-unauthenticated`), only loopback `Host`s
    /// are served: a web page cannot reach the balancer through DNS rebinding.
    allow_any_host: bool,
    /// What the running server was started with, to tell which reloaded changes need a
    /// restart.
    started_with: RestartOnly,
    /// Cooldowns exchanged with other replicas, when `[balancer.shared_state]` is set.
    shared_state: Option<SharedCooldowns>,
    /// OTLP traces, when the resolved telemetry settings name a collector.
    tracing: Option<crate::telemetry::Tracing>,
    /// Set when the server starts draining: HTTP/1 answers then close their connection.
    draining: AtomicBool,
}

impl Shared {
    /// Client connections open now (all workers).
    fn open_connections(&self) -> usize {
        self.limits.max_connections.min(Semaphore::MAX_PERMITS).saturating_sub(self.connections.available_permits())
    }

    fn shared_state_view(&self) -> Option<SharedStateView> {
        self.shared_state.as_ref().map(|s| SharedStateView {
            url: s.url().to_string(),
            healthy: s.healthy(),
            rejected_messages: s.rejected(),
        })
    }
    /// (healthy, messages rejected) of the shared state, when it is configured.
    fn shared_state_health(&self) -> Option<(bool, u64)> {
        self.shared_state.as_ref().map(|s| (s.healthy(), s.rejected()))
    }
}

/// What one worker thread's connections use: the shared state and the worker's own
/// upstream connection pool, so a request's client side and backend side are driven by
/// the same thread (no cross-thread wake-ups on the hot path).
pub(crate) struct Worker {
    shared: Arc<Shared>,
    client: UpstreamClient,
    /// How client connections are served (limits applied), per protocol.
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

/// A bound, not yet running balancer.
pub struct Server {
    /// One listening socket per worker.
    listeners: Vec<std::net::TcpListener>,
    shared: Arc<Shared>,
    options: ServeOptions,
    local_addr: SocketAddr,
}

impl Server {
    /// Validates the config into a runtime, applies the listen-address safety rule and binds.
    pub async fn bind(config: Config, options: ServeOptions) -> Result<Server, ProxyError> {
        if config.backends.is_empty() {
            return Err(ProxyError::NoBackends);
        }
        let listen = options.listen.unwrap_or_else(|| config.listen_addr());
        let connect_timeout = Duration::from_secs_f64(config.balancer.connect_timeout_secs);
        let active = ActiveConfig::build(&config, None, &options.secrets, options.credential, options.entra_timing)?;
        if !listen.ip().is_loopback() && active.client_keys.is_empty() && !options.allow_unauthenticated {
            return Err(ProxyError::Unauthenticated(listen));
        }
        let bind_error = |source| ProxyError::Bind { addr: listen, source };
        let listeners = listen::bind(listen, options.worker_count()).map_err(bind_error)?;
        let local_addr = listeners[0].local_addr().map_err(bind_error)?;
        let active = Arc::new(ArcSwap::from_pointee(active));
        let shared_state = match &config.balancer.shared_state {
            Some(settings) => Some(SharedCooldowns::start(settings, &options.secrets, Arc::clone(&active))?),
            None => None,
        };
        let limits = Limits::of(&config);
        let totals = Totals::default();
        let tracing = match &options.telemetry {
            Some(settings) => {
                let tracing = crate::telemetry::Tracing::start(settings, Arc::clone(&totals.trace_spans_dropped))?;
                tracing::info!(endpoint = %settings.endpoint, service = %settings.service_name, "exporting traces over OTLP");
                Some(tracing)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            active,
            totals,
            connect_timeout,
            connections: Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS))),
            body_budget: Semaphore::new(limits.max_buffered_bytes.min(Semaphore::MAX_PERMITS)),
            limits,
            allow_any_host: options.allow_unauthenticated,
            started_with: RestartOnly::of(&config),
            shared_state,
            tracing,
            draining: AtomicBool::new(false),
        });
        Ok(Server { listeners, shared, options, local_addr })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to reload the config from outside (tests, embedders).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            shared: Arc::clone(&self.shared),
            allow_unauthenticated: self.options.allow_unauthenticated,
            credential: self.options.credential,
            secrets: self.options.secrets.clone(),
            entra_timing: self.options.entra_timing,
            listen: self.local_addr,
        }
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests (up to 30 s).
    ///
    /// Connections are served by one single-threaded runtime per core (`workers`), each
    /// accepting from its own socket, the way nginx runs one event loop per worker.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let reloader = self.reloader();
        let Server { listeners, shared, options, local_addr } = self;
        let watcher = options.config_path.clone().map(|path| tokio::spawn(watch_config(path, reloader)));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut finished = Vec::with_capacity(listeners.len());
        for (n, listener) in listeners.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let stop = stop_rx.clone();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            finished.push(done_rx);
            std::thread::Builder::new()
                .name(format!("oai-lb-worker-{n}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    match runtime {
                        Ok(runtime) => runtime.block_on(serve_connections(listener, shared, stop)),
                        Err(e) => tracing::error!(error = %e, "worker runtime failed to start"),
                    }
                    let _ = done_tx.send(());
                })
                .map_err(|source| ProxyError::Bind { addr: local_addr, source })?;
        }
        shutdown.await;
        tracing::info!("draining in-flight requests");
        shared.draining.store(true, Relaxed);
        let _ = stop_tx.send(true);
        for done in finished {
            let _ = done.await;
        }
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        if let Some(tracing) = &shared.tracing {
            tracing.flush(Duration::from_secs(5)).await;
        }
        Ok(())
    }
}

/// One worker's accept loop; returns once `stop` flips and its connections have drained.
async fn serve_connections(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let listener = match listener.set_nonblocking(true).and_then(|()| TcpListener::from_std(listener)) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "worker cannot use the listening socket");
            return;
        }
    };
    let limits = shared.limits.clone();
    let mut http1 = http1::Builder::new();
    // Header timeouts are the connection's own (`conn::Expiry`): one timer per connection
    // instead of hyper's one per request.
    http1.timer(TokioTimer::new()).header_read_timeout(None);
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_pending_accept_reset_streams(Some(limits.http2_max_concurrent_streams as usize));
    let worker = Arc::new(Worker { client: upstream::Pool::new(shared.connect_timeout), shared, http1, http2 });
    // Every connection task holds a sender: all are gone when `open.recv()` returns None.
    let (alive, mut open) = tokio::sync::mpsc::channel::<()>(1);
    let connection_stop = stop.clone();
    loop {
        // A connection slot first: past max_connections, new connections wait in the
        // listen queue instead of taking memory here.
        let slot = tokio::select! {
            slot = Arc::clone(&worker.shared.connections).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stop.wait_for(|&stop| stop) => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and similar: back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (worker, stop, alive) = (Arc::clone(&worker), connection_stop.clone(), alive.clone());
                tokio::spawn(async move {
                    client::serve(stream, worker, stop).await;
                    drop((slot, alive));
                });
            }
            _ = stop.wait_for(|&stop| stop) => break,
        }
    }
    drop(listener);
    drop(alive);
    tokio::select! {
        _ = open.recv() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("gave up waiting for in-flight requests after {DRAIN_TIMEOUT:?}"),
    }
}

/// Swaps in a new config without dropping requests in flight.
#[derive(Clone)]
pub struct Reloader {
    shared: Arc<Shared>,
    allow_unauthenticated: bool,
    credential: CredentialKind,
    secrets: Secrets,
    entra_timing: EntraTiming,
    listen: SocketAddr,
}

impl Reloader {
    /// Applies `config`; on error the running config stays in force. Returns the changed
    /// keys that take effect only after a restart (they keep their running values).
    pub fn apply(&self, config: Config) -> Result<Vec<&'static str>, ProxyError> {
        if config.backends.is_empty() {
            return Err(ProxyError::NoBackends);
        }
        let current = self.shared.active.load();
        let active = ActiveConfig::build(&config, Some(&current), &self.secrets, self.credential, self.entra_timing)?;
        if !self.listen.ip().is_loopback() && active.client_keys.is_empty() && !self.allow_unauthenticated {
            return Err(ProxyError::Unauthenticated(self.listen));
        }
        self.shared.active.store(Arc::new(active));
        Ok(self.shared.started_with.changed(&RestartOnly::of(&config)))
    }
}

/// Reloads on SIGHUP and when the file's modification time changes.
///
/// Reading the file's metadata and parsing it are blocking file I/O: both run on tokio's
/// blocking pool, never on a runtime thread.
async fn watch_config(path: PathBuf, reloader: Reloader) {
    let mut last_seen: Option<SystemTime> = modified(path.clone()).await;
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(RELOAD_POLL);
    loop {
        #[cfg(unix)]
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        #[cfg(not(unix))]
        let forced = {
            tick.tick().await;
            false
        };
        let now_seen = modified(path.clone()).await;
        if !forced && now_seen == last_seen {
            continue;
        }
        last_seen = now_seen;
        let load_path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&load_path)).await;
        let result = match loaded {
            Ok(Ok(config)) => reloader.apply(config).map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the loader stopped: {e}")),
        };
        match result {
            Ok(restart) if restart.is_empty() => tracing::info!(path = %path.display(), "config reloaded"),
            Ok(restart) => tracing::warn!(
                path = %path.display(),
                "config reloaded except {}: changing them needs a restart, the running values stay in force",
                restart.join(", ")
            ),
            Err(e) => tracing::warn!("config not reloaded, the previous one stays in force: {e}"),
        }
    }
}

/// The file's modification time, read on the blocking pool.
async fn modified(path: PathBuf) -> Option<SystemTime> {
    tokio::task::spawn_blocking(move || std::fs::metadata(path).and_then(|m| m.modified()).ok()).await.ok().flatten()
}
