//! OTLP protobuf (`ExportTraceServiceRequest`, opentelemetry-proto's `trace.proto` and
//! `trace_service.proto`), written straight from the span records into one reused buffer.
//!
//! Why not build `opentelemetry-proto`'s message structs and encode them: they own every
//! key and value (`String`, `Vec<u8>`), about thirty allocations per request for a few
//! hundred bytes of output — more instructions than the whole request path spends on
//! tracing. The field numbers below are the proto files'; the tests decode what is written
//! here with `opentelemetry-proto`'s own types.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::span::{AttemptDetail, Detail, Record, RequestDetail};

/// Room for one span's fields, reserved up front so that writes do not grow buffers.
const SPAN_BYTES: usize = 512;

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// `Span.kind` values.
const KIND_SERVER: u64 = 2;
const KIND_CLIENT: u64 = 3;

/// `Status.code`: error.
const STATUS_ERROR: u64 = 2;

/// `Span.flags`: W3C sampled, and "the parent's remoteness is known" / "the parent is remote".
const FLAG_SAMPLED: u32 = 0x01;
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

#[inline]
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn key(field: u32, wire: u32, out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | wire), out);
}

#[inline]
fn bytes_field(field: u32, value: &[u8], out: &mut Vec<u8>) {
    key(field, LEN, out);
    varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// An attribute's value (`AnyValue`'s one-of).
enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl Value<'_> {
    /// The encoded `AnyValue` message's length.
    #[inline]
    fn len(&self) -> usize {
        1 + match self {
            Value::Str(s) => varint_len(s.len() as u64) + s.len(),
            Value::Int(i) => varint_len(*i as u64),
            Value::Double(_) => 8,
            Value::Bool(_) => 1,
        }
    }

    #[inline]
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => bytes_field(1, s.as_bytes(), out),
            Value::Bool(b) => {
                key(2, VARINT, out);
                out.push(u8::from(*b));
            }
            Value::Int(i) => {
                key(3, VARINT, out);
                varint(*i as u64, out);
            }
            Value::Double(d) => {
                key(4, FIXED64, out);
                out.extend_from_slice(&d.to_le_bytes());
            }
        }
    }
}

/// A `KeyValue` message as field `field` of its parent.
#[inline]
fn attribute(field: u32, name: &str, value: Value<'_>, out: &mut Vec<u8>) {
    let value_len = value.len();
    // Keys are shorter than 128 bytes and values' messages too (but for error texts): one-
    // byte lengths, written together with the key.
    if name.len() < 128 && value_len < 128 {
        let len = 2 + name.len() + 2 + value_len;
        if len < 128 {
            out.extend_from_slice(&[(field << 3 | LEN) as u8, len as u8, 1 << 3 | LEN as u8, name.len() as u8]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&[2 << 3 | LEN as u8, value_len as u8]);
            value.write(out);
            return;
        }
    }
    let len = 1 + varint_len(name.len() as u64) + name.len() + 1 + varint_len(value_len as u64) + value_len;
    key(field, LEN, out);
    varint(len as u64, out);
    bytes_field(1, name.as_bytes(), out);
    key(2, LEN, out);
    varint(value_len as u64, out);
    value.write(out);
}

/// `Span.attributes` is field 9.
#[inline]
fn span_attribute(name: &str, value: Value<'_>, out: &mut Vec<u8>) {
    attribute(9, name, value, out);
}

/// Writes export requests; holds the encoded resource and scope, written once.
pub struct Encoder {
    /// `ResourceSpans.resource` (field 1), encoded.
    resource: Vec<u8>,
    /// `ScopeSpans.scope` (field 1), encoded.
    scope: Vec<u8>,
    /// The spans of the request being written (`ScopeSpans.spans`, field 2 each).
    spans: Vec<u8>,
    /// One span's fields, before its length is known.
    span: Vec<u8>,
}

