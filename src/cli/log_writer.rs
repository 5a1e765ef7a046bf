//! Where log lines go: stderr, through a buffer per thread.
//!
//! `oai-lb serve` logs one line per request. Writing each straight to stderr costs a
//! system call on the thread that serves the request; here a line is appended to its
//! thread's buffer instead (an uncontended lock and a copy), and a flusher thread writes
//! every buffer out every [`FLUSH_EVERY`] — the way nginx's `access_log … buffer= flush=`
//! works. A buffer that grows past [`FLUSH_AT`] is written out at once by its own thread, so
//! memory stays bounded under any load. Lines stay whole and in order within a thread; the
//! [`Flusher`] returned by [`install`] writes out what is left when it is dropped.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How often buffered lines are written out.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A thread's buffer is written out by that thread once it holds this much.
const FLUSH_AT: usize = 32 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

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
