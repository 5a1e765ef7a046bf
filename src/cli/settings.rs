//! One resolved settings value per command: the config file (read here and only here),
//! the flags and the `OAI_LB_*` variables, merged before the command runs. A command names
//! the environment variables it uses ([`EnvUse`]); no other is checked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Error, GlobalArgs};
use crate::azure::{BackendKeys, Stack, Tuning};
use crate::config::{BackendAuth, Config, EnvUse, OtlpProtocol, TelemetrySection};
use crate::telemetry::{DEFAULT_EXPORT_TIMEOUT, ExportHeaders, TelemetrySettings};

/// The config of one command, loaded and checked for what the command uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    pub config: Config,
}

impl Settings {
    /// Reads `--config` (the one `Config::load` of the program) and checks the environment
    /// variables `uses` names.
    pub fn load(global: &GlobalArgs, uses: EnvUse) -> Result<Settings, Error> {
        let config = Config::load(&global.config)?;
        config.check_env(&global.config, uses)?;
        Ok(Settings { path: global.config.clone(), config })
    }

    /// `--listen` / `OAI_LB_LISTEN` over `balancer.listen`: the address `serve` binds.
    pub fn with_listen(mut self, flag: Option<SocketAddr>) -> Settings {
        if let Some(addr) = flag {
            self.config.balancer.listen = addr.to_string();
        }
        self
    }

    /// Where `serve` sends traces: `flags`, then the `OTEL_*` variables, then `[telemetry]`
    /// (see [`resolve_telemetry`]); the one place those variables are read.
    pub fn telemetry(&self, flags: &TelemetryFlags) -> Result<Option<TelemetrySettings>, Error> {
        resolve_telemetry(self.config.telemetry.as_ref(), flags, |name| std::env::var(name).ok())
    }

    /// True when the config has `[azure]` and `[apim]`, so APIM can be asked.
    pub fn has_apim(&self) -> bool {
        self.config.azure.is_some() && self.config.apim.is_some()
    }

    /// The stack of the config, for commands that work on the deployed APIM.
    pub fn stack(&self) -> Result<Stack, Error> {
        if !self.has_apim() {
            return Err(Error::usage(format!(
                "{}: this command works on the deployed APIM, which needs the [azure] and [apim] sections (fix: add them, see `oai-lb init`)",
                self.path.display()
            )));
        }
        Ok(Stack::new(&self.config, &backend_keys(&self.config))?)
    }
}

impl Settings {
    /// A key is read only where APIM gets it: `writes(name)` says whether the command writes
    /// the named value `name`; an `api-key` backend whose key named value is written needs
    /// its variable set. No other key is required. `other_fix` ends the fix (`, or …`).
    pub fn check_uploaded_keys(&self, writes: impl Fn(&str) -> bool, other_fix: &str) -> Result<(), Error> {
        for (backend, var) in self.config.unset_backend_keys() {
            if writes(&crate::names::backend_key_named_value(backend)) {
                return Err(Error::usage(format!(
                    "APIM needs the key of backend `{backend}`, and environment variable {var} is not set"
                ))
                .fix(format!("export {var}=...{other_fix}")));
            }
        }
        Ok(())
    }
}

/// The api-keys of the config's `api-key` backends whose variables are set (and, with
/// `[balancer.azure]`, the client keys). The stack neither compares nor writes an unset
/// one; a command that would upload it refuses first ([`Settings::check_uploaded_keys`],
/// and `check_deploy_env` for the client keys).
fn backend_keys(config: &Config) -> BackendKeys {
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let keys = BackendKeys::new(config.backends.iter().filter(|b| b.auth == BackendAuth::ApiKey).filter_map(|b| {
        let key = set(b.api_key_env.as_deref()?)?;
        Some((b.name.clone(), key))
    }));
    let client_keys = config.balancer.azure.as_ref().and(config.balancer.client_keys_env.as_deref()).and_then(set);
    keys.with_client_keys(client_keys)
}

/// The ARM timing knobs, from `OAI_LB_ARM_POLL_MS`, `OAI_LB_ARM_RETRY_BASE_MS`,
/// `OAI_LB_ARM_RETRY_MAX_MS` and `OAI_LB_ARM_PRINCIPAL_WAIT_MS` (see `deploy --help`).
pub fn arm_tuning() -> Tuning {
    let ms = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
    Tuning {
        poll_ms: ms("OAI_LB_ARM_POLL_MS"),
        retry_base_ms: ms("OAI_LB_ARM_RETRY_BASE_MS"),
        retry_max_ms: ms("OAI_LB_ARM_RETRY_MAX_MS"),
        principal_wait_ms: ms("OAI_LB_ARM_PRINCIPAL_WAIT_MS"),
    }
}

