//! Proactive routing: a backend that says it is nearly out (x-ratelimit-remaining-*) is left
//! alone until its next unit of quota is due, so the next request goes elsewhere before a
//! 429 happens; with adaptive routing that time is learned, for each limiter shape.

mod support;

use std::time::Duration;

use oai_lb::sim::{self, Shape, SimOptions};
use support::quota::{self, Proactive, Scenario};
use support::{Balancer, CHAT, post};

/// Three replicas, round-robin, in front of a small priority-1 deployment and a large
/// priority-2 one; returns the 429s the priority-1 deployment had to send.
async fn upstream_429s(proactive: bool, shared_state: Option<&str>) -> (u64, u64) {
    let ptu = sim::spawn(SimOptions { name: "ptu".into(), rpm: 60, ..SimOptions::default() }).await.unwrap();
    let paygo = sim::spawn(SimOptions { name: "paygo".into(), ..SimOptions::default() }).await.unwrap();
    let shared = shared_state.map(|url| format!("[balancer.shared_state]\nurl = \"{url}\"\n")).unwrap_or_default();
    let toml = format!(
        "{shared}[balancer.proactive]\nenabled = {proactive}\n{}",
        support::backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])
    );
    let replicas = [Balancer::start(&toml).await, Balancer::start(&toml).await, Balancer::start(&toml).await];
    if shared_state.is_some() {
        for replica in &replicas {
            wait_connected(replica).await;
        }
    }
    for i in 0..60 {
        let r = post(&replicas[i % 3].url(CHAT)).await;
        assert_eq!(r.status(), 200, "clients never see a 429 while paygo has capacity");
    }
    let stats = ptu.stats();
    (stats.throttled, stats.ok)
}

async fn wait_connected(lb: &Balancer) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state: oai_lb::proxy::StateView =
            support::client().get(lb.url("/lb/backends")).send().await.unwrap().json().await.unwrap();
        if state.shared_state.is_some_and(|s| s.healthy) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "replica never connected to Redis");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn proactive_routing_cuts_upstream_429s_in_the_spill_over_scenario() {
    let redis = support::redis::Redis::start();
    let (without, served_without) = upstream_429s(false, None).await;
    let (with, served_with) = upstream_429s(true, None).await;
    let (shared, served_shared) = upstream_429s(true, Some(&redis.url())).await;
    eprintln!(
        "upstream 429s at priority 1 over 60 requests through 3 replicas: {without} without proactive routing, \
         {with} with it, {shared} with it and shared state (priority 1 served {served_without} / {served_with} / {served_shared})"
    );
    assert!(without >= 3, "each replica learns of the quota by a 429 of its own: {without}");
    assert!(with < without, "proactive routing: {with} vs {without}");
    assert!(shared < with, "shared proactive cooldowns reach every replica: {shared} vs {with}");
    assert!(served_with >= 10 && served_shared >= 10, "priority 1 still serves its whole quota");
}

/// The issue-14 scenario, shortened for CI: 40 rps of priority-1 capacity, 60 offered.
async fn quota(shape: oai_lb::sim::Shape, proactive: Proactive, secs: u64) -> quota::Figures {
    let scenario = Scenario { duration: Duration::from_secs(secs), ..Scenario::issue_14(shape, proactive) };
    let f = quota::run(&scenario).await;
    eprintln!(
        "{shape} / {}: priority 1 served {} of {} ({:.1} %), {:.3} attempts per request, {} client errors, {} upstream 429s, p50 {:?}",
        proactive.name(),
        f.primary_served,
        f.primary_capacity,
        100.0 * f.share(),
        f.attempts_per_request(),
        f.client_errors,
        f.primary_429s,
        f.p50,
    );
    f
}

fn assert_target(f: &quota::Figures) {
    assert_eq!(f.client_errors, 0, "{f:?}");
    assert!(f.share() >= 0.97, "priority 1 serves (nearly) all its capacity: {f:?}");
    assert!(f.attempts_per_request() <= 1.015, "(almost) no upstream 429s: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_routing_uses_a_token_bucket_fully() {
    assert_target(&quota(Shape::Bucket, Proactive::Adaptive, 6).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_routing_uses_fixed_one_second_windows_fully() {
    assert_target(&quota(Shape::Fixed { secs: 1 }, Proactive::Adaptive, 6).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_routing_uses_fixed_ten_second_windows_fully() {
    assert_target(&quota(Shape::Fixed { secs: 10 }, Proactive::Adaptive, 12).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_routing_works_across_replicas_sharing_state() {
    let redis = support::redis::Redis::start();
    for shape in [Shape::Bucket, Shape::Fixed { secs: 1 }] {
        let scenario = Scenario {
            duration: Duration::from_secs(6),
            replicas: 3,
            redis: Some(redis.url()),
            ..Scenario::issue_14(shape, Proactive::Adaptive)
        };
        let f = quota::run(&scenario).await;
        eprintln!("{shape}, 3 replicas + Redis: {f:?} share {:.3} attempts {:.3}", f.share(), f.attempts_per_request());
        assert_eq!(f.client_errors, 0, "{f:?}");
        // Each replica learns the refill from its own answers (only the holds travel through
        // Redis), so three replicas sharing one limiter pay three times for the first lesson
        // and see a third of the samples each: measured 0.92-1.00 on a quiet 2-core machine,
        // 0.85 under heavy load, against 0.94/0.77 for the fixed hold with one replica.
        assert!(f.share() >= 0.85, "{shape}: {f:?}");
        assert!(f.attempts_per_request() <= 1.03, "{shape}: {f:?}");
    }
}
