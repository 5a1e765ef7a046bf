//! Token usage, read from responses as they stream through — never by buffering them.
//!
//! * [`Scanner`] is a small incremental JSON lexer fed every frame of a successful answer. It
//!   tracks strings (so a key is only a key, never text inside a message) and remembers the
//!   last `prompt_tokens` / `completion_tokens` (or `input_tokens` / `output_tokens`)
//!   numbers it sees. The same scanner reads a JSON body split over many frames and the
//!   final SSE chunk of a stream; it keeps a few bytes of state and allocates nothing.
//! * With `[balancer] stream_usage = "inject"`, [`inject`] adds
//!   `stream_options.include_usage` to streaming chat/completions requests, and
//!   [`SseFilter`] removes the usage-only chunk that this adds before it reaches a client
//!   that did not ask for it. The filter holds back at most one incomplete SSE event.
//! * [`TokenCounters`] keeps the totals per deployment for `/metrics` and `/lb/backends`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use serde::Deserialize;

use crate::config::StreamUsage;

/// Usage numbers found in a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
}

/// Which usage key the scanner is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Prompt,
    Completion,
}

impl Key {
    fn of(name: &[u8]) -> Option<Key> {
        // Most strings are not keys: their length says so without comparing bytes.
        if !matches!(name.len(), 12 | 13 | 17) {
            return None;
        }
        match name {
            b"prompt_tokens" | b"input_tokens" => Some(Key::Prompt),
            b"completion_tokens" | b"output_tokens" => Some(Key::Completion),
            _ => None,
        }
    }
}

/// Longest string the scanner remembers (the longest key it looks for fits).
const KEY_CAP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside any string, no key pending.
    Outside,
    /// Inside a string; `escaped` after a backslash.
    InString { escaped: bool },
    /// Just after a string that may be a usage key: waiting for `:`.
    AfterKey(Key),
    /// After `key:`: waiting for the number.
    BeforeValue(Key),
    /// Reading the digits of the value.
    Number(Key, u64),
}

/// The incremental usage reader; see the module documentation.
#[derive(Debug, Clone)]
pub struct Scanner {
    state: State,
    key: [u8; KEY_CAP],
    key_len: usize,
    prompt: Option<u64>,
    completion: Option<u64>,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner { state: State::Outside, key: [0; KEY_CAP], key_len: 0, prompt: None, completion: None }
    }
}

impl Scanner {
    /// Reads one more piece of the body.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Outside => match memchr::memchr(b'"', data) {
                    Some(i) => {
                        self.state = State::InString { escaped: false };
                        self.key_len = 0;
                        data = &data[i + 1..];
                    }
                    None => return,
                },
                State::InString { escaped } => {
                    if escaped {
                        self.key_len = KEY_CAP + 1; // an escape: not one of our keys
                        self.state = State::InString { escaped: false };
                        data = &data[1..];
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', data) {
                        Some(i) if data[i] == b'\\' => {
                            self.remember(&data[..i]);
                            self.state = State::InString { escaped: true };
                            data = &data[i + 1..];
                        }
                        Some(i) => {
                            // A string that began in this frame is read in place, not copied.
                            let key = if self.key_len == 0 {
                                Key::of(&data[..i])
                            } else {
                                self.remember(&data[..i]);
                                (self.key_len <= KEY_CAP).then(|| Key::of(&self.key[..self.key_len])).flatten()
                            };
                            self.state = key.map_or(State::Outside, State::AfterKey);
                            data = &data[i + 1..];
                        }
                        None => {
                            self.remember(data);
                            return;
                        }
                    }
                }
                State::AfterKey(key) | State::BeforeValue(key) => {
                    let byte = data[0];
                    self.state = match (self.state, byte) {
                        (_, b' ' | b'\t' | b'\r' | b'\n') => self.state,
                        (State::AfterKey(_), b':') => State::BeforeValue(key),
                        (State::BeforeValue(_), b'0'..=b'9') => State::Number(key, u64::from(byte - b'0')),
                        // Not `"key": <number>` (a string value, null, the end of an object):
                        // look again from here, this byte may open a string.
                        _ => {
                            self.state = State::Outside;
                            continue;
                        }
                    };
                    data = &data[1..];
                }
                State::Number(key, value) => {
                    let byte = data[0];
                    if byte.is_ascii_digit() {
                        self.state =
                            State::Number(key, value.saturating_mul(10).saturating_add(u64::from(byte - b'0')));
                        data = &data[1..];
                    } else {
                        self.finish_number(key, value);
                        self.state = State::Outside;
                    }
                }
            }
        }
    }

    fn remember(&mut self, part: &[u8]) {
        let start = self.key_len;
        self.key_len += part.len();
        if self.key_len <= KEY_CAP {
            self.key[start..self.key_len].copy_from_slice(part);
        }
    }

    fn finish_number(&mut self, key: Key, value: u64) {
        match key {
            Key::Prompt => self.prompt = Some(value),
            Key::Completion => self.completion = Some(value),
        }
    }

    /// The usage read so far; `None` when the body carried none.
    pub fn usage(&self) -> Option<Usage> {
        let mut prompt = self.prompt;
        let mut completion = self.completion;
        if let State::Number(key, value) = self.state {
            match key {
                Key::Prompt => prompt = Some(value),
                Key::Completion => completion = Some(value),
            }
        }
        (prompt.is_some() || completion.is_some())
            .then(|| Usage { prompt: prompt.unwrap_or(0), completion: completion.unwrap_or(0) })
    }
}

