//! BackendTrafficPolicy: active health checks accepted, everything else named and rejected.

use super::{clean, expect};
use crate::load_str;

/// A policy whose spec body (indented two spaces) starts at line 5.
fn btp(body: &str) -> String {
    format!("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {{name: t, namespace: ns}}\nspec:\n{body}")
}

const TARGET: &str =
    "  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: app}]\n";

fn with_active(active: &str) -> String {
    btp(&format!("{TARGET}  healthCheck:\n    active:\n{active}"))
}

#[test]
fn http_and_tcp_checks_load_with_defaults() {
    let http = with_active("      type: HTTP\n      http: {path: /healthz, method: HEAD, expectedStatuses: [200, 204], expectedResponse: {type: Text, text: ok}}\n");
    clean(&http);
    let loaded = load_str("t.yaml", &http);
    let p = &loaded.config.backend_traffic_policies[0].spec;
    let a = p.health_check.as_ref().unwrap().active.as_ref().unwrap();
    assert_eq!(a.http.as_ref().unwrap().expected_statuses, [200, 204]);
    assert_eq!(
        a.unhealthy_threshold, None,
        "defaults are applied by the compiler"
    );
    clean(&with_active(
        "      type: TCP\n      interval: 2s\n      timeout: 500ms\n      unhealthyThreshold: 2\n      healthyThreshold: 2\n      tcp: {send: {type: Binary, binary: cGluZw==}, receive: {type: Text, text: pong}}\n",
    ));
}

#[test]
fn other_backend_traffic_policy_features_are_named_and_rejected() {
    let doc = btp(&format!(
        "{TARGET}  retry: {{numRetries: 3}}\n  healthCheck: {{active: {{type: TCP}}}}\n"
    ));
    expect(
        &doc,
        6,
        "spec.retry",
        "BackendTrafficPolicy retry is not supported by Rampart: use a VirtualService retries",
    );
    let doc = btp(&format!("{TARGET}  circuitBreaker: {{maxConnections: 1}}\n  healthCheck: {{active: {{type: TCP}}}}\n"));
    expect(
        &doc,
        6,
        "spec.circuitBreaker",
        "use a DestinationRule connectionPool",
    );
    let doc = btp(&format!("{TARGET}  healthCheck:\n    passive: {{consecutive5XxErrors: 3}}\n    active: {{type: TCP}}\n"));
    expect(
        &doc,
        7,
        "spec.healthCheck.passive",
        "use a DestinationRule outlierDetection",
    );
    let doc = btp(&format!(
        "{TARGET}  healthCheck:\n    panicThreshold: 50\n    active: {{type: TCP}}\n"
    ));
    expect(
        &doc,
        7,
        "spec.healthCheck.panicThreshold",
        "minHealthPercent",
    );
    let doc = btp("  targetRef: {group: networking.istio.io, kind: ServiceEntry, name: app}\n  healthCheck: {active: {type: TCP}}\n");
    expect(&doc, 5, "spec.targetRef", "use targetRefs");
}

#[test]
fn target_refs_rules() {
    expect(
        &btp("  healthCheck: {active: {type: TCP}}\n"),
        4,
        "spec.targetRefs",
        "targetRefs is required",
    );
    let doc = btp("  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: s}\n  healthCheck: {active: {type: TCP}}\n");
    expect(
        &doc,
        6,
        "spec.targetRefs[0].group",
        "Rampart targets networking.istio.io",
    );
    expect(
        &doc,
        6,
        "spec.targetRefs[0].kind",
        "use ServiceEntry or DestinationRule",
    );
    expect(&doc, 6, "spec.targetRefs[0].sectionName", "every port");
    let doc = btp("  targetRefs: [{group: networking.istio.io, kind: ServiceEntry}]\n  healthCheck: {active: {type: TCP}}\n");
    expect(&doc, 5, "spec.targetRefs[0].name", "name is required");
}