/// `serve`'s trace flags; each one wins over its `OTEL_*` variable and `[telemetry]` key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryFlags {
    /// The collector's base URL (`/v1/traces` is added for HTTP).
    pub otlp_endpoint: Option<String>,
    pub otlp_protocol: Option<OtlpProtocol>,
    pub service_name: Option<String>,
}

/// Where traces go, resolved once: flags, then the standard variables
/// (`OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` — a full URL —,
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`,
/// `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`, `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`,
/// `OTEL_SERVICE_NAME`; a per-signal `_TRACES_` one wins over its general one), then
/// `[telemetry]`. `None` when no endpoint is named anywhere, or `OTEL_SDK_DISABLED=true`
/// and no flag names one.
pub fn resolve_telemetry(
    section: Option<&TelemetrySection>,
    flags: &TelemetryFlags,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<TelemetrySettings>, Error> {
    let env = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if disabled && flags.otlp_endpoint.is_none() {
        return Ok(None);
    }
    // The per-signal variable, else the general one, with the name of the one that was set.
    let traces_or_general = |traces: &'static str, general: &'static str| {
        [traces, general].into_iter().find_map(|name| Some((name, env(name)?)))
    };
    let protocol = match flags.otlp_protocol {
        Some(p) => p,
        None => match traces_or_general("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") {
            Some((_, p)) if p == "grpc" => OtlpProtocol::Grpc,
            Some((_, p)) if p == "http/protobuf" => OtlpProtocol::HttpProtobuf,
            Some((name, p)) => {
                return Err(Error::usage(format!(
                    "{name}={p}: oai-lb exports traces as http/protobuf or grpc (fix: set it to one of them, or unset it)"
                )));
            }
            None => section.and_then(|s| s.protocol).unwrap_or_default(),
        },
    };
    let with_path = |base: String| match protocol {
        OtlpProtocol::Grpc => base,
        OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
    };
    let endpoint = match (&flags.otlp_endpoint, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (Some(flag), _) => with_path(flag.clone()),
        (None, Some(full)) => full,
        (None, None) => match env("OTEL_EXPORTER_OTLP_ENDPOINT").or_else(|| section?.otlp_endpoint.clone()) {
            Some(base) => with_path(base),
            None => return Ok(None),
        },
    };
    let service_name = flags
        .service_name
        .clone()
        .or_else(|| env("OTEL_SERVICE_NAME"))
        .or_else(|| section.and_then(|s| s.service_name.clone()))
        .unwrap_or_else(|| "oai-lb".to_string());
    let queue_spans = section.map_or(TelemetrySection::DEFAULT_QUEUE_SPANS, |s| s.queue_spans).max(1);
    let headers = match traces_or_general("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") {
        Some((name, list)) => ExportHeaders::parse(name, &list).map_err(Error::usage)?,
        None => ExportHeaders::default(),
    };
    let timeout = match traces_or_general("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
        Some((name, ms)) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                return Err(Error::usage(format!(
                    "{name}={ms}: not a timeout in milliseconds (fix: a whole number above 0 such as 10000, or unset it)"
                )));
            }
        },
        None => DEFAULT_EXPORT_TIMEOUT,
    };
    Ok(Some(TelemetrySettings { endpoint, protocol, service_name, queue_spans, headers, timeout }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn resolved(
        section: Option<&TelemetrySection>,
        flags: &TelemetryFlags,
        vars: &[(&str, &str)],
    ) -> Option<(String, OtlpProtocol, String)> {
        resolve_telemetry(section, flags, env(vars)).unwrap().map(|s| (s.endpoint, s.protocol, s.service_name))
    }

    fn of(endpoint: &str, protocol: OtlpProtocol, service: &str) -> Option<(String, OtlpProtocol, String)> {
        Some((endpoint.to_string(), protocol, service.to_string()))
    }

    #[test]
    fn telemetry_is_off_without_an_endpoint_or_when_disabled() {
        let none = TelemetryFlags::default();
        assert_eq!(resolved(None, &none, &[]), None);
        let section = TelemetrySection { otlp_endpoint: Some("http://c:4318".into()), ..TelemetrySection::default() };
        assert_eq!(resolved(Some(&section), &none, &[("OTEL_SDK_DISABLED", "true")]), None);
        // A flag is an explicit request: it wins over the variable that disables.
        let flag = TelemetryFlags { otlp_endpoint: Some("http://flag:4318".into()), ..TelemetryFlags::default() };
        assert!(resolved(Some(&section), &flag, &[("OTEL_SDK_DISABLED", "true")]).is_some());
    }

    #[test]
    fn telemetry_flags_then_variables_then_the_file() {
        let section = TelemetrySection {
            otlp_endpoint: Some("http://file:4318/".into()),
            protocol: Some(OtlpProtocol::HttpProtobuf),
            service_name: Some("from-file".into()),
            ..TelemetrySection::default()
        };
        let none = TelemetryFlags::default();
        use OtlpProtocol::{Grpc, HttpProtobuf};
        assert_eq!(resolved(Some(&section), &none, &[]), of("http://file:4318/v1/traces", HttpProtobuf, "from-file"));
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ];
        assert_eq!(resolved(Some(&section), &none, &vars), of("http://env:4317", Grpc, "from-env"));
        let flags = TelemetryFlags {
            otlp_endpoint: Some("http://flag:4318".into()),
            otlp_protocol: Some(HttpProtobuf),
            service_name: Some("from-flag".into()),
        };
        assert_eq!(
            resolved(Some(&section), &flags, &vars),
            of("http://flag:4318/v1/traces", HttpProtobuf, "from-flag")
        );
        // Each key on its own: a flag for the name only leaves the rest to the variables.
        let name_only = TelemetryFlags { service_name: Some("from-flag".into()), ..TelemetryFlags::default() };
        assert_eq!(resolved(Some(&section), &name_only, &vars), of("http://env:4317", Grpc, "from-flag"));
        // The per-signal variables: a full URL, and a protocol over the general one.
        let vars = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        assert_eq!(resolved(None, &none, &vars), of("http://c:4318/custom", HttpProtobuf, "oai-lb"));
    }

    #[test]
    fn headers_and_timeout_per_signal_over_general() {
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
        let settings = |vars: &[(&str, &str)]| {
            let vars: Vec<_> = base.iter().chain(vars).copied().collect();
            resolve_telemetry(None, &TelemetryFlags::default(), env(&vars)).unwrap().unwrap()
        };
        let none = settings(&[]);
        assert!(none.headers.is_empty());
        assert_eq!(none.timeout, Duration::from_secs(10), "the spec's default");
        let general = settings(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        assert_eq!(general.headers, ExportHeaders::parse("x", "authorization=Bearer t0ken").unwrap());
        assert_eq!(general.timeout, Duration::from_millis(2500));
        // The per-signal variables replace the general ones (no merge, as opentelemetry-otlp).
        let traces = settings(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-honeycomb-team=k3y"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", " 700 "),
        ]);
        assert_eq!(traces.headers, ExportHeaders::parse("x", "x-honeycomb-team=k3y").unwrap());
        assert_eq!(traces.timeout, Duration::from_millis(700));
        // Set but empty is unset.
        assert!(settings(&[("OTEL_EXPORTER_OTLP_HEADERS", " ")]).headers.is_empty());
        let debug = format!("{general:?}");
        assert!(debug.contains("authorization") && !debug.contains("t0ken"), "{debug}");
    }

    #[test]
    fn bad_headers_or_timeouts_are_refused_naming_the_variable() {
        for (name, value, problem) in [
            ("OTEL_EXPORTER_OTLP_HEADERS", "Bearer s3cret", "OTEL_EXPORTER_OTLP_HEADERS: entry 1 has no `=`"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k=s3cret%", "OTEL_EXPORTER_OTLP_TRACES_HEADERS: the value of k"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", "OTEL_EXPORTER_OTLP_TIMEOUT=10s: not a timeout in milliseconds"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=0: not a timeout"),
        ] {
            let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), (name, value)];
            let e = resolve_telemetry(None, &TelemetryFlags::default(), env(&vars)).unwrap_err().to_string();
            assert!(e.contains(problem) && e.contains("fix:") && !e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn an_unknown_otlp_protocol_is_refused_with_the_fix() {
        let e =
            resolve_telemetry(None, &TelemetryFlags::default(), env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json") && e.contains("fix:"), "{e}");
    }
}
