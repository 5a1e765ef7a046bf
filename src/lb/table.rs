//! Cooldowns per (backend, deployment).
//!
//! Reads happen on every request, writes only when a backend fails, so each backend keeps
//! a count of its cooldowns and the common case — nothing cooling — never takes a lock.
//! Locks here are `std` mutexes held for a map lookup, never across an `.await`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Cooldowns {
    /// Number of entries in `until`, expired or not; 0 means nothing to look at.
    len: AtomicUsize,
    until: Mutex<HashMap<Box<str>, Instant>>,
}

impl Cooldowns {
    /// When the cooldown for `deployment` ends, if it is still running at `now`.
    pub fn cooling_until(&self, deployment: &str, now: Instant) -> Option<Instant> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        map.get(deployment).copied().filter(|&until| until > now)
    }

    /// Starts (or extends) a cooldown; never shortens a longer one already running.
    /// Returns the end that is now in force.
    pub fn start(&self, deployment: &str, until: Instant, now: Instant) -> Instant {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, &mut end| end > now);
        let end = match map.get_mut(deployment) {
            Some(existing) => {
                *existing = (*existing).max(until);
                *existing
            }
            None => {
                map.insert(deployment.into(), until);
                until
            }
        };
        self.len.store(map.len(), Ordering::Release);
        end
    }

    /// Ends a cooldown early (used when shared state says a backend recovered).
    pub fn clear(&self, deployment: &str) {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(deployment);
        self.len.store(map.len(), Ordering::Release);
    }

    /// The running cooldowns at `now`, as (deployment, time left), sorted by deployment.
    pub fn active(&self, now: Instant) -> Vec<(String, Duration)> {
        if self.len.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> =
            map.iter().filter(|&(_, &until)| until > now).map(|(d, &until)| (d.to_string(), until - now)).collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_expires_and_never_shortens() {
        let c = Cooldowns::default();
        let t0 = Instant::now();
        assert_eq!(c.cooling_until("d", t0), None);
        c.start("d", t0 + Duration::from_secs(10), t0);
        assert_eq!(c.cooling_until("d", t0), Some(t0 + Duration::from_secs(10)));
        assert_eq!(c.cooling_until("other", t0), None);
        let end = c.start("d", t0 + Duration::from_secs(5), t0);
        assert_eq!(end, t0 + Duration::from_secs(10));
        assert_eq!(c.cooling_until("d", t0 + Duration::from_secs(10)), None, "healthy once the cooldown has passed");
        c.start("e", t0 + Duration::from_secs(30), t0 + Duration::from_secs(11));
        assert_eq!(c.active(t0 + Duration::from_secs(11)).len(), 1, "expired entries are dropped on write");
        c.clear("e");
        assert!(c.active(t0).is_empty());
    }
}
