//! Replicas sharing cooldowns through a real redis-server (started per test on a free port).

mod support;

use std::time::{Duration, Instant};

use support::redis::Redis;
use support::{Backend, Balancer, CHAT, Reply, backends_toml, header, post};

fn config(redis: &str, prefix: &str, backends: &[(&str, &str, u32)]) -> String {
    format!(
        "[balancer.shared_state]\nurl = \"{redis}\"\nkey_prefix = \"{prefix}\"\n[balancer.proactive]\nenabled = false\n{}",
        backends_toml(backends)
    )
}

async fn state(lb: &Balancer) -> oai_lb::proxy::StateView {
    support::client().get(lb.url("/lb/backends")).send().await.unwrap().json().await.unwrap()
}

/// Waits until `check` holds for the replica's `/lb/backends`.
async fn eventually(lb: &Balancer, what: &str, check: impl Fn(&oai_lb::proxy::StateView) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if check(&state(lb).await) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn connected(s: &oai_lb::proxy::StateView) -> bool {
    s.shared_state.as_ref().is_some_and(|s| s.healthy)
}

fn ptu_cooling(s: &oai_lb::proxy::StateView) -> bool {
    s.backends[0].cooldowns.iter().any(|c| c.deployment == "gpt-4o")
}

#[tokio::test]
async fn a_429_seen_by_one_replica_keeps_the_others_off_that_deployment() {
    let redis = Redis::start();
    let ptu =
        Backend::start(|seen, _| if seen.path.contains("/gpt-4o/") { Reply::throttled("30") } else { Reply::ok("{}") })
            .await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let toml = config(&redis.url(), "t1", &[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)]);
    let a = Balancer::start(&toml).await;
    let b = Balancer::start(&toml).await;
    eventually(&a, "replica A connected", connected).await;
    eventually(&b, "replica B connected", connected).await;

    assert_eq!(header(&post(&a.url(CHAT)).await, "x-oai-lb-backend"), "paygo");
    assert_eq!(ptu.count(), 1);
    eventually(&b, "replica B learns A's cooldown", ptu_cooling).await;
    for _ in 0..10 {
        let r = post(&b.url(CHAT)).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-oai-lb-backend")), (200, "paygo"));
    }
    assert_eq!(ptu.count(), 1, "B sent nothing to the cooling deployment");

    let embeddings = post(&b.url("/openai/deployments/emb/embeddings")).await;
    assert_eq!(header(&embeddings, "x-oai-lb-backend"), "ptu", "other deployments stay in use");

    // A replica started later inherits the cooldowns in force.
    let c = Balancer::start(&toml).await;
    eventually(&c, "replica C loads the cooldown", ptu_cooling).await;
    assert_eq!(header(&post(&c.url(CHAT)).await, "x-oai-lb-backend"), "paygo");
    assert_eq!(ptu.count(), 2, "only the embeddings request reached ptu");
}

#[tokio::test]
async fn replicas_keep_serving_without_redis_and_resync_when_it_returns() {
    let mut redis = Redis::start();
    let port = redis.port;
    let ptu = Backend::start(|_, nth| if nth == 0 { Reply::throttled("30") } else { Reply::ok("{}") }).await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let toml = config(&redis.url(), "t2", &[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)]);
    let a = Balancer::start(&toml).await;
    let b = Balancer::start(&toml).await;
    eventually(&a, "A connected", connected).await;
    eventually(&b, "B connected", connected).await;

    redis.stop();
    eventually(&a, "A reports the shared state degraded", |s| !connected(s)).await;
    eventually(&b, "B reports the shared state degraded", |s| !connected(s)).await;
    let metrics = support::client().get(a.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("oai_lb_shared_state_up 0\n"), "{metrics}");

    // Serving goes on with local state, no client-visible errors.
    let r = post(&a.url(CHAT)).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-oai-lb-backend")), (200, "paygo"), "A's 429 from ptu was absorbed");
    for lb in [&a, &b] {
        for _ in 0..5 {
            assert_eq!(post(&lb.url(CHAT)).await.status(), 200);
        }
    }

    // Redis returns: both reconnect, and A's cooldown from the outage reaches B.
    let _redis = Redis::start_on(port);
    eventually(&a, "A recovered", connected).await;
    eventually(&b, "B recovered", connected).await;
    eventually(&b, "B learns the cooldown A started during the outage", ptu_cooling).await;
}

#[tokio::test]
async fn a_bad_shared_state_url_is_a_config_error() {
    let err = oai_lb::config::Config::parse(
        std::path::Path::new("oai-lb.toml"),
        "[balancer.shared_state]\nurl = \"http://127.0.0.1:6379\"\n",
    )
    .unwrap_err();
    assert_eq!(err.key, "balancer.shared_state.url");

    let config = oai_lb::config::Config::parse(
        std::path::Path::new("oai-lb.toml"),
        &format!("[balancer.shared_state]\nurl = \"redis://\"\n{}", backends_toml(&[("a", "https://a.example", 1)])),
    )
    .unwrap();
    let err = oai_lb::proxy::Server::bind(config, Default::default()).await.err().expect("refused");
    assert!(err.to_string().contains("balancer.shared_state.url"), "{err}");
}

