//! Memory benchmark: what `oai-lb serve` (release binary, default config) holds per
//! connection, beside nginx as a reverse proxy when `nginx` is on PATH.
//!
//! * **SSE streams**: `BENCH_STREAMS` (1,000) clients at once each POST a streaming chat
//!   completion; the backend (in this process) answers each with 50 SSE events, one every
//!   100 ms of its own schedule (5 s; a late event does not push the later ones back).
//!   Every stream must arrive whole (all events, then `[DONE]`) and on time: within 1 s of
//!   the backend's 5 s, counted from the client's connect to the last byte. Reports the
//!   proxy's peak RSS (`VmHWM`, summed over nginx's processes), and for the streams that
//!   miss, why (no connection, no answer, cut short, late) and the slowest connect and
//!   stream.
//! * **Idle keep-alive connections**: `BENCH_IDLE` (10,000) client connections each make one
//!   proxied request, then stay open and idle; reports the proxy's RSS then (and its peak).
//!
//! RLIMIT_NOFILE is raised to its hard limit (children inherit it).
//!
//! Run: `cargo bench --bench memory` (env: BENCH_STREAMS=1000, BENCH_IDLE=10000;
//! BENCH_NGINX=0 leaves nginx out).

#[path = "common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Guard, free_addr, wait_for};
use futures_util::stream;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const EVENTS: u32 = 50;
const EVENT_EVERY: Duration = Duration::from_millis(100);
/// The backend's 5 s and 1 s of slack.
const ON_TIME: Duration = Duration::from_secs(6);
const PATH: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
const STREAM_REQUEST: &str = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true}"#;
const REQUEST: &str = r#"{"messages":[{"role":"user","content":"hello"}],"max_tokens":1}"#;
const RESPONSE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;

fn main() {
    let streams: usize = env("BENCH_STREAMS", 1000);
    let idle: usize = env("BENCH_IDLE", 10_000);
    raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let backend = rt.block_on(start_backend());
    let dir = tempfile::tempdir().unwrap();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("backend on {backend}; {streams} SSE streams of {EVENTS} events over 5 s; {idle} idle connections");

    let mut rows = Vec::new();
    {
        let (proxy, addr) = start_oai_lb(dir.path(), backend);
        rows.push(measure(&rt, "oai-lb", &[proxy.0.id()], addr, streams, idle));
    }
    // BENCH_NGINX=0: oai-lb alone (quicker, while iterating).
    let nginx_workers = if env("BENCH_NGINX", 1) == 0 { vec![] } else { vec![1, workers] };
    for nginx_workers in nginx_workers {
        if let Some((proxy, addr)) = start_nginx(dir.path(), backend, nginx_workers, streams.max(idle)) {
            std::thread::sleep(Duration::from_millis(300)); // nginx starts its workers
            let pids = common::with_children(proxy.0.id());
            let name = if nginx_workers == 1 { "nginx 1 worker" } else { "nginx N workers" };
            rows.push(measure(&rt, name, &pids, addr, streams, idle));
        } else {
            println!("nginx not found on PATH: install it (apt-get install nginx) to compare");
            break;
        }
    }

    println!(
        "\n{:<16} {:>18} {:>14} {:>16} {:>14}",
        "proxy", "SSE peak RSS (MiB)", "SSE whole", "idle RSS (MiB)", "idle peak"
    );
    for r in &rows {
        println!(
            "{:<16} {:>18.1} {:>14} {:>16.1} {:>14.1}",
            r.name,
            mib(r.sse_peak_kib),
            format!("{}/{}", r.sse_whole, streams),
            mib(r.idle_kib),
            mib(r.idle_peak_kib)
        );
    }
    let lb = &rows[0];
    for r in rows.iter().skip(1) {
        println!(
            "oai-lb vs {}: SSE peak RSS x{:.2}, idle RSS x{:.2}",
            r.name,
            lb.sse_peak_kib as f64 / r.sse_peak_kib.max(1) as f64,
            lb.idle_kib as f64 / r.idle_kib.max(1) as f64
        );
    }
    println!(
        "targets: SSE peak <= 30 MiB ({}), idle <= 60 MiB ({}), every stream whole and on time ({})",
        ok(mib(lb.sse_peak_kib) <= 30.0),
        ok(mib(lb.idle_kib) <= 60.0),
        ok(lb.sse_whole == streams)
    );
}

struct Row {
    name: &'static str,
    sse_peak_kib: u64,
    sse_whole: usize,
    idle_kib: u64,
    idle_peak_kib: u64,
}

