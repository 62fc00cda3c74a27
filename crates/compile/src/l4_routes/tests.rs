use std::time::Duration;

use rampart_config::load_str;
use rampart_model::tcp::{TcpConn, TcpRoutes};
use rampart_model::{ChainApp, Snapshot, Transport};

use crate::{compile, Compiled, ProxyIdentity};

fn compile_yaml(yaml: &str) -> Compiled {
    let loaded = load_str("test.yaml", yaml);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let c = compile(&loaded.config, &ProxyIdentity::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    c
}

/// Gateways `tcp-edge` (TCP on 9000) and `other` (TCP on 9000 too), a two-port service with
/// subsets v1/v2, and a DestinationRule giving v2 a 300ms idle timeout.
const BASE: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tcp-edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 9000, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: sni, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 9443, name: tls, protocol: TLS}
    tls: {mode: PASSTHROUGH}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo.default.svc.cluster.local]
  addresses: [240.0.0.10]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  endpoints:
  - {address: 127.0.0.1, ports: {tcp: 7001}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {tcp: 7002}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 0s}}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {connectionPool: {tcp: {idleTimeout: 300ms}}}
"#;

fn vs(name: &str, body: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
{body}"
    )
}

fn tcp_routes(snap: &Snapshot, port: u16) -> &TcpRoutes {
    let l = snap
        .listeners
        .iter()
        .find(|l| l.address.port() == port)
        .expect("listener");
    match &l.transport {
        Transport::Tcp(routes) => routes,
        Transport::Tls(chains) => match &chains.chains[0].app {
            ChainApp::Tcp(routes) => routes,
            ChainApp::Http(_) => panic!("an HTTP chain"),
        },
        Transport::Http => panic!("an HTTP listener"),
    }
}

fn names(routes: &TcpRoutes) -> Vec<&str> {
    routes.rules.iter().map(|r| &*r.name).collect()
}

fn conn(sni: Option<&str>) -> TcpConn<'_> {
    TcpConn {
        port: 9000,
        source: "10.0.0.1".parse().unwrap(),
        destination: "127.0.0.1".parse().unwrap(),
        sni,
    }
}

#[test]
fn weighted_subsets_with_their_idle_timeouts() {
    let yaml = format!(
        "{BASE}{}",
        vs(
            "echo",
            r#"  hosts: ["*"]
  gateways: [tcp-edge]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: echo, subset: v1}, weight: 80}
    - {destination: {host: echo, subset: v2}, weight: 20}
"#
        )
    );
    let c = compile_yaml(&yaml);
    let routes = tcp_routes(&c.snapshot, 9000);
    assert_eq!(names(routes), ["default/echo.tcp.0"]);
    let rule = &routes.rules[0];
    assert_eq!(rule.forward.total_weight, 100);
    let clusters: Vec<String> = rule
        .forward
        .destinations
        .iter()
        .map(|d| c.snapshot.cluster(d.cluster.unwrap()).key.to_string())
        .collect();
    assert_eq!(
        clusters,
        [
            "outbound|9000|v1|echo.default.svc.cluster.local",
            "outbound|9000|v2|echo.default.svc.cluster.local"
        ]
    );
    // v1 inherits the top-level `0s` (disabled); v2 has its own (the cluster carries it).
    let idle: Vec<_> = rule
        .forward
        .destinations
        .iter()
        .map(|d| c.snapshot.cluster(d.cluster.unwrap()).pool.tcp_idle_timeout)
        .collect();
    assert_eq!(idle, [None, Some(Duration::from_millis(300))]);
    assert!(routes.find(&conn(None)).is_some());
    let dumped = c.snapshot.dump["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|l| l.get("tcpRoutes"))
        .expect("tcp routes in the dump");
    assert_eq!(dumped[0]["name"], "default/echo.tcp.0");
    assert_eq!(dumped[0]["forward"][1]["idleTimeoutMs"], 300);
    assert_eq!(
        dumped[0]["forward"][0]["idleTimeoutMs"],
        serde_json::Value::Null
    );
}

