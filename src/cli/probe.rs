//! `oai-lb probe`: drive traffic at an endpoint, show each backend live (`--watch`) or with a
//! progress bar, then a summary table or JSON; exit 1 above `--max-error-rate`.

use std::io::IsTerminal;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use super::simulate::parse_duration;
use super::{Error, GlobalArgs, Printer};
use crate::credential::Credential;
use crate::probe::balancer::{self, LbBackend};
use crate::probe::stats::{Stats, Summary};
use crate::probe::view::{self, Snapshot};
use crate::probe::{self as core, Auth, Load, Probe, ProbeOptions};

/// The Entra scope of Azure OpenAI.
const COGNITIVE_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the endpoint: oai-lb, an APIM gateway, or one Azure OpenAI resource;
    /// `aca`: the balancer `deploy` runs on Container Apps (`[balancer.azure]`), with the
    /// first key of `client_keys_env`.
    #[arg(long, value_name = "URL|aca")]
    target: String,
    /// The deployment (model) to call.
    #[arg(long, default_value = "gpt-4o")]
    deployment: String,
    /// The api-version query parameter.
    #[arg(long, default_value = crate::sim::openai::DEFAULT_API_VERSION)]
    api_version: String,
    /// Requests per second, or `unlimited`: as fast as answers come, --concurrency in flight.
    #[arg(long, value_name = "RPS|unlimited", default_value = "10", value_parser = parse_rate)]
    rps: Rate,
    /// With --rps unlimited: requests kept in flight [default: 4].
    #[arg(long)]
    concurrency: Option<usize>,
    /// How long to drive traffic, e.g. 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Ask for streamed (SSE) answers.
    #[arg(long)]
    stream: bool,
    /// Show a live table of the backends instead of a progress bar.
    #[arg(long)]
    watch: bool,
    /// Environment variable holding the key to send as `api-key`.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Send an Entra ID token from this credential source when no key is given.
    #[arg(long, value_enum, value_name = "KIND")]
    credential: Option<super::CredentialArg>,
    /// Exit 1 when the client-visible error rate (0..=1) is above this.
    #[arg(long, default_value_t = 1.0)]
    max_error_rate: f64,
    /// Give up on one request after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// With `--target aca`: how to reach ARM to find the app.
    #[command(flatten)]
    arm: ArmArgs,
}

/// `--rps`: a modest fixed rate by default (10 rps: 600 requests a minute, the limit of a
/// 100K-TPM Standard deployment, so a small deployment shows throttling and a pool its
/// balancing, at ~50 tokens a request), or, only when asked, no rate limit at all.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rate {
    PerSecond(f64),
    Unlimited,
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(Rate::Unlimited);
    }
    match text.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(Rate::PerSecond(r)),
        _ => Err("expected a number of requests per second above 0 (e.g. 10), or `unlimited`".into()),
    }
}

/// The ARM connection of `--target aca` (`--credential` is the target's own).
#[derive(Debug, clap::Args)]
struct ArmArgs {
    /// Where the ARM token comes from (with --target aca).
    #[arg(long, value_enum, default_value_t = super::CredentialArg::Auto, env = "OAI_LB_CREDENTIAL")]
    arm_credential: super::CredentialArg,
    /// The ARM endpoint (with --target aca).
    #[arg(long, env = "OAI_LB_ARM_ENDPOINT")]
    arm_endpoint: Option<String>,
}

/// The word `--target` takes for the deployed Container Apps balancer.
const ACA_TARGET: &str = "aca";

