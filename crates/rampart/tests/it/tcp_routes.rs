//! Layer-4 routes end to end: VirtualService `tcp` routes on `protocol: TCP` servers (Istio's
//! TCP traffic-shifting task, S3), `tls` routes on PASSTHROUGH servers (S11, SNI routing) and
//! `tcp` routes behind TLS termination, with real echo servers on loopback.

use std::collections::BTreeMap;

use rampart_testkit::free_port;
use rampart_testkit::pki::Ca;
use rampart_testkit::tcp_echo::{EchoClient, TcpEcho};

use crate::support::{temp_dir, TestGateway};

/// S3's Gateway: one TCP server on the gateway port.
const TCP_GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tcp-edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${GW_PORT}, name: tcp, protocol: TCP}
    hosts: ["*"]
"#;

/// S3's `tcp-echo` service: one endpoint per (port, version).
fn echo_service(endpoints: &[(u16, &str)]) -> String {
    let mut eps = String::new();
    for (port, version) in endpoints {
        eps.push_str(&format!(
            "  - {{address: 127.0.0.1, ports: {{tcp: {port}}}, labels: {{version: {version}}}}}\n"
        ));
    }
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: tcp-echo}}
spec:
  hosts: [tcp-echo.default.svc.cluster.local]
  addresses: [240.0.0.10]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9000, name: tcp, protocol: TCP}}]
  endpoints:
{eps}"
    )
}

/// S3's DestinationRule (subsets v1, v2) with `policy` as its `trafficPolicy` (none when
/// empty).
fn echo_subsets(policy: &str) -> String {
    let policy = match policy {
        "" => String::new(),
        p => format!("  trafficPolicy: {p}\n"),
    };
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: tcp-echo}}
spec:
  host: tcp-echo.default.svc.cluster.local
{policy}  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"
    )
}

/// A VirtualService on `tcp-edge` with these `tcp` rules (YAML list items).
fn tcp_vs(rules: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: tcp-echo}}
spec:
  hosts: [\"*\"]
  gateways: [tcp-edge]
  tcp:
{rules}"
    )
}

/// A route to one subset of `tcp-echo`.
fn to(subset: &str) -> String {
    format!(
        "[{{destination: {{host: tcp-echo.default.svc.cluster.local, port: {{number: 9000}}, subset: {subset}}}}}]"
    )
}

/// The `one`/`two` echo pair of S3 and a gateway routing per `rules`, with `policy` on the
/// DestinationRule.
async fn s3(rules: &str, policy: &str) -> (TestGateway, TcpEcho, TcpEcho) {
    let one = TcpEcho::start("one").await;
    let two = TcpEcho::start("two").await;
    let yaml = format!(
        "{TCP_GATEWAY}{}{}{}",
        echo_service(&[(one.port(), "v1"), (two.port(), "v2")]),
        echo_subsets(policy),
        tcp_vs(rules)
    );
    (TestGateway::start(&yaml).await, one, two)
}

/// The metric line of `family` whose labels contain every one of `labels`.
async fn metric(gw: &TestGateway, family: &str, labels: &[&str]) -> Option<String> {
    let body = gw.admin("/stats/prometheus").await.body;
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .map(str::to_string)
}

#[tokio::test]
async fn a_tcp_route_relays_both_ways_and_passes_the_half_close_on() {
    let (gw, one, _two) = s3(&format!("  - route: {}\n", to("v1")), "").await;
    let mut client = EchoClient::connect(gw.addr).await.unwrap();
    assert_eq!(client.exchange("hello").await.unwrap(), "one hello");
    assert_eq!(client.exchange("again").await.unwrap(), "one again");
    // The client stops writing; the backend sees it, answers the last words and closes.
    assert_eq!(client.finish("bye").await.unwrap(), "one bye\n");
    assert_eq!(one.accepted(), 1);
    let dest = "destination_service=\"tcp-echo.default.svc.cluster.local\"";
    let opened = metric(
        &gw,
        "istio_tcp_connections_opened_total",
        &[dest, "version=\"v1\""],
    )
    .await
    .expect("opened counted");
    assert!(opened.ends_with(" 1"), "{opened}");
    assert!(opened.contains("request_protocol=\"tcp\""), "{opened}");
    let received = metric(&gw, "istio_tcp_received_bytes_total", &[dest])
        .await
        .expect("received bytes counted");
    // `hello\n`, `again\n`, `bye`.
    assert!(received.ends_with(" 15"), "{received}");
}

