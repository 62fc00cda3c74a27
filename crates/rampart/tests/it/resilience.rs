//! The chaos suite: each resilience mechanism shown working under the fault it exists for, with
//! real backends on loopback (some killed, failing, hanging or slow on purpose).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use rampart_testkit::{Backend, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{app_with_endpoints, eventually, switchable, TestGateway, G0};

const HOST: &str = "app.default.svc.cluster.local";

/// A STATIC ServiceEntry `app` with one endpoint per port.
fn app(ports: &[u16]) -> String {
    let eps: String = ports
        .iter()
        .map(|port| format!("  - {{address: 127.0.0.1, ports: {{http: {port}}}}}\n"))
        .collect();
    app_with_endpoints(&eps)
}

/// A VirtualService sending everything to `app`, with extra route fields (flow-style YAML
/// lines indented by four spaces, e.g. `    retries: {attempts: 2}`).
fn route(extra: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: {HOST}}}}}]
{extra}
"
    )
}

/// A DestinationRule for `app` with this `trafficPolicy` (flow-style YAML).
fn policy(traffic_policy: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: app}}
spec:
  host: {HOST}
  trafficPolicy: {traffic_policy}
"
    )
}

/// A backend that reads each request head (and a `content-length` body), then does what
/// `answer` says on that connection; it reports every connection that ends.
struct RawBackend {
    port: u16,
    seen: Arc<AtomicUsize>,
    closed: tokio::sync::mpsc::UnboundedReceiver<()>,
}

#[derive(Clone, Copy)]
enum Raw {
    /// Never answer; keep the connection until the peer closes it.
    Hang,
    /// Close the connection without answering.
    Close,
    /// Send a response head and part of the body, then stall.
    StallBody,
    /// Send a response head and part of the body, then close.
    CutBody,
    /// Answer `200 ok` and keep the connection for more requests.
    Answer,
}

async fn raw_backend(behaviour: Raw) -> RawBackend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let (tx, closed) = tokio::sync::mpsc::unbounded_channel();
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (counter, tx) = (counter.clone(), tx.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let body_len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + body_len {
                        continue;
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    match behaviour {
                        Raw::Close => break,
                        Raw::Answer => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .await;
                            buf.drain(..end + 4 + body_len);
                            continue;
                        }
                        Raw::CutBody => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                                .await;
                            break;
                        }
                        Raw::StallBody => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                                .await;
                            while let Ok(n) = stream.read(&mut chunk).await {
                                if n == 0 {
                                    break;
                                }
                            }
                            break;
                        }
                        Raw::Hang => {
                            // Wait for the peer to go away.
                            while let Ok(n) = stream.read(&mut chunk).await {
                                if n == 0 {
                                    break;
                                }
                            }
                            break;
                        }
                    }
                }
                let _ = stream.shutdown().await;
                let _ = tx.send(());
            });
        }
    });
    RawBackend { port, seen, closed }
}

/// The value of one `envoy_cluster_*` series for the `app` cluster.
async fn cluster_stat(gw: &TestGateway, stat: &str) -> u64 {
    cluster_stat_of(gw, stat, &format!("outbound|9080||{HOST}")).await
}

#[tokio::test]
async fn a_backend_killed_under_load_costs_no_request_when_retries_are_configured() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let yaml = format!(
        "{G0}{}{}",
        app(&[a.port(), b.port()]),
        route("    retries: {attempts: 3, retryOn: \"connect-failure,reset,503\"}")
    );
    let gw = TestGateway::start(&yaml).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let halfway = Arc::new(tokio::sync::Notify::new());
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (req, sent, halfway) = (gw.get(HOST, "/"), sent.clone(), halfway.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..50 {
                let resp = req.clone().send().await.expect("gateway answers");
                if resp.status != 200 {
                    failures.push(format!("{} {}", resp.status, resp.body));
                }
                if sent.fetch_add(1, Ordering::SeqCst) + 1 == 100 {
                    halfway.notify_one();
                }
            }
            failures
        }));
    }
    halfway.notified().await;
    let a_before = a.count();
    a.stop().await;
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(a_before > 0, "a served before it was killed");
    assert!(b.count() > 200, "b took over: {}", b.count());
}

