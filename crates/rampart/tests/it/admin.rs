//! Admin endpoints and graceful drain.

use std::time::Duration;

use rampart_testkit::{Backend, Reply, Request};

use crate::support::{service, TestGateway, G0};

fn config(be: &Backend) -> String {
    format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - name: everything
    route: [{{destination: {{host: app}}}}]
",
        service("app", "app.default.svc.cluster.local", &[(be.port(), "v1")])
    )
}

#[tokio::test]
async fn admin_endpoints_report_state() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&config(&be)).await;
    for _ in 0..3 {
        gw.get("h", "/").send().await.unwrap();
    }
    gw.get("h", "/")
        .method(http::Method::POST)
        .send()
        .await
        .unwrap();
    assert_eq!(gw.admin("/ready").await.status.as_u16(), 200);
    assert_eq!(gw.admin("/healthz").await.status.as_u16(), 200);
    // AD-03: no mutation through GET.
    let before = gw.admin("/logging").await.body;
    assert_eq!(gw.admin("/logging?level=trace").await.status.as_u16(), 405);
    assert_eq!(gw.admin("/logging").await.body, before);

    let dump: serde_json::Value =
        serde_json::from_str(&gw.admin("/config_dump").await.body).unwrap();
    assert_eq!(dump["version"], 1);
    assert_eq!(
        dump["config"]["listeners"][0]["virtualHosts"][0]["routes"][0]["name"],
        "everything"
    );
    assert_eq!(
        dump["config"]["clusters"][0]["name"],
        "outbound|9080||app.default.svc.cluster.local"
    );

    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains(&format!(
            "outbound|9080||app.default.svc.cluster.local::127.0.0.1:{}::rq_total::4",
            be.port()
        )),
        "{clusters}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&gw.admin("/clusters?format=json").await.body).unwrap();
    assert_eq!(
        json["clusters"][0]["endpoints"][0]["labels"]["version"],
        "v1"
    );

    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics.contains("rampart_route_requests_total{route=\"everything\",destination_service=\"app.default.svc.cluster.local\",destination_service_name=\"app\",destination_service_namespace=\"default\",destination_version=\"unknown\",response_code=\"200\",response_flags=\"-\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("istio_request_duration_milliseconds_count{"),
        "{metrics}"
    );
    // Sizes: 4 requests; each response carries the backend's name ("app") and a head of at
    // least its status line, so the histogram's sum exceeds 4 × (3 + 17) bytes.
    let family = |name: &str| -> (u64, f64) {
        let value = |suffix: &str| {
            metrics
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("{name}_{suffix}{{"))
                        && l.contains("destination_service_name=\"app\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        (value("count") as u64, value("sum"))
    };
    let (count, sum) = family("istio_response_bytes");
    assert!(
        count == 4 && sum > 80.0,
        "response bytes {count} {sum}: {metrics}"
    );
    let (count, sum) = family("istio_request_bytes");
    assert!(
        count == 4 && sum > 4.0 * 20.0,
        "request bytes {count} {sum}"
    );
    assert!(metrics.contains("istio_request_bytes_bucket{") && metrics.contains("le=\"10000000\""));
    let human = gw
        .admin("/stats?filter=rampart_route_requests_total")
        .await
        .body;
    assert!(
        human
            .lines()
            .all(|l| l.starts_with("rampart_route_requests_total{"))
            && human.contains("response_code=\"200\",response_flags=\"-\"}: 4"),
        "{human}"
    );
    assert_eq!(gw.admin("/nope").await.status.as_u16(), 404);
}

#[tokio::test]
async fn drain_finishes_in_flight_requests_and_turns_ready_off() {
    let be = Backend::with("slow", |_| {
        Reply::new(200, "slow").delayed(Duration::from_millis(300))
    })
    .await;
    let gw = TestGateway::start(&config(&be)).await;
    let in_flight = tokio::spawn(gw.get("h", "/").send());
    // Wait until the backend has the request: the drain must begin while it is in flight.
    while be.count() == 0 {
        tokio::task::yield_now().await;
    }
    let admin = gw.admin;
    let addr = gw.addr;
    let state = gw.gw.state.clone();
    let drain = tokio::spawn(gw.gw.shutdown(Duration::from_secs(5)));
    while !state.shared.draining() {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        Request::get(admin, "/ready")
            .send()
            .await
            .unwrap()
            .status
            .as_u16(),
        503
    );
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (200, "slow"));
    drain.await.unwrap();
    assert!(
        Request::get(addr, "/").send().await.is_err(),
        "no listener after drain"
    );
}

