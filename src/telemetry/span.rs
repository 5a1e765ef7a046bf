//! The spans of one request as the request path records them: fixed-size ids, `Instant`s
//! and values the proxy already holds (shared, not copied). Names, attribute keys and
//! wall-clock times are made by the export thread (`export.rs`).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Uri};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::export::Queue;
use crate::proxy::Usage;

/// A W3C `traceparent` (version 00 fields) received from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceParent {
    /// Parses `{version}-{trace-id}-{parent-id}-{flags}` as W3C Trace Context says: lower-case
    /// hex, version `ff` and all-zero ids invalid, version 00 exactly 55 bytes, a later
    /// version possibly followed by `-` and more. `None` when invalid (a new trace starts).
    pub fn parse(value: &[u8]) -> Option<TraceParent> {
        if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let version = hex::<1>(&value[..2])?[0];
        if version == 0xff || (version == 0 && value.len() != 55) || (value.len() > 55 && value[55] != b'-') {
            return None;
        }
        let trace_id = hex::<16>(&value[3..35])?;
        let span_id = hex::<8>(&value[36..52])?;
        let flags = hex::<1>(&value[53..55])?[0];
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent { trace_id, span_id, sampled: flags & 1 == 1 })
    }
}

/// Lower-case hex digits to bytes (W3C forbids upper case).
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Bytes as lower-case hex into `out` (twice as long).
fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
}

thread_local! {
    /// Span and trace ids: random, not secret, so a fast generator per thread (seeded from
    /// the OS-seeded thread rng) instead of a cryptographic one per id.
    static IDS: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
}

fn new_span_id() -> [u8; 8] {
    IDS.with_borrow_mut(|rng| rng.random::<std::num::NonZeroU64>().get().to_be_bytes())
}

fn new_trace_id() -> [u8; 16] {
    IDS.with_borrow_mut(|rng| rng.random::<std::num::NonZeroU128>().get().to_be_bytes())
}

/// A 32-digit trace id for log lines, without allocating.
pub struct TraceIdHex([u8; 32]);

impl TraceIdHex {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// One ended span, as queued for the export thread.
pub(super) struct Record {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The parent span, and whether it is the client's (remote).
    pub parent: Option<([u8; 8], bool)>,
    pub start: Instant,
    pub end: Instant,
    pub detail: Detail,
}

pub(super) enum Detail {
    Request(RequestDetail),
    Attempt(AttemptDetail),
}

/// The server span's values.
pub(super) struct RequestDetail {
    pub method: Method,
    pub uri: Uri,
    pub deployment: Arc<str>,
    /// 0 when the request ended before an answer (the client went away).
    pub status: u16,
    pub attempts: u32,
    pub bytes: u64,
    pub usage: Option<Usage>,
    /// Why the balancer answered itself, when it did.
    pub answered_locally: Option<&'static str>,
}

/// One attempt's values (a client span, child of the request).
pub(super) struct AttemptDetail {
    pub span_id: [u8; 8],
    pub start: Instant,
    pub backend: HeaderValue,
    pub deployment: Arc<str>,
    pub number: u32,
    pub status: Option<u16>,
    /// The cooldown a failure started (it failed over).
    pub cooldown: Option<Duration>,
    /// The proactive cooldown a success started (quota nearly out).
    pub proactive_cooldown: Option<Duration>,
    pub error: Option<Box<str>>,
    /// Body bytes sent to the client, for the committed attempt.
    pub bytes: Option<u64>,
}

/// The span of one client request and its attempts. It ends when the answer's body has
/// been sent ([`finish`](Self::finish)) or the balancer answered itself
/// ([`answered_locally`](Self::answered_locally)); dropped before, it ends with what it has.
pub struct RequestSpan {
    queue: Arc<Queue>,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    /// The client's span, when it sent a `traceparent`.
    parent: Option<[u8; 8]>,
    sampled: bool,
    started: Instant,
    method: Method,
    uri: Uri,
    deployment: Arc<str>,
    attempts: u32,
    /// The attempt in flight, or the committed one (ended with the body).
    current: Option<AttemptDetail>,
    ended: bool,
}

impl RequestSpan {
    pub(super) fn start(
        queue: Arc<Queue>,
        parent: Option<TraceParent>,
        method: Method,
        uri: Uri,
        deployment: Arc<str>,
        started: Instant,
    ) -> RequestSpan {
        let (trace_id, parent_id, sampled) = match parent {
            Some(p) => (p.trace_id, Some(p.span_id), p.sampled),
            None => (new_trace_id(), None, true),
        };
        RequestSpan {
            queue,
            trace_id,
            span_id: new_span_id(),
            parent: parent_id,
            sampled,
            started,
            method,
            uri,
            deployment,
            attempts: 0,
            current: None,
            ended: false,
        }
    }

