//! `oai-lb demo`: three simulated deployments, the balancer in front, and `probe --watch`
//! against it, in one process. The first thing a newcomer runs: priority-1 fills its quota
//! window, traffic spills to priority 2 with no client-visible errors, and returns when the
//! window resets.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use super::simulate::parse_duration;
use super::{Error, GlobalArgs, Printer, probe};
use crate::config::{BackendAuth, BackendConfig, BalancerSection, Config};
use crate::probe::{Auth, Load, Probe, ProbeOptions};
use crate::proxy::{ServeOptions, Server};
use crate::sim::{self, SimOptions, SimServer};

/// Without `--duration` the demo runs until Ctrl-C; this only bounds the probe's clock.
const UNTIL_CTRL_C: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop after this long (e.g. 45s); default: run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Requests per second the probe offers.
    #[arg(long, default_value_t = 6.0)]
    rps: f64,
    /// Requests per minute of the priority-1 deployment (its window allows a sixth of it per 10 s).
    #[arg(long, default_value_t = 120)]
    primary_rpm: u64,
    /// Port of the balancer (0 = any free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Ask for streamed (SSE) answers.
    #[arg(long)]
    stream: bool,
}

pub fn run(_global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    if !(args.rps > 0.0 && args.rps.is_finite()) {
        return Err(Error::usage("--rps must be above 0"));
    }
    super::runtime()?.block_on(async {
        let backends =
            [("ptu-eastus", 1, args.primary_rpm), ("paygo-westus", 2, 60_000), ("paygo-swedencentral", 2, 60_000)];
        let mut sims: Vec<(SimServer, u32)> = Vec::new();
        for (name, priority, rpm) in backends {
            let opts = SimOptions {
                name: name.into(),
                rpm,
                latency: Duration::from_millis(if priority == 1 { 15 } else { 40 }),
                chunk_interval: Duration::from_millis(15),
                ..SimOptions::default()
            };
            let sim = sim::spawn(opts).await.map_err(|e| Error::failure(format!("backend {name}: {e}")))?;
            sims.push((sim, priority));
        }
        let config = Config {
            balancer: BalancerSection { listen: "127.0.0.1:0".into(), ..BalancerSection::default() },
            backends: sims
                .iter()
                .map(|(s, priority)| BackendConfig {
                    name: s.name().into(),
                    url: s.url(),
                    priority: *priority,
                    weight: 1,
                    auth: BackendAuth::None,
                    api_key_env: None,
                    deployments: Vec::new(),
                })
                .collect(),
            ..Config::default()
        };
        let options = ServeOptions {
            listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))),
            workers: Some(1),
            ..ServeOptions::default()
        };
        let server = Server::bind(config, options).await.map_err(|e| Error::failure(e.to_string()))?;
        let target = format!("http://{}", server.local_addr());
        let (stop_lb, lb_stopped) = tokio::sync::oneshot::channel::<()>();
        let balancer = tokio::spawn(server.run(async {
            let _ = lb_stopped.await;
        }));
        for (s, priority) in &sims {
            printer.note(format!("backend {:<20} priority {priority}  {}  rpm {}", s.name(), s.url(), s.limits().rpm));
        }
        printer.note(format!("balancer {target}; driving {} requests/s (Ctrl-C stops)", args.rps));

        let probe = Probe::new(ProbeOptions {
            target,
            deployment: "gpt-4o".into(),
            api_version: crate::sim::openai::DEFAULT_API_VERSION.into(),
            load: Load::Rps(args.rps),
            stream: args.stream,
            auth: Auth::None,
            timeout: Duration::from_secs(30),
        })
        .map_err(|e| Error::failure(e.to_string()))?;
        let summary = probe::drive(&probe, args.duration.unwrap_or(UNTIL_CTRL_C), true, printer).await?;
        probe::print_summary(&probe, &summary, printer).await?;

        let _ = stop_lb.send(());
        match balancer.await {
            Ok(Err(e)) => return Err(Error::failure(format!("the balancer failed: {e}"))),
            Err(e) => return Err(Error::failure(format!("the balancer task failed: {e}"))),
            Ok(Ok(())) => {}
        }
        for (s, _) in sims {
            let stats = s.stats();
            printer.note(format!(
                "{} saw {} requests: {} ok, {} throttled",
                s.name(),
                stats.requests,
                stats.ok,
                stats.throttled
            ));
            s.shutdown().await;
        }
        Ok(ExitCode::SUCCESS)
    })
}
