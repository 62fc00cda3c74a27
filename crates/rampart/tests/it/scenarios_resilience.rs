//! Istio's documented resilience tasks (../shared/reference/scenarios.md S4 timeouts, S5 fault
//! injection, S6 circuit breaking, S7 mirroring), YAML unchanged but for ports.

use std::time::{Duration, Instant};

use rampart_testkit::{Backend, Reply};

use crate::support::{eventually, service, subsets, switchable, TestGateway, G0};

const REVIEWS: &str = "reviews.default.svc.cluster.local";
const RATINGS: &str = "ratings.default.svc.cluster.local";
const HTTPBIN: &str = "httpbin.default.svc.cluster.local";

/// `response_flags` recorded for answers with `code` on the route's destination.
async fn flagged(gw: &TestGateway, code: u16, flags: &str) -> bool {
    let metrics = gw.admin("/stats/prometheus").await.body;
    metrics.lines().any(|l| {
        l.starts_with("istio_requests_total{")
            && l.contains(&format!(
                "response_code=\"{code}\",response_flags=\"{flags}\""
            ))
    })
}

/// Answers counted in `istio_requests_total` for destination version `version`.
async fn answered_by(gw: &TestGateway, version: &str) -> usize {
    let metrics = gw.admin("/stats/prometheus").await.body;
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("istio_requests_total{")
                && l.contains(&format!("destination_version=\"{version}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<usize>().ok())
        .sum()
}

const REVIEWS_V2: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
"#;

#[tokio::test]
async fn s4_request_timeouts() {
    let v1 = Backend::start("reviews-v1").await;
    let v2 = Backend::with("reviews-v2", |_| {
        Reply::new(200, "reviews-v2").delayed(Duration::from_secs(2))
    })
    .await;
    let ratings = Backend::start("ratings-v1").await;
    let config = |vs: &str| {
        format!(
            "{G0}{}{}{}{}---{vs}",
            service("reviews", REVIEWS, &[(v1.port(), "v1"), (v2.port(), "v2")]),
            subsets("reviews", REVIEWS, &["v1", "v2"]),
            service("ratings", RATINGS, &[(ratings.port(), "v1")]),
            subsets("ratings", RATINGS, &["v1"]),
        )
    };
    // Without a timeout the slow v2 answers after its 2 s.
    let gw = TestGateway::start(&config(REVIEWS_V2)).await;
    let start = Instant::now();
    let resp = gw.get(REVIEWS, "/reviews/0").send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (200, "reviews-v2")
    );
    assert!(start.elapsed() >= Duration::from_secs(2));

    // `timeout: 0.5s`: 504 `upstream request timeout` (UT), not retried by the default policy.
    let with_timeout = format!("{REVIEWS_V2}    timeout: 0.5s\n");
    gw.write(&config(&with_timeout));
    gw.gw.reload().await.expect("reloaded");
    let start = Instant::now();
    let resp = gw.get(REVIEWS, "/reviews/0").send().await.unwrap();
    let took = start.elapsed();
    assert_eq!(resp.status, 504);
    assert_eq!(resp.body, "upstream request timeout");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(
        took < Duration::from_secs(2),
        "answered before v2 would have: {took:?}"
    );
    assert_eq!(v2.count(), 2, "the timed-out request was not retried");
    assert!(flagged(&gw, 504, "UT").await);

    // The docs' fault-based variant: ratings delayed 2 s by the gateway itself (DI).
    let delayed_ratings = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings.default.svc.cluster.local]
  gateways: [edge]
  http:
  - fault:
      delay: {percentage: {value: 100}, fixedDelay: 2s}
    route:
    - destination: {host: ratings.default.svc.cluster.local, subset: v1}
"#;
    gw.write(&config(&format!("{with_timeout}---{delayed_ratings}")));
    gw.gw.reload().await.expect("reloaded");
    let start = Instant::now();
    let resp = gw.get(RATINGS, "/ratings/0").send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (200, "ratings-v1")
    );
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert!(flagged(&gw, 200, "DI").await);
}

