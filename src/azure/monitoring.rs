//! `[monitoring]`: what the API diagnostic logs, and where a user looks afterwards.
//!
//! The diagnostic logs the headers that explain a request's path through the balancer
//! (`x-oai-lb-*`, rate-limit and retry headers, the region that answered) and never a header
//! that carries a credential ([`SECRET_HEADERS`]); bodies are not logged (prompts are the
//! users' data), and the subscription key a client may send as the `api-key` query parameter
//! is hidden. `metrics: true` lets the policy's `azure-openai-emit-token-metric` reach
//! Application Insights as custom metrics.

use serde_json::{Value, json};

use crate::config::{MonitoringSection, SECRET_HEADERS};
use crate::names::{DEPLOYMENT_DIMENSION, TOKEN_METRIC_NAMESPACE};

/// Request headers worth logging, from the client and to the backend.
pub const REQUEST_HEADERS: &[&str] = &["x-ms-client-request-id", "x-oai-lb-show-backend", "traceparent"];

/// Response headers worth logging: which backend answered after how many attempts, the
/// quota it reported and how long it asked callers to wait.
pub const RESPONSE_HEADERS: &[&str] = &[
    "x-oai-lb-backend",
    "x-oai-lb-attempts",
    "x-openai-backend-id",
    "retry-after",
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-ms-region",
    "x-ms-client-request-id",
    "apim-request-id",
];

/// The KQL (Application Insights, Logs) answering "tokens per deployment per backend in the
/// last hour" from the policy's token metrics.
pub const TOKENS_BY_DEPLOYMENT_AND_BACKEND_KQL: &str = "customMetrics \
| where timestamp > ago(1h) and name == 'Total Tokens' \
| summarize tokens = sum(valueSum) by deployment = tostring(customDimensions['Deployment']), backend = tostring(customDimensions['Backend ID']) \
| order by tokens desc";

/// The properties of the OpenAI API's `applicationinsights` diagnostic.
pub fn api_diagnostic(m: &MonitoringSection, logger_id: &str) -> Value {
    let with_extra = |defaults: &[&str]| {
        let mut headers: Vec<String> = defaults.iter().map(|h| h.to_string()).collect();
        for h in &m.log_headers {
            if !headers.iter().any(|known| known.eq_ignore_ascii_case(h)) {
                headers.push(h.to_ascii_lowercase());
            }
        }
        headers.retain(|h| !SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(h)));
        headers
    };
    let hide_key = json!({"queryParams": [{"value": "api-key", "mode": "Hide"}]});
    let message = |headers: Vec<String>, masking: Option<&Value>| {
        // No `body`: APIM logs none by default, and prompts are the users' data.
        let mut m = json!({"headers": headers});
        if let Some(masking) = masking {
            m["dataMasking"] = masking.clone();
        }
        m
    };
    let pipeline = || {
        json!({
            "request": message(with_extra(REQUEST_HEADERS), Some(&hide_key)),
            "response": message(with_extra(RESPONSE_HEADERS), None),
        })
    };
    json!({
        "loggerId": logger_id,
        "alwaysLog": "allErrors",
        "sampling": {"samplingType": "fixed", "percentage": m.sampling_percentage},
        "frontend": pipeline(),
        "backend": pipeline(),
        "logClientIp": false,
        "httpCorrelationProtocol": "W3C",
        "verbosity": "information",
        "operationNameFormat": "Name",
        "metrics": true,
    })
}

/// Where to look, for `status` and the README: the metric names and dimensions the policy
/// emits.
pub fn token_metrics_hint() -> String {
    format!(
        "custom metrics 'Total Tokens', 'Prompt Tokens', 'Completion Tokens' in namespace '{TOKEN_METRIC_NAMESPACE}', by 'Backend ID', '{DEPLOYMENT_DIMENSION}' and 'API ID'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagnostic_never_logs_credentials_and_turns_metrics_on() {
        let m = MonitoringSection { log_headers: vec!["X-Custom".into()], ..MonitoringSection::default() };
        let d = api_diagnostic(&m, "/loggers/l");
        let text = d.to_string().to_ascii_lowercase();
        assert!(!text.contains("\"authorization\"") && !text.contains("\"ocp-apim-subscription-key\""), "{d:#}");
        let headers = d["frontend"]["request"]["headers"].as_array().unwrap();
        assert!(!headers.iter().any(|h| h == "api-key"), "{d:#}");
        assert!(headers.iter().any(|h| h == "x-custom"), "{d:#}");
        assert_eq!(d["frontend"]["request"]["dataMasking"]["queryParams"][0]["value"], "api-key");
        assert_eq!(d["metrics"], true);
        assert_eq!(d["sampling"]["percentage"], 100.0);
        assert!(TOKENS_BY_DEPLOYMENT_AND_BACKEND_KQL.contains(DEPLOYMENT_DIMENSION));
    }

    #[test]
    fn the_readme_shows_the_query_status_prints() {
        let readme = include_str!("../../README.md");
        let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            one_line(readme).contains(&one_line(TOKENS_BY_DEPLOYMENT_AND_BACKEND_KQL)),
            "README's monitoring section must show TOKENS_BY_DEPLOYMENT_AND_BACKEND_KQL"
        );
    }
}
