//! `oai-lb.toml`: the model every command reads, its validation, and the one-line errors
//! that name the file, the key and the fix.
//!
//! Secrets never live in the file: it names environment variables, and the values are read
//! at the point of use. Loading checks the file only; [`Config::check_env`] checks the
//! variables one command uses (`policy render` needs none, `serve` needs every key).
//!
//! Editing the file in place (comments and layout kept, atomic replace) is [`edit`].

pub mod balancer_azure;
pub mod edit;
pub mod template;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use balancer_azure::BalancerAzureSection;

/// The default file name, looked up in the working directory.
pub const DEFAULT_PATH: &str = "oai-lb.toml";

/// The most backends one balancer holds: a request's tried set is a `u64` bitmask.
pub const MAX_BACKENDS: usize = 64;

/// A configuration problem: which file, which key, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn new(file: &Path, key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfigError { file: file.to_path_buf(), key: key.into(), problem: problem.into(), fix: fix.into() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apim: Option<ApimSection>,
    #[serde(default)]
    pub balancer: BalancerSection,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openai: Vec<OpenAiAccount>,
    /// OTLP traces of `serve`; the standard `OTEL_*` variables work too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetrySection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSection>,
}

/// `[telemetry]`: where `serve` sends its traces. `OTEL_EXPORTER_OTLP_ENDPOINT`,
/// `OTEL_EXPORTER_OTLP_PROTOCOL` and `OTEL_SERVICE_NAME` override these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// The collector's base URL, e.g. `http://127.0.0.1:4318` (HTTP) or `:4317` (gRPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<OtlpProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Ended spans waiting for export at most; beyond that they are dropped and counted.
    #[serde(default = "default_queue_spans")]
    pub queue_spans: usize,
}

impl TelemetrySection {
    pub const DEFAULT_QUEUE_SPANS: usize = 4096;
}

impl Default for TelemetrySection {
    fn default() -> Self {
        TelemetrySection { otlp_endpoint: None, protocol: None, service_name: None, queue_spans: default_queue_spans() }
    }
}

fn default_queue_spans() -> usize {
    TelemetrySection::DEFAULT_QUEUE_SPANS
}

/// The OTLP transport, named as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "grpc")]
    Grpc,
}

/// `[monitoring]`: a Log Analytics workspace and a workspace-based Application Insights
/// component (created, or existing ones named by id), the APIM logger and API diagnostic that
/// send to them, and token metrics emitted by the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSection {
    /// An existing Log Analytics workspace (ARM id) for the component `deploy` creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// An existing Application Insights component (ARM id): nothing is created but the APIM
    /// logger and diagnostic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_insights_id: Option<String>,
    /// Share of requests APIM logs to Application Insights, 0-100.
    #[serde(default = "default_sampling_percentage")]
    pub sampling_percentage: f64,
    /// Headers logged besides the default ones (never credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_headers: Vec<String>,
}

impl Default for MonitoringSection {
    fn default() -> Self {
        MonitoringSection {
            workspace_id: None,
            app_insights_id: None,
            sampling_percentage: default_sampling_percentage(),
            log_headers: Vec::new(),
        }
    }
}

fn default_sampling_percentage() -> f64 {
    100.0
}

/// Headers that carry credentials: never logged.
pub const SECRET_HEADERS: &[&str] =
    &["api-key", "authorization", "ocp-apim-subscription-key", "proxy-authorization", "cookie", "set-cookie"];

