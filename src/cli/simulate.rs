//! `oai-lb simulate`: simulated Azure OpenAI deployments on loopback, one port each, until
//! Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::{Error, GlobalArgs, Printer};
use crate::sim::{self, SimOptions, SimStats};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A backend as NAME:PORT:RPM:TPM (port 0 = any free one); repeat for more.
    #[arg(long = "backend", value_name = "NAME:PORT:RPM:TPM", required = true, value_parser = parse_backend)]
    backends: Vec<BackendSpec>,
    /// How limits are enforced: sliding (10-s window in 1-s steps, reset headers), bucket
    /// (token bucket with a 1-s burst), fixed-1s or fixed-10s (Azure's fixed windows).
    #[arg(long, default_value = "sliding", value_parser = crate::sim::Shape::parse)]
    limiter: crate::sim::Shape,
    /// Environment variable holding the key clients must send (api-key or Bearer); unset = no auth.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Delay before every admitted response, e.g. 20ms or 1s.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    latency: Duration,
    /// Share of admitted requests answered with a 500 (0..=1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Share of streamed responses cut off mid-stream (0..=1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    reset_rate: f64,
    /// Content chunks per streamed answer.
    #[arg(long, default_value_t = 8)]
    stream_chunks: usize,
    /// Pause between streamed chunks.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    chunk_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BackendSpec {
    name: String,
    port: u16,
    rpm: u64,
    tpm: u64,
}

#[derive(Serialize)]
struct Listening {
    name: String,
    url: String,
    rpm: u64,
    tpm: u64,
}

pub fn run(_global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let api_key = match &args.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            Error::usage(format!("--api-key-env {var}: the variable is not set; export it or drop the flag"))
        })?),
        None => None,
    };
    super::runtime()?.block_on(async {
        let mut servers = Vec::new();
        for b in &args.backends {
            let opts = SimOptions {
                name: b.name.clone(),
                port: b.port,
                rpm: b.rpm,
                tpm: b.tpm,
                limiter: args.limiter,
                api_key: api_key.clone(),
                latency: args.latency,
                error_rate: args.error_rate,
                reset_rate: args.reset_rate,
                stream_chunks: args.stream_chunks,
                chunk_interval: args.chunk_interval,
            };
            let server = sim::spawn(opts).await.map_err(|e| Error::failure(format!("backend {}: {e}", b.name)))?;
            servers.push(server);
        }
        let listening: Vec<Listening> = servers
            .iter()
            .zip(&args.backends)
            .map(|(s, b)| Listening { name: s.name().to_string(), url: s.url(), rpm: b.rpm, tpm: b.tpm })
            .collect();
        if printer.json() {
            printer.print_json(&listening)?;
        } else {
            for l in &listening {
                printer.line(format!("{:<16} {}  rpm {}  tpm {}", l.name, l.url, l.rpm, l.tpm))?;
            }
        }
        printer.note("simulating; Ctrl-C stops");
        tokio::signal::ctrl_c().await.map_err(|e| Error::failure(format!("cannot wait for Ctrl-C: {e}")))?;
        for server in servers {
            let name = server.name().to_string();
            let SimStats { requests, ok, throttled, errors, resets, unauthorized } = server.stats();
            server.shutdown().await;
            printer.note(format!(
                "{name}: {requests} requests, {ok} ok, {throttled} throttled, {errors} errors, {resets} resets, {unauthorized} unauthorized"
            ));
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn parse_backend(s: &str) -> Result<BackendSpec, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [name, port, rpm, tpm] = parts[..] else {
        return Err(format!("expected NAME:PORT:RPM:TPM, e.g. east:8081:60:10000, got {s:?}"));
    };
    if name.is_empty() {
        return Err("the backend name is empty".into());
    }
    let num = |what: &str, v: &str| v.parse::<u64>().map_err(|_| format!("{what} {v:?} is not a whole number"));
    let port = u16::try_from(num("port", port)?).map_err(|_| format!("port {port} is above 65535"))?;
    Ok(BackendSpec { name: name.into(), port, rpm: num("RPM", rpm)?, tpm: num("TPM", tpm)? })
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

/// Parses `250ms`, `20s`, `2m`, `1h` or a bare number of seconds.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration such as 250ms, 30s or 2m"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_specs() {
        assert_eq!(
            parse_backend("east:8081:60:10000"),
            Ok(BackendSpec { name: "east".into(), port: 8081, rpm: 60, tpm: 10_000 })
        );
        assert!(parse_backend("east:8081:60").is_err());
        assert!(parse_backend("east:99999:60:1").is_err());
        assert!(parse_backend(":1:1:1").is_err());
        assert!(parse_backend("e:1:x:1").is_err());
    }

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
    }
}
