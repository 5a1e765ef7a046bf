//! Proxy benchmark: one run, same machine, same load generator, these paths to one fast
//! backend on loopback (nginx returning a chat completion when `nginx` is on PATH, else a
//! small hyper server in this process):
//!
//! * direct to the backend,
//! * through `oai-lb serve` (the release binary, default config, its own process),
//! * through nginx as a plain keep-alive reverse proxy with 1 worker, and with as many
//!   workers as oai-lb has (when `nginx` is on PATH),
//! * through `oai-lb serve` with cooldowns shared through Redis (when `redis-server` is on
//!   PATH): the hot path never touches Redis, so this should equal plain `oai-lb`.
//!
//! Each path gets a warm-up (0.5 s, 8 connections), a latency phase (one connection,
//! sequential requests: p50/p99 added per request) and a throughput phase
//! (`BENCH_CONNECTIONS` connections: requests/s). The paths take turns: `BENCH_ROUNDS`
//! rounds, each starting one path later than the one before, and every figure is the median
//! of its rounds, so no path owes its figure to its place in the order or to one lucky run
//! on a busy machine (the rounds are printed too). The load generator is wrk (one thread)
//! when it is on PATH, else a built-in hyper client. Prints a table and the ratios against
//! direct and nginx, and what each proxy spends per request in CPU time (user and system,
//! all its threads or worker processes, read from `/proc` around the throughput phase):
//! unlike requests/s on a shared box, that does not depend on who else got the cores.
//!
//! Run: `cargo bench --bench proxy` (env: BENCH_SECS=5, BENCH_CONNECTIONS=32,
//! BENCH_ROUNDS=3, BENCH_LOAD=builtin to skip wrk). About (0.5 + 2 × BENCH_SECS) s per path
//! and round: 3.5 min with the defaults and all six paths.

#[path = "common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Guard, free_addr, wait_for};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const RESPONSE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
const REQUEST: &str = r#"{"messages":[{"role":"user","content":"hello"}],"max_tokens":1}"#;
const PATH: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