pub fn run(global: &GlobalArgs, mut args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let load = match (args.rps, args.concurrency) {
        (_, Some(0)) => return Err(Error::usage("--concurrency must be at least 1")),
        (Rate::Unlimited, c) => Load::Concurrency(c.unwrap_or(4)),
        (Rate::PerSecond(r), None) => Load::Rps(r),
        (Rate::PerSecond(_), Some(_)) => {
            return Err(Error::usage(
                "--concurrency keeps requests in flight as fast as the target answers, so it needs --rps unlimited (fix: add --rps unlimited, or drop --concurrency to keep a fixed rate)",
            ));
        }
    };
    if !(0.0..=1.0).contains(&args.max_error_rate) {
        return Err(Error::usage("--max-error-rate is a share between 0 and 1, e.g. 0.01"));
    }
    super::runtime()?.block_on(async {
        let auth = if args.target == ACA_TARGET {
            let (url, auth) = deployed_balancer(global, &args).await?;
            printer.note(format!("Probing the Container Apps balancer at {url}"));
            args.target = url;
            auth
        } else {
            resolve_auth(&args).await?
        };
        let opts = ProbeOptions {
            target: args.target.clone(),
            deployment: args.deployment.clone(),
            api_version: args.api_version.clone(),
            load,
            stream: args.stream,
            auth,
            timeout: args.timeout,
        };
        let probe = Probe::new(opts).map_err(|e| Error::usage(e.to_string()))?;
        let summary = drive(&probe, args.duration, args.watch, printer).await?;
        print_summary(&probe, &summary, printer).await?;
        if summary.no_response > 0 {
            printer.note(format!(
                "{} of {} requests got no response from {} (is it running and reachable?)",
                summary.no_response, summary.requests, args.target
            ));
        }
        if summary.requests > 0 && summary.no_response == summary.requests {
            return Err(Error::failure(format!(
                "{} never answered: none of {} requests got a response (fix: check --target, and that the endpoint runs and is reachable)",
                args.target, summary.requests
            )));
        }
        if summary.error_rate > args.max_error_rate {
            return Err(Error::failure(format!(
                "client-visible error rate {:.2}% is above --max-error-rate {:.2}%",
                summary.error_rate * 100.0,
                args.max_error_rate * 100.0
            )));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The final table (with the balancer's view when there is one) or the JSON summary.
pub(super) async fn print_summary(probe: &Probe, summary: &Summary, printer: &Printer) -> Result<(), Error> {
    let lb = balancer::backends(probe.client(), &probe.options().target, &probe.options().auth).await;
    if printer.json() {
        return printer.print_json(&view::Report::new(summary, lb.as_deref()));
    }
    printer.line(view::render(&Snapshot::new(summary, lb.as_deref()), terminal_width()))
}

/// `--target aca`: the app's URL from ARM, and a client key from `client_keys_env` (or
/// `--api-key-env`); the key is sent, never shown.
async fn deployed_balancer(global: &GlobalArgs, args: &Args) -> Result<(String, Auth), Error> {
    let settings = super::settings::Settings::load(global, crate::config::EnvUse::default())?;
    let var = match (&args.api_key_env, &settings.config.balancer.client_keys_env) {
        (Some(var), _) | (None, Some(var)) => var.clone(),
        (None, None) => {
            return Err(Error::usage(format!(
                "{}: --target aca needs a client key, and the config has no balancer.client_keys_env",
                settings.path.display()
            ))
            .fix("set client_keys_env under [balancer], or pass --api-key-env VAR"));
        }
    };
    let keys = std::env::var(&var).unwrap_or_default();
    let Some(key) = keys.split(',').map(str::trim).find(|k| !k.is_empty()) else {
        return Err(Error::usage(format!("{var} is not set: --target aca sends one of its client keys"))
            .fix(format!("export {var}=KEY1,KEY2 (the keys deploy stored)")));
    };
    let stack = settings.stack()?;
    let client =
        super::azure::AzureArgs { credential: args.arm.arm_credential, arm_endpoint: args.arm.arm_endpoint.clone() }
            .connect()?;
    let url = crate::azure::container_app_url(&client, &stack).await?;
    Ok((url, Auth::ApiKey(key.to_string())))
}

async fn resolve_auth(args: &Args) -> Result<Auth, Error> {
    if let Some(var) = &args.api_key_env {
        let not_set = |_| Error::usage(format!("--api-key-env {var}: the variable is not set; export it first"));
        return Ok(Auth::ApiKey(std::env::var(var).map_err(not_set)?));
    }
    let Some(kind) = args.credential else { return Ok(Auth::None) };
    let credential = Credential::new(kind.into()).map_err(|e| Error::failure(e.to_string()))?;
    let token = credential.token(COGNITIVE_SCOPE).await.map_err(|e| Error::failure(e.to_string()))?;
    Ok(Auth::Bearer(token.token.secret().to_string()))
}

/// Runs the probe for `duration` (or until Ctrl-C) while drawing progress: the live table
/// with `watch`, else a progress bar.
pub(super) async fn drive(probe: &Probe, duration: Duration, watch: bool, printer: &Printer) -> Result<Summary, Error> {
    let target = probe.options().target.clone();
    let stats = Arc::new(Mutex::new(Stats::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let driver = {
        let (probe, stats) = (probe.clone(), stats.clone());
        tokio::spawn(async move { probe.run(stats, stop_rx).await })
    };
    let lb_state: Arc<Mutex<Option<Vec<LbBackend>>>> = Arc::default();
    let poller = {
        let (client, target, auth) = (probe.client().clone(), target.clone(), probe.options().auth.clone());
        let lb_state = lb_state.clone();
        tokio::spawn(async move {
            // Targets that are not oai-lb are asked once; a balancer is asked twice a second.
            while let Some(backends) = balancer::backends(&client, &target, &auth).await {
                *lb_state.lock().unwrap_or_else(|e| e.into_inner()) = Some(backends);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let mut display = Display::new(watch, duration, printer);
    let deadline = tokio::time::Instant::now() + duration;
    let mut ctrl_c = pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(display.refresh()) => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = &mut ctrl_c => break,
        }
        let summary = core::lock(&stats).summary(&target, started.elapsed());
        let lb = lb_state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        display.update(&summary, lb.as_deref())?;
    }
    let _ = stop_tx.send(true);
    let _ = driver.await;
    poller.abort();
    display.finish()?;
    let summary = core::lock(&stats).summary(&target, started.elapsed());
    Ok(summary)
}

/// How progress is shown while the probe runs.
enum Display<'a> {
    /// `--watch` on a terminal: the table redrawn in place.
    Live { printer: &'a Printer, lines: usize },
    /// `--watch` elsewhere: the table as plain text once a second.
    Plain { printer: &'a Printer },
    /// Without `--watch`: a progress bar on stderr (hidden when stderr is not a terminal).
    Bar(ProgressBar),
}

impl<'a> Display<'a> {
    fn new(watch: bool, duration: Duration, printer: &'a Printer) -> Display<'a> {
        if watch && !printer.json() {
            return if std::io::stdout().is_terminal() {
                Display::Live { printer, lines: 0 }
            } else {
                Display::Plain { printer }
            };
        }
        let target = if printer.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let bar = ProgressBar::with_draw_target(Some(duration.as_secs().max(1)), target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len}s  {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        Display::Bar(bar)
    }

    fn refresh(&self) -> Duration {
        match self {
            Display::Plain { .. } => Duration::from_secs(1),
            _ => Duration::from_millis(250),
        }
    }

    fn update(&mut self, summary: &Summary, lb: Option<&[LbBackend]>) -> Result<(), Error> {
        match self {
            Display::Live { printer, lines } => {
                let frame = view::render(&Snapshot::new(summary, lb), terminal_width());
                // Move up over the previous frame and overwrite it line by line: no flicker.
                let mut out = if *lines > 0 { format!("\x1b[{lines}A\r") } else { String::new() };
                for line in frame.lines() {
                    out.push_str(line);
                    out.push_str("\x1b[K\n");
                }
                // Clear what is left of a longer previous frame; `line` adds one more newline.
                out.push_str("\x1b[J");
                *lines = frame.lines().count() + 1;
                printer.line(out)
            }
            Display::Plain { printer } => {
                printer.line(format!("{}\n", view::render(&Snapshot::new(summary, lb), terminal_width())))
            }
            Display::Bar(bar) => {
                bar.set_position(summary.duration_secs as u64);
                bar.set_message(format!(
                    "{} requests  {:.1} rps  errors {:.2}%",
                    summary.requests,
                    summary.rps,
                    summary.error_rate * 100.0
                ));
                Ok(())
            }
        }
    }

    /// Clears the live frame or the bar, so the summary that follows is not drawn twice.
    fn finish(&self) -> Result<(), Error> {
        match self {
            Display::Bar(bar) => bar.finish_and_clear(),
            Display::Live { printer, lines } if *lines > 0 => printer.line(format!("\x1b[{lines}A\r\x1b[J"))?,
            _ => {}
        }
        Ok(())
    }
}

/// Columns for tables: the terminal's width, or a roomy default when not on one (or when
/// the terminal reports no usable size, as some pseudo-terminals do).
fn terminal_width() -> u16 {
    comfy_table::Table::new().width().filter(|w| *w >= 40).unwrap_or(120)
}
