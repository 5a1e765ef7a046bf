//! Cooldowns shared by every replica through Redis.
//!
//! The hot path never waits on Redis: a request that starts a cooldown hands it to a
//! bounded channel ([`SharedCooldowns::announce`]) and goes on; a background task writes it
//! (`SET key value PX ttl`) and publishes it, and applies what other replicas publish to the
//! local table that selection reads. A replica that starts or reconnects loads the
//! cooldowns in force and re-announces its own, so an outage loses nothing that is still
//! running. While Redis is away each replica goes on with its local state; one warning
//! line per outage, and `/lb/backends` and `/metrics` show the state as degraded.
//!
//! One RESP3 connection (Redis 6 or later) carries the commands and the subscription's
//! pushes, and resolves the host with [`crate::dns`] (no C library NSS in the image).
//! `/readyz` waits for the first connection, or [`READY_WAIT`] at most: past that the
//! replica serves degraded rather than stay out of its load balancer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::Secrets;
use super::active::ActiveConfig;
use crate::config::SharedStateSection;

/// Most announcements waiting for Redis; beyond that they are dropped (the reconnect
/// re-sync announces every running cooldown again anyway).
const QUEUE: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const PING_EVERY: Duration = Duration::from_secs(1);
/// How long a starting replica reports not ready while Redis cannot be reached; then it
/// declares itself degraded and ready (local cooldowns only).
pub const READY_WAIT: Duration = Duration::from_secs(5);
/// A message whose cooldown ends further away than this is not a cooldown (a peer with a
/// wrong clock, a bad write): ignored and counted. Closer ones are capped at
/// `max_cooldown_secs` like every cooldown.
const IMPLAUSIBLE_MS: u64 = 86_400_000;

/// One cooldown as replicas exchange it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Announcement {
    backend: String,
    deployment: String,
    /// End of the cooldown, Unix milliseconds (replicas share a wall clock, not an `Instant`).
    until_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("balancer.shared_state.url: {0} (fix: write redis://HOST:PORT or rediss://HOST:PORT)")]
pub struct SharedStateError(String);

/// The handle the request path uses.
pub struct SharedCooldowns {
    queue: mpsc::Sender<Announcement>,
    healthy: Arc<AtomicBool>,
    /// Set once the first session has loaded the cooldowns in force.
    reached: Arc<AtomicBool>,
    started: Instant,
    rejected: Arc<AtomicU64>,
    url: String,
}

impl SharedCooldowns {
    /// Validates the settings and starts the background task on the current tokio runtime.
    pub fn start(
        settings: &SharedStateSection,
        secrets: &Secrets,
        active: Arc<ArcSwap<ActiveConfig>>,
    ) -> Result<Self, SharedStateError> {
        let url_password = url_password(&settings.url);
        let scrub = |text: String| scrubbed(text, url_password.as_deref());
        let mut info = redis::IntoConnectionInfo::into_connection_info(settings.url.as_str()).map_err(|e| {
            SharedStateError(scrub(format!("`{}` is not a usable Redis URL: {e}", redacted(&settings.url))))
        })?;
        let redis_settings = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
        info = info.set_redis_settings(redis_settings);
        let mut password = url_password.clone();
        if let Some(var) = &settings.password_env {
            let secret = secrets.get(var).ok_or_else(|| SharedStateError(format!("{var} is not set")))?;
            let redis_settings = info.redis_settings().clone().set_password(secret.clone());
            info = info.set_redis_settings(redis_settings);
            password = Some(secret);
        }
        let client =
            redis::Client::open(info).map_err(|e| SharedStateError(scrubbed(e.to_string(), password.as_deref())))?;
        let (queue, announcements) = mpsc::channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(false));
        let reached = Arc::new(AtomicBool::new(false));
        let rejected = Arc::new(AtomicU64::new(0));
        let task = RedisLink {
            password,
            rejected: Arc::clone(&rejected),
            client,
            key_prefix: format!("{}:cooldown:", settings.key_prefix),
            channel: format!("{}:cooldowns", settings.key_prefix),
            active,
            healthy: Arc::clone(&healthy),
            reached: Arc::clone(&reached),
            url: redacted(&settings.url),
            resolver: crate::dns::Resolver::default(),
        };
        tokio::spawn(task.run(announcements));
        Ok(SharedCooldowns { queue, healthy, reached, started: Instant::now(), rejected, url: redacted(&settings.url) })
    }

    /// Hands a cooldown to the background writer; never waits.
    pub fn announce(&self, backend: &str, deployment: &str, until: SystemTime) {
        let until_ms = until.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let _ = self.queue.try_send(Announcement { backend: backend.into(), deployment: deployment.into(), until_ms });
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// What `/readyz` says: Redis reached once, or [`READY_WAIT`] passed without it
    /// (degraded: serving with local cooldowns).
    pub fn readiness(&self) -> Readiness {
        if self.reached.load(Ordering::Relaxed) {
            Readiness::Ready
        } else if self.started.elapsed() >= READY_WAIT {
            Readiness::Degraded
        } else {
            Readiness::Waiting
        }
    }

    /// Messages and stored keys ignored as garbage or out of range.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// The URL without its password, for display.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Whether a replica with shared state may take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Redis has been reached (it may be away now: the replica goes on with local state).
    Ready,
    /// Redis was never reached within [`READY_WAIT`]: serving with local cooldowns.
    Degraded,
    /// Still trying to reach Redis for the first time.
    Waiting,
}