/// `(subscription, resource group, name)` of an ARM id of the given provider type (e.g.
/// `Microsoft.Insights/components`), compared without case.
pub fn parse_resource_id<'a>(id: &'a str, resource_type: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let segments: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    let (provider, kind) = resource_type.split_once('/')?;
    let shape = segments.len() == 9
        && segments[0].is_empty()
        && segments[1].eq_ignore_ascii_case("subscriptions")
        && segments[3].eq_ignore_ascii_case("resourceGroups")
        && segments[5].eq_ignore_ascii_case("providers")
        && segments[6].eq_ignore_ascii_case(provider)
        && segments[7].eq_ignore_ascii_case(kind);
    let named = segments.iter().skip(2).step_by(2).all(|s| !s.is_empty());
    (shape && named).then(|| (segments[2], segments[4], segments[8]))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSection {
    pub subscription_id: String,
    pub resource_group: String,
    pub location: String,
    /// Entra tenant, needed only for client JWT validation in the APIM policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApimSection {
    pub name: String,
    #[serde(default = "default_apim_sku")]
    pub sku: String,
    pub publisher_email: String,
    pub publisher_name: String,
    #[serde(default = "default_api_path")]
    pub api_path: String,
    #[serde(default)]
    pub strategy: Strategy,
    /// Clients send Entra tokens, validated by the policy, instead of subscription keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
    /// Name the answering backend (`x-openai-backend-id`) to every caller, not only to those
    /// that ask with `x-oai-lb-show-backend` (as `oai-lb probe` does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub show_backend_to_all: bool,
}

/// Entra client authentication at the gateway: the token's audience and the one client
/// application allowed to call. The tenant is `[azure] tenant_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    pub audience: String,
    pub client_id: String,
}

fn default_apim_sku() -> String {
    "Developer".into()
}
fn default_api_path() -> String {
    "openai".into()
}

/// The APIM SKUs `deploy` accepts.
pub const APIM_SKUS: &[&str] = &["Developer", "Basic", "Standard", "Premium", "BasicV2", "StandardV2", "Consumption"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The smart load-balancing policy (our algorithm, in APIM policy XML).
    #[default]
    Policy,
    /// APIM's native `Pool` backend with circuit breakers.
    Pool,
}

