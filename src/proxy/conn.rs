//! One client connection's limits beyond what hyper enforces itself: a connection must
//! deliver its first request within the header timeout, and one with no request in flight
//! and no traffic for the idle timeout is closed.
//!
//! hyper enforces the header-read timeout of each HTTP/1 request head (with its timer
//! set); this covers what it does not: a connection that never sends a byte (it is still in
//! protocol detection), and idle HTTP/2 connections.
//!
//! It also tells `client` when an HTTP/1 connection may park: its last response has been
//! handed to hyper whole, nothing else is in flight, and hyper may stop without closing the
//! socket (see [`Activity::take_park`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the watcher knows of one connection.
pub struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_io_ms: AtomicU64,
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

    /// Resolves when the connection should be closed: no request yet after
    /// `first_request`, or nothing in flight and no traffic for `idle`.
    pub async fn expired(&self, first_request: Duration, idle: Duration) {
        loop {
            let wait = if self.requests.load(Relaxed) == 0 {
                first_request.saturating_sub(self.opened.elapsed())
            } else if self.in_flight.load(Relaxed) > 0 {
                idle
            } else {
                let quiet = self.opened.elapsed().saturating_sub(Duration::from_millis(self.last_io_ms.load(Relaxed)));
                idle.saturating_sub(quiet)
            };
            if wait.is_zero() {
                return;
            }
            // Wake at least once per `idle`: a request may have arrived meanwhile, which
            // changes which limit applies.
            tokio::time::sleep(wait.min(idle)).await;
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
        self.activity.touch();
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
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
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
            self.activity.touch();
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
