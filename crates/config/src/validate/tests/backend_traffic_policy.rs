//! BackendTrafficPolicy: active health checks accepted (with Envoy Gateway's defaults read
//! through the accessors), everything else named and rejected.

use std::time::Duration;

use super::{clean, diags, expect};
use crate::envoy_gateway::ActiveHealthCheck;
use crate::load_str;

/// A policy whose spec body (indented two spaces) starts at line 5.
fn btp(body: &str) -> String {
    format!("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {{name: t, namespace: ns}}\nspec:\n{body}")
}

/// Line 5.
const TARGET: &str =
    "  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: app}]\n";

/// A policy whose `healthCheck.active` body (indented six spaces) starts at line 8.
fn with_active(active: &str) -> String {
    btp(&format!("{TARGET}  healthCheck:\n    active:\n{active}"))
}

/// A `type: HTTP` check whose `http` value is on line 9.
fn with_http(http: &str) -> String {
    with_active(&format!("      type: HTTP\n      http: {http}\n"))
}

/// Loads a clean document and returns its only policy's active check.
#[track_caller]
fn active_of(text: &str) -> ActiveHealthCheck {
    clean(text);
    let loaded = load_str("t.yaml", text);
    let [p] = &loaded.config.backend_traffic_policies[..] else {
        panic!("expected one policy");
    };
    p.spec.active().expect("healthCheck.active").clone()
}

const FULL_HTTP: &str = "  targetRefs:
  - group: networking.istio.io
    kind: ServiceEntry
    name: httpbin
  - group: networking.istio.io
    kind: DestinationRule
    name: httpbin
  healthCheck:
    active:
      type: HTTP
      timeout: 500ms
      interval: 2s
      unhealthyThreshold: 2
      healthyThreshold: 4
      http:
        path: /healthz
        hostname: httpbin.example.com
        method: HEAD
        expectedStatuses: [200, 204]
        expectedResponse: {type: Text, text: ok}
";

const FULL_TCP: &str = "  targetRefs:
  - {group: networking.istio.io, kind: ServiceEntry, name: redis}
  healthCheck:
    active:
      type: TCP
      timeout: 250ms
      interval: 10s
      unhealthyThreshold: 5
      healthyThreshold: 2
      tcp:
        send: {type: Binary, binary: cGluZw==}
        receive: {type: Text, text: pong}
";

#[test]
fn full_http_and_tcp_examples_load_clean() {
    let text = btp(FULL_HTTP);
    let a = active_of(&text);
    let loaded = load_str("t.yaml", &text);
    let p = &loaded.config.backend_traffic_policies[0];
    assert_eq!(
        (p.meta.namespace.as_str(), p.meta.name.as_str()),
        ("ns", "t")
    );
    let kinds: Vec<&str> = p.spec.target_refs.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["ServiceEntry", "DestinationRule"]);
    assert_eq!(a.kind.as_deref(), Some("HTTP"));
    assert_eq!(a.timeout(), Duration::from_millis(500));
    assert_eq!(a.interval(), Duration::from_secs(2));
    assert_eq!((a.unhealthy_threshold(), a.healthy_threshold()), (2, 4));
    let http = a.http.as_ref().unwrap();
    assert_eq!(http.path, "/healthz");
    assert_eq!(http.hostname.as_deref(), Some("httpbin.example.com"));
    assert_eq!(http.method(), "HEAD");
    assert_eq!(http.expected_statuses(), [200, 204]);
    let body = http.expected_response.as_ref().and_then(|p| p.bytes());
    assert_eq!(body.as_deref(), Some(&b"ok"[..]));

    let a = active_of(&btp(FULL_TCP));
    assert_eq!(a.kind.as_deref(), Some("TCP"));
    assert_eq!(a.timeout(), Duration::from_millis(250));
    assert_eq!(a.interval(), Duration::from_secs(10));
    assert_eq!((a.unhealthy_threshold(), a.healthy_threshold()), (5, 2));
    let tcp = a.tcp.as_ref().unwrap();
    let send = tcp.send.as_ref().and_then(|p| p.bytes());
    let receive = tcp.receive.as_ref().and_then(|p| p.bytes());
    assert_eq!(send.as_deref(), Some(&b"ping"[..]));
    assert_eq!(receive.as_deref(), Some(&b"pong"[..]));
}

