//! Upstream features through the gateway: DNS endpoints, WorkloadEntries, load balancers,
//! HTTP/2 upgrade, short names, `exportTo`, and destination ports checked against the
//! ServiceEntry.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use rampart_testkit::{Backend, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{app_with_endpoints, tally, vs_to, TestGateway, G0};

/// A STATIC ServiceEntry `app` with one endpoint per backend, with the given endpoint weights.
fn weighted_app(endpoints: &[(&Backend, u32)]) -> String {
    let eps: String = endpoints
        .iter()
        .map(|(be, weight)| {
            format!(
                "  - {{address: 127.0.0.1, ports: {{http: {}}}, weight: {weight}}}\n",
                be.port()
            )
        })
        .collect();
    app_with_endpoints(&eps)
}

/// A DestinationRule for `app` with this `trafficPolicy` (flow-style YAML).
fn app_policy(traffic_policy: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: app}}
spec:
  host: app
  trafficPolicy: {traffic_policy}
"
    )
}

/// Counts of answers by body, as `(body, count)` with the status checked to be 200.
async fn by_backend(req: &Request, n: usize) -> BTreeMap<String, usize> {
    let counts = tally(req, n).await;
    counts
        .into_iter()
        .map(|(k, v)| match k.strip_prefix("200 ") {
            Some(body) => (body.to_string(), v),
            None => panic!("non-200 answer {k:?} ({v} times)"),
        })
        .collect()
}

/// The body of one request that must succeed.
async fn body_of(req: Request) -> String {
    let resp = req.send().await.expect("response");
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    resp.body
}

/// Polls `/clusters?format=json` (no sleeping: the resolver runs on this runtime, and each poll
/// yields to it) until `cluster` lists `endpoint`. Panics after a bounded number of polls.
async fn wait_for_endpoint(gw: &TestGateway, cluster: &str, endpoint: SocketAddr) {
    let wanted = endpoint.to_string();
    let mut last = serde_json::Value::Null;
    for _ in 0..2_000 {
        last = serde_json::from_str(&gw.admin("/clusters?format=json").await.body)
            .expect("clusters json");
        let found = last["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == cluster)
            .flat_map(|c| c["endpoints"].as_array().into_iter().flatten())
            .any(|e| e["address"] == wanted.as_str());
        if found {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{cluster} never listed {wanted}: {last}");
}

#[tokio::test]
async fn dns_endpoint_address_is_resolved_and_reached() {
    let be = Backend::start("dns-app").await;
    let yaml = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [app.default.svc.cluster.local]
  resolution: DNS
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: localhost, ports: {{http: {}}}}}]
{}",
        be.port(),
        vs_to("{host: app}")
    );
    let gw = TestGateway::start(&yaml).await;
    wait_for_endpoint(
        &gw,
        "outbound|80||app.default.svc.cluster.local",
        SocketAddr::from(([127, 0, 0, 1], be.port())),
    )
    .await;
    let counts = by_backend(&gw.get("h", "/dns"), 10).await;
    assert_eq!(counts, BTreeMap::from([("dns-app".to_string(), 10)]));
    assert_eq!(be.requests()[0].uri, "/dns");
}

#[tokio::test]
async fn dns_service_entry_without_endpoints_resolves_its_own_host() {
    let be = Backend::start("localhost-app").await;
    // No endpoints: the host itself is resolved, at the service port.
    let yaml = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: local}}
spec:
  hosts: [localhost]
  resolution: DNS
  ports: [{{number: {port}, name: http, protocol: HTTP}}]
{}",
        vs_to("{host: localhost}"),
        port = be.port(),
    );
    let gw = TestGateway::start(&yaml).await;
    wait_for_endpoint(
        &gw,
        &format!(
            "outbound|{}||localhost.default.svc.cluster.local",
            be.port()
        ),
        SocketAddr::from(([127, 0, 0, 1], be.port())),
    )
    .await;
    let counts = by_backend(&gw.get("h", "/"), 10).await;
    assert_eq!(counts, BTreeMap::from([("localhost-app".to_string(), 10)]));
}

