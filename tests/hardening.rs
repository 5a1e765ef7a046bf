//! No client, backend or peer can hurt the others: one test per rule, with real sockets.

mod support;

use std::time::{Duration, Instant};

use support::{Backend, Balancer, CHAT, Reply, backends_toml, header, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes and reads until the server closes or `wait` passes; returns what came
/// back and whether the server closed the connection.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

fn api_key_backend(name: &str, url: &str, priority: u32, env: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\nurl = \"{url}\"\npriority = {priority}\nauth = \"api-key\"\napi_key_env = \"{env}\"\n"
    )
}

#[tokio::test]
async fn a_pass_through_401_or_403_is_the_client_s_answer_and_cools_nothing() {
    let a = Backend::start(|seen, _| match seen.headers.get("api-key").map(|v| v.to_str().unwrap()) {
        Some("good") => Reply::ok("{}"),
        Some("forbidden") => Reply::status(403),
        _ => Reply::status(401),
    })
    .await;
    let b = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1), ("b", &b.url(), 2)])).await;
    let client = support::client();
    for (key, status) in [("bad", 401), ("forbidden", 403)] {
        let r = client.post(lb.url(CHAT)).header("api-key", key).body("{}").send().await.unwrap();
        assert_eq!((r.status().as_u16(), header(&r, "x-oai-lb-backend")), (status, "a"));
        assert_eq!(header(&r, "x-oai-lb-attempts"), "1", "no failover");
    }
    assert_eq!(b.count(), 0);
    let r = client.post(lb.url(CHAT)).header("api-key", "good").body("{}").send().await.unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "x-oai-lb-backend")), (200, "a"), "a is not cooling");
}

#[tokio::test]
async fn our_credential_refused_fails_over_and_cools_that_backend() {
    // SAFETY: set before the balancer reads it; the name is unique to this test.
    unsafe { std::env::set_var("HARDENING_WRONG_KEY", "wrong") };
    let a = Backend::always(|| Reply::status(401)).await;
    let b = Backend::always(|| Reply::ok("{}")).await;
    let toml = format!(
        "{}\n{}",
        api_key_backend("a", &a.url(), 1, "HARDENING_WRONG_KEY"),
        backends_toml(&[("b", &b.url(), 2)])
    );
    let lb = Balancer::start(&toml).await;
    for _ in 0..3 {
        let r = post(&lb.url(CHAT)).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-oai-lb-backend")), (200, "b"));
    }
    assert_eq!(a.count(), 1, "a cools down after refusing our key");
}

#[tokio::test]
async fn the_client_s_key_never_reaches_a_backend() {
    // SAFETY: set before the balancer reads it; the name is unique to this test.
    unsafe { std::env::set_var("HARDENING_CLIENT_KEYS", "client-key") };
    let a = Backend::always(|| Reply::ok("{}")).await;
    let toml =
        format!("[balancer]\nclient_keys_env = \"HARDENING_CLIENT_KEYS\"\n{}", backends_toml(&[("a", &a.url(), 1)]));
    let lb = Balancer::start(&toml).await;
    let client = support::client();
    let r = client.post(lb.url(CHAT)).header("api-key", "client-key").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.post(lb.url(CHAT)).bearer_auth("client-key").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 200);
    for seen in a.seen() {
        assert!(!seen.headers.contains_key("api-key"), "{:?}", seen.headers);
        assert!(!seen.headers.contains_key("authorization"), "{:?}", seen.headers);
    }
}

#[tokio::test]
async fn without_client_keys_only_loopback_hosts_are_served() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    let request = |host: &str| {
        format!("POST {CHAT} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}")
    };
    let (evil, _) = raw(lb.addr, request("evil.example:8080").as_bytes(), Duration::from_secs(5)).await;
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    let (local, _) =
        raw(lb.addr, request(&format!("localhost:{}", lb.addr.port())).as_bytes(), Duration::from_secs(5)).await;
    assert!(local.starts_with("HTTP/1.1 200"), "{local}");
    assert_eq!(a.count(), 1);
}

#[tokio::test]
async fn every_header_named_by_any_connection_header_is_removed() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    let request = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: x-first\r\nconnection: x-second, close\r\nx-first: 1\r\nx-second: 2\r\nx-kept: 3\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    let (reply, _) = raw(lb.addr, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let seen = &a.seen()[0];
    assert!(!seen.headers.contains_key("x-first") && !seen.headers.contains_key("x-second"), "{:?}", seen.headers);
    assert!(seen.headers.contains_key("x-kept"));
}

#[tokio::test]
async fn a_half_sent_head_or_a_silent_connection_is_closed_after_the_header_timeout() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&format!(
        "[balancer]\nclient_header_timeout_secs = 0.5\n{}",
        backends_toml(&[("a", &a.url(), 1)])
    ))
    .await;
    let started = Instant::now();
    let (_, closed) = raw(
        lb.addr,
        b"POST /openai/deployments/x/chat HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ",
        Duration::from_secs(5),
    )
    .await;
    assert!(closed && started.elapsed() < Duration::from_secs(3), "half head closed after {:?}", started.elapsed());
    let started = Instant::now();
    let (_, closed) = raw(lb.addr, b"", Duration::from_secs(5)).await;
    assert!(
        closed && started.elapsed() < Duration::from_secs(3),
        "silent connection closed after {:?}",
        started.elapsed()
    );
}

/// Reads one whole `content-length` response from a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response ended: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
                .expect("a content-length")
                .unwrap();
            if body.len() >= len {
                return text.into_owned();
            }
        }
    }
}

