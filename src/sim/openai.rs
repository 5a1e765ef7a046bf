//! The OpenAI wire format as the simulator speaks it: which operation a path names, what a
//! request costs in tokens, and the JSON bodies (completions, chunks, embeddings, errors).
//! Pure functions; the server in `server.rs` does the I/O.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Tokens charged for the completion when the request sets no `max_tokens` (the OpenAI
/// completions API default).
pub const DEFAULT_MAX_TOKENS: u64 = 16;

/// The api-version named in Azure's messages when the request sends none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// Length of an embedding vector unless the request asks for `dimensions`.
const DEFAULT_DIMENSIONS: usize = 8;

/// The words a simulated model answers with, one per chunk.
const WORDS: [&str; 12] =
    ["This", " is", " a", " simulated", " Azure", " OpenAI", " response", " from", " oai-lb", " simulate", ".", " Ok"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    ChatCompletions,
    Completions,
    Embeddings,
}

impl Operation {
    fn from_segment(s: &str) -> Option<Self> {
        match s {
            "chat/completions" => Some(Operation::ChatCompletions),
            "completions" => Some(Operation::Completions),
            "embeddings" => Some(Operation::Embeddings),
            _ => None,
        }
    }

    /// Azure's operation id, as quoted in its 429 message.
    pub fn azure_name(self) -> &'static str {
        match self {
            Operation::ChatCompletions => "ChatCompletions_Create",
            Operation::Completions => "Completions_Create",
            Operation::Embeddings => "Embeddings_Create",
        }
    }
}

/// What a request path asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/openai/deployments/{deployment}/…`
    Deployment {
        deployment: String,
        operation: Operation,
    },
    /// `/openai/v1/…`: the deployment is the body's `model`.
    V1 {
        operation: Operation,
    },
    /// `GET /openai/models` or `/openai/v1/models`.
    Models,
    NotFound,
}

/// Maps a path (without query) to a route.
pub fn route(path: &str) -> Route {
    if path == "/openai/models" || path == "/openai/v1/models" {
        return Route::Models;
    }
    if let Some(rest) = path.strip_prefix("/openai/v1/") {
        return Operation::from_segment(rest).map_or(Route::NotFound, |operation| Route::V1 { operation });
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/")
        && let Some((deployment, op)) = rest.split_once('/')
        && !deployment.is_empty()
        && let Some(operation) = Operation::from_segment(op)
    {
        return Route::Deployment { deployment: deployment.to_string(), operation };
    }
    Route::NotFound
}

/// The parts of a request body the simulator acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub model: Option<String>,
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage-only chunk.
    pub include_usage: bool,
    /// Estimated prompt tokens: bytes of the prompt text / 4, rounded up, at least 1.
    pub prompt_tokens: u64,
    /// `max_tokens` / `max_completion_tokens`, else [`DEFAULT_MAX_TOKENS`]; 0 for embeddings.
    pub max_tokens: u64,
    /// Embedding inputs (one vector each) and the requested dimensions.
    pub inputs: Vec<String>,
    pub dimensions: usize,
}

impl Request {
    /// Parses a body. `Err` carries the message of Azure's 400 answer.
    pub fn parse(operation: Operation, body: &[u8]) -> Result<Request, String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("We could not parse the JSON body of your request. ({e})"))?;
        let Value::Object(obj) = &value else {
            return Err("The request body must be a JSON object.".into());
        };
        let model = obj.get("model").and_then(Value::as_str).map(str::to_string);
        let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let include_usage =
            obj.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool) == Some(true);
        let mut text_bytes = 0usize;
        let mut inputs = Vec::new();
        match operation {
            Operation::ChatCompletions => {
                let messages =
                    obj.get("messages").and_then(Value::as_array).ok_or("'messages' is a required property")?;
                for m in messages {
                    text_bytes += m.get("content").map_or(0, text_len);
                }
            }
            Operation::Completions => text_bytes = obj.get("prompt").map_or(0, text_len),
            Operation::Embeddings => {
                let input = obj.get("input").ok_or("'input' is a required property")?;
                text_bytes = text_len(input);
                inputs = match input {
                    Value::Array(items) if items.iter().all(|i| !i.is_number()) => {
                        items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect()
                    }
                    other => vec![other.as_str().map_or_else(|| other.to_string(), str::to_string)],
                };
            }
        }
        let max_tokens = match operation {
            Operation::Embeddings => 0,
            _ => obj
                .get("max_tokens")
                .or_else(|| obj.get("max_completion_tokens"))
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        };
        let dimensions =
            obj.get("dimensions").and_then(Value::as_u64).map_or(DEFAULT_DIMENSIONS, |d| (d as usize).clamp(1, 3072));
        Ok(Request {
            model,
            stream: stream && operation != Operation::Embeddings,
            include_usage,
            prompt_tokens: (text_bytes as u64).div_ceil(4).max(1),
            max_tokens,
            inputs,
            dimensions,
        })
    }

    /// What the request is charged against the tokens-per-minute limit.
    pub fn cost(&self) -> u64 {
        self.prompt_tokens + self.max_tokens
    }
}

