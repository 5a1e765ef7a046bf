//! `oai-lb serve --log-format json`, run as a user runs it: one JSON object per proxied
//! request on stderr, stable field names, and never a key.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use oai_lb::sim::{self, SimOptions};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_json_object_per_request_with_stable_fields_and_no_secrets() {
    let sim = sim::spawn(SimOptions {
        name: "east".into(),
        api_key: Some("backend-secret-key".into()),
        stream_chunks: 3,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oai-lb.toml");
    std::fs::write(
        &config,
        format!(
            "[balancer]\nclient_keys_env = \"LOG_TEST_CLIENT_KEYS\"\nstream_usage = \"inject\"\n\
             [[backends]]\nname = \"east\"\nurl = \"{}\"\nauth = \"api-key\"\napi_key_env = \"LOG_TEST_BACKEND_KEY\"\n",
            sim.url()
        ),
    )
    .unwrap();
    let listen = support::dead_url().await.trim_start_matches("http://").to_string();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("oai-lb"))
        .args(["serve", "--log-format", "json", "--workers", "1", "--listen", &listen, "--config"])
        .arg(&config)
        .env("LOG_TEST_CLIENT_KEYS", "client-secret-key")
        .env("LOG_TEST_BACKEND_KEY", "backend-secret-key")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let client = support::client();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "oai-lb serve did not come up");

    let chat = format!("{base}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
    let ask = |stream: bool| {
        client
            .post(&chat)
            .header("api-key", "client-secret-key")
            .json(&serde_json::json!({ "messages": [{ "role": "user", "content": "hello" }], "max_tokens": 4, "stream": stream }))
            .send()
    };
    assert!(ask(false).await.unwrap().text().await.unwrap().contains("\"usage\""));
    assert!(ask(true).await.unwrap().text().await.unwrap().ends_with("data: [DONE]\n\n"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let lines: Vec<String> = stderr.lines().map_while(Result::ok).collect();
    let _ = child.wait();

    let mut access = Vec::new();
    for line in &lines {
        let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(!line.contains("secret-key"), "a key in the log: {line}");
        if record["target"] == "oai_lb::access" {
            access.push(record);
        }
    }
    assert_eq!(access.len(), 2, "one line per request: {lines:#?}");
    for (record, stream) in access.iter().zip([false, true]) {
        for field in [
            "timestamp",
            "level",
            "message",
            "method",
            "path",
            "deployment",
            "backend",
            "status",
            "attempts",
            "latency_ms",
            "duration_ms",
            "bytes",
            "prompt_tokens",
            "completion_tokens",
        ] {
            assert!(record.get(field).is_some(), "{field} missing (stream {stream}): {record}");
        }
        assert_eq!(record["path"], "/openai/deployments/gpt-4o/chat/completions");
        assert_eq!((record["backend"].as_str(), record["status"].as_u64()), (Some("east"), Some(200)));
    }
    let s = sim.stats();
    let logged = |k: &str| access.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((logged("prompt_tokens"), logged("completion_tokens")), (s.prompt_tokens, s.completion_tokens));
}

/// Runs `oai-lb serve` with `config` in `format`, lets `drive` send requests to its base
/// URL, and returns the access lines as field maps (a text line's `key=value` pairs).
async fn access_lines<F, Fut>(format: &str, config: &str, drive: F) -> Vec<serde_json::Map<String, Value>>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, config).unwrap();
    let listen = support::dead_url().await.trim_start_matches("http://").to_string();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("oai-lb"))
        .args(["serve", "--log-format", format, "--workers", "1", "--listen", &listen, "--config"])
        .arg(&path)
        .env("LOG_TEST_CLIENT_KEYS", "client-secret-key")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let mut up = false;
    for _ in 0..100 {
        if support::client().get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "oai-lb serve did not come up");
    drive(base).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let lines: Vec<String> = stderr.lines().map_while(Result::ok).collect();
    let _ = child.wait();
    let text_field = regex_free_pairs;
    lines
        .iter()
        .filter_map(|line| {
            assert!(!line.contains("secret-key"), "a key in the log: {line}");
            if format == "json" {
                let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                (record["target"] == "oai_lb::access").then(|| record.as_object().unwrap().clone())
            } else {
                line.contains(" status=").then(|| text_field(line))
            }
        })
        .collect()
}

/// `key=value` and `key="value"` pairs of a text log line.
fn regex_free_pairs(line: &str) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    let mut rest = line;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].rsplit(' ').next().unwrap_or_default().to_string();
        let after = &rest[eq + 1..];
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap_or(quoted.len());
                (quoted[..end].to_string(), &quoted[(end + 1).min(quoted.len())..])
            }
            None => {
                let end = after.find(' ').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        let value = value.parse::<u64>().map(Value::from).unwrap_or(Value::String(value));
        fields.insert(key, value);
        rest = next;
    }
    fields
}