impl Strategy {
    /// The config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Policy => "policy",
            Strategy::Pool => "pool",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerSection {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub all_throttled: AllThrottled,
    #[serde(default = "default_cooldown_secs")]
    pub default_cooldown_secs: f64,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_keys_env: Option<String>,
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: f64,
    /// How long to wait for a backend's response head. Non-streamed completions send their
    /// head only when the whole answer is ready, so this is generous.
    #[serde(default = "default_response_timeout_secs")]
    pub response_timeout_secs: f64,
    /// No cooldown, from any source (headers, proactive routing, Redis), lasts longer.
    #[serde(default = "default_max_cooldown_secs")]
    pub max_cooldown_secs: f64,
    /// A client must send a whole request head within this (slowloris).
    #[serde(default = "default_client_header_timeout_secs")]
    pub client_header_timeout_secs: f64,
    /// A client must send a whole request body within this.
    #[serde(default = "default_client_body_timeout_secs")]
    pub client_body_timeout_secs: f64,
    /// A connection with no request in flight and no traffic is closed after this.
    #[serde(default = "default_client_idle_timeout_secs")]
    pub client_idle_timeout_secs: f64,
    /// Open client connections at most; past it new ones wait in the listen queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 connection.
    #[serde(default = "default_http2_max_concurrent_streams")]
    pub http2_max_concurrent_streams: u32,
    /// Request-body bytes buffered (for replay) by all requests together; past it new
    /// requests get 503.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: usize,
    /// Deadline for a request's response head, across all its attempts.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<SharedStateSection>,
    #[serde(default)]
    pub proactive: ProactiveSection,
    /// Whether streams are asked for their token usage (see [`StreamUsage`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub stream_usage: StreamUsage,
    /// `deploy` also runs this balancer on Azure Container Apps (see [`BalancerAzureSection`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<BalancerAzureSection>,
}

/// Token usage of streamed answers. Azure and OpenAI report it only when the request sets
/// `stream_options.include_usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamUsage {
    /// Count what the client asked for; streams without `include_usage` are not counted.
    #[default]
    Passthrough,
    /// Add `include_usage` to every streaming request, and remove the extra usage-only
    /// chunk before it reaches a client that did not ask for it.
    Inject,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Default for BalancerSection {
    fn default() -> Self {
        BalancerSection {
            listen: default_listen(),
            all_throttled: AllThrottled::default(),
            default_cooldown_secs: default_cooldown_secs(),
            max_body_bytes: default_max_body_bytes(),
            client_keys_env: None,
            connect_timeout_secs: default_connect_timeout_secs(),
            response_timeout_secs: default_response_timeout_secs(),
            max_cooldown_secs: default_max_cooldown_secs(),
            client_header_timeout_secs: default_client_header_timeout_secs(),
            client_body_timeout_secs: default_client_body_timeout_secs(),
            client_idle_timeout_secs: default_client_idle_timeout_secs(),
            max_connections: default_max_connections(),
            http2_max_concurrent_streams: default_http2_max_concurrent_streams(),
            max_buffered_bytes: default_max_buffered_bytes(),
            request_timeout_secs: default_request_timeout_secs(),
            shared_state: None,
            proactive: ProactiveSection::default(),
            stream_usage: StreamUsage::default(),
            azure: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_cooldown_secs() -> f64 {
    10.0
}
fn default_max_body_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_connect_timeout_secs() -> f64 {
    5.0
}
fn default_response_timeout_secs() -> f64 {
    300.0
}
fn default_max_cooldown_secs() -> f64 {
    300.0
}
fn default_client_header_timeout_secs() -> f64 {
    30.0
}
fn default_client_body_timeout_secs() -> f64 {
    60.0
}
fn default_client_idle_timeout_secs() -> f64 {
    60.0
}
fn default_max_connections() -> usize {
    10_000
}
fn default_http2_max_concurrent_streams() -> u32 {
    100
}
fn default_max_buffered_bytes() -> usize {
    256 * 1024 * 1024
}
fn default_request_timeout_secs() -> f64 {
    600.0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllThrottled {
    /// Answer 429 at once with the soonest Retry-After.
    #[default]
    Reject,
    /// Send to the first backend of the best priority (the original sample's behaviour).
    Primary,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedStateSection {
    pub url: String,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// The URL may hold a password: `Debug` shows it redacted.
impl std::fmt::Debug for SharedStateSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStateSection")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("password_env", &self.password_env)
            .finish()
    }
}

fn default_key_prefix() -> String {
    "oai-lb".into()
}

/// Proactive routing: leave a backend that says it is nearly out before it answers 429.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProactiveSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Cool a backend when `x-ratelimit-remaining-requests` is at or below this.
    #[serde(default)]
    pub remaining_requests_floor: u64,
    /// Hold a nearly-out deployment only until its next unit of quota is due, learned from
    /// how its remaining counts refill and from `retry-after-ms`; false: a fixed hold.
    #[serde(default = "yes")]
    pub adaptive: bool,
    /// The fixed hold (with `adaptive = false`) when the backend sends no reset header.
    #[serde(default = "default_proactive_cooldown_secs")]
    pub default_cooldown_secs: f64,
}

impl Default for ProactiveSection {
    fn default() -> Self {
        ProactiveSection {
            enabled: true,
            remaining_requests_floor: 0,
            adaptive: true,
            default_cooldown_secs: default_proactive_cooldown_secs(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_proactive_cooldown_secs() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    pub url: String,
    #[serde(default = "one")]
    pub priority: u32,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub auth: BackendAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Deployments this backend serves; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendAuth {
    /// `api-key` header from the environment variable `api_key_env`.
    ApiKey,
    /// Entra ID bearer token for `https://cognitiveservices.azure.com/.default`.
    Entra,
    /// Pass the client's own credentials through.
    #[default]
    None,
}

/// The environment variables a command reads (see [`Config::check_env`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvUse {
    /// `api_key_env` of every `api-key` backend (`serve`, and the commands that write or
    /// compare APIM's secret named values).
    pub backend_keys: bool,
    /// `client_keys_env` and the Redis `password_env` (`serve`).
    pub balancer_secrets: bool,
}

/// An OpenAI endpoint APIM balances over: an `[[openai]]` account or a `[[backends]]`
/// entry, as [`Config::gateway_backends`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayBackend {
    /// The APIM backend resource name (and the name in the policy's backend list).
    pub name: String,
    /// The endpoint without a trailing `/`, e.g. `https://contoso.openai.azure.com`.
    pub url: String,
    pub priority: u32,
    pub weight: u32,
    pub auth: BackendAuth,
    /// The variable holding its key, with `auth = "api-key"`.
    pub api_key_env: Option<String>,
    /// Deployments it serves; empty means all.
    pub deployments: Vec<String>,
}

impl BackendAuth {
    /// The config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendAuth::ApiKey => "api-key",
            BackendAuth::Entra => "entra",
            BackendAuth::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiAccount {
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub deployments: Vec<ModelDeployment>,
    #[serde(default = "one")]
    pub priority: u32,
    #[serde(default = "one")]
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDeployment {
    pub name: String,
    pub model: String,
    pub version: String,
    #[serde(default = "default_deployment_sku")]
    pub sku: String,
    #[serde(default = "default_capacity")]
    pub capacity: u32,
}

fn default_deployment_sku() -> String {
    "GlobalStandard".into()
}
fn default_capacity() -> u32 {
    10
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let fix = if e.kind() == std::io::ErrorKind::NotFound {
                "run `oai-lb init` to write one, or pass --config PATH"
            } else {
                "check the file's permissions"
            };
            ConfigError::new(path, "", format!("cannot read: {e}"), fix)
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates config text; `path` is used in error messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what serde cannot: uniqueness, ranges, URL schemes. Environment variables are
    /// checked by [`Config::check_env`], for the commands that read them.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let b = &self.balancer;
        if b.listen.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::new(
                path,
                "balancer.listen",
                format!("`{}` is not an address", b.listen),
                "write it as IP:PORT, e.g. \"127.0.0.1:8080\"",
            ));
        }
        for (key, v) in [
            ("balancer.default_cooldown_secs", b.default_cooldown_secs),
            ("balancer.connect_timeout_secs", b.connect_timeout_secs),
            ("balancer.response_timeout_secs", b.response_timeout_secs),
            ("balancer.proactive.default_cooldown_secs", b.proactive.default_cooldown_secs),
            ("balancer.max_cooldown_secs", b.max_cooldown_secs),
            ("balancer.client_header_timeout_secs", b.client_header_timeout_secs),
            ("balancer.client_body_timeout_secs", b.client_body_timeout_secs),
            ("balancer.client_idle_timeout_secs", b.client_idle_timeout_secs),
            ("balancer.request_timeout_secs", b.request_timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 86_400.0) {
                return Err(ConfigError::new(
                    path,
                    key,
                    format!("{v} is out of range"),
                    "use a number of seconds above 0 and below 86400",
                ));
            }
        }
        if b.max_body_bytes == 0 {
            return Err(ConfigError::new(
                path,
                "balancer.max_body_bytes",
                "must be above 0",
                "e.g. max_body_bytes = 10485760",
            ));
        }
        for (key, v, fix) in [
            ("balancer.max_connections", b.max_connections as u64, "e.g. max_connections = 10000"),
            (
                "balancer.http2_max_concurrent_streams",
                u64::from(b.http2_max_concurrent_streams),
                "e.g. http2_max_concurrent_streams = 100",
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::new(path, key, "must be above 0", fix));
            }
        }
        if b.max_buffered_bytes < b.max_body_bytes {
            return Err(ConfigError::new(
                path,
                "balancer.max_buffered_bytes",
                format!("{} is below max_body_bytes ({})", b.max_buffered_bytes, b.max_body_bytes),
                "make it at least max_body_bytes, e.g. max_buffered_bytes = 268435456",
            ));
        }
        if let Some(shared) = &b.shared_state
            && !(shared.url.starts_with("redis://") || shared.url.starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                path,
                "balancer.shared_state.url",
                format!("`{}` is not a Redis URL", redact_url(&shared.url)),
                "write redis://HOST:PORT or rediss://HOST:PORT",
            ));
        }
        if self.backends.len() > MAX_BACKENDS {
            return Err(ConfigError::new(
                path,
                "backends",
                format!("{} backends; at most {MAX_BACKENDS} are supported", self.backends.len()),
                "split them over several balancers",
            ));
        }
        let mut names = HashSet::new();
        for (i, backend) in self.backends.iter().enumerate() {
            let key = |field: &str| format!("backends[{i}].{field}");
            validate_name(path, &key("name"), &backend.name)?;
            if !names.insert(backend.name.as_str()) {
                return Err(ConfigError::new(
                    path,
                    key("name"),
                    format!("`{}` is used twice", backend.name),
                    "give every backend a unique name",
                ));
            }
            validate_backend_url(&backend.url).map_err(|problem| {
                ConfigError::new(path, key("url"), problem, "use https://HOST, or http:// only for 127.0.0.1/localhost")
            })?;
            validate_rank(path, &key("priority"), backend.priority, "1 is the most preferred; set priority = 1")?;
            validate_rank(path, &key("weight"), backend.weight, "set weight = 1, or remove the key")?;
            if backend.auth == BackendAuth::ApiKey && backend.api_key_env.is_none() {
                return Err(ConfigError::new(
                    path,
                    key("api_key_env"),
                    "auth = \"api-key\" needs the name of the variable holding the key",
                    "add api_key_env = \"MY_KEY_VAR\"",
                ));
            }
        }
        let mut account_names = HashSet::new();
        for (i, account) in self.openai.iter().enumerate() {
            let key = |field: &str| format!("openai[{i}].{field}");
            validate_name(path, &key("name"), &account.name)?;
            if !account_names.insert(account.name.as_str()) || names.contains(account.name.as_str()) {
                return Err(ConfigError::new(
                    path,
                    key("name"),
                    format!("`{}` is used twice", account.name),
                    "give every account and backend a unique name",
                ));
            }
            validate_account_name(path, &key("name"), &account.name)?;
            validate_rank(path, &key("priority"), account.priority, "1 is the most preferred; set priority = 1")?;
            validate_rank(path, &key("weight"), account.weight, "set weight = 1, or remove the key")?;
        }
        if let Some(monitoring) = &self.monitoring {
            validate_monitoring(path, monitoring)?;
        }
        if let Some(azure) = &b.azure {
            balancer_azure::validate(path, self, azure)?;
        }
        if let Some(apim) = &self.apim {
            if !APIM_SKUS.contains(&apim.sku.as_str()) {
                return Err(ConfigError::new(
                    path,
                    "apim.sku",
                    format!("`{}` is not an APIM SKU", apim.sku),
                    format!("use one of {}", APIM_SKUS.join(", ")),
                ));
            }
            let has_tenant = self.azure.as_ref().is_some_and(|a| a.tenant_id.as_deref().is_some_and(|t| !t.is_empty()));
            if apim.client_auth.is_some() && !has_tenant {
                return Err(ConfigError::new(
                    path,
                    "azure.tenant_id",
                    "[apim.client_auth] validates Entra tokens, which needs the tenant",
                    "add tenant_id = \"<your Entra tenant id>\" under [azure]",
                ));
            }
            if let Err(unmet) = crate::policy::requirements(self, apim) {
                return Err(ConfigError::new(path, unmet.key, unmet.problem, unmet.fix));
            }
        }
        Ok(())
    }

    /// Checks that the environment variables `uses` reads are set, naming the key that
    /// names each one.
    pub fn check_env(&self, path: &Path, uses: EnvUse) -> Result<(), ConfigError> {
        if uses.backend_keys {
            for (i, backend) in self.backends.iter().enumerate() {
                if let (BackendAuth::ApiKey, Some(var)) = (backend.auth, &backend.api_key_env) {
                    require_env(path, &format!("backends[{i}].api_key_env"), var)?;
                }
            }
        }
        if uses.balancer_secrets {
            if let Some(var) = &self.balancer.client_keys_env {
                require_env(path, "balancer.client_keys_env", var)?;
            }
            if let Some(var) = self.balancer.shared_state.as_ref().and_then(|s| s.password_env.as_ref()) {
                require_env(path, "balancer.shared_state.password_env", var)?;
            }
        }
        Ok(())
    }

    /// The `api-key` backends whose key variable is unset, as (backend, variable): what a
    /// command that never reads a key can still tell the user to export.
    pub fn unset_backend_keys(&self) -> Vec<(&str, &str)> {
        self.backends
            .iter()
            .filter(|b| b.auth == BackendAuth::ApiKey)
            .filter_map(|b| Some((b.name.as_str(), b.api_key_env.as_deref()?)))
            .filter(|(_, var)| std::env::var(var).map_or(true, |v| v.trim().is_empty()))
            .collect()
    }

    /// The OpenAI endpoints APIM balances over, in the one order the stack, the policy's
    /// backend list and the Bicep use: the `[[openai]]` accounts `deploy` creates (called
    /// with APIM's managed identity, so `entra`), then the `[[backends]]`.
    pub fn gateway_backends(&self) -> Vec<GatewayBackend> {
        let accounts = self.openai.iter().map(|a| GatewayBackend {
            name: a.name.clone(),
            url: crate::names::account_endpoint(&a.name),
            priority: a.priority,
            weight: a.weight,
            auth: BackendAuth::Entra,
            api_key_env: None,
            deployments: a.deployments.iter().map(|d| d.name.clone()).collect(),
        });
        let endpoints = self.backends.iter().map(|b| GatewayBackend {
            name: b.name.clone(),
            url: b.url.trim_end_matches('/').to_string(),
            priority: b.priority,
            weight: b.weight,
            auth: b.auth,
            api_key_env: b.api_key_env.clone().filter(|_| b.auth == BackendAuth::ApiKey),
            deployments: b.deployments.clone(),
        });
        accounts.chain(endpoints).collect()
    }

    /// The listen address, already validated.
    pub fn listen_addr(&self) -> SocketAddr {
        self.balancer.listen.parse().expect("validated in Config::validate")
    }
}

fn validate_monitoring(path: &Path, m: &MonitoringSection) -> Result<(), ConfigError> {
    let ids = [
        ("monitoring.workspace_id", &m.workspace_id, "Microsoft.OperationalInsights/workspaces"),
        ("monitoring.app_insights_id", &m.app_insights_id, "Microsoft.Insights/components"),
    ];
    for (key, id, resource_type) in ids {
        if let Some(id) = id
            && parse_resource_id(id, resource_type).is_none()
        {
            return Err(ConfigError::new(
                path,
                key,
                format!("`{id}` is not the ARM id of a {resource_type} resource"),
                format!(
                    "write /subscriptions/SUB/resourceGroups/RG/providers/{resource_type}/NAME, or remove the key to let deploy create one"
                ),
            ));
        }
    }
    if m.workspace_id.is_some() && m.app_insights_id.is_some() {
        return Err(ConfigError::new(
            path,
            "monitoring.workspace_id",
            "an existing Application Insights component already sends to its own workspace",
            "remove workspace_id, or remove app_insights_id to let deploy create the component in that workspace",
        ));
    }
    let p = m.sampling_percentage;
    if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
        return Err(ConfigError::new(
            path,
            "monitoring.sampling_percentage",
            format!("{p} is not a percentage"),
            "use a number from 0 to 100, e.g. sampling_percentage = 100",
        ));
    }
    for (i, header) in m.log_headers.iter().enumerate() {
        let key = format!("monitoring.log_headers[{i}]");
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(ConfigError::new(
                path,
                key,
                format!("`{header}` is not a header name"),
                "use a name such as \"x-ms-region\"",
            ));
        }
        if SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(header)) {
            return Err(ConfigError::new(
                path,
                key,
                format!("`{header}` carries credentials and is never logged"),
                "remove it from log_headers",
            ));
        }
    }
    Ok(())
}