#[test]
fn compile_time_conditions_drop_entries_and_rules() {
    let yaml = format!(
        "{BASE}{}",
        vs(
            "echo",
            r#"  hosts: ["*"]
  gateways: [tcp-edge, other]
  tcp:
  - match: [{gateways: [other]}]
    route: [{destination: {host: echo, subset: v1}}]
  - match: [{port: 9999}]
    route: [{destination: {host: echo, subset: v1}}]
  - match: [{sourceLabels: {app: client}}]
    route: [{destination: {host: echo, subset: v1}}]
  - match: [{sourceNamespace: default}]
    route: [{destination: {host: echo, subset: v1}}]
  - match: [{sourceLabels: {istio: ingressgateway}, sourceNamespace: istio-system, gateways: [tcp-edge], sourceSubnet: 10.0.0.0/8}]
    route: [{destination: {host: echo, subset: v1}}]
  - route: [{destination: {host: echo, subset: v2}}]
"#
        )
    );
    let c = compile_yaml(&yaml);
    let routes = tcp_routes(&c.snapshot, 9000);
    assert_eq!(names(routes), ["default/echo.tcp.4", "default/echo.tcp.5"]);
    assert_eq!(
        routes.find(&conn(None)).unwrap().name.as_ref(),
        "default/echo.tcp.4"
    );
    let outside = TcpConn {
        source: "192.168.1.1".parse().unwrap(),
        ..conn(None)
    };
    assert_eq!(
        routes.find(&outside).unwrap().name.as_ref(),
        "default/echo.tcp.5"
    );
}

#[test]
fn unbound_or_unrelated_virtual_services_add_nothing() {
    let yaml = format!(
        "{BASE}{}{}{}",
        vs(
            "mesh-only",
            r#"  hosts: [echo]
  tcp:
  - route: [{destination: {host: echo, subset: v1}}]
"#
        ),
        vs(
            "hidden",
            r#"  hosts: ["*"]
  gateways: [tcp-edge]
  exportTo: [other-ns]
  tcp:
  - route: [{destination: {host: echo, subset: v1}}]
"#
        ),
        vs(
            "http-only",
            r#"  hosts: ["*"]
  gateways: [tcp-edge]
  http:
  - route: [{destination: {host: echo, subset: v1}}]
"#
        )
    );
    let c = compile_yaml(&yaml);
    assert!(tcp_routes(&c.snapshot, 9000).rules.is_empty());
}

#[test]
fn tls_routes_keep_the_sni_hosts_the_server_serves() {
    let yaml = format!(
        "{BASE}{}{}",
        vs(
            "nginx",
            r#"  hosts: [nginx.example.com, nginx.example.org]
  gateways: [sni]
  tls:
  - match:
    - {port: 9443, sniHosts: [nginx.example.org]}
    route: [{destination: {host: echo, subset: v1}}]
  - match:
    - {port: 9443, sniHosts: [nginx.example.com, nginx.example.org]}
    route: [{destination: {host: echo, subset: v2}}]
"#
        ),
        vs(
            "wild",
            r#"  hosts: ["*.example.com"]
  gateways: [default/sni]
  tls:
  - match: [{sniHosts: ["*.example.com"]}]
    route: [{destination: {host: echo, subset: v1, port: {number: 9000}}}]
"#
        )
    );
    let c = compile_yaml(&yaml);
    let routes = tcp_routes(&c.snapshot, 9443);
    assert_eq!(names(routes), ["default/nginx.tls.1", "default/wild.tls.0"]);
    let pick = |sni| routes.find(&conn(Some(sni))).map(|r| &*r.name);
    assert_eq!(pick("nginx.example.com"), Some("default/nginx.tls.1"));
    assert_eq!(pick("api.example.com"), Some("default/wild.tls.0"));
    assert_eq!(pick("nginx.example.org"), None);
    assert!(routes.find(&conn(None)).is_none());
}

#[test]
fn missing_subsets_keep_the_rule_without_a_cluster() {
    let yaml = format!(
        "{BASE}{}",
        vs(
            "echo",
            r#"  hosts: ["*"]
  gateways: [tcp-edge]
  tcp:
  - route: [{destination: {host: echo, subset: v9}}]
"#
        )
    );
    let c = compile_yaml(&yaml);
    let rule = &tcp_routes(&c.snapshot, 9000).rules[0];
    assert_eq!(rule.forward.destinations[0].cluster, None);
    assert!(c
        .diagnostics
        .iter()
        .any(|d| d.path == "spec.tcp[0].route[0].destination.subset"));
}
