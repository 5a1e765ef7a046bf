//! Adaptive proactive routing: when is a deployment's next unit of quota due?
//!
//! Azure sends `x-ratelimit-remaining-requests` / `-tokens` on every answer and
//! `retry-after-ms` on a 429, but no reset header. From those alone this module learns, per
//! (backend, deployment), how the quota comes back, so a deployment that has said it is
//! (nearly) out is held off only until its next unit is due:
//!
//! * **Refill rate.** Between two successes the limiter gave back
//!   `remaining₂ − remaining₁ + cost₂` units (the second request's own charge is already
//!   taken off `remaining₂`). Summed over recent intervals (decaying with a few seconds'
//!   memory), refill ÷ time is the rate: a token bucket's shows up this way. Intervals that
//!   start with the limiter full are left out (a full bucket refills nothing), and so are
//!   bulk returns (below).
//! * **Refill grid.** Every limiter gives quota back at instants on a grid `at + k·period`:
//!   a fixed window at its boundaries, a sliding window of 1-s buckets at whole seconds, and
//!   even a token bucket, whose level crosses whole units every `1/rate` (charges take whole
//!   units off and keep the phase). A 429's `retry-after-ms` names a grid instant exactly;
//!   a bulk return (many units at once between two close observations) names one to within
//!   that interval. Two instants give the period; later ones refine it or replace it.
//!
//! The hold after a success that says "out" is, per exhausted dimension, the sooner of the
//! next grid instant and `units missing ÷ rate` (each with a small margin); the later of the
//! dimensions; never later than a reset header the backend may send. When nothing is
//! learned yet there is no hold: the next request finds out, and its 429's `retry-after-ms`
//! is the first lesson (a fixed guess would waste capacity on every window shape but one).
//!
//! State is bounded: [`MAX_DEPLOYMENTS`] entries per backend, the least recently seen one
//! evicted. One `std` mutex per backend guards a map lookup and a few float operations; no
//! allocation except when a deployment is first seen. No clock of its own: `now` comes in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;

use super::cooldown;

/// Most deployments learned per backend; the least recently seen one makes room.
pub const MAX_DEPLOYMENTS: usize = 256;

/// Memory of the refill rate: older intervals weigh `e^(−age/RATE_MEMORY)`.
const RATE_MEMORY: Duration = Duration::from_secs(5);
/// A rate is trusted once it rests on this much observed time and at least two units.
const RATE_MIN_SECS: f64 = 0.1;
const RATE_MIN_UNITS: f64 = 2.0;
/// Safety factor on a rate-based hold: a little late costs nothing with a bucket (it keeps
/// filling), a little early costs a 429.
const RATE_MARGIN: f64 = 1.1;
/// A bulk return is placed on the grid only when its interval is this narrow.
const BULK_MAX_SLACK: Duration = Duration::from_millis(100);
/// Two grid instants closer than this are the same instant.
const SAME_INSTANT: Duration = Duration::from_millis(5);
/// Observations and grids older than this are forgotten (the limits may have changed).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// What one success said about the quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// `x-ratelimit-remaining-requests`, after this request was charged.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`, after this request was charged.
    pub remaining_tokens: Option<u64>,
    /// This request's estimated token cost (0 when the tokens are not reported).
    pub tokens: u64,
}

/// When a deployment counts as out, and what to do then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Out of requests when the remaining requests are at or below this.
    pub requests_floor: u64,
    /// Tokens the next request is expected to need.
    pub tokens: u64,
}

/// How proactive routing holds off a deployment that says it is (nearly) out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Out of requests when `x-ratelimit-remaining-requests` is at or below this.
    pub remaining_requests_floor: u64,
    /// The fixed hold (when not adaptive) if the backend sends no reset header.
    pub fallback_cooldown: Duration,
    /// Hold only until the learned next unit (see the module doc), not a fixed time.
    pub adaptive: bool,
}