impl Encoder {
    pub fn new(service_name: &str) -> Encoder {
        let mut attributes = Vec::new();
        attribute(1, "service.name", Value::Str(service_name), &mut attributes);
        let mut resource = Vec::new();
        bytes_field(1, &attributes, &mut resource);
        let mut fields = Vec::new();
        bytes_field(1, b"oai-lb", &mut fields);
        bytes_field(2, env!("CARGO_PKG_VERSION").as_bytes(), &mut fields);
        let mut scope = Vec::new();
        bytes_field(1, &fields, &mut scope);
        Encoder { resource, scope, spans: Vec::new(), span: Vec::new() }
    }

    /// One `ExportTraceServiceRequest` with `records` into `out` (cleared first). Instants
    /// become wall-clock times against one reading of both clocks.
    pub fn request(&mut self, records: &[Record], out: &mut Vec<u8>) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let wall = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let unix_nanos = |at: Instant| match now.checked_duration_since(at) {
            Some(ago) => wall.saturating_sub(ago.as_nanos() as u64),
            None => wall + at.duration_since(now).as_nanos() as u64,
        };
        self.spans.clear();
        self.spans.reserve(records.len() * SPAN_BYTES);
        for record in records {
            self.span.clear();
            self.span.reserve(SPAN_BYTES);
            write_span(record, unix_nanos(record.start), unix_nanos(record.end), &mut self.span);
            bytes_field(2, &self.span, &mut self.spans);
        }
        // ScopeSpans { scope, spans } inside ResourceSpans { resource, scope_spans } inside
        // the request's resource_spans (field 1).
        let scope_spans_len = self.scope.len() + self.spans.len();
        let resource_spans_len = self.resource.len() + 1 + varint_len(scope_spans_len as u64) + scope_spans_len;
        out.clear();
        out.reserve(self.resource.len() + self.scope.len() + self.spans.len() + 16);
        key(1, LEN, out);
        varint(resource_spans_len as u64, out);
        out.extend_from_slice(&self.resource);
        key(2, LEN, out);
        varint(scope_spans_len as u64, out);
        out.extend_from_slice(&self.scope);
        out.extend_from_slice(&self.spans);
    }
}

/// A `Span` message's fields.
fn write_span(record: &Record, start: u64, end: u64, out: &mut Vec<u8>) {
    bytes_field(1, &record.trace_id, out);
    bytes_field(2, &record.span_id, out);
    if let Some((parent, _)) = &record.parent {
        bytes_field(4, parent, out);
    }
    let remote = record.parent.is_some_and(|(_, remote)| remote);
    key(16, FIXED32, out);
    let flags = FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | if remote { FLAG_IS_REMOTE } else { 0 };
    out.extend_from_slice(&flags.to_le_bytes());
    match &record.detail {
        Detail::Request(r) => request_fields(r, out),
        Detail::Attempt(a) => attempt_fields(a, out),
    }
    key(7, FIXED64, out);
    out.extend_from_slice(&start.to_le_bytes());
    key(8, FIXED64, out);
    out.extend_from_slice(&end.max(start).to_le_bytes());
}

/// Name (5), kind (6), attributes (9) and status (15) of a request span.
fn request_fields(r: &RequestDetail, out: &mut Vec<u8>) {
    let method = r.method.as_str();
    if r.deployment.is_empty() {
        bytes_field(5, method.as_bytes(), out);
    } else {
        key(5, LEN, out);
        varint((method.len() + 1 + r.deployment.len()) as u64, out);
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(r.deployment.as_bytes());
    }
    key(6, VARINT, out);
    varint(KIND_SERVER, out);
    span_attribute("http.request.method", Value::Str(method), out);
    span_attribute("url.path", Value::Str(r.uri.path()), out);
    span_attribute("oai_lb.deployment", Value::Str(&r.deployment), out);
    span_attribute("oai_lb.attempts", Value::Int(i64::from(r.attempts)), out);
    if r.status != 0 {
        span_attribute("http.response.status_code", Value::Int(i64::from(r.status)), out);
        span_attribute("http.response.body.size", Value::Int(r.bytes as i64), out);
    }
    if let Some(usage) = r.usage {
        span_attribute("gen_ai.usage.input_tokens", Value::Int(usage.prompt as i64), out);
        span_attribute("gen_ai.usage.output_tokens", Value::Int(usage.completion as i64), out);
    }
    if let Some(reason) = r.answered_locally {
        span_attribute("oai_lb.answered_by_balancer", Value::Str(reason), out);
    }
    match (r.status, r.answered_locally) {
        (0, _) => error_status(&["the client went away before the answer"], out),
        (s, Some(reason)) if s >= 500 || s == 429 => error_status(&["answered by the balancer: ", reason], out),
        (s, _) if s >= 500 => error_status(&["the backend answered an error"], out),
        _ => {}
    }
}

