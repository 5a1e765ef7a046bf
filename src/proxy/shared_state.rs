//! Cooldowns shared by every replica through Redis.
//!
//! The hot path never waits on Redis: a request that starts a cooldown hands it to a
//! bounded channel ([`SharedCooldowns::announce`]) and goes on; a background task writes it
//! (`SET key value PX ttl`) and publishes it, and applies what other replicas publish to the
//! local table that selection reads. A replica that starts or reconnects loads the
//! cooldowns in force and re-announces its own, so an outage loses nothing that is still
//! running. While Redis is away each replica goes on with its local state; one warning
//! line per outage, and `/lb/backends` and `/metrics` show the state as degraded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    url: String,
}

impl SharedCooldowns {
    /// Validates the settings and starts the background task on the current tokio runtime.
    pub fn start(
        settings: &SharedStateSection,
        secrets: &Secrets,
        active: Arc<ArcSwap<ActiveConfig>>,
    ) -> Result<Self, SharedStateError> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(settings.url.as_str())
            .map_err(|e| SharedStateError(format!("`{}` is not a usable Redis URL: {e}", redacted(&settings.url))))?;
        if let Some(var) = &settings.password_env {
            let password = secrets.get(var).ok_or_else(|| SharedStateError(format!("{var} is not set")))?;
            let redis_settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis_settings);
        }
        let client = redis::Client::open(info).map_err(|e| SharedStateError(e.to_string()))?;
        let (queue, announcements) = mpsc::channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(false));
        let task = RedisLink {
            client,
            key_prefix: format!("{}:cooldown:", settings.key_prefix),
            channel: format!("{}:cooldowns", settings.key_prefix),
            active,
            healthy: Arc::clone(&healthy),
            url: redacted(&settings.url),
        };
        tokio::spawn(task.run(announcements));
        Ok(SharedCooldowns { queue, healthy, url: redacted(&settings.url) })
    }

    /// Hands a cooldown to the background writer; never waits.
    pub fn announce(&self, backend: &str, deployment: &str, until: SystemTime) {
        let until_ms = until.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let _ = self.queue.try_send(Announcement { backend: backend.into(), deployment: deployment.into(), until_ms });
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// The URL without its password, for display.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The background side: connects, loads, writes, subscribes; reconnects with backoff.
struct RedisLink {
    client: redis::Client,
    key_prefix: String,
    channel: String,
    active: Arc<ArcSwap<ActiveConfig>>,
    healthy: Arc<AtomicBool>,
    url: String,
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
                    tracing::warn!(url = %self.url, error = %e, "shared state (Redis) unavailable; serving with local cooldowns and reconnecting");
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
        let mut connection = timed(CONNECT_TIMEOUT, self.client.get_multiplexed_async_connection()).await?;
        let mut pubsub = timed(CONNECT_TIMEOUT, self.client.get_async_pubsub()).await?;
        timed(COMMAND_TIMEOUT, pubsub.subscribe(&self.channel)).await?;

        // What was queued while away is covered by the re-sync below.
        while announcements.try_recv().is_ok() {}
        let loaded = self.load(&mut connection).await?;
        let mine = self.local_cooldowns();
        for announcement in &mine {
            self.write(&mut connection, announcement).await?;
        }
        self.healthy.store(true, Ordering::Relaxed);
        *backoff = Duration::from_millis(100);
        if *ever_connected {
            tracing::info!(url = %self.url, loaded, announced = mine.len(), "shared state (Redis) recovered");
        } else {
            tracing::info!(url = %self.url, loaded, "shared state (Redis) connected");
        }
        *ever_connected = true;

        let mut messages = pubsub.on_message();
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let message = message.ok_or(LinkError::Closed)?;
                    if let Ok(payload) = message.get_payload::<String>()
                        && let Ok(announcement) = serde_json::from_str::<Announcement>(&payload)
                    {
                        self.apply(&announcement);
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
        let key = format!("{}{}:{}", self.key_prefix, announcement.backend, announcement.deployment);
        let payload = serde_json::to_string(announcement).unwrap_or_default();
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
            if let Ok(announcement) = serde_json::from_str::<Announcement>(&value) {
                loaded += usize::from(self.apply(&announcement));
            }
        }
        Ok(loaded)
    }

    /// Applies a cooldown to the local table; false when the backend is unknown here or the
    /// cooldown is over.
    fn apply(&self, announcement: &Announcement) -> bool {
        let active = self.active.load();
        let Some(index) = active.balancer.index_of(&announcement.backend) else { return false };
        let now_ms = unix_ms(SystemTime::now());
        let Some(left_ms) = announcement.until_ms.checked_sub(now_ms).filter(|&t| t > 0) else { return false };
        let now = Instant::now();
        active.balancer.cooldowns(index).start(&announcement.deployment, now + Duration::from_millis(left_ms), now);
        true
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

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `redis://:secret@host:6379` → `redis://***@host:6379`.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}***{}", &url[..scheme_end + 3], &url[at..]),
        _ => url.to_string(),
    }
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
    fn announcements_round_trip() {
        let a = Announcement { backend: "east".into(), deployment: "gpt-4o".into(), until_ms: 42 };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Announcement>(&text).unwrap(), a);
    }
}