struct Measured {
    name: &'static str,
    rps: f64,
    /// CPU time of the proxy per request in the throughput phase, µs (user, system).
    cpu_us: Option<(f64, f64)>,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let connections: usize = std::env::var("BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The built-in load generator and backend share one runtime with one worker each so the
    // proxies under test get the rest of the machine, the same for every path.
    let backend_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let load_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let load = Load::new(dir.path());

    let nginx_backend = start_nginx_backend(dir.path());
    let backend = match &nginx_backend {
        Some((_, addr)) => *addr,
        None => backend_rt.block_on(start_backend()),
    };

    let lb_addr = free_addr();
    let config = dir.path().join("oai-lb.toml");
    std::fs::write(
        &config,
        format!("[balancer]\nlisten = \"{lb_addr}\"\n[[backends]]\nname = \"fast\"\nurl = \"http://{backend}\"\n"),
    )
    .unwrap();
    // Default config and default logging: one access line per request, to a file as a
    // service manager would keep it.
    let oai_lb = Guard(
        Command::new(common::oai_lb_bin())
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("oai-lb.log")).unwrap())
            .spawn()
            .expect("start oai-lb serve"),
    );
    wait_for(lb_addr);

    // The same balancer exporting a trace per request over OTLP/HTTP (to the backend, which
    // answers every POST with 200: a sink that costs the proxy what a collector would).
    let traced_addr = free_addr();
    let traced_config = dir.path().join("oai-lb-traced.toml");
    std::fs::write(
        &traced_config,
        format!(
            "[balancer]\nlisten = \"{traced_addr}\"\n[telemetry]\notlp_endpoint = \"http://{backend}\"\n[[backends]]\nname = \"fast\"\nurl = \"http://{backend}\"\n"
        ),
    )
    .unwrap();
    let traced = Guard(
        Command::new(common::oai_lb_bin())
            .args(["serve", "--config"])
            .arg(&traced_config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("oai-lb-traced.log")).unwrap())
            .spawn()
            .expect("start oai-lb serve with tracing"),
    );
    wait_for(traced_addr);

    let nginx_1 = start_nginx(dir.path(), backend, 1);
    let nginx_n = start_nginx(dir.path(), backend, workers);
    // The same balancer with cooldowns shared through Redis: the hot path must not notice.
    let shared = start_shared_state_replica(dir.path(), backend);

    // Each path and the processes whose CPU time is the proxy's (none for direct).
    let mut targets: Vec<(&'static str, SocketAddr, Vec<u32>)> =
        vec![("direct", backend, vec![]), ("oai-lb", lb_addr, vec![oai_lb.0.id()])];
    if let Some((nginx, addr)) = &nginx_1 {
        targets.push(("nginx 1 worker", *addr, common::with_children(nginx.0.id())));
    }
    if let Some((nginx, addr)) = &nginx_n {
        targets.push(("nginx N workers", *addr, common::with_children(nginx.0.id())));
    }
    if let Some((lb, _, addr)) = &shared {
        targets.push(("oai-lb+redis", *addr, vec![lb.0.id()]));
    }
    targets.push(("oai-lb+otlp", traced_addr, vec![traced.0.id()]));
    println!(
        "backend {} on {backend}; load: {}; {secs} s per phase; {connections} connections for throughput; oai-lb and nginx N: {workers} workers",
        if nginx_backend.is_some() { "nginx" } else { "built-in" },
        load.name()
    );
    // rounds[target] = that path's figures, one per round.
    let mut rounds_of: Vec<Vec<Measured>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for turn in 0..targets.len() {
            let i = (turn + round) % targets.len();
            let (name, addr, ref pids) = targets[i];
            // Warm up connections and caches.
            load.run(&load_rt, addr, 8, Duration::from_millis(500));
            let latency = load.run(&load_rt, addr, 1, Duration::from_secs(secs));
            let (user_before, system_before) = common::cpu_seconds(pids);
            let throughput = load.run(&load_rt, addr, connections, Duration::from_secs(secs));
            let (user_after, system_after) = common::cpu_seconds(pids);
            let per_request = |seconds: f64| seconds * 1e6 / throughput.requests.max(1) as f64;
            rounds_of[i].push(Measured {
                name,
                rps: throughput.rps,
                cpu_us: (!pids.is_empty())
                    .then(|| (per_request(user_after - user_before), per_request(system_after - system_before))),
                p50_us: latency.p50_us,
                p99_us: latency.p99_us,
                errors: latency.errors + throughput.errors,
            });
        }
    }
    if rounds > 1 {
        println!("\nrequests/s per round (each round starts one path later):");
        for runs in &rounds_of {
            let figures: Vec<String> = runs.iter().map(|m| format!("{:.0}", m.rps)).collect();
            println!("{:<16} {}", runs[0].name, figures.join("  "));
        }
    }
    let results: Vec<Measured> = rounds_of.iter().map(|runs| median(runs)).collect();
    let have_nginx = nginx_1.is_some();
    drop(oai_lb);
    drop(traced);
    drop(nginx_1);
    drop(nginx_n);
    drop(shared);
    drop(nginx_backend);

    println!(
        "\nmedian of {rounds} round(s):\n{:<16} {:>12} {:>12} {:>12} {:>8} {:>28}",
        "path", "requests/s", "p50 (µs)", "p99 (µs)", "errors", "proxy CPU µs/req (user+sys)"
    );
    for m in &results {
        let cpu = m.cpu_us.map_or("-".to_string(), |(u, s)| format!("{:.1} ({u:.1}+{s:.1})", u + s));
        println!("{:<16} {:>12.0} {:>12.1} {:>12.1} {:>8} {cpu:>28}", m.name, m.rps, m.p50_us, m.p99_us, m.errors);
    }
    let direct = &results[0];
    let lb = &results[1];
    println!();
    for m in results.iter().skip(1) {
        println!(
            "{:<16} vs direct: throughput x{:.2}, added p50 {:+.1} µs, added p99 {:+.1} µs",
            m.name,
            m.rps / direct.rps,
            m.p50_us - direct.p50_us,
            m.p99_us - direct.p99_us
        );
    }
    for nginx in results.iter().filter(|m| m.name.starts_with("nginx")) {
        println!(
            "oai-lb vs {:<15}: throughput x{:.2} (target >= 1.20), p50 {:+.1} µs",
            nginx.name,
            lb.rps / nginx.rps,
            lb.p50_us - nginx.p50_us
        );
        if let (Some((lu, ls)), Some((nu, ns))) = (lb.cpu_us, nginx.cpu_us) {
            println!(
                "{:<26} CPU per request x{:.2} (user x{:.2}, system x{:.2})",
                "",
                (lu + ls) / (nu + ns),
                lu / nu.max(1e-9),
                ls / ns.max(1e-9)
            );
        }
    }
    println!("oai-lb added p50 over direct: {:+.1} µs (target <= 60)", lb.p50_us - direct.p50_us);
    if let Some(redis) = results.iter().find(|m| m.name == "oai-lb+redis") {
        println!(
            "shared state on vs off: throughput x{:.2}, p50 {:+.1} µs",
            redis.rps / lb.rps,
            redis.p50_us - lb.p50_us
        );
    } else {
        println!("redis-server not found on PATH: install it to compare shared state on vs off");
    }
    if let Some(traced) = results.iter().find(|m| m.name == "oai-lb+otlp") {
        println!(
            "tracing on vs off: throughput x{:.2} (target >= 0.95), p50 {:+.1} µs",
            traced.rps / lb.rps,
            traced.p50_us - lb.p50_us
        );
    }
    if !have_nginx {
        println!("nginx not found on PATH: install it (apt-get install nginx) to compare");
    }
}

