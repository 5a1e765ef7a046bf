//! Responses the balancer writes itself, in the OpenAI error shape that SDKs understand:
//! `{"error":{"message":…,"type":…,"param":null,"code":…}}`.

use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use super::body::ProxyBody;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// An OpenAI-shaped error response.
pub fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    let mut response = Response::new(ProxyBody::local(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}

/// Every backend for this deployment is cooling down: 429 with the soonest recovery.
pub fn all_throttled(retry_after_secs: u64, deployment: &str) -> Response<ProxyBody> {
    let target = if deployment.is_empty() { String::new() } else { format!(" for deployment '{deployment}'") };
    let message = format!(
        "All backends{target} are rate limited; the soonest recovers in {retry_after_secs} s. Retry after that."
    );
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", "429", &message);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

pub fn unauthorized() -> Response<ProxyBody> {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "401",
        "Access denied: send one of the balancer's client keys as the api-key header or as Authorization: Bearer.",
    );
    response.headers_mut().insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

pub fn body_too_large(limit: usize) -> Response<ProxyBody> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        "request_too_large",
        &format!("The request body is larger than the balancer's limit of {limit} bytes (balancer.max_body_bytes)."),
    )
}

pub fn no_backend(deployment: &str) -> Response<ProxyBody> {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "DeploymentNotFound",
        &format!("No configured backend serves deployment '{deployment}'."),
    )
}

/// A small local response with a content type (health, metrics, state).
pub fn ok(content_type: &'static str, body: impl Into<bytes::Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::local(body));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `/readyz` while the replica may not take traffic yet.
pub fn not_ready(body: &'static str) -> Response<ProxyBody> {
    let mut response = ok("text/plain; charset=utf-8", body);
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// The buffered-body budget (`max_buffered_bytes`) is spent: try again shortly.
pub fn busy() -> Response<ProxyBody> {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        "503",
        "The balancer is holding as many request bodies as it may (balancer.max_buffered_bytes). Retry shortly.",
    );
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The client did not send its body within `client_body_timeout_secs`.
pub fn body_timeout() -> Response<ProxyBody> {
    error(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request_error",
        "408",
        "The request body did not arrive in time (balancer.client_body_timeout_secs).",
    )
}

/// No backend answered within `request_timeout_secs`, all attempts together.
pub fn deadline(attempts_secs: f64) -> Response<ProxyBody> {
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "server_error",
        "504",
        &format!("No backend answered within {attempts_secs} s (balancer.request_timeout_secs)."),
    )
}

/// A `Host` that is not a loopback name, on a balancer without client keys.
pub fn foreign_host() -> Response<ProxyBody> {
    error(
        StatusCode::FORBIDDEN,
        "invalid_request_error",
        "403",
        "This balancer has no client keys and serves only requests addressed to a loopback host (localhost, 127.0.0.1, [::1]).",
    )
}
