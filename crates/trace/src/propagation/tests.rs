use super::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn parent() -> Option<Parent> {
    Some(Parent {
        trace_id: TraceId::from_hex(TRACE.as_bytes()).unwrap(),
        span_id: SpanId::from_hex(SPAN.as_bytes()).unwrap(),
    })
}

#[test]
fn traceparent_is_continued_with_its_sampled_flag() {
    for (flags, sampled) in [("01", true), ("00", false), ("03", true)] {
        let h = headers(&[("traceparent", &format!("00-{TRACE}-{SPAN}-{flags}"))]);
        let got = extract(&h);
        assert_eq!(got.parent, parent());
        assert_eq!(got.sampled, Some(sampled), "{flags}");
        assert!(got.w3c);
    }
}

#[test]
fn malformed_traceparents_are_ignored() {
    let bad = [
        format!("00-{TRACE}-{SPAN}-0"),
        format!("00-{TRACE}-{SPAN}-01-extra"),
        format!("ff-{TRACE}-{SPAN}-01"),
        format!("00-{}-{SPAN}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
        format!("00_{TRACE}-{SPAN}-01"),
        format!("0g-{TRACE}-{SPAN}-01"),
        "garbage".to_string(),
    ];
    for v in bad {
        let got = extract(&headers(&[("traceparent", &v)]));
        assert_eq!(got, Incoming::default(), "{v}");
    }
}

#[test]
fn a_future_traceparent_version_may_carry_more_fields() {
    let h = headers(&[("traceparent", &format!("01-{TRACE}-{SPAN}-01-whatever"))]);
    assert_eq!(extract(&h).parent, parent());
}

#[test]
fn b3_single_is_continued() {
    let got = extract(&headers(&[("b3", &format!("{TRACE}-{SPAN}-1"))]));
    assert_eq!(got.parent, parent());
    assert_eq!(got.sampled, Some(true));
    assert!(got.b3_single && !got.w3c);
    let got = extract(&headers(&[("b3", &format!("{TRACE}-{SPAN}"))]));
    assert_eq!((got.parent, got.sampled), (parent(), None), "deferred");
    let got = extract(&headers(&[("b3", &format!("{TRACE}-{SPAN}-d-{SPAN}"))]));
    assert!(got.debug && got.sampled == Some(true));
    let got = extract(&headers(&[("b3", "0")]));
    assert_eq!((got.parent, got.sampled), (None, Some(false)), "deny alone");
}

#[test]
fn malformed_b3_single_headers_are_ignored() {
    for v in [
        format!("{TRACE}-{SPAN}-x"),
        TRACE.to_string(),
        format!("{TRACE}-{SPAN}-1-{SPAN}-1"),
        format!("{TRACE}-{SPAN}-1-zz"),
        "2".to_string(),
    ] {
        let got = extract(&headers(&[("b3", &v)]));
        assert_eq!((got.parent, got.sampled), (None, None), "{v}");
    }
}

#[test]
fn b3_multi_is_continued_and_64_bit_ids_are_widened() {
    let got = extract(&headers(&[
        ("x-b3-traceid", "a3ce929d0e0e4736"),
        ("x-b3-spanid", SPAN),
        ("x-b3-sampled", "0"),
    ]));
    let p = got.parent.unwrap();
    assert_eq!(p.trace_id.to_string(), "0000000000000000a3ce929d0e0e4736");
    assert_eq!(got.sampled, Some(false));
    let got = extract(&headers(&[
        ("x-b3-traceid", TRACE),
        ("x-b3-spanid", SPAN),
        ("x-b3-flags", "1"),
    ]));
    assert!(got.debug && got.sampled == Some(true));
    let got = extract(&headers(&[("x-b3-traceid", TRACE)]));
    assert_eq!(got, Incoming::default(), "a trace id without a span id");
}

#[test]
fn traceparent_wins_over_b3() {
    let other = "11111111111111111111111111111111";
    let got = extract(&headers(&[
        ("b3", &format!("{other}-{SPAN}-0")),
        ("traceparent", &format!("00-{TRACE}-{SPAN}-01")),
    ]));
    assert_eq!(got.parent, parent());
    assert_eq!(got.sampled, Some(true));
    assert!(got.b3_single, "b3 is rewritten upstream");
}

#[test]
fn injection_writes_w3c_and_b3_with_the_attempt_span_as_parent() {
    let out = Outgoing {
        trace_id: TraceId::from_hex(TRACE.as_bytes()).unwrap(),
        span_id: SpanId::from_hex(b"1111111111111111").unwrap(),
        parent_id: SpanId::from_hex(SPAN.as_bytes()),
        sampled: true,
        debug: false,
        w3c: false,
        b3_single: true,
        present: Present::ALL,
    };
    let mut h = headers(&[("tracestate", "a=b"), ("x-b3-flags", "1")]);
    inject(&out, &mut h);
    let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        get("traceparent").unwrap(),
        format!("00-{TRACE}-1111111111111111-01")
    );
    assert_eq!(get("x-b3-traceid").unwrap(), TRACE);
    assert_eq!(get("x-b3-spanid").unwrap(), "1111111111111111");
    assert_eq!(get("x-b3-parentspanid").unwrap(), SPAN);
    assert_eq!(get("x-b3-sampled").unwrap(), "1");
    assert_eq!(get("x-b3-flags"), None);
    assert_eq!(get("tracestate"), None, "not a W3C context");
    assert_eq!(
        get("b3").unwrap(),
        format!("{TRACE}-1111111111111111-1-{SPAN}")
    );
    // What was written reads back as the same context.
    let back = extract(&h);
    assert_eq!(back.parent.unwrap().span_id, out.span_id);
}

