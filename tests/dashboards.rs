//! The Grafana dashboard and the alert rules in `dashboards/`, against the real thing:
//! `promtool` checks and unit-tests the rules, and a real Prometheus scrapes `oai-lb serve`
//! (in front of simulated backends) and runs every dashboard and rule query.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oai_lb::sim::{self, SimOptions};
use serde_json::Value;
use support::{Balancer, client};

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn need(tool: &str) {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "this test needs {tool} (Debian package `prometheus`; scripts/test installs it)");
}

fn promtool(args: &[&str]) {
    need("promtool");
    let out = Command::new("promtool").args(args).current_dir(dashboards()).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    promtool(&["check", "rules", "oai-lb.rules.yml"]);
    promtool(&["test", "rules", "oai-lb.rules.test.yml"]);
}

/// Every PromQL expression of the dashboard and the rules, with Grafana's variables filled
/// in the way Grafana would.
fn queries() -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(dashboards().join("oai-lb.json")).unwrap()).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() >= 15, "{exprs:?}");
    let rules = std::fs::read_to_string(dashboards().join("oai-lb.rules.yml")).unwrap();
    let mut rule_exprs = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else { continue };
        let rest = rest.trim();
        if rest == "|" {
            let mut block = String::new();
            while let Some(next) = lines.peek().filter(|l| l.starts_with("          ")) {
                block.push_str(next.trim());
                block.push(' ');
                lines.next();
            }
            rule_exprs.push(block);
        } else {
            rule_exprs.push(rest.to_string());
        }
    }
    assert!(rule_exprs.len() >= 3, "{rule_exprs:?}");
    exprs.extend(rule_exprs);
    exprs
        .into_iter()
        .map(|e| e.replace("$__rate_interval", "20s").replace("\"$job\"", "\".*\"").replace("\"$instance\"", "\".*\""))
        .collect()
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("oai_lb_") {
        let name: String = rest[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[i + name.len()..];
        names.insert(name);
    }
    names
}

fn query_url(api: &str, query: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(api, &[("query", query)]).unwrap()
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_rule_query_runs_against_a_real_scrape() {
    need("prometheus");
    let ptu = sim::spawn(SimOptions { name: "ptu".into(), rpm: 6, ..SimOptions::default() }).await.unwrap();
    let paygo = sim::spawn(SimOptions { name: "paygo".into(), ..SimOptions::default() }).await.unwrap();
    let dead_redis = support::dead_url().await.replace("http://", "redis://");
    let toml = format!(
        "[balancer.shared_state]\nurl = \"{dead_redis}\"\n{}",
        support::backends_toml(&[("ptu", &ptu.url(), 1), ("paygo", &paygo.url(), 2)])
    );
    let lb = Balancer::start(&toml).await;
    let traffic = |n: usize| {
        let url = lb.url(support::CHAT);
        async move {
            for i in 0..n {
                let body = if i % 3 == 0 {
                    serde_json::json!({ "messages": [{ "role": "user", "content": "hi" }], "stream": true, "stream_options": { "include_usage": true } })
                } else {
                    serde_json::json!({ "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 3 })
                };
                let resp = client().post(&url).json(&body).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap();
            }
        }
    };
    traffic(12).await;

    // What /metrics exposes: every metric the dashboard and the rules name is there, and the
    // exposition passes promtool's checks.
    let scrape = client().get(lb.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let exposed: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let queries = queries();
    for q in &queries {
        for name in metric_names(q) {
            assert!(exposed.contains(&name), "{name} (in `{q}`) is not in /metrics:\n{scrape}");
        }
    }
    for name in ["oai_lb_tokens_total", "oai_lb_backend_info", "oai_lb_shared_state_up", "oai_lb_failovers_total"] {
        assert!(exposed.contains(name), "{name}");
    }
    need("promtool");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), scrape.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus scrapes the balancer every 250 ms; every query must return series.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 250ms\n  evaluation_interval: 250ms\nscrape_configs:\n  - job_name: oai-lb\n    static_configs:\n      - targets: [\"{}\"]\n",
            lb.addr
        ),
    )
    .unwrap();
    let web = support::dead_url().await.trim_start_matches("http://").to_string();
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://{web}/api/v1/query");
    let mut scraped = false;
    for _ in 0..120 {
        traffic(1).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let up = client().get(query_url(&api, "count_over_time(up{job=\"oai-lb\"}[1m]) >= 8")).send().await;
        if let Ok(resp) = up
            && let Ok(v) = resp.json::<Value>().await
            && !v["data"]["result"].as_array().is_none_or(Vec::is_empty)
        {
            scraped = true;
            break;
        }
    }
    assert!(scraped, "Prometheus did not scrape oai-lb");
    for q in &queries {
        let v: Value = client().get(query_url(&api, q)).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["status"], "success", "`{q}`: {v}");
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        // An alert expression is empty while all is well; the dashboard's must show data.
        let is_alert = q.contains("> 0") || q.contains("== 0");
        if is_alert {
            continue;
        }
        assert!(!result.is_empty(), "no data for `{q}`");
    }
    // The shared-state alert is live: Redis is unreachable here.
    let down = queries.iter().find(|q| q.contains("oai_lb_shared_state_up == 0")).unwrap();
    let v: Value = client().get(query_url(&api, down)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(1), "{v}");
}
