//! Azure-style rate limits: requests and tokens per minute, enforced over a short period so
//! a burst is refused long before a whole minute's quota is spent.
//!
//! Azure OpenAI evaluates its per-minute limits over 1- and 10-second windows. Three
//! limiter shapes ([`Shape`]) are simulated, each per deployment:
//!
//! * `sliding` (the default, [`Window`]): a 10-second window made of 1-second buckets: a
//!   deployment with `rpm` requests per minute may use `ceil(rpm / 6)` requests (and
//!   `ceil(tpm / 6)` tokens) in any 10 consecutive seconds;
//! * `bucket` ([`TokenBucket`]): a continuously refilling bucket holding one second's worth
//!   (`rpm / 60` requests, `tpm / 60` tokens), refilled at that rate;
//! * `fixed-1s` / `fixed-10s` ([`FixedWindow`]): `rpm · secs / 60` requests per window, the
//!   windows fixed on the server's clock, all capacity back at each window's start.
//!
//! The clock comes in as an argument (milliseconds since the server started), so this
//! module is pure and testable without sleeping.

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

/// The limiter shapes the simulator can enforce (`oai-lb simulate --limiter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// A 10-second window sliding in 1-second steps; reports reset headers.
    #[default]
    Sliding,
    /// A token bucket with a 1-second burst, refilled continuously; no reset headers.
    Bucket,
    /// Fixed windows of this many seconds; no reset headers (like Azure).
    Fixed { secs: u64 },
}

impl Shape {
    /// `sliding`, `bucket`, `fixed-1s`, `fixed-10s` (any `fixed-<n>s`).
    pub fn parse(s: &str) -> Result<Shape, String> {
        let secs = s.strip_prefix("fixed-").and_then(|n| n.strip_suffix('s')).map(str::parse::<u64>);
        match (s, secs) {
            ("sliding", _) => Ok(Shape::Sliding),
            ("bucket", _) => Ok(Shape::Bucket),
            (_, Some(Ok(secs))) if (1..=60).contains(&secs) => Ok(Shape::Fixed { secs }),
            _ => Err(format!("{s:?} is not a limiter; use sliding, bucket, fixed-1s or fixed-10s")),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Sliding => f.write_str("sliding"),
            Shape::Bucket => f.write_str("bucket"),
            Shape::Fixed { secs } => write!(f, "fixed-{secs}s"),
        }
    }
}

/// The limiter of one deployment, of any [`Shape`].
#[derive(Debug)]
pub enum Limiter {
    Sliding(Window),
    Bucket(TokenBucket),
    Fixed(FixedWindow),
}

impl Limiter {
    pub fn new(shape: Shape) -> Limiter {
        match shape {
            Shape::Sliding => Limiter::Sliding(Window::default()),
            Shape::Bucket => Limiter::Bucket(TokenBucket::default()),
            Shape::Fixed { secs } => Limiter::Fixed(FixedWindow::new(secs)),
        }
    }

    pub fn try_acquire(&mut self, now_ms: u64, tokens: u64, limits: Limits) -> Decision {
        match self {
            Limiter::Sliding(w) => w.try_acquire(now_ms, tokens, limits),
            Limiter::Bucket(b) => b.try_acquire(now_ms, tokens, limits),
            Limiter::Fixed(w) => w.try_acquire(now_ms, tokens, limits),
        }
    }

    pub fn peek(&mut self, now_ms: u64, limits: Limits) -> Remaining {
        match self {
            Limiter::Sliding(w) => w.peek(now_ms, limits),
            Limiter::Bucket(b) => b.peek(now_ms, limits),
            Limiter::Fixed(w) => w.peek(now_ms, limits),
        }
    }
}

/// A bucket per dimension holding one second's worth, refilled continuously. Levels are
/// kept in thousandths of a unit so refill is exact at millisecond resolution.
#[derive(Debug, Default)]
pub struct TokenBucket {
    /// `None` until the first request: the bucket starts full.
    at_ms: Option<u64>,
    requests_milli: u64,
    tokens_milli: u64,
}

impl TokenBucket {
    fn refill(&mut self, now_ms: u64, limits: Limits) {
        // Per millisecond, in thousandths: rpm/60 per second = rpm/60 thousandths per ms.
        let (cap_r, cap_t) = bucket_caps(limits);
        match self.at_ms {
            None => (self.requests_milli, self.tokens_milli) = (cap_r, cap_t),
            Some(at) => {
                let dt = now_ms.saturating_sub(at);
                self.requests_milli = (self.requests_milli + dt * limits.rpm.max(1) / 60).min(cap_r);
                self.tokens_milli = (self.tokens_milli + dt * limits.tpm.max(1) / 60).min(cap_t);
            }
        }
        self.at_ms = Some(now_ms.max(self.at_ms.unwrap_or(0)));
    }

    pub fn try_acquire(&mut self, now_ms: u64, tokens: u64, limits: Limits) -> Decision {
        self.refill(now_ms, limits);
        let (cap_r, cap_t) = bucket_caps(limits);
        let need_t = (tokens * 1000).min(cap_t);
        let exceeded = if self.requests_milli < 1000 {
            Some((Exceeded::Requests, 1000 - self.requests_milli, limits.rpm.max(1)))
        } else if self.tokens_milli < need_t {
            Some((Exceeded::Tokens, need_t - self.tokens_milli, limits.tpm.max(1)))
        } else {
            None
        };
        if let Some((exceeded, missing_milli, per_minute)) = exceeded {
            // missing thousandths / (per_minute / 60 thousandths per ms), rounded up.
            let retry_after_ms = (missing_milli * 60).div_ceil(per_minute).max(1);
            return Decision::Throttled { exceeded, retry_after_ms, remaining: self.remaining() };
        }
        debug_assert!(cap_r >= 1000);
        self.requests_milli -= 1000;
        self.tokens_milli -= need_t;
        Decision::Allowed(self.remaining())
    }

