//! Test support: scripted backends on loopback (real HTTP servers whose answers each test
//! chooses), and a balancer started in-process on a free port.
#![allow(dead_code)] // each test binary uses a different part

pub mod quota;
pub mod redis;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// What a scripted backend answers.
pub enum Reply {
    /// A complete response.
    Status { status: u16, headers: Vec<(&'static str, String)>, body: String },
    /// An SSE stream: each chunk is sent when the matching gate opens (`None` = at once).
    Stream { chunks: Vec<(String, Option<oneshot::Receiver<()>>)>, then_reset: bool },
    /// Wait, then answer.
    Delay(Duration, Box<Reply>),
    /// An endless stream, a chunk every 20 ms; `dropped` counts when the reader went away.
    Endless { dropped: Arc<AtomicUsize> },
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::Status { status: 200, headers: vec![("content-type", "application/json".into())], body: body.into() }
    }
    pub fn status(status: u16) -> Reply {
        Reply::Status { status, headers: vec![], body: format!("{{\"error\":{{\"code\":\"{status}\"}}}}") }
    }
    pub fn throttled(retry_after: &str) -> Reply {
        Reply::Status {
            status: 429,
            headers: vec![("retry-after", retry_after.into())],
            body: r#"{"error":{"code":"429","message":"Rate limit is exceeded."}}"#.into(),
        }
    }
    pub fn with_header(self, name: &'static str, value: &str) -> Reply {
        match self {
            Reply::Status { status, mut headers, body } => {
                headers.push((name, value.into()));
                Reply::Status { status, headers, body }
            }
            other => other,
        }
    }
}

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A real HTTP server on 127.0.0.1 whose answers come from a closure `(request, nth) -> Reply`.
pub struct Backend {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Backend {
    pub async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen_in = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let script = Arc::clone(&script);
                let seen = Arc::clone(&seen_in);
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(Arc::clone(&script), Arc::clone(&seen), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Backend { addr, seen }
    }

    /// Always answers `reply()`.
    pub async fn always(reply: impl Fn() -> Reply + Send + Sync + 'static) -> Backend {
        Backend::start(move |_, _| reply()).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn answer(
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, std::io::Error>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let request = Seen {
        path: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let nth = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    let mut reply = script(&request, nth);
    loop {
        match reply {
            Reply::Delay(d, next) => {
                tokio::time::sleep(d).await;
                reply = *next;
            }
            Reply::Status { status, headers, body } => {
                let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                for (k, v) in headers {
                    response.headers_mut().insert(k, v.parse().unwrap());
                }
                return Ok(response);
            }
            Reply::Stream { chunks, then_reset } => {
                let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
                tokio::spawn(async move {
                    for (chunk, gate) in chunks {
                        if let Some(gate) = gate {
                            let _ = gate.await;
                        }
                        if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                            return;
                        }
                    }
                    if then_reset {
                        let _ = tx.send(Err(std::io::Error::other("simulated reset"))).await;
                    }
                });
                let body = StreamBody::new(tokio_stream_from(rx));
                let mut response = Response::new(BodyExt::boxed(body));
                response.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
                return Ok(response);
            }
            Reply::Endless { dropped } => {
                let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
                tokio::spawn(async move {
                    loop {
                        if tx.send(Ok(Frame::data(Bytes::from_static(b"data: {}\n\n")))).await.is_err() {
                            dropped.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                });
                let mut response = Response::new(BodyExt::boxed(StreamBody::new(tokio_stream_from(rx))));
                response.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
                return Ok(response);
            }
        }
    }
}

fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A loopback port with nothing listening.
pub async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A running balancer.
pub struct Balancer {
    pub addr: SocketAddr,
    pub reloader: oai_lb::proxy::Reloader,
    stop: Option<oneshot::Sender<()>>,
}

impl Balancer {
    pub async fn start(toml: &str) -> Balancer {
        Balancer::start_with(toml, oai_lb::proxy::ServeOptions::default()).await
    }

    pub async fn start_with(toml: &str, mut options: oai_lb::proxy::ServeOptions) -> Balancer {
        let config = oai_lb::config::Config::parse(std::path::Path::new("test.toml"), toml).expect("valid test config");
        options.listen.get_or_insert("127.0.0.1:0".parse().unwrap());
        if options.telemetry.is_none() {
            // As `serve` resolves it with no flag and no OTEL_* variable: the file's [telemetry].
            let no_flags = oai_lb::cli::TelemetryFlags::default();
            options.telemetry = oai_lb::cli::resolve_telemetry(config.telemetry.as_ref(), &no_flags, |_| None)
                .expect("valid telemetry");
        }
        let server = oai_lb::proxy::Server::bind(config, options).await.expect("balancer binds");
        let addr = server.local_addr();
        let reloader = server.reloader();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Balancer { addr, reloader, stop: Some(stop) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `[[backends]]` entries for (name, url, priority).
pub fn backends_toml(backends: &[(&str, &str, u32)]) -> String {
    backends
        .iter()
        .map(|(name, url, priority)| {
            format!("[[backends]]\nname = \"{name}\"\nurl = \"{url}\"\npriority = {priority}\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub const CHAT: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
pub const CHAT_BODY: &str = r#"{"messages":[{"role":"user","content":"hello"}],"max_tokens":5}"#;

/// A plain client with no connection reuse surprises.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

pub async fn post(url: &str) -> reqwest::Response {
    client().post(url).header("content-type", "application/json").body(CHAT_BODY).send().await.unwrap()
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// Counts of backend names in `x-oai-lb-backend` over many requests.
pub fn tally(names: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for n in names {
        *counts.entry(n).or_insert(0) += 1;
    }
    counts
}