#[tokio::test]
async fn workload_entries_are_selected_by_namespace_and_labels_and_split_by_subset() {
    let v1 = Backend::start("inventory-v1").await;
    let v2 = Backend::start("inventory-v2").await;
    let other_ns = Backend::start("other-namespace").await;
    let other_app = Backend::start("other-app").await;
    let we = |name: &str, ns: &str, labels: &str, be: &Backend| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {name}, namespace: {ns}}}
spec:
  address: 127.0.0.1
  ports: {{http: {}}}
  labels: {labels}
",
            be.port()
        )
    };
    let yaml = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: inventory}}
spec:
  hosts: [inventory.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: inventory}}}}
{}{}{}{}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: inventory}}
spec:
  host: inventory
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: inventory}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - match: [{{uri: {{prefix: /v1}}}}]
    route: [{{destination: {{host: inventory, subset: v1}}}}]
  - match: [{{uri: {{prefix: /v2}}}}]
    route: [{{destination: {{host: inventory, subset: v2}}}}]
  - route: [{{destination: {{host: inventory}}}}]
",
        we("inv-1", "default", "{app: inventory, version: v1}", &v1),
        we("inv-2", "default", "{app: inventory, version: v2}", &v2),
        // Same labels, other namespace: not selected.
        we(
            "inv-3",
            "elsewhere",
            "{app: inventory, version: v2}",
            &other_ns
        ),
        // Same namespace, other app: not selected.
        we(
            "billing",
            "default",
            "{app: billing, version: v2}",
            &other_app
        ),
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(
        by_backend(&gw.get("h", "/v1"), 20).await,
        BTreeMap::from([("inventory-v1".to_string(), 20)])
    );
    assert_eq!(
        by_backend(&gw.get("h", "/v2"), 20).await,
        BTreeMap::from([("inventory-v2".to_string(), 20)])
    );
    let all = by_backend(&gw.get("h", "/"), 60).await;
    assert_eq!(
        all.keys().map(String::as_str).collect::<Vec<_>>(),
        ["inventory-v1", "inventory-v2"],
        "the whole service is both selected entries, nothing else: {all:?}"
    );
    assert_eq!((other_ns.count(), other_app.count()), (0, 0));
}

/// Two backends weighted 1 and 3 under `traffic_policy`.
async fn one_to_three(traffic_policy: Option<&str>) -> (Backend, Backend, TestGateway) {
    let light = Backend::start("light").await;
    let heavy = Backend::start("heavy").await;
    let yaml = format!(
        "{G0}{}{}{}",
        weighted_app(&[(&light, 1), (&heavy, 3)]),
        traffic_policy.map(app_policy).unwrap_or_default(),
        vs_to("{host: app}")
    );
    let gw = TestGateway::start(&yaml).await;
    (light, heavy, gw)
}

#[tokio::test]
async fn round_robin_follows_endpoint_weights_exactly() {
    let (light, heavy, gw) = one_to_three(Some("{loadBalancer: {simple: ROUND_ROBIN}}")).await;
    let mut order = Vec::new();
    for _ in 0..400 {
        order.push(body_of(gw.get("h", "/")).await);
    }
    // The schedule repeats every 4 picks (1 + 3): every window of 4 has exactly one `light`.
    for (i, window) in order.chunks(4).enumerate() {
        assert_eq!(
            window.iter().filter(|b| *b == "light").count(),
            1,
            "window {i}: {window:?}"
        );
    }
    assert_eq!((light.count(), heavy.count()), (100, 300));
}

#[tokio::test]
async fn random_follows_endpoint_weights() {
    let (light, heavy, gw) = one_to_three(Some("{loadBalancer: {simple: RANDOM}}")).await;
    let clusters = gw.admin("/clusters").await.body;
    assert!(clusters.contains("::lb::Random"), "{clusters}");
    by_backend(&gw.get("h", "/"), 400).await;
    assert_eq!(light.count() + heavy.count(), 400);
    // 25% ± 10 points (σ ≈ 8.7 requests: 40 is 4.6σ).
    assert!(
        (60..=140).contains(&light.count()),
        "light {} heavy {}",
        light.count(),
        heavy.count()
    );
}

#[tokio::test]
async fn least_request_by_default_follows_endpoint_weights() {
    let (light, heavy, gw) = one_to_three(None).await;
    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains("outbound|9080||app.default.svc.cluster.local::lb::LeastRequest"),
        "{clusters}"
    );
    by_backend(&gw.get("h", "/"), 400).await;
    assert_eq!(light.count() + heavy.count(), 400);
    assert!(
        (60..=140).contains(&light.count()),
        "light {} heavy {}",
        light.count(),
        heavy.count()
    );
}