const RATINGS_FAULT: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings.default.svc.cluster.local]
  gateways: [edge]
  http:
  - match:
    - headers: {end-user: {exact: jason}}
    fault:
      FAULT
    route:
    - destination: {host: ratings.default.svc.cluster.local, subset: v1}
  - route:
    - destination: {host: ratings.default.svc.cluster.local, subset: v1}
"#;

#[tokio::test]
async fn s5_fault_injection() {
    let ratings = Backend::start("ratings-v1").await;
    let config = |fault: &str| {
        format!(
            "{G0}{}{}---{}",
            service("ratings", RATINGS, &[(ratings.port(), "v1")]),
            subsets("ratings", RATINGS, &["v1"]),
            RATINGS_FAULT.replace("FAULT", fault)
        )
    };
    // Delay for jason: 7 s, as in the docs; others are not delayed.
    let gw = TestGateway::start(&config(
        "delay: {percentage: {value: 100.0}, fixedDelay: 7s}",
    ))
    .await;
    let start = Instant::now();
    let jason = {
        let req = gw.get(RATINGS, "/ratings/0").header("end-user", "jason");
        tokio::spawn(async move { req.send().await.unwrap() })
    };
    let resp = gw.get(RATINGS, "/ratings/0").send().await.unwrap();
    assert_eq!(resp.status, 200);
    assert!(!jason.is_finished(), "others are not delayed");
    assert_eq!(ratings.count(), 1, "jason's request waits at the gateway");
    let resp = jason.await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (200, "ratings-v1")
    );
    assert!(start.elapsed() >= Duration::from_secs(7));
    assert_eq!(ratings.count(), 2);
    assert!(flagged(&gw, 200, "DI").await);

    // Abort for jason: 500 `fault filter abort` from the gateway; ratings sees nothing.
    gw.write(&config(
        "abort: {percentage: {value: 100.0}, httpStatus: 500}",
    ));
    gw.gw.reload().await.expect("reloaded");
    let before = ratings.count();
    let resp = gw
        .get(RATINGS, "/ratings/0")
        .header("end-user", "jason")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (500, "fault filter abort")
    );
    assert_eq!(ratings.count(), before);
    assert!(flagged(&gw, 500, "FI").await);
    let resp = gw.get(RATINGS, "/ratings/0").send().await.unwrap();
    assert_eq!(resp.status, 200);

    // Partial faults: 50 % of 200 requests aborted (± 10 points).
    gw.write(&config("abort: {percentage: {value: 50}, httpStatus: 503}"));
    gw.gw.reload().await.expect("reloaded");
    let mut aborted = 0;
    for _ in 0..200 {
        let resp = gw
            .get(RATINGS, "/ratings/0")
            .header("end-user", "jason")
            .send()
            .await
            .unwrap();
        if resp.status == 503 {
            assert_eq!(resp.body, "fault filter abort");
            aborted += 1;
        }
    }
    assert!((80..=120).contains(&aborted), "{aborted}/200 aborted");

    // No percentage: no request is faulted.
    gw.write(&config("abort: {httpStatus: 500}"));
    gw.gw.reload().await.expect("reloaded");
    for _ in 0..20 {
        let resp = gw
            .get(RATINGS, "/ratings/0")
            .header("end-user", "jason")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
    }

    // gRPC aborts answer with a grpc-status.
    gw.write(&config(
        "abort: {percentage: {value: 100}, grpcStatus: UNAVAILABLE}",
    ));
    gw.gw.reload().await.expect("reloaded");
    let resp = gw
        .get(RATINGS, "/ratings/0")
        .header("end-user", "jason")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("grpc-status"), "14");
    assert_eq!(resp.header("content-type"), "application/grpc");
}

