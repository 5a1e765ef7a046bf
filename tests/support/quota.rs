//! The quota scenario of issue 14, reusable: priority 1 can serve 40 requests per second,
//! 60 per second are offered, two priority-2 backends take the rest. How much of priority
//! 1's capacity does the balancer use, at how many upstream attempts per request?
//!
//! Used by `tests/proactive.rs` (short runs, asserted) and `benches/quota.rs` (the full
//! 15-s run, printed as a table). Self-contained: it starts simulated backends, one or more
//! balancer replicas in process, and an open-loop load (a request every `1/rate`, each on
//! its own task, so a slow answer never delays the next request).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use oai_lb::sim::limits::{Decision, Limiter, Limits};
use oai_lb::sim::{self, Shape, SimOptions};

/// What `[balancer.proactive]` does in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proactive {
    Off,
    /// Today's rule: a fixed 1-s hold after a success that says "out".
    Fixed,
    /// Hold until the learned next unit.
    Adaptive,
}

impl Proactive {
    pub fn name(self) -> &'static str {
        match self {
            Proactive::Off => "off",
            Proactive::Fixed => "fixed 1 s",
            Proactive::Adaptive => "adaptive",
        }
    }

    fn toml(self) -> &'static str {
        match self {
            Proactive::Off => "[balancer.proactive]\nenabled = false\n",
            Proactive::Fixed => "[balancer.proactive]\nadaptive = false\n",
            Proactive::Adaptive => "[balancer.proactive]\nadaptive = true\n",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub shape: Shape,
    pub proactive: Proactive,
    /// Priority 1's capacity, requests per second.
    pub capacity_rps: u64,
    /// Offered load, requests per second.
    pub offered_rps: u64,
    pub duration: Duration,
    /// Balancer replicas; requests go to them in turn.
    pub replicas: usize,
    /// `redis://…` to share cooldowns between the replicas.
    pub redis: Option<String>,
}

impl Scenario {
    /// The issue's scenario: 40 rps of capacity, 60 offered, 15 s, one balancer.
    pub fn issue_14(shape: Shape, proactive: Proactive) -> Scenario {
        Scenario {
            shape,
            proactive,
            capacity_rps: 40,
            offered_rps: 60,
            duration: Duration::from_secs(15),
            replicas: 1,
            redis: None,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub requests: u64,
    /// Answers other than 2xx that clients got.
    pub client_errors: u64,
    /// Sum of `x-oai-lb-attempts`.
    pub attempts: u64,
    /// Requests priority 1 served.
    pub primary_served: u64,
    /// What priority 1 would have admitted had it been sent every request.
    pub primary_capacity: u64,
    /// 429s priority 1 answered.
    pub primary_429s: u64,
    /// Median client latency through the balancer.
    pub p50: Duration,
}

impl Figures {
    pub fn share(&self) -> f64 {
        self.primary_served as f64 / self.primary_capacity.max(1) as f64
    }

    pub fn attempts_per_request(&self) -> f64 {
        self.attempts as f64 / self.requests.max(1) as f64
    }
}

const CHAT: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
const BODY: &str = r#"{"messages":[{"role":"user","content":"hello"}],"max_tokens":5}"#;

/// Runs one scenario.
pub async fn run(s: &Scenario) -> Figures {
    let rpm = s.capacity_rps * 60;
    let big = 100_000_000;
    let ptu = sim::spawn(SimOptions { name: "ptu".into(), rpm, tpm: big, limiter: s.shape, ..SimOptions::default() })
        .await
        .unwrap();
    let mut paygo = Vec::new();
    for name in ["paygo-a", "paygo-b"] {
        paygo.push(
            sim::spawn(SimOptions { name: name.into(), rpm: big, tpm: big, ..SimOptions::default() }).await.unwrap(),
        );
    }
    let shared = s
        .redis
        .as_ref()
        .map(|url| format!("[balancer.shared_state]\nurl = \"{url}\"\nkey_prefix = \"quota-{}\"\n", uuid_ish()))
        .unwrap_or_default();
    let toml = format!(
        "{shared}{}[[backends]]\nname = \"ptu\"\nurl = \"{}\"\npriority = 1\n[[backends]]\nname = \"paygo-a\"\nurl = \"{}\"\npriority = 2\n[[backends]]\nname = \"paygo-b\"\nurl = \"{}\"\npriority = 2\n",
        s.proactive.toml(),
        ptu.url(),
        paygo[0].url(),
        paygo[1].url()
    );
    let mut replicas = Vec::new();
    for _ in 0..s.replicas.max(1) {
        replicas.push(Replica::start(&toml).await);
    }
    if s.redis.is_some() {
        for r in &replicas {
            r.wait_shared_state().await;
        }
    }

    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let urls: Vec<String> = replicas.iter().map(|r| format!("http://{}{CHAT}", r.addr)).collect();
    // Warm the connections so the first second is not spent connecting.
    for url in &urls {
        let _ = client.get(url.replace(CHAT, "/healthz")).send().await;
    }

    let every = Duration::from_secs_f64(1.0 / s.offered_rps as f64);
    let total = (s.duration.as_secs_f64() * s.offered_rps as f64).round() as u64;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut arrivals_ms = Vec::with_capacity(total as usize);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticks.tick().await;
        arrivals_ms.push(ptu.now_ms());
        let request = client.post(&urls[i as usize % urls.len()]).header("content-type", "application/json").body(BODY);
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            match request.send().await {
                Ok(r) => {
                    let latency = started.elapsed();
                    let attempts = r.headers().get("x-oai-lb-attempts").and_then(|v| v.to_str().ok()?.parse().ok());
                    let primary = r.headers().get("x-oai-lb-backend").is_some_and(|v| v == "ptu");
                    let ok = r.status().is_success();
                    let _ = r.bytes().await;
                    (ok, attempts.unwrap_or(1), primary && ok, latency)
                }
                Err(_) => (false, 0, false, started.elapsed()),
            }
        }));
    }
    let mut f = Figures {
        requests: total,
        client_errors: 0,
        attempts: 0,
        primary_served: 0,
        primary_capacity: capacity(s.shape, rpm, &arrivals_ms),
        primary_429s: 0,
        p50: Duration::ZERO,
    };
    let mut latencies = Vec::with_capacity(total as usize);
    for task in tasks {
        let (ok, attempts, primary, latency) = task.await.unwrap();
        f.client_errors += u64::from(!ok);
        f.attempts += attempts;
        f.primary_served += u64::from(primary);
        latencies.push(latency);
    }
    latencies.sort();
    f.p50 = latencies[latencies.len() / 2];
    f.primary_429s = ptu.stats().throttled;
    drop(replicas);
    ptu.shutdown().await;
    for p in paygo {
        p.shutdown().await;
    }
    f
}

