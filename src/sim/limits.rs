//! Azure-style rate limits: requests and tokens per minute, enforced over a short sliding
//! window so a burst is refused long before a whole minute's quota is spent.
//!
//! Azure OpenAI evaluates its per-minute limits over 1- and 10-second windows. We keep a
//! 10-second window made of 1-second buckets: a deployment with `rpm` requests per minute
//! may use `ceil(rpm / 6)` requests (and `ceil(tpm / 6)` tokens) in any 10 consecutive
//! seconds. The clock comes in as an argument (milliseconds since the server started), so
//! this module is pure and testable without sleeping.

use std::collections::VecDeque;

/// Length of the sliding window.
pub const WINDOW_SECS: u64 = 10;

/// The per-minute limits of one deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub rpm: u64,
    pub tpm: u64,
}

impl Limits {
    /// Requests allowed per window (at least 1, so a tiny limit still lets traffic through).
    pub fn requests_per_window(&self) -> u64 {
        per_window(self.rpm)
    }
    /// Tokens allowed per window (at least 1).
    pub fn tokens_per_window(&self) -> u64 {
        per_window(self.tpm)
    }
}

fn per_window(per_minute: u64) -> u64 {
    per_minute.saturating_mul(WINDOW_SECS).div_ceil(60).max(1)
}

/// Which limit refused a request; Azure words the 429 message differently for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Requests,
    Tokens,
}

/// The outcome of asking for capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admitted and charged.
    Allowed(Remaining),
    /// Refused; nothing was charged.
    Throttled { exceeded: Exceeded, retry_after_ms: u64, remaining: Remaining },
}

/// What is left in the current window, and when capacity comes back (for the
/// `x-ratelimit-*` headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remaining {
    pub requests: u64,
    pub tokens: u64,
    /// Milliseconds until the oldest charge in the window expires (0 when the window is empty).
    pub reset_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    second: u64,
    requests: u64,
    tokens: u64,
}

/// The sliding window of one deployment.
#[derive(Debug, Default)]
pub struct Window {
    buckets: VecDeque<Bucket>,
}

impl Window {
    /// Admits a request costing `tokens` at `now_ms`, or says how long to wait. A request
    /// that costs more than a whole window's token budget is charged the whole budget, so
    /// it can pass once the window is empty instead of never.
    pub fn try_acquire(&mut self, now_ms: u64, tokens: u64, limits: Limits) -> Decision {
        let now_sec = now_ms / 1000;
        self.expire(now_sec);
        let max_requests = limits.requests_per_window();
        let max_tokens = limits.tokens_per_window();
        let tokens = tokens.min(max_tokens);
        let (used_requests, used_tokens) = self.used();

        let exceeded = if used_requests + 1 > max_requests {
            Some(Exceeded::Requests)
        } else if used_tokens + tokens > max_tokens {
            Some(Exceeded::Tokens)
        } else {
            None
        };
        if let Some(exceeded) = exceeded {
            let retry_after_ms = self.wait_for(now_ms, 1, tokens, max_requests, max_tokens);
            let remaining = self.remaining(now_ms, max_requests, max_tokens);
            return Decision::Throttled { exceeded, retry_after_ms, remaining };
        }

        match self.buckets.back_mut() {
            Some(b) if b.second == now_sec => {
                b.requests += 1;
                b.tokens += tokens;
            }
            _ => self.buckets.push_back(Bucket { second: now_sec, requests: 1, tokens }),
        }
        Decision::Allowed(self.remaining(now_ms, max_requests, max_tokens))
    }

    /// Capacity left at `now_ms` without charging anything.
    pub fn peek(&mut self, now_ms: u64, limits: Limits) -> Remaining {
        self.expire(now_ms / 1000);
        self.remaining(now_ms, limits.requests_per_window(), limits.tokens_per_window())
    }