/// Name, kind, attributes and status of an attempt span.
fn attempt_fields(a: &AttemptDetail, out: &mut Vec<u8>) {
    let backend = a.backend.to_str().unwrap_or_default();
    key(5, LEN, out);
    varint((b"attempt ".len() + backend.len()) as u64, out);
    out.extend_from_slice(b"attempt ");
    out.extend_from_slice(backend.as_bytes());
    key(6, VARINT, out);
    varint(KIND_CLIENT, out);
    span_attribute("oai_lb.backend", Value::Str(backend), out);
    span_attribute("oai_lb.deployment", Value::Str(&a.deployment), out);
    span_attribute("oai_lb.attempt", Value::Int(i64::from(a.number)), out);
    if let Some(status) = a.status {
        span_attribute("http.response.status_code", Value::Int(i64::from(status)), out);
    }
    if let Some(bytes) = a.bytes {
        span_attribute("http.response.body.size", Value::Int(bytes as i64), out);
    }
    if let Some(cooldown) = a.cooldown {
        span_attribute("oai_lb.cooldown_secs", Value::Double(cooldown.as_secs_f64()), out);
        span_attribute("oai_lb.failed_over", Value::Bool(true), out);
    }
    if let Some(cooldown) = a.proactive_cooldown {
        span_attribute("oai_lb.proactive_cooldown_secs", Value::Double(cooldown.as_secs_f64()), out);
    }
    if let Some(problem) = &a.error {
        span_attribute("error.type", Value::Str(problem), out);
        error_status(&[problem], out);
    } else if a.cooldown.is_some() {
        error_status(&["failed over"], out);
    }
}

