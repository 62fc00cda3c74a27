use rampart_config::load_str;

use super::*;

fn compile_yaml(yaml: &str) -> Compiled {
    let loaded = load_str("test.yaml", yaml);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    compile(&loaded.config, &ProxyIdentity::default())
}

const BASE: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"#;

#[test]
fn bookinfo_compiles_to_one_listener_with_subset_clusters() {
    let yaml = format!(
        "{BASE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - match: [{{headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: reviews, subset: v2}}}}]
  - route: [{{destination: {{host: reviews, subset: v1}}}}]
"
    );
    let c = compile_yaml(&yaml);
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let snap = &c.snapshot;
    assert_eq!(snap.listeners.len(), 1);
    assert_eq!(snap.listeners[0].address.port(), 8080);
    let vh = &snap.listeners[0].routes.vhosts[0];
    assert_eq!(&*vh.domain, "reviews.default.svc.cluster.local");
    assert_eq!(vh.routes.len(), 2);
    assert_eq!(snap.clusters.len(), 2);
    let v2 = &snap.clusters[0];
    assert_eq!(
        v2.key.to_string(),
        "outbound|9080|v2|reviews.default.svc.cluster.local"
    );
    assert_eq!(v2.endpoints.len(), 1);
    assert_eq!(v2.endpoints[0].address.to_string(), "127.0.0.1:9002");
}