#[test]
fn injection_of_an_unsampled_debug_free_context_says_zero() {
    let out = Outgoing {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        parent_id: None,
        sampled: false,
        debug: false,
        w3c: true,
        b3_single: false,
        present: Present::ALL,
    };
    let mut h = headers(&[("tracestate", "a=b")]);
    inject(&out, &mut h);
    assert!(h["traceparent"].to_str().unwrap().ends_with("-00"));
    assert_eq!(h["x-b3-sampled"], "0");
    assert_eq!(h["tracestate"], "a=b");
    assert!(h.get("b3").is_none());
    assert!(h.get("x-b3-parentspanid").is_none());
}

#[test]
fn a_b3_single_header_without_a_parent_has_three_fields() {
    let out = Outgoing {
        trace_id: TraceId::from_hex(TRACE.as_bytes()).unwrap(),
        span_id: SpanId::from_hex(SPAN.as_bytes()).unwrap(),
        parent_id: None,
        sampled: true,
        debug: true,
        w3c: false,
        b3_single: true,
        present: Present::ALL,
    };
    let mut h = headers(&[("x-b3-sampled", "1")]);
    inject(&out, &mut h);
    assert_eq!(h["b3"], format!("{TRACE}-{SPAN}-d").as_str());
    assert_eq!(h["x-b3-flags"], "1");
    assert!(h.get("x-b3-sampled").is_none(), "debug implies sampled");
}

#[test]
fn stale_headers_the_caller_sent_are_removed_and_only_those_looked_for() {
    let mut h = headers(&[
        ("b3", &format!("{TRACE}-{SPAN}-1")),
        ("tracestate", "a=b"),
        ("x-b3-flags", "1"),
        ("x-b3-parentspanid", SPAN),
    ]);
    let incoming = extract(&h);
    assert!(!incoming.debug, "b3 single wins over x-b3-flags");
    let out = Outgoing {
        trace_id: incoming.parent.unwrap().trace_id,
        span_id: SpanId::random(),
        parent_id: None,
        sampled: true,
        debug: false,
        w3c: incoming.w3c,
        b3_single: incoming.b3_single,
        present: incoming.present,
    };
    inject(&out, &mut h);
    for gone in ["tracestate", "x-b3-flags", "x-b3-parentspanid"] {
        assert!(h.get(gone).is_none(), "{gone}");
    }
    assert_eq!(extract(&headers(&[])).present, Present::default());
}
