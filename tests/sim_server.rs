//! The simulator over a real socket: limits, auth, bodies and streaming as a client sees them.

use std::time::{Duration, Instant};

use oai_lb::sim::{self, SimOptions, SimStats};

const CHAT: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

fn chat_body(stream: bool) -> serde_json::Value {
    serde_json::json!({ "messages": [{ "role": "user", "content": "Say hello" }], "max_tokens": 4, "stream": stream })
}

#[tokio::test]
async fn offered_rate_above_the_limit_is_throttled_within_the_implied_bounds() {
    // 60 rpm = 10 requests per 10 s window; 40 requests offered within one window.
    let server = sim::spawn(SimOptions { rpm: 60, ..SimOptions::default() }).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{CHAT}", server.url());
    let started = Instant::now();
    let mut ok = 0;
    let mut throttled = 0;
    for _ in 0..40 {
        let resp = client.post(&url).json(&chat_body(false)).send().await.unwrap();
        assert!(resp.headers().contains_key("x-ratelimit-remaining-requests"));
        assert!(resp.headers().contains_key("x-ratelimit-remaining-tokens"));
        match resp.status().as_u16() {
            200 => ok += 1,
            429 => {
                throttled += 1;
                let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                let retry_ms: u64 = resp.headers()["retry-after-ms"].to_str().unwrap().parse().unwrap();
                assert!((1..=10).contains(&retry), "Retry-After {retry}");
                assert!(retry_ms > 0 && retry_ms <= 10_000 && retry_ms.div_ceil(1000).max(1) == retry);
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["error"]["code"], "429");
                let msg = body["error"]["message"].as_str().unwrap();
                assert!(msg.contains("ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21"));
            }
            s => panic!("unexpected status {s}"),
        }
    }
    // Within one 10 s window exactly the window budget passes; across a boundary at most twice it.
    let windows = started.elapsed().as_secs() / 10 + 1;
    assert!(ok >= 10 && ok <= 10 * windows, "ok {ok}");
    assert_eq!(ok + throttled, 40);
    // Another deployment has its own limits.
    let other = format!("{}/openai/v1/chat/completions", server.url());
    let body = serde_json::json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(client.post(&other).json(&body).send().await.unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(
        stats,
        SimStats {
            requests: 41,
            ok: ok + 1,
            throttled,
            prompt_tokens: stats.prompt_tokens,
            completion_tokens: stats.completion_tokens,
            ..SimStats::default()
        }
    );
    assert!(stats.completion_tokens > ok, "every answer has at least one word: {stats:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn token_limit_counts_prompt_and_max_tokens_and_limits_change_at_runtime() {
    // 600 tpm = 100 tokens per window; each request costs 1 (prompt) + 40 (max_tokens).
    let server = sim::spawn(SimOptions { tpm: 600, ..SimOptions::default() }).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/openai/deployments/d/completions", server.url());
    let body = serde_json::json!({ "prompt": "hi", "max_tokens": 40 });
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(client.post(&url).json(&body).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    server.set_limits(60_000, 600_000);
    let resp = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["object"], "text_completion");
    assert_eq!(json["usage"]["prompt_tokens"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn requests_without_the_key_get_azures_401() {
    let server = sim::spawn(SimOptions { api_key: Some("s3cret".into()), ..SimOptions::default() }).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}{CHAT}", server.url());
    let resp = client.post(&url).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "401");
    let wrong = client.post(&url).header("api-key", "nope").json(&chat_body(false)).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let by_key = client.post(&url).header("api-key", "s3cret").json(&chat_body(false)).send().await.unwrap();
    assert_eq!(by_key.status(), 200);
    let by_bearer = client.post(&url).bearer_auth("s3cret").json(&chat_body(false)).send().await.unwrap();
    assert_eq!(by_bearer.status(), 200);
    let json: serde_json::Value = by_bearer.json().await.unwrap();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["choices"][0]["message"]["role"], "assistant");
    assert_eq!(json["usage"]["completion_tokens"], 4);
    assert_eq!(server.stats().unauthorized, 2);
    assert_eq!(server.stats().ok, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn streams_arrive_chunk_by_chunk_and_end_with_done() {
    let opts = SimOptions { stream_chunks: 5, chunk_interval: Duration::from_millis(60), ..SimOptions::default() };
    let server = sim::spawn(opts).await.unwrap();
    let mut resp =
        reqwest::Client::new().post(format!("{}{CHAT}", server.url())).json(&chat_body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        arrivals.push(Instant::now());
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 6, "{text}");
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    for e in &events[..5] {
        let v: serde_json::Value = serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
    }
    // Not buffered: the chunks came in separate reads spread over the intervals.
    assert!(arrivals.len() >= 5, "{} reads", arrivals.len());
    assert!(*arrivals.last().unwrap() - arrivals[0] >= Duration::from_millis(180));
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults_give_500s_and_cut_streams() {
    let server = sim::spawn(SimOptions { error_rate: 1.0, ..SimOptions::default() }).await.unwrap();
    let client = reqwest::Client::new();
    let resp = client.post(format!("{}{CHAT}", server.url())).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(server.stats().errors, 1);
    server.shutdown().await;

    let server = sim::spawn(SimOptions { reset_rate: 1.0, stream_chunks: 6, ..SimOptions::default() }).await.unwrap();
    let resp = client.post(format!("{}{CHAT}", server.url())).json(&chat_body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await;
    assert!(body.is_err(), "a reset stream must not complete: {body:?}");
    assert_eq!(server.stats().resets, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn embeddings_and_unknown_paths() {
    let server = sim::spawn(SimOptions::default()).await.unwrap();
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/openai/deployments/emb/embeddings", server.url()))
        .json(&serde_json::json!({ "input": ["a", "b"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["data"].as_array().unwrap().len(), 2);
    assert_eq!(json["data"][1]["embedding"].as_array().unwrap().len(), 8);
    let missing = client.post(format!("{}/nope", server.url())).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(server.stats().requests, 1, "unknown paths are not API calls");
    let models: serde_json::Value =
        client.get(format!("{}/openai/models", server.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "emb");
    server.shutdown().await;
}