#[test]
fn minimal_checks_read_envoy_gateway_defaults() {
    let a = active_of(&with_http("{path: /healthz}"));
    assert_eq!(a.timeout(), Duration::from_secs(1));
    assert_eq!(a.interval(), Duration::from_secs(3));
    assert_eq!(a.unhealthy_threshold(), 3);
    assert_eq!(a.healthy_threshold(), 1);
    assert_eq!(a.timeout(), ActiveHealthCheck::DEFAULT_TIMEOUT);
    assert_eq!(a.interval(), ActiveHealthCheck::DEFAULT_INTERVAL);
    let http = a.http.as_ref().unwrap();
    assert_eq!(http.method(), "GET");
    assert_eq!(http.expected_statuses(), [200]);
    assert_eq!(http.hostname, None);
    assert_eq!(http.expected_response, None);
    // Nothing is filled in: the fields stay as written.
    assert_eq!((a.timeout.as_deref(), a.unhealthy_threshold), (None, None));

    // `type: TCP` without `tcp` is a connect-only probe.
    let a = active_of(&with_active("      type: TCP\n"));
    assert_eq!(a.tcp, None);
    assert_eq!(
        (a.timeout(), a.interval()),
        (Duration::from_secs(1), Duration::from_secs(3))
    );
    assert_eq!((a.unhealthy_threshold(), a.healthy_threshold()), (3, 1));
    // An explicitly empty list reads as the default too.
    let a = active_of(&with_http("{path: /, expectedStatuses: []}"));
    assert_eq!(a.http.as_ref().unwrap().expected_statuses(), [200]);
}

#[test]
fn other_backend_traffic_policy_features_are_named_and_rejected() {
    for (field, instead) in [
        ("targetRef", ": use targetRefs"),
        ("targetSelectors", ": use targetRefs"),
        ("loadBalancer", ": use a DestinationRule loadBalancer"),
        ("retry", ": use a VirtualService retries"),
        ("proxyProtocol", ": use a DestinationRule proxyProtocol"),
        (
            "tcpKeepalive",
            ": use a DestinationRule connectionPool.tcp.tcpKeepalive",
        ),
        ("circuitBreaker", ": use a DestinationRule connectionPool"),
        (
            "timeout",
            ": use a VirtualService timeout or a DestinationRule connectionPool.tcp.connectTimeout",
        ),
        ("connection", ""),
        ("dns", ": use a ServiceEntry resolution"),
        ("http2", ": use a DestinationRule connectionPool.http"),
        ("mergeType", ""),
        ("bandwidthLimit", ""),
        ("faultInjection", ": use a VirtualService fault"),
        ("admissionControl", ""),
        ("useClientProtocol", ""),
        ("compression", ""),
        ("compressor", ""),
        ("responseOverride", ""),
        ("httpUpgrade", ""),
        ("requestBuffer", ""),
        ("telemetry", ""),
        ("routingType", ""),
    ] {
        let doc = btp(&format!(
            "{TARGET}  {field}: {{x: 1}}\n  healthCheck: {{active: {{type: TCP}}}}\n"
        ));
        let msg = format!("BackendTrafficPolicy {field} is not supported by Rampart{instead}");
        expect(&doc, 6, &format!("spec.{field}"), &msg);
        assert_eq!(diags(&doc).len(), 1, "{field}: one diagnostic");
        assert!(load_str("t.yaml", &doc)
            .config
            .backend_traffic_policies
            .is_empty());
    }
    // A scalar or list value is named the same way.
    let doc = btp(&format!(
        "{TARGET}  useClientProtocol: true\n  compression: [{{type: Gzip}}]\n  healthCheck: {{active: {{type: TCP}}}}\n"
    ));
    expect(
        &doc,
        6,
        "spec.useClientProtocol",
        "BackendTrafficPolicy useClientProtocol is not supported by Rampart",
    );
    expect(
        &doc,
        7,
        "spec.compression",
        "BackendTrafficPolicy compression is not supported by Rampart",
    );
}

