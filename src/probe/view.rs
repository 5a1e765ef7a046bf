//! The live per-backend table of `probe --watch` and the final summary table. A pure
//! renderer: it returns a frame as text and never prints; the CLI decides how to draw it.

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, ContentArrangement, Table};
use serde::Serialize;

use super::balancer::LbBackend;
use super::stats::{BackendSummary, Latency, Summary};

/// A backend's throttle state as the balancer reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum State {
    Ok,
    /// Cooling down for this many more seconds (the longest of its deployments).
    Cooling(u64),
    /// The target is not an oai-lb balancer, so the state is not known.
    Unknown,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub priority: Option<u32>,
    pub state: State,
    pub requests: u64,
    pub status_2xx: u64,
    pub status_429: u64,
    pub status_5xx: u64,
    pub share: f64,
    /// Tokens per minute the backend's answers reported.
    pub tpm: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Everything one frame shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub target: String,
    pub elapsed_secs: f64,
    pub rps: f64,
    pub requests: u64,
    pub error_rate: f64,
    pub client_429: u64,
    pub rows: Vec<Row>,
}

impl Snapshot {
    /// Joins the client's view (`summary`) with the balancer's (`balancer`, when the target
    /// is oai-lb): balancer backends come first in priority order, even before they have
    /// answered anything; backends only the client saw follow.
    pub fn new(summary: &Summary, balancer: Option<&[LbBackend]>) -> Snapshot {
        let mut rows = Vec::new();
        let mut lb: Vec<&LbBackend> = balancer.unwrap_or_default().iter().collect();
        lb.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        for b in &lb {
            let seen = summary.backends.iter().find(|s| s.name == b.name);
            let cooling = b.cooldowns.iter().map(|c| c.seconds_left).fold(0.0_f64, f64::max);
            rows.push(Row {
                name: b.name.clone(),
                priority: Some(b.priority),
                state: if cooling > 0.0 { State::Cooling(cooling.ceil() as u64) } else { State::Ok },
                requests: seen.map_or(0, |s| s.requests),
                status_2xx: seen.map_or(0, |s| s.status_2xx),
                status_429: seen.map_or(0, |s| s.status_429),
                status_5xx: seen.map_or(0, |s| s.status_5xx),
                share: seen.map_or(0.0, |s| s.share),
                tpm: seen.map_or(0.0, |s| s.tpm),
                p50_ms: seen.map_or(0.0, |s| s.latency_ms.p50),
                p99_ms: seen.map_or(0.0, |s| s.latency_ms.p99),
            });
        }
        for s in summary.backends.iter().filter(|s| !lb.iter().any(|b| b.name == s.name)) {
            rows.push(Row {
                name: s.name.clone(),
                priority: None,
                state: if balancer.is_some() { State::Ok } else { State::Unknown },
                requests: s.requests,
                status_2xx: s.status_2xx,
                status_429: s.status_429,
                status_5xx: s.status_5xx,
                share: s.share,
                tpm: s.tpm,
                p50_ms: s.latency_ms.p50,
                p99_ms: s.latency_ms.p99,
            });
        }
        Snapshot {
            target: summary.target.clone(),
            elapsed_secs: summary.duration_secs,
            rps: summary.rps,
            requests: summary.requests,
            error_rate: summary.error_rate,
            client_429: summary.client_429,
            rows,
        }
    }
}

/// The stable JSON of `oai-lb probe --output json`: the client's [`Summary`], then its
/// backends in the order of the table, each with the balancer's priority and state.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    #[serde(flatten)]
    pub summary: &'a Summary,
    pub backends: Vec<BackendReport>,
}

/// One backend of [`Report`]: the client's counts, the balancer's view.
#[derive(Debug, Serialize)]
pub struct BackendReport {
    #[serde(flatten)]
    pub counts: BackendSummary,
    /// The balancer's priority; `null` when the target is not oai-lb (or did not list it).
    pub priority: Option<u32>,
    /// `ok`, `cooling`, or `unknown` when the target is not oai-lb.
    pub state: &'static str,
    /// While cooling: the seconds left of its longest cooldown.
    pub cooldown_secs: Option<u64>,
}

