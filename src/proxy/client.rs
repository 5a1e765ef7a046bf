//! One client connection, from accept to close.
//!
//! The first bytes tell HTTP/2 (the prior-knowledge preface) from HTTP/1. An HTTP/2
//! connection is served by one hyper connection until it ends. An HTTP/1 connection *parks*
//! between requests, the way nginx frees a keep-alive connection's buffers: once a response
//! has been written and nothing else is in flight, hyper's connection (its 8 KiB read and
//! write buffers, cached header map and request-future slot) is stopped without closing the
//! socket, and the connection waits for its next bytes holding only the socket. A new hyper
//! connection starts when bytes arrive; anything hyper had read ahead (a pipelined request)
//! is read again first. 10,000 idle keep-alive connections then cost the socket, this task
//! and its timers, not 10,000 sets of buffers.
//!
//! Parking costs a new hyper connection per request, so connections park only while more
//! than [`PARK_ABOVE_CONNECTIONS`] are open: a few busy connections keep their buffers, many
//! idle ones do not.
//!
//! A connection parks only when hyper would keep it alive and is idle: HTTP/1.1 without
//! `Connection: close`, and the request body read to its end (a request without a body, or
//! one the balancer forwarded; a local refusal may leave a body unread, which hyper drains
//! or closes on as it would anyway).

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Worker;
use super::body::ProxyBody;
use super::conn::{Activity, Tracked, Watched};
use super::forward;

/// Below this many open client connections (all workers together), HTTP/1 connections keep
/// their hyper state between requests: at most ~25 KiB each, 3 MiB in all.
const PARK_ABOVE_CONNECTIONS: usize = 128;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves one accepted connection until it closes, times out, or the server drains (a
/// parked connection closes at once; one with a request in flight finishes it first).
pub(super) async fn serve(stream: TcpStream, worker: Arc<Worker>, stop: watch::Receiver<bool>) {
    let activity = Activity::new();
    let limits = &worker.shared.limits;
    let mut run = pin!(run(stream, &worker, &activity, stop.clone()));
    let mut expired = pin!(activity.expiry(limits.header_timeout, limits.idle_timeout));
    let mut stop = stop;
    let mut stopping = pin!(stop.wait_for(|&stop| stop));
    let mut stopped = false;
    poll_fn(|cx| {
        if run.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if expired.as_mut().poll(cx).is_ready() {
            tracing::debug!("closing a client connection: no request, or idle too long");
            return Poll::Ready(());
        }
        if !stopped && stopping.as_mut().poll(cx).is_ready() {
            stopped = true;
        }
        if stopped && activity.is_parked() {
            return Poll::Ready(());
        }
        Poll::Pending
    })
    .await
}

async fn run(mut stream: TcpStream, worker: &Arc<Worker>, activity: &Arc<Activity>, stop: watch::Receiver<bool>) {
    // Until its first bytes, a connection holds nothing a drain must wait for (HTTP client
    // pools open connections ahead of need): parked, it is closed at once.
    activity.set_parked(true);
    let preface = read_preface(&mut stream).await;
    activity.set_parked(false);
    let Ok((http2, first_bytes)) = preface else { return };
    let mut io = Watched::new(stream, Arc::clone(activity), first_bytes);
    if http2 {
        return serve_http2(io, worker, activity, stop).await;
    }
    activity.set_http1();
    // A drain must also end a connection that is idle but not parked (parking happens only
    // past PARK_ABOVE_CONNECTIONS): hyper's graceful shutdown closes it at once, or after
    // the answer in flight.
    let mut stop = stop;
    let mut stopping = pin!(stop.wait_for(|&stop| stop));
    let mut draining = false;
    loop {
        if !io.has_rewound() {
            activity.set_parked(true);
            let readable = io.get_ref().readable().await;
            activity.set_parked(false);
            if readable.is_err() {
                return;
            }
        }
        // Boxed: the parked state of this future stays small.
        let mut connection = Box::new(
            worker.http1.serve_connection(TokioIo::new(io), service(Arc::clone(worker), Arc::clone(activity))),
        );
        let ended = poll_fn(|cx| {
            if !draining && stopping.as_mut().poll(cx).is_ready() {
                draining = true;
                Pin::new(&mut *connection).graceful_shutdown();
            }
            let polled = Pin::new(&mut *connection).poll(cx);
            if polled.is_pending() && activity.take_park() {
                // Idle: a graceful shutdown ends the connection at once, with nothing written.
                Pin::new(&mut *connection).graceful_shutdown();
                return Pin::new(&mut *connection).poll(cx);
            }
            polled
        })
        .await;
        if let Err(e) = ended {
            tracing::debug!(error = %e, "client connection ended with an error");
            return;
        }
        if draining || !activity.parking() {
            return; // drained, or hyper closed the connection (client's close, error, limit)
        }
        activity.parked_hyper();
        let parts = connection.into_parts();
        io = parts.io.into_inner();
        io.rewind(parts.read_buf);
    }
}

/// Reads until the first bytes differ from the HTTP/2 preface (HTTP/1) or match it whole;
/// returns them to be read again.
async fn read_preface(stream: &mut TcpStream) -> std::io::Result<(bool, Bytes)> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut len = 0;
    loop {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        if buf[..len] != H2_PREFACE[..len] {
            return Ok((false, Bytes::copy_from_slice(&buf[..len])));
        }
        if len == H2_PREFACE.len() {
            return Ok((true, Bytes::from_static(H2_PREFACE)));
        }
    }
}