/// Bytes of text in a `content` / `prompt` / `input` value: strings, arrays of strings,
/// content parts with `text`, or token arrays (4 bytes a token, so they count as tokens).
fn text_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(text_len).sum(),
        Value::Object(o) => o.get("text").map_or(0, text_len),
        Value::Number(_) => 4,
        _ => 0,
    }
}

/// The words of a completion: up to `max_tokens` of them, at least one, at most `limit`.
pub fn completion_words(max_tokens: u64, limit: usize) -> Vec<&'static str> {
    let n = (max_tokens as usize).clamp(1, limit.max(1));
    WORDS.iter().cycle().take(n).copied().collect()
}

/// A non-streamed answer for a chat or completions request.
pub fn completion_body(
    operation: Operation,
    id: &str,
    created: u64,
    model: &str,
    req: &Request,
    words: &[&str],
) -> Value {
    let text: String = words.concat();
    let usage = usage(req.prompt_tokens, words.len() as u64);
    match operation {
        Operation::Completions => json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{ "index": 0, "text": text, "finish_reason": "stop", "logprobs": null }],
            "usage": usage,
        }),
        _ => json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_oai_lb_sim",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text, "refusal": null },
                "finish_reason": "stop", "logprobs": null,
            }],
            "usage": usage,
        }),
    }
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

/// One SSE event of a streamed answer: the role in the first chunk, a word in each, the
/// finish reason in the last.
pub fn chunk_event(
    operation: Operation,
    id: &str,
    created: u64,
    model: &str,
    word: &str,
    first: bool,
    last: bool,
) -> String {
    let finish = if last { json!("stop") } else { Value::Null };
    let body = match operation {
        Operation::Completions => json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{ "index": 0, "text": word, "finish_reason": finish, "logprobs": null }],
        }),
        _ => {
            let delta =
                if first { json!({ "role": "assistant", "content": word }) } else { json!({ "content": word }) };
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_oai_lb_sim",
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish, "logprobs": null }],
            })
        }
    };
    format!("data: {body}\n\n")
}

/// The last chunk of a stream whose request set `stream_options.include_usage`: no
/// choices, the usage of the whole answer.
pub fn usage_event(operation: Operation, id: &str, created: u64, model: &str, prompt: u64, completion: u64) -> String {
    let object = match operation {
        Operation::Completions => "text_completion",
        _ => "chat.completion.chunk",
    };
    let body = json!({
        "id": id, "object": object, "created": created, "model": model,
        "choices": [], "usage": usage(prompt, completion),
    });
    format!("data: {body}\n\n")
}

/// The stream's terminator.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";

/// An embeddings answer: a small unit vector per input, derived from the input text so the
/// same text always embeds the same way.
pub fn embeddings_body(model: &str, req: &Request) -> Value {
    let data: Vec<Value> = req
        .inputs
        .iter()
        .enumerate()
        .map(|(i, text)| json!({ "object": "embedding", "index": i, "embedding": embed(text, req.dimensions) }))
        .collect();
    json!({
        "object": "list", "model": model, "data": data,
        "usage": { "prompt_tokens": req.prompt_tokens, "total_tokens": req.prompt_tokens },
    })
}

fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut raw = Vec::with_capacity(dimensions);
    let mut counter = 0u32;
    while raw.len() < dimensions {
        let digest = Sha256::new().chain_update(text.as_bytes()).chain_update(counter.to_le_bytes()).finalize();
        raw.extend(digest.iter().map(|b| f32::from(*b) / 127.5 - 1.0).take(dimensions - raw.len()));
        counter += 1;
    }
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    raw.iter().map(|x| x / norm).collect()
}

/// The model list for `GET /openai/models`: every deployment the server has seen.
pub fn models_body(created: u64, deployments: &[String]) -> Value {
    let data: Vec<Value> = deployments
        .iter()
        .map(|d| json!({ "id": d, "object": "model", "created": created, "owned_by": "oai-lb-simulate" }))
        .collect();
    json!({ "object": "list", "data": data })
}