/// Backend and account names become header values, metric labels and ARM resource names.
fn validate_name(path: &Path, key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            path,
            key,
            format!("`{name}` is not a valid name"),
            "use 1-80 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// Priorities and weights become APIM pool members' `priority` and `weight`, which APIM
/// takes from 0 to 100; 0 means nothing here, so 1–100.
fn validate_rank(path: &Path, key: &str, value: u32, fix: &str) -> Result<(), ConfigError> {
    if (1..=100).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::new(path, key, format!("must be from 1 to 100, not {value}"), fix))
}

/// An `[[openai]]` account's name is its custom subdomain (`{name}.openai.azure.com`): a
/// DNS label of 2–64 letters, digits and hyphens, not starting or ending with a hyphen.
fn validate_account_name(path: &Path, key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = (2..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(ConfigError::new(
        path,
        key,
        format!("`{name}` cannot be an Azure OpenAI account name (it becomes {name}.openai.azure.com)"),
        "use 2-64 letters, digits and hyphens, starting and ending with a letter or digit",
    ))
}

/// A backend URL must be https, or http on a loopback host (simulators, local tests).
pub fn validate_backend_url(raw: &str) -> Result<http::Uri, String> {
    // Messages show the URL without user info or query, which may carry secrets.
    let url = redact_url(raw);
    let uri: http::Uri = raw.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback_host(host) => Ok(uri),
        Some("http") => Err(format!("`{url}` is plain http to a non-loopback host")),
        _ => Err(format!("`{url}` must start with https://")),
    }
}