/// The SSE phase (peak RSS so far: the proxy has done nothing before it), then the idle
/// phase (RSS while the connections are open).
fn measure(
    rt: &tokio::runtime::Runtime,
    name: &'static str,
    pids: &[u32],
    addr: SocketAddr,
    streams: usize,
    idle: usize,
) -> Row {
    // What the proxy holds before any request: the streams' cost is the peak over this.
    let at_rest_kib: u64 = pids.iter().map(|&p| status_kib(p, "VmRSS")).sum();
    let overflows_before = listen_overflows();
    let outcome = rt.block_on(run_streams(addr, streams));
    let overflows = listen_overflows().saturating_sub(overflows_before);
    let sse_whole = outcome.whole_on_time;
    let sse_peak_kib = pids.iter().map(|&p| status_kib(p, "VmHWM")).sum();
    println!(
        "{name}: streams: {} whole and on time, {} late, {} cut short, {} unanswered, {} not connected; slowest connect {:.0} ms, stream p50 {:.2} s, slowest {:.2} s; listen queue overflows (machine-wide, a dropped SYN is resent after 1 s): {overflows}",
        outcome.whole_on_time,
        outcome.late,
        outcome.cut,
        outcome.unanswered,
        outcome.unconnected,
        outcome.slowest_connect.as_secs_f64() * 1e3,
        outcome.p50.as_secs_f64(),
        outcome.slowest.as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(500));
    // What the streams left behind: idle upstream connections, allocator caches.
    let after_streams_kib: u64 = pids.iter().map(|&p| status_kib(p, "VmRSS")).sum();
    let started = Instant::now();
    let connections = rt.block_on(open_idle(addr, idle));
    let opened_in = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib: u64 = pids.iter().map(|&p| status_kib(p, "VmRSS")).sum();
    let idle_peak_kib = pids.iter().map(|&p| status_kib(p, "VmHWM")).sum();
    println!(
        "{name}: {sse_whole}/{streams} streams whole and on time, RSS at rest {:.1} MiB, SSE peak {:.1} MiB ({:.1} KiB per stream over the RSS at rest), RSS after the streams {:.1} MiB; {} idle connections open (in {:.1} s), RSS {:.1} MiB ({:.2} KiB per connection over the RSS after the streams)",
        mib(at_rest_kib),
        mib(sse_peak_kib),
        sse_peak_kib.saturating_sub(at_rest_kib) as f64 / streams.max(1) as f64,
        mib(after_streams_kib),
        connections.len(),
        opened_in.as_secs_f64(),
        mib(idle_kib),
        idle_kib.saturating_sub(after_streams_kib) as f64 / connections.len().max(1) as f64
    );
    drop(connections);
    Row { name, sse_peak_kib, sse_whole, idle_kib, idle_peak_kib }
}

/// What became of the streams.
#[derive(Default)]
struct Streams {
    whole_on_time: usize,
    late: usize,
    cut: usize,
    unanswered: usize,
    unconnected: usize,
    slowest_connect: Duration,
    p50: Duration,
    slowest: Duration,
}

enum Stream {
    Whole { connect: Duration, total: Duration },
    Cut,
    Unanswered,
    Unconnected,
}

/// `count` streaming requests at once; how many arrived whole and on time, and why the
/// others did not.
async fn run_streams(addr: SocketAddr, count: usize) -> Streams {
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let Ok(mut sender) = connect(addr).await else { return Stream::Unconnected };
            let connect = started.elapsed();
            let request = post(addr, STREAM_REQUEST);
            let Ok(response) = sender.send_request(request).await else { return Stream::Unanswered };
            let Ok(body) = response.into_body().collect().await else { return Stream::Cut };
            let body = body.to_bytes();
            let events = body.windows(6).filter(|w| w == b"data: ").count();
            if events == EVENTS as usize + 1 && body.ends_with(b"data: [DONE]\n\n") {
                Stream::Whole { connect, total: started.elapsed() }
            } else {
                Stream::Cut
            }
        }));
    }
    let mut outcome = Streams::default();
    let mut totals = Vec::with_capacity(count);
    for t in tasks {
        match t.await {
            Ok(Stream::Whole { connect, total }) => {
                outcome.slowest_connect = outcome.slowest_connect.max(connect);
                totals.push(total);
                if total < ON_TIME {
                    outcome.whole_on_time += 1;
                } else {
                    outcome.late += 1;
                }
            }
            Ok(Stream::Cut) | Err(_) => outcome.cut += 1,
            Ok(Stream::Unanswered) => outcome.unanswered += 1,
            Ok(Stream::Unconnected) => outcome.unconnected += 1,
        }
    }
    totals.sort_unstable();
    outcome.p50 = totals.get(totals.len() / 2).copied().unwrap_or_default();
    outcome.slowest = totals.last().copied().unwrap_or_default();
    outcome
}