/// The configuration of three equal backends behind `app` with this `trafficPolicy`.
fn three_config(backends: &[Backend; 3], traffic_policy: &str) -> String {
    let [a, b, c] = backends;
    format!(
        "{G0}{}{}{}",
        weighted_app(&[(a, 1), (b, 1), (c, 1)]),
        app_policy(traffic_policy),
        vs_to("{host: app}")
    )
}

/// Three equal backends `a`, `b`, `c` behind `app` with this `trafficPolicy`.
async fn three_behind(traffic_policy: &str) -> ([Backend; 3], TestGateway) {
    let backends = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ];
    let gw = TestGateway::start(&three_config(&backends, traffic_policy)).await;
    (backends, gw)
}

/// For 60 keys, each sent 5 times (`request(key)`): a key always reaches the same backend, and
/// the keys together reach all three.
async fn assert_sticky_and_spread(request: impl Fn(&str) -> Request) {
    let mut reached = BTreeSet::new();
    for i in 0..60 {
        let key = format!("user-{i}");
        let counts = by_backend(&request(&key), 5).await;
        assert_eq!(
            counts.len(),
            1,
            "{key} went to more than one backend: {counts:?}"
        );
        reached.extend(counts.into_keys());
    }
    assert_eq!(
        reached.into_iter().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "60 keys reach every backend"
    );
}

#[tokio::test]
async fn consistent_hash_on_a_header_is_sticky_per_user() {
    let (backends, gw) =
        three_behind("{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}").await;
    assert_sticky_and_spread(|user| gw.get("h", "/").header("x-user", user)).await;
    // Without the header the request is still served (at random, as in Envoy).
    by_backend(&gw.get("h", "/"), 5).await;

    // A name that cannot be a header is refused (Envoy would NACK it), not hashed on the
    // client address instead.
    gw.write(&three_config(
        &backends,
        "{loadBalancer: {consistentHash: {httpHeaderName: \"x user\"}}}",
    ));
    let err = gw.gw.reload().await.expect_err("rejected");
    assert!(
        err.iter().any(|e| e.contains(
            "spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName: \"x user\" is not a valid HTTP header name"
        )),
        "{err:?}"
    );
}

#[tokio::test]
async fn consistent_hash_on_a_query_parameter_is_sticky() {
    let (_backends, gw) =
        three_behind("{loadBalancer: {consistentHash: {httpQueryParameterName: u}}}").await;
    assert_sticky_and_spread(|u| gw.get("h", &format!("/items?x=1&u={u}"))).await;
    // Only the parameter counts, not its position or the rest of the query.
    let first = body_of(gw.get("h", "/?u=alice")).await;
    for path in ["/other?u=alice", "/?u=alice&x=2", "/?x=3&u=alice"] {
        assert_eq!(body_of(gw.get("h", path)).await, first, "{path}");
    }
}

#[tokio::test]
async fn consistent_hash_with_maglev_is_sticky_per_user() {
    let (_backends, gw) = three_behind(
        "{loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}}",
    )
    .await;
    let clusters = gw.admin("/clusters").await.body;
    assert!(clusters.contains("::lb::Maglev"), "{clusters}");
    assert_sticky_and_spread(|user| gw.get("h", "/").header("x-user", user)).await;
}

/// `GET /` with `Host: h` from source address `from`; returns the `x-backend` response header.
async fn backend_seen_from(from: Ipv4Addr, gateway: SocketAddr) -> String {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source");
    let mut conn = socket.connect(gateway).await.expect("connect");
    conn.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-backend")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no x-backend: {text}"))
}

#[tokio::test]
async fn consistent_hash_on_source_ip_is_sticky_per_client_address() {
    let (_backends, gw) =
        three_behind("{loadBalancer: {consistentHash: {useSourceIp: true}}}").await;
    assert_eq!(
        by_backend(&gw.get("h", "/"), 20).await.len(),
        1,
        "one client address, one backend"
    );
    // The gateway listens on 127.0.0.1; clients may come from anywhere in 127/8.
    let mut reached = BTreeSet::new();
    for host in 2..42u8 {
        let from = Ipv4Addr::new(127, 0, 0, host);
        let first = backend_seen_from(from, gw.addr).await;
        for _ in 0..3 {
            assert_eq!(backend_seen_from(from, gw.addr).await, first, "{from}");
        }
        reached.insert(first);
    }
    assert_eq!(
        reached.into_iter().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "40 client addresses reach every backend"
    );
}

