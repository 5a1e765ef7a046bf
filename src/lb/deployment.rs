//! Which model deployment a request is for: Azure OpenAI limits are per deployment, so
//! cooldowns are kept per (backend, deployment).
//!
//! The deployment comes from the path (`/openai/deployments/{name}/…`) or, for the
//! `/openai/v1/…` and `/v1/…` APIs, from the JSON body's `model`. Requests with neither
//! share one per-backend key, the empty string.

use std::borrow::Cow;

/// The key of requests that name no deployment.
pub const NO_DEPLOYMENT: &str = "";

/// The deployment a request targets, borrowed from its path or body where possible.
pub fn of_request<'a>(path: &'a str, body: &'a [u8]) -> Cow<'a, str> {
    if let Some(name) = from_path(path) {
        return Cow::Borrowed(name);
    }
    if is_v1_path(path)
        && let Some(model) = model_from_body(body)
    {
        return model;
    }
    Cow::Borrowed(NO_DEPLOYMENT)
}

/// `/openai/deployments/{name}/…` → `name`.
pub fn from_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let name = rest.split(['/', '?']).next()?;
    (!name.is_empty()).then_some(name)
}

fn is_v1_path(path: &str) -> bool {
    path.starts_with("/openai/v1/") || path.starts_with("/v1/")
}

/// The body's top-level `"model"`, without allocating unless it contains escapes.
pub fn model_from_body(body: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Model<'a> {
        #[serde(borrow)]
        model: Option<Cow<'a, str>>,
    }
    if body.is_empty() {
        return None;
    }
    serde_json::from_slice::<Model<'_>>(body).ok()?.model.filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_from_the_path() {
        assert_eq!(of_request("/openai/deployments/gpt-4o/chat/completions", b""), "gpt-4o");
        assert_eq!(of_request("/openai/deployments/emb/embeddings", br#"{"model":"x"}"#), "emb");
        assert_eq!(from_path("/openai/deployments//chat"), None);
        assert_eq!(from_path("/openai/models"), None);
    }

    #[test]
    fn model_from_the_body_on_v1_paths() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini"}"#;
        assert_eq!(of_request("/openai/v1/chat/completions", body), "gpt-4o-mini");
        assert_eq!(of_request("/v1/embeddings", br#"{"model":"te\u0073t"}"#), "test");
    }

    #[test]
    fn neither_shares_one_key() {
        assert_eq!(of_request("/openai/v1/chat/completions", b"not json"), NO_DEPLOYMENT);
        assert_eq!(of_request("/openai/models", br#"{"model":"x"}"#), NO_DEPLOYMENT);
        assert_eq!(of_request("/v1/chat/completions", b""), NO_DEPLOYMENT);
    }
}