#[tokio::test]
async fn an_endpoint_failing_half_its_requests_is_masked_by_two_retries() {
    let n = Arc::new(AtomicUsize::new(0));
    let flaky = {
        let n = n.clone();
        Backend::with("flaky", move |_| {
            if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                Reply::new(503, "flaky failed")
            } else {
                Reply::new(200, "flaky")
            }
        })
        .await
    };
    let good = Backend::start("good").await;
    let yaml = format!(
        "{G0}{}{}",
        app(&[flaky.port(), good.port()]),
        route("    retries: {attempts: 2, retryOn: 5xx}")
    );
    let gw = TestGateway::start(&yaml).await;
    let mut clients = Vec::new();
    for _ in 0..10 {
        let req = gw.get(HOST, "/");
        clients.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for _ in 0..100 {
                let resp = req.clone().send().await.expect("answer");
                if resp.status != 200 {
                    failed.push(format!(
                        "{} {} {}",
                        resp.status,
                        resp.body,
                        resp.header("x-envoy-upstream-service-time")
                    ));
                }
            }
            failed
        }));
    }
    let mut failed = Vec::new();
    for c in clients {
        failed.extend(c.await.unwrap());
    }
    assert!(
        failed.len() <= 1,
        "success rate {}/1000: {failed:?}",
        1000 - failed.len()
    );
    assert!(
        flaky.count() > 100,
        "the flaky endpoint kept getting traffic"
    );
    let retries = cluster_stat(&gw, "upstream_rq_retry").await;
    assert!(retries > 0, "retries counted");
    assert_eq!(
        cluster_stat(&gw, "upstream_rq_retry_success").await,
        retries,
        "every retry went to an endpoint that answered"
    );
}

#[tokio::test]
async fn a_hanging_backend_gets_504_at_the_timeout_and_other_routes_keep_serving() {
    let mut hang = raw_backend(Raw::Hang).await;
    let fine = Backend::start("fine").await;
    let yaml = format!(
        "{G0}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: hang}}
spec:
  hosts: [hang.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {}}}}}]
{}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: hang}}
spec:
  hosts: [hang.internal]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: hang.internal}}}}]
    timeout: 2s
",
        hang.port,
        app(&[fine.port()]).replace("name: app", "name: fine"),
    ) + &route("");
    let gw = TestGateway::start(&yaml).await;
    let started = Instant::now();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let req = gw.get("hang.internal", "/slow");
            tokio::spawn(async move { req.send().await.expect("answer") })
        })
        .collect();
    eventually("the hanging backend to hold 4 requests", || {
        hang.seen.load(Ordering::SeqCst) == 4
    })
    .await;
    for _ in 0..100 {
        let resp = gw.get(HOST, "/").send().await.unwrap();
        assert_eq!(resp.status, 200);
    }
    assert!(
        slow.iter().all(|s| !s.is_finished()),
        "other routes were served while the hanging requests waited"
    );
    for s in slow {
        let resp = s.await.unwrap();
        assert_eq!(resp.status, 504);
        assert_eq!(resp.body, "upstream request timeout");
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    // The upstream requests were cancelled: the backend sees its connections closed.
    for _ in 0..4 {
        tokio::time::timeout(Duration::from_secs(10), hang.closed.recv())
            .await
            .expect("upstream connection closed after the timeout");
    }
    assert_eq!(
        cluster_stat_of(&gw, "upstream_rq_timeout", "outbound|80||hang.internal").await,
        4
    );
}