#[test]
fn unsupported_health_check_fields_are_named() {
    let doc = btp(&format!(
        "{TARGET}  healthCheck:\n    passive: {{consecutive5XxErrors: 3}}\n    panicThreshold: 50\n    active: {{type: TCP}}\n"
    ));
    expect(
        &doc,
        7,
        "spec.healthCheck.passive",
        "passive is not supported by Rampart: use a DestinationRule outlierDetection",
    );
    expect(
        &doc,
        8,
        "spec.healthCheck.panicThreshold",
        "panicThreshold is not supported by Rampart: use a DestinationRule outlierDetection.minHealthPercent",
    );
    for (field, value, msg) in [
        (
            "grpc",
            "{service: s}",
            "gRPC health checks are not supported by Rampart yet",
        ),
        (
            "initialJitter",
            "1s",
            "initialJitter is not supported by Rampart",
        ),
        (
            "overrides",
            "{port: 9090}",
            "overrides is not supported by Rampart",
        ),
        (
            "healthCheckLog",
            "{}",
            "healthCheckLog is not supported by Rampart",
        ),
    ] {
        let doc = with_active(&format!("      type: TCP\n      {field}: {value}\n"));
        expect(&doc, 9, &format!("spec.healthCheck.active.{field}"), msg);
    }
    for (field, value) in [
        ("retriableStatuses", "[503]"),
        ("requestBody", "{type: Text, text: hi}"),
    ] {
        expect(
            &with_http(&format!("{{path: /, method: POST, {field}: {value}}}")),
            9,
            &format!("spec.healthCheck.active.http.{field}"),
            &format!("{field} is not supported by Rampart"),
        );
    }
}

#[test]
fn unknown_fields_get_did_you_mean() {
    expect(
        &btp(&format!(
            "{TARGET}  healthChek: {{active: {{type: TCP}}}}\n"
        )),
        6,
        "spec.healthChek",
        "unknown field `healthChek`, did you mean `healthCheck`?",
    );
    expect(
        &with_active("      type: TCP\n      intervall: 1s\n"),
        9,
        "spec.healthCheck.active.intervall",
        "unknown field `intervall`, did you mean `interval`?",
    );
    expect(
        &with_http("{path: /, expectedStatus: [200]}"),
        9,
        "spec.healthCheck.active.http.expectedStatus",
        "unknown field `expectedStatus`, did you mean `expectedStatuses`?",
    );
}

#[test]
fn target_refs_rules() {
    expect(
        &btp("  healthCheck: {active: {type: TCP}}\n"),
        4,
        "spec.targetRefs",
        "targetRefs is required",
    );
    expect(
        &btp("  targetRefs: []\n  healthCheck: {active: {type: TCP}}\n"),
        5,
        "spec.targetRefs",
        "targetRefs is required",
    );
    let doc = btp("  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: s}\n  healthCheck: {active: {type: TCP}}\n");
    expect(
        &doc,
        6,
        "spec.targetRefs[0].group",
        "group \"gateway.networking.k8s.io\" is not supported: Rampart targets networking.istio.io ServiceEntry or DestinationRule",
    );
    expect(
        &doc,
        6,
        "spec.targetRefs[0].kind",
        "kind \"HTTPRoute\" is not supported: use ServiceEntry or DestinationRule",
    );
    expect(
        &doc,
        6,
        "spec.targetRefs[0].sectionName",
        "sectionName is not supported by Rampart: the policy applies to every port",
    );
    let doc = btp("  targetRefs:\n  - {group: networking.istio.io, kind: ServiceEntry, name: a}\n  - {group: networking.istio.io, kind: VirtualService, name: b}\n  healthCheck: {active: {type: TCP}}\n");
    expect(
        &doc,
        7,
        "spec.targetRefs[1].kind",
        "kind \"VirtualService\" is not supported: use ServiceEntry or DestinationRule",
    );
    let doc = btp("  targetRefs: [{group: networking.istio.io, kind: ServiceEntry}]\n  healthCheck: {active: {type: TCP}}\n");
    expect(&doc, 5, "spec.targetRefs[0].name", "name is required");
}

