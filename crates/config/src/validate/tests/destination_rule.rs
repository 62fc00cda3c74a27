//! DestinationRule rules.

use super::{clean, doc, expect, expect_warn};

fn dr(body: &str) -> String {
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
fn tunnel_and_proxy_protocol() {
    let t = dr("  trafficPolicy:\n    tunnel: {protocol: GET, targetHost: \"bad host\", targetPort: 0}\n    proxyProtocol: {version: V2}\n");
    expect(
        &t,
        6,
        "spec.trafficPolicy",
        "tunnel and proxyProtocol must not be set together",
    );
    expect(
        &t,
        7,
        "spec.trafficPolicy.tunnel.protocol",
        "tunnel protocol must be \"CONNECT\" or \"POST\"",
    );
    expect(
        &t,
        7,
        "spec.trafficPolicy.tunnel.targetHost",
        "tunnel target host must be valid FQDN or IP address",
    );
    expect(
        &t,
        7,
        "spec.trafficPolicy.tunnel.targetPort",
        "tunnel target port is invalid",
    );
}

#[test]
fn outlier_rules() {
    let t = dr("  trafficPolicy:\n    outlierDetection:\n      consecutiveErrors: 5\n      consecutiveLocalOriginFailures: 3\n      interval: 0s\n      baseEjectionTime: 1us\n      maxEjectionPercent: 101\n      minHealthPercent: -1\n");
    expect_warn(
        &t,
        8,
        "spec.trafficPolicy.outlierDetection.consecutiveErrors",
        "outlier detection consecutive errors is deprecated",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
        "split external local origin errors is set to false",
    );
    expect(
        &t,
        10,
        "spec.trafficPolicy.outlierDetection.interval",
        "duration must be greater than 1ms",
    );
    expect(
        &t,
        11,
        "spec.trafficPolicy.outlierDetection.baseEjectionTime",
        "duration must be greater than 1ms",
    );
    expect(
        &t,
        12,
        "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
        "percentage 101 is not in range 0..100",
    );
    expect(
        &t,
        13,
        "spec.trafficPolicy.outlierDetection.minHealthPercent",
        "percentage -1 is not in range 0..100",
    );
}

#[test]
fn connection_pool_rules() {
    expect(
        &dr("  trafficPolicy:\n    connectionPool: {}\n"),
        7,
        "spec.trafficPolicy.connectionPool",
        "connection pool must have at least one field",
    );
    let t = dr("  trafficPolicy:\n    connectionPool:\n      tcp:\n        maxConnections: -1\n        connectTimeout: 1.5ms\n        idleTimeout: 0s\n      http:\n        http1MaxPendingRequests: -1\n        h2UpgradePolicy: UPGRADE\n        useClientProtocol: true\n        http2KeepAlive: {interval: 1s}\n");
    expect(
        &t,
        9,
        "spec.trafficPolicy.connectionPool.tcp.maxConnections",
        "max connections must be non-negative",
    );
    expect(
        &t,
        10,
        "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
        "only durations to ms precision are supported",
    );
    expect(
        &t,
        13,
        "spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests",
        "http1 max pending requests must be non-negative",
    );
    expect(
        &t,
        15,
        "spec.trafficPolicy.connectionPool.http.useClientProtocol",
        "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
    );
    expect(
        &t,
        16,
        "spec.trafficPolicy.connectionPool.http.http2KeepAlive",
        "http2 keepalive timeout is required",
    );
}

#[test]
fn load_balancer_rules() {
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        httpCookie: {name: \"\", attributes: [{name: a}, {name: a}, {name: \"\"}]}\n        minimumRingSize: 10\n        maglev: {tableSize: 10}\n");
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
        "name required for HttpCookie",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name",
        "duplicate cookie attribute name: a",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[2].name",
        "cookie attribute name cannot be empty",
    );
    expect_warn(
        &t,
        10,
        "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
        "consistent hash MinimumRingSize is deprecated",
    );
    expect(
        &t,
        8,
        "spec.trafficPolicy.loadBalancer.consistentHash",
        "only one of MinimumRingSize or Maglev/Ringhash can be specified",
    );
    expect(
        &t,
        11,
        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        "tableSize must be a prime number for maglev",
    );
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        maglev: {}\n");
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        "tableSize must be set for maglev",
    );
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        maglev: {tableSize: 5000011}\n");
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        "tableSize must be less than 5000011 for maglev",
    );
}

