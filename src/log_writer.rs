//! Where log lines go: stderr, through a buffer per thread.
//!
//! `oai-lb serve` logs one line per request. Writing each straight to stderr costs a
//! system call on the thread that serves the request; here a line is appended to its
//! thread's buffer instead (an uncontended lock and a copy), and a flusher thread writes
//! every buffer out every [`FLUSH_EVERY`] — the way nginx's `access_log … buffer= flush=`
//! works. A buffer that grows past [`FLUSH_AT`] is written out at once by its own thread, so
//! memory stays bounded under any load. Lines stay whole and in order within a thread; the
//! [`Flusher`] returned by [`install`] writes out what is left when it is dropped.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How often buffered lines are written out.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A thread's buffer is written out by that thread once it holds this much: the bound on
/// its memory. Large enough that the flusher does the writing up to ~10 MB/s of lines per
/// thread (~50,000 access lines a second), so the thread serving requests does not.
const FLUSH_AT: usize = 1024 * 1024;

type Buffer = Arc<Mutex<Vec<u8>>>;

/// Every thread's buffer, for the flusher.
fn buffers() -> &'static Mutex<Vec<Buffer>> {
    static BUFFERS: OnceLock<Mutex<Vec<Buffer>>> = OnceLock::new();
    BUFFERS.get_or_init(Mutex::default)
}

thread_local! {
    static BUFFER: Buffer = {
        let buffer = Buffer::default();
        lock(buffers()).push(Arc::clone(&buffer));
        buffer
    };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `bytes` to stderr; a closed or failing stderr loses log lines, never the process.
fn write_out(bytes: &[u8]) {
    let _ = io::stderr().lock().write_all(bytes);
}

/// Writes out every thread's buffered lines; forgets the buffers of threads that ended.
fn flush_all() {
    let mut all = lock(buffers());
    let mut spare = Vec::new();
    all.retain(|buffer| {
        {
            let mut lines = lock(buffer);
            if !lines.is_empty() {
                std::mem::swap(&mut *lines, &mut spare);
            }
        }
        if !spare.is_empty() {
            write_out(&spare);
            spare.clear();
        }
        Arc::strong_count(buffer) > 1
    });
}

/// The `MakeWriter` for the fmt subscriber: each event's line goes to its thread's buffer.
#[derive(Clone, Copy, Default)]
pub struct Buffered;

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line
    }
}

/// One event's output (the fmt subscriber formats a whole line, then writes it at once).
pub struct Line;

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let appended = BUFFER.try_with(|buffer| {
            let mut lines = lock(buffer);
            lines.extend_from_slice(bytes);
            if lines.len() >= FLUSH_AT {
                write_out(&lines);
                lines.clear();
            }
        });
        if appended.is_err() {
            // The thread is ending and its buffer is gone: write directly.
            write_out(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes out what is buffered when dropped; hold it for as long as the command runs.
pub struct Flusher(());

impl Drop for Flusher {
    fn drop(&mut self) {
        flush_all();
    }
}

/// Starts the flusher thread (once per process) and returns the guard that flushes at exit.
pub fn install() -> Flusher {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let _ = std::thread::Builder::new().name("oai-lb-log".into()).spawn(|| {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flush_all();
            }
        });
    });
    Flusher(())
}

/// The fmt subscriber's default line format, written faster for plain access-log lines.
///
/// An `oai_lb::access` event outside any span, on a writer without colours, whose fields
/// are all plain (integers, floats, booleans and printable ASCII strings without quotes or
/// backslashes) is written here byte for byte as [`Format`] writes it, without the generic
/// formatting machinery; anything else goes to [`Format`] itself.
pub struct AccessLineFormat {
    default: Format,
}

impl AccessLineFormat {
    pub fn new(default: Format) -> Self {
        AccessLineFormat { default }
    }
}

/// The target of the per-request log lines.
const ACCESS_TARGET: &str = "oai_lb::access";

impl<S, N> FormatEvent<S, N> for AccessLineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() == ACCESS_TARGET && !writer.has_ansi_escapes() && ctx.event_scope().is_none() {
            let written = LINE.with_borrow_mut(|line| {
                line.clear();
                write_timestamp(line, SystemTime::now());
                line.push_str(match *meta.level() {
                    Level::TRACE => " TRACE ",
                    Level::DEBUG => " DEBUG ",
                    Level::INFO => "  INFO ",
                    Level::WARN => "  WARN ",
                    Level::ERROR => " ERROR ",
                });
                let mut fields = PlainFields { line, first: true, plain: true };
                event.record(&mut fields);
                if !fields.plain {
                    return false;
                }
                line.push('\n');
                writer.write_str(line).is_ok()
            });
            if written {
                return Ok(());
            }
        }
        self.default.format_event(ctx, writer, event)
    }
}

