//! The embedded balancer against real HTTP backends on loopback.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Backend, Balancer, CHAT, Reply, backends_toml, dead_url, header, post, tally};
use tokio::sync::oneshot;

#[tokio::test]
async fn spills_over_to_the_next_priority_and_stays_there_while_cooling() {
    let ptu = Backend::always(|| Reply::throttled("30")).await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])).await;

    let first = post(&lb.url(CHAT)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-oai-lb-backend"), "paygo");
    assert_eq!(header(&first, "x-oai-lb-attempts"), "2");

    for _ in 0..5 {
        let r = post(&lb.url(CHAT)).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-oai-lb-attempts")), (200, "1"));
    }
    assert_eq!(ptu.count(), 1, "a cooling backend is not asked again");
    assert_eq!(paygo.count(), 6);
}

#[tokio::test]
async fn equal_weights_spread_within_ten_percent() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let b = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1), ("b", &b.url(), 1)])).await;
    let client = support::client();
    let mut names = Vec::new();
    for _ in 0..1000 {
        let r = client.post(lb.url(CHAT)).body(support::CHAT_BODY).send().await.unwrap();
        names.push(header(&r, "x-oai-lb-backend").to_string());
    }
    let counts = tally(names);
    for name in ["a", "b"] {
        let n = counts[name];
        assert!((450..=550).contains(&n), "{name} got {n} of 1000: {counts:?}");
    }
}

#[tokio::test]
async fn traffic_returns_to_priority_one_when_its_cooldown_ends() {
    let ptu = Backend::start(|_, nth| {
        if nth == 0 { Reply::throttled("1").with_header("retry-after-ms", "300") } else { Reply::ok("{}") }
    })
    .await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])).await;

    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "paygo");
    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "paygo");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let back = post(&lb.url(CHAT)).await;
    assert_eq!(header(&back, "x-oai-lb-backend"), "ptu", "retry-after-ms (300 ms) wins over Retry-After (1 s)");
    assert_eq!(header(&back, "x-oai-lb-attempts"), "1");
}

#[tokio::test]
async fn a_429_on_one_deployment_leaves_the_others_in_use() {
    let ptu = Backend::start(|seen, _| {
        if seen.path.contains("/deployments/gpt-4o/") { Reply::throttled("30") } else { Reply::ok("{}") }
    })
    .await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])).await;

    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "paygo");
    let embeddings =
        post(&lb.url("/openai/deployments/text-embedding-3-large/embeddings?api-version=2024-10-21")).await;
    assert_eq!(header(&embeddings, "x-oai-lb-backend"), "ptu");
    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "paygo");

    // The v1 API names the deployment in the body's "model".
    let v1 = support::client()
        .post(lb.url("/openai/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&v1, "x-oai-lb-backend"), "paygo");
    let v1_other = support::client()
        .post(lb.url("/openai/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o-mini","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&v1_other, "x-oai-lb-backend"), "ptu");
}

#[tokio::test]
async fn all_throttled_answers_429_at_once_with_the_soonest_retry_after() {
    let a = Backend::always(|| Reply::throttled("7")).await;
    let b = Backend::always(|| Reply::throttled("3")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1), ("b", &b.url(), 2)])).await;

    let started = Instant::now();
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "3");
    assert_eq!(header(&r, "x-oai-lb-attempts"), "2");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "429");
    assert!(body["error"]["message"].as_str().unwrap().contains("gpt-4o"));

    let again = post(&lb.url(CHAT)).await;
    assert_eq!(again.status(), 429);
    assert!(["2", "3"].contains(&header(&again, "retry-after")));
    assert_eq!(header(&again, "x-oai-lb-attempts"), "0", "answered without asking a cooling backend");
    assert_eq!((a.count(), b.count()), (1, 1));
    assert!(started.elapsed() < Duration::from_secs(2), "no sleeping on the way");
}