const HTTPBIN_CB: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin.default.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route: [{destination: {host: httpbin.default.svc.cluster.local}}]
"#;

fn httpbin(port: u16) -> String {
    format!(
        "
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: httpbin}}
spec:
  hosts: [{HTTPBIN}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
---"
    )
}

/// `C` concurrent clients sending `n` requests in total, as fortio does; counts by status.
async fn fortio(gw: &TestGateway, c: usize, n: usize) -> (usize, usize) {
    let per_client = n / c;
    let clients: Vec<_> = (0..c)
        .map(|_| {
            let req = gw.get(HTTPBIN, "/get");
            tokio::spawn(async move {
                let (mut ok, mut overflow) = (0, 0);
                for _ in 0..per_client {
                    let resp = req.clone().send().await.unwrap();
                    match resp.status.as_u16() {
                        200 => ok += 1,
                        503 => {
                            assert_eq!(resp.header("x-envoy-overloaded"), "true");
                            overflow += 1;
                        }
                        other => panic!("unexpected {other}: {}", resp.body),
                    }
                }
                (ok, overflow)
            })
        })
        .collect();
    let (mut ok, mut overflow) = (0, 0);
    for client in clients {
        let (o, f) = client.await.unwrap();
        ok += o;
        overflow += f;
    }
    (ok, overflow)
}

#[tokio::test]
async fn s6_circuit_breaking() {
    let fail_next = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let httpbin_be = {
        let fail_next = fail_next.clone();
        Backend::with("httpbin", move |_| {
            if fail_next.swap(false, std::sync::atomic::Ordering::SeqCst) {
                Reply::new(500, "httpbin failed")
            } else {
                Reply::new(200, "httpbin").delayed(Duration::from_millis(20))
            }
        })
        .await
    };
    let gw = TestGateway::start(&format!("{G0}{}{HTTPBIN_CB}", httpbin(httpbin_be.port()))).await;
    let overflow_stat = "envoy_cluster_upstream_rq_pending_overflow{cluster_name=\"outbound|8000||httpbin.default.svc.cluster.local\"} ";
    let overflows = || async {
        let m = gw.admin("/stats/prometheus").await.body;
        m.lines()
            .find_map(|l| l.strip_prefix(overflow_stat))
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    // One client: never tripped.
    assert_eq!(fortio(&gw, 1, 10).await, (10, 0));
    // Three clients against one connection and one pending slot: a clear share overflows.
    let (ok, overflow) = fortio(&gw, 3, 30).await;
    assert_eq!(ok + overflow, 30);
    assert!(overflow > 0, "some requests overflow");
    assert!(ok > 0, "the circuit still lets requests through");
    assert_eq!(
        overflows().await,
        overflow,
        "every 503 is a counted overflow"
    );
    assert_eq!(httpbin_be.count(), 10 + ok);
    assert!(flagged(&gw, 503, "UO").await);
    // `maxRequestsPerConnection: 1`: one connection per request, never two at once.
    let metrics = gw.admin("/stats/prometheus").await.body;
    let cx_total = format!(
        "envoy_cluster_upstream_cx_total{{cluster_name=\"outbound|8000||{HTTPBIN}\"}} {}",
        10 + ok
    );
    assert!(metrics.contains(&cx_total), "{cx_total}");
    // The overflow 503s were made by the gateway: they did not eject the only endpoint.
    assert_eq!(gw.get(HTTPBIN, "/get").send().await.unwrap().status, 200);

    // Outlier part: one 500 ejects the only host for 3 minutes (maxEjectionPercent 100).
    fail_next.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(gw.get(HTTPBIN, "/get").send().await.unwrap().status, 500);
    let resp = gw.get(HTTPBIN, "/get").send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (503, "no healthy upstream")
    );
    assert!(flagged(&gw, 503, "UH").await);
    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains(&format!(
            "127.0.0.1:{}::health_flags::/failed_outlier_check",
            httpbin_be.port()
        )),
        "{clusters}"
    );
}