#[test]
fn health_check_rules() {
    expect(
        &btp(TARGET),
        4,
        "spec.healthCheck",
        "healthCheck.active or rateLimit is required: they are the BackendTrafficPolicy features Rampart uses",
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
        "invalid duration \"soon\"",
    );
    expect(
        &with_active("      unhealthyThreshold: 0\n      type: TCP\n"),
        8,
        "spec.healthCheck.active.unhealthyThreshold",
        "unhealthyThreshold must be at least 1",
    );
    expect(
        &with_active("      healthyThreshold: 0\n      type: TCP\n"),
        8,
        "spec.healthCheck.active.healthyThreshold",
        "healthyThreshold must be at least 1",
    );
    expect(
        &with_active("      interval: 1s\n"),
        7,
        "spec.healthCheck.active.type",
        "type is required (HTTP or TCP)",
    );
    expect(
        &with_active("      type: GRPC\n"),
        8,
        "spec.healthCheck.active.type",
        "GRPC health checks are not supported by Rampart yet",
    );
    expect(
        &with_active("      type: UDP\n"),
        8,
        "spec.healthCheck.active.type",
        "type \"UDP\" must be HTTP or TCP",
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
        "http must not be set with type TCP",
    );
    expect(
        &with_active("      type: HTTP\n      http: {path: /}\n      tcp: {}\n"),
        10,
        "spec.healthCheck.active.tcp",
        "tcp must not be set with type HTTP",
    );
}

#[test]
fn http_checker_rules() {
    let hp = "spec.healthCheck.active.http";
    for (http, field, msg) in [
        ("{path: healthz}", "path", "path must start with /"),
        ("{method: GET}", "path", "path must start with /"),
        (
            "{path: /, method: \"GE T\"}",
            "method",
            "\"GE T\" is not an HTTP method",
        ),
        (
            "{path: /, method: \"\"}",
            "method",
            "\"\" is not an HTTP method",
        ),
        (
            "{path: /, expectedStatuses: [200, 600]}",
            "expectedStatuses[1]",
            "status 600 is not in range 100-599",
        ),
        (
            "{path: /, expectedStatuses: [99]}",
            "expectedStatuses[0]",
            "status 99 is not in range 100-599",
        ),
        (
            "{path: /, hostname: Bad_Host}",
            "hostname",
            "hostname \"Bad_Host\" must be a lowercase DNS name",
        ),
    ] {
        expect(&with_http(http), 9, &format!("{hp}.{field}"), msg);
    }
}

#[test]
fn payload_rules() {
    let er = "spec.healthCheck.active.http.expectedResponse";
    for (payload, field, msg) in [
        ("{type: Text}", "text", "text is required with type Text"),
        (
            "{type: Binary}",
            "binary",
            "binary is required with type Binary",
        ),
        (
            "{type: Binary, binary: \"@@\"}",
            "binary",
            "binary is not valid base64",
        ),
        (
            "{type: Hex, text: a}",
            "type",
            "type \"Hex\" must be Text or Binary",
        ),
        ("{text: a}", "type", "type is required (Text or Binary)"),
        (
            "{type: Text, text: a, binary: YQ==}",
            "binary",
            "binary must not be set with type Text",
        ),
        (
            "{type: Binary, text: a, binary: YQ==}",
            "text",
            "text must not be set with type Binary",
        ),
    ] {
        let doc = with_http(&format!("{{path: /, expectedResponse: {payload}}}"));
        expect(&doc, 9, &format!("{er}.{field}"), msg);
    }
    for side in ["send", "receive"] {
        let tcp = with_active(&format!(
            "      type: TCP\n      tcp: {{{side}: {{type: Text}}}}\n"
        ));
        expect(
            &tcp,
            9,
            &format!("spec.healthCheck.active.tcp.{side}.text"),
            "text is required with type Text",
        );
    }
}

#[test]
fn only_the_envoy_gateway_api_version_is_accepted() {
    for other in ["networking.istio.io/v1", "gateway.envoyproxy.io/v1alpha2"] {
        let doc = btp(TARGET).replace("gateway.envoyproxy.io/v1alpha1", other);
        expect(
            &doc,
            1,
            "apiVersion",
            &format!("apiVersion {other} is not accepted for BackendTrafficPolicy"),
        );
    }
    // Other Envoy Gateway kinds stay unknown.
    let doc = btp(TARGET).replace("BackendTrafficPolicy", "ClientTrafficPolicy");
    expect(
        &doc,
        2,
        "kind",
        "kind ClientTrafficPolicy is not supported yet",
    );
}