    fn expire(&mut self, now_sec: u64) {
        while let Some(b) = self.buckets.front() {
            if b.second + WINDOW_SECS <= now_sec {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }

    fn used(&self) -> (u64, u64) {
        self.buckets.iter().fold((0, 0), |(r, t), b| (r + b.requests, t + b.tokens))
    }

    fn remaining(&self, now_ms: u64, max_requests: u64, max_tokens: u64) -> Remaining {
        let (r, t) = self.used();
        let reset_ms = self.buckets.front().map_or(0, |b| expiry_ms(b.second).saturating_sub(now_ms));
        Remaining { requests: max_requests.saturating_sub(r), tokens: max_tokens.saturating_sub(t), reset_ms }
    }

    /// Milliseconds until enough old buckets have expired for `requests`/`tokens` to fit
    /// (at least 1 ms, so a refusal never says "retry now").
    fn wait_for(&self, now_ms: u64, requests: u64, tokens: u64, max_requests: u64, max_tokens: u64) -> u64 {
        let (mut used_r, mut used_t) = self.used();
        for b in &self.buckets {
            used_r -= b.requests;
            used_t -= b.tokens;
            if used_r + requests <= max_requests && used_t + tokens <= max_tokens {
                return expiry_ms(b.second).saturating_sub(now_ms).max(1);
            }
        }
        // Unreachable with tokens clamped to the budget; a full window is the safe answer.
        WINDOW_SECS * 1000
    }
}

/// When a bucket charged in second `second` leaves the window.
fn expiry_ms(second: u64) -> u64 {
    (second + WINDOW_SECS) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits { rpm: 60, tpm: 600 }; // 10 requests / 100 tokens per window

    fn allowed(d: Decision) -> bool {
        matches!(d, Decision::Allowed(_))
    }

    #[test]
    fn budgets_are_a_sixth_of_the_minute_rounded_up_and_at_least_one() {
        assert_eq!(L.requests_per_window(), 10);
        assert_eq!(L.tokens_per_window(), 100);
        assert_eq!(Limits { rpm: 1, tpm: 7 }.requests_per_window(), 1);
        assert_eq!(Limits { rpm: 1, tpm: 7 }.tokens_per_window(), 2);
        assert_eq!(Limits { rpm: 0, tpm: 0 }.requests_per_window(), 1);
    }

    #[test]
    fn request_limit_refuses_the_eleventh_request_and_says_when_to_retry() {
        let mut w = Window::default();
        for i in 0..10 {
            assert!(allowed(w.try_acquire(1_500 + i, 1, L)), "request {i}");
        }
        match w.try_acquire(2_000, 1, L) {
            Decision::Throttled { exceeded, retry_after_ms, remaining } => {
                assert_eq!(exceeded, Exceeded::Requests);
                // Charged in second 1, expires at 11 s; now is 2 s.
                assert_eq!(retry_after_ms, 9_000);
                assert_eq!(remaining.requests, 0);
                assert_eq!(remaining.tokens, 90);
            }
            d => panic!("expected throttled, got {d:?}"),
        }
        // Refusals are not charged: once the window slides past second 1 all capacity is back.
        assert!(allowed(w.try_acquire(11_000, 1, L)));
        assert_eq!(w.peek(11_000, L).requests, 9);
    }

    #[test]
    fn token_limit_counts_cost_and_frees_capacity_bucket_by_bucket() {
        let mut w = Window::default();
        assert!(allowed(w.try_acquire(0, 40, L)));
        assert!(allowed(w.try_acquire(3_000, 40, L)));
        match w.try_acquire(5_000, 30, L) {
            Decision::Throttled { exceeded: Exceeded::Tokens, retry_after_ms, .. } => {
                // Freeing second 0's 40 tokens is enough: it expires at 10 s.
                assert_eq!(retry_after_ms, 5_000);
            }
            d => panic!("expected token throttle, got {d:?}"),
        }
        assert!(allowed(w.try_acquire(5_000, 20, L)));
        assert!(allowed(w.try_acquire(10_000, 30, L)));
    }

    #[test]
    fn a_request_bigger_than_the_window_passes_only_when_the_window_is_empty() {
        let mut w = Window::default();
        assert!(allowed(w.try_acquire(0, 10_000, L)));
        let Decision::Throttled { retry_after_ms, .. } = w.try_acquire(1_000, 10_000, L) else {
            panic!("second huge request must wait")
        };
        assert_eq!(retry_after_ms, 9_000);
        assert!(allowed(w.try_acquire(10_000, 10_000, L)));
    }

    #[test]
    fn remaining_reports_reset_of_the_oldest_charge() {
        let mut w = Window::default();
        let Decision::Allowed(r) = w.try_acquire(2_300, 25, L) else { panic!() };
        assert_eq!(r, Remaining { requests: 9, tokens: 75, reset_ms: 9_700 });
        assert_eq!(w.peek(20_000, L), Remaining { requests: 10, tokens: 100, reset_ms: 0 });
    }

    #[test]
    fn sustained_overload_admits_one_budget_per_window() {
        // 5 requests every 100 ms for 30 s = 1500 offered; the budget is 10 per 10 s.
        let mut w = Window::default();
        let ok = (0..300u64)
            .flat_map(|tick| (0..5).map(move |_| tick * 100))
            .filter(|&t| allowed(w.try_acquire(t, 1, L)))
            .count();
        assert_eq!(ok, 30);
    }
}
