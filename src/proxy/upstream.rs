//! The backend side of the balancer: each worker's own pool of upstream connections, built
//! on hyper's `client::conn`.
//!
//! Every worker is a single-threaded runtime, so each one keeps its own pool: a request,
//! the connection it borrows and that connection's task all live on one thread. An HTTP/1
//! connection is lent to one request at a time and comes back when the response body has
//! been read to its end (a body dropped half-way closes the connection instead); an HTTP/2
//! connection (when TLS negotiates `h2`) is shared by every request to that backend.
//! Compared with hyper-util's legacy client this saves, per request, the task it spawns to
//! watch a connection become idle again, the checkout future and the URI rewriting.
//!
//! TCP and TLS come from hyper-util's connector (connect timeout, `TCP_NODELAY`, keep-alive
//! probes, rustls with the system's roots and ALPN) with names resolved by [`crate::dns`],
//! never the C library (the image has no NSS).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{HOST, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

/// What an attempt sends: the client's body, buffered once and replayed as needed.
pub type RequestBody = Full<Bytes>;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An idle HTTP/1 connection is closed after this long unused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle HTTP/1 connections kept per backend and worker (nginx's `keepalive` in the
/// benchmarks). Each keeps hyper's buffers and its task (~20 KiB): after a burst of 1,000
/// streams, keeping them all held ~20 MiB for the idle timeout.
const MAX_IDLE_PER_BACKEND: usize = 256;

/// One worker's upstream connections.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// `https://` backends: TLS, HTTP/2 when negotiated.
    connector: HttpsConnector<HttpConnector<crate::dns::Resolver>>,
    /// `http://` backends: the same TCP connector, whose plain socket makes each
    /// connection's task ~1 KiB smaller than inside the TLS connector's stream type.
    plain: HttpConnector<crate::dns::Resolver>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// One entry per backend address this worker has talked to (a handful; searched
    /// linearly). Entries are never removed, so a lease can name its entry by index.
    backends: Mutex<Vec<Backend>>,
}

/// The connections to one `scheme://authority`.
struct Backend {
    https: bool,
    authority: Authority,
    host: HeaderValue,
    /// Idle HTTP/1 connections, the most recently used last, with when they became idle.
    idle: VecDeque<(http1::SendRequest<RequestBody>, Instant)>,
    /// The shared HTTP/2 connection, once TLS has negotiated `h2`.
    shared: Option<http2::SendRequest<RequestBody>>,
}

/// A connection taken from the pool for one request.
enum Checkout {
    Http1(http1::SendRequest<RequestBody>),
    Http2(http2::SendRequest<RequestBody>),
    /// Nothing usable: open a new connection.
    New,
}

