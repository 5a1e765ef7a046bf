//! `oai-lb probe` as a user runs it, against simulated backends spawned here.

use std::process::{Command, Output};

use oai_lb::sim::{self, SimOptions};

/// Runs the binary off the async runtime so the simulator keeps serving meanwhile.
async fn oai_lb(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(assert_cmd::cargo::cargo_bin!("oai-lb")).args(args).output().expect("runs")
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_counts_equal_what_the_simulator_saw() {
    let server = sim::spawn(SimOptions { rpm: 120, ..SimOptions::default() }).await.unwrap();
    let url = server.url();
    let out = oai_lb(args(&[
        "probe",
        "--target",
        &url,
        "--rps",
        "unlimited",
        "--concurrency",
        "3",
        "--duration",
        "1s",
        "--output",
        "json",
    ]))
    .await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stats = server.stats();
    assert!(stats.requests > 20 && stats.throttled > 0, "{stats:?}");
    assert_eq!(json["target"], url);
    assert_eq!(json["requests"], stats.requests);
    assert_eq!(json["ok"], stats.ok);
    assert_eq!(json["client_429"], stats.throttled);
    assert_eq!(json["no_response"], 0);
    assert_eq!(json["errors"], stats.throttled + stats.errors);
    let backends = json["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 1);
    assert_eq!(backends[0]["name"], url.trim_start_matches("http://"));
    assert_eq!(backends[0]["status_2xx"], stats.ok);
    assert_eq!(backends[0]["status_429"], stats.throttled);
    assert_eq!(backends[0]["share"], 1.0);
    for key in ["duration_secs", "error_rate", "rps"] {
        assert!(json[key].is_f64(), "{key}");
    }
    assert!(json["latency_ms"]["p99"].as_f64().unwrap() >= json["latency_ms"]["p50"].as_f64().unwrap());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_rate_is_modest_and_unlimited_is_asked_for() {
    let server = sim::spawn(SimOptions::default()).await.unwrap();
    let url = server.url();
    let out = oai_lb(args(&["probe", "--target", &url, "--duration", "2s", "--output", "json"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let requests = json["requests"].as_u64().unwrap();
    assert!((12..=22).contains(&requests), "10 rps for 2 s, not as fast as it answers: {requests}");
    assert_eq!(server.stats().requests, requests);

    // --concurrency alone would drive as fast as the target answers: it needs the explicit choice.
    let out = oai_lb(args(&["probe", "--target", &url, "--concurrency", "3", "--duration", "1s"])).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: --concurrency") && err.contains("fix: add --rps unlimited"), "{err}");
    assert_eq!(server.stats().requests, requests, "nothing sent");
    let out = oai_lb(args(&["probe", "--target", &url, "--rps", "fast"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("or `unlimited`"));

    let out =
        oai_lb(args(&["probe", "--target", &url, "--rps", "unlimited", "--duration", "1s", "--output", "json"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["requests"].as_u64().unwrap() > 30, "as fast as it answers: {json}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answered_fails_whatever_the_error_threshold() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = format!("http://127.0.0.1:{port}");
    let out = oai_lb(args(&[
        "probe",
        "--target",
        &target,
        "--duration",
        "500ms",
        "--max-error-rate",
        "1",
        "--output",
        "json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let requests = json["requests"].as_u64().unwrap();
    assert!(requests > 0 && json["no_response"] == requests, "{json}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().last().unwrap(),
        format!(
            "error: {target} never answered: none of {requests} requests got a response (fix: check --target, and that the endpoint runs and is reachable)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_gates_on_the_error_rate() {
    // 6 rpm = 1 request per 10 s: nearly everything is a 429.
    let tiny = sim::spawn(SimOptions { rpm: 6, ..SimOptions::default() }).await.unwrap();
    let base = ["probe", "--target", &tiny.url(), "--rps", "20", "--duration", "500ms", "--output", "json"];
    let out = oai_lb(args(&[&base[..], &["--max-error-rate", "0.5"]].concat())).await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("above --max-error-rate"));
    let out = oai_lb(args(&base)).await;
    assert_eq!(out.status.code(), Some(0), "the default threshold never fails");
    tiny.shutdown().await;

    let healthy = sim::spawn(SimOptions::default()).await.unwrap();
    let out =
        oai_lb(args(&["probe", "--target", &healthy.url(), "--duration", "300ms", "--max-error-rate", "0"])).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    healthy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_on_a_pipe_prints_plain_tables() {
    let key = "probe-test-key";
    let server = sim::spawn(SimOptions { api_key: Some(key.into()), ..SimOptions::default() }).await.unwrap();
    let out = tokio::task::spawn_blocking({
        let url = server.url();
        move || {
            Command::new(assert_cmd::cargo::cargo_bin!("oai-lb"))
                .args(["probe", "--target", &url, "--watch", "--stream", "--duration", "2200ms"])
                .args(["--api-key-env", "PROBE_TEST_KEY"])
                .env("PROBE_TEST_KEY", key)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains('\x1b'), "escape codes on a pipe: {stdout:?}");
    // Live frames once a second, then the summary.
    assert!(stdout.matches("BACKEND").count() >= 2, "{stdout}");
    assert!(!stdout.contains(key));
    assert_eq!(server.stats().unauthorized, 0);
    assert!(server.stats().ok > 0);
    server.shutdown().await;
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("oai-lb"))
        .args(["probe", "--target", "not a url", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--target"));
}
