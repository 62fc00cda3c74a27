//! OTLP encoding: a batch of spans as one `ExportTraceServiceRequest`
//! (`opentelemetry/proto/collector/trace/v1/trace_service.proto`): one `ResourceSpans` with this
//! proxy's resource, one `ScopeSpans` naming Rampart, then the spans. Field numbers are those of
//! `opentelemetry/proto/trace/v1/trace.proto` and `common/v1/common.proto`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto;
use crate::span::{Attribute, Span, Value};

/// Instrumentation scope name.
const SCOPE_NAME: &str = "rampart";
/// `SpanFlags`: the W3C sampled bit (only sampled spans are exported).
const FLAG_SAMPLED: u32 = 0x01;
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: the next bit is meaningful.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: the parent is in another process.
const FLAG_IS_REMOTE: u32 = 0x200;

/// Encodes `spans` with the `resource` attributes (`service.name`…) and `common` attributes
/// added to every span (`node_id`, `component`…).
pub fn export_request(resource: &[Attribute], common: &[Attribute], spans: &[Span]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256 + spans.len() * 512);
    // ExportTraceServiceRequest.resource_spans = 1
    proto::message(&mut buf, 1, |b| {
        // ResourceSpans.resource = 1 → Resource.attributes = 1
        proto::message(b, 1, |b| {
            for a in resource {
                attribute(b, 1, a);
            }
        });
        // ResourceSpans.scope_spans = 2
        proto::message(b, 2, |b| {
            // ScopeSpans.scope = 1 → InstrumentationScope { name = 1, version = 2 }
            proto::message(b, 1, |b| {
                proto::bytes(b, 1, SCOPE_NAME.as_bytes(), false);
                proto::bytes(b, 2, env!("CARGO_PKG_VERSION").as_bytes(), false);
            });
            // ScopeSpans.spans = 2
            for s in spans {
                proto::message(b, 2, |b| span(b, s, common));
            }
        });
    });
    buf
}

fn span(b: &mut Vec<u8>, s: &Span, common: &[Attribute]) {
    proto::bytes(b, 1, &s.trace_id.0, true);
    proto::bytes(b, 2, &s.span_id.0, true);
    if let Some(state) = &s.trace_state {
        proto::bytes(b, 3, state.as_bytes(), false);
    }
    if let Some(parent) = &s.parent {
        proto::bytes(b, 4, &parent.0, false);
    }
    proto::bytes(b, 5, s.name.as_str().as_bytes(), false);
    proto::uint(b, 6, s.kind as u64, false);
    let start = unix_nanos(s.start);
    proto::fixed64(b, 7, start);
    proto::fixed64(b, 8, unix_nanos(s.end).max(start));
    for a in common.iter().chain(&s.attributes) {
        attribute(b, 9, a);
    }
    let message = s.status_message.as_str();
    if s.status as u64 != 0 || !message.is_empty() {
        // Span.status = 15 → Status { message = 2, code = 3 }
        proto::message(b, 15, |b| {
            proto::bytes(b, 2, message.as_bytes(), false);
            proto::uint(b, 3, s.status as u64, false);
        });
    }
    let remote = if s.remote_parent { FLAG_IS_REMOTE } else { 0 };
    proto::fixed32(b, 16, FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | remote);
}

/// `KeyValue { key = 1, value = 2 (AnyValue) }` as field `field`.
fn attribute(b: &mut Vec<u8>, field: u32, a: &Attribute) {
    proto::message(b, field, |b| {
        proto::bytes(b, 1, a.key.as_bytes(), false);
        // AnyValue is a oneof: its member is written even when it holds the default.
        proto::message(b, 2, |b| match &a.value {
            Value::Text(t) => proto::bytes(b, 1, t.as_str().as_bytes(), true),
            Value::Bool(v) => proto::uint(b, 2, u64::from(*v), true),
            Value::Int(v) => proto::uint(b, 3, *v as u64, true),
        });
    });
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Frames a protobuf message for gRPC: uncompressed flag, big-endian length, message.
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

#[cfg(test)]
mod tests;