#[tokio::test]
async fn primary_mode_sends_to_the_first_backend_when_all_are_throttled() {
    let a = Backend::always(|| Reply::throttled("30")).await;
    let b = Backend::always(|| Reply::throttled("30")).await;
    let toml = format!(
        "[balancer]\nall_throttled = \"primary\"\n{}",
        backends_toml(&[("b", &b.url(), 2), ("a", &a.url(), 1)])
    );
    let lb = Balancer::start(&toml).await;
    let first = post(&lb.url(CHAT)).await;
    assert_eq!(first.status(), 429);
    assert_eq!(header(&first, "x-oai-lb-backend"), "", "both tried in this request: nobody left");
    let second = post(&lb.url(CHAT)).await;
    assert_eq!(second.status(), 429);
    assert_eq!(header(&second, "x-oai-lb-backend"), "a", "the primary's own answer is returned");
    assert_eq!((a.count(), b.count()), (2, 1));
}

#[tokio::test]
async fn oversized_bodies_get_413_and_reach_no_backend() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb =
        Balancer::start(&format!("[balancer]\nmax_body_bytes = 100\n{}", backends_toml(&[("a", &a.url(), 1)]))).await;
    let r = support::client().post(lb.url(CHAT)).body("x".repeat(101)).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("max_body_bytes"));

    // Chunked, without a content-length: the limit still holds.
    let chunks = futures_util::stream::iter((0..5).map(|_| Ok::<_, std::io::Error>("x".repeat(30))));
    let r = support::client().post(lb.url(CHAT)).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(a.count(), 0);

    let ok = support::client().post(lb.url(CHAT)).body("x".repeat(100)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_stream_reaches_the_client_chunk_by_chunk() {
    let (release_tx, release_rx) = oneshot::channel();
    let gate = std::sync::Mutex::new(Some(release_rx));
    let a = Backend::start(move |_, _| Reply::Stream {
        chunks: vec![
            ("data: {\"n\":1}\n\n".into(), None),
            ("data: {\"n\":2}\n\n".into(), gate.lock().unwrap().take()),
            ("data: [DONE]\n\n".into(), None),
        ],
        then_reset: false,
    })
    .await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    let mut r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/event-stream");
    let first =
        tokio::time::timeout(Duration::from_secs(5), r.chunk()).await.expect("first chunk before the last is produced");
    assert_eq!(first.unwrap().unwrap(), "data: {\"n\":1}\n\n");
    release_tx.send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(String::from_utf8(rest).unwrap(), "data: {\"n\":2}\n\ndata: [DONE]\n\n");
}

#[tokio::test]
async fn a_reset_mid_stream_ends_that_stream_without_retrying() {
    let a = Backend::always(|| Reply::Stream { chunks: vec![("data: {\"n\":1}\n\n".into(), None)], then_reset: true })
        .await;
    let b = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1), ("b", &b.url(), 2)])).await;
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "the client sees the stream break");
    assert_eq!(b.count(), 0, "a committed response is not retried");
    let next = post(&lb.url(CHAT)).await;
    assert_eq!(next.status(), 200, "the balancer keeps serving");
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_upstream_request() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let seen_drop = Arc::clone(&dropped);
    let a = Backend::always(move || Reply::Endless { dropped: Arc::clone(&seen_drop) }).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    let mut r = post(&lb.url(CHAT)).await;
    assert!(r.chunk().await.unwrap().is_some());
    drop(r);
    let deadline = Instant::now() + Duration::from_secs(5);
    while dropped.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the backend never noticed the client left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connection_errors_5xx_401_and_timeouts_fail_over_but_400_does_not() {
    let dead = dead_url().await;
    let err500 = Backend::always(|| Reply::status(500)).await;
    let err401 = Backend::always(|| Reply::status(401)).await;
    let slow = Backend::always(|| Reply::Delay(Duration::from_secs(3), Box::new(Reply::ok("{}")))).await;
    let good = Backend::always(|| Reply::ok("{\"ok\":true}")).await;
    // SAFETY: set once before the balancer reads it; the name is unique to this test.
    unsafe { std::env::set_var("BALANCER_TEST_KEY_401", "our-key") };
    let toml = format!(
        "[balancer]\nresponse_timeout_secs = 0.3\n{}\n[[backends]]\nname = \"err401\"\nurl = \"{}\"\npriority = 3\nauth = \"api-key\"\napi_key_env = \"BALANCER_TEST_KEY_401\"\n{}",
        backends_toml(&[("dead", &dead, 1), ("err500", &err500.url(), 2)]),
        err401.url(),
        backends_toml(&[("slow", &slow.url(), 4), ("good", &good.url(), 5)])
    );
    let lb = Balancer::start(&toml).await;
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-oai-lb-backend"), "good");
    assert_eq!(header(&r, "x-oai-lb-attempts"), "5");

    let bad_request = Backend::always(|| Reply::status(400)).await;
    let fallback = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("bad", &bad_request.url(), 1), ("fallback", &fallback.url(), 2)])).await;
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 400, "a bad request is the client's fault, returned as is");
    assert_eq!(fallback.count(), 0);
}