#[tokio::test]
async fn h2_upgrade_policy_speaks_http2_to_an_http_port() {
    let be = Backend::start("app").await;
    let without_dr = format!("{G0}{}{}", weighted_app(&[(&be, 1)]), vs_to("{host: app}"));
    let upgrade = format!(
        "{without_dr}{}",
        app_policy("{connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}")
    );
    let gw = TestGateway::start(&upgrade).await;
    assert_eq!(body_of(gw.get("h", "/up")).await, "app");
    let seen = be.requests();
    assert_eq!(
        (
            seen.last().unwrap().uri.as_str(),
            seen.last().unwrap().version
        ),
        ("/up", http::Version::HTTP_2)
    );

    // An HTTP port without the policy: HTTP/1.1, also after a reload of the same cluster.
    gw.write(&without_dr);
    gw.gw.reload().await.expect("loads");
    assert_eq!(body_of(gw.get("h", "/down")).await, "app");
    let seen = be.requests();
    assert_eq!(
        (
            seen.last().unwrap().uri.as_str(),
            seen.last().unwrap().version
        ),
        ("/down", http::Version::HTTP_11)
    );
}

#[tokio::test]
async fn short_names_expand_in_the_virtual_service_namespace() {
    let v1 = Backend::start("cart-v1").await;
    let v2 = Backend::start("cart-v2").await;
    let yaml = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: cart, namespace: shop}}
spec:
  hosts: [cart.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {}}}, labels: {{version: v2}}}}