impl Policy {
    /// Proactive routing after a success: how long to hold the deployment off, if at all.
    /// Adaptive: learned from this and earlier answers; fixed: until the reset header, else
    /// the fallback. `tokens_needed` (a body estimate) is called only when the backend
    /// reports its remaining tokens.
    pub fn after_success(
        &self,
        refills: &Refills,
        deployment: &str,
        headers: &HeaderMap,
        now: Instant,
        tokens_needed: impl FnOnce() -> u64,
    ) -> Option<Duration> {
        if !self.adaptive {
            return cooldown::nearly_out(headers, self.remaining_requests_floor, tokens_needed, self.fallback_cooldown);
        }
        let limits = cooldown::RateLimits::read(headers);
        let (remaining_requests, remaining_tokens) = (limits.remaining_requests, limits.remaining_tokens);
        let tokens = remaining_tokens.map_or(0, |_| tokens_needed());
        let report = Report { remaining_requests, remaining_tokens, tokens };
        let need = Need { requests_floor: self.remaining_requests_floor, tokens };
        refills.on_success(deployment, now, report, need, limits.reset)
    }

    /// Proactive routing learns from a 429 too: its `retry-after-ms` (exact, unlike the
    /// whole seconds of `Retry-After`) names when quota comes back.
    pub fn after_throttled(&self, refills: &Refills, deployment: &str, headers: &HeaderMap, now: Instant) {
        if self.adaptive
            && let Some(retry_after) = cooldown::retry_after_ms(headers)
        {
            refills.on_throttled(deployment, now, retry_after);
        }
    }
}

/// The learned refill of every deployment of one backend.
#[derive(Debug, Default)]
pub struct Refills {
    learned: Mutex<HashMap<Box<str>, Learned>>,
}

impl Refills {
    /// Learns from a success and, when it says the deployment is out (requests at or below
    /// the floor, or fewer tokens than the next request needs), returns how long to hold it
    /// off: until the next unit is due, capped by `reset` (a reset header, when sent).
    /// `None`: not out, or out with nothing learned yet and no reset header.
    pub fn on_success(
        &self,
        deployment: &str,
        now: Instant,
        report: Report,
        need: Need,
        reset: Option<Duration>,
    ) -> Option<Duration> {
        let out_of_requests = report.remaining_requests.is_some_and(|r| r <= need.requests_floor);
        let out_of_tokens = report.remaining_tokens.is_some_and(|r| r < need.tokens);
        if report.remaining_requests.is_none() && report.remaining_tokens.is_none() {
            return None;
        }
        let learned = self.with(deployment, now, |l| {
            l.observe(now, report);
            if !(out_of_requests || out_of_tokens) {
                return None;
            }
            let requests = out_of_requests
                .then(|| l.due(now, Dimension::Requests, need.requests_floor + 1 - report.remaining_requests?));
            let tokens = out_of_tokens
                .then(|| l.due(now, Dimension::Tokens, need.tokens - report.remaining_tokens.unwrap_or(0)));
            // Every exhausted dimension must have an answer; the later one decides.
            match (requests, tokens) {
                (Some(None), _) | (_, Some(None)) => None,
                (r, t) => r.flatten().max(t.flatten()),
            }
        });
        match (learned, reset) {
            (Some(l), Some(r)) => Some(l.min(r)),
            (l, r) if out_of_requests || out_of_tokens => l.or(r),
            _ => None,
        }
    }

    /// Learns from a 429: quota comes back `retry_after` from now.
    pub fn on_throttled(&self, deployment: &str, now: Instant, retry_after: Duration) {
        self.with(deployment, now, |l| {
            l.seen = now;
            l.grid.note(now + retry_after, Duration::ZERO, now);
        });
    }

    /// The learned period and rates of `deployment`, for display and tests.
    pub fn learned(&self, deployment: &str) -> Option<Summary> {
        let map = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        map.get(deployment).map(|l| Summary {
            period: l.grid.at.and(l.grid.period),
            requests_per_sec: l.requests.as_ref().and_then(Track::rate),
            tokens_per_sec: l.tokens.as_ref().and_then(Track::rate),
        })
    }