/// The background side: connects, loads, writes, subscribes; reconnects with backoff.
struct RedisLink {
    client: redis::Client,
    /// Only to scrub it out of error messages.
    password: Option<String>,
    rejected: Arc<AtomicU64>,
    key_prefix: String,
    channel: String,
    active: Arc<ArcSwap<ActiveConfig>>,
    healthy: Arc<AtomicBool>,
    reached: Arc<AtomicBool>,
    url: String,
    resolver: crate::dns::Resolver,
}

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the subscription ended")]
    Closed,
}

async fn timed<T>(limit: Duration, f: impl Future<Output = redis::RedisResult<T>>) -> Result<T, LinkError> {
    tokio::time::timeout(limit, f).await.map_err(|_| LinkError::Timeout(limit))?.map_err(LinkError::from)
}

impl RedisLink {
    async fn run(self, mut announcements: mpsc::Receiver<Announcement>) {
        let mut backoff = Duration::from_millis(100);
        let mut ever_connected = false;
        let mut outage_reported = false;
        loop {
            let result = self.session(&mut announcements, &mut backoff, &mut ever_connected).await;
            if let Err(e) = result {
                let was_healthy = self.healthy.swap(false, Ordering::Relaxed);
                if was_healthy || !outage_reported {
                    let error = scrubbed(e.to_string(), self.password.as_deref());
                    tracing::warn!(url = %self.url, %error, "shared state (Redis) unavailable; serving with local cooldowns and reconnecting");
                    outage_reported = true;
                }
            }
            if announcements.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if self.healthy.load(Ordering::Relaxed) {
                outage_reported = false;
            }
        }
    }

