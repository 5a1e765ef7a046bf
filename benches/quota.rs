//! The quota scenario of issue 14, printed as a table: priority 1 can serve 40 requests per
//! second, 60 per second are offered for 15 s, two priority-2 backends take the rest. For
//! each limiter shape (token bucket with a 1-s burst, fixed 1-s and 10-s windows) and each
//! proactive mode (off, today's fixed 1-s hold, adaptive), how much of priority 1's
//! capacity is used and at how many upstream attempts per request.
//!
//! Run: `cargo bench --bench quota` (env: QUOTA_SECS=15, QUOTA_SHAPES=bucket,fixed-1s,fixed-10s,
//! QUOTA_REPLICAS=1; with QUOTA_REPLICAS > 1 the replicas share state through a
//! redis-server started on a free port). It measures shares and attempts, not speed.

#[path = "../tests/support/quota.rs"]
mod quota;
#[path = "../tests/support/redis.rs"]
mod redis;

use std::time::Duration;

use oai_lb::sim::Shape;
use quota::{Proactive, Scenario};

fn main() {
    let secs: u64 = std::env::var("QUOTA_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let replicas: usize = std::env::var("QUOTA_REPLICAS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let shapes: Vec<Shape> = std::env::var("QUOTA_SHAPES")
        .unwrap_or_else(|_| "bucket,fixed-1s,fixed-10s".into())
        .split(',')
        .map(|s| Shape::parse(s.trim()).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let redis = (replicas > 1).then(redis::Redis::start);
    rt.block_on(async {
        let direct = quota::direct_p50(60, 300).await;
        println!(
            "priority 1: 40 rps of capacity; 60 rps offered for {secs} s; {replicas} balancer replica(s){}",
            if redis.is_some() { " sharing state through Redis" } else { "" }
        );
        println!("direct p50 (to a simulated backend): {:.2} ms", ms(direct));
        println!();
        println!("| limiter | proactive | priority-1 served / capacity | share | attempts / request | client errors | upstream 429s | p50 added |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        for shape in shapes {
            for proactive in [Proactive::Off, Proactive::Fixed, Proactive::Adaptive] {
                let scenario = Scenario {
                    duration: Duration::from_secs(secs),
                    replicas,
                    redis: redis.as_ref().map(redis::Redis::url),
                    ..Scenario::issue_14(shape, proactive)
                };
                let f = quota::run(&scenario).await;
                println!(
                    "| {shape} | {} | {} / {} | {:.1} % | {:.3} | {} | {} | {:+.2} ms |",
                    proactive.name(),
                    f.primary_served,
                    f.primary_capacity,
                    100.0 * f.share(),
                    f.attempts_per_request(),
                    f.client_errors,
                    f.primary_429s,
                    ms(f.p50) - ms(direct),
                );
            }
        }
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
