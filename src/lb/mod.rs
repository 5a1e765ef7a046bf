//! The smart load-balancing algorithm: priority groups, weighted random choice within a
//! group, cooldowns per (backend, deployment).
//!
//! Architecture invariant: no I/O, no clock, no randomness of its own. Time (`Instant`,
//! `SystemTime`) and the random source come in as arguments, so every rule is testable
//! without a socket or a sleep. The local balancer (`src/proxy`) drives it; the APIM policy
//! (`src/policy`) mirrors it.

pub mod cooldown;
pub mod deployment;
pub mod refill;
pub mod table;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

pub use table::Cooldowns;

/// One backend as the algorithm sees it: plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    /// 1 is the most preferred.
    pub priority: u32,
    /// Relative share within a priority group; at least 1.
    pub weight: u32,
    /// Deployments this backend serves; empty means all.
    pub deployments: Vec<String>,
}

impl Backend {
    pub fn serves(&self, deployment: &str) -> bool {
        self.deployments.is_empty() || deployment.is_empty() || self.deployments.iter().any(|d| d == deployment)
    }
}

/// The backends one request has already tried: a backend is tried at most once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tried(u64);

impl Tried {
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }
    pub fn contains(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }
}

/// What the balancer says to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Send it to the backend at this index.
    Backend(usize),
    /// Every backend that serves the deployment is cooling down or already tried; the
    /// soonest recovers after `retry_after`.
    AllCooling { retry_after: Duration },
    /// No configured backend serves this deployment.
    NoBackend,
}

/// The longest cooldown when the config does not say (`[balancer] max_cooldown_secs`).
pub const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// Backends with their cooldowns. Shared by every request; cheap to read concurrently.
#[derive(Debug)]
pub struct Balancer {
    backends: Vec<Backend>,
    /// Shared with the next config version for backends that stay unchanged, so a cooldown
    /// started while a reload is under way is never lost.
    cooldowns: Vec<Arc<Cooldowns>>,
    /// No cooldown, whatever its source, lasts longer.
    max_cooldown: Duration,
}

impl Balancer {
    /// `backends` must number at most [`crate::config::MAX_BACKENDS`] (validated by config).
    pub fn new(backends: Vec<Backend>) -> Self {
        assert!(backends.len() <= 64, "at most 64 backends (checked by config validation)");
        let cooldowns = backends.iter().map(|_| Arc::default()).collect();
        Balancer { backends, cooldowns, max_cooldown: DEFAULT_MAX_COOLDOWN }
    }

    /// Caps every cooldown at `max` (at least a millisecond).
    pub fn with_max_cooldown(mut self, max: Duration) -> Self {
        self.max_cooldown = max.max(Duration::from_millis(1));
        self
    }

    /// Uses `cooldowns` (a previous version's table for the same backend) for backend
    /// `index`: both versions then read and write one table.
    pub fn share_cooldowns(&mut self, index: usize, cooldowns: Arc<Cooldowns>) {
        self.cooldowns[index] = cooldowns;
    }

    /// The cooldown table of backend `index`, to share with a later version.
    pub fn cooldowns_arc(&self, index: usize) -> Arc<Cooldowns> {
        Arc::clone(&self.cooldowns[index])
    }

    pub fn max_cooldown(&self) -> Duration {
        self.max_cooldown
    }

    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    pub fn cooldowns(&self, index: usize) -> &Cooldowns {
        &self.cooldowns[index]
    }

    /// Picks a backend for one request (rules 1–3 of the design): the healthy, untried
    /// backends of the best priority present among them, weighted at random.
    ///
    /// One pass: each backend's cooldown is read once, and the weighted pick is made as the
    /// candidates go by (weighted reservoir sampling), so a cooldown started or cleared by
    /// another thread meanwhile cannot make the choice inconsistent.
    pub fn choose(&self, deployment: &str, now: Instant, tried: Tried, rng: &mut impl Rng) -> Choice {
        let mut best_priority = u32::MAX;
        let mut total_weight = 0u64;
        let mut chosen: Option<usize> = None;
        let mut soonest: Option<Instant> = None;
        let mut any_serves = false;
        for (i, b) in self.backends.iter().enumerate() {
            if !b.serves(deployment) {
                continue;
            }
            any_serves = true;
            if let Some(until) = self.cooldowns[i].cooling_until(deployment, now) {
                soonest = Some(soonest.map_or(until, |s| s.min(until)));
                continue;
            }
            if tried.contains(i) || b.priority > best_priority {
                continue;
            }
            let weight = u64::from(b.weight.max(1));
            if b.priority < best_priority {
                best_priority = b.priority;
                total_weight = 0;
            }
            total_weight += weight;
            // Keeps the candidate seen so far with probability weight / total: each one ends
            // up chosen in proportion to its weight.
            if rng.random_range(0..total_weight) < weight {
                chosen = Some(i);
            }
        }
        match chosen {
            Some(i) => Choice::Backend(i),
            None if !any_serves => Choice::NoBackend,
            // A backend tried in this request and not cooling (it cannot happen through the
            // proxy, which cools every failure) recovers at once.
            None => {
                Choice::AllCooling { retry_after: soonest.map_or(Duration::ZERO, |s| s.saturating_duration_since(now)) }
            }
        }
    }

