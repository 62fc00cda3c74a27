//! Rules shared by every kind: metadata, domain names and duration strings. Each case is its own
//! document.

use super::{doc, expect};

#[test]
fn metadata_rules() {
    let meta = |m: &str| {
        format!("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n{m}spec:\n  host: a.example.com\n")
    };
    for (m, line, path, msg) in [
        (
            "  name: Bad_Name\n",
            4,
            "metadata.name",
            "invalid name \"Bad_Name\": must be a DNS-1123 subdomain",
        ),
        (
            "  name: ok\n  namespace: bad.ns\n",
            5,
            "metadata.namespace",
            "invalid namespace \"bad.ns\": must be a DNS-1123 label",
        ),
        (
            "  name: ok\n  labels: {\"a b\": x}\n",
            5,
            "metadata.labels[\"a b\"]",
            "invalid tag key: \"a b\"",
        ),
        (
            "  name: ok\n  labels: {app: \"x y\"}\n",
            5,
            "metadata.labels.app",
            "invalid tag value: \"x y\"",
        ),
    ] {
        expect(&meta(m), line, path, msg);
    }
}

#[test]
fn domain_name_rules() {
    let long = format!("{}com", format!("{}.", "a".repeat(63)).repeat(4));
    for (host, msg) in [
        (
            "\"\"".to_string(),
            "empty domain name not allowed".to_string(),
        ),
        (
            long.clone(),
            format!("domain name {long:?} too long (max 255)"),
        ),
        (
            "a.123".to_string(),
            "domain name \"123\" invalid (top level domain \"123\" cannot be all-numeric)"
                .to_string(),
        ),
        (
            "a.b_c.com".to_string(),
            "domain name \"b_c.com\" invalid (label \"b_c\" invalid)".to_string(),
        ),
        (
            "\"*x*.com\"".to_string(),
            "domain name \"*x*.com\" invalid (label \"*x*\" invalid)".to_string(),
        ),
    ] {
        let t = doc("DestinationRule", &format!("  host: {host}\n"));
        expect(&t, 5, "spec.host", &msg);
    }
}

#[test]
fn duration_string_rules() {
    for (value, msg) in [
        ("\"\"", "invalid duration \"\": empty"),
        (
            "-1s",
            "invalid duration \"-1s\": negative durations are not allowed",
        ),
        ("abc", "invalid duration \"abc\""),
        ("\"10\"", "invalid duration \"10\": missing unit"),
        ("1x", "invalid duration \"1x\": unknown unit \"x\""),
        (
            "99999999999999999999999h",
            "invalid duration \"99999999999999999999999h\": too large",
        ),
        (
            "9999999999999999h",
            "invalid duration \"9999999999999999h\": out of range",
        ),
        ("0.5ms", "duration must be greater than 1ms"),
        ("1.5ms", "only durations to ms precision are supported"),
    ] {
        let t = doc(
            "VirtualService",
            &format!("  hosts: [a.example.com]\n  http:\n  - timeout: {value}\n    route: [{{destination: {{host: b.example.com}}}}]\n"),
        );
        expect(&t, 7, "spec.http[0].timeout", msg);
    }
}