async fn cluster_stat_of(gw: &TestGateway, stat: &str, cluster: &str) -> u64 {
    let metrics = gw.admin("/stats/prometheus").await.body;
    let prefix = format!("envoy_cluster_{stat}{{cluster_name=\"{cluster}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {stat} series for {cluster}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_slow_backend_behind_one_connection_and_one_pending_request_overflows_at_once() {
    let slow = Backend::with("slow", |_| {
        Reply::new(200, "slow").delayed(Duration::from_millis(400))
    })
    .await;
    let yaml = format!(
        "{G0}{}{}{}",
        app(&[slow.port()]),
        route(""),
        policy("{connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}}")
    );
    let gw = TestGateway::start(&yaml).await;
    let start = Instant::now();
    // The first request takes the only connection; of the next five, one may wait.
    let first = {
        let req = gw.get(HOST, "/");
        tokio::spawn(async move { (req.send().await.expect("answer"), start.elapsed()) })
    };
    eventually("the first request to reach the backend", || {
        slow.count() == 1
    })
    .await;
    let mut clients: Vec<_> = (0..5)
        .map(|_| {
            let req = gw.get(HOST, "/");
            tokio::spawn(async move {
                let resp = req.send().await.expect("answer");
                (resp, start.elapsed())
            })
        })
        .collect();
    clients.push(first);
    let mut ok = Vec::new();
    let mut overflow = Vec::new();
    for c in clients {
        let (resp, at) = c.await.unwrap();
        match resp.status.as_u16() {
            200 => ok.push(at),
            503 => {
                assert_eq!(resp.header("x-envoy-overloaded"), "true");
                overflow.push(at);
            }
            other => panic!("unexpected {other}: {}", resp.body),
        }
    }
    assert_eq!(ok.len(), 2, "one in flight and one pending get through");
    assert_eq!(overflow.len(), 4);
    // Overflows are answered at once, not queued behind the slow backend.
    let first_ok = ok.iter().min().unwrap();
    assert!(overflow.iter().all(|at| at < first_ok));
    assert_eq!(cluster_stat(&gw, "upstream_rq_pending_overflow").await, 4);
    assert_eq!(
        cluster_stat(&gw, "upstream_cx_total").await,
        1,
        "never a second connection"
    );
    assert_eq!(slow.count(), 2);
}

#[tokio::test]
async fn a_post_the_backend_may_have_seen_is_not_retried_unless_the_policy_says_so() {
    let closer = raw_backend(Raw::Close).await;
    // Istio's default policy (no `retries`) retries connect failures only.
    let gw = TestGateway::start(&format!("{G0}{}{}", app(&[closer.port]), route(""))).await;
    let resp = gw
        .get(HOST, "/orders")
        .method(Method::POST)
        .body("order=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(
        closer.seen.load(Ordering::SeqCst),
        1,
        "sent once, never again"
    );
    // A policy that retries resets sends it again, body included.
    gw.write(&format!(
        "{G0}{}{}",
        app(&[closer.port]),
        route("    retries: {attempts: 2, retryOn: reset}")
    ));
    gw.gw.reload().await.expect("reloaded");
    let resp = gw
        .get(HOST, "/orders")
        .method(Method::POST)
        .body("order=2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(
        closer.seen.load(Ordering::SeqCst),
        4,
        "1 + 1 try + 2 retries"
    );
}

#[tokio::test]
async fn a_post_that_could_not_connect_is_retried_on_another_endpoint() {
    let dead = rampart_testkit::free_port();
    let live = Backend::start("live").await;
    let gw = TestGateway::start(&format!("{G0}{}{}", app(&[dead, live.port()]), route(""))).await;
    for i in 0..20 {
        let resp = gw
            .get(HOST, "/orders")
            .method(Method::POST)
            .body(format!("order={i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    let bodies: Vec<_> = live.requests().iter().map(|r| r.body.clone()).collect();
    assert_eq!(bodies.len(), 20);
    assert!(bodies
        .iter()
        .enumerate()
        .all(|(i, b)| b == format!("order={i}").as_bytes()));
}

#[tokio::test]
async fn a_large_body_is_streamed_and_not_retried() {
    let closer = raw_backend(Raw::Close).await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}",
        app(&[closer.port]),
        route("    retries: {attempts: 2, retryOn: reset}")
    ))
    .await;
    let big = vec![b'x'; 256 * 1024];
    let resp = gw
        .get(HOST, "/upload")
        .method(Method::POST)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(
        closer.seen.load(Ordering::SeqCst),
        1,
        "a body over the buffer limit is not replayed"
    );
}

#[tokio::test]
async fn the_route_timeout_also_cuts_off_a_body_that_stalls() {
    let mut stall = raw_backend(Raw::StallBody).await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}",
        app(&[stall.port]),
        route("    timeout: 1s")
    ))
    .await;
    let start = Instant::now();
    let result = gw.get(HOST, "/stream").send().await;
    assert!(result.is_err(), "the body is cut off: {result:?}");
    assert!(start.elapsed() >= Duration::from_secs(1));
    tokio::time::timeout(Duration::from_secs(10), stall.closed.recv())
        .await
        .expect("the upstream connection is closed too");
}

