//! The ARM error model: what ARM said (status, code, message, request id) or why we could
//! not ask it.

use crate::credential::CredentialError;

/// A failed ARM call. `Api` and `Operation` carry ARM's own `code` and `message` so the CLI
/// can show them as `ARM <status> <code>: <message> (request id …)`.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with an error status.
    #[error("ARM {status} {code}: {message} (request id {request_id})")]
    Api { status: u16, code: String, message: String, request_id: String },
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("ARM operation {state} {code}: {message} (request id {request_id})")]
    Operation { state: String, code: String, message: String, request_id: String },
    /// ARM could not be reached (after retries).
    #[error(
        "cannot reach ARM at {endpoint}: {message} (fix: check the network, any proxy, and the ARM endpoint: --arm-endpoint / OAI_LB_ARM_ENDPOINT)"
    )]
    Transport { endpoint: String, message: String },
    /// ARM answered something the contract does not allow.
    #[error("unexpected ARM response for {url}: {message}")]
    Protocol { url: String, message: String },
    /// The endpoint given with --arm-endpoint / OAI_LB_ARM_ENDPOINT is not usable.
    #[error("ARM endpoint `{endpoint}`: {problem} (fix: use https://HOST, or http:// only for 127.0.0.1/localhost)")]
    Endpoint { endpoint: String, problem: String },
    /// No token.
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

impl ArmError {
    /// The HTTP status ARM answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// ARM's error code (`ResourceNotFound`, `PrincipalNotFound`, …), if it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Api { code, .. } | ArmError::Operation { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for a 409 that says the target is busy (an API Management service still
    /// `Activating` or `Updating`, another operation in progress): worth retrying.
    pub fn is_busy(&self) -> bool {
        let ArmError::Api { status: 409, code, message, .. } = self else { return false };
        let message = message.to_ascii_lowercase();
        matches!(code.as_str(), "ServiceLocked" | "PessimisticConcurrencyConflict" | "AnotherOperationInProgress")
            || code == "Conflict" && (message.contains("in progress") || message.contains("transition"))
    }

    /// Builds the error from an ARM error body (`{"error":{"code","message"}}`), tolerating
    /// bodies that are not ARM-shaped (a proxy's HTML page, an empty body).
    pub(crate) fn from_response(status: u16, request_id: &str, body: &[u8]) -> ArmError {
        let (code, message) = error_parts(body).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let message = if text.is_empty() { "no error body".to_string() } else { truncate(&text, 300) };
            (reason(status), message)
        });
        ArmError::Api { status, code, message, request_id: or_unknown(request_id) }
    }
}

/// `code` and `message` from `{"error":{…}}` or a bare `{"code","message"}`.
pub(crate) fn error_parts(body: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error").unwrap_or(&value);
    let code = error.get("code")?.as_str()?.to_string();
    let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string();
    Some((code, message))
}

pub(crate) fn or_unknown(request_id: &str) -> String {
    if request_id.is_empty() { "unknown".into() } else { request_id.into() }
}

fn reason(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| r.replace(' ', ""))
        .unwrap_or_else(|| "Error".into())
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_status_code_message_and_request_id() {
        let e = ArmError::from_response(
            409,
            "abc-123",
            br#"{"error":{"code":"Conflict","message":"The resource is busy."}}"#,
        );
        assert_eq!(e.to_string(), "ARM 409 Conflict: The resource is busy. (request id abc-123)");
        assert_eq!(e.code(), Some("Conflict"));
    }

    #[test]
    fn a_409_that_says_busy_is_busy() {
        let busy = |status: u16, code: &str, message: &str| {
            let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
            ArmError::from_response(status, "", body.as_bytes()).is_busy()
        };
        assert!(busy(409, "ServiceLocked", "The API Management service is transitioning at this moment."));
        assert!(busy(409, "PessimisticConcurrencyConflict", "Operation on the API is in progress"));
        assert!(busy(409, "Conflict", "Another operation is in progress."));
        assert!(!busy(409, "RoleAssignmentExists", "The role assignment already exists."));
        assert!(!busy(409, "ServiceAlreadyExistsInSoftDeletedState", "Api service x was soft-deleted."));
        assert!(!busy(400, "ServiceLocked", "x"));
    }

    #[test]
    fn tolerates_bodies_that_are_not_arm_errors() {
        let e = ArmError::from_response(502, "", b"<html>\n bad gateway </html>");
        assert_eq!(e.to_string(), "ARM 502 BadGateway: <html> bad gateway </html> (request id unknown)");
    }
}