/// What [`inject`] decided for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// The balancer added `include_usage`: remove the usage-only chunk from the answer.
    pub strip_usage_chunk: bool,
}

/// With `stream_usage = "inject"`, asks a streaming chat/completions request for its usage
/// (`stream_options.include_usage`), rewriting the body and its `content-length`. Other
/// requests, and streams that already ask for it, are left untouched.
pub fn inject(mode: StreamUsage, path: &str, headers: &mut http::HeaderMap, body: &mut Bytes) -> Injected {
    if mode != StreamUsage::Inject || !(path.ends_with("/chat/completions") || path.ends_with("/completions")) {
        return Injected::default();
    }
    // Cheap test first: only bodies that mention "stream" are parsed.
    if memchr::memmem::find(body, b"\"stream\"").is_none() {
        return Injected::default();
    }
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Injected::default();
    };
    if object.get("stream").and_then(serde_json::Value::as_bool) != Some(true) {
        return Injected::default();
    }
    let options = object.entry("stream_options").or_insert_with(|| serde_json::json!({}));
    if !options.is_object() {
        *options = serde_json::json!({});
    }
    let asked = options.get("include_usage").and_then(serde_json::Value::as_bool) == Some(true);
    if asked {
        return Injected::default();
    }
    options["include_usage"] = serde_json::Value::Bool(true);
    let Ok(rewritten) = serde_json::to_vec(&object) else {
        return Injected::default();
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
    *body = Bytes::from(rewritten);
    Injected { strip_usage_chunk: true }
}

/// Largest incomplete SSE event held back while looking for its end; a longer one is passed
/// on as it is (it is not a usage chunk, which is small).
const MAX_HELD_EVENT: usize = 64 * 1024;

/// Removes the usage-only SSE chunk (`"choices":[]` with a `usage` object) from a stream.
/// Complete events pass through as slices of the backend's frame (no copy) unless the frame
/// holds the usage chunk; only the unfinished tail of a frame is held back.
#[derive(Debug, Default)]
pub struct SseFilter {
    held: BytesMut,
}

impl SseFilter {
    /// What to send to the client now for one more frame of the backend's body (may be empty).
    pub fn filter(&mut self, data: Bytes) -> Bytes {
        let data = if self.held.is_empty() {
            data
        } else {
            self.held.extend_from_slice(&data);
            self.held.split().freeze()
        };
        let Some(end) = last_event_end(&data) else {
            if data.len() > MAX_HELD_EVENT {
                return data;
            }
            self.held.extend_from_slice(&data);
            return Bytes::new();
        };
        let (complete, rest) = (data.slice(..end), &data[end..]);
        self.held.extend_from_slice(rest);
        if !mentions_usage_object(&complete) {
            return complete;
        }
        let mut out = BytesMut::with_capacity(complete.len());
        for event in events(&complete) {
            if !is_usage_only(event) {
                out.extend_from_slice(event);
            }
        }
        out.freeze()
    }

    /// Whatever is still held back when the backend's body ends.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.held.split().freeze();
        if is_usage_only(&rest) { Bytes::new() } else { rest }
    }
}

