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