/// Opens `count` connections, each making one proxied request (100 at a time), and keeps
/// them open.
async fn open_idle(addr: SocketAddr, count: usize) -> Vec<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let mut open = Vec::with_capacity(count);
    let mut started = 0;
    while started < count {
        let batch = (count - started).min(100);
        let mut tasks = Vec::with_capacity(batch);
        for _ in 0..batch {
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(addr).await.ok()?;
                let response = sender.send_request(post(addr, REQUEST)).await.ok()?;
                response.into_body().collect().await.ok()?;
                Some(sender)
            }));
        }
        for t in tasks {
            if let Ok(Some(sender)) = t.await {
                open.push(sender);
            }
        }
        started += batch;
    }
    open
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection (connects refused while the listen queue is full are retried for 1 s).
async fn connect(addr: SocketAddr) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, BoxError> {
    let mut attempts = 0;
    let stream = loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => break stream,
            Err(e) if attempts == 100 => return Err(e.into()),
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10)).await
            }
        }
    };
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

fn post(addr: SocketAddr, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(PATH)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Answers streaming requests with `EVENTS` SSE events over 5 s, others with a completion.
async fn start_backend() -> SocketAddr {
    // A listen queue long enough for the proxies' burst of upstream connections.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let streaming = body.windows(13).any(|w| w == br#""stream":true"#);
                    Ok::<_, Infallible>(if streaming { sse() } else { completion() })
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn completion() -> Response<BoxBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(RESPONSE.as_bytes())).boxed());
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    response
}

fn sse() -> Response<BoxBody> {
    // Event n is due n+1 periods after the answer starts, however late event n-1 was.
    let start = tokio::time::Instant::now();
    let events = stream::unfold(0u32, move |n| async move {
        if n > EVENTS {
            return None;
        }
        let event = if n == EVENTS {
            Bytes::from_static(b"data: [DONE]\n\n")
        } else {
            tokio::time::sleep_until(start + EVENT_EVERY * (n + 1)).await;
            Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {n}\"}}}}]}}\n\n"
            ))
        };
        Some((Ok::<_, Infallible>(Frame::data(event)), n + 1))
    });
    let mut response = Response::new(StreamBody::new(events).boxed());
    response.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
    response
}

fn start_oai_lb(dir: &std::path::Path, backend: SocketAddr) -> (Guard, SocketAddr) {
    let addr = free_addr();
    let config = dir.join("oai-lb.toml");
    std::fs::write(
        &config,
        format!("[balancer]\nlisten = \"{addr}\"\n[[backends]]\nname = \"sse\"\nurl = \"http://{backend}\"\n"),
    )
    .unwrap();
    let child = Command::new(common::oai_lb_bin())
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start oai-lb serve");
    let guard = Guard(child);
    wait_for(addr);
    (guard, addr)
}

fn start_nginx(
    dir: &std::path::Path,
    backend: SocketAddr,
    workers: usize,
    connections: usize,
) -> Option<(Guard, SocketAddr)> {
    let binary = ["nginx", "/usr/sbin/nginx"].into_iter().find(|b| Command::new(b).arg("-v").output().is_ok())?;
    let addr = free_addr();
    let dir = dir.join(format!("nginx-{workers}"));
    std::fs::create_dir_all(dir.join("logs")).ok()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes {workers};\nworker_rlimit_nofile {files};\npid {dir}/nginx.pid;\nerror_log {dir}/logs/error.log error;\n\
             events {{ worker_connections {files}; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
             upstream backend {{ server {backend}; keepalive 256; }}\n\
             server {{\n    listen {addr} backlog=4096;\n    location / {{\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}\n}}\n",
            files = connections * 2 + 100,
            dir = dir.display(),
        ),
    )
    .ok()?;
    let child = Command::new(binary)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = Guard(child);
    wait_for(addr);
    Some((guard, addr))
}

/// The kernel's count of connections dropped because a listen queue was full (TcpExt
/// ListenOverflows), all sockets of the machine.
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find_map(|(name, value)| (name == "ListenOverflows").then(|| value.parse().ok())?)
        .unwrap_or(0)
}

/// `pid` and its direct children (nginx's workers).
/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn raise_nofile_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ok(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
