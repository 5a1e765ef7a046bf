//! How long a backend should rest, read from the headers of its answer.
//!
//! Sources, in order (the first usable one wins; zero, negative or unparsable values fall
//! through to the next):
//! 1. `retry-after-ms`, `x-ms-retry-after-ms` — milliseconds;
//! 2. `Retry-After` — delta-seconds or an HTTP-date;
//! 3. `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens` (and the
//!    `x-rate-limit-reset-…` spelling) — Azure sends seconds, OpenAI durations like `6m0s`.
//!
//! When none is usable the caller applies its configured default.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{HeaderName, RETRY_AFTER};

pub const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
pub const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");
pub const RESET_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-ratelimit-reset-requests"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
    HeaderName::from_static("x-rate-limit-reset-requests"),
    HeaderName::from_static("x-rate-limit-reset-tokens"),
];
pub const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
pub const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");

/// The longest cooldown we accept from a header: a day. Anything longer is taken as garbage.
const MAX_COOLDOWN: Duration = Duration::from_secs(86_400);

/// The cooldown a backend's answer asks for, or `None` when no header gives a usable value.
/// `now` is the wall clock, needed only for `Retry-After` given as an HTTP-date.
pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after_ms(headers)
        .or_else(|| header_str(headers, &RETRY_AFTER).and_then(|v| parse_retry_after(v, now)))
        .or_else(|| reset_from_headers(headers))
}

/// `retry-after-ms` or `x-ms-retry-after-ms`, when usable.
pub fn retry_after_ms(headers: &HeaderMap) -> Option<Duration> {
    [RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS].iter().find_map(|name| header_str(headers, name).and_then(parse_millis))
}

/// A header value holding a whole number, such as `x-ratelimit-remaining-requests`'s.
fn whole_number(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// The first usable `x-ratelimit-reset-*` value.
pub fn reset_from_headers(headers: &HeaderMap) -> Option<Duration> {
    RESET_HEADERS.iter().find_map(|name| header_str(headers, name).and_then(parse_reset))
}

/// The rate-limit headers of a successful answer, read in one pass over its header names:
/// every answer is read, and six hashed lookups cost more than one pass comparing names.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimits {
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// What [`reset_from_headers`] would return.
    pub reset: Option<Duration>,
}

impl RateLimits {
    pub fn read(headers: &HeaderMap) -> RateLimits {
        // As `HeaderMap::get`: the first value of a name counts, usable or not.
        let mut requests: Option<Option<u64>> = None;
        let mut tokens: Option<Option<u64>> = None;
        let mut resets: [Option<Option<Duration>>; 4] = [None; 4];
        for (name, value) in headers {
            let name = name.as_str();
            if !name.starts_with("x-rate") {
                continue;
            }
            let text = || value.to_str().ok();
            let number = || text().and_then(whole_number);
            match name {
                "x-ratelimit-remaining-requests" => _ = requests.get_or_insert_with(number),
                "x-ratelimit-remaining-tokens" => _ = tokens.get_or_insert_with(number),
                _ => {
                    if let Some(i) = RESET_HEADERS.iter().position(|h| h.as_str() == name) {
                        resets[i].get_or_insert_with(|| text().and_then(parse_reset));
                    }
                }
            }
        }
        RateLimits {
            remaining_requests: requests.flatten(),
            remaining_tokens: tokens.flatten(),
            reset: resets.into_iter().find_map(Option::flatten),
        }
    }
}

/// Proactive routing: the backend answered, but says it is (nearly) out of quota. Returns
/// how long to leave it alone: until its reset, else `fallback`. `tokens_needed` is only
/// called when the backend reports its remaining tokens (estimating means parsing the body).
pub fn nearly_out(
    headers: &HeaderMap,
    requests_floor: u64,
    tokens_needed: impl FnOnce() -> u64,
    fallback: Duration,
) -> Option<Duration> {
    let limits = RateLimits::read(headers);
    let out_of_requests = limits.remaining_requests.is_some_and(|r| r <= requests_floor);
    let out_of_tokens = || limits.remaining_tokens.is_some_and(|r| r < tokens_needed());
    (out_of_requests || out_of_tokens()).then(|| limits.reset.unwrap_or(fallback))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn positive(d: Duration) -> Option<Duration> {
    (d > Duration::ZERO && d <= MAX_COOLDOWN).then_some(d)
}

fn parse_seconds_f64(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok().and_then(positive)
}

fn parse_millis(v: &str) -> Option<Duration> {
    let ms: f64 = v.trim().parse().ok()?;
    if !ms.is_finite() || ms <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(ms / 1000.0).ok().and_then(positive)
}

/// `Retry-After: 7` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if v.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'.') {
        return parse_seconds_f64(v);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    at.duration_since(now).ok().and_then(positive)
}

/// Azure: seconds (`"2"`, `"0.5"`); OpenAI: Go-style durations (`"1s"`, `"6m0s"`, `"20ms"`).
fn parse_reset(v: &str) -> Option<Duration> {
    let v = v.trim();
    parse_seconds_f64(v).or_else(|| parse_go_duration(v).and_then(positive))
}