#[tokio::test]
async fn drain_closes_idle_keep_alive_connections_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let be = Backend::start("app").await;
    let gw = TestGateway::start(&config(&be)).await;
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: h\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "gateway closed before answering");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    // The connection now sits idle between requests; a drain must close it rather than wait
    // for the drain deadline (30 s here).
    let drain = tokio::spawn(gw.gw.shutdown(Duration::from_secs(30)));
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle connection was not closed by the drain"
    );
    tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .expect("the drain ends once its connections are closed")
        .unwrap();
}

#[tokio::test]
async fn access_log_lines_are_json_with_envoy_flags() {
    use std::time::Duration;

    let ok = rampart_testkit::Backend::with("ok", |_| {
        rampart_testkit::Reply::new(200, "fine").header("x-a", "b")
    })
    .await;
    let slow = rampart_testkit::Backend::with("slow", |_| {
        rampart_testkit::Reply::new(200, "slow").delayed(Duration::from_secs(2))
    })
    .await;
    let dead = rampart_testkit::free_port();
    let svc = |name: &str, port: u16| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{name}.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
"
        )
    };
    let yaml = format!(
        "{G0}{}{}{}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [app.example]
  gateways: [edge]
  http:
  - name: fault-abort
    match: [{{uri: {{prefix: /abort}}}}]
    fault: {{abort: {{httpStatus: 418, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: ok.internal}}}}]
  - name: fault-delay
    match: [{{uri: {{prefix: /delay}}}}]
    fault: {{delay: {{fixedDelay: 1ms, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: ok.internal}}}}]
  - name: dead
    match: [{{uri: {{prefix: /dead}}}}]
    route: [{{destination: {{host: dead.internal}}}}]
  - name: slow
    match: [{{uri: {{prefix: /slow}}}}]
    route: [{{destination: {{host: slow.internal}}}}]
    timeout: 100ms
  - name: ok
    route: [{{destination: {{host: ok.internal}}}}]
",
        svc("ok", ok.port()),
        svc("slow", slow.port()),
        svc("dead", dead)
    );
    let file = crate::support::temp_dir().join("access.log");
    let log = file.clone();
    let gw = TestGateway::start_with(&yaml, move |o| {
        o.access_log = Some((Some(log), rampart_telemetry::AccessLogFormat::Json))
    })
    .await;
    let cases = [
        ("app.example", "/items?a=1", 200, "-"),
        ("nope.example", "/", 404, "NR"),
        ("app.example", "/abort", 418, "FI"),
        ("app.example", "/delay", 200, "DI"),
        ("app.example", "/dead", 503, "UF,URX"),
        ("app.example", "/slow", 504, "UT"),
    ];
    for (host, path, code, _) in &cases {
        let resp = gw
            .get(host, path)
            .header("user-agent", "curl/8 \"quoted\"")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status.as_u16(), *code, "{host}{path}");
    }
    let lines = crate::support::log_lines(&file, cases.len()).await;
    for ((host, path, code, flags), line) in cases.iter().zip(&lines) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["authority"], *host, "{line}");
        assert_eq!(v["path"], *path, "{line}");
        assert_eq!(v["response_code"], *code, "{line}");
        assert_eq!(v["response_flags"], *flags, "{line}");
        assert_eq!(v["user_agent"], "curl/8 \"quoted\"", "{line}");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert!(v["start_time"].as_str().unwrap().ends_with('Z'));
    }
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["upstream_host"], format!("127.0.0.1:{}", ok.port()));
    assert_eq!(first["upstream_cluster"], "outbound|80||ok.internal");
    assert_eq!(first["route_name"], "ok");
    assert_eq!(first["bytes_sent"], 4);
    assert_eq!(first["upstream_request_attempt_count"], 1);
    assert!(first["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
}

/// AD-04: secrets given to the gateway (the Redis password of global rate limits) appear in no
/// admin output.
#[tokio::test]
async fn ad04_admin_output_never_shows_secrets() {
    let be = Backend::start("app").await;
    let dead = rampart_testkit::free_port();
    let gw = TestGateway::start_with(&config(&be), |o| {
        o.rate_limit_global = Some(rampart_ratelimit::GlobalSettings {
            redis: format!("redis://:hunter2-secret@127.0.0.1:{dead}/0")
                .parse()
                .unwrap(),
            timeout: rampart_ratelimit::DEFAULT_TIMEOUT,
            fail_closed: false,
        })
    })
    .await;
    assert_eq!(gw.get("h", "/").send().await.unwrap().status, 200);
    for path in [
        "/config_dump",
        "/stats/prometheus",
        "/clusters",
        "/clusters?format=json",
        "/logging",
    ] {
        let body = gw.admin(path).await.body;
        assert!(!body.contains("hunter2"), "{path} shows the Redis password");
    }
}

/// The access-log flags the first test does not reach: UH (no endpoint), UO (circuit breaker
/// overflow) and RL (rate limited).
#[tokio::test]
async fn access_log_flags_uh_uo_rl() {
    use std::time::Duration;

    let slow = rampart_testkit::Backend::with("slow", |_| {
        rampart_testkit::Reply::new(200, "slow").delayed(Duration::from_millis(500))
    })
    .await;
    let ok = rampart_testkit::Backend::start("ok").await;
    let yaml = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: empty}}