/// Median latency of `n` requests sent straight to a simulated backend at the scenario's
/// pace: the baseline for "added by the balancer".
pub async fn direct_p50(offered_rps: u64, n: usize) -> Duration {
    let sim = sim::spawn(SimOptions { rpm: 100_000_000, tpm: 100_000_000, ..SimOptions::default() }).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{CHAT}", sim.url());
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / offered_rps as f64));
    let mut tasks = Vec::new();
    for _ in 0..n {
        ticks.tick().await;
        let request = client.post(&url).header("content-type", "application/json").body(BODY);
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = request.send().await.unwrap();
            let _ = r.bytes().await;
            started.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    latencies.sort();
    sim.shutdown().await;
    latencies[latencies.len() / 2]
}

/// What a fresh limiter of `shape` admits when sent every request at these instants.
pub fn capacity(shape: Shape, rpm: u64, arrivals_ms: &[u64]) -> u64 {
    let mut limiter = Limiter::new(shape);
    let limits = Limits { rpm, tpm: 100_000_000 };
    arrivals_ms.iter().filter(|&&t| matches!(limiter.try_acquire(t, 1, limits), Decision::Allowed(_))).count() as u64
}

fn uuid_ish() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

/// One balancer replica in process.
struct Replica {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Replica {
    async fn start(toml: &str) -> Replica {
        let config = oai_lb::config::Config::parse(std::path::Path::new("quota.toml"), toml).expect("valid config");
        let options =
            oai_lb::proxy::ServeOptions { listen: Some("127.0.0.1:0".parse().unwrap()), ..Default::default() };
        let server = oai_lb::proxy::Server::bind(config, options).await.expect("balancer binds");
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Replica { addr, stop: Some(stop) }
    }

    async fn wait_shared_state(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state: Option<oai_lb::proxy::StateView> =
                async { reqwest::get(format!("http://{}/lb/backends", self.addr)).await.ok()?.json().await.ok() }.await;
            if state.and_then(|s| s.shared_state).is_some_and(|s| s.healthy) {
                return;
            }
            assert!(Instant::now() < deadline, "replica never connected to Redis");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