#[tokio::test]
async fn the_last_backend_s_own_error_is_returned_when_none_remains() {
    let a = Backend::always(|| Reply::status(401)).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(r.status(), 401, "a wrong backend key shows as 401, not as a mysterious 429");
    assert_eq!(header(&r, "x-oai-lb-backend"), "a");
}

#[tokio::test]
async fn client_keys_are_required_and_backend_keys_replace_them() {
    // SAFETY: set once before any thread reads them; names are unique to this test.
    unsafe {
        std::env::set_var("BALANCER_TEST_CLIENT_KEYS", "client-one,client-two");
        std::env::set_var("BALANCER_TEST_BACKEND_KEY", "backend-secret");
    }
    let a = Backend::always(|| Reply::ok("{}")).await;
    let toml = format!(
        "[balancer]\nclient_keys_env = \"BALANCER_TEST_CLIENT_KEYS\"\n[[backends]]\nname = \"a\"\nurl = \"{}\"\nauth = \"api-key\"\napi_key_env = \"BALANCER_TEST_BACKEND_KEY\"\n",
        a.url()
    );
    let lb = Balancer::start(&toml).await;
    let client = support::client();
    let none = client.post(lb.url(CHAT)).body("{}").send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = client.post(lb.url(CHAT)).header("api-key", "nope").body("{}").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(client.get(lb.url("/lb/backends")).send().await.unwrap().status(), 401);
    assert_eq!(client.get(lb.url("/healthz")).send().await.unwrap().status(), 200, "health needs no key");
    assert_eq!(a.count(), 0);

    let by_api_key = client.post(lb.url(CHAT)).header("api-key", "client-two").body("{}").send().await.unwrap();
    assert_eq!(by_api_key.status(), 200);
    let by_bearer = client.post(lb.url(CHAT)).bearer_auth("client-one").body("{}").send().await.unwrap();
    assert_eq!(by_bearer.status(), 200);
    for seen in a.seen() {
        assert_eq!(seen.headers["api-key"], "backend-secret");
        assert!(!seen.headers.contains_key("authorization"), "the client's credential does not leak upstream");
        assert_eq!(seen.headers["host"], a.addr.to_string(), "Host is the backend's");
    }
}

#[tokio::test]
async fn refuses_a_public_address_without_client_keys() {
    let config = oai_lb::config::Config::parse(
        std::path::Path::new("t.toml"),
        &backends_toml(&[("a", "https://example.invalid", 1)]),
    )
    .unwrap();
    let options = oai_lb::proxy::ServeOptions { listen: Some("0.0.0.0:0".parse().unwrap()), ..Default::default() };
    let err = oai_lb::proxy::Server::bind(config.clone(), options.clone()).await.err().expect("refused");
    assert!(err.to_string().contains("--allow-unauthenticated"), "{err}");
    let allowed = oai_lb::proxy::ServeOptions { allow_unauthenticated: true, ..options };
    assert!(oai_lb::proxy::Server::bind(config, allowed).await.is_ok());
}