#[test]
fn unsupported_fields_are_errors_with_lines() {
    let yaml = format!(
        "{BASE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: reviews, subset: v1}}}}]
    headers: {{request: {{set: {{x-ip: \"%DOWNSTREAM_REMOTE_ADDRESS%\"}}}}}}
"
    );
    let c = compile_yaml(&yaml);
    let d = c.diagnostics.iter().find(|d| d.is_error()).expect("error");
    assert_eq!(d.path, "spec.http[0].headers.request");
    let expected = yaml.lines().position(|l| l.contains("headers:")).unwrap() as u32 + 1;
    assert_eq!(d.line, expected);
    assert!(d.message.contains("not supported"), "{d}");
}

#[test]
fn missing_subset_is_a_warning_and_a_no_cluster_route() {
    let yaml = format!(
        "{BASE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: reviews, subset: v9}}}}]
"
    );
    let c = compile_yaml(&yaml);
    assert!(!c.has_errors());
    assert!(c
        .diagnostics
        .iter()
        .any(|d| d.path.ends_with("destination.subset") && d.message.contains("v9")));
}

#[test]
fn virtual_services_for_one_host_merge_in_load_order() {
    let vs = |name: &str, prefix: &str| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - match: [{{uri: {{prefix: {prefix}}}}}]
    route: [{{destination: {{host: reviews, subset: v1}}}}]
"
        )
    };
    let yaml = format!("{BASE}{}{}", vs("a", "/a"), vs("b", "/b"));
    let c = compile_yaml(&yaml);
    let vh = &c.snapshot.listeners[0].routes.vhosts[0];
    let names: Vec<&str> = vh.routes.iter().map(|r| &*r.name).collect();
    assert_eq!(names, ["default/a.0", "default/b.0"]);
}

#[test]
fn gateways_for_other_workloads_and_unbound_services_are_ignored() {
    let yaml = format!(
        "{BASE}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: other}}
spec:
  selector: {{istio: egressgateway}}
  servers:
  - port: {{number: 9999, name: http, protocol: HTTP}}
    hosts: [\"*\"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: mesh-only}}
spec:
  hosts: [reviews]
  http:
  - route: [{{destination: {{host: reviews, subset: v1}}}}]
"
    );
    let c = compile_yaml(&yaml);
    assert_eq!(c.snapshot.listeners.len(), 1);
    assert!(c.snapshot.listeners[0].routes.vhosts.is_empty());
}

/// BASE with a DestinationRule `trafficPolicy` for reviews instead of the subsets-only one, and a
/// route to it.
fn with_lb(load_balancer: &str) -> String {
    format!(
        "{}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews}}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {load_balancer}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: reviews}}}}]
",
        BASE.split("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule")
            .next()
            .unwrap()
    )
}

#[test]
fn hash_header_names_envoy_refuses_are_errors_not_a_source_ip_hash() {
    for name in ["\"x user\"", "\"x-user:\"", "\"\""] {
        let c = compile_yaml(&with_lb(&format!(
            "{{consistentHash: {{httpHeaderName: {name}}}}}"
        )));
        let errors: Vec<_> = c.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{name}: {:?}", c.diagnostics);
        assert_eq!(
            errors[0].path,
            "spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName"
        );
        assert!(errors[0].message.contains("header name"), "{}", errors[0]);
    }
    let c = compile_yaml(&with_lb("{consistentHash: {httpHeaderName: X-User}}"));
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    assert_eq!(
        c.snapshot.clusters[0].lb,
        rampart_model::LbPolicy::RingHash {
            key: rampart_model::HashKey::Header(http::HeaderName::from_static("x-user")),
            min_ring_size: 1024
        }
    );
}

#[test]
fn ring_sizes_above_envoys_limit_are_errors() {
    for (lb, path) in [
        (
            "{consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 1000000000}}}",
            "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize",
        ),
        (
            "{consistentHash: {useSourceIp: true, minimumRingSize: 4294967296}}",
            "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
        ),
    ] {
        let c = compile_yaml(&with_lb(lb));
        let errors: Vec<_> = c.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{lb}: {:?}", c.diagnostics);
        assert_eq!(errors[0].path, path);
        assert!(errors[0].message.contains("8388608"), "{}", errors[0]);
    }
    let c = compile_yaml(&with_lb(
        "{consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 8388608}}}",
    ));
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    assert_eq!(
        c.snapshot.clusters[0].lb,
        rampart_model::LbPolicy::RingHash {
            key: rampart_model::HashKey::SourceIp,
            min_ring_size: 8_388_608
        }
    );
}

#[test]
fn a_zero_ring_size_is_unset_and_gets_the_default() {
    let c = compile_yaml(&with_lb(
        "{consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 0}}}",
    ));
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    assert_eq!(
        c.snapshot.clusters[0].lb,
        rampart_model::LbPolicy::RingHash {
            key: rampart_model::HashKey::SourceIp,
            min_ring_size: 1024
        }
    );
}

/// Every field Rampart does not implement yet is an error naming it, on the line it is written.
#[test]
fn each_unsupported_field_is_rejected_with_its_path_and_line() {
    let vs = |rule_extra: &str| {
        format!(
            "{BASE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: reviews, subset: v1}}}}]
{rule_extra}"
        )
    };
    let dr = |policy: &str| {
        BASE.replace(
            "  host: reviews\n  subsets:",
            &format!("  host: reviews\n  trafficPolicy:\n{policy}\n  subsets:"),
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (vs("    headers: {request: {set: {x-ip: \"%DOWNSTREAM_REMOTE_ADDRESS%\"}}}"), "spec.http[0].headers.request", "headers:"),
        (dr("    connectionPool: {http: {useClientProtocol: true}}"), "spec.trafficPolicy.connectionPool.http.useClientProtocol", "connectionPool:"),
        (dr("    tls: {mode: ISTIO_MUTUAL}"), "spec.trafficPolicy.tls.mode", "tls:"),
        (dr("    loadBalancer: {simple: PASSTHROUGH}"), "spec.trafficPolicy.loadBalancer.simple", "loadBalancer:"),
        (dr("    loadBalancer: {consistentHash: {httpCookie: {name: u, ttl: 10s, attributes: [{name: SameSite, value: Strict}]}}}"), "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes", "loadBalancer:"),
        (BASE.replace("protocol: HTTP}\n    hosts", "protocol: TLS}\n    tls: {mode: AUTO_PASSTHROUGH}\n    hosts"), "spec.servers[0].tls.mode", "mode: AUTO_PASSTHROUGH"),
        (BASE.replace("resolution: STATIC", "resolution: NONE").replace("  endpoints:\n  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}\n  - {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}\n", ""), "spec.resolution", "resolution: NONE"),
    ];
    for (yaml, path, marker) in cases {
        let loaded = load_str("test.yaml", &yaml);
        assert!(!loaded.has_errors(), "{path}: {:?}", loaded.diagnostics);
        let c = compile(&loaded.config, &ProxyIdentity::default());
        let d = c
            .diagnostics
            .iter()
            .find(|d| d.is_error() && d.path == path)
            .unwrap_or_else(|| panic!("no error at {path}: {:?}", c.diagnostics));
        let expected = yaml.lines().position(|l| l.contains(marker)).unwrap() as u32 + 1;
        assert!(
            d.line >= expected,
            "{path}: line {} before {expected}",
            d.line
        );
        assert!(
            d.line <= expected + 1,
            "{path}: line {} after {expected}",
            d.line
        );
    }
}

/// ServiceEntry and DestinationRule `exportTo` decide what the proxy (namespace istio-system)
/// may use, as in Istio.
#[test]
fn export_to_hides_service_entries_and_destination_rules_from_the_proxy() {
    let vs = "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
";
    let hidden_se = format!(
        "{}{vs}",
        BASE.replace(
            "  location: MESH_INTERNAL",
            "  exportTo: [\".\"]\n  location: MESH_INTERNAL"
        )
    );
    let c = compile_yaml(&hidden_se);
    assert!(
        c.snapshot.clusters.is_empty(),
        "a ServiceEntry exported only to default is not usable"
    );
    assert!(
        c.diagnostics.iter().any(|d| d
            .message
            .contains("exportTo does not include namespace istio-system")),
        "{:?}",
        c.diagnostics
    );
    let exported = format!(
        "{}{vs}",
        BASE.replace(
            "  location: MESH_INTERNAL",
            "  exportTo: [istio-system]\n  location: MESH_INTERNAL"
        )
    );
    assert_eq!(compile_yaml(&exported).snapshot.clusters.len(), 1);
    let hidden_dr = format!(
        "{}{vs}",
        BASE.replace(
            "  host: reviews\n  subsets:",
            "  host: reviews\n  exportTo: [\".\"]\n  subsets:"
        )
    );
    let c = compile_yaml(&hidden_dr);
    assert!(
        c.snapshot.clusters.is_empty(),
        "the subset's DestinationRule is not visible"
    );
    assert!(
        c.diagnostics
            .iter()
            .any(|d| d.path.ends_with("destination.subset")),
        "{:?}",
        c.diagnostics
    );
}

#[test]
fn backend_traffic_policies_give_clusters_health_checks_with_envoy_gateway_defaults() {
    let vs = "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: reviews-health}
spec:
  targetRefs:
  - {group: networking.istio.io, kind: DestinationRule, name: reviews}
  - {group: networking.istio.io, kind: ServiceEntry, name: ratings}
  healthCheck:
    active: {type: HTTP, http: {path: /healthz}}
";
    let c = compile_yaml(&format!("{BASE}{vs}"));
    let hc = c.snapshot.clusters[0]
        .health_check
        .as_ref()
        .expect("the DestinationRule target applies");
    assert_eq!(hc.interval, std::time::Duration::from_secs(3));
    assert_eq!(hc.timeout, std::time::Duration::from_secs(1));
    assert_eq!((hc.unhealthy_threshold, hc.healthy_threshold), (3, 1));
    assert_eq!(&*hc.source, "default/reviews-health");
    match &hc.probe {
        rampart_model::HealthProbe::Http {
            method,
            host,
            expected_statuses,
            ..
        } => {
            assert_eq!(method, http::Method::GET);
            assert_eq!(&**host, "reviews.default.svc.cluster.local");
            assert_eq!(&**expected_statuses, &[200]);
        }
        other => panic!("{other:?}"),
    }
    let warning = c
        .diagnostics
        .iter()
        .find(|d| d.path == "spec.targetRefs[1].name")
        .expect("a dangling target is reported");
    assert!(!warning.is_error());
    assert!(warning.message.contains("no ServiceEntry default/ratings"));
}

#[test]
fn retry_budgets_from_either_place_reach_the_cluster() {
    let vs = "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [edge]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
";
    for (policy, percent, min) in [
        (
            "    connectionPool: {http: {retryBudget: {percent: 30}}}",
            30.0,
            3,
        ),
        ("    retryBudget: {minRetryConcurrency: 5}", 20.0, 5),
    ] {
        let yaml = format!("{BASE}{vs}").replace(
            "  host: reviews\n  subsets:",
            &format!("  host: reviews\n  trafficPolicy:\n{policy}\n  subsets:"),
        );
        let c = compile_yaml(&yaml);
        let budget = c.snapshot.clusters[0].pool.retry_budget.expect(policy);
        assert_eq!(
            (budget.percent, budget.min_concurrency),
            (percent, min),
            "{policy}"
        );
    }
}