#[tokio::test]
async fn an_endpoint_answering_500_is_ejected_after_consecutive_errors_and_readmitted_later() {
    let (bad, failing) =
        switchable("bad", Reply::new(200, "bad"), Reply::new(500, "bad"), true).await;
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let yaml = format!(
        "{G0}{}{}{}",
        app(&[a.port(), b.port(), bad.port()]),
        route(""),
        policy(
            "{loadBalancer: {simple: ROUND_ROBIN}, outlierDetection: {consecutive5xxErrors: 3, interval: 50ms, baseEjectionTime: 1s, maxEjectionPercent: 50}}"
        )
    );
    let gw = TestGateway::start(&yaml).await;
    // Round robin: every third request reaches `bad` until its third 500.
    let mut errors = 0;
    for _ in 0..30 {
        let resp = gw.get(HOST, "/").send().await.unwrap();
        if resp.status == 500 {
            errors += 1;
        }
    }
    assert_eq!(
        errors, 3,
        "ejected after exactly consecutive5xxErrors errors"
    );
    assert_eq!(bad.count(), 3);
    assert_eq!(
        cluster_stat(&gw, "outlier_detection_ejections_enforced_total").await,
        1
    );
    assert_eq!(
        cluster_stat(&gw, "outlier_detection_ejections_active").await,
        1
    );
    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains(&format!(
            "127.0.0.1:{}::health_flags::/failed_outlier_check",
            bad.port()
        )),
        "{clusters}"
    );
    // Healthy again: readmitted once the ejection time has passed.
    failing.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while bad.count() == 3 {
        assert!(Instant::now() < deadline, "never readmitted");
        let resp = gw.get(HOST, "/").send().await.unwrap();
        assert_eq!(resp.status, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cluster_stat(&gw, "outlier_detection_ejections_active").await,
        0
    );
}

#[tokio::test]
async fn ejection_state_survives_a_reload() {
    let bad = Backend::with("bad", |_| Reply::new(503, "bad")).await;
    let good = Backend::start("good").await;
    let dr = |lb: &str| {
        policy(&format!(
            "{{loadBalancer: {{simple: {lb}}}, outlierDetection: {{consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 5m, maxEjectionPercent: 100}}}}"
        ))
    };
    let gw = TestGateway::start(&format!(
        "{G0}{}{}{}",
        app(&[bad.port(), good.port()]),
        route(""),
        dr("ROUND_ROBIN")
    ))
    .await;
    for _ in 0..10 {
        gw.get(HOST, "/").send().await.unwrap();
    }
    assert_eq!(bad.count(), 2);
    // A reload that changes the load balancer keeps the endpoint ejected.
    gw.write(&format!(
        "{G0}{}{}{}",
        app(&[bad.port(), good.port()]),
        route(""),
        dr("RANDOM")
    ));
    gw.gw.reload().await.expect("reloaded");
    for _ in 0..20 {
        assert_eq!(gw.get(HOST, "/").send().await.unwrap().status, 200);
    }
    assert_eq!(bad.count(), 2);
}

/// A BackendTrafficPolicy with this `healthCheck.active` body targeting the `app` ServiceEntry.
fn health_check(active: &str) -> String {
    format!(
        "---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: app-health}}
spec:
  targetRefs: [{{group: networking.istio.io, kind: ServiceEntry, name: app}}]
  healthCheck:
    active: {active}
"
    )
}

/// Health flags of the endpoint on `port` in `/clusters`.
async fn health_flags(gw: &TestGateway, port: u16) -> String {
    let clusters = gw.admin("/clusters").await.body;
    let prefix = format!("127.0.0.1:{port}::health_flags::");
    clusters
        .lines()
        .find_map(|l| l.split_once(&prefix).map(|(_, f)| f.to_string()))
        .unwrap_or_default()
}