/// One value of an access line written by [`access_line`].
#[derive(Clone, Copy)]
pub enum AccessValue<'a> {
    Str(&'a str),
    U64(u64),
    F64(f64),
    /// Milliseconds with microsecond precision, written as the `f64` `micros / 1000` would be.
    Millis(std::time::Duration),
    /// Left out, as `tracing` leaves out a `None`.
    Absent,
}

/// Whether [`access_line`] may write lines itself (see [`write_access_lines_directly`]).
static DIRECT_ACCESS_LINES: AtomicBool = AtomicBool::new(false);

/// Lets [`access_line`] write access lines straight into the thread's buffer. Only for the
/// subscriber [`AccessLineFormat`] serves without colours, with the filter passing
/// `oai_lb::access` at INFO: the lines are then the same bytes, written without the
/// dispatch, filtering and visitor machinery of a `tracing` event (half the cost of the
/// per-request line).
pub fn write_access_lines_directly(on: bool) {
    DIRECT_ACCESS_LINES.store(on, Relaxed);
}

/// Writes an INFO access line (`message` then `fields`) byte for byte as the `tracing`
/// event through [`AccessLineFormat`] would, when that is allowed and every string is
/// plain; returns false when it did not, and the caller emits the event instead.
pub fn access_line(message: &str, fields: &[(&str, AccessValue<'_>)]) -> bool {
    if !DIRECT_ACCESS_LINES.load(Relaxed) {
        return false;
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        if !format_access_line(line, SystemTime::now(), message, fields) {
            return false;
        }
        let _ = Line.write(line.as_bytes());
        true
    })
}

/// The line of [`access_line`] into `line`; false (and `line` unusable) when a string is
/// not plain.
fn format_access_line(line: &mut String, now: SystemTime, message: &str, fields: &[(&str, AccessValue<'_>)]) -> bool {
    let printable = |text: &str| text.bytes().all(|b| (b' '..=b'~').contains(&b));
    let quotable = |text: &str| printable(text) && !text.bytes().any(|b| b == b'"' || b == b'\\');
    if !printable(message) || fields.iter().any(|(_, v)| matches!(v, AccessValue::Str(s) if !quotable(s))) {
        return false;
    }
    write_timestamp(line, now);
    line.push_str("  INFO ");
    line.push_str(message);
    for (name, value) in fields {
        let before = line.len();
        line.push(' ');
        line.push_str(name);
        line.push('=');
        match *value {
            AccessValue::Str(text) => {
                line.push('"');
                line.push_str(text);
                line.push('"');
            }
            AccessValue::U64(n) => itoa_free::Decimal::push_to(n, line),
            AccessValue::F64(x) => push_f64(line, x),
            AccessValue::Millis(d) if d.as_micros() < 1_000_000_000_000_000 => {
                push_thousandths(line, d.as_micros() as u64)
            }
            AccessValue::Millis(d) => push_f64(line, d.as_micros() as f64 / 1e3),
            AccessValue::Absent => line.truncate(before),
        }
    }
    line.push('\n');
    true
}

thread_local! {
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Writes fields as `DefaultFields` does, as long as they are plain.
struct PlainFields<'a> {
    line: &'a mut String,
    first: bool,
    /// False once a field needs the default formatting (escapes, errors, other types).
    plain: bool,
}

impl PlainFields<'_> {
    fn name(&mut self, field: &Field) {
        if !std::mem::take(&mut self.first) {
            self.line.push(' ');
        }
        if field.name() != "message" {
            self.line.push_str(field.name());
            self.line.push('=');
        }
    }
}

impl Visit for PlainFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        // The message is written as is, other strings quoted (`{:?}`): plain when that needs
        // no escape.
        let plain = value.bytes().all(|b| (b' '..=b'~').contains(&b) && (message || (b != b'"' && b != b'\\')));
        if !self.plain || !plain || field.name().starts_with("r#") {
            self.plain = false;
            return;
        }
        self.name(field);
        if message {
            self.line.push_str(value);
        } else {
            self.line.push('"');
            self.line.push_str(value);
            self.line.push('"');
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.plain_value(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.plain_value(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.plain_value(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.plain && field.name() != "message" && !field.name().starts_with("r#") {
            self.name(field);
            push_f64(self.line, value);
        } else {
            self.plain = false;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A message is `format_args!`, written as is: plain when it is printable ASCII.
        if self.plain && field.name() == "message" {
            self.name(field);
            let start = self.line.len();
            let _ = write!(self.line, "{value:?}");
            self.plain = self.line[start..].bytes().all(|b| (b' '..=b'~').contains(&b));
        } else {
            self.plain = false;
        }
    }
}

impl PlainFields<'_> {
    fn plain_value(&mut self, field: &Field, value: impl itoa_free::Decimal) {
        if self.plain && field.name() != "message" && !field.name().starts_with("r#") {
            self.name(field);
            value.push_to(self.line);
        } else {
            self.plain = false;
        }
    }
}

/// `value` as `{:?}` writes it. The access log's milliseconds are whole microseconds ÷ 1000:
/// for those the shortest round-trip form is the decimal itself (at most 15 significant
/// digits identify a double), written here without the float formatter; others go to it.
fn push_f64(line: &mut String, value: f64) {
    let thousandths = (value * 1e3).round();
    if value.is_sign_negative() || !(0.0..1e15).contains(&thousandths) || thousandths / 1e3 != value {
        let _ = write!(line, "{value:?}");
        return;
    }
    push_thousandths(line, thousandths as u64);
}

/// `thousandths` ÷ 1000 as `{:?}` writes that float (e.g. `12.0`, `0.577`).
fn push_thousandths(line: &mut String, thousandths: u64) {
    itoa_free::Decimal::push_to(thousandths / 1000, line);
    line.push('.');
    let fraction = thousandths % 1000;
    let digits = [b'0' + (fraction / 100) as u8, b'0' + (fraction / 10 % 10) as u8, b'0' + (fraction % 10) as u8];
    let kept = match (digits[1], digits[2]) {
        (b'0', b'0') => 1,
        (_, b'0') => 2,
        _ => 3,
    };
    line.push_str(std::str::from_utf8(&digits[..kept]).unwrap_or("0"));
}

/// Integers and booleans as `{:?}` writes them, without the formatter.
mod itoa_free {
    pub trait Decimal {
        fn push_to(self, line: &mut String);
    }

    impl Decimal for u64 {
        fn push_to(self, line: &mut String) {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut n = self;
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            line.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
        }
    }

    impl Decimal for i64 {
        fn push_to(self, line: &mut String) {
            if self < 0 {
                line.push('-');
            }
            self.unsigned_abs().push_to(line);
        }
    }

    impl Decimal for bool {
        fn push_to(self, line: &mut String) {
            line.push_str(if self { "true" } else { "false" });
        }
    }
}

/// `2026-11-30T05:47:04.732338Z`, as the fmt subscriber's default timer writes it (years
/// 0 to 9999).
fn write_timestamp(line: &mut String, now: SystemTime) {
    let Ok(since_epoch) = now.duration_since(std::time::UNIX_EPOCH) else {
        line.push_str("<unknown time>");
        return;
    };
    let secs = since_epoch.as_secs();
    // The date and time to the second change once a second: written once per second and
    // thread, copied otherwise.
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            text.clear();
            write_second(text, secs);
            *second = secs;
        }
        line.push_str(text);
    });
    line.push('.');
    let micros = since_epoch.subsec_micros();
    for shift in [100_000, 10_000, 1_000, 100, 10, 1] {
        line.push((b'0' + (micros / shift % 10) as u8) as char);
    }
    line.push('Z');
}

/// `2026-11-30T05:47:04` for `secs` after the epoch.
fn write_second(line: &mut String, secs: u64) {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    let year = year.clamp(0, 9999) as u64;
    push_two(line, year / 100);
    push_two(line, year % 100);
    for (separator, value) in
        [('-', month), ('-', day), ('T', of_day / 3600), (':', of_day / 60 % 60), (':', of_day % 60)]
    {
        line.push(separator);
        push_two(line, value);
    }
}

fn push_two(line: &mut String, n: u64) {
    line.push((b'0' + (n / 10 % 10) as u8) as char);
    line.push((b'0' + (n % 10) as u8) as char);
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats one event with `format` and returns the line without its timestamp.
    fn line_with(
        format: impl FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::DefaultFields>
        + Send
        + Sync
        + 'static,
        emit: impl FnOnce(),
    ) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_target(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(lock(&out).clone()).unwrap();
        text.split_once(' ').map(|(_, rest)| rest.to_string()).unwrap_or(text)
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn floats_are_written_as_debug_writes_them() {
        let micros = (0..200_000u64).chain([999_999, 1_000_000, 123_456_789, 86_400_000_000, 999_999_999_999_999]);
        let odd = [0.1 + 0.2, 1.0 / 3.0, -0.0, -1.5, f64::NAN, f64::INFINITY, 1e300, 5e-324, 2.5e-7];
        for value in micros.map(|m| m as f64 / 1e3).chain(odd) {
            let mut line = String::new();
            push_f64(&mut line, value);
            assert_eq!(line, format!("{value:?}"));
        }
    }

    fn default_format() -> Format {
        tracing_subscriber::fmt::format().with_ansi(false).with_target(false)
    }

    #[test]
    fn access_lines_match_the_default_format() {
        let events: [fn(); 5] = [
            || tracing::info!(target: "oai_lb::access", path = "/openai/deployments/gpt-4o/chat/completions", deployment = "gpt-4o", backend = "fast", status = 200u16, attempts = 1u32, latency_ms = 10.334, "proxied"),
            || tracing::info!(target: "oai_lb::access", path = "/x", deployment = "", status = 429u16, attempts = 3u32, latency_ms = 0.5, "all backends cooling down"),
            || tracing::warn!(target: "oai_lb::access", deployment = "we\"ird\n", negative = -5i64, flag = true, "odd"),
            || tracing::info!(target: "oai_lb::access", latency_ms = 12.0, big = 18446744073709551615u64, "whole"),
            || tracing::info!(path = "/not/access", "other target"),
        ];
        for emit in events {
            let fast = line_with(AccessLineFormat::new(default_format()), emit);
            let default = line_with(default_format(), emit);
            assert_eq!(fast, default);
            assert!(fast.ends_with('\n'), "{fast}");
        }
        // The plain lines did take the fast path: a fallback that shows the target would
        // have shown it.
        for emit in &events[..2] {
            let fast = line_with(AccessLineFormat::new(default_format().with_target(true)), emit);
            assert_eq!(fast, line_with(default_format(), emit));
        }
        let odd = line_with(AccessLineFormat::new(default_format().with_target(true)), events[2]);
        assert!(odd.contains("oai_lb::access"), "{odd}");
    }

    #[test]
    fn direct_access_lines_are_the_event_s_bytes() {
        let direct = |message: &str, fields: &[(&str, AccessValue<'_>)]| {
            let mut line = String::new();
            format_access_line(&mut line, SystemTime::now(), message, fields)
                .then(|| line.split_once(' ').map(|(_, rest)| rest.to_string()).unwrap())
        };
        let via_event = line_with(AccessLineFormat::new(default_format()), || {
            tracing::info!(target: "oai_lb::access", method = "POST", path = "/openai/deployments/gpt-4o/chat/completions",
                status = 200u16, latency_ms = 0.577, duration_ms = 12.0, prompt_tokens = Some(5u64), completion_tokens = None::<u64>,
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", "proxied")
        });
        let fields = [
            ("method", AccessValue::Str("POST")),
            ("path", AccessValue::Str("/openai/deployments/gpt-4o/chat/completions")),
            ("status", AccessValue::U64(200)),
            ("latency_ms", AccessValue::Millis(Duration::from_micros(577))),
            ("duration_ms", AccessValue::F64(12.0)),
            ("prompt_tokens", AccessValue::U64(5)),
            ("completion_tokens", AccessValue::Absent),
            ("trace_id", AccessValue::Str("4bf92f3577b34da6a3ce929d0e0e4736")),
        ];
        assert_eq!(direct("proxied", &fields).as_deref(), Some(via_event.as_str()));
        // A string that needs escaping is the event's to write.
        assert_eq!(direct("proxied", &[("path", AccessValue::Str("/a\"b"))]), None);
        assert_eq!(direct("proxied", &[("path", AccessValue::Str("/a\u{e9}"))]), None);
        // Off unless the logging setup turned it on.
        assert!(!access_line("proxied", &fields));
    }

    #[test]
    fn timestamps_match_rfc3339_micros() {
        let at = |secs: u64, micros: u32| {
            let mut line = String::new();
            write_timestamp(&mut line, std::time::UNIX_EPOCH + Duration::new(secs, micros * 1000));
            line
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_796_017_624, 732_338), "2026-11-30T05:47:04.732338Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(253_402_300_799, 999_999), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn lines_are_buffered_per_thread_until_flushed() {
        let mut line = Buffered.make_writer();
        line.write_all(b"one\n").unwrap();
        let held = BUFFER.with(|b| lock(b).clone());
        assert!(held.ends_with(b"one\n"));
        flush_all();
        assert!(BUFFER.with(|b| lock(b).is_empty()));
    }
}
