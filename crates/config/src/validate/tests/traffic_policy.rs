//! DestinationRule traffic-policy rules: tunnel, outlier detection, connection pool, load
//! balancer, locality, warm-up, client TLS, port-level settings, retry budget.

use super::destination_rule::dr;
use super::{expect, expect_warn};

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

/// `trafficPolicy:` at line 6, `body` (indented four spaces) from line 7.
fn tp(body: &str) -> String {
    dr(&format!("  trafficPolicy:\n{body}"))
}

#[test]
fn retry_budget_rules() {
    for (body, line, path, msg) in [
        (
            "    retryBudget: {percent: 101}\n",
            7,
            "spec.trafficPolicy.retryBudget.percent",
            "retry budget percent 101 is not in range 0..100",
        ),
        (
            "    retryBudget: {budgetInterval: 0.5ms}\n",
            7,
            "spec.trafficPolicy.retryBudget.budgetInterval",
            "duration must be greater than 1ms",
        ),
        (
            "    connectionPool:\n      http: {retryBudget: {percent: -1}}\n",
            8,
            "spec.trafficPolicy.connectionPool.http.retryBudget.percent",
            "retry budget percent -1 is not in range 0..100",
        ),
        (
            "    connectionPool:\n      http:\n        retryBudget: {budgetInterval: 1x}\n",
            9,
            "spec.trafficPolicy.connectionPool.http.retryBudget.budgetInterval",
            "invalid duration \"1x\"",
        ),
        (
            "    portLevelSettings:\n    - port: {number: 80}\n      connectionPool:\n        http: {retryBudget: {percent: 100.5}}\n",
            10,
            "spec.trafficPolicy.portLevelSettings[0].connectionPool.http.retryBudget.percent",
            "retry budget percent 100.5 is not in range 0..100",
        ),
    ] {
        expect(&tp(body), line, path, msg);
    }
}

#[test]
fn retry_budget_is_set_once_per_traffic_policy() {
    let both = "    retryBudget: {percent: 10}\n    connectionPool:\n      http: {retryBudget: {percent: 20}}\n";
    expect(
        &tp(both),
        9,
        "spec.trafficPolicy.connectionPool.http.retryBudget",
        "only one of retryBudget and connectionPool.http.retryBudget may be set",
    );
    let subset = "  subsets:\n  - name: v1\n    trafficPolicy:\n      retryBudget: {percent: 10}\n      connectionPool:\n        http: {retryBudget: {percent: 20}}\n";
    expect(
        &dr(subset),
        11,
        "spec.subsets[0].trafficPolicy.connectionPool.http.retryBudget",
        "only one of retryBudget and connectionPool.http.retryBudget may be set",
    );
    // Either one alone, or a port-level pool budget overriding the policy's, is fine.
    super::clean(&tp("    connectionPool:\n      http: {retryBudget: {percent: 25, minRetryConcurrency: 5, budgetInterval: 10s}}\n"));
    super::clean(&tp("    retryBudget: {percent: 10}\n    portLevelSettings:\n    - port: {number: 80}\n      connectionPool:\n        http: {retryBudget: {percent: 50}}\n"));
    super::clean(&dr("  trafficPolicy:\n    retryBudget: {percent: 10}\n  subsets:\n  - name: v1\n    trafficPolicy:\n      connectionPool:\n        http: {retryBudget: {percent: 50}}\n"));
}

#[test]
fn pool_retry_budget_is_loaded() {
    let text = tp("    connectionPool:\n      http: {maxRetries: 3, retryBudget: {percent: 25, minRetryConcurrency: 5, budgetInterval: 10s}}\n");
    let loaded = crate::load_str("t.yaml", &text);
    let tp = loaded.config.destination_rules[0]
        .spec
        .traffic_policy
        .as_ref()
        .unwrap();
    let http = tp.connection_pool.as_ref().unwrap().http.as_ref().unwrap();
    let rb = http.retry_budget.as_ref().unwrap();
    assert_eq!(rb.percent, Some(25.0));
    assert_eq!(rb.min_retry_concurrency, Some(5));
    assert_eq!(rb.budget_interval.as_deref(), Some("10s"));
    assert!(tp.retry_budget.is_none());
}

#[test]
fn outlier_http_error_codes() {
    expect(
        &tp("    outlierDetection: {outlierDetectionHttpErrorCodes: [500, 99]}\n"),
        7,
        "spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[1]",
        "outlier detection http error code 99 is not in range 100-599",
    );
}

#[test]
fn connection_pool_field_rules() {
    let at = "spec.trafficPolicy.connectionPool";
    for (pool, field, msg) in [
        (
            "http: {http2MaxRequests: -1}",
            "http.http2MaxRequests",
            "http2 max requests must be non-negative",
        ),
        (
            "http: {maxRequestsPerConnection: -1}",
            "http.maxRequestsPerConnection",
            "max requests per connection must be non-negative",
        ),
        (
            "http: {maxRetries: -1}",
            "http.maxRetries",
            "max retries must be non-negative",
        ),
        (
            "http: {maxConcurrentStreams: -1}",
            "http.maxConcurrentStreams",
            "max concurrent streams must be non-negative",
        ),
        (
            "http: {idleTimeout: 0.5ms}",
            "http.idleTimeout",
            "duration must be greater than 1ms",
        ),
        (
            "http: {http2KeepAlive: {timeout: 1s}}",
            "http.http2KeepAlive",
            "http2 keepalive interval is required",
        ),
        (
            "http: {http2KeepAlive: {interval: 0.5ms, timeout: 1s}}",
            "http.http2KeepAlive.interval",
            "duration must be greater than 1ms",
        ),
        (
            "http: {http2KeepAlive: {interval: 1s, timeout: 1x}}",
            "http.http2KeepAlive.timeout",
            "invalid duration \"1x\"",
        ),
        (
            "tcp: {maxConnectionDuration: 0.5ms}",
            "tcp.maxConnectionDuration",
            "duration must be greater than 1ms",
        ),
        (
            "tcp: {idleTimeout: 0.5ms}",
            "tcp.idleTimeout",
            "duration must be greater than 1ms",
        ),
        (
            "tcp: {tcpKeepalive: {time: 0.5ms}}",
            "tcp.tcpKeepalive.time",
            "duration must be greater than 1ms",
        ),
        (
            "tcp: {tcpKeepalive: {interval: 0.5ms}}",
            "tcp.tcpKeepalive.interval",
            "duration must be greater than 1ms",
        ),
    ] {
        let t = tp(&format!("    connectionPool:\n      {pool}\n"));
        expect(&t, 8, &format!("{at}.{field}"), msg);
    }
    // `0s` disables the TCP idle timeout.
    super::clean(&tp("    connectionPool:\n      tcp: {idleTimeout: 0s}\n"));
}