spec:
  hosts: [empty.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: nobody}}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: busy}}
spec:
  hosts: [busy.internal, ok.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ok}}
spec:
  hosts: [fine.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: busy}}
spec:
  host: busy.internal
  trafficPolicy:
    connectionPool: {{tcp: {{maxConnections: 1}}, http: {{http1MaxPendingRequests: 1}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [app.example]
  gateways: [edge]
  http:
  - name: empty
    match: [{{uri: {{prefix: /empty}}}}]
    route: [{{destination: {{host: empty.internal}}}}]
  - name: busy
    route: [{{destination: {{host: busy.internal}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: limited}}
spec:
  hosts: [limited.example]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: fine.internal}}}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: rl}}
spec:
  targetRefs: [{{group: networking.istio.io, kind: VirtualService, name: limited}}]
  rateLimit:
    type: Local
    local:
      rules: [{{limit: {{requests: 1, unit: Hour}}}}]
",
        slow.port(),
        ok.port()
    );
    let file = crate::support::temp_dir().join("access.log");
    let log = file.clone();
    let gw = TestGateway::start_with(&yaml, move |o| {
        o.access_log = Some((Some(log), rampart_telemetry::AccessLogFormat::Json))
    })
    .await;
    assert_eq!(
        gw.get("app.example", "/empty").send().await.unwrap().status,
        503
    );
    assert_eq!(
        gw.get("limited.example", "/").send().await.unwrap().status,
        200
    );
    assert_eq!(
        gw.get("limited.example", "/").send().await.unwrap().status,
        429
    );
    // One connection busy, one request pending: a third overflows at once.
    let mut busy = vec![tokio::spawn(gw.get("app.example", "/busy").send())];
    crate::support::eventually("the first request at the backend", || slow.count() == 1).await;
    busy.extend((0..2).map(|_| tokio::spawn(gw.get("app.example", "/busy").send())));
    let mut codes = Vec::new();
    for b in busy {
        codes.push(b.await.unwrap().unwrap().status.as_u16());
    }
    codes.sort_unstable();
    assert_eq!(codes, [200, 200, 503], "one overflow");
    let lines: Vec<serde_json::Value> = crate::support::log_lines(&file, 6)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flags_of = |path: &str, code: u16| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["path"] == path && l["response_code"] == code)
            .map(|l| l["response_flags"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(flags_of("/empty", 503), ["UH"]);
    assert_eq!(flags_of("/", 429), ["RL"]);
    assert_eq!(flags_of("/busy", 503), ["UO"]);
}