    /// Starts the span of one attempt at `backend` (a failed one before it has ended);
    /// returns the `traceparent` the backend gets: this attempt is its parent.
    pub fn attempt(&mut self, backend: &HeaderValue) -> HeaderValue {
        if self.current.is_some() {
            self.end_attempt(Instant::now());
        }
        self.attempts += 1;
        let span_id = new_span_id();
        self.current = Some(AttemptDetail {
            span_id,
            start: Instant::now(),
            backend: backend.clone(),
            deployment: Arc::clone(&self.deployment),
            number: self.attempts,
            status: None,
            cooldown: None,
            proactive_cooldown: None,
            error: None,
            bytes: None,
        });
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
        write_hex(&self.trace_id, &mut value[3..35]);
        write_hex(&span_id, &mut value[36..52]);
        value[54] = if self.sampled { b'1' } else { b'0' };
        HeaderValue::from_bytes(&value).expect("hex digits are a valid header value")
    }

    /// The backend's status for the attempt in flight.
    pub fn answered(&mut self, status: u16) {
        if let Some(attempt) = &mut self.current {
            attempt.status = Some(status);
        }
    }

    /// The attempt in flight got no response head: connection error or timeout.
    pub fn attempt_failed(&mut self, problem: &dyn std::fmt::Display) {
        if let Some(attempt) = &mut self.current {
            attempt.error = Some(problem.to_string().into_boxed_str());
        }
    }

    /// The attempt in flight failed over and started this cooldown of its backend.
    pub fn failed_over(&mut self, cooldown: Duration) {
        if let Some(attempt) = &mut self.current {
            attempt.cooldown = Some(cooldown);
        }
        self.end_attempt(Instant::now());
    }

    /// The committed attempt's success started a proactive cooldown of its backend.
    pub fn proactive_cooldown(&mut self, cooldown: Duration) {
        if let Some(attempt) = &mut self.current {
            attempt.proactive_cooldown = Some(cooldown);
        }
    }

    /// The 32-hex-digit trace id, for log lines.
    pub fn trace_id(&self) -> TraceIdHex {
        let mut out = [0u8; 32];
        write_hex(&self.trace_id, &mut out);
        TraceIdHex(out)
    }

    /// The request was answered by the balancer itself (a refusal, every backend cooling,
    /// no backend): `reason` says why.
    pub fn answered_locally(mut self, status: u16, reason: &'static str, bytes: u64) {
        self.end(status, bytes, None, Some(reason));
    }

    /// Ends the request (and its committed attempt) when the response body has been sent.
    pub fn finish(mut self, status: u16, bytes: u64, usage: Option<Usage>) {
        if let Some(attempt) = &mut self.current {
            attempt.bytes = Some(bytes);
        }
        self.end(status, bytes, usage, None);
    }

    fn end_attempt(&mut self, end: Instant) {
        if let Some(attempt) = self.current.take()
            && self.sampled
        {
            self.queue.push(Record {
                trace_id: self.trace_id,
                span_id: attempt.span_id,
                parent: Some((self.span_id, false)),
                start: attempt.start,
                end,
                detail: Detail::Attempt(attempt),
            });
        }
    }

    fn end(&mut self, status: u16, bytes: u64, usage: Option<Usage>, answered_locally: Option<&'static str>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let end = Instant::now();
        self.end_attempt(end);
        if !self.sampled {
            return;
        }
        let detail = RequestDetail {
            method: std::mem::replace(&mut self.method, Method::GET),
            uri: std::mem::take(&mut self.uri),
            deployment: Arc::clone(&self.deployment),
            status,
            attempts: self.attempts,
            bytes,
            usage,
            answered_locally,
        };
        self.queue.push(Record {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent: self.parent.map(|p| (p, true)),
            start: self.started,
            end,
            detail: Detail::Request(detail),
        });
    }
}

impl Drop for RequestSpan {
    fn drop(&mut self) {
        self.end(0, 0, None, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_as_w3c_says() {
        let ok = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(ok.trace_id[..2], [0x4b, 0xf9]);
        assert_eq!(ok.span_id[7], 0xb7);
        assert!(ok.sampled);
        assert!(!TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().sampled);
        // A later version may carry more fields.
        assert!(TraceParent::parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz").is_some());
        for bad in [
            &b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ids_are_random_and_never_zero() {
        let a: Vec<[u8; 8]> = (0..100).map(|_| new_span_id()).collect();
        assert!(a.iter().all(|id| *id != [0; 8]));
        assert_ne!(a[0], a[1]);
        assert_ne!(new_trace_id(), new_trace_id());
    }
}
