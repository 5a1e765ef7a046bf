//! Token usage read by the balancer from real answers of the simulator (JSON bodies and SSE
//! streams), checked against the simulator's own counters, and the `stream_usage = "inject"`
//! mode seen by a raw client and by the openai Python SDK.

mod support;

use oai_lb::sim::{self, SimOptions, SimServer};
use serde_json::{Value, json};
use support::{Balancer, client};

const CHAT: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
const EMBED: &str = "/openai/deployments/emb/embeddings?api-version=2024-10-21";

async fn simulator(name: &str) -> SimServer {
    let opts = SimOptions {
        name: name.into(),
        rpm: 1_000_000,
        tpm: 100_000_000,
        stream_chunks: 5,
        chunk_interval: std::time::Duration::from_millis(1),
        ..SimOptions::default()
    };
    sim::spawn(opts).await.unwrap()
}

async fn balancer(sim: &SimServer, extra: &str) -> Balancer {
    Balancer::start(&format!("[balancer]\n{extra}\n[[backends]]\nname = \"east\"\nurl = \"{}\"\n", sim.url())).await
}

/// Sends one request and reads the whole answer.
async fn call(lb: &Balancer, path: &str, body: Value) -> String {
    let resp = client().post(lb.url(path)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// (prompt, completion) tokens the balancer reports for a backend, summed over deployments,
/// from `/lb/backends`, and checked against the same numbers in `/metrics`.
async fn balancer_tokens(lb: &Balancer) -> (u64, u64) {
    let state: Value = client().get(lb.url("/lb/backends")).send().await.unwrap().json().await.unwrap();
    let tokens = state["backends"][0]["tokens"].as_array().unwrap().clone();
    let sum = |k: &str| tokens.iter().map(|t| t[k].as_u64().unwrap()).sum::<u64>();
    let (prompt, completion) = (sum("prompt_tokens"), sum("completion_tokens"));
    let metrics = client().get(lb.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let scraped = |kind: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with("oai_lb_tokens_total{") && l.contains(&format!("kind=\"{kind}\"")))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!((scraped("prompt"), scraped("completion")), (prompt, completion), "{metrics}");
    (prompt, completion)
}

fn chat(stream: bool, include_usage: Option<bool>) -> Value {
    let mut body = json!({ "messages": [{ "role": "user", "content": "count my tokens please" }], "max_tokens": 7 });
    if stream {
        body["stream"] = json!(true);
    }
    if let Some(asked) = include_usage {
        body["stream_options"] = json!({ "include_usage": asked });
    }
    body
}

#[tokio::test]
async fn json_and_streams_that_ask_for_usage_are_counted_exactly() {
    let sim = simulator("east").await;
    let lb = balancer(&sim, "").await;
    for _ in 0..3 {
        call(&lb, CHAT, chat(false, None)).await;
        call(&lb, EMBED, json!({ "input": ["one input", "another, longer input"] })).await;
        let text = call(&lb, CHAT, chat(true, Some(true))).await;
        assert!(text.contains("\"choices\":[],"), "a client that asked gets the usage chunk: {text}");
    }
    let s = sim.stats();
    assert!(s.prompt_tokens > 0 && s.completion_tokens > 0);
    assert_eq!(balancer_tokens(&lb).await, (s.prompt_tokens, s.completion_tokens));

    let state: Value = client().get(lb.url("/lb/backends")).send().await.unwrap().json().await.unwrap();
    let deployments: Vec<&str> =
        state["backends"][0]["tokens"].as_array().unwrap().iter().map(|t| t["deployment"].as_str().unwrap()).collect();
    assert_eq!(deployments, ["emb", "gpt-4o"]);

    // Without include_usage (and without inject) a stream reports nothing to count.
    let before = balancer_tokens(&lb).await;
    call(&lb, CHAT, chat(true, None)).await;
    assert!(sim.stats().completion_tokens > s.completion_tokens);
    assert_eq!(balancer_tokens(&lb).await, before);
}

#[tokio::test]
async fn inject_counts_every_stream_and_hides_the_chunk_from_clients_that_did_not_ask() {
    let sim = simulator("east").await;
    let lb = balancer(&sim, "stream_usage = \"inject\"").await;

    let plain = call(&lb, CHAT, chat(true, None)).await;
    assert!(!plain.contains("\"usage\":{"), "the injected usage chunk reached the client: {plain}");
    assert!(plain.ends_with("data: [DONE]\n\n"), "{plain}");
    assert_eq!(plain.matches("data: ").count(), 5 + 1, "every word chunk and [DONE]: {plain}");
    let declined = call(&lb, CHAT, chat(true, Some(false))).await;
    assert!(!declined.contains("\"usage\":{"), "{declined}");
    let asked = call(&lb, CHAT, chat(true, Some(true))).await;
    assert!(
        asked.contains("\"choices\":[],") && asked.contains("\"usage\":{"),
        "a client that asked keeps it: {asked}"
    );
    call(&lb, CHAT, chat(false, None)).await;

    let s = sim.stats();
    assert_eq!(balancer_tokens(&lb).await, (s.prompt_tokens, s.completion_tokens));
}

#[tokio::test]
async fn the_openai_sdk_never_sees_the_injected_chunk() {
    let python_ok =
        std::process::Command::new("python3").args(["-c", "import openai"]).status().is_ok_and(|s| s.success());
    assert!(python_ok, "this test needs the openai Python SDK: pip install openai (scripts/test installs it)");
    let sim = simulator("east").await;
    let lb = balancer(&sim, "stream_usage = \"inject\"").await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/stream_usage.py");
    let out = tokio::process::Command::new("python3")
        .args([script, &format!("http://{}", lb.addr), "unused"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "SDK script failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["plain"]["no_choices"], 0, "{report}");
    assert_eq!(report["plain"]["usage"], Value::Null, "{report}");
    assert_eq!(report["plain"]["chunks"], 5, "{report}");
    assert_eq!(report["asked"]["no_choices"], 1, "{report}");
    assert!(report["asked"]["usage"]["completion_tokens"].as_u64() == Some(5), "{report}");
    assert_eq!(report["plain"]["text"], report["asked"]["text"]);

    let s = sim.stats();
    assert_eq!(balancer_tokens(&lb).await, (s.prompt_tokens, s.completion_tokens));
}
