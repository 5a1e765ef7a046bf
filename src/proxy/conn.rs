//! One client connection's time limits, and what it is doing.
//!
//! * A connection must deliver its first request within the header timeout.
//! * An HTTP/1 connection must deliver its next request head within the header timeout of
//!   its last response's end (whether or not it parked meanwhile).
//! * A connection with no request in flight and no traffic for the idle timeout is closed
//!   (this is what bounds an idle HTTP/2 connection).
//!
//! All three are enforced by one timer per connection ([`Expiry`]), not one per request:
//! the deadlines are kept as atomics the connection updates as it goes, and the timer is
//! moved only when a deadline comes *earlier* than the one it is set for (a later one is
//! found when it fires). hyper's own header-read timer costs an allocation, a timer
//! registration and a removal on every request.
//!
//! It also tells `client` when an HTTP/1 connection may park: its last response has been
//! handed to hyper whole, nothing else is in flight, and hyper may stop without closing the
//! socket (see [`Activity::take_park`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// What the watcher knows of one connection.
pub struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_io_ms: AtomicU64,
    /// Milliseconds after `opened` when the last request ended (nothing in flight since).
    idle_since_ms: AtomicU64,
    /// HTTP/1: the next request head is due within the header timeout of `idle_since`.
    heads_due: AtomicBool,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// The last response ended and allows parking (HTTP/1.1, keep-alive, request body read).
    park_ready: AtomicBool,
    /// hyper is being stopped to park the connection: its shutdown must not close the socket.
    parking: AtomicBool,
    /// Parked: waiting for the next request with no hyper state (a drain may close it now).
    parked: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            opened: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            heads_due: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            park_ready: AtomicBool::new(false),
            parking: AtomicBool::new(false),
            parked: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        self.last_io_ms.store(self.opened.elapsed().as_millis() as u64, Relaxed);
    }

    /// Records traffic that can matter to the idle timeout: with a request in flight the
    /// connection is not idle, and the request's end is recorded when it ends, so bytes
    /// moved meanwhile need no clock read (four fewer per request).
    fn touch_if_idle(&self) {
        if self.in_flight.load(Relaxed) == 0 {
            self.touch();
        }
    }

    /// Marks a request in flight until the guard (moved into its response body) drops.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
        InFlight { activity: Arc::clone(self), parkable: false }
    }

    /// True once, when the last response ended parkable and nothing is in flight: the caller
    /// then stops hyper (graceful shutdown of an idle HTTP/1 connection ends it at once) and
    /// the socket's shutdown is skipped, so the connection can wait with no buffers.
    pub fn take_park(&self) -> bool {
        if self.in_flight.load(Relaxed) == 0 && self.park_ready.swap(false, Relaxed) {
            self.parking.store(true, Relaxed);
            true
        } else {
            false
        }
    }

    /// Whether hyper was stopped by [`take_park`](Self::take_park) (and not by a close).
    pub fn parking(&self) -> bool {
        self.parking.load(Relaxed)
    }

    /// hyper has stopped and handed the socket back: the next shutdown is a real one.
    pub fn parked_hyper(&self) {
        self.parking.store(false, Relaxed);
    }

    /// Marks the connection waiting for its next request with no hyper state, or not.
    pub fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Relaxed);
    }

    pub fn is_parked(&self) -> bool {
        self.parked.load(Relaxed)
    }

    /// Marks the connection HTTP/1: between requests, the next head is due within the
    /// header timeout.
    pub fn set_http1(&self) {
        self.heads_due.store(true, Relaxed);
    }

    /// When the connection should be closed as things stand, as an offset from `opened`;
    /// `None` while a request is in flight.
    fn due(&self, header_timeout: Duration, idle: Duration) -> Option<Duration> {
        if self.requests.load(Relaxed) == 0 {
            return Some(header_timeout);
        }
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        let idle_due = Duration::from_millis(self.last_io_ms.load(Relaxed)) + idle;
        if self.heads_due.load(Relaxed) {
            let head_due = Duration::from_millis(self.idle_since_ms.load(Relaxed)) + header_timeout;
            return Some(idle_due.min(head_due));
        }
        Some(idle_due)
    }

    /// Resolves when the connection should be closed: no request yet within
    /// `header_timeout`, an HTTP/1 request head not within `header_timeout` of the last
    /// response's end, or nothing in flight and no traffic for `idle`.
    pub fn expiry(self: &Arc<Self>, header_timeout: Duration, idle: Duration) -> Expiry {
        let armed = self.opened + header_timeout;
        Expiry {
            activity: Arc::clone(self),
            header_timeout,
            idle,
            armed,
            sleep: Box::pin(tokio::time::sleep_until(armed.into())),
        }
    }
}

/// The future of [`Activity::expiry`]: one timer, moved only when a deadline comes earlier
/// than the one it is set for, or when it fires early (the deadline moved later).
pub struct Expiry {
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle: Duration,
    /// What `sleep` is set for.
    armed: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Future for Expiry {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let due = this.activity.due(this.header_timeout, this.idle).map(|offset| this.activity.opened + offset);
            if let Some(due) = due.filter(|due| *due < this.armed) {
                this.armed = due;
                this.sleep.as_mut().reset(due.into());
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if due.is_some_and(|due| due <= this.armed) {
                return Poll::Ready(());
            }
            // Fired before what is due now (traffic moved it later, or a request is in
            // flight: look again after another idle period).
            this.armed = due.unwrap_or_else(|| Instant::now() + this.idle);
            this.sleep.as_mut().reset(this.armed.into());
        }
    }
}

/// A request in flight on a connection, until its response body is dropped.
pub struct InFlight {
    activity: Arc<Activity>,
    /// The connection may park once this response has been written.
    parkable: bool,
}

impl InFlight {
    pub fn parkable(mut self, parkable: bool) -> Self {
        self.parkable = parkable;
        self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now_ms = self.activity.opened.elapsed().as_millis() as u64;
        self.activity.last_io_ms.store(now_ms, Relaxed);
        self.activity.idle_since_ms.store(now_ms, Relaxed);
        self.activity.in_flight.fetch_sub(1, Relaxed);
        self.activity.park_ready.store(self.parkable, Relaxed);
    }
}

/// A response body that keeps its request in flight until hyper has written it (or given
/// up on it) and drops it.
pub struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Tracked { body, _in_flight: in_flight }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A socket that records when bytes last moved. Bytes read ahead (protocol detection, a
/// pipelined request hyper had buffered when the connection parked) are read again first.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    rewound: Bytes,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>, rewound: Bytes) -> Self {
        Watched { inner, activity, rewound }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes to be read before the socket's (and before any still to be read again).
    pub fn rewind(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.rewound.is_empty() {
            self.rewound = bytes;
        } else {
            let mut joined = bytes::BytesMut::with_capacity(bytes.len() + self.rewound.len());
            joined.extend_from_slice(&bytes);
            joined.extend_from_slice(&self.rewound);
            self.rewound = joined.freeze();
        }
    }

    pub fn has_rewound(&self) -> bool {
        !self.rewound.is_empty()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.rewound.is_empty() {
            let n = self.rewound.len().min(buf.remaining());
            buf.put_slice(&self.rewound[..n]);
            self.rewound.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch_if_idle();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch_if_idle();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch_if_idle();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.activity.parking() {
            // hyper stopped to park the connection, not to close it.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