/// Istio's TCP traffic-shifting task, step B: 80/20 by connection.
#[tokio::test]
async fn tcp_traffic_shifts_80_20_by_connection() {
    let rules = "  - match: [{port: ${GW_PORT}}]
    route:
    - destination: {host: tcp-echo.default.svc.cluster.local, port: {number: 9000}, subset: v1}
      weight: 80
    - destination: {host: tcp-echo.default.svc.cluster.local, port: {number: 9000}, subset: v2}
      weight: 20
";
    let (gw, one, two) = s3(rules, "").await;
    const N: usize = 500;
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..N {
        let mut client = EchoClient::connect(gw.addr).await.unwrap();
        let reply = client.exchange(&format!("hello {i}")).await.unwrap();
        // Every byte of one connection goes to the same backend.
        let again = client.exchange("again").await.unwrap();
        let who = reply.split(' ').next().unwrap().to_string();
        assert_eq!(again, format!("{who} again"));
        *tally.entry(who).or_default() += 1;
    }
    let v1 = tally.get("one").copied().unwrap_or(0);
    let v2 = tally.get("two").copied().unwrap_or(0);
    assert_eq!(v1 + v2, N, "{tally:?}");
    // Binomial(500, 0.8): sd ≈ 8.9 connections; 5 sd either side ≈ 80 ± 9 %.
    assert!((355..=445).contains(&v1), "v1 got {v1} of {N}: {tally:?}");
    assert_eq!((one.accepted(), two.accepted()), (v1, v2));
}

#[tokio::test]
async fn no_matching_rule_closes_the_connection_before_any_backend() {
    // Rule 0 is for another port (dropped when compiled), rule 1 for other clients.
    let rules = format!(
        "  - match: [{{port: 1}}]
    route: {}
  - match: [{{sourceSubnet: 10.0.0.0/8}}]
    route: {}
",
        to("v1"),
        to("v2")
    );
    let (gw, one, two) = s3(&rules, "").await;
    let mut client = EchoClient::connect(gw.addr).await.unwrap();
    assert!(client.exchange("hello").await.is_err());
    assert!(client.closed().await);
    assert_eq!(one.accepted() + two.accepted(), 0);
    let closed = metric(
        &gw,
        "istio_tcp_connections_closed_total",
        &["destination_service=\"unknown\"", "response_flags=\"NR\""],
    )
    .await
    .expect("unrouted connection counted");
    assert!(closed.ends_with(" 1"), "{closed}");
}

#[tokio::test]
async fn an_unreachable_destination_closes_the_client() {
    let refused = free_port();
    let yaml = format!(
        "{TCP_GATEWAY}{}{}{}",
        echo_service(&[(refused, "v1")]),
        echo_subsets(""),
        tcp_vs(&format!("  - route: {}\n", to("v1")))
    );
    let gw = TestGateway::start(&yaml).await;
    let mut client = EchoClient::connect(gw.addr).await.unwrap();
    assert!(client.exchange("hello").await.is_err());
    assert!(client.closed().await);
    let closed = metric(
        &gw,
        "istio_tcp_connections_closed_total",
        &["destination_version=\"v1\"", "response_flags=\"UF\""],
    )
    .await
    .expect("connect failure counted");
    assert!(closed.ends_with(" 1"), "{closed}");
}

#[tokio::test]
async fn a_missing_subset_closes_the_client() {
    let (gw, one, two) = s3(&format!("  - route: {}\n", to("v9")), "").await;
    let mut client = EchoClient::connect(gw.addr).await.unwrap();
    assert!(client.exchange("hello").await.is_err());
    assert!(client.closed().await);
    assert_eq!(one.accepted() + two.accepted(), 0);
}

#[tokio::test]
async fn the_destination_rule_idle_timeout_closes_an_idle_connection() {
    let (gw, _one, _two) = s3(
        &format!("  - route: {}\n", to("v1")),
        "{connectionPool: {tcp: {idleTimeout: 300ms}}}",
    )
    .await;
    let mut client = EchoClient::connect(gw.addr).await.unwrap();
    assert_eq!(client.exchange("hello").await.unwrap(), "one hello");
    // Nothing more is sent either way: the gateway closes both sides.
    assert!(client.closed().await);
}

#[tokio::test]
async fn max_connections_overflow_closes_the_client() {
    let (gw, one, _two) = s3(
        &format!("  - route: {}\n", to("v1")),
        "{connectionPool: {tcp: {maxConnections: 1}}}",
    )
    .await;
    let mut first = EchoClient::connect(gw.addr).await.unwrap();
    assert_eq!(first.exchange("hello").await.unwrap(), "one hello");
    let mut second = EchoClient::connect(gw.addr).await.unwrap();
    assert!(second.exchange("hello").await.is_err());
    assert!(second.closed().await);
    assert_eq!(one.accepted(), 1);
    // The first connection is unaffected.
    assert_eq!(first.exchange("still").await.unwrap(), "one still");
    let closed = metric(
        &gw,
        "istio_tcp_connections_closed_total",
        &["destination_version=\"v1\"", "response_flags=\"UO\""],
    )
    .await
    .expect("overflow counted");
    assert!(closed.ends_with(" 1"), "{closed}");
}

#[tokio::test]
async fn source_and_destination_subnets_choose_the_rule() {
    // The gateway listens on 127.0.0.1 and the client comes from 127.0.0.1.
    let rules = format!(
        "  - match: [{{destinationSubnets: [192.0.2.0/24]}}]
    route: {v2}
  - match: [{{sourceSubnet: 10.0.0.0/8}}]
    route: {v2}
  - match: [{{destinationSubnets: [10.0.0.0/8, 127.0.0.0/8], sourceSubnet: 127.0.0.1/32}}]
    route: {v1}
  - route: {v2}
",
        v1 = to("v1"),
        v2 = to("v2")
    );
    let (gw, one, two) = s3(&rules, "").await;
    for _ in 0..5 {
        let mut client = EchoClient::connect(gw.addr).await.unwrap();
        assert_eq!(client.exchange("hello").await.unwrap(), "one hello");
    }
    assert_eq!((one.accepted(), two.accepted()), (5, 0));
}