async fn wait_for_flags(gw: &TestGateway, port: u16, flags: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while health_flags(gw, port).await != flags {
        assert!(
            Instant::now() < deadline,
            "endpoint {port} never became {flags}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn active_http_health_checks_take_an_endpoint_out_and_bring_it_back() {
    let sick = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let b = {
        let sick = sick.clone();
        Backend::with("b", move |r| {
            if r.uri == "/healthz" && sick.load(Ordering::SeqCst) {
                Reply::new(503, "sick")
            } else {
                Reply::new(200, "b")
            }
        })
        .await
    };
    let a = Backend::start("a").await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}{}{}",
        app(&[a.port(), b.port()]),
        route(""),
        policy("{loadBalancer: {simple: ROUND_ROBIN}}"),
        health_check(
            "{type: HTTP, interval: 50ms, timeout: 1s, unhealthyThreshold: 2, healthyThreshold: 2, http: {path: /healthz, expectedStatuses: [200]}}"
        )
    ))
    .await;
    eventually("probes to reach b", || {
        b.requests().iter().any(|r| r.uri == "/healthz")
    })
    .await;
    let probe = b
        .requests()
        .into_iter()
        .find(|r| r.uri == "/healthz")
        .unwrap();
    assert_eq!(probe.headers["host"], HOST, "probes carry the service host");
    sick.store(true, Ordering::SeqCst);
    wait_for_flags(&gw, b.port(), "/failed_active_hc").await;
    let served_by_b = |b: &Backend| b.requests().iter().filter(|r| r.uri == "/").count();
    let before = served_by_b(&b);
    for _ in 0..20 {
        let resp = gw.get(HOST, "/").send().await.unwrap();
        assert_eq!(resp.body, "a", "the unhealthy endpoint gets no traffic");
    }
    assert_eq!(served_by_b(&b), before);
    sick.store(false, Ordering::SeqCst);
    wait_for_flags(&gw, b.port(), "healthy").await;
    let mut bodies = std::collections::BTreeSet::new();
    for _ in 0..10 {
        bodies.insert(gw.get(HOST, "/").send().await.unwrap().body);
    }
    assert_eq!(bodies, ["a".to_string(), "b".to_string()].into());
    let metrics = gw.admin("/stats/prometheus").await.body;
    for series in [
        "health_check_unhealthy_transitions",
        "health_check_healthy_transitions",
    ] {
        let line = format!("envoy_cluster_{series}{{cluster_name=\"outbound|9080||{HOST}\"}} 1");
        assert!(metrics.contains(&line), "{line}");
    }
}

#[tokio::test]
async fn a_tcp_health_check_keeps_a_dead_endpoint_out_of_the_balancer() {
    let dead = rampart_testkit::free_port();
    let live = Backend::start("live").await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}{}",
        app(&[dead, live.port()]),
        route("    retries: {attempts: 0}"),
        health_check("{type: TCP, interval: 50ms, unhealthyThreshold: 1}")
    ))
    .await;
    wait_for_flags(&gw, dead, "/failed_active_hc").await;
    for _ in 0..20 {
        let resp = gw.get(HOST, "/").send().await.unwrap();
        assert_eq!(
            (resp.status.as_u16(), resp.body.as_str()),
            (200, "live"),
            "no request tries the dead endpoint"
        );
    }
}

/// The `app` ServiceEntry with one endpoint per (port, locality).
fn app_in_localities(endpoints: &[(u16, &str)]) -> String {
    let eps: String = endpoints
        .iter()
        .map(|(port, locality)| {
            format!("  - {{address: 127.0.0.1, ports: {{http: {port}}}, locality: {locality}}}\n")
        })
        .collect();
    app_with_endpoints(&eps)
}

#[tokio::test]
async fn locality_failover_prefers_the_proxys_zone_and_fails_over_when_it_is_ejected() {
    let (near, failing) = switchable(
        "near",
        Reply::new(200, "near"),
        Reply::new(500, "near failed"),
        false,
    )
    .await;
    let region = Backend::start("same-region").await;
    let far = Backend::start("far").await;
    let yaml = format!(
        "{G0}{}{}{}",
        app_in_localities(&[
            (far.port(), "eu-west/a/1"),
            (near.port(), "us-east/a/1"),
            (region.port(), "us-east/b/1"),
        ]),
        route(""),
        policy("{outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}}")
    );
    let gw =
        TestGateway::start_with(&yaml, |o| o.identity.locality = Some("us-east/a/1".into())).await;
    for _ in 0..20 {
        assert_eq!(gw.get(HOST, "/").send().await.unwrap().body, "near");
    }
    failing.store(true, Ordering::SeqCst);
    assert_eq!(gw.get(HOST, "/").send().await.unwrap().status, 500);
    // The zone is empty now: the same region takes over, not the far one.
    for _ in 0..20 {
        assert_eq!(gw.get(HOST, "/").send().await.unwrap().body, "same-region");
    }
    assert_eq!(far.count(), 0);
}

