//! Rate limits from Envoy Gateway's BackendTrafficPolicy: local buckets per process, global
//! windows in a real `redis-server` shared by two real `rampart run` processes, Redis stopped
//! mid-test (fail open, fail closed), limits kept across reloads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use rampart::{Gateway, GatewayOptions};
use rampart_ratelimit::GlobalSettings;
use rampart_testkit::{free_port, Backend, Redis, Request};

use crate::support::{app_with_endpoints, eventually, temp_dir, TestGateway, G0};

const HOST: &str = "app.default.svc.cluster.local";

/// Gateway `edge`, ServiceEntry `app` → `backend`, VirtualService `app`, and a
/// BackendTrafficPolicy `rl` on the VirtualService with this `rateLimit` (YAML indented four
/// spaces).
fn config(backend: u16, rate_limit: &str) -> String {
    format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: {HOST}}}}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: rl}}
spec:
  targetRefs:
  - {{group: networking.istio.io, kind: VirtualService, name: app}}
  rateLimit:
{rate_limit}",
        app_with_endpoints(&format!(
            "  - {{address: 127.0.0.1, ports: {{http: {backend}}}}}\n"
        ))
    )
}

fn global_settings(redis: &Redis, fail_closed: bool) -> GlobalSettings {
    GlobalSettings {
        redis: redis.url().parse().unwrap(),
        timeout: rampart_ratelimit::DEFAULT_TIMEOUT,
        fail_closed,
    }
}

async fn status_of(req: Request) -> StatusCode {
    req.send().await.expect("response").status
}

async fn metrics(gw: &TestGateway) -> String {
    gw.admin("/stats/prometheus").await.body
}

#[tokio::test]
async fn local_limit_answers_429_with_headers_and_the_backend_never_sees_the_excess() {
    let backend = Backend::start("app").await;
    let gw = TestGateway::start(&config(
        backend.port(),
        "    type: Local\n    local:\n      rules:\n      - limit: {requests: 3, unit: Hour}\n",
    ))
    .await;
    for left in ["2", "1", "0"] {
        let resp = gw.get("x", "/").send().await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.header("x-ratelimit-limit"), "3, 3;w=3600");
        assert_eq!(resp.header("x-ratelimit-remaining"), left);
    }
    for _ in 0..2 {
        let resp = gw.get("x", "/").send().await.unwrap();
        assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.header("x-envoy-ratelimited"), "true");
        assert_eq!(resp.header("x-ratelimit-limit"), "3, 3;w=3600");
        assert_eq!(resp.header("x-ratelimit-remaining"), "0");
        // One token comes back after 3600 s / 3.
        let retry: u64 = resp.header("retry-after").parse().unwrap();
        assert!((1190..=1200).contains(&retry), "retry-after {retry}");
        assert_eq!(resp.header("x-ratelimit-reset"), resp.header("retry-after"));
    }
    assert_eq!(backend.count(), 3);
    let m = metrics(&gw).await;
    assert!(
        m.contains("rampart_ratelimit_requests_total{policy=\"default/rl\",result=\"ok\"} 3"),
        "{m}"
    );
    assert!(
        m.contains(
            "rampart_ratelimit_requests_total{policy=\"default/rl\",result=\"over_limit\"} 2"
        ),
        "{m}"
    );
    assert!(
        m.contains("istio_requests_total{") && m.contains("response_code=\"429\""),
        "{m}"
    );
}