    /// Ends a cooldown early.
    pub fn clear_cooldown(&self, index: usize, deployment: &str) {
        self.cooldowns[index].clear(deployment);
    }

    /// Rule 4/5: a backend failed; it rests until `now + cooldown` for this deployment,
    /// `cooldown` capped at the maximum whatever its source. Returns when the cooldown now in
    /// force ends.
    pub fn start_cooldown(&self, index: usize, deployment: &str, cooldown: Duration, now: Instant) -> Instant {
        self.cooldowns[index].start(deployment, now + cooldown.min(self.max_cooldown), now)
    }

    /// The `primary` all-throttled mode: the first backend (in config order) of the best
    /// priority among those that serve the deployment.
    pub fn primary(&self, deployment: &str) -> Option<usize> {
        let best = self.backends.iter().filter(|b| b.serves(deployment)).map(|b| b.priority).min()?;
        self.backends.iter().position(|b| b.priority == best && b.serves(deployment))
    }

    /// The index of the backend called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }
}

/// `Retry-After` seconds for a client: rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn backend(name: &str, priority: u32, weight: u32) -> Backend {
        Backend { name: name.into(), priority, weight, deployments: vec![] }
    }

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(7)
    }

    #[test]
    fn lowest_priority_number_wins() {
        let lb = Balancer::new(vec![backend("b", 2, 1), backend("a", 1, 1), backend("c", 3, 1)]);
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(lb.choose("d", now, Tried::default(), &mut rng()), Choice::Backend(1));
        }
    }

    #[test]
    fn spill_over_to_next_priority_while_cooling_then_back() {
        let lb = Balancer::new(vec![backend("ptu", 1, 1), backend("paygo", 2, 1)]);
        let now = Instant::now();
        lb.start_cooldown(0, "gpt-4o", Duration::from_secs(10), now);
        assert_eq!(lb.choose("gpt-4o", now, Tried::default(), &mut rng()), Choice::Backend(1));
        let later = now + Duration::from_secs(10);
        assert_eq!(lb.choose("gpt-4o", later, Tried::default(), &mut rng()), Choice::Backend(0));
    }

    #[test]
    fn cooldown_is_per_deployment() {
        let lb = Balancer::new(vec![backend("ptu", 1, 1), backend("paygo", 2, 1)]);
        let now = Instant::now();
        lb.start_cooldown(0, "gpt-4o", Duration::from_secs(10), now);
        assert_eq!(lb.choose("text-embedding-3-large", now, Tried::default(), &mut rng()), Choice::Backend(0));
    }

    #[test]
    fn tried_backends_are_skipped() {
        let lb = Balancer::new(vec![backend("a", 1, 1), backend("b", 1, 1), backend("c", 2, 1)]);
        let mut tried = Tried::default();
        tried.insert(0);
        tried.insert(1);
        assert_eq!(lb.choose("d", Instant::now(), tried, &mut rng()), Choice::Backend(2));
        assert_eq!(tried.count(), 2);
    }

    #[test]
    fn all_cooling_reports_the_soonest_recovery() {
        let lb = Balancer::new(vec![backend("a", 1, 1), backend("b", 2, 1)]);
        let now = Instant::now();
        lb.start_cooldown(0, "d", Duration::from_millis(7_200), now);
        lb.start_cooldown(1, "d", Duration::from_secs(30), now);
        let choice = lb.choose("d", now, Tried::default(), &mut rng());
        assert_eq!(choice, Choice::AllCooling { retry_after: Duration::from_millis(7_200) });
        assert_eq!(retry_after_secs(Duration::from_millis(7_200)), 8);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn deployment_lists_restrict_candidates() {
        let mut only_emb = backend("emb", 1, 1);
        only_emb.deployments = vec!["emb".into()];
        let lb = Balancer::new(vec![only_emb, backend("any", 2, 1)]);
        let now = Instant::now();
        assert_eq!(lb.choose("gpt-4o", now, Tried::default(), &mut rng()), Choice::Backend(1));
        assert_eq!(lb.choose("emb", now, Tried::default(), &mut rng()), Choice::Backend(0));
        let mut strict = backend("strict", 1, 1);
        strict.deployments = vec!["x".into()];
        let lb = Balancer::new(vec![strict]);
        assert_eq!(lb.choose("y", now, Tried::default(), &mut rng()), Choice::NoBackend);
    }

    #[test]
    fn primary_is_first_of_best_priority() {
        let lb = Balancer::new(vec![backend("b", 2, 1), backend("a1", 1, 1), backend("a2", 1, 1)]);
        assert_eq!(lb.primary("d"), Some(1));
    }

    #[test]
    fn weights_split_traffic_in_proportion() {
        let lb = Balancer::new(vec![backend("a", 1, 1), backend("b", 1, 3), backend("c", 2, 100)]);
        let mut r = rng();
        let now = Instant::now();
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            let Choice::Backend(i) = lb.choose("d", now, Tried::default(), &mut r) else { panic!() };
            counts[i] += 1;
        }
        assert_eq!(counts[2], 0);
        let share_b = f64::from(counts[1]) / 40_000.0;
        assert!((share_b - 0.75).abs() < 0.02, "weight 3 of 4 got {share_b}");
    }

    #[test]
    fn cooldowns_are_capped_whatever_they_ask() {
        let lb = Balancer::new(vec![backend("a", 1, 1)]).with_max_cooldown(Duration::from_secs(300));
        let now = Instant::now();
        let end = lb.start_cooldown(0, "d", Duration::MAX, now);
        assert_eq!(end, now + Duration::from_secs(300));
        assert_eq!(lb.start_cooldown(0, "e", Duration::from_secs(5), now), now + Duration::from_secs(5));
    }

    #[test]
    fn choosing_while_other_threads_start_and_clear_cooldowns_never_panics() {
        let lb = Arc::new(Balancer::new((0..8).map(|i| backend(&format!("b{i}"), 1 + i % 3, 1 + i)).collect()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for t in 0..3u64 {
            let (lb, stop) = (Arc::clone(&lb), Arc::clone(&stop));
            writers.push(std::thread::spawn(move || {
                let mut r = SmallRng::seed_from_u64(t);
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let i = r.random_range(0..8);
                    if r.random_bool(0.5) {
                        lb.start_cooldown(i, "d", Duration::from_micros(r.random_range(1..500)), Instant::now());
                    } else {
                        lb.clear_cooldown(i, "d");
                    }
                    n += 1;
                }
                n
            }));
        }
        let readers: Vec<_> = (0..3u64)
            .map(|t| {
                let lb = Arc::clone(&lb);
                std::thread::spawn(move || {
                    let mut r = SmallRng::seed_from_u64(100 + t);
                    let mut picked = 0u32;
                    for _ in 0..100_000 {
                        let mut tried = Tried::default();
                        tried.insert(r.random_range(0..8));
                        match lb.choose("d", Instant::now(), tried, &mut r) {
                            Choice::Backend(i) => {
                                assert!(!tried.contains(i));
                                picked += 1;
                            }
                            Choice::AllCooling { .. } => {}
                            Choice::NoBackend => panic!("every backend serves d"),
                        }
                    }
                    picked
                })
            })
            .collect();
        let picked: u32 = readers.into_iter().map(|r| r.join().expect("no chooser panics")).sum();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let writes: u64 = writers.into_iter().map(|w| w.join().expect("no writer panics")).sum();
        assert!(picked > 0 && writes > 0, "picked {picked}, writes {writes}");
    }

    fn arb_backends() -> impl Strategy<Value = Vec<(u32, u32, u64)>> {
        // (priority, weight, cooldown millis; 0 = healthy)
        prop::collection::vec((1u32..4, 1u32..5, prop_oneof![Just(0u64), 1u64..5_000]), 1..12)
    }

    proptest! {
        #[test]
        fn never_picks_a_cooling_backend_while_a_healthy_one_exists(spec in arb_backends(), seed in any::<u64>()) {
            let lb = Balancer::new(spec.iter().enumerate().map(|(i, &(p, w, _))| backend(&format!("b{i}"), p, w)).collect());
            let now = Instant::now();
            for (i, &(_, _, cool)) in spec.iter().enumerate() {
                if cool > 0 { lb.start_cooldown(i, "d", Duration::from_millis(cool), now); }
            }
            let healthy: Vec<usize> = (0..spec.len()).filter(|&i| spec[i].2 == 0).collect();
            let best = healthy.iter().map(|&i| spec[i].0).min();
            match lb.choose("d", now, Tried::default(), &mut SmallRng::seed_from_u64(seed)) {
                Choice::Backend(i) => {
                    prop_assert!(healthy.contains(&i), "chose cooling backend {i}");
                    prop_assert_eq!(Some(spec[i].0), best, "chose a worse priority than a healthy one");
                }
                Choice::AllCooling { retry_after } => {
                    prop_assert!(healthy.is_empty());
                    let soonest = spec.iter().map(|s| s.2).min().unwrap();
                    prop_assert_eq!(retry_after, Duration::from_millis(soonest));
                }
                Choice::NoBackend => prop_assert!(false, "every backend serves every deployment"),
            }
        }

        #[test]
        fn failover_visits_each_backend_once_in_priority_order(spec in arb_backends(), seed in any::<u64>()) {
            let lb = Balancer::new(spec.iter().enumerate().map(|(i, &(p, w, _))| backend(&format!("b{i}"), p, w)).collect());
            let now = Instant::now();
            let mut r = SmallRng::seed_from_u64(seed);
            let mut tried = Tried::default();
            let mut last_priority = 0;
            while let Choice::Backend(i) = lb.choose("d", now, tried, &mut r) {
                prop_assert!(!tried.contains(i));
                prop_assert!(spec[i].0 >= last_priority);
                last_priority = spec[i].0;
                tried.insert(i);
                lb.start_cooldown(i, "d", Duration::from_secs(1), now);
            }
            prop_assert_eq!(tried.count() as usize, spec.len());
        }
    }
}