#[tokio::test]
async fn locality_distribute_splits_traffic_by_weight() {
    let a = Backend::start("zone-a").await;
    let b = Backend::start("zone-b").await;
    let other = Backend::start("other").await;
    let yaml = format!(
        "{G0}{}{}{}",
        app_in_localities(&[
            (a.port(), "us-east/a/1"),
            (b.port(), "us-east/b/1"),
            (other.port(), "eu-west/a/1"),
        ]),
        route(""),
        policy("{loadBalancer: {simple: RANDOM, localityLbSetting: {distribute: [{from: \"us-east/*\", to: {\"us-east/a/*\": 80, \"us-east/b/*\": 20}}]}}}")
    );
    let gw =
        TestGateway::start_with(&yaml, |o| o.identity.locality = Some("us-east/a/1".into())).await;
    let counts = crate::support::tally(&gw.get(HOST, "/"), 200).await;
    let a_share = counts.get("200 zone-a").copied().unwrap_or(0);
    assert!((140..=180).contains(&a_share), "{counts:?}");
    assert_eq!(
        counts.get("200 other"),
        None,
        "localities not listed get nothing"
    );
}

#[tokio::test]
async fn a_hanging_endpoint_costs_a_per_try_timeout_then_another_endpoint_answers() {
    let hang = raw_backend(Raw::Hang).await;
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}{}",
        app(&[hang.port, a.port(), b.port()]),
        route("    timeout: 5s\n    retries: {attempts: 3, perTryTimeout: 300ms, retryOn: \"connect-failure,refused-stream,reset,503\"}"),
        policy("{loadBalancer: {simple: ROUND_ROBIN}}")
    ))
    .await;
    for _ in 0..9 {
        let resp = gw.get(HOST, "/").send().await.unwrap();
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    assert!(
        hang.seen.load(Ordering::SeqCst) >= 1,
        "the hanging endpoint was tried"
    );
    assert!(cluster_stat(&gw, "upstream_rq_per_try_timeout").await >= 1);
}

#[tokio::test]
async fn when_every_endpoint_hangs_the_route_timeout_answers_504() {
    let h1 = raw_backend(Raw::Hang).await;
    let h2 = raw_backend(Raw::Hang).await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}",
        app(&[h1.port, h2.port]),
        route("    timeout: 1s\n    retries: {attempts: 3, perTryTimeout: 300ms, retryOn: reset}")
    ))
    .await;
    let start = Instant::now();
    let resp = gw.get(HOST, "/").send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (504, "upstream request timeout")
    );
    assert!(start.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_body_cut_off_by_the_backend_is_never_passed_on_as_complete() {
    let cut = raw_backend(Raw::CutBody).await;
    let gw = TestGateway::start(&format!("{G0}{}{}", app(&[cut.port]), route(""))).await;
    let result = gw.get(HOST, "/").send().await;
    assert!(
        result.is_err(),
        "the client sees the truncation: {result:?}"
    );
    // The gateway keeps serving.
    let fine = Backend::start("fine").await;
    gw.write(&format!("{G0}{}{}", app(&[fine.port()]), route("")));
    gw.gw.reload().await.expect("reloaded");
    assert_eq!(gw.get(HOST, "/").send().await.unwrap().body, "fine");
}

#[tokio::test]
async fn a_retry_budget_stops_retries_from_multiplying_load_during_an_outage() {
    let down = Backend::with("down", |_| {
        Reply::new(503, "down").delayed(Duration::from_millis(200))
    })
    .await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}{}",
        app(&[down.port()]),
        route("    retries: {attempts: 3, retryOn: 5xx, backoff: 1ms}"),
        policy("{connectionPool: {http: {retryBudget: {percent: 0, minRetryConcurrency: 1}}}}")
    ))
    .await;
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let req = gw.get(HOST, "/");
            tokio::spawn(async move { req.send().await.unwrap().status })
        })
        .collect();
    for c in clients {
        assert_eq!(c.await.unwrap(), 503);
    }
    let refused = cluster_stat(&gw, "upstream_rq_retry_overflow").await;
    let retried = cluster_stat(&gw, "upstream_rq_retry").await;
    assert!(refused > 0, "the budget refused retries");
    assert_eq!(
        down.count() as u64,
        6 + retried,
        "only admitted retries reached the backend"
    );
    assert!(down.count() < 6 * 4, "without the budget: 24 requests");
}