async fn serve_http2(
    io: Watched<TcpStream>,
    worker: &Arc<Worker>,
    activity: &Arc<Activity>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connection =
        Box::pin(worker.http2.serve_connection(TokioIo::new(io), service(Arc::clone(worker), Arc::clone(activity))));
    tokio::select! {
        ended = connection.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "client connection (HTTP/2) ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|&stop| stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// The per-connection service: forward, and keep the request in flight until hyper drops
/// its response body.
fn service(
    worker: Arc<Worker>,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Tracked<ProxyBody>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Tracked<ProxyBody>>, Infallible>> + Send,
> + Send
+ 'static {
    service_fn(move |request: Request<Incoming>| {
        let in_flight = activity.request();
        let version = request.version();
        let keep_alive = version == Version::HTTP_11 && !asks_close(request.headers());
        let bodiless = http_body::Body::is_end_stream(request.body());
        let worker = Arc::clone(&worker);
        // Boxed: hyper keeps a slot the size of this service's future for the connection's
        // whole life (allocated once, emptied but not freed after the response head). With
        // the ~4 KiB of forwarding inside, a streaming answer would hold them until its end.
        let handle = Box::pin(forward::handle(Arc::clone(&worker), request));
        async move {
            let Ok(mut response) = handle.await;
            // A local answer may have left the request body unread. Parking costs a new
            // hyper connection per request (~10 % more instructions): only worth it when
            // connections are many.
            let mut parkable = keep_alive
                && (bodiless || !matches!(response.body(), ProxyBody::Local(_)))
                && worker.shared.open_connections() > PARK_ABOVE_CONNECTIONS;
            if worker.shared.draining.load(Relaxed) && version <= Version::HTTP_11 {
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                parkable = false;
            }
            Ok(response.map(|body| Tracked::new(body, in_flight.parkable(parkable))))
        }
    })
}

/// True when a `Connection` header names `close`.
fn asks_close(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_is_found_among_connection_tokens() {
        let mut headers = HeaderMap::new();
        assert!(!asks_close(&headers));
        headers.append(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!asks_close(&headers));
        headers.append(header::CONNECTION, HeaderValue::from_static("x-a, Close"));
        assert!(asks_close(&headers));
    }
}
