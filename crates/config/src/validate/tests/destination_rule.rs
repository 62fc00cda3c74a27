//! DestinationRule rules.

use super::{clean, doc, expect};

pub(super) fn dr(body: &str) -> String {
    doc("DestinationRule", &format!("  host: a.example.com\n{body}"))
}

#[test]
fn host_and_subsets() {
    let t = doc("DestinationRule", "  host: \"bad host\"\n  subsets:\n  - name: v1\n  - name: v1\n  - name: V2\n    labels: {\"a*\": b}\n");
    expect(&t, 5, "spec.host", "domain name \"bad host\" invalid");
    expect(&t, 8, "spec.subsets[1].name", "duplicate subset names: v1");
    expect(&t, 9, "spec.subsets[2].name", "subset name is invalid: V2");
    expect(
        &t,
        10,
        "spec.subsets[2].labels[\"a*\"]",
        "invalid tag key: \"a*\"",
    );
}

#[test]
fn empty_traffic_policy() {
    expect(
        &dr("  trafficPolicy: {}\n"),
        6,
        "spec.trafficPolicy",
        "traffic policy must have at least one field",
    );
    let t = dr("  subsets:\n  - name: v1\n    trafficPolicy: {}\n");
    expect(
        &t,
        8,
        "spec.subsets[0].trafficPolicy",
        "traffic policy must have at least one field",
    );
}

#[test]
fn workload_selector_export_to() {
    let t = dr("  workloadSelector: {matchLabels: {app: x}}\n  exportTo: [\"*\"]\n");
    expect(
        &t,
        7,
        "spec.exportTo",
        "destination rule with workload selector cannot have exportTo beyond current namespace",
    );
    clean(&dr(
        "  workloadSelector: {matchLabels: {app: x}}\n  exportTo: [\".\"]\n",
    ));
}

#[test]
fn subset_name_required() {
    expect(
        &dr("  subsets:\n  - name: \"\"\n"),
        7,
        "spec.subsets[0].name",
        "subset name cannot be empty",
    );
}

#[test]
fn workload_selector_rules() {
    for (body, line, path, msg) in [
        (
            "  workloadSelector: {matchLabels: {\"\": x}}\n",
            6,
            "spec.workloadSelector.matchLabels[\"\"]",
            "empty key is not supported in selector",
        ),
        (
            "  workloadSelector: {matchLabels: {app: \"x*\"}}\n",
            6,
            "spec.workloadSelector.matchLabels.app",
            "wildcard is not supported in selector: app=x*",
        ),
        (
            "  workloadSelector: {matchLabels: {app: x}}\n  exportTo: [\".\", other]\n",
            7,
            "spec.exportTo",
            "destination rule with workload selector cannot have multiple entries in exportTo",
        ),
    ] {
        expect(&dr(body), line, path, msg);
    }
}