#[tokio::test]
async fn distinct_headers_source_cidr_and_methods_select_their_own_buckets() {
    let backend = Backend::start("app").await;
    let gw = TestGateway::start(&config(
        backend.port(),
        "    local:
      rules:
      - clientSelectors:
        - headers: [{type: Distinct, name: x-user}]
        limit: {requests: 2, unit: Hour}
      - clientSelectors:
        - sourceCIDR: {value: 10.0.0.0/8}
        limit: {requests: 1, unit: Hour}
      - clientSelectors:
        - sourceCIDR: {type: Distinct, value: 127.0.0.0/8}
          methods: [{value: POST}]
        limit: {requests: 1, unit: Hour}
",
    ))
    .await;
    let user = |u: &str| gw.get("x", "/").header("x-user", u);
    assert_eq!(status_of(user("alice")).await, StatusCode::OK);
    assert_eq!(status_of(user("alice")).await, StatusCode::OK);
    assert_eq!(
        status_of(user("alice")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status_of(user("bob")).await, StatusCode::OK);
    // Requests without the header are not counted by the Distinct rule; 127.0.0.1 is outside
    // 10.0.0.0/8.
    for _ in 0..3 {
        assert_eq!(status_of(gw.get("x", "/")).await, StatusCode::OK);
    }
    // One POST per client address.
    let post = || gw.get("x", "/").method(Method::POST);
    assert_eq!(status_of(post()).await, StatusCode::OK);
    assert_eq!(status_of(post()).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(backend.count(), 7);
}

#[tokio::test]
async fn the_limit_survives_a_reload() {
    let backend = Backend::start("app").await;
    let rl = "    local:\n      rules:\n      - limit: {requests: 2, unit: Hour}\n";
    let yaml = config(backend.port(), rl);
    let mut gw = TestGateway::start(&yaml).await;
    for _ in 0..2 {
        assert_eq!(status_of(gw.get("x", "/")).await, StatusCode::OK);
    }
    assert_eq!(
        status_of(gw.get("x", "/")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A new snapshot (one more VirtualService) with the same policy keeps the same bucket.
    gw.write(&format!(
        "{yaml}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: other}}
spec:
  hosts: [other.example.com]
  gateways: [edge]
  http:
  - directResponse: {{status: 204}}
"
    ));
    assert_eq!(gw.gw.reload().await, Ok(2));
    assert_eq!(
        status_of(gw.get("x", "/")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The other VirtualService has no policy.
    assert_eq!(
        status_of(gw.get("other.example.com", "/")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(backend.count(), 2);
    let _ = &mut gw;
}

/// LD-07, shortened: 100 req/s offered about 1 000 req/s for 3 s. A token bucket admits its
/// burst (100) once, then exactly the rate: the admissions after the first second are within
/// ±5 % of 100 per second, and the total within the burst plus the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_limit_holds_its_rate_under_ten_times_the_load() {
    let backend = Backend::start("app").await;
    let gw = TestGateway::start_with(
        &config(
            backend.port(),
            "    local:\n      rules:\n      - limit: {requests: 100, unit: Second}\n",
        ),
        |o| o.workers = 2,
    )
    .await;
    let req = gw.get("x", "/");
    let start = Instant::now();
    let run = Duration::from_secs(3);
    let senders: Vec<_> = (0..10)
        .map(|_| {
            let req = req.clone();
            tokio::spawn(async move {
                let mut admitted = Vec::new();
                let mut offered = 0usize;
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                while start.elapsed() < run {
                    tick.tick().await;
                    let sent = start.elapsed();
                    offered += 1;
                    let status = req.clone().send().await.expect("response").status;
                    if status == StatusCode::OK {
                        admitted.push(sent);
                    } else {
                        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                    }
                }
                (offered, admitted)
            })
        })
        .collect();
    let mut offered = 0;
    let mut admitted = Vec::new();
    for s in senders {
        let (o, a) = s.await.unwrap();
        offered += o;
        admitted.extend(a);
    }
    let steady = admitted
        .iter()
        .filter(|t| **t >= Duration::from_secs(1))
        .count();
    eprintln!(
        "local limit 100/s: offered {offered} in 3 s, admitted {} ({steady} after the first second)",
        admitted.len()
    );
    assert!(offered > 1500, "offered only {offered}");
    assert!(
        (190..=210).contains(&steady),
        "steady-state admitted {steady}"
    );
    assert!(
        (300..=405).contains(&admitted.len()),
        "admitted {}",
        admitted.len()
    );
    assert_eq!(backend.count(), admitted.len());
}

/// A `rampart run` process, killed on drop.
struct Process {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rampart run` on `yaml` (with `${GW_PORT}` filled in) and waits for `/ready`.
async fn rampart_run(yaml: &str, extra: &[&str]) -> Process {
    let port = free_port();
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let file = temp_dir().join("c.yaml");
    std::fs::write(&file, yaml.replace("${GW_PORT}", &port.to_string())).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args([
            "run",
            "--config",
            file.to_str().unwrap(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--workers", "1", "--admin", &admin.to_string()])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .expect("start rampart run");
    let p = Process {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        admin,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = Request::get(p.admin, "/ready").send().await {
            if r.status == StatusCode::OK {
                return p;
            }
        }
        assert!(
            Instant::now() < deadline,
            "rampart run did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Redis windows are aligned to the wall clock: a bounded run must not straddle the end of
/// an hour, so wait it out in the rare case the run would.
async fn clear_of_hour_boundary(run: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_hour = Duration::from_secs(now.as_secs() % 3600);
    let left = Duration::from_secs(3600) - into_hour;
    if left < run {
        tokio::time::sleep(left + Duration::from_secs(1)).await;
    }
}

/// The acceptance test: two gateway processes, one real Redis, limit 300/hour, 1 200
/// requests offered through both at once: together they admit within 10 % of 300.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_limit_is_shared_by_two_gateway_processes() {
    let redis = Redis::start();
    let backend = Backend::start("app").await;
    let yaml = config(
        backend.port(),
        "    type: Global\n    global:\n      rules:\n      - limit: {requests: 300, unit: Hour}\n",
    );
    let redis_flag = [
        "--rate-limit-redis",
        &redis.url(),
        "--rate-limit-timeout",
        "200ms",
    ];
    let a = rampart_run(&yaml, &redis_flag).await;
    let b = rampart_run(&yaml, &redis_flag).await;
    clear_of_hour_boundary(Duration::from_secs(60)).await;
    let started = Instant::now();
    let tasks: Vec<_> = [
        a.addr, b.addr, a.addr, b.addr, a.addr, b.addr, a.addr, b.addr,
    ]
    .into_iter()
    .map(|addr| {
        tokio::spawn(async move {
            let mut by_status = BTreeMap::new();
            for _ in 0..150 {
                let r = Request::get(addr, "/").host("x").send().await.unwrap();
                *by_status.entry(r.status.as_u16()).or_insert(0usize) += 1;
            }
            by_status
        })
    })
    .collect();
    let mut per_gateway = [0usize; 2];
    let mut limited = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let counts = t.await.unwrap();
        per_gateway[i % 2] += counts.get(&200).copied().unwrap_or(0);
        limited += counts.get(&429).copied().unwrap_or(0);
        assert_eq!(
            counts.keys().filter(|s| ![200, 429].contains(s)).count(),
            0,
            "{counts:?}"
        );
    }
    let admitted = per_gateway[0] + per_gateway[1];
    eprintln!(
        "global limit 300/h over two processes: admitted {admitted} ({} + {}), refused {limited}, in {:?}",
        per_gateway[0],
        per_gateway[1],
        started.elapsed()
    );
    assert!((270..=330).contains(&admitted), "admitted {admitted}");
    assert!(per_gateway[0] > 0 && per_gateway[1] > 0, "{per_gateway:?}");
    assert_eq!(backend.count(), admitted);
    // The refusals carry the shared window's headers.
    let r = Request::get(b.addr, "/").host("x").send().await.unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("x-ratelimit-limit"), "300, 300;w=3600");
    assert!(r.header("retry-after").parse::<u64>().unwrap() <= 3600);
    let m = Request::get(a.admin, "/stats/prometheus")
        .send()
        .await
        .unwrap()
        .body;
    assert!(
        m.contains("rampart_ratelimit_redis_errors_total{failure_mode=\"allow\"} 0"),
        "{m}"
    );
}

/// FT-13: Redis stops mid-test. Failing open (the default), global rules admit, local rules
/// still count, each request waits at most the Redis timeout, and the errors are counted.
#[tokio::test]
async fn redis_down_fails_open_and_local_limits_still_apply() {
    let mut redis = Redis::start();
    let backend = Backend::start("app").await;
    let gw = TestGateway::start_with(
        &config(
            backend.port(),
            "    local:
      rules:
      - limit: {requests: 6, unit: Hour}
    global:
      rules:
      - limit: {requests: 2, unit: Hour}
",
        ),
        |o| o.rate_limit_global = Some(global_settings(&redis, false)),
    )
    .await;
    clear_of_hour_boundary(Duration::from_secs(30)).await;
    assert_eq!(status_of(gw.get("x", "/")).await, StatusCode::OK);
    assert_eq!(status_of(gw.get("x", "/")).await, StatusCode::OK);
    assert_eq!(
        status_of(gw.get("x", "/")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    redis.stop();
    assert!(!redis.ping());
    for _ in 0..3 {
        let sent = Instant::now();
        assert_eq!(status_of(gw.get("x", "/")).await, StatusCode::OK);
        assert!(
            sent.elapsed() < Duration::from_millis(500),
            "{:?}",
            sent.elapsed()
        );
    }
    // The local rule (6/hour) has counted all six.
    assert_eq!(
        status_of(gw.get("x", "/")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(backend.count(), 5);
    let m = metrics(&gw).await;
    let errors = m
        .lines()
        .find_map(|l| {
            l.strip_prefix("rampart_ratelimit_redis_errors_total{failure_mode=\"allow\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{m}"));
    assert!(errors >= 3, "{m}");
    assert!(
        m.contains("rampart_ratelimit_requests_total{policy=\"default/rl\",result=\"error\"} 3"),
        "{m}"
    );
}

/// Failing closed (Envoy Gateway's `failClosed`), a Redis outage refuses with 500.
#[tokio::test]
async fn redis_down_fails_closed_when_configured() {
    let mut redis = Redis::start();
    let backend = Backend::start("app").await;
    let gw = TestGateway::start_with(
        &config(
            backend.port(),
            "    global:\n      rules:\n      - limit: {requests: 100, unit: Hour}\n",
        ),
        |o| o.rate_limit_global = Some(global_settings(&redis, true)),
    )
    .await;
    // Redis answers: served (retry while the first connection is still being opened).
    let served = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..100 {
        if status_of(gw.get("x", "/")).await == StatusCode::OK {
            served.store(true, std::sync::atomic::Ordering::SeqCst);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eventually("a request served while Redis is up", || {
        served.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    redis.stop();
    let resp = gw.get("x", "/").send().await.unwrap();
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    let m = metrics(&gw).await;
    assert!(
        m.contains("rampart_ratelimit_redis_errors_total{failure_mode=\"deny\"} "),
        "{m}"
    );
    assert!(
        !m.contains("rampart_ratelimit_redis_errors_total{failure_mode=\"deny\"} 0\n"),
        "{m}"
    );
}

/// Global rules need a Redis server: without one the configuration is refused, naming the field.
#[tokio::test]
async fn global_limits_without_redis_are_a_configuration_error() {
    let file = temp_dir().join("c.yaml");
    let yaml = config(
        9,
        "    type: Global\n    global:\n      rules:\n      - limit: {requests: 1, unit: Second}\n",
    );
    std::fs::write(&file, yaml.replace("${GW_PORT}", &free_port().to_string())).unwrap();
    let mut opts = GatewayOptions::new(vec![file.clone()]);
    opts.identity.bind = "127.0.0.1".parse().unwrap();
    let err = match Gateway::start(opts).await {
        Ok(_) => panic!("started without Redis"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("BackendTrafficPolicy default/rl: spec.rateLimit.global: global rate limits need a Redis server"),
        "{err}"
    );
    assert!(err.contains(&format!("{}:", file.display())), "{err}");
}