---
# A rule for `cart` in another namespace: cart.default.svc.cluster.local, not this service.
# It comes first, so a compiler that resolved it in the wrong namespace would pick it.
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: cart, namespace: default}}
spec:
  host: cart
  subsets: [{{name: stable, labels: {{version: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: cart, namespace: shop}}
spec:
  host: cart
  subsets: [{{name: stable, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: cart, namespace: shop}}
spec:
  hosts: [cart]
  gateways: [default/edge]
  http:
  - route: [{{destination: {{host: cart, subset: stable}}}}]
",
        v1.port(),
        v2.port()
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(
        by_backend(&gw.get("cart.shop.svc.cluster.local", "/"), 20).await,
        BTreeMap::from([("cart-v2".to_string(), 20)])
    );
    for host in [
        "cart.default.svc.cluster.local",
        "cart.other.svc.cluster.local",
    ] {
        let resp = gw.get(host, "/").send().await.unwrap();
        assert_eq!(resp.status.as_u16(), 404, "{host}");
    }
    assert_eq!(v1.count(), 0);
}

#[tokio::test]
async fn export_to_decides_whether_a_virtual_service_binds_to_the_gateway() {
    let be = Backend::start("app").await;
    let config = |namespace: &str, export_to: &str| {
        format!(
            "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app, namespace: {namespace}}}
spec:
  hosts: [app.example.com]
  gateways: [default/edge]
  exportTo: {export_to}
  http:
  - route: [{{destination: {{host: app.default.svc.cluster.local}}}}]
",
            weighted_app(&[(&be, 1)])
        )
    };
    let gw = TestGateway::start(&config("team", "[\".\"]")).await;
    let mut seen = Vec::new();
    // (namespace, exportTo, expected status); the Gateway is in `default`.
    let cases = [
        ("team", "[\".\"]", 404),
        ("team", "[\"*\"]", 200),
        ("team", "[default]", 200),
        ("team", "[other]", 404),
        ("default", "[\".\"]", 200),
    ];
    for (i, (namespace, export_to, _)) in cases.iter().enumerate() {
        if i > 0 {
            gw.write(&config(namespace, export_to));
            gw.gw.reload().await.expect("loads");
        }
        let resp = gw.get("app.example.com", "/").send().await.unwrap();
        seen.push((*namespace, *export_to, resp.status.as_u16()));
    }
    let expected: Vec<_> = cases.to_vec();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn destination_ports_must_be_ports_of_the_service_entry() {
    let main = Backend::start("main").await;
    let alt = Backend::start("alt").await;
    let one_port = format!("{G0}{}", weighted_app(&[(&main, 1)]));
    let gw = TestGateway::start(&format!(
        "{one_port}{}",
        vs_to("{host: app, port: {number: 9080}}")
    ))
    .await;
    assert_eq!(body_of(gw.get("h", "/")).await, "main");

    gw.write(&format!(
        "{one_port}{}",
        vs_to("{host: app, port: {number: 9999}}")
    ));
    let err = gw.gw.reload().await.expect_err("port 9999 is rejected");
    assert!(
        err.iter().any(|e| e.contains(
            "VirtualService default/app: spec.http[0].route[0].destination.port.number: port 9999 is not a port of ServiceEntry default/app"
        )),
        "{err:?}"
    );
    assert_eq!(body_of(gw.get("h", "/")).await, "main", "last good config");

    let two_ports = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [app.default.svc.cluster.local]
  resolution: STATIC
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  - {{number: 9090, name: http-alt, protocol: HTTP}}
  endpoints: [{{address: 127.0.0.1, ports: {{http: {}, http-alt: {}}}}}]
",
        main.port(),
        alt.port()
    );
    gw.write(&format!("{two_ports}{}", vs_to("{host: app}")));
    let err = gw
        .gw
        .reload()
        .await
        .expect_err("ambiguous port is rejected");
    assert!(
        err.iter()
            .any(|e| e
                .contains("spec.http[0].route[0].destination.port: destination.port is required")),
        "{err:?}"
    );
    assert_eq!(body_of(gw.get("h", "/")).await, "main", "last good config");

    // Naming the second port reaches the endpoint's port for it.
    gw.write(&format!(
        "{two_ports}{}",
        vs_to("{host: app, port: {number: 9090}}")
    ));
    gw.gw.reload().await.expect("loads");
    assert_eq!(body_of(gw.get("h", "/")).await, "alt");
}

#[tokio::test]
async fn a_reload_that_changes_a_dns_endpoint_keeps_serving_while_it_resolves() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let yaml = |port: u16| {
        format!(
            "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [app.default.svc.cluster.local]
  resolution: DNS
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: localhost, ports: {{http: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: app.default.svc.cluster.local}}}}]
"
        )
    };
    let gw = TestGateway::start(&yaml(a.port())).await;
    wait_for_endpoint(
        &gw,
        "outbound|80||app.default.svc.cluster.local",
        SocketAddr::from((Ipv4Addr::LOCALHOST, a.port())),
    )
    .await;
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "a");
    gw.write(&yaml(b.port()));
    gw.gw.reload().await.expect("reload");
    // Until the new name resolves, the previous endpoints keep serving: never a 503.
    let mut answers = Vec::new();
    while answers.last().map(String::as_str) != Some("b") {
        let r = gw.get("h", "/").send().await.unwrap();
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        answers.push(r.body);
        assert!(answers.len() < 10_000, "the new endpoint never took over");
    }
}

#[tokio::test]
async fn consistent_hash_on_a_cookie_is_sticky_and_generated_with_a_ttl() {
    let (_backends, gw) = three_behind(
        "{loadBalancer: {consistentHash: {httpCookie: {name: affinity, path: /, ttl: 60s}}}}",
    )
    .await;
    assert_sticky_and_spread(|user| {
        gw.get("h", "/")
            .header("cookie", &format!("a=1; affinity={user}"))
    })
    .await;

    // No cookie: the gateway makes one up (Envoy's generated affinity cookie) and the client's
    // next requests, carrying it, stay on the endpoint the first one reached.
    let first = gw.get("h", "/").send().await.unwrap();
    let set_cookie = first.header("set-cookie").to_string();
    assert!(set_cookie.starts_with("affinity="), "{set_cookie}");
    assert!(
        set_cookie.contains("Max-Age=60")
            && set_cookie.contains("Path=/")
            && set_cookie.contains("HttpOnly"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    for _ in 0..10 {
        let again = gw
            .get("h", "/")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            again.body, first.body,
            "the generated cookie pins the endpoint"
        );
        assert_eq!(
            again.header("set-cookie"),
            "",
            "no new cookie once the client has one"
        );
    }
}