    /// How many deployments are learned.
    pub fn len(&self) -> usize {
        self.learned.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with<T>(&self, deployment: &str, now: Instant, f: impl FnOnce(&mut Learned) -> T) -> T {
        let mut map = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = map.get_mut(deployment) {
            return f(l);
        }
        if map.len() >= MAX_DEPLOYMENTS {
            let oldest = map.iter().min_by_key(|(_, l)| l.seen).map(|(d, _)| d.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        f(map.entry(deployment.into()).or_insert_with(|| Learned::new(now)))
    }
}

/// What has been learned about one deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Spacing of the refill grid, once two grid instants are known.
    pub period: Option<Duration>,
    pub requests_per_sec: Option<f64>,
    pub tokens_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dimension {
    Requests,
    Tokens,
}

#[derive(Debug, Clone)]
struct Learned {
    /// The last observation (success or 429).
    seen: Instant,
    /// When the last success was, with its remaining counts in `requests` / `tokens`.
    last_success: Option<Instant>,
    requests: Option<Track>,
    tokens: Option<Track>,
    grid: Grid,
}

impl Learned {
    fn new(now: Instant) -> Self {
        Learned { seen: now, last_success: None, requests: None, tokens: None, grid: Grid::default() }
    }

    fn observe(&mut self, now: Instant, report: Report) {
        let previous = self.last_success.filter(|&t| now >= t && now - t < FORGET_AFTER);
        self.seen = now;
        self.last_success = Some(now);
        let dt = previous.map(|t| now - t);
        // Only the request count places bulk returns on the grid: a request costs exactly
        // one, while its token cost is an estimate.
        let bulk = report.remaining_requests.is_some_and(|r| observe_track(&mut self.requests, r, 1, dt));
        if let Some(remaining) = report.remaining_tokens {
            observe_track(&mut self.tokens, remaining, report.tokens, dt);
        }
        if bulk && let Some(dt) = dt.filter(|&dt| dt <= BULK_MAX_SLACK) {
            self.grid.note(now, dt, now);
        }
    }

    /// How long until `missing` units of `dimension` are back, if anything is learned.
    fn due(&self, now: Instant, dimension: Dimension, missing: u64) -> Option<Duration> {
        let track = match dimension {
            Dimension::Requests => &self.requests,
            Dimension::Tokens => &self.tokens,
        };
        let by_rate = track.as_ref().and_then(Track::rate).and_then(|rate| {
            Duration::try_from_secs_f64(missing as f64 / rate * RATE_MARGIN).ok().map(|d| d + Duration::from_millis(1))
        });
        let by_grid = self.grid.next(now);
        match (by_rate, by_grid) {
            (Some(r), Some(g)) => Some(r.min(g)),
            (r, g) => r.or(g),
        }
    }
}

/// Learns one dimension from a remaining count; returns whether the interval was a bulk
/// return. `cost` is what the observed request itself was charged.
fn observe_track(track: &mut Option<Track>, remaining: u64, cost: u64, dt: Option<Duration>) -> bool {
    let Some(t) = track else {
        *track = Some(Track { last: remaining, peak: remaining, units: 0.0, secs: 0.0 });
        return false;
    };
    let bulk = match dt {
        None => false,
        Some(dt) => {
            // Signed, so answers that arrive out of order cancel out over the sum (a clipped
            // −1 then +2 would invent a refill); other clients' charges make it an
            // underestimate.
            let refill = remaining as f64 + cost as f64 - t.last as f64;
            let expected = t.rate().unwrap_or(0.0) * dt.as_secs_f64();
            let bulk = refill >= 2.0 && refill > 2.0 * expected + 1.0 + cost as f64;
            // A limiter that was full refilled nothing it could keep: say nothing of its rate.
            if !bulk && t.last < t.peak {
                t.add(refill, dt);
            }
            bulk
        }
    };
    t.last = remaining;
    t.peak = t.peak.max(remaining);
    bulk
}

/// Decaying sums of refilled units and observed time for one dimension.
#[derive(Debug, Clone, Copy)]
struct Track {
    /// Remaining after the last success.
    last: u64,
    /// The most ever seen remaining: the limiter's size, less one request.
    peak: u64,
    units: f64,
    secs: f64,
}

impl Track {
    fn add(&mut self, units: f64, dt: Duration) {
        let secs = dt.as_secs_f64();
        let keep = (-secs / RATE_MEMORY.as_secs_f64()).exp();
        self.units = self.units * keep + units;
        self.secs = self.secs * keep + secs;
    }

    /// Units per second, once trusted.
    fn rate(&self) -> Option<f64> {
        (self.secs >= RATE_MIN_SECS && self.units >= RATE_MIN_UNITS).then(|| self.units / self.secs)
    }
}

/// The instants at which quota comes back: `at + k·period`.
#[derive(Debug, Clone, Copy, Default)]
struct Grid {
    /// The latest instant known.
    at: Option<Instant>,
    period: Option<Duration>,
    /// The first exact instant on the current grid: the period is measured from it over as
    /// many periods as have passed, so timing noise in single instants averages out.
    origin: Option<Instant>,
}

impl Grid {
    /// Records that quota came back at `instant`, exactly (`slack` zero: a 429's
    /// `retry-after-ms`) or at most `slack` earlier (a bulk return between two answers).
    fn note(&mut self, instant: Instant, slack: Duration, now: Instant) {
        let exact = slack.is_zero();
        let Some(at) = self.at.filter(|&at| now < at || now - at < FORGET_AFTER) else {
            *self = Grid { at: Some(instant), period: None, origin: exact.then_some(instant) };
            return;
        };
        let same = SAME_INSTANT.max(slack);
        if instant + same < at {
            return; // older news than what the grid already has
        }
        if instant <= at + same {
            if exact {
                // An exact instant beats an estimate.
                self.at = Some(instant);
                self.origin = self.origin.or(Some(instant));
            }
            return;
        }
        let gap = instant - at;
        let Some(period) = self.period else {
            *self = Grid { at: Some(instant), period: Some(gap), origin: self.origin.or(exact.then_some(instant)) };
            return;
        };
        let k = (gap.as_secs_f64() / period.as_secs_f64()).round().max(1.0);
        let tolerance = same.as_secs_f64().max(period.as_secs_f64() / 50.0);
        if (gap.as_secs_f64() - k * period.as_secs_f64()).abs() > tolerance {
            // Off the grid: the limiter is not what we thought; start again from here (with
            // a period only if both instants are exact enough to measure one).
            let period = (exact && self.origin.is_some()).then_some(gap);
            *self = Grid { at: Some(instant), period, origin: exact.then_some(instant) };
            return;
        }
        if !exact {
            return; // on the grid, and less precise than what made it
        }
        match self.origin {
            Some(origin) if instant > origin => {
                let span = (instant - origin).as_secs_f64();
                let periods = (span / period.as_secs_f64()).round().max(1.0);
                self.period = Some(Duration::from_secs_f64(span / periods));
            }
            _ => self.origin = Some(instant),
        }
        self.at = Some(instant);
    }

    /// Time from `now` to the next grid instant, with a small margin; `None` when no
    /// instant to come is known.
    fn next(&self, now: Instant) -> Option<Duration> {
        let at = self.at?;
        let margin = |period: Duration| Duration::from_millis(2) + period / 100;
        if at > now {
            return Some(at - now + margin(self.period.unwrap_or_default()));
        }
        let period = self.period.filter(|p| *p >= Duration::from_millis(1))?;
        if now - at >= FORGET_AFTER {
            return None;
        }
        let passed = ((now - at).as_nanos() / period.as_nanos()) as u32 + 1;
        let next = at + period * passed;
        Some(next - now + margin(period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Need = Need { requests_floor: 0, tokens: 0 };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn requests(remaining: u64) -> Report {
        Report { remaining_requests: Some(remaining), remaining_tokens: None, tokens: 0 }
    }

    /// Drives `limiter` (a simulated deployment) with one request every `every_ms` for
    /// `secs`, honouring the holds the learner asks for (requests during a hold go
    /// elsewhere). Returns (admitted, 429s).
    fn drive(
        mut limiter: crate::sim::limits::Limiter,
        rpm: u64,
        every_ms: u64,
        secs: u64,
        refills: &Refills,
    ) -> (u64, u64) {
        use crate::sim::limits::{Decision, Limits};
        let t0 = Instant::now();
        let limits = Limits { rpm, tpm: 100_000_000 };
        let (mut admitted, mut throttled) = (0, 0);
        let mut held_until = t0;
        for tick in 0..secs * 1000 / every_ms {
            let now_ms = tick * every_ms;
            let now = t0 + ms(now_ms);
            if now < held_until {
                continue;
            }
            match limiter.try_acquire(now_ms, 1, limits) {
                Decision::Allowed(r) => {
                    admitted += 1;
                    if let Some(hold) = refills.on_success("d", now, requests(r.requests), FLOOR, None) {
                        held_until = now + hold;
                    }
                }
                Decision::Throttled { retry_after_ms, .. } => {
                    throttled += 1;
                    refills.on_throttled("d", now, ms(retry_after_ms));
                    held_until = now + ms(retry_after_ms);
                }
            }
        }
        (admitted, throttled)
    }

    /// What the limiter admits when every request is sent to it.
    fn capacity(mut limiter: crate::sim::limits::Limiter, rpm: u64, every_ms: u64, secs: u64) -> u64 {
        let limits = crate::sim::limits::Limits { rpm, tpm: 100_000_000 };
        (0..secs * 1000 / every_ms)
            .filter(|tick| {
                matches!(limiter.try_acquire(tick * every_ms, 1, limits), crate::sim::limits::Decision::Allowed(_))
            })
            .count() as u64
    }

    fn check_shape(shape: crate::sim::Shape, max_429s: u64) {
        use crate::sim::limits::Limiter;
        // 40 per second of capacity, a request every 10 ms (100 per second) for 30 s.
        let refills = Refills::default();
        let (admitted, throttled) = drive(Limiter::new(shape), 2400, 10, 30, &refills);
        let cap = capacity(Limiter::new(shape), 2400, 10, 30);
        eprintln!("{shape}: admitted {admitted} of {cap}, {throttled} 429s");
        assert!(admitted as f64 >= 0.98 * cap as f64, "{shape}: admitted {admitted} of {cap}");
        assert!(throttled <= max_429s, "{shape}: {throttled} 429s");
    }

    #[test]
    fn token_bucket_is_held_for_one_unit_only() {
        check_shape(crate::sim::Shape::Bucket, 3);
    }

    #[test]
    fn fixed_one_second_windows_are_held_to_the_boundary() {
        check_shape(crate::sim::Shape::Fixed { secs: 1 }, 4);
    }

    #[test]
    fn fixed_ten_second_windows_are_held_to_the_boundary() {
        check_shape(crate::sim::Shape::Fixed { secs: 10 }, 3);
    }

    #[test]
    fn sliding_window_is_served_with_few_429s() {
        check_shape(crate::sim::Shape::Sliding, 6);
    }

    #[test]
    fn nothing_learned_means_no_hold_unless_a_reset_header_says() {
        let r = Refills::default();
        let now = Instant::now();
        assert_eq!(r.on_success("d", now, requests(5), FLOOR, None), None);
        assert_eq!(r.on_success("d", now + ms(10), requests(0), FLOOR, None), None, "nothing learned: probe");
        assert_eq!(r.on_success("d", now + ms(20), requests(0), FLOOR, Some(ms(700))), Some(ms(700)));
        assert_eq!(r.on_success("d", now, Report::default(), FLOOR, Some(ms(700))), None, "no counts: not out");
    }

    #[test]
    fn a_429_names_the_next_instant_and_two_give_the_period() {
        let r = Refills::default();
        let t0 = Instant::now();
        r.on_throttled("d", t0, ms(300));
        // Out before that instant: hold until it.
        let hold = r.on_success("d", t0 + ms(100), requests(0), FLOOR, None).unwrap();
        assert!(hold >= ms(200) && hold <= ms(205), "{hold:?}");
        r.on_throttled("d", t0 + ms(900), ms(400)); // the next boundary, 1 s after the first
        assert_eq!(r.learned("d").unwrap().period, Some(ms(1000)));
        let hold = r.on_success("d", t0 + ms(2_600), requests(0), FLOOR, None).unwrap();
        assert!(hold >= ms(700) && hold <= ms(715), "next boundary at 3.3 s: {hold:?}");
        // A much later 429 on a multiple of the period keeps it.
        r.on_throttled("d", t0 + ms(9_000), ms(300));
        assert_eq!(r.learned("d").unwrap().period, Some(ms(1000)));
    }

    #[test]
    fn the_period_is_measured_over_many_periods_so_timing_noise_averages_out() {
        let r = Refills::default();
        let t0 = Instant::now();
        // Boundaries every second, each 429 seen with up to 4 ms of noise.
        let noise = [3, 0, 4, 1, 0, 2, 4, 0, 3, 1, 0];
        for (k, n) in noise.iter().enumerate() {
            r.on_throttled("d", t0 + ms(1_000 * k as u64 + 700), ms(300 + n));
        }
        let period = r.learned("d").unwrap().period.unwrap();
        assert!(period.abs_diff(ms(1_000)) <= Duration::from_micros(400), "{period:?}");
        // A bulk return seen a little after a grid instant does not move the grid.
        r.on_success("d", t0 + ms(11_990), requests(1), FLOOR, None);
        r.on_success("d", t0 + ms(12_030), requests(39), FLOOR, None);
        assert_eq!(r.learned("d").unwrap().period, Some(period));
        // One far off the grid means the limiter changed: the period is learned again.
        r.on_success("d", t0 + ms(12_400), requests(1), FLOOR, None);
        r.on_success("d", t0 + ms(12_450), requests(39), FLOOR, None);
        assert_eq!(r.learned("d").unwrap().period, None);
    }

    #[test]
    fn refill_rate_is_learned_from_remaining_counts() {
        let r = Refills::default();
        let t0 = Instant::now();
        // A bucket refilling 20 per second, drained by a request every 25 ms (40 per second):
        // remaining falls by one every 50 ms, from 20 to 1.
        for i in 0..39u64 {
            let out = r.on_success("d", t0 + ms(25 * i), requests(20 - i.div_ceil(2)), FLOOR, None);
            assert_eq!(out, None, "{i}");
        }
        let rate = r.learned("d").unwrap().requests_per_sec.unwrap();
        assert!((rate - 20.0).abs() < 1.5, "{rate}");
        let hold = r.on_success("d", t0 + ms(975), requests(0), FLOOR, None).unwrap();
        assert!(hold >= ms(50) && hold <= ms(60), "one unit at 20/s, with margin: {hold:?}");
        // A reset header caps the hold.
        assert_eq!(r.on_success("d", t0 + ms(1_025), requests(0), FLOOR, Some(ms(10))), Some(ms(10)));
    }

    #[test]
    fn answers_out_of_order_invent_no_refill() {
        let r = Refills::default();
        let t0 = Instant::now();
        // A fixed window draining one per request, answers pairwise swapped: 38, 39, 36, 37, …
        for i in 0..36u64 {
            let remaining = 38 - i + if i % 2 == 0 { 0 } else { 2 };
            r.on_success("d", t0 + ms(10 * i), requests(remaining.min(39)), FLOOR, None);
        }
        assert_eq!(r.learned("d").unwrap().requests_per_sec, None, "{:?}", r.learned("d"));
        assert_eq!(r.learned("d").unwrap().period, None, "and no bulk return either");
    }

    #[test]
    fn a_full_limiter_teaches_no_rate() {
        let r = Refills::default();
        let t0 = Instant::now();
        for i in 0..50 {
            r.on_success("d", t0 + ms(1_000 * i), requests(99), FLOOR, None);
        }
        assert_eq!(r.learned("d").unwrap().requests_per_sec, None, "idle traffic is not the refill rate");
    }

    #[test]
    fn tokens_count_too_and_the_later_dimension_decides() {
        let r = Refills::default();
        let t0 = Instant::now();
        let report = |req, tok| Report { remaining_requests: Some(req), remaining_tokens: Some(tok), tokens: 150 };
        // Tokens refill 1000/s (100 per 100 ms) and each request, one per 100 ms, costs 150:
        // remaining tokens fall by 50 a request, down to 140.
        let need = Need { requests_floor: 0, tokens: 100 };
        for i in 0..19u64 {
            assert_eq!(r.on_success("d", t0 + ms(100 * i), report(50, 1_040 - 50 * i), need, None), None);
        }
        let learned = r.learned("d").unwrap();
        assert!((learned.tokens_per_sec.unwrap() - 1000.0).abs() < 50.0, "{learned:?}");
        // Out of tokens only: 100 needed, 90 left: 10 tokens at 1000/s = 10 ms, with margin.
        let hold = r.on_success("d", t0 + ms(1_900), report(50, 90), need, None);
        assert!(hold.is_some_and(|h| h >= ms(10) && h <= ms(13)), "{hold:?}");
        // Out of both: requests have no rate learned (they never refilled) and no grid: unknown.
        assert_eq!(r.on_success("d", t0 + ms(2_000), report(0, 90), need, None), None);
    }

    #[test]
    fn policy_reads_the_headers_and_keeps_the_fixed_rule_when_not_adaptive() {
        use http::HeaderValue;
        let mut h = HeaderMap::new();
        h.insert(cooldown::REMAINING_REQUESTS, HeaderValue::from_static("0"));
        let fixed = Policy { remaining_requests_floor: 0, fallback_cooldown: ms(1_000), adaptive: false };
        let adaptive = Policy { adaptive: true, ..fixed };
        let r = Refills::default();
        let now = Instant::now();
        let no_estimate = || -> u64 { panic!("no remaining-tokens header: no estimate") };
        assert_eq!(fixed.after_success(&r, "d", &h, now, no_estimate), Some(ms(1_000)));
        assert_eq!(adaptive.after_success(&r, "d", &h, now, no_estimate), None, "nothing learned yet");
        let mut throttled = HeaderMap::new();
        throttled.insert(cooldown::RETRY_AFTER_MS, HeaderValue::from_static("250"));
        adaptive.after_throttled(&r, "d", &throttled, now);
        let hold = adaptive.after_success(&r, "d", &h, now + ms(50), no_estimate).unwrap();
        assert!(hold >= ms(200) && hold <= ms(205), "{hold:?}");
        throttled.insert(http::header::RETRY_AFTER, HeaderValue::from_static("9"));
        throttled.remove(cooldown::RETRY_AFTER_MS);
        adaptive.after_throttled(&r, "e", &throttled, now);
        assert!(r.learned("e").is_none(), "whole-second Retry-After is too coarse to learn from");
    }

    #[test]
    fn the_table_is_bounded() {
        let r = Refills::default();
        let t0 = Instant::now();
        for i in 0..(MAX_DEPLOYMENTS as u64 + 50) {
            r.on_success(&format!("hostile-{i}"), t0 + ms(i), requests(3), FLOOR, None);
        }
        assert_eq!(r.len(), MAX_DEPLOYMENTS);
        assert!(r.learned("hostile-0").is_none(), "the least recently seen went first");
        assert!(r.learned(&format!("hostile-{}", MAX_DEPLOYMENTS + 49)).is_some());
    }
}