/// Sends a request head and part of its body, then waits `wait` and returns the status the
/// balancer answered with (0 if none).
async fn partial_body(base: &str, declared: usize, sent: usize, wait: Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 HTTP/1.1\r\nhost: {addr}\r\napi-key: client-secret-key\r\ncontent-length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(wait, stream.read(&mut answer)).await;
    match read {
        Ok(Ok(n)) if n >= 12 => String::from_utf8_lossy(&answer[9..12]).parse().unwrap_or(0),
        _ => 0,
    }
}

/// Every request leaves an access line with the same fields, proxied or not: refusals
/// (401 client key, 413, 503 buffer budget, 408 slow body), the all-cooling 429 and a
/// backend's last failure returned as is; in both formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_local_answers_leave_an_access_line_in_both_formats() {
    let failing = support::Backend::always(|| support::Reply::status(500)).await;
    let config = format!(
        "[balancer]\nclient_keys_env = \"LOG_TEST_CLIENT_KEYS\"\nmax_body_bytes = 1024\nmax_buffered_bytes = 1024\nclient_body_timeout_secs = 1.5\n{}",
        support::backends_toml(&[("flaky", &failing.url(), 1)])
    );
    for format in ["json", "text"] {
        let lines = access_lines(format, &config, |base| async move {
            let client = support::client();
            let chat = format!("{base}{}", support::CHAT);
            let post = |key: &'static str, body: Vec<u8>| client.post(&chat).header("api-key", key).body(body).send();
            assert_eq!(post("wrong-key", b"{}".to_vec()).await.unwrap().status(), 401);
            assert_eq!(post("client-secret-key", vec![b' '; 2000]).await.unwrap().status(), 413);
            // One request holds 1000 of the 1024 buffered bytes while its body is late; the
            // next one's 100 bytes do not fit (503); the first then times out (408).
            let slow_base = base.clone();
            let slow = tokio::spawn(async move { partial_body(&slow_base, 1024, 1000, Duration::from_secs(5)).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(post("client-secret-key", vec![b' '; 100]).await.unwrap().status(), 503);
            assert_eq!(slow.await.unwrap(), 408);
            // The only backend fails: its own answer is returned, then it is cooling (429).
            let failed = post("client-secret-key", b"{}".to_vec()).await.unwrap();
            assert_eq!((failed.status().as_u16(), support::header(&failed, "x-oai-lb-backend")), (500, "flaky"));
            failed.bytes().await.unwrap();
            assert_eq!(post("client-secret-key", b"{}".to_vec()).await.unwrap().status(), 429);
        })
        .await;
        let statuses: Vec<u64> = lines.iter().map(|l| l["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [401, 413, 503, 408, 500, 429], "{format}: {lines:#?}");
        for line in &lines {
            for field in
                ["method", "path", "deployment", "backend", "status", "attempts", "latency_ms", "duration_ms", "bytes"]
            {
                assert!(line.get(field).is_some(), "{format}: {field} missing: {line:?}");
            }
            assert_eq!(line["path"], "/openai/deployments/gpt-4o/chat/completions", "{format}");
            assert_eq!(line["deployment"], "gpt-4o", "{format}");
        }
        let reasons: Vec<&str> = lines.iter().filter_map(|l| l.get("reason")?.as_str()).collect();
        assert_eq!(
            reasons,
            ["client_key", "body_too_large", "buffer_budget", "body_timeout", "all_cooling"],
            "{format}"
        );
        assert_eq!((lines[4]["backend"].as_str(), lines[4]["attempts"].as_u64()), (Some("flaky"), Some(1)), "{format}");
    }
}

/// A keyless balancer refuses a foreign `Host` (DNS rebinding) and logs it like any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_refusal_leaves_an_access_line() {
    let backend = support::Backend::always(|| support::Reply::ok("{}")).await;
    let config = support::backends_toml(&[("east", &backend.url(), 1)]);
    for format in ["json", "text"] {
        let lines = access_lines(format, &config, |base| async move {
            let resp = support::client()
                .post(format!("{base}{}", support::CHAT))
                .header("host", "evil.example")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403);
        })
        .await;
        assert_eq!(lines.len(), 1, "{format}: {lines:#?}");
        assert_eq!((lines[0]["status"].as_u64(), lines[0]["reason"].as_str()), (Some(403), Some("host")), "{format}");
        assert_eq!(lines[0]["backend"], "", "{format}");
    }
    assert_eq!(backend.count(), 0);
}