#[test]
fn health_check_rules() {
    expect(
        &btp(TARGET),
        4,
        "spec.healthCheck",
        "healthCheck.active is required",
    );
    let doc = btp(&format!("{TARGET}  healthCheck: {{}}\n"));
    expect(&doc, 6, "spec.healthCheck.active", "active is required");
    expect(
        &with_active("      interval: 0s\n      type: TCP\n"),
        8,
        "spec.healthCheck.active.interval",
        "duration must be greater than 1ms",
    );
    expect(
        &with_active("      timeout: soon\n      type: TCP\n"),
        8,
        "spec.healthCheck.active.timeout",
        "",
    );
    expect(
        &with_active("      unhealthyThreshold: 0\n      type: TCP\n"),
        8,
        "spec.healthCheck.active.unhealthyThreshold",
        "at least 1",
    );
    expect(
        &with_active("      healthyThreshold: 0\n      type: TCP\n"),
        8,
        "spec.healthCheck.active.healthyThreshold",
        "at least 1",
    );
    expect(
        &with_active("      interval: 1s\n"),
        7,
        "spec.healthCheck.active.type",
        "type is required",
    );
    expect(
        &with_active("      type: GRPC\n"),
        8,
        "spec.healthCheck.active.type",
        "GRPC health checks are not supported",
    );
    expect(
        &with_active("      type: UDP\n"),
        8,
        "spec.healthCheck.active.type",
        "must be HTTP or TCP",
    );
    expect(
        &with_active("      type: TCP\n      grpc: {}\n"),
        9,
        "spec.healthCheck.active.grpc",
        "not supported",
    );
    expect(
        &with_active("      type: TCP\n      initialJitter: 1s\n"),
        9,
        "spec.healthCheck.active.initialJitter",
        "not supported",
    );
    expect(
        &with_active("      type: HTTP\n"),
        7,
        "spec.healthCheck.active.http",
        "http is required with type HTTP",
    );
    expect(
        &with_active("      type: TCP\n      http: {path: /}\n"),
        9,
        "spec.healthCheck.active.http",
        "must not be set with type TCP",
    );
    expect(
        &with_active("      type: HTTP\n      http: {path: /}\n      tcp: {}\n"),
        10,
        "spec.healthCheck.active.tcp",
        "must not be set with type HTTP",
    );
}

#[test]
fn http_checker_rules() {
    let http = |h: &str| with_active(&format!("      type: HTTP\n      http: {h}\n"));
    expect(
        &http("{path: healthz}"),
        9,
        "spec.healthCheck.active.http.path",
        "must start with /",
    );
    expect(
        &http("{path: /, method: \"GE T\"}"),
        9,
        "spec.healthCheck.active.http.method",
        "not an HTTP method",
    );
    expect(
        &http("{path: /, expectedStatuses: [200, 600]}"),
        9,
        "spec.healthCheck.active.http.expectedStatuses[1]",
        "not in range 100-599",
    );
    expect(
        &http("{path: /, expectedResponse: {type: Text}}"),
        9,
        "spec.healthCheck.active.http.expectedResponse.text",
        "text is required",
    );
    expect(
        &http("{path: /, expectedResponse: {type: Binary}}"),
        9,
        "spec.healthCheck.active.http.expectedResponse.binary",
        "binary is required",
    );
    expect(
        &http("{path: /, expectedResponse: {type: Binary, binary: \"@@\"}}"),
        9,
        "spec.healthCheck.active.http.expectedResponse.binary",
        "not valid base64",
    );
    expect(
        &http("{path: /, expectedResponse: {type: Hex, text: a}}"),
        9,
        "spec.healthCheck.active.http.expectedResponse.type",
        "must be Text or Binary",
    );
    expect(
        &http("{path: /, expectedResponse: {text: a}}"),
        9,
        "spec.healthCheck.active.http.expectedResponse.type",
        "type is required",
    );
    let tcp = with_active("      type: TCP\n      tcp: {receive: {type: Text}}\n");
    expect(
        &tcp,
        9,
        "spec.healthCheck.active.tcp.receive.text",
        "text is required",
    );
}

#[test]
fn only_the_envoy_gateway_api_version_is_accepted() {
    let doc = btp(TARGET).replace("gateway.envoyproxy.io/v1alpha1", "networking.istio.io/v1");
    expect(
        &doc,
        1,
        "apiVersion",
        "apiVersion networking.istio.io/v1 is not accepted for BackendTrafficPolicy",
    );
}