/// Seconds until the server closes `stream` (at most `wait`).
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(wait.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn after_a_request_the_next_head_is_due_within_the_header_timeout() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&format!(
        "[balancer]\nclient_header_timeout_secs = 0.5\nclient_idle_timeout_secs = 30\n{}",
        backends_toml(&[("a", &a.url(), 1)])
    ))
    .await;
    let request = format!("POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\n{{}}");
    for half_head in [&b"POST /openai/deployments/x/chat HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: "[..], b""] {
        let mut stream = TcpStream::connect(lb.addr).await.unwrap();
        // Two whole requests, the second well past the first one's header timeout had it
        // started at the connection's opening: each head is due from the last response.
        for _ in 0..2 {
            stream.write_all(request.as_bytes()).await.unwrap();
            assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        stream.write_all(half_head).await.unwrap();
        let closed = closed_within(&mut stream, Duration::from_secs(5)).await;
        // Due 0.5 s after the last response, 0.3 s of which passed before the half head.
        assert!(
            closed.is_some_and(|after| after < Duration::from_secs(2)),
            "a connection that sent {} bytes of its next head closed after {closed:?}",
            half_head.len()
        );
    }
    assert_eq!(a.count(), 4);
}

#[tokio::test]
async fn a_body_slower_than_the_body_timeout_gets_408() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&format!(
        "[balancer]\nclient_body_timeout_secs = 0.5\n{}",
        backends_toml(&[("a", &a.url(), 1)])
    ))
    .await;
    let head = format!("POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n{{\"a\":");
    let (reply, _) = raw(lb.addr, head.as_bytes(), Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert_eq!(a.count(), 0);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&format!(
        "[balancer]\nclient_idle_timeout_secs = 0.5\nclient_header_timeout_secs = 10\n{}",
        backends_toml(&[("a", &a.url(), 1)])
    ))
    .await;
    // HTTP/2 (prior knowledge): hyper's header timeout does not cover an idle HTTP/2 connection.
    let stream = TcpStream::connect(lb.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let ended = tokio::spawn(connection);
    let req = http::Request::post(format!("http://127.0.0.1{CHAT}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), ended).await.expect("closed when idle").unwrap().ok();
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
}

#[tokio::test]
async fn past_max_connections_new_connections_wait_for_a_slot() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start_with(
        &format!("[balancer]\nmax_connections = 2\n{}", backends_toml(&[("a", &a.url(), 1)])),
        oai_lb::proxy::ServeOptions { workers: Some(1), ..Default::default() },
    )
    .await;
    let hold1 = TcpStream::connect(lb.addr).await.unwrap();
    let hold2 = TcpStream::connect(lb.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    assert!(quick.post(lb.url(CHAT)).body("{}").send().await.is_err(), "a third connection waits");
    drop(hold1);
    let r = support::client().post(lb.url(CHAT)).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 200, "served once a slot frees");
    drop(hold2);
}

#[tokio::test]
async fn past_the_buffered_bytes_budget_new_requests_get_503() {
    let slow = Backend::always(|| Reply::Delay(Duration::from_millis(800), Box::new(Reply::ok("{}")))).await;
    let lb = Balancer::start(&format!(
        "[balancer]\nmax_body_bytes = 1000000\nmax_buffered_bytes = 1000000\n{}",
        backends_toml(&[("a", &slow.url(), 1)])
    ))
    .await;
    let big = "x".repeat(700_000);
    let first = tokio::spawn({
        let url = lb.url(CHAT);
        let body = big.clone();
        async move { support::client().post(url).body(body).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = support::client().post(lb.url(CHAT)).body(big).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("max_buffered_bytes"));
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(post(&lb.url(CHAT)).await.status(), 200, "the budget is returned");
}

#[tokio::test]
async fn the_request_deadline_spans_every_attempt() {
    let slow = || Backend::always(|| Reply::Delay(Duration::from_secs(2), Box::new(Reply::ok("{}"))));
    let (a, b, c) = (slow().await, slow().await, slow().await);
    let lb = Balancer::start(&format!(
        "[balancer]\nresponse_timeout_secs = 0.4\nrequest_timeout_secs = 0.6\n{}",
        backends_toml(&[("a", &a.url(), 1), ("b", &b.url(), 2), ("c", &c.url(), 3)])
    ))
    .await;
    let started = Instant::now();
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_millis(1100), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_reload_says_which_changes_need_a_restart() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    let parse = |text: &str| oai_lb::config::Config::parse(std::path::Path::new("t.toml"), text).unwrap();
    let same = parse(&backends_toml(&[("a", &a.url(), 1)]));
    assert!(lb.reloader.apply(same).unwrap().is_empty());
    let moved = parse(&format!(
        "[balancer]\nlisten = \"127.0.0.1:1\"\nconnect_timeout_secs = 1\n{}",
        backends_toml(&[("a", &a.url(), 1)])
    ));
    assert_eq!(lb.reloader.apply(moved).unwrap(), vec!["balancer.listen", "balancer.connect_timeout_secs"]);
}

#[tokio::test]
async fn backend_urls_with_secrets_are_redacted_in_the_state_view() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let url = format!("http://user:hunter2@{}/gw?sig=s3cret", a.addr);
    let lb = Balancer::start(&backends_toml(&[("a", &url, 1)])).await;
    let text = support::client().get(lb.url("/lb/backends")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("hunter2") && !text.contains("s3cret"), "{text}");
    assert!(text.contains("***"), "{text}");
}