/// Azure's 429 body.
pub fn throttled_body(operation: Operation, api_version: &str, tokens: bool, retry_after_secs: u64) -> Value {
    let what = if tokens { "token rate limit" } else { "call rate limit" };
    json!({ "error": { "code": "429", "message": format!(
        "Requests to the {} Operation under Azure OpenAI API version {} have exceeded {} of your current OpenAI S0 pricing tier. Please retry after {} second{}. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
        operation.azure_name(), api_version, what, retry_after_secs, if retry_after_secs == 1 { "" } else { "s" }
    ) } })
}

/// Azure's 401 body for a missing or wrong key.
pub fn unauthorized_body() -> Value {
    json!({ "error": { "code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource." } })
}

/// The 500 Azure answers when the model server fails.
pub fn server_error_body(request_id: &str) -> Value {
    json!({ "error": {
        "message": format!("The server had an error while processing your request. Sorry about that! You can retry your request. (Please include the request ID {request_id} in your message.)"),
        "type": "server_error", "param": null, "code": null,
    } })
}

/// A 400 for a body the simulator cannot use.
pub fn bad_request_body(message: &str) -> Value {
    json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": null } })
}

/// Azure's 404 for an unknown path.
pub fn not_found_body() -> Value {
    json!({ "error": { "code": "404", "message": "Resource not found" } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_azure_and_v1_paths() {
        assert_eq!(
            route("/openai/deployments/gpt-4o/chat/completions"),
            Route::Deployment { deployment: "gpt-4o".into(), operation: Operation::ChatCompletions }
        );
        assert_eq!(
            route("/openai/deployments/emb/embeddings"),
            Route::Deployment { deployment: "emb".into(), operation: Operation::Embeddings }
        );
        assert_eq!(route("/openai/v1/completions"), Route::V1 { operation: Operation::Completions });
        assert_eq!(route("/openai/models"), Route::Models);
        assert_eq!(route("/openai/deployments//chat/completions"), Route::NotFound);
        assert_eq!(route("/openai/deployments/x/images"), Route::NotFound);
        assert_eq!(route("/"), Route::NotFound);
    }

    #[test]
    fn chat_cost_is_prompt_bytes_over_four_plus_max_tokens() {
        let body = br#"{"messages":[{"role":"system","content":"12345678"},{"role":"user","content":[{"type":"text","text":"abcd"}]}],"max_tokens":10}"#;
        let req = Request::parse(Operation::ChatCompletions, body).unwrap();
        assert_eq!(req.prompt_tokens, 3);
        assert_eq!(req.cost(), 13);
        assert!(!req.stream);

        let body = br#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;
        let req = Request::parse(Operation::ChatCompletions, body).unwrap();
        assert_eq!(req.cost(), 1 + DEFAULT_MAX_TOKENS);
        assert!(req.stream);
    }

    #[test]
    fn embeddings_cost_only_the_input_and_embed_deterministically() {
        let req = Request::parse(Operation::Embeddings, br#"{"input":["abcdefgh","x"],"dimensions":4}"#).unwrap();
        assert_eq!(req.cost(), 3);
        let body = embeddings_body("emb", &req);
        let v = body["data"][0]["embedding"].as_array().unwrap();
        assert_eq!(v.len(), 4);
        let norm: f64 = v.iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(embeddings_body("emb", &req), body);
    }

    #[test]
    fn bad_bodies_are_refused_with_a_message() {
        assert!(Request::parse(Operation::ChatCompletions, b"not json").is_err());
        assert!(Request::parse(Operation::ChatCompletions, br#"{"prompt":"x"}"#).is_err());
        assert!(Request::parse(Operation::Embeddings, br#"[1]"#).is_err());
    }

    #[test]
    fn throttled_message_names_operation_version_and_wait() {
        let body = throttled_body(Operation::ChatCompletions, "2024-10-21", true, 6);
        let msg = body["error"]["message"].as_str().unwrap();
        assert_eq!(body["error"]["code"], "429");
        assert!(msg.starts_with("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit"));
        assert!(msg.contains("retry after 6 seconds"));
    }

    #[test]
    fn chunks_carry_role_first_and_finish_last() {
        let first = chunk_event(Operation::ChatCompletions, "id", 1, "m", "Hi", true, false);
        let v: Value = serde_json::from_str(first.strip_prefix("data: ").unwrap().trim()).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["choices"][0]["delta"]["role"], "assistant");
        assert!(v["choices"][0]["finish_reason"].is_null());
        let last = chunk_event(Operation::ChatCompletions, "id", 1, "m", "!", false, true);
        assert!(last.contains(r#""finish_reason":"stop""#));
        assert_eq!(completion_words(3, 10).concat(), "This is a");
        assert_eq!(completion_words(100, 2).len(), 2);
    }
}