/// A URL fit for messages: user info (`user:password@`) and the query string, which may
/// carry secrets, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (rest, query) = match url.split_once('?') {
        Some((rest, _)) => (rest, "?***"),
        None => (url, ""),
    };
    let after_scheme = rest.find("://").map_or(0, |i| i + 3);
    let authority_end = rest[after_scheme..].find('/').map_or(rest.len(), |i| after_scheme + i);
    match rest[after_scheme..authority_end].rfind('@') {
        Some(at) => format!("{}***{}{query}", &rest[..after_scheme], &rest[after_scheme + at..]),
        None => format!("{rest}{query}"),
    }
}

pub use crate::arm::is_loopback_host;

fn require_env(path: &Path, key: &str, var: &str) -> Result<(), ConfigError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(ConfigError::new(
            path,
            key,
            format!("environment variable {var} is not set"),
            format!("export {var}=..."),
        )),
    }
}

/// Turns a TOML/serde error into one line with the dotted key when serde names one.
fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().replace('\n', " ");
    let location = err
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        })
        .unwrap_or_default();
    let fix = if message.contains("unknown field") {
        "remove or correct the key; see the README's config reference"
    } else if message.contains("missing field") {
        "add the missing key"
    } else {
        "correct the value; see the README's config reference"
    };
    ConfigError::new(path, location, message, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_lose_user_info_and_query() {
        assert_eq!(redact_url("https://u:pw@h.example/p?key=s"), "https://***@h.example/p?***");
        assert_eq!(redact_url("redis://:pw@h:6379"), "redis://***@h:6379");
        assert_eq!(redact_url("https://h.example/a@b"), "https://h.example/a@b");
        assert_eq!(redact_url("https://h.example"), "https://h.example");
        let e = validate_backend_url("ftp://u:pw@h/x?sig=s").unwrap_err();
        assert!(!e.contains("pw") && !e.contains("sig"), "{e}");
        let shared = SharedStateSection { url: "redis://:pw@h".into(), key_prefix: "p".into(), password_env: None };
        assert!(!format!("{shared:?}").contains("pw"));
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("oai-lb.toml"), text)
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.balancer.listen, "127.0.0.1:8080");
        assert_eq!(c.balancer.default_cooldown_secs, 10.0);
        assert_eq!(c.balancer.all_throttled, AllThrottled::Reject);
        assert!(c.balancer.proactive.enabled);
        assert!(c.balancer.proactive.adaptive);
    }

    #[test]
    fn design_example_parses() {
        // SAFETY: tests in this module set a variable nobody else reads.
        unsafe { std::env::set_var("OAI_LB_TEST_DESIGN_KEY", "k") };
        let c = parse(
            r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"
[apim]
name = "apim-oai-lb"
sku = "Developer"
publisher_email = "ops@example.com"
publisher_name = "Contoso"
[balancer]
listen = "127.0.0.1:8080"
all_throttled = "primary"
[[backends]]
name = "eastus-ptu"
url = "https://contoso-eastus.openai.azure.com"
priority = 1
auth = "api-key"
api_key_env = "OAI_LB_TEST_DESIGN_KEY"
[[openai]]
name = "contoso-eastus"
location = "eastus"
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20", sku = "GlobalStandard", capacity = 50 }]
"#,
        )
        .unwrap();
        assert_eq!(c.backends[0].auth, BackendAuth::ApiKey);
        assert_eq!(c.balancer.all_throttled, AllThrottled::Primary);
        assert_eq!(c.openai[0].deployments[0].capacity, 50);
        assert_eq!(c.apim.unwrap().strategy, Strategy::Policy);
    }

    #[test]
    fn errors_name_key_and_fix() {
        let e = parse("[[backends]]\nname = \"a\"\nurl = \"http://10.0.0.1\"\n").unwrap_err();
        assert_eq!(e.key, "backends[0].url");
        assert!(e.to_string().contains("fix:"), "{e}");

        let e = parse("[[backends]]\nname = \"a\"\nurl = \"https://x\"\npriority = 0\n").unwrap_err();
        assert_eq!(e.key, "backends[0].priority");
        let e = parse("[[backends]]\nname = \"a\"\nurl = \"https://x\"\nweight = 101\n").unwrap_err();
        assert_eq!(e.key, "backends[0].weight");
        assert!(e.to_string().contains("1 to 100") && e.to_string().contains("fix:"), "{e}");
        for bad in ["a", "my_account", "-east", "east.us"] {
            let text = format!("[[openai]]\nname = \"{bad}\"\nlocation = \"eastus\"\ndeployments = []\n");
            let e = parse(&text).unwrap_err();
            assert_eq!(e.key, "openai[0].name", "{bad}");
            assert!(e.to_string().contains("openai.azure.com"), "{e}");
        }

        let e = parse("[[backends]]\nname=\"a\"\nurl=\"https://x\"\n[[backends]]\nname=\"a\"\nurl=\"https://y\"\n")
            .unwrap_err();
        assert_eq!(e.key, "backends[1].name");

        let e = parse("[balancer]\nlisten = \"nope\"\n").unwrap_err();
        assert_eq!(e.key, "balancer.listen");

        let e = parse("[balancer]\nlisen = \"x\"\n").unwrap_err();
        assert!(e.problem.contains("unknown field"), "{e}");
        assert_eq!(e.key, "line 2");

        // A missing key variable is not a config error: only the commands that read it
        // check it.
        let c = parse(
            "[[backends]]\nname=\"a\"\nurl=\"https://x\"\nauth=\"api-key\"\napi_key_env=\"OAI_LB_SURELY_UNSET_VAR\"\n",
        )
        .unwrap();
        let path = Path::new("oai-lb.toml");
        assert!(c.check_env(path, EnvUse::default()).is_ok());
        let e = c.check_env(path, EnvUse { backend_keys: true, ..EnvUse::default() }).unwrap_err();
        assert!(e.problem.contains("OAI_LB_SURELY_UNSET_VAR"), "{e}");
        assert_eq!(e.key, "backends[0].api_key_env");
    }

    #[test]
    fn monitoring_is_checked() {
        let c = parse("[monitoring]\n").unwrap();
        assert_eq!(c.monitoring.unwrap().sampling_percentage, 100.0);
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/components/ai";
        let c = parse(&format!("[monitoring]\napp_insights_id = \"{id}\"\nsampling_percentage = 25\n")).unwrap();
        assert_eq!(
            parse_resource_id(
                c.monitoring.unwrap().app_insights_id.as_deref().unwrap(),
                "Microsoft.Insights/components"
            ),
            Some(("s", "rg", "ai"))
        );

        let e = parse("[monitoring]\nsampling_percentage = 101\n").unwrap_err();
        assert_eq!(e.key, "monitoring.sampling_percentage");
        let e = parse("[monitoring]\nlog_headers = [\"x-ms-region\", \"Api-Key\"]\n").unwrap_err();
        assert_eq!(e.key, "monitoring.log_headers[1]");
        assert!(e.to_string().contains("fix:"), "{e}");
        let e = parse("[monitoring]\nworkspace_id = \"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/components/ai\"\n")
            .unwrap_err();
        assert_eq!(e.key, "monitoring.workspace_id");
        let ws = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w";
        let e = parse(&format!("[monitoring]\nworkspace_id = \"{ws}\"\napp_insights_id = \"{id}\"\n")).unwrap_err();
        assert_eq!(e.key, "monitoring.workspace_id");
        let e = parse("[monitoring]\nsampling = 5\n").unwrap_err();
        assert!(e.problem.contains("unknown field"), "{e}");
    }

    #[test]
    fn loopback_http_is_allowed_only_on_loopback() {
        assert!(validate_backend_url("http://127.0.0.1:9000").is_ok());
        assert!(validate_backend_url("http://localhost:9000").is_ok());
        assert!(validate_backend_url("http://[::1]:9000").is_ok());
        assert!(validate_backend_url("http://example.com").is_err());
        assert!(validate_backend_url("ftp://example.com").is_err());
        assert!(validate_backend_url("https://example.com").is_ok());
    }
}