#[tokio::test]
async fn state_and_metrics_endpoints_report_cooldowns_and_counts() {
    let ptu = Backend::always(|| Reply::throttled("20")).await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])).await;
    post(&lb.url(CHAT)).await;
    let state: oai_lb::proxy::StateView =
        support::client().get(lb.url("/lb/backends")).send().await.unwrap().json().await.unwrap();
    let ptu_view = &state.backends[0];
    assert_eq!((ptu_view.name.as_str(), ptu_view.requests, ptu_view.status_429), ("ptu", 1, 1));
    assert_eq!(ptu_view.cooldowns[0].deployment, "gpt-4o");
    assert!(ptu_view.cooldowns[0].seconds_left > 18.0 && ptu_view.cooldowns[0].seconds_left <= 20.0);
    assert_eq!(state.backends[1].status_2xx, 1);

    let metrics = support::client().get(lb.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("oai_lb_failovers_total 1\n"), "{metrics}");
    assert!(metrics.contains("oai_lb_backend_requests_total{backend=\"ptu\",status=\"429\"} 1\n"));
    assert!(metrics.contains("oai_lb_upstream_latency_seconds_count{backend=\"paygo\"} 1\n"));
}

#[tokio::test]
async fn a_reload_swaps_backends_and_keeps_cooldowns_of_unchanged_ones() {
    let ptu = Backend::always(|| Reply::throttled("30")).await;
    let paygo = Backend::always(|| Reply::ok("{}")).await;
    let other = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])).await;
    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "paygo");

    let next = oai_lb::config::Config::parse(
        std::path::Path::new("t.toml"),
        &backends_toml(&[("ptu", &ptu.url(), 1), ("other", &other.url(), 2)]),
    )
    .unwrap();
    lb.reloader.apply(next).unwrap();
    let r = post(&lb.url(CHAT)).await;
    assert_eq!(header(&r, "x-oai-lb-backend"), "other");
    assert_eq!(header(&r, "x-oai-lb-attempts"), "1", "ptu kept its cooldown across the reload");
    assert_eq!(ptu.count(), 1);
}

#[tokio::test]
async fn the_config_file_is_reloaded_when_it_changes() {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let b = Backend::always(|| Reply::ok("{}")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, backends_toml(&[("a", &a.url(), 1), ("b", &b.url(), 2)])).unwrap();
    let options = oai_lb::proxy::ServeOptions { config_path: Some(path.clone()), ..Default::default() };
    let lb = Balancer::start_with(&std::fs::read_to_string(&path).unwrap(), options).await;
    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "a");

    tokio::time::sleep(Duration::from_millis(1100)).await; // a distinct modification time
    std::fs::write(&path, backends_toml(&[("a", &a.url(), 2), ("b", &b.url(), 1)])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend") == "b" {
            break;
        }
        assert!(Instant::now() < deadline, "the changed file was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    std::fs::write(&path, "this is = = not toml").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(header(&post(&lb.url(CHAT)).await, "x-oai-lb-backend"), "b", "a broken file keeps the last good config");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_stops_accepting() {
    let slow =
        Backend::always(|| Reply::Delay(Duration::from_millis(400), Box::new(Reply::ok("{\"done\":true}")))).await;
    let mut lb = Balancer::start(&backends_toml(&[("slow", &slow.url(), 1)])).await;
    let url = lb.url(CHAT);
    let in_flight = tokio::spawn(async move { post(&url).await });
    while slow.count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lb.stop();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200, "the request in flight finished");
    assert_eq!(response.text().await.unwrap(), "{\"done\":true}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(support::client().post(lb.url(CHAT)).body("{}").send().await.is_err(), "no new connections after shutdown");
}
