//! The OpenAPI 3.0 document APIM imports for the OpenAI API: the Azure OpenAI inference
//! operations clients call through the gateway.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The inference operations: (operation id, path under `/deployments/{deployment-id}`, summary).
const OPERATIONS: &[(&str, &str, &str)] = &[
    ("ChatCompletions_Create", "chat/completions", "Creates a completion for the chat message"),
    ("Completions_Create", "completions", "Creates a completion for the prompt"),
    ("embeddings_create", "embeddings", "Gets a vector representation of the input"),
];

/// The `/openai/v1/…` API (deployment from the body's `model`), as in bicep/openai-api.json:
/// (method, operation id, path, summary). Without an operation APIM answers 404 and the
/// policy never runs.
const V1_OPERATIONS: &[(&str, &str, &str, &str)] = &[
    ("post", "V1ChatCompletions_Create", "/v1/chat/completions", "Chat completions (v1 API)"),
    ("post", "V1Embeddings_Create", "/v1/embeddings", "Embeddings (v1 API)"),
    ("post", "V1Responses_Create", "/v1/responses", "Responses (v1 API)"),
    ("get", "V1Models_List", "/v1/models", "Models (v1 API)"),
];

/// The document as the JSON text APIM's `openapi+json` import expects.
pub fn document(api_path: &str) -> String {
    let mut paths = serde_json::Map::new();
    for (operation_id, path, summary) in OPERATIONS {
        paths.insert(
            format!("/deployments/{{deployment-id}}/{path}"),
            json!({"post": {
                "operationId": operation_id,
                "summary": summary,
                "parameters": [
                    {"name": "deployment-id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "api-version", "in": "query", "required": true, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "429": {"description": "Too many requests"},
                },
            }}),
        );
    }
    for (method, operation_id, path, summary) in V1_OPERATIONS {
        paths.insert(
            path.to_string(),
            json!({*method: {"operationId": operation_id, "summary": summary, "responses": {"200": {"description": "OK"}}}}),
        );
    }
    let doc: Value = json!({
        "openapi": "3.0.1",
        "info": {"title": "Azure OpenAI (oai-lb)", "version": "2024-10-21"},
        "servers": [{"url": format!("https://gateway/{}", api_path.trim_matches('/'))}],
        "paths": paths,
        "components": {"securitySchemes": {"apiKey": {"type": "apiKey", "name": "api-key", "in": "header"}}},
        "security": [{"apiKey": []}],
    });
    doc.to_string()
}

/// A short hash of the document, kept in the API's description so a changed document is
/// seen as drift (APIM does not return the imported document).
pub fn fingerprint(document: &str) -> String {
    let digest = Sha256::digest(document.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_inference_operations() {
        let doc: Value = serde_json::from_str(&document("openai")).unwrap();
        for path in ["chat/completions", "completions", "embeddings"] {
            assert!(doc["paths"][format!("/deployments/{{deployment-id}}/{path}")]["post"].is_object(), "{path}");
        }
        // The v1 API reaches the policy too, as in the Bicep.
        let bicep: Value = serde_json::from_str(include_str!("../../bicep/openai-api.json")).unwrap();
        for (path, item) in bicep["paths"].as_object().unwrap().iter().filter(|(p, _)| p.starts_with("/v1/")) {
            let method = item.as_object().unwrap().keys().next().unwrap();
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