/// Parses a Go duration string such as `1h2m3.5s`, `20ms`, `150us`.
pub fn parse_go_duration(v: &str) -> Option<Duration> {
    let mut rest = v.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn retry_after_ms_wins_over_everything() {
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "9"), ("x-ratelimit-reset-requests", "30")]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn x_ms_retry_after_ms_is_second() {
        let h = headers(&[("x-ms-retry-after-ms", "250"), ("retry-after", "9")]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_millis(250)));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(from_headers(&headers(&[("retry-after", "7")]), now()), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_http_date() {
        let at = httpdate::fmt_http_date(now() + Duration::from_secs(42));
        assert_eq!(from_headers(&headers(&[("retry-after", &at)]), now()), Some(Duration::from_secs(42)));
    }

    #[test]
    fn retry_after_date_in_the_past_falls_through() {
        let at = httpdate::fmt_http_date(now() - Duration::from_secs(42));
        let h = headers(&[("retry-after", &at), ("x-ratelimit-reset-tokens", "3")]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_secs(3)));
    }

    #[test]
    fn zero_negative_and_garbage_fall_through() {
        let h = headers(&[
            ("retry-after-ms", "0"),
            ("x-ms-retry-after-ms", "-5"),
            ("retry-after", "soon"),
            ("x-ratelimit-reset-requests", "banana"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(from_headers(&h, now()), Some(Duration::from_secs(360)));
        let h = headers(&[("retry-after", "0"), ("retry-after-ms", "NaN")]);
        assert_eq!(from_headers(&h, now()), None);
    }

    #[test]
    fn reset_headers_in_both_spellings_and_formats() {
        assert_eq!(from_headers(&headers(&[("x-ratelimit-reset-requests", "2")]), now()), Some(Duration::from_secs(2)));
        assert_eq!(from_headers(&headers(&[("x-ratelimit-reset-tokens", "1s")]), now()), Some(Duration::from_secs(1)));
        assert_eq!(
            from_headers(&headers(&[("x-rate-limit-reset-tokens", "20ms")]), now()),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            from_headers(&headers(&[("x-rate-limit-reset-requests", "1m30.5s")]), now()),
            Some(Duration::from_millis(90_500))
        );
    }

    #[test]
    fn nothing_usable_is_none() {
        assert_eq!(from_headers(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn absurdly_long_values_are_garbage() {
        assert_eq!(from_headers(&headers(&[("retry-after", "99999999999")]), now()), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("150us"), Some(Duration::from_micros(150)));
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    /// What one lookup per name reads: the reference the one-pass reader is held to.
    fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
        header_str(headers, name).and_then(whole_number)
    }

    #[test]
    fn one_pass_reads_what_the_lookups_read() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("content-type", "application/json")],
            &[("x-ratelimit-remaining-requests", "7"), ("x-ratelimit-remaining-tokens", "1200")],
            &[("x-ratelimit-remaining-requests", "soon"), ("x-ratelimit-remaining-requests", "3")],
            &[("x-ratelimit-reset-tokens", "6m0s"), ("x-ratelimit-reset-requests", "garbage")],
            &[
                ("x-rate-limit-reset-tokens", "2"),
                ("x-rate-limit-reset-requests", "0"),
                ("x-ratelimit-reset-tokens", "9"),
            ],
            &[("x-ratelimit-reset-requests", "1.5"), ("x-ratelimit-reset-requests", "4"), ("x-rate-limited", "1")],
        ];
        for case in cases {
            let mut headers = HeaderMap::new();
            for (name, value) in *case {
                headers.append(HeaderName::from_static(name), value.parse().unwrap());
            }
            let looked_up = RateLimits {
                remaining_requests: header_u64(&headers, &REMAINING_REQUESTS),
                remaining_tokens: header_u64(&headers, &REMAINING_TOKENS),
                reset: reset_from_headers(&headers),
            };
            assert_eq!(RateLimits::read(&headers), looked_up, "{case:?}");
        }
    }

    #[test]
    fn nearly_out_uses_reset_or_fallback() {
        let fallback = Duration::from_secs(1);
        let h = headers(&[("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "4")]);
        assert_eq!(nearly_out(&h, 0, || 10, fallback), Some(Duration::from_secs(4)));
        let h = headers(&[("x-ratelimit-remaining-requests", "3"), ("x-ratelimit-remaining-tokens", "5")]);
        assert_eq!(nearly_out(&h, 0, || 10, fallback), Some(fallback));
        assert_eq!(nearly_out(&h, 0, || 5, fallback), None);
        assert_eq!(nearly_out(&h, 3, || 1, fallback), Some(fallback));
        assert_eq!(nearly_out(&HeaderMap::new(), 0, || 1, fallback), None);
        let no_token_header = headers(&[("x-ratelimit-remaining-requests", "9")]);
        let not_estimated = || -> u64 { panic!("the estimate is needed only with a remaining-tokens header") };
        assert_eq!(nearly_out(&no_token_header, 0, not_estimated, fallback), None);
    }
}
