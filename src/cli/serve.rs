//! `oai-lb serve`: the embedded local balancer.

use std::net::SocketAddr;
use std::process::ExitCode;

use super::settings::{Settings, TelemetryFlags};
use super::{CredentialArg, Error, GlobalArgs, LogFormat, Printer};
use crate::config::EnvUse;
use crate::proxy::{ProxyError, ServeOptions, Server};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen on this address instead of balancer.listen: IP:PORT or HOST:PORT (a host name
    /// is resolved; without client keys it must resolve to a loopback address).
    #[arg(long, value_name = "ADDR", env = "OAI_LB_LISTEN", value_parser = super::values::listen)]
    pub listen: Option<SocketAddr>,
    /// Allow listening on a non-loopback address without client keys.
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// Worker threads, each with its own event loop; default one per core.
    #[arg(long, env = "OAI_LB_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    /// Where Entra tokens for `auth = "entra"` backends come from.
    #[arg(long, value_enum, value_name = "KIND", default_value_t, env = "OAI_LB_CREDENTIAL")]
    pub credential: CredentialArg,
    /// Log lines as text, or one JSON object per line (one per proxied request, for log
    /// pipelines).
    #[arg(long, value_enum, default_value_t, env = "OAI_LB_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Export traces to this OTLP collector (base URL; `/v1/traces` is added for HTTP).
    /// Wins over OTEL_EXPORTER_OTLP_ENDPOINT and [telemetry] otlp_endpoint.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The OTLP transport; wins over OTEL_EXPORTER_OTLP_PROTOCOL and [telemetry] protocol.
    #[arg(long, value_enum)]
    pub otlp_protocol: Option<OtlpProtocolArg>,
    /// The service name spans carry; wins over OTEL_SERVICE_NAME and [telemetry] service_name.
    #[arg(long, value_name = "NAME")]
    pub service_name: Option<String>,
}

/// `--otlp-protocol`, named as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OtlpProtocolArg {
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    #[value(name = "grpc")]
    Grpc,
}

impl From<OtlpProtocolArg> for crate::config::OtlpProtocol {
    fn from(arg: OtlpProtocolArg) -> Self {
        match arg {
            OtlpProtocolArg::HttpProtobuf => crate::config::OtlpProtocol::HttpProtobuf,
            OtlpProtocolArg::Grpc => crate::config::OtlpProtocol::Grpc,
        }
    }
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    // The balancer reads every secret the config names: the backend keys, the client keys
    // and the Redis password.
    let uses = EnvUse { backend_keys: true, balancer_secrets: true };
    let settings = Settings::load(global, uses)?.with_listen(args.listen);
    let telemetry = settings.telemetry(&TelemetryFlags {
        otlp_endpoint: args.otlp_endpoint,
        otlp_protocol: args.otlp_protocol.map(Into::into),
        service_name: args.service_name,
    })?;
    let Settings { config, .. } = settings;
    let options = ServeOptions {
        listen: Some(config.listen_addr()),
        allow_unauthenticated: args.allow_unauthenticated,
        config_path: Some(global.config.clone()),
        workers: args.workers.map(usize::from),
        credential: args.credential.into(),
        secrets: crate::proxy::Secrets::from_env(),
        telemetry,
        ..ServeOptions::default()
    };
    super::runtime()?.block_on(async {
        let server = Server::bind(config, options).await.map_err(|e| match e {
            ProxyError::Bind { .. } => Error::failure(e.to_string()),
            _ => Error::usage(e.to_string()),
        })?;
        if printer.json() {
            // `--output json`: the one document on stdout says where it listens; the logs
            // are JSON lines on stderr (see `cli::run`).
            let listening = serde_json::json!({
                "listening": format!("http://{}", server.local_addr()),
                "config": global.config.display().to_string(),
            });
            printer.print_json(&listening)?;
        } else if args.log_format == LogFormat::Json {
            // A log pipeline reads stderr as JSON lines: the banner is one too.
            tracing::info!(listen = %server.local_addr(), config = %global.config.display(), "listening");
        } else {
            printer.note(format!(
                "oai-lb listening on http://{} (config {}, reloads on change or SIGHUP)",
                server.local_addr(),
                global.config.display()
            ));
        }
        server.run(shutdown_signal()).await.map_err(|e| Error::failure(e.to_string()))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
