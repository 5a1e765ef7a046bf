//! `oai-lb probe` against `oai-lb serve` in front of simulated backends, and `oai-lb demo`:
//! per-backend counts match what the backends saw, and spill-over costs the client nothing.

mod support;

use std::process::{Command, Output};

use oai_lb::sim::{self, SimOptions};
use support::Balancer;

async fn oai_lb(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(assert_cmd::cargo::cargo_bin!("oai-lb")).args(args).output().expect("runs")
    })
    .await
    .unwrap()
}

fn row<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["backends"].as_array().unwrap().iter().find(|b| b["name"] == name).unwrap_or(&serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_through_the_balancer_attributes_every_answer_to_its_backend() {
    let ptu = sim::spawn(SimOptions { name: "ptu".into(), rpm: 60, ..SimOptions::default() }).await.unwrap();
    let paygo = sim::spawn(SimOptions { name: "paygo".into(), ..SimOptions::default() }).await.unwrap();
    let lb = Balancer::start(&support::backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])).await;
    let target = lb.url("");
    let out = oai_lb(&["probe", "--target", &target, "--rps", "40", "--duration", "1s", "--output", "json"]).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["errors"], 0, "spill-over is invisible to the client: {json}");
    for sim in [&ptu, &paygo] {
        assert_eq!(row(&json, sim.name())["status_2xx"], sim.stats().ok, "{} in {json}", sim.name());
        let s = sim.stats();
        assert_eq!(row(&json, sim.name())["tokens"], s.prompt_tokens + s.completion_tokens, "{json}");
    }
    assert!(row(&json, "paygo")["tpm"].as_f64().unwrap() > 0.0, "{json}");
    assert!(ptu.stats().ok <= 10, "priority 1 serves at most its 10-second budget");
    assert!(paygo.stats().ok > 0, "the rest spilled to priority 2");
    assert_eq!(json["requests"], ptu.stats().ok + paygo.stats().ok);
    // The JSON lists the backends as the table does: by the balancer's priority, with it and
    // each backend's state.
    let listed: Vec<(&str, u64, &str)> = json["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap(), b["priority"].as_u64().unwrap(), b["state"].as_str().unwrap()))
        .collect();
    assert_eq!(listed.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(), [("ptu", 1), ("paygo", 2)], "{json}");
    assert!(listed.iter().all(|b| ["ok", "cooling"].contains(&b.2)), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_spills_over_without_client_errors() {
    let out = oai_lb(&["demo", "--duration", "2s", "--rps", "20", "--primary-rpm", "60", "--output", "json"]).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["errors"], 0, "{json}");
    let primary = row(&json, "ptu-eastus")["status_2xx"].as_u64().unwrap();
    assert!((1..=10).contains(&primary), "priority 1 serves its window budget: {json}");
    let spilled: u64 =
        ["paygo-westus", "paygo-swedencentral"].iter().map(|n| row(&json, n)["status_2xx"].as_u64().unwrap_or(0)).sum();
    assert!(spilled > 0, "{json}");
    assert!(!out.stdout.contains(&0x1b));
}