/// The median of each figure over the rounds (errors: their sum).
fn median(runs: &[Measured]) -> Measured {
    let mid = |f: fn(&Measured) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cpu = runs
        .iter()
        .all(|m| m.cpu_us.is_some())
        .then(|| (mid(|m| m.cpu_us.map_or(0.0, |c| c.0)), mid(|m| m.cpu_us.map_or(0.0, |c| c.1))));
    Measured {
        name: runs[0].name,
        rps: mid(|m| m.rps),
        cpu_us: cpu,
        p50_us: mid(|m| m.p50_us),
        p99_us: mid(|m| m.p99_us),
        errors: runs.iter().map(|m| m.errors).sum(),
    }
}

/// The load generator: wrk when installed (one thread, a Lua script for the POST), else
/// the built-in hyper client.
enum Load {
    Wrk(std::path::PathBuf),
    Builtin,
}

impl Load {
    fn new(dir: &std::path::Path) -> Load {
        let builtin = std::env::var("BENCH_LOAD").is_ok_and(|v| v == "builtin");
        if builtin || Command::new("wrk").arg("--version").output().is_err() {
            return Load::Builtin;
        }
        let script = dir.join("post.lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.path = \"{PATH}\"\nwrk.body = '{REQUEST}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
            ),
        )
        .unwrap();
        Load::Wrk(script)
    }

    fn name(&self) -> &'static str {
        match self {
            Load::Wrk(_) => "wrk -t1",
            Load::Builtin => "built-in client",
        }
    }

    fn run(
        &self,
        rt: &tokio::runtime::Runtime,
        addr: SocketAddr,
        connections: usize,
        duration: Duration,
    ) -> LoadResult {
        match self {
            Load::Builtin => rt.block_on(run_load(addr, connections, duration)),
            Load::Wrk(script) => run_wrk(script, addr, connections, duration),
        }
    }
}

/// One wrk run (whole seconds, at least one): requests/s, p50/p99 from `--latency`, non-2xx and socket errors.
fn run_wrk(script: &std::path::Path, addr: SocketAddr, connections: usize, duration: Duration) -> LoadResult {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{}s", duration.as_secs().max(1)), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprintln!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let field = |prefix: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix)).map(|rest| rest.split_whitespace().collect::<Vec<_>>())
    };
    let rps = field("Requests/sec:").and_then(|f| f.first()?.parse().ok()).unwrap_or(0.0);
    let micros = |pct: &str| field(pct).and_then(|f| wrk_duration_us(f.first()?)).unwrap_or(0.0);
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|f| f.first()?.parse::<u64>().ok()).unwrap_or(0);
    let socket = field("Socket errors:")
        .map(|f| f.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>())
        .unwrap_or(0);
    let requests = text.lines().find_map(|l| l.trim().split_once(" requests in")?.0.parse().ok()).unwrap_or(0);
    LoadResult { rps, requests, p50_us: micros("50%"), p99_us: micros("99%"), errors: non_2xx + socket }
}