/// `Span.status` (15): code error and a message in parts.
fn error_status(message: &[&str], out: &mut Vec<u8>) {
    let message_len: usize = message.iter().map(|m| m.len()).sum();
    let len = 1 + varint_len(message_len as u64) + message_len + 2;
    key(15, LEN, out);
    varint(len as u64, out);
    key(2, LEN, out);
    varint(message_len as u64, out);
    message.iter().for_each(|m| out.extend_from_slice(m.as_bytes()));
    key(3, VARINT, out);
    varint(STATUS_ERROR, out);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    use super::*;
    use crate::proxy::Usage;
    use crate::telemetry::span::{AttemptDetail, RequestDetail};

    fn attributes(span: &Span) -> Vec<(String, Any)> {
        span.attributes.iter().map(|a| (a.key.clone(), a.value.clone().unwrap().value.unwrap())).collect()
    }

    /// What is written here decodes with opentelemetry-proto's own types, every field.
    #[test]
    fn requests_decode_with_the_opentelemetry_definitions() {
        let start = Instant::now();
        let end = start + Duration::from_millis(1500);
        let deployment: Arc<str> = "gpt-4o".into();
        let request = Record {
            trace_id: [7; 16],
            span_id: [1; 8],
            parent: Some(([9; 8], true)),
            start,
            end,
            detail: Detail::Request(RequestDetail {
                method: http::Method::POST,
                uri: "/openai/deployments/gpt-4o/chat/completions?api-version=1".parse().unwrap(),
                deployment: Arc::clone(&deployment),
                status: 503,
                attempts: 2,
                bytes: 300,
                usage: Some(Usage { prompt: 11, completion: 1 << 40 }),
                answered_locally: None,
            }),
        };
        let attempt = Record {
            trace_id: [7; 16],
            span_id: [2; 8],
            parent: Some(([1; 8], false)),
            start,
            end: start,
            detail: Detail::Attempt(AttemptDetail {
                span_id: [2; 8],
                start,
                backend: http::HeaderValue::from_static("ptu"),
                deployment,
                number: 1,
                status: Some(429),
                cooldown: Some(Duration::from_millis(2500)),
                proactive_cooldown: Some(Duration::from_secs(4)),
                error: Some("x".repeat(200).into()),
                bytes: None,
            }),
        };
        let mut encoder = Encoder::new("lb-east");
        let mut out = Vec::new();
        encoder.request(&[request, attempt], &mut out);
        let decoded = ExportTraceServiceRequest::decode(&out[..]).expect("valid OTLP");
        let resource = &decoded.resource_spans[0];
        let service = &resource.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        assert_eq!(service.value.clone().unwrap().value, Some(Any::StringValue("lb-east".into())));
        let scope = &resource.scope_spans[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "oai-lb");
        let [server, client] = &scope.spans[..] else { panic!("two spans: {scope:?}") };

        assert_eq!((server.trace_id.clone(), server.span_id.clone()), (vec![7; 16], vec![1; 8]));
        assert_eq!(server.parent_span_id, vec![9; 8]);
        assert_eq!(server.flags, 0x301, "sampled, remote parent");
        assert_eq!((server.name.as_str(), server.kind), ("POST gpt-4o", 2));
        assert_eq!(server.end_time_unix_nano - server.start_time_unix_nano, 1_500_000_000);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert!(server.start_time_unix_nano.abs_diff(now) < 60_000_000_000, "a wall-clock time");
        assert_eq!(
            attributes(server),
            [
                ("http.request.method".into(), Any::StringValue("POST".into())),
                ("url.path".into(), Any::StringValue("/openai/deployments/gpt-4o/chat/completions".into())),
                ("oai_lb.deployment".into(), Any::StringValue("gpt-4o".into())),
                ("oai_lb.attempts".into(), Any::IntValue(2)),
                ("http.response.status_code".into(), Any::IntValue(503)),
                ("http.response.body.size".into(), Any::IntValue(300)),
                ("gen_ai.usage.input_tokens".into(), Any::IntValue(11)),
                ("gen_ai.usage.output_tokens".into(), Any::IntValue(1 << 40)),
            ]
        );
        assert_eq!(server.status.as_ref().unwrap().code, 2);

        assert_eq!((client.parent_span_id.clone(), client.flags), (vec![1; 8], 0x101));
        assert_eq!((client.name.as_str(), client.kind), ("attempt ptu", 3));
        assert_eq!(
            attributes(client),
            [
                ("oai_lb.backend".into(), Any::StringValue("ptu".into())),
                ("oai_lb.deployment".into(), Any::StringValue("gpt-4o".into())),
                ("oai_lb.attempt".into(), Any::IntValue(1)),
                ("http.response.status_code".into(), Any::IntValue(429)),
                ("oai_lb.cooldown_secs".into(), Any::DoubleValue(2.5)),
                ("oai_lb.failed_over".into(), Any::BoolValue(true)),
                ("oai_lb.proactive_cooldown_secs".into(), Any::DoubleValue(4.0)),
                ("error.type".into(), Any::StringValue("x".repeat(200))),
            ]
        );
        let status = client.status.as_ref().unwrap();
        assert_eq!((status.code, status.message.len()), (2, 200));
    }

    #[test]
    fn varints_and_their_lengths() {
        for (value, bytes) in [(0u64, &[0u8][..]), (1, &[1]), (127, &[127]), (128, &[0x80, 1]), (300, &[0xac, 2])] {
            let mut out = Vec::new();
            varint(value, &mut out);
            assert_eq!(out, bytes);
            assert_eq!(varint_len(value), bytes.len());
        }
        assert_eq!(varint_len(u64::MAX), 10);
        let mut out = Vec::new();
        varint(-1i64 as u64, &mut out);
        assert_eq!(out.len(), 10);
    }
}
