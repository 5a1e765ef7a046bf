//! The official openai Python SDK, unchanged, against `oai-lb serve` in front of three
//! simulated Azure OpenAI deployments whose priority-1 member has a small quota.

mod support;

use oai_lb::sim::{self, SimOptions};
use support::Balancer;

#[tokio::test]
async fn the_openai_sdk_sees_no_429_while_spill_over_has_capacity() {
    let python_ok =
        std::process::Command::new("python3").args(["-c", "import openai"]).status().is_ok_and(|s| s.success());
    assert!(python_ok, "this test needs the openai Python SDK: pip install openai (scripts/test installs it)");

    let sim = |name: &str, rpm: u64| SimOptions {
        name: name.into(),
        rpm,
        tpm: 10_000_000,
        api_key: Some("backend-key".into()),
        stream_chunks: 4,
        ..SimOptions::default()
    };
    let ptu = sim::spawn(sim("ptu", 60)).await.unwrap(); // 10 requests per 10 s per deployment
    let west = sim::spawn(sim("west", 60_000)).await.unwrap();
    let north = sim::spawn(sim("north", 60_000)).await.unwrap();
    // SAFETY: set before the balancer reads them; names unique to this test binary.
    unsafe {
        std::env::set_var("SDK_TEST_CLIENT_KEYS", "client-key");
        std::env::set_var("SDK_TEST_BACKEND_KEY", "backend-key");
    }
    let backend = |name: &str, url: String, priority: u32| {
        format!(
            "[[backends]]\nname = \"{name}\"\nurl = \"{url}\"\npriority = {priority}\nauth = \"api-key\"\napi_key_env = \"SDK_TEST_BACKEND_KEY\"\n"
        )
    };
    let toml = format!(
        "[balancer]\nclient_keys_env = \"SDK_TEST_CLIENT_KEYS\"\n{}{}{}",
        backend("ptu", ptu.url(), 1),
        backend("west", west.url(), 2),
        backend("north", north.url(), 2)
    );
    let lb = Balancer::start(&toml).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_sdk.py");
    let out = tokio::process::Command::new("python3")
        .args([script, &format!("http://{}", lb.addr), "client-key"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "SDK script failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["errors"], serde_json::json!([]), "client-visible errors: {report}");
    assert_eq!(report["calls"], 60);

    let (p, w, n) = (ptu.stats(), west.stats(), north.stats());
    assert_eq!(p.ok + w.ok + n.ok, 60, "every call served exactly once: {p:?} {w:?} {n:?}");
    // Two deployments (chat, embeddings), 10 requests per 10 s each: priority 1 serves up to
    // its quota before anything spills over.
    assert!(p.ok >= 20, "priority 1 served {} (its capacity is 20 in a window)", p.ok);
    assert!(w.ok > 0 && n.ok > 0, "spill-over spreads over both priority-2 backends: {w:?} {n:?}");
    assert_eq!(p.unauthorized + w.unauthorized + n.unauthorized, 0, "backends got the backend key");
}