impl<'a> Report<'a> {
    /// Joins `summary` with the balancer's view, in the rows of [`Snapshot::new`].
    pub fn new(summary: &'a Summary, balancer: Option<&[LbBackend]>) -> Report<'a> {
        let backends = Snapshot::new(summary, balancer)
            .rows
            .into_iter()
            .map(|row| {
                let counts = summary.backends.iter().find(|b| b.name == row.name).cloned().unwrap_or(BackendSummary {
                    name: row.name.clone(),
                    requests: 0,
                    status_2xx: 0,
                    status_429: 0,
                    status_5xx: 0,
                    share: 0.0,
                    tokens: 0,
                    tpm: 0.0,
                    latency_ms: Latency::default(),
                });
                let (state, cooldown_secs) = match row.state {
                    State::Ok => ("ok", None),
                    State::Cooling(secs) => ("cooling", Some(secs)),
                    State::Unknown => ("unknown", None),
                };
                BackendReport { counts, priority: row.priority, state, cooldown_secs }
            })
            .collect();
        Report { summary, backends }
    }
}

/// The frame: a status line, then one row per backend, fitted to `width` columns. No
/// escape codes, no trailing newline.
pub fn render(snapshot: &Snapshot, width: u16) -> String {
    let status = format!(
        "{}  elapsed {:.1}s  {:.1} rps  {} requests  errors {:.2}%  client 429s {}",
        snapshot.target,
        snapshot.elapsed_secs,
        snapshot.rps,
        snapshot.requests,
        snapshot.error_rate * 100.0,
        snapshot.client_429
    );
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(["BACKEND", "PRIO", "STATE", "REQS", "2XX", "429", "5XX", "SHARE", "TPM", "P50 MS", "P99 MS"]);
    for r in &snapshot.rows {
        let state = match r.state {
            State::Ok => "OK".to_string(),
            State::Cooling(secs) => format!("COOLING {secs}s"),
            State::Unknown => "-".to_string(),
        };
        table.add_row([
            r.name.clone(),
            r.priority.map_or_else(|| "-".into(), |p| p.to_string()),
            state,
            r.requests.to_string(),
            r.status_2xx.to_string(),
            r.status_429.to_string(),
            r.status_5xx.to_string(),
            format!("{:.1}%", r.share * 100.0),
            format!("{:.0}", r.tpm),
            format!("{:.0}", r.p50_ms),
            format!("{:.0}", r.p99_ms),
        ]);
    }
    for i in 1..11 {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(if i == 2 { CellAlignment::Left } else { CellAlignment::Right });
        }
    }
    let lines: Vec<String> = table.to_string().lines().map(|l| l.trim_end().to_string()).collect();
    format!("{status}\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::balancer::Cooldown;
    use crate::probe::stats::{BackendSummary, Latency};

    fn summary() -> Summary {
        let backend = |name: &str, requests, status_2xx, status_429, share, p50| BackendSummary {
            name: name.into(),
            requests,
            status_2xx,
            status_429,
            status_5xx: 0,
            share,
            tokens: requests * 10,
            tpm: requests as f64 * 10.0 * 60.0 / 12.34,
            latency_ms: Latency { p50, p99: p50 * 2.0 },
        };
        Summary {
            target: "http://127.0.0.1:8080".into(),
            duration_secs: 12.34,
            requests: 100,
            ok: 100,
            errors: 0,
            error_rate: 0.0,
            client_429: 0,
            no_response: 0,
            rps: 8.1,
            latency_ms: Latency { p50: 21.0, p99: 80.0 },
            backends: vec![backend("east", 40, 30, 10, 0.4, 20.0), backend("west", 60, 60, 0, 0.6, 31.0)],
        }
    }

    fn lb(name: &str, priority: u32, cooling: &[f64]) -> LbBackend {
        LbBackend {
            name: name.into(),
            priority,
            cooldowns: cooling.iter().map(|&s| Cooldown { deployment: "gpt-4o".into(), seconds_left: s }).collect(),
        }
    }

    #[test]
    fn rows_follow_the_balancer_with_state_and_counts() {
        let balancer = [lb("west", 2, &[]), lb("east", 1, &[3.2, 11.4]), lb("idle", 2, &[])];
        let frame = render(&Snapshot::new(&summary(), Some(&balancer)), 120);
        let lines: Vec<Vec<&str>> = frame.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(
            frame.lines().next().unwrap(),
            "http://127.0.0.1:8080  elapsed 12.3s  8.1 rps  100 requests  errors 0.00%  client 429s 0"
        );
        assert_eq!(
            lines[1],
            ["BACKEND", "PRIO", "STATE", "REQS", "2XX", "429", "5XX", "SHARE", "TPM", "P50", "MS", "P99", "MS"]
        );
        assert_eq!(lines[2], ["east", "1", "COOLING", "12s", "40", "30", "10", "0", "40.0%", "1945", "20", "40"]);
        assert_eq!(lines[3], ["idle", "2", "OK", "0", "0", "0", "0", "0.0%", "0", "0", "0"]);
        assert_eq!(lines[4], ["west", "2", "OK", "60", "60", "0", "0", "60.0%", "2917", "31", "62"]);
        assert_eq!(lines.len(), 5);
        assert!(!frame.contains('\x1b'));
    }

    #[test]
    fn the_json_lists_backends_in_table_order_with_priority_and_state() {
        let summary = summary();
        let balancer = [lb("west", 2, &[]), lb("east", 1, &[3.2, 11.4]), lb("idle", 2, &[])];
        let json = serde_json::to_value(Report::new(&summary, Some(&balancer))).unwrap();
        let rows: Vec<(&str, u64, u64, &str, Option<u64>)> = json["backends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let name = b["name"].as_str().unwrap();
                let state = b["state"].as_str().unwrap();
                (
                    name,
                    b["priority"].as_u64().unwrap(),
                    b["requests"].as_u64().unwrap(),
                    state,
                    b["cooldown_secs"].as_u64(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [("east", 1, 40, "cooling", Some(12)), ("idle", 2, 0, "ok", None), ("west", 2, 60, "ok", None)]
        );
        assert_eq!((json["requests"].as_u64(), json["target"].as_str()), (Some(100), Some("http://127.0.0.1:8080")));
        let alone = serde_json::to_value(Report::new(&summary, None)).unwrap();
        assert_eq!(alone["backends"][0]["priority"], serde_json::Value::Null);
        assert_eq!(alone["backends"][1]["state"], "unknown");
    }

    #[test]
    fn without_a_balancer_rows_come_from_responses_only() {
        let frame = render(&Snapshot::new(&summary(), None), 120);
        let rows: Vec<Vec<&str>> = frame.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(
            rows,
            [
                vec!["east", "-", "-", "40", "30", "10", "0", "40.0%", "1945", "20", "40"],
                vec!["west", "-", "-", "60", "60", "0", "0", "60.0%", "2917", "31", "62"],
            ]
        );
    }
}