/// S11: a TLS backend with its own certificate for `nginx.example.com`, behind a PASSTHROUGH
/// server for `server_host` routed by SNI.
async fn s11(server_host: &str) -> (TestGateway, TcpEcho, Ca, rampart_testkit::pki::Leaf) {
    let ca = Ca::new("example.com");
    let leaf = ca.server(&["nginx.example.com"]);
    let nginx = TcpEcho::start_tls("nginx", leaf.server_config(&[])).await;
    let yaml = format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: my-nginx}}
spec:
  hosts: [my-nginx.default.svc.cluster.local]
  addresses: [240.0.0.20]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 443, name: https, protocol: HTTPS}}]
  endpoints: [{{address: 127.0.0.1, ports: {{https: {}}}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: mygateway}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: ${{GW_PORT}}, name: https, protocol: HTTPS}}
    tls: {{mode: PASSTHROUGH}}
    hosts: [\"{server_host}\"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: nginx}}
spec:
  hosts: [nginx.example.com]
  gateways: [mygateway]
  tls:
  - match:
    - port: ${{GW_PORT}}
      sniHosts: [nginx.example.com]
    route:
    - destination: {{host: my-nginx.default.svc.cluster.local, port: {{number: 443}}}}
",
        nginx.port()
    );
    (TestGateway::start(&yaml).await, nginx, ca, leaf)
}

#[tokio::test]
async fn sni_passthrough_reaches_the_backend_with_its_own_certificate() {
    let (gw, nginx, ca, leaf) = s11("nginx.example.com").await;
    let (mut client, cert) =
        EchoClient::connect_tls(gw.addr, "nginx.example.com", ca.client_config(&[]))
            .await
            .expect("handshake with the backend");
    // The gateway holds no certificate: the one seen is the backend's.
    assert_eq!(cert, leaf.der);
    assert_eq!(client.exchange("hello").await.unwrap(), "nginx hello");
    assert_eq!(nginx.accepted(), 1);
}

#[tokio::test]
async fn an_sni_no_route_serves_is_closed_before_the_backend() {
    let (gw, nginx, ca, _) = s11("nginx.example.com").await;
    for sni in ["foo.example.com", "127.0.0.1"] {
        let refused = EchoClient::connect_tls(gw.addr, sni, ca.client_config(&[])).await;
        assert!(refused.is_err(), "SNI {sni} was served");
    }
    assert_eq!(nginx.accepted(), 0);
}

#[tokio::test]
async fn a_server_sni_no_tls_route_names_is_closed_before_the_backend() {
    // The server takes every `*.example.com`; the only route is for `nginx.example.com`.
    let (gw, nginx, ca, _) = s11("*.example.com").await;
    let refused = EchoClient::connect_tls(gw.addr, "foo.example.com", ca.client_config(&[])).await;
    assert!(refused.is_err(), "foo.example.com was served");
    assert_eq!(nginx.accepted(), 0);
    let closed = metric(
        &gw,
        "istio_tcp_connections_closed_total",
        &["destination_service=\"unknown\"", "response_flags=\"NR\""],
    )
    .await
    .expect("unrouted connection counted");
    assert!(closed.ends_with(" 1"), "{closed}");
    // The name it routes still works.
    let (mut client, _) =
        EchoClient::connect_tls(gw.addr, "nginx.example.com", ca.client_config(&[]))
            .await
            .expect("handshake with the backend");
    assert_eq!(client.exchange("hello").await.unwrap(), "nginx hello");
}

#[tokio::test]
async fn a_terminating_tls_server_with_a_tcp_route() {
    let ca = Ca::new("example.com");
    let leaf = ca.server(&["tcp.example.com"]);
    let (cert, key) = leaf.write(&temp_dir(), "tcp");
    let one = TcpEcho::start("one").await;
    let yaml = format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: tcp-edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: ${{GW_PORT}}, name: tls, protocol: TLS}}
    tls: {{mode: SIMPLE, serverCertificate: {}, privateKey: {}}}
    hosts: [tcp.example.com]
{}{}{}",
        cert.display(),
        key.display(),
        echo_service(&[(one.port(), "v1")]),
        echo_subsets(""),
        tcp_vs(&format!("  - route: {}\n", to("v1")))
    );
    let gw = TestGateway::start(&yaml).await;
    let (mut client, presented) =
        EchoClient::connect_tls(gw.addr, "tcp.example.com", ca.client_config(&[]))
            .await
            .expect("handshake with the gateway");
    assert_eq!(
        presented, leaf.der,
        "the gateway terminates with its own certificate"
    );
    assert_eq!(client.exchange("hello").await.unwrap(), "one hello");
    assert_eq!(client.finish("bye").await.unwrap(), "one bye\n");
}