/// wrk's `62.00us`, `1.23ms`, `1.00s` in µs.
fn wrk_duration_us(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number,
        "ms" => number * 1e3,
        "s" => number * 1e6,
        "m" => number * 60e6,
        _ => return None,
    })
}

struct LoadResult {
    rps: f64,
    requests: u64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

/// `connections` workers send requests back to back for `duration`, each on its own
/// keep-alive connection.
async fn run_load(addr: SocketAddr, connections: usize, duration: Duration) -> LoadResult {
    let uri: http::Uri = format!("http://{addr}{PATH}").parse().unwrap();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let uri = uri.clone();
        workers.push(tokio::spawn(async move {
            let client: Client<HttpConnector, Full<Bytes>> =
                Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build(HttpConnector::new());
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let request = Request::post(uri.clone())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(REQUEST.as_bytes())))
                    .unwrap();
                let t = Instant::now();
                match client.request(request).await {
                    Ok(response) if response.status().is_success() => match response.into_body().collect().await {
                        Ok(_) => latencies.push(t.elapsed().as_nanos() as u64),
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1e3
    };
    LoadResult {
        rps: all.len() as f64 / elapsed,
        requests: all.len() as u64,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

async fn start_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from_static(RESPONSE.as_bytes());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        let mut response = Response::new(Full::new(body));
                        response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

fn nginx_binary() -> Option<&'static str> {
    ["nginx", "/usr/sbin/nginx"].into_iter().find(|b| Command::new(b).arg("-v").output().is_ok())
}

/// nginx as a keep-alive reverse proxy to `backend` with `workers` worker processes.
fn start_nginx(dir: &std::path::Path, backend: SocketAddr, workers: usize) -> Option<(Guard, SocketAddr)> {
    let addr = free_addr();
    let server = format!(
        "upstream fast {{ server {backend}; keepalive 256; }}\n\
         server {{\n    listen {addr};\n    location / {{\n      proxy_pass http://fast;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}"
    );
    let guard = run_nginx(&dir.join(format!("nginx-{workers}")), workers, &server)?;
    wait_for(addr);
    Some((guard, addr))
}

/// nginx (1 worker) answering every request with the chat completion: the backend.
fn start_nginx_backend(dir: &std::path::Path) -> Option<(Guard, SocketAddr)> {
    let addr = free_addr();
    let server = format!(
        "server {{\n    listen {addr};\n    keepalive_requests 1000000;\n    location / {{\n      default_type application/json;\n      return 200 '{RESPONSE}';\n    }}\n  }}"
    );
    let guard = run_nginx(&dir.join("nginx-backend"), 1, &server)?;
    wait_for(addr);
    Some((guard, addr))
}

fn run_nginx(dir: &std::path::Path, workers: usize, server: &str) -> Option<Guard> {
    let binary = nginx_binary()?;
    std::fs::create_dir_all(dir.join("logs")).ok()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes {workers};\npid {dir}/nginx.pid;\nerror_log {dir}/logs/error.log error;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  {server}\n}}\n",
            dir = dir.display(),
        ),
    )
    .ok()?;
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Guard(child))
}

/// A redis-server and an `oai-lb serve` that shares its cooldowns through it.
fn start_shared_state_replica(dir: &std::path::Path, backend: SocketAddr) -> Option<(Guard, Guard, SocketAddr)> {
    let redis_addr = free_addr();
    let redis = Guard(
        Command::new("redis-server")
            .args(["--port", &redis_addr.port().to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .ok()?,
    );
    wait_for(redis_addr);
    let addr = free_addr();
    let config = dir.join("oai-lb-redis.toml");
    std::fs::write(
        &config,
        format!(
            "[balancer]\nlisten = \"{addr}\"\n[balancer.shared_state]\nurl = \"redis://{redis_addr}\"\n[[backends]]\nname = \"fast\"\nurl = \"http://{backend}\"\n"
        ),
    )
    .ok()?;
    let lb = Guard(
        Command::new(common::oai_lb_bin())
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("oai-lb-redis.log")).ok()?)
            .spawn()
            .ok()?,
    );
    wait_for(addr);
    Some((lb, redis, addr))
}
