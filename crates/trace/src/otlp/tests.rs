use std::time::{Duration, UNIX_EPOCH};

use http::HeaderValue;
use rampart_testkit::otlp::{decode_export, AttrValue};

use super::*;
use crate::id::{SpanId, TraceId};
use crate::span::{SpanKind, StatusCode, Text};

fn sample_span() -> Span {
    let mut span = Span::start(
        TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex(b"00f067aa0ba902b7").unwrap(),
        Some(SpanId::from_hex(b"1111111111111111").unwrap()),
        SpanKind::Server,
    );
    span.remote_parent = true;
    span.trace_state = Some(HeaderValue::from_static("vendor=x"));
    span.name = Text::Static("app.default.svc.cluster.local:80/*");
    span.start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_001);
    span.end = span.start + Duration::from_micros(1500);
    span.set("http.status_code", "503");
    span.set("retry.count", 2i64);
    span.set("sampled", true);
    span.set("empty", "");
    span.fail("upstream reset");
    span
}

#[test]
fn a_span_survives_encoding_field_by_field() {
    let resource = [Attribute {
        key: "service.name",
        value: "rampart-ingressgateway".into(),
    }];
    let common = [Attribute {
        key: "component",
        value: "proxy".into(),
    }];
    let bytes = export_request(&resource, &common, &[sample_span()]);
    let spans = decode_export(&bytes, "http").unwrap();
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(s.span_id, "00f067aa0ba902b7");
    assert_eq!(s.parent_span_id.as_deref(), Some("1111111111111111"));
    assert_eq!(s.trace_state, "vendor=x");
    assert_eq!(s.name, "app.default.svc.cluster.local:80/*");
    assert_eq!(s.kind, 2);
    assert_eq!(s.start_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(s.end_unix_nano - s.start_unix_nano, 1_500_000);
    assert_eq!(s.attr("http.status_code"), "503");
    assert_eq!(s.attributes["retry.count"], AttrValue::Int(2));
    assert_eq!(s.attributes["sampled"], AttrValue::Bool(true));
    assert_eq!(s.attributes["empty"], AttrValue::Str(String::new()));
    assert_eq!(s.attr("component"), "proxy");
    assert_eq!(s.attr("error"), "true");
    assert_eq!(
        (s.status_code, s.status_message.as_str()),
        (2, "upstream reset")
    );
    assert_eq!(s.flags, 0x301, "sampled, remote parent");
    assert_eq!(
        s.resource["service.name"],
        AttrValue::Str("rampart-ingressgateway".into())
    );
    assert_eq!(s.scope, "rampart");
}

#[test]
fn a_batch_keeps_its_order_and_roots_have_no_parent() {
    let mut root = sample_span();
    root.parent = None;
    root.remote_parent = false;
    root.status = StatusCode::Unset;
    root.status_message = Text::default();
    let mut client = sample_span();
    client.kind = SpanKind::Client;
    client.span_id = SpanId::random();
    let bytes = export_request(&[], &[], &[root, client]);
    let spans = decode_export(&bytes, "http").unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].parent_span_id, None);
    assert_eq!(spans[0].flags, 0x101);
    assert_eq!(spans[0].status_code, 0);
    assert_eq!(spans[1].kind, 3);
}

#[test]
fn an_end_before_the_start_is_clamped() {
    let mut span = sample_span();
    span.end = span.start - Duration::from_secs(1);
    let spans = decode_export(&export_request(&[], &[], &[span]), "http").unwrap();
    assert_eq!(spans[0].end_unix_nano, spans[0].start_unix_nano);
}

#[test]
fn grpc_frames_carry_the_length_big_endian() {
    let framed = grpc_frame(&[1, 2, 3]);
    assert_eq!(framed, [0, 0, 0, 0, 3, 1, 2, 3]);
}