/// Index just past the last blank line (`\n\n` or `\r\n\r\n`) in `data`.
fn last_event_end(data: &[u8]) -> Option<usize> {
    let mut search = data;
    while let Some(i) = memchr::memrchr(b'\n', search) {
        let before = &data[..i];
        if before.ends_with(b"\n") || before.ends_with(b"\n\r") {
            return Some(i + 1);
        }
        search = &data[..i];
    }
    None
}

/// Splits complete SSE text into events, each with its terminating blank line.
fn events(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memmem::find(rest, b"\n\n")
            .map(|i| i + 2)
            .into_iter()
            .chain(memchr::memmem::find(rest, b"\n\r\n").map(|i| i + 3))
            .min()
            .unwrap_or(rest.len());
        let (event, tail) = rest.split_at(end);
        rest = tail;
        Some(event)
    })
}

/// Whether `data` has a `"usage"` key whose value is an object (not `null`).
fn mentions_usage_object(data: &[u8]) -> bool {
    memchr::memmem::find_iter(data, b"\"usage\"").any(|i| {
        let after = data[i + 7..].iter().copied().filter(|b| !b.is_ascii_whitespace());
        let mut after = after;
        after.next() == Some(b':') && after.next() == Some(b'{')
    })
}

/// Whether one SSE event is the chunk `include_usage` adds: no choices, a usage object.
fn is_usage_only(event: &[u8]) -> bool {
    if !mentions_usage_object(event) {
        return false;
    }
    #[derive(Deserialize)]
    struct Chunk {
        choices: Vec<serde::de::IgnoredAny>,
        usage: Option<serde::de::IgnoredAny>,
    }
    let Ok(text) = std::str::from_utf8(event) else { return false };
    let mut payload = String::new();
    for line in text.lines() {
        if let Some(data) = line.strip_prefix("data:") {
            payload.push_str(data.strip_prefix(' ').unwrap_or(data));
        }
    }
    serde_json::from_str::<Chunk>(&payload).is_ok_and(|c| c.choices.is_empty() && c.usage.is_some())
}

/// Tokens served by one backend, per deployment. Only deployments that answered with a
/// usage are listed, so clients cannot grow the table with made-up names.
#[derive(Debug, Default)]
pub struct TokenCounters {
    by_deployment: RwLock<HashMap<Box<str>, [AtomicU64; 2]>>,
}