#[tokio::test]
async fn garbage_and_out_of_range_messages_are_ignored_counted_and_the_session_survives() {
    let redis = Redis::start();
    let ptu = Backend::always(|| Reply::ok("{}")).await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let toml = format!(
        "[balancer]\nmax_cooldown_secs = 60\n{}",
        config(&redis.url(), "t3", &[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])
    );
    let mut con = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let forever = r#"{"backend":"ptu","deployment":"gpt-4o","until_ms":18446744073709551615}"#;
    // A key stored before the replica starts, as a peer with a broken clock would leave it.
    let _: () = redis::cmd("SET").arg("t3:cooldown:ptu:gpt-4o").arg(forever).query_async(&mut con).await.unwrap();
    let a = Balancer::start(&toml).await;
    eventually(&a, "A connected", connected).await;
    assert!(!ptu_cooling(&state(&a).await), "a far-future key is not loaded");

    for garbage in ["not json", "{}", "\u{0}\u{1}", forever, r#"{"backend":"ptu","until_ms":"x"}"#] {
        let _: () = redis::cmd("PUBLISH").arg("t3:cooldowns").arg(garbage).query_async(&mut con).await.unwrap();
    }
    eventually(&a, "garbage counted", |s| s.shared_state.as_ref().is_some_and(|s| s.rejected_messages >= 6)).await;
    let s = state(&a).await;
    assert!(connected(&s), "the session survived");
    assert!(!ptu_cooling(&s));
    assert_eq!(header(&post(&a.url(CHAT)).await, "x-oai-lb-backend"), "ptu");

    // In range but longer than max_cooldown_secs: applied, capped at 60 s.
    let in_an_hour =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 3_600_000;
    let message = format!(r#"{{"backend":"ptu","deployment":"gpt-4o","until_ms":{in_an_hour}}}"#);
    let _: () = redis::cmd("PUBLISH").arg("t3:cooldowns").arg(&message).query_async(&mut con).await.unwrap();
    eventually(&a, "the capped cooldown applies", ptu_cooling).await;
    let left = state(&a).await.backends[0].cooldowns[0].seconds_left;
    assert!(left <= 60.0, "capped at max_cooldown_secs, got {left}");
    let metrics = support::client().get(a.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("oai_lb_shared_state_rejected_total 6\n"), "{metrics}");
}

#[tokio::test]
async fn a_huge_retry_after_is_capped_and_written_to_redis_without_error() {
    let redis = Redis::start();
    let ptu = Backend::always(|| Reply::Status {
        status: 429,
        headers: vec![("retry-after-ms", "18446744073709551615".into()), ("retry-after", "86000".into())],
        body: "{}".into(),
    })
    .await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let toml = format!(
        "[balancer]\nmax_cooldown_secs = 30\n{}",
        config(&redis.url(), "t4", &[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])
    );
    let a = Balancer::start(&toml).await;
    eventually(&a, "A connected", connected).await;
    assert_eq!(header(&post(&a.url(CHAT)).await, "x-oai-lb-backend"), "paygo");
    let mut con = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ttl = loop {
        let ttl: i64 = redis::cmd("PTTL").arg("t4:cooldown:ptu:gpt-4o").query_async(&mut con).await.unwrap();
        if ttl > 0 || Instant::now() > deadline {
            break ttl;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(ttl > 0 && ttl <= 30_000, "written with an expiry within max_cooldown_secs: {ttl}");
    assert!(connected(&state(&a).await));
}

async fn readyz(lb: &Balancer) -> (u16, String) {
    let r = support::client().get(lb.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn readyz_answers_probes_without_a_key_and_waits_for_redis_when_shared() {
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let keyed = format!("[balancer]\nclient_keys_env = \"KEYS\"\n{}", backends_toml(&[("paygo", &paygo.url(), 1)]));
    let options = oai_lb::proxy::ServeOptions {
        secrets: oai_lb::proxy::Secrets::from_fn(|name| (name == "KEYS").then(|| "k1".to_string())),
        ..Default::default()
    };
    let alone = Balancer::start_with(&keyed, options).await;
    assert_eq!(readyz(&alone).await, (200, "ready\n".into()), "no shared state: ready once listening, no key needed");
    assert_eq!(post(&alone.url(CHAT)).await.status(), 401, "everything else still needs a key");

    // Shared state whose Redis is not there yet: not ready; ready once it has been reached.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let toml = config(&format!("redis://127.0.0.1:{port}"), "r1", &[("paygo", &paygo.url(), 1)]);
    let started = Instant::now();
    let a = Balancer::start(&toml).await;
    let (status, body) = readyz(&a).await;
    assert_eq!((status, body.as_str()), (503, "not ready: connecting to the shared state (Redis)\n"));
    assert_eq!(post(&a.url(CHAT)).await.status(), 200, "not ready is advice to the load balancer, not a refusal");
    let _redis = Redis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(&a).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready after Redis came");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(readyz(&a).await.1, "ready\n");
    assert!(started.elapsed() < Duration::from_secs(5), "ready on reaching Redis, not by waiting it out");
    assert!(connected(&state(&a).await));
}

#[tokio::test]
async fn readyz_declares_a_replica_degraded_and_ready_when_redis_never_answers() {
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let dead = support::dead_url().await.replace("http://", "redis://");
    let a = Balancer::start(&config(&dead, "r2", &[("paygo", &paygo.url(), 1)])).await;
    let started = Instant::now();
    assert_eq!(readyz(&a).await.0, 503);
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (status, body) = readyz(&a).await;
        if status == 200 {
            break body;
        }
        assert!(Instant::now() < deadline, "a replica without Redis never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(4), "it waited for Redis first: {waited:?}");
    assert_eq!(body, "ready (degraded: shared state unreachable, local cooldowns only)\n");
    assert!(!connected(&state(&a).await), "/lb/backends still says the shared state is down");
    assert_eq!(post(&a.url(CHAT)).await.status(), 200);
}
