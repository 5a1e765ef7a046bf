//! Proactive routing: a backend that says it is nearly out (x-ratelimit-remaining-*) is left
//! alone until its reset, so the next request goes elsewhere before a 429 happens.

mod support;

use oai_lb::sim::{self, SimOptions};
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