impl Pool {
    /// A pool whose new connections time out after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Pool {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut http = HttpConnector::new_with_resolver(crate::dns::Resolver::default());
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let tls = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(builder) => builder,
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
        };
        let connector = tls.https_or_http().enable_http1().enable_http2().wrap_connector(http.clone());
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.timer(TokioTimer::new());
        Pool {
            inner: Arc::new(Inner {
                connector,
                plain: http,
                http1: http1::Builder::new(),
                http2,
                backends: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sends `request` to `scheme://authority` and waits for the response head. The
    /// request's URI is its path and query; the pool adds what the protocol needs (`Host`
    /// for HTTP/1, the absolute URI for HTTP/2).
    ///
    /// A pooled connection that turns out closed before the request was written is skipped
    /// and the request goes on the next one (or a new one); any other failure is returned.
    pub async fn send(
        &self,
        scheme: &Scheme,
        authority: &Authority,
        mut request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, BoxError> {
        let https = *scheme == Scheme::HTTPS;
        loop {
            let (index, host, checkout) = self.checkout(https, authority);
            let mut sender = match checkout {
                Checkout::Http1(sender) => sender,
                Checkout::Http2(mut sender) => {
                    *request.uri_mut() = absolute(scheme, authority, request.uri())?;
                    let response = sender.send_request(request).await?;
                    return Ok(response.map(|body| ResponseBody { body, lease: None }));
                }
                // Boxed: connecting is rare, and its state would otherwise make every
                // request's future (moved by value on each call) several times larger. Plain
                // and TLS apart: a TLS stream (~1 KiB, held in several of the states) and
                // HTTP/2's handshake would make connecting to an http:// backend as large.
                Checkout::New if https => {
                    return Box::pin(self.send_on_new_tls(index, host, scheme, authority, request)).await;
                }
                Checkout::New => return Box::pin(self.send_on_new_plain(index, host, authority, request)).await,
            };
            if sender.ready().await.is_err() {
                continue; // closed while idle
            }
            request.headers_mut().entry(HOST).or_insert(host);
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.leased(index, sender, response)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(failed.into_error().into()),
                },
            }
        }
    }

    /// Opens a TLS connection (HTTP/2 when negotiated) and sends `request` on it.
    async fn send_on_new_tls(
        &self,
        index: usize,
        host: HeaderValue,
        scheme: &Scheme,
        authority: &Authority,
        mut request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, BoxError> {
        let target = absolute(scheme, authority, &Uri::from_static("/"))?;
        let mut connector = self.inner.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
        let io = connector.call(target).await?;
        if io.connected().is_negotiated_h2() {
            let (mut sender, connection) = self.inner.http2.handshake(io).await?;
            tokio::spawn(connection.map(|ended| {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "backend connection (HTTP/2) ended with an error");
                }
            }));
            self.lock()[index].shared = Some(sender.clone());
            *request.uri_mut() = absolute(scheme, authority, request.uri())?;
            let response = sender.send_request(request).await?;
            return Ok(response.map(|body| ResponseBody { body, lease: None }));
        }
        let sender = self.handshake_http1(io).await?;
        self.send_first(index, host, sender, request).await
    }

    /// Opens a plain TCP connection and sends `request` on it.
    async fn send_on_new_plain(
        &self,
        index: usize,
        host: HeaderValue,
        authority: &Authority,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, BoxError> {
        let target = absolute(&Scheme::HTTP, authority, &Uri::from_static("/"))?;
        let mut connector = self.inner.plain.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
        let io = connector.call(target).await?;
        let sender = self.handshake_http1(io).await?;
        self.send_first(index, host, sender, request).await
    }

    /// Sends the first request of a new HTTP/1 connection.
    async fn send_first(
        &self,
        index: usize,
        host: HeaderValue,
        mut sender: http1::SendRequest<RequestBody>,
        mut request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, BoxError> {
        request.headers_mut().entry(HOST).or_insert(host);
        let response = sender.send_request(request).await?;
        Ok(self.leased(index, sender, response))
    }

    /// Starts an HTTP/1 connection on `io`, driven by its own task.
    async fn handshake_http1<T>(&self, io: T) -> Result<http1::SendRequest<RequestBody>, BoxError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = self.inner.http1.handshake(io).await?;
        // `map`, not an `async` block: that would hold the connection twice (as captured and
        // as awaited), doubling the task that lives as long as the connection.
        tokio::spawn(connection.map(|ended| {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "backend connection ended with an error");
            }
        }));
        Ok(sender)
    }

    /// The backend's entry (added on first use), its `Host` value and a connection to use,
    /// if one is idle.
    fn checkout(&self, https: bool, authority: &Authority) -> (usize, HeaderValue, Checkout) {
        let mut backends = self.lock();
        let index = match backends.iter().position(|b| b.https == https && b.authority == *authority) {
            Some(index) => index,
            None => {
                backends.push(Backend {
                    https,
                    authority: authority.clone(),
                    host: HeaderValue::from_str(authority.as_str()).expect("an authority is a valid header value"),
                    idle: VecDeque::new(),
                    shared: None,
                });
                backends.len() - 1
            }
        };
        let backend = &mut backends[index];
        let host = backend.host.clone();
        if let Some(shared) = &backend.shared {
            if !shared.is_closed() {
                return (index, host, Checkout::Http2(shared.clone()));
            }
            backend.shared = None;
        }
        let now = Instant::now();
        while backend.idle.front().is_some_and(|(_, since)| now.duration_since(*since) > IDLE_TIMEOUT) {
            backend.idle.pop_front();
        }
        while let Some((sender, _)) = backend.idle.pop_back() {
            if !sender.is_closed() {
                return (index, host, Checkout::Http1(sender));
            }
        }
        (index, host, Checkout::New)
    }

    /// The response, with its connection lent until the body has been read.
    fn leased(
        &self,
        index: usize,
        sender: http1::SendRequest<RequestBody>,
        response: Response<Incoming>,
    ) -> Response<ResponseBody> {
        let lease = Lease { pool: Arc::clone(&self.inner), index, sender };
        let mut response = response.map(|body| ResponseBody { body, lease: Some(lease) });
        if response.body().body.is_end_stream() {
            response.body_mut().release();
        }
        response
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Backend>> {
        self.inner.lock()
    }
}

impl Inner {
    /// Only this worker's thread takes the lock, and never across an `.await`.
    fn lock(&self) -> MutexGuard<'_, Vec<Backend>> {
        self.backends.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `scheme://authority` + the path and query of `uri`.
fn absolute(scheme: &Scheme, authority: &Authority, uri: &Uri) -> Result<Uri, http::Error> {
    let path_and_query = uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder().scheme(scheme.clone()).authority(authority.clone()).path_and_query(path_and_query).build()
}

/// An HTTP/1 connection lent to one response.
struct Lease {
    pool: Arc<Inner>,
    index: usize,
    sender: http1::SendRequest<RequestBody>,
}

/// A backend's response body, streamed as it arrives; its connection goes back to the pool
/// once the body has been read to the end.
pub struct ResponseBody {
    body: Incoming,
    lease: Option<Lease>,
}

impl ResponseBody {
    fn release(&mut self) {
        if let Some(Lease { pool, index, sender }) = self.lease.take() {
            let mut backends = pool.lock();
            let idle = &mut backends[index].idle;
            if idle.len() < MAX_IDLE_PER_BACKEND {
                idle.push_back((sender, Instant::now()));
            }
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.lease = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