#[test]
fn locality_rules() {
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n        distribute: [{from: us-east/*, to: {\"us-west/*\": 50}}]\n        failover: [{from: a, to: b}]\n      zoneAwareLbSetting: {enabled: true}\n");
    expect(
        &t,
        7,
        "spec.trafficPolicy.loadBalancer",
        "only one of localityLbSetting and zoneAwareLbSetting can be set",
    );
    expect(
        &t,
        8,
        "spec.trafficPolicy.loadBalancer.localityLbSetting",
        "can not simultaneously specify 'distribute' and 'failover'",
    );
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n        distribute:\n        - {from: us-east/*, to: {\"us-west/*\": 50}}\n        - {from: us-west/*, to: {\"us-east/*\": 0}}\n");
    expect(
        &t,
        10,
        "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to",
        "total locality weight 50 != 100",
    );
    expect(
        &t,
        11,
        "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].to",
        "locality weight must be in range [1, 100]",
    );
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n        failover: [{from: us-east, to: us-east}, {from: a/b, to: \"*\"}]\n");
    expect_warn(
        &t,
        8,
        "spec.trafficPolicy.loadBalancer.localityLbSetting",
        "outlier detection policy must be provided for failover",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]",
        "locality lb failover settings must specify different regions",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[1]",
        "locality lb failover only specify region",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[1]",
        "locality lb failover region should not contain '*' wildcard",
    );
}

#[test]
fn warmup_rules() {
    let t = dr("  trafficPolicy:\n    loadBalancer:\n      warmup: {minimumPercent: 101, aggression: 0}\n      warmupDurationSecs: 10s\n");
    expect(
        &t,
        8,
        "spec.trafficPolicy.loadBalancer.warmup.duration",
        "duration is required",
    );
    expect(
        &t,
        8,
        "spec.trafficPolicy.loadBalancer.warmup.minimumPercent",
        "minimumPercent value should be less than or equal to 100",
    );
    expect(
        &t,
        8,
        "spec.trafficPolicy.loadBalancer.warmup.aggression",
        "aggression should be greater than 0",
    );
    expect(
        &t,
        7,
        "spec.trafficPolicy.loadBalancer",
        "only one of warmup or warmupDurationSecs may be set",
    );
}

#[test]
fn client_tls_rules() {
    let t = dr("  trafficPolicy:\n    tls: {mode: MUTUAL}\n");
    expect(
        &t,
        7,
        "spec.trafficPolicy.tls.clientCertificate",
        "client certificate required for mutual tls",
    );
    expect(
        &t,
        7,
        "spec.trafficPolicy.tls.privateKey",
        "private key required for mutual tls",
    );
    let t = dr(
        "  trafficPolicy:\n    tls: {mode: SIMPLE, credentialName: c, caCertificates: ca.pem}\n",
    );
    expect(
        &t,
        7,
        "spec.trafficPolicy.tls",
        "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
    );
    let t = dr("  trafficPolicy:\n    tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [x]}\n");
    expect(&t, 7, "spec.trafficPolicy.tls", "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
}

#[test]
fn port_level_settings() {
    let t = dr("  trafficPolicy:\n    portLevelSettings:\n    - loadBalancer: {simple: ROUND_ROBIN}\n    - port: {number: 80}\n");
    expect(
        &t,
        8,
        "spec.trafficPolicy.portLevelSettings[0].port",
        "portTrafficPolicy must have valid port",
    );
    expect(
        &t,
        9,
        "spec.trafficPolicy.portLevelSettings[1]",
        "port traffic policy must have at least one field",
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