    pub fn peek(&mut self, now_ms: u64, limits: Limits) -> Remaining {
        self.refill(now_ms, limits);
        self.remaining()
    }

    fn remaining(&self) -> Remaining {
        Remaining { requests: self.requests_milli / 1000, tokens: self.tokens_milli / 1000, reset_ms: 0 }
    }
}

/// One second's worth, in thousandths, at least one whole unit.
fn bucket_caps(limits: Limits) -> (u64, u64) {
    let cap = |per_minute: u64| (per_minute.saturating_mul(1000) / 60).max(1000);
    (cap(limits.rpm), cap(limits.tpm))
}

/// Windows of `secs` seconds fixed on the server's clock; all capacity returns at each
/// window's start.
#[derive(Debug)]
pub struct FixedWindow {
    secs: u64,
    window: u64,
    requests: u64,
    tokens: u64,
}

impl FixedWindow {
    pub fn new(secs: u64) -> FixedWindow {
        FixedWindow { secs: secs.max(1), window: 0, requests: 0, tokens: 0 }
    }

    fn budgets(&self, limits: Limits) -> (u64, u64) {
        let per = |per_minute: u64| per_minute.saturating_mul(self.secs).div_ceil(60).max(1);
        (per(limits.rpm), per(limits.tpm))
    }

    fn roll(&mut self, now_ms: u64) {
        let window = now_ms / (self.secs * 1000);
        if window != self.window {
            (self.window, self.requests, self.tokens) = (window, 0, 0);
        }
    }

    pub fn try_acquire(&mut self, now_ms: u64, tokens: u64, limits: Limits) -> Decision {
        self.roll(now_ms);
        let (max_r, max_t) = self.budgets(limits);
        let tokens = tokens.min(max_t);
        let exceeded = if self.requests + 1 > max_r {
            Some(Exceeded::Requests)
        } else if self.tokens + tokens > max_t {
            Some(Exceeded::Tokens)
        } else {
            None
        };
        if let Some(exceeded) = exceeded {
            let retry_after_ms = ((self.window + 1) * self.secs * 1000).saturating_sub(now_ms).max(1);
            return Decision::Throttled { exceeded, retry_after_ms, remaining: self.remaining(limits) };
        }
        self.requests += 1;
        self.tokens += tokens;
        Decision::Allowed(self.remaining(limits))
    }

    pub fn peek(&mut self, now_ms: u64, limits: Limits) -> Remaining {
        self.roll(now_ms);
        self.remaining(limits)
    }

    fn remaining(&self, limits: Limits) -> Remaining {
        let (max_r, max_t) = self.budgets(limits);
        Remaining {
            requests: max_r.saturating_sub(self.requests),
            tokens: max_t.saturating_sub(self.tokens),
            reset_ms: 0,
        }
    }
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

    /// Admitted requests when `per_100ms` requests arrive every 100 ms for `secs` seconds.
    fn admitted(shape: Shape, limits: Limits, per_100ms: u64, secs: u64) -> usize {
        let mut l = Limiter::new(shape);
        (0..secs * 10)
            .flat_map(|tick| (0..per_100ms).map(move |_| tick * 100))
            .filter(|&t| allowed(l.try_acquire(t, 1, limits)))
            .count()
    }

    #[test]
    fn shapes_parse_and_print() {
        for s in ["sliding", "bucket", "fixed-1s", "fixed-10s"] {
            assert_eq!(Shape::parse(s).unwrap().to_string(), s);
        }
        assert!(Shape::parse("fixed-0s").is_err());
        assert!(Shape::parse("leaky").is_err());
    }

    #[test]
    fn bucket_holds_one_second_and_refills_continuously() {
        let l = Limits { rpm: 2400, tpm: 10_000_000 }; // 40 per second
        let mut b = TokenBucket::default();
        for i in 0..40 {
            assert!(allowed(b.try_acquire(0, 1, l)), "burst {i}");
        }
        let Decision::Throttled { exceeded: Exceeded::Requests, retry_after_ms, remaining } = b.try_acquire(0, 1, l)
        else {
            panic!("the 41st request of the burst is refused")
        };
        assert_eq!((retry_after_ms, remaining.requests, remaining.reset_ms), (25, 0, 0));
        assert!(!allowed(b.try_acquire(24, 1, l)));
        let Decision::Allowed(r) = b.try_acquire(25, 1, l) else { panic!("one unit back after 25 ms") };
        assert_eq!(r.requests, 0);
        // Offered 60 per second for 10 s: the burst plus 40 per second.
        assert_eq!(admitted(Shape::Bucket, l, 6, 10), 40 + 396);
    }

    #[test]
    fn fixed_windows_give_everything_back_at_the_boundary() {
        let l = Limits { rpm: 2400, tpm: 10_000_000 };
        let mut w = FixedWindow::new(1);
        for i in 0..40 {
            assert!(allowed(w.try_acquire(100 + i, 1, l)), "request {i}");
        }
        let Decision::Throttled { retry_after_ms, .. } = w.try_acquire(700, 1, l) else { panic!() };
        assert_eq!(retry_after_ms, 300);
        let Decision::Allowed(r) = w.try_acquire(1_000, 1, l) else { panic!() };
        assert_eq!((r.requests, r.reset_ms), (39, 0));
        assert_eq!(admitted(Shape::Fixed { secs: 1 }, l, 6, 10), 400);
        assert_eq!(admitted(Shape::Fixed { secs: 10 }, l, 6, 15), 400 + 300);
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