const HTTPBIN_MIRROR: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {host: httpbin.default.svc.cluster.local, subset: v1}
      weight: 100
MIRROR
"#;

#[tokio::test]
async fn s7_mirroring() {
    let v1 = Backend::start("httpbin-v1").await;
    let (v2, v2_slow) = switchable(
        "httpbin-v2",
        Reply::new(200, "httpbin-v2"),
        Reply::new(500, "v2 broken").delayed(Duration::from_secs(5)),
        false,
    )
    .await;
    let config = |mirror: &str| {
        format!(
            "{G0}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: httpbin}}
spec:
  hosts: [{HTTPBIN}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {}}}, labels: {{version: v2}}}}
---{}",
            v1.port(),
            v2.port(),
            HTTPBIN_MIRROR.replace("MIRROR", mirror)
        )
    };
    // Without a mirror only v1 sees the request.
    let gw = TestGateway::start(&config("")).await;
    let resp = gw.get(HTTPBIN, "/headers").send().await.unwrap();
    assert_eq!(resp.body, "httpbin-v1");
    assert_eq!((v1.count(), v2.count()), (1, 0));

    // With the mirror, v2 gets a copy whose Host ends in -shadow.
    gw.write(&config(
        "    mirror: {host: httpbin.default.svc.cluster.local, subset: v2}\n    mirrorPercentage: {value: 100.0}",
    ));
    gw.gw.reload().await.expect("reloaded");
    let resp = gw
        .get(HTTPBIN, "/headers")
        .method(http::Method::POST)
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.body, "httpbin-v1");
    eventually("the mirrored copy", || v2.count() == 1).await;
    let original = v1.requests().pop().unwrap();
    let copy = v2.requests().pop().unwrap();
    assert_eq!(original.headers["host"], HTTPBIN);
    assert_eq!(copy.headers["host"], format!("{HTTPBIN}-shadow").as_str());
    assert_eq!(
        (copy.method.as_str(), copy.uri.as_str()),
        ("POST", "/headers")
    );
    assert_eq!(copy.body, "payload");

    // A broken, slow mirror never delays or fails the original.
    v2_slow.store(true, std::sync::atomic::Ordering::SeqCst);
    let start = Instant::now();
    let resp = gw.get(HTTPBIN, "/headers").send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (200, "httpbin-v1")
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "not held up by the mirror"
    );
    eventually("the copy to reach the broken mirror", || v2.count() == 2).await;
    v2_slow.store(false, std::sync::atomic::Ordering::SeqCst);

    // `mirrorPercentage: 0`: nothing copied.
    gw.write(&config(
        "    mirror: {host: httpbin.default.svc.cluster.local, subset: v2}\n    mirrorPercentage: {value: 0}",
    ));
    gw.gw.reload().await.expect("reloaded");
    let v2_before = v2.count();
    for _ in 0..20 {
        gw.get(HTTPBIN, "/headers").send().await.unwrap();
    }
    // A final 100 % mirror request flushes the order: when its copy arrives, none came before.
    gw.write(&config(
        "    mirrors: [{destination: {host: httpbin.default.svc.cluster.local, subset: v2}, percentage: {value: 50}}]",
    ));
    gw.gw.reload().await.expect("reloaded");
    assert_eq!(v2.count(), v2_before, "0 % copies nothing");

    // `mirrors` with 50 %: about half of 200 requests copied.
    for _ in 0..200 {
        gw.get(HTTPBIN, "/headers").send().await.unwrap();
    }
    // Copies are asynchronous: wait until every copy that reached v2 has been answered and
    // counted for the mirror destination.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered = answered_by(&gw, "v2").await;
        if answered == v2.count() {
            break;
        }
        assert!(Instant::now() < deadline, "mirror copies still in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let copied = v2.count() - v2_before;
    assert!((80..=120).contains(&copied), "{copied}/200 copied");
}