#[test]
fn load_balancer_exclusivity_and_durations() {
    let at = "spec.trafficPolicy.loadBalancer";
    for (lb, line, path, msg) in [
        (
            "    loadBalancer: {simple: ROUND_ROBIN, consistentHash: {useSourceIp: true}}\n",
            7,
            at.to_string(),
            "only one of simple or consistentHash may be set",
        ),
        (
            "    loadBalancer:\n      consistentHash: {httpHeaderName: x, useSourceIp: true}\n",
            8,
            format!("{at}.consistentHash"),
            "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set",
        ),
        (
            "    loadBalancer:\n      consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 1024}, maglev: {tableSize: 65537}}\n",
            8,
            format!("{at}.consistentHash"),
            "only one of ringHash or maglev may be set",
        ),
        (
            "    loadBalancer:\n      consistentHash: {httpCookie: {name: c, ttl: 0.5ms}}\n",
            8,
            format!("{at}.consistentHash.httpCookie.ttl"),
            "duration must be greater than 1ms",
        ),
        (
            "    loadBalancer: {warmupDurationSecs: 1x}\n",
            7,
            format!("{at}.warmupDurationSecs"),
            "invalid duration \"1x\"",
        ),
        (
            "    loadBalancer: {warmup: {duration: 0.5ms}}\n",
            7,
            format!("{at}.warmup.duration"),
            "duration must be greater than 1ms",
        ),
    ] {
        expect(&tp(lb), line, &path, msg);
    }
    // A zero cookie TTL means a session cookie and is accepted.
    super::clean(&tp(
        "    loadBalancer:\n      consistentHash: {httpCookie: {name: c, ttl: 0s}}\n",
    ));
}

#[test]
fn locality_list_rules() {
    let at = "spec.trafficPolicy.loadBalancer.localityLbSetting";
    for (setting, line, path, msg) in [
        (
            "        distribute: [{from: \"us-east/*\", to: {\"us-west/*\": 50, \"us-west/a\": 50}}]\n",
            9,
            format!("{at}.distribute[0].to"),
            "locality us-west/a overlap with previous specified ones",
        ),
        (
            "        distribute: [{from: \"us-*/a\", to: {us-west: 100}}]\n",
            9,
            format!("{at}.distribute"),
            "locality us-*/a wildcard '*' number can not exceed 1 and must be in the end",
        ),
        (
            "        distribute: [{from: \"us//a\", to: {us-west: 100}}]\n",
            9,
            format!("{at}.distribute"),
            "locality us//a must not contain empty region/zone/subzone info",
        ),
        (
            "        failover: [{from: a, to: b}]\n        failoverPriority: [topology.kubernetes.io/region]\n",
            10,
            format!("{at}.failoverPriority"),
            "can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/region' in 'failover_priority'",
        ),
    ] {
        let t = tp(&format!("    loadBalancer:\n      localityLbSetting:\n{setting}"));
        expect(&t, line, &path, msg);
    }
}

#[test]
fn zone_aware_rules() {
    let at = "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting";
    let zone = |s: &str| {
        tp(&format!(
            "    loadBalancer:\n      zoneAwareLbSetting:\n{s}"
        ))
    };
    expect(
        &zone("        failoverPriority: [topology.kubernetes.io/zone]\n"),
        9,
        &format!("{at}.failoverPriority"),
        "'failover_priority' for zone aware lb must not use topology label 'topology.kubernetes.io/zone'",
    );
    expect(
        &zone("        failover: [{from: a, to: a}]\n"),
        9,
        &format!("{at}.failover[0]"),
        "zone aware lb failover settings must specify different regions",
    );
    expect_warn(
        &zone("        failover: [{from: a, to: b}]\n"),
        8,
        at,
        "outlier detection policy must be provided for failover",
    );
}

#[test]
fn client_tls_mode_rules() {
    for (tls, msg) in [
        (
            "{mode: MUTUAL, insecureSkipVerify: true, caCertificates: ca, clientCertificate: c, privateKey: k}",
            "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
        ),
        (
            "{mode: ISTIO_MUTUAL, clientCertificate: c}",
            "ISTIO_MUTUAL TLS cannot have associated certificates or credentialName",
        ),
    ] {
        expect(
            &tp(&format!("    tls: {tls}\n")),
            7,
            "spec.trafficPolicy.tls",
            msg,
        );
    }
}

#[test]
fn port_level_port_number() {
    expect(
        &tp("    portLevelSettings:\n    - port: {number: 0}\n      loadBalancer: {simple: RANDOM}\n"),
        8,
        "spec.trafficPolicy.portLevelSettings[0].port.number",
        "port number 0 must be in the range 1..65535",
    );
}