    async fn session(
        &self,
        announcements: &mut mpsc::Receiver<Announcement>,
        backoff: &mut Duration,
        ever_connected: &mut bool,
    ) -> Result<(), LinkError> {
        // Pushes (subscribed messages, the disconnect notice) arrive here; Redis's RESP2
        // subscriber would need a connection of its own, resolved by the C library.
        let (push_sender, mut pushes) = mpsc::unbounded_channel::<redis::PushInfo>();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_push_sender(push_sender)
            .set_dns_resolver(self.resolver.clone());
        let mut connection =
            timed(CONNECT_TIMEOUT, self.client.get_multiplexed_async_connection_with_config(&config)).await?;
        timed(COMMAND_TIMEOUT, connection.subscribe(&self.channel)).await?;

        // What was queued while away is covered by the re-sync below.
        while announcements.try_recv().is_ok() {}
        let loaded = self.load(&mut connection).await?;
        let mine = self.local_cooldowns();
        for announcement in &mine {
            self.write(&mut connection, announcement).await?;
        }
        self.healthy.store(true, Ordering::Relaxed);
        self.reached.store(true, Ordering::Relaxed);
        *backoff = Duration::from_millis(100);
        if *ever_connected {
            tracing::info!(url = %self.url, loaded, announced = mine.len(), "shared state (Redis) recovered");
        } else {
            tracing::info!(url = %self.url, loaded, "shared state (Redis) connected");
        }
        *ever_connected = true;

        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                push = pushes.recv() => {
                    let push = push.ok_or(LinkError::Closed)?;
                    match push.kind {
                        redis::PushKind::Disconnection => return Err(LinkError::Closed),
                        redis::PushKind::Message => {
                            let payload = redis::Msg::from_push_info(push).and_then(|m| m.get_payload::<String>().ok());
                            self.receive(payload.as_deref());
                        }
                        // Subscription confirmations and the like.
                        _ => {}
                    }
                }
                announcement = announcements.recv() => match announcement {
                    Some(announcement) => self.write(&mut connection, &announcement).await?,
                    None => return Ok(()),
                },
                _ = ping.tick() => {
                    timed(COMMAND_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut connection)).await?;
                }
            }
        }
    }

    /// Stores a cooldown with a matching expiry and tells the other replicas.
    async fn write(
        &self,
        connection: &mut redis::aio::MultiplexedConnection,
        announcement: &Announcement,
    ) -> Result<(), LinkError> {
        let now_ms = unix_ms(SystemTime::now());
        let Some(ttl_ms) = announcement.until_ms.checked_sub(now_ms).filter(|&t| t > 0) else { return Ok(()) };
        // Never more than the longest cooldown: an expiry Redis accepts, whatever we were given.
        let max_ms = self.active.load().balancer.max_cooldown().as_millis().max(1) as u64;
        let ttl_ms = ttl_ms.min(max_ms);
        let capped = Announcement { until_ms: now_ms + ttl_ms, ..announcement.clone() };
        let key = format!("{}{}:{}", self.key_prefix, capped.backend, capped.deployment);
        let payload = serde_json::to_string(&capped).unwrap_or_default();
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&key).arg(&payload).arg("PX").arg(ttl_ms).ignore();
        pipe.cmd("PUBLISH").arg(&self.channel).arg(&payload).ignore();
        timed(COMMAND_TIMEOUT, pipe.query_async::<()>(connection)).await
    }

    /// Loads every cooldown in force into the local table; returns how many.
    async fn load(&self, connection: &mut redis::aio::MultiplexedConnection) -> Result<usize, LinkError> {
        let pattern = format!("{}*", self.key_prefix);
        let keys: Vec<String> = {
            let mut iter = timed(COMMAND_TIMEOUT, connection.scan_match::<_, String>(&pattern)).await?;
            let mut keys = Vec::new();
            while let Some(key) = iter.next().await {
                keys.push(key?);
            }
            keys
        };
        if keys.is_empty() {
            return Ok(0);
        }
        let values: Vec<Option<String>> = timed(COMMAND_TIMEOUT, connection.mget(&keys)).await?;
        let mut loaded = 0;
        for value in values.into_iter().flatten() {
            loaded += usize::from(self.receive(Some(&value)));
        }
        Ok(loaded)
    }

    /// Applies one message or stored value; garbage and out-of-range values are ignored and
    /// counted, never an error (one bad peer must not break the session). True when a
    /// cooldown was applied.
    fn receive(&self, payload: Option<&str>) -> bool {
        let announcement = payload.and_then(|p| serde_json::from_str::<Announcement>(p).ok());
        match announcement.map(|a| self.apply(&a)) {
            Some(Applied::Yes) => true,
            Some(Applied::NotHere) => false,
            None | Some(Applied::OutOfRange) => {
                let n = self.rejected.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(rejected = n, "ignoring a shared-state message that is not a cooldown");
                }
                false
            }
        }
    }

    /// Applies a cooldown to the local table, capped at `max_cooldown_secs`.
    fn apply(&self, announcement: &Announcement) -> Applied {
        let now_ms = unix_ms(SystemTime::now());
        let left_ms = announcement.until_ms.saturating_sub(now_ms);
        if left_ms > IMPLAUSIBLE_MS {
            return Applied::OutOfRange;
        }
        let active = self.active.load();
        let Some(index) = active.balancer.index_of(&announcement.backend) else { return Applied::NotHere };
        if left_ms == 0 {
            return Applied::NotHere;
        }
        active.balancer.start_cooldown(index, &announcement.deployment, Duration::from_millis(left_ms), Instant::now());
        Applied::Yes
    }

    /// This replica's running cooldowns, as announcements.
    fn local_cooldowns(&self) -> Vec<Announcement> {
        let active = self.active.load();
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut out = Vec::new();
        for (index, backend) in active.balancer.backends().iter().enumerate() {
            for (deployment, left) in active.balancer.cooldowns(index).active(now) {
                out.push(Announcement { backend: backend.name.clone(), deployment, until_ms: unix_ms(wall + left) });
            }
        }
        out
    }
}

/// What became of a received cooldown.
enum Applied {
    Yes,
    /// Unknown backend here, or already over.
    NotHere,
    /// Further away than any cooldown can be.
    OutOfRange,
}

/// The password in a `redis://user:password@host` URL.
fn url_password(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let userinfo = &rest[..rest.rfind('@')?];
    let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    (!password.is_empty()).then(|| password.to_string())
}

/// `text` with every occurrence of `secret` replaced by `***`.
fn scrubbed(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() && text.contains(secret) => text.replace(secret, "***"),
        _ => text,
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `redis://:secret@host:6379` → `redis://***@host:6379`.
fn redacted(url: &str) -> String {
    crate::config::redact_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redacted("redis://:pw@host:6379"), "redis://***@host:6379");
        assert_eq!(redacted("rediss://user:pw@host"), "rediss://***@host");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn passwords_are_scrubbed_from_messages() {
        assert_eq!(url_password("redis://:s3cret@h:1").as_deref(), Some("s3cret"));
        assert_eq!(url_password("redis://user:s3cret@h").as_deref(), Some("s3cret"));
        assert_eq!(url_password("redis://h:1"), None);
        assert_eq!(scrubbed("auth s3cret failed".into(), Some("s3cret")), "auth *** failed");
    }

    #[test]
    fn announcements_round_trip() {
        let a = Announcement { backend: "east".into(), deployment: "gpt-4o".into(), until_ms: 42 };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Announcement>(&text).unwrap(), a);
    }
}