/// One deployment's totals, as `/lb/backends` and `/metrics` show them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploymentTokens {
    /// The deployment; empty for requests that named none.
    pub deployment: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl TokenCounters {
    pub fn add(&self, deployment: &str, usage: Usage) {
        let add = |counters: &[AtomicU64; 2]| {
            counters[0].fetch_add(usage.prompt, Relaxed);
            counters[1].fetch_add(usage.completion, Relaxed);
        };
        {
            let map = self.by_deployment.read().unwrap_or_else(|e| e.into_inner());
            if let Some(counters) = map.get(deployment) {
                add(counters);
                return;
            }
        }
        let mut map = self.by_deployment.write().unwrap_or_else(|e| e.into_inner());
        add(map.entry(deployment.into()).or_default());
    }

    /// Every deployment's totals, sorted by name.
    pub fn snapshot(&self) -> Vec<DeploymentTokens> {
        let map = self.by_deployment.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map
            .iter()
            .map(|(deployment, c)| DeploymentTokens {
                deployment: deployment.to_string(),
                prompt_tokens: c[0].load(Relaxed),
                completion_tokens: c[1].load(Relaxed),
            })
            .collect();
        all.sort_by(|a, b| a.deployment.cmp(&b.deployment));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(text: &str, piece: usize) -> Option<Usage> {
        let mut s = Scanner::default();
        for chunk in text.as_bytes().chunks(piece) {
            s.feed(chunk);
        }
        s.usage()
    }

    #[test]
    fn reads_usage_of_a_json_body_in_any_split() {
        let body = r#"{"id":"x","choices":[{"message":{"content":"say \"prompt_tokens\": 99 and \\"}}],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":7}}}"#;
        for piece in 1..=body.len() {
            assert_eq!(scan_in_pieces(body, piece), Some(Usage { prompt: 12, completion: 34 }), "piece {piece}");
        }
    }

    #[test]
    fn reads_the_final_sse_usage_chunk_and_ignores_nulls() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}],\"usage\":null}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\": 7 ,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";
        for piece in [1, 5, 17, stream.len()] {
            assert_eq!(scan_in_pieces(stream, piece), Some(Usage { prompt: 7, completion: 3 }));
        }
        assert_eq!(scan_in_pieces("data: {\"choices\":[],\"usage\":null}\n\n", 3), None);
    }

    #[test]
    fn responses_api_names_and_embeddings() {
        assert_eq!(
            scan_in_pieces(
                r#"{"usage":{"input_tokens":5,"output_tokens":6,"output_tokens_details":{"reasoning_tokens":1}}}"#,
                4
            ),
            Some(Usage { prompt: 5, completion: 6 })
        );
        assert_eq!(
            scan_in_pieces(r#"{"usage":{"prompt_tokens":9,"total_tokens":9}}"#, 2),
            Some(Usage { prompt: 9, completion: 0 })
        );
        // A string value, not a key, and a key whose value is not a number.
        assert_eq!(scan_in_pieces(r#"{"a":"prompt_tokens","prompt_tokens":"x","b":1}"#, 3), None);
    }

    #[test]
    fn inject_adds_include_usage_only_to_streams_that_did_not_ask() {
        let mut headers = http::HeaderMap::new();
        let mut body = Bytes::from_static(br#"{"messages":[],"stream":true}"#);
        let got = inject(StreamUsage::Inject, "/openai/deployments/d/chat/completions", &mut headers, &mut body);
        assert!(got.strip_usage_chunk);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(headers[header::CONTENT_LENGTH], body.len().to_string().as_str());

        for (mode, path, text) in [
            (
                StreamUsage::Inject,
                "/openai/deployments/d/chat/completions",
                r#"{"stream":true,"stream_options":{"include_usage":true}}"#,
            ),
            (StreamUsage::Inject, "/openai/deployments/d/chat/completions", r#"{"stream":false}"#),
            (StreamUsage::Inject, "/openai/deployments/d/embeddings", r#"{"stream":true}"#),
            (StreamUsage::Passthrough, "/openai/deployments/d/chat/completions", r#"{"stream":true}"#),
        ] {
            let mut body = Bytes::from(text);
            let got = inject(mode, path, &mut http::HeaderMap::new(), &mut body);
            assert!(!got.strip_usage_chunk, "{text}");
            assert_eq!(body, text.as_bytes());
        }
    }

    #[test]
    fn filter_drops_the_usage_only_chunk_across_any_frame_split() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n\
                      data: [DONE]\n\n";
        let want = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\ndata: [DONE]\n\n";
        for piece in 1..=stream.len() {
            let mut f = SseFilter::default();
            let mut out = Vec::new();
            for chunk in stream.as_bytes().chunks(piece) {
                out.extend_from_slice(&f.filter(Bytes::copy_from_slice(chunk)));
            }
            out.extend_from_slice(&f.finish());
            assert_eq!(String::from_utf8(out).unwrap(), want, "piece {piece}");
        }
    }

    #[test]
    fn filter_passes_whole_events_without_copying() {
        let frame = Bytes::from_static(b"data: {\"choices\":[{\"delta\":{}}]}\n\n");
        let mut f = SseFilter::default();
        let out = f.filter(frame.clone());
        assert_eq!(out.as_ptr(), frame.as_ptr());
        assert_eq!(out.len(), frame.len());
        // An Azure content-filter chunk has no choices but no usage either: kept.
        let azure = Bytes::from_static(b"data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n");
        assert_eq!(f.filter(azure.clone()), azure);
    }

    #[test]
    fn counters_add_per_deployment() {
        let c = TokenCounters::default();
        c.add("gpt", Usage { prompt: 2, completion: 3 });
        c.add("gpt", Usage { prompt: 1, completion: 1 });
        c.add("emb", Usage { prompt: 5, completion: 0 });
        assert_eq!(
            c.snapshot(),
            vec![
                DeploymentTokens { deployment: "emb".into(), prompt_tokens: 5, completion_tokens: 0 },
                DeploymentTokens { deployment: "gpt".into(), prompt_tokens: 3, completion_tokens: 4 },
            ]
        );
    }
}
