//! Istio's documented tasks (../shared/reference/scenarios.md S1, S2, S15), YAML unchanged but
//! for ports.

use rampart_testkit::{Backend, Request};

use crate::support::{service, subsets, tally, TestGateway, G0};

const REVIEWS: &str = "reviews.default.svc.cluster.local";

struct Bookinfo {
    v1: Backend,
    v2: Backend,
    v3: Backend,
    ratings: Backend,
}

impl Bookinfo {
    async fn start() -> Self {
        Self {
            v1: Backend::start("reviews-v1").await,
            v2: Backend::start("reviews-v2").await,
            v3: Backend::start("reviews-v3").await,
            ratings: Backend::start("ratings-v1").await,
        }
    }

    /// G0 + B0 + the given VirtualService(s).
    fn config(&self, virtual_services: &str) -> String {
        format!(
            "{G0}{}{}{}{}---{virtual_services}",
            service(
                "reviews",
                REVIEWS,
                &[
                    (self.v1.port(), "v1"),
                    (self.v2.port(), "v2"),
                    (self.v3.port(), "v3")
                ]
            ),
            subsets("reviews", REVIEWS, &["v1", "v2", "v3"]),
            service(
                "ratings",
                "ratings.default.svc.cluster.local",
                &[(self.ratings.port(), "v1")]
            ),
            subsets("ratings", "ratings.default.svc.cluster.local", &["v1"]),
        )
    }
}

const ALL_V1: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
"#;

const JASON_V2: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
"#;

fn weighted(w1: u32, w3: u32) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {{host: reviews.default.svc.cluster.local, subset: v1}}
      weight: {w1}
    - destination: {{host: reviews.default.svc.cluster.local, subset: v3}}
      weight: {w3}
"#
    )
}

#[tokio::test]
async fn s1_request_routing_all_v1_then_jason_to_v2() {
    let b = Bookinfo::start().await;
    let gw = TestGateway::start(&b.config(ALL_V1)).await;
    let counts = tally(&gw.get(REVIEWS, "/reviews/0"), 50).await;
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("200 reviews-v1".to_string(), 50)]
    );

    gw.write(&b.config(JASON_V2));
    gw.gw.reload().await.expect("step B loads");
    let cases = [
        (Some("jason"), "reviews-v2"),
        (None, "reviews-v1"),
        (Some("Jason"), "reviews-v1"),
        (Some("jason2"), "reviews-v1"),
    ];
    for (user, expected) in cases {
        let mut req = gw.get(REVIEWS, "/reviews/0");
        if let Some(user) = user {
            req = req.header("end-user", user);
        }
        let counts = tally(&req, 20).await;
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            vec![(format!("200 {expected}"), 20)],
            "end-user {user:?}"
        );
    }
    assert_eq!(b.v3.count(), 0);
}

#[tokio::test]
async fn s2_traffic_shifting_follows_weights() {
    let b = Bookinfo::start().await;
    let gw = TestGateway::start(&b.config(&weighted(50, 50))).await;
    let counts = tally(&gw.get(REVIEWS, "/reviews/0"), 200).await;
    let v1 = counts.get("200 reviews-v1").copied().unwrap_or(0);
    let v3 = counts.get("200 reviews-v3").copied().unwrap_or(0);
    assert_eq!(v1 + v3, 200, "only v1 and v3 answer: {counts:?}");
    assert!((80..=120).contains(&v1), "≈50% v1 (±10 points): {counts:?}");

    // Weights need not sum to 100: 1 and 3 → 25% / 75%.
    gw.write(&b.config(&weighted(1, 3)));
    gw.gw.reload().await.expect("1/3 weights load");
    let counts = tally(&gw.get(REVIEWS, "/reviews/0"), 200).await;
    let v1 = counts.get("200 reviews-v1").copied().unwrap_or(0);
    assert!((30..=70).contains(&v1), "≈25% v1 (±10 points): {counts:?}");

    // 80/20 canary.
    gw.write(&b.config(&weighted(80, 20)));
    gw.gw.reload().await.expect("80/20 loads");
    let counts = tally(&gw.get(REVIEWS, "/reviews/0"), 200).await;
    let v1 = counts.get("200 reviews-v1").copied().unwrap_or(0);
    assert!(
        (140..=180).contains(&v1),
        "≈80% v1 (±10 points): {counts:?}"
    );

    // Step B: all of it to v3.
    gw.write(&b.config(&weighted(0, 100)));
    gw.gw.reload().await.expect("0/100 loads");
    let counts = tally(&gw.get(REVIEWS, "/reviews/0"), 50).await;
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("200 reviews-v3".to_string(), 50)]
    );

    // Weights 0 and 0 are rejected, and the last good config keeps serving.
    gw.write(&b.config(&weighted(0, 0)));
    let err = gw.gw.reload().await.expect_err("0/0 is rejected");
    assert!(
        err.iter()
            .any(|e| e.contains("total destination weight = 0")),
        "{err:?}"
    );
    let resp = gw.get(REVIEWS, "/reviews/0").send().await.unwrap();
    assert_eq!(resp.body, "reviews-v3");
}

const SHOP: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: my-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${GW_PORT}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: product-service}
spec:
  hosts: [product-service.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${PRODUCT_PORT}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: order-service}
spec:
  hosts: [order-service.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${ORDER_PORT}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: ["*"]
  gateways: [my-gateway]
  http:
  - match: [{uri: {prefix: /products}}]
    route: [{destination: {host: product-service.default.svc.cluster.local, port: {number: 80}}}]
  - match: [{uri: {prefix: /orders}}]
    route: [{destination: {host: order-service.default.svc.cluster.local, port: {number: 80}}}]
"#;

#[tokio::test]
async fn s15_two_service_path_routing() {
    let product = Backend::start("product").await;
    let order = Backend::start("order").await;
    let yaml = SHOP
        .replace("${PRODUCT_PORT}", &product.port().to_string())
        .replace("${ORDER_PORT}", &order.port().to_string());
    let gw = TestGateway::start(&yaml).await;

    for (path, expected) in [
        ("/products", "product"),
        ("/products/42?x=1", "product"),
        ("/productsXYZ", "product"),
        ("/orders/7", "order"),
    ] {
        let resp = gw.get("any.example.com", path).send().await.unwrap();
        assert_eq!(
            (resp.status.as_u16(), resp.body.as_str()),
            (200, expected),
            "{path}"
        );
    }
    let seen: Vec<String> = product.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        seen,
        ["/products", "/products/42?x=1", "/productsXYZ"],
        "paths reach the backend unchanged"
    );

    let post = Request::get(gw.addr, "/orders")
        .method(http::Method::POST)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!((post.status.as_u16(), post.body.as_str()), (200, "order"));
    assert_eq!(order.requests().last().unwrap().body.as_ref(), b"{}");

    for path in ["/Products", "/"] {
        let resp = gw.get("any.example.com", path).send().await.unwrap();
        assert_eq!(resp.status.as_u16(), 404, "{path}: no route (NR)");
    }

    // Order backend stopped: 503 with Envoy's body after the default connect-failure retries.
    order.stop().await;
    let resp = gw.get("any.example.com", "/orders/7").send().await.unwrap();
    assert_eq!(resp.status.as_u16(), 503);
    assert!(
        resp.body
            .starts_with("upstream connect error or disconnect/reset before headers"),
        "{}",
        resp.body
    );
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("istio_requests_total")
                && l.contains("order-service")
                && l.contains("response_code=\"503\"")
                && l.contains("response_flags=\"UF,URX\"")),
        "{metrics}"
    );
}