#[tokio::test]
async fn max_concurrent_streams_spreads_http2_requests_over_more_connections() {
    let slow = Backend::with("h2", |_| {
        Reply::new(200, "h2").delayed(Duration::from_millis(300))
    })
    .await;
    let run = |streams: &'static str| {
        let yaml = format!(
            "{G0}{}{}{}",
            app(&[slow.port()]).replace("protocol: HTTP}", "protocol: HTTP2}"),
            route(""),
            policy(streams)
        );
        async move {
            // One worker: pools are per worker.
            let gw = TestGateway::start_with(&yaml, |o| o.workers = 1).await;
            let clients: Vec<_> = (0..3)
                .map(|_| {
                    let req = gw.get(HOST, "/");
                    tokio::spawn(async move { req.send().await.unwrap().status })
                })
                .collect();
            for c in clients {
                assert_eq!(c.await.unwrap(), 200);
            }
            let cx = cluster_stat(&gw, "upstream_cx_total").await;
            gw.gw.shutdown(Duration::from_secs(1)).await;
            cx
        }
    };
    assert_eq!(
        run("{connectionPool: {http: {maxConcurrentStreams: 1}}}").await,
        3
    );
    assert_eq!(
        run("{connectionPool: {http: {maxConcurrentStreams: 100}}}").await,
        1
    );
    assert!(slow
        .requests()
        .iter()
        .all(|r| r.version == http::Version::HTTP_2));
}

#[tokio::test]
async fn idle_upstream_connections_are_closed_after_the_idle_timeout() {
    let mut upstream = raw_backend(Raw::Answer).await;
    let gw = TestGateway::start(&format!(
        "{G0}{}{}{}",
        app(&[upstream.port]),
        route(""),
        policy("{connectionPool: {http: {idleTimeout: 1s}}}")
    ))
    .await;
    let resp = gw.get(HOST, "/").send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (200, "ok"));
    let idle_since = Instant::now();
    // The pooled connection is closed by the gateway once idle for 1 s (swept every second).
    tokio::time::timeout(Duration::from_secs(10), upstream.closed.recv())
        .await
        .expect("the idle connection is closed");
    assert!(
        idle_since.elapsed() >= Duration::from_millis(900),
        "kept while fresh"
    );
    assert_eq!(gw.get(HOST, "/").send().await.unwrap().body, "ok");
}

#[tokio::test]
async fn retry_remote_localities_sends_the_retry_to_another_locality() {
    let near1 = Backend::with("near1", |_| Reply::new(503, "near1 down")).await;
    let near2 = Backend::with("near2", |_| Reply::new(503, "near2 down")).await;
    let remote = Backend::start("remote").await;
    let config = |remote_localities: bool| {
        format!(
            "{G0}{}{}{}",
            app_in_localities(&[
                (near1.port(), "us-east/a/1"),
                (near2.port(), "us-east/a/1"),
                (remote.port(), "eu-west/a/1"),
            ]),
            route(&format!(
                "    retries: {{attempts: 1, retryOn: 5xx, retryRemoteLocalities: {remote_localities}}}"
            )),
            policy("{outlierDetection: {consecutive5xxErrors: 1000}}")
        )
    };
    let gw = TestGateway::start_with(&config(false), |o| {
        o.identity.locality = Some("us-east/a/1".into())
    })
    .await;
    // Without it the retry stays in the zone (the other near endpoint), and fails too.
    assert_eq!(gw.get(HOST, "/").send().await.unwrap().status, 503);
    assert_eq!(remote.count(), 0);
    gw.write(&config(true));
    gw.gw.reload().await.expect("reloaded");
    let resp = gw.get(HOST, "/").send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (200, "remote"));
}
