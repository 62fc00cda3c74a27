//! A real Prometheus scrapes the gateway's admin `/stats/prometheus` every second: the rates it
//! computes agree with the traffic the test sent, and every query of the Grafana dashboard in
//! `deploy/grafana/` parses and returns series for traffic that includes errors, retries,
//! outlier ejections, circuit-breaker overflows, refusals, a TCP route and configuration reloads.
//!
//! `prometheus` must be installed (`scripts/test.sh` installs it); with it absent the test
//! fails, unless `RAMPART_SKIP_PROMETHEUS=1` is set, when it is skipped and says so.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_testkit::prometheus::Prometheus;
use rampart_testkit::tcp_echo::{EchoClient, TcpEcho};
use rampart_testkit::{free_port, Backend, Reply, Request};
use serde_json::Value;

use crate::support::{app_config, TestGateway};

/// The dashboard shipped in `deploy/grafana/`.
const DASHBOARD: &str = include_str!("../../../../deploy/grafana/rampart-dashboard.json");
/// The scrape configuration shipped in `deploy/prometheus/`.
const SCRAPE_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/prometheus/prometheus.yml"
);

/// How long the test sends traffic.
const LOAD: Duration = Duration::from_secs(5);
/// Concurrent HTTP and TCP clients during the load.
const CLIENTS: usize = 20;
/// The query the brief of the metrics work names: Istio's request rate of 200 responses.
const OK_RATE: &str = "sum(rate(istio_requests_total{response_code=\"200\"}[1m]))";

/// Seconds since the Unix epoch (Prometheus' time axis).
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// An HTTP ServiceEntry `name.default.svc.cluster.local` (port 80) with these endpoints.
fn http_service(name: &str, ports: &[u16]) -> String {
    let eps: String = ports
        .iter()
        .map(|p| format!("  - {{address: 127.0.0.1, ports: {{http: {p}}}}}\n"))
        .collect();
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints:
{eps}"
    )
}

/// Backends of the scenario (kept alive for the test).
struct Backends {
    app: Backend,
    flaky_good: Backend,
    flaky_bad: Backend,
    slow: Backend,
    echo: TcpEcho,
    /// Nothing listens there: connections are refused.
    dead: u16,
}

/// The gateway for every metric the dashboard charts: an HTTP server with routes `ok` (a
/// healthy backend), `dead` (a refused port: 503 UF,URX after Istio's default connect-failure
/// retries), `flaky` (one endpoint of two answers 503 and is ejected by outlier detection) and
/// `slow` (one connection and one pending request allowed: the rest overflow, 503 UO); and a TCP
/// server relaying to an echo server.
fn scenario(b: &Backends, tcp_port: u16) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: ${{GW_PORT}}, name: http, protocol: HTTP}}
    hosts: [\"*\"]
  - port: {{number: {tcp_port}, name: tcp, protocol: TCP}}
    hosts: [\"*\"]
{}{}{}{}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo}}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9000, name: tcp, protocol: TCP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{tcp: {echo}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: flaky}}
spec:
  host: flaky.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: {{simple: ROUND_ROBIN}}
    outlierDetection: {{consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 5m, maxEjectionPercent: 50}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: slow}}
spec:
  host: slow.default.svc.cluster.local
  trafficPolicy:
    connectionPool: {{tcp: {{maxConnections: 1}}, http: {{http1MaxPendingRequests: 1}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - name: dead
    match: [{{uri: {{prefix: /dead}}}}]
    route: [{{destination: {{host: dead.default.svc.cluster.local}}}}]
  - name: flaky
    match: [{{uri: {{prefix: /flaky}}}}]
    route: [{{destination: {{host: flaky.default.svc.cluster.local}}}}]
  - name: slow
    match: [{{uri: {{prefix: /slow}}}}]
    route: [{{destination: {{host: slow.default.svc.cluster.local}}}}]
  - name: ok
    route: [{{destination: {{host: app.default.svc.cluster.local}}}}]
  tcp:
  - match: [{{port: {tcp_port}}}]
    route: [{{destination: {{host: echo.default.svc.cluster.local, port: {{number: 9000}}}}}}]
",
        http_service("app", &[b.app.port()]),
        http_service("dead", &[b.dead]),
        http_service("flaky", &[b.flaky_good.port(), b.flaky_bad.port()]),
        http_service("slow", &[b.slow.port()]),
        echo = b.echo.port(),
    )
}

/// Waits until Prometheus holds a successful scrape of the gateway that started at or after
/// `after` (Unix seconds); returns that scrape's time. Bounded: 20 s.
async fn scrape_after(prom: &Prometheus, after: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = prom.query("timestamp(up{job=\"rampart\"} == 1)").await;
        if let Some(&(_, at)) = Prometheus::vector(&answer).first() {
            if at >= after {
                return at;
            }
        }
        if Instant::now() >= deadline {
            let targets = prom.api("/api/v1/targets").await;
            panic!(
                "no successful scrape of the gateway after {after}: targets {targets}\nlog:\n{}",
                prom.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `promql` evaluated at `time` until it returns a sample; returns its value.
/// Bounded: 10 s.
async fn value_at(prom: &Prometheus, promql: &str, time: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = prom.query_at(promql, time).await;
        if let Some(&(_, v)) = Prometheus::vector(&answer).first() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{promql} at {time} returned nothing: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Responses received during the load.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    other: AtomicU64,
    tcp_sessions: AtomicU64,
}

/// One client: sends `req` in a loop until `stop`, pausing `pause` after each answer that is not
/// a 200 (errors come back at once; the pause keeps them from crowding out the rest).
fn http_client(
    req: Request,
    pause: Duration,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            match req.clone().send().await {
                Ok(r) if r.status == 200 => {
                    tally.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {
                    tally.other.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                }
                Err(e) => panic!("no answer through the gateway: {e}"),
            }
        }
    })
}

/// One client alternating a TCP session through the gateway's TCP route and a request the
/// gateway refuses (a header name with `_`: 400).
fn misc_client(
    gw: SocketAddr,
    tcp: SocketAddr,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            tcp_session(tcp).await;
            tally.tcp_sessions.fetch_add(1, Ordering::Relaxed);
            let r = Request::get(gw, "/")
                .header("x_refused", "1")
                .send()
                .await
                .expect("an answer to a refused request");
            assert_eq!(r.status, 400, "a header name with `_` is refused");
            tally.other.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Connects through the TCP route, exchanges a line, half-closes and reads to the end.
async fn tcp_session(tcp: SocketAddr) {
    let mut c = EchoClient::connect(tcp).await.expect("tcp route connects");
    assert_eq!(c.exchange("hello").await.expect("echo"), "echo hello");
    assert_eq!(c.finish("bye").await.expect("echo"), "echo bye\n");
}

/// Every panel's targets (rows' nested panels included): (panel title, expressions).
fn panel_targets(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    fn walk(panels: &Value, out: &mut Vec<(String, Vec<String>)>) {
        for p in panels.as_array().into_iter().flatten() {
            if p["type"] == "row" {
                walk(&p["panels"], out);
                continue;
            }
            let exprs = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["expr"].as_str().expect("target expr").to_string())
                .collect();
            out.push((p["title"].as_str().expect("title").to_string(), exprs));
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// A dashboard expression as Prometheus runs it for "every instance, every destination" over
/// a one-minute rate window (what Grafana substitutes).
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1m")
        .replace("$instance", ".*")
        .replace("$destination", ".*")
}

/// Metric names (`istio_*`, `envoy_*`, `rampart_*`) an expression uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &expr[i..];
        if starts_word
            && ["istio_", "envoy_", "rampart_"]
                .iter()
                .any(|p| rest.starts_with(p))
        {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.insert(rest[..len].to_string());
            i += len;
        } else {
            i += 1;
        }
    }
    names
}

/// Every series name the gateway's exposition can hold: its `# TYPE` families, with
/// `_bucket`, `_sum` and `_count` for histograms.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_string());
        }
    }
    names
}

/// The dashboard is a Grafana dashboard on a `${datasource}` Prometheus variable, and every
/// metric its queries name is one the gateway exports (no Prometheus needed).
#[tokio::test]
async fn the_dashboard_queries_only_metrics_the_gateway_exports() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("dashboard is JSON");
    assert!(dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 36);
    let vars = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let datasource = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    let be = Backend::start("app").await;
    let gw = TestGateway::start(&app_config(be.port())).await;
    let exported = exported_names(&gw.admin("/stats/prometheus").await.body);

    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    let mut walk = vec![dashboard["panels"].clone()];
    while let Some(panels) = walk.pop() {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?");
            if !ids.insert(p["id"].as_u64().expect("panel id")) {
                problems.push(format!("{title}: duplicate id"));
            }
            if p["type"] == "row" {
                walk.push(p["panels"].clone());
                continue;
            }
            if p["datasource"]["uid"] != "${datasource}" {
                problems.push(format!("{title}: datasource is not ${{datasource}}"));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{title}: no targets"));
            }
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or("");
                let names = metric_names(expr);
                if names.is_empty() {
                    problems.push(format!("{title}: no metric in {expr}"));
                }
                for name in names.difference(&exported) {
                    problems.push(format!("{title}: {name} is not exported ({expr})"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The end-to-end check: scrape, rates, and every dashboard query against real traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_gateway_and_every_dashboard_query_returns_series() {
    if !Prometheus::required(
        "prometheus_scrapes_the_gateway_and_every_dashboard_query_returns_series",
    ) {
        return;
    }
    let started = Instant::now();
    // The shipped scrape configuration is valid (promtool comes with prometheus).
    let check = std::process::Command::new("promtool")
        .args(["check", "config", SCRAPE_CONFIG])
        .output()
        .expect("promtool (part of the prometheus package) runs");
    assert!(
        check.status.success(),
        "{SCRAPE_CONFIG}: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let backends = Backends {
        app: Backend::start("app").await,
        flaky_good: Backend::start("good").await,
        flaky_bad: Backend::with("bad", |_| Reply::new(503, "bad")).await,
        slow: Backend::with("slow", |_| {
            Reply::new(200, "slow").delayed(Duration::from_millis(200))
        })
        .await,
        echo: TcpEcho::start("echo").await,
        dead: free_port(),
    };
    let tcp_port = free_port();
    let yaml = scenario(&backends, tcp_port);
    let gw = TestGateway::start(&yaml).await;
    let tcp = SocketAddr::from(([127, 0, 0, 1], tcp_port));
    let prom = Prometheus::start("rampart", &[gw.admin], "/stats/prometheus").await;

    // Warm-up: one of each kind, so that every series exists before the load (a counter's
    // first sample is not counted by rate()). `flaky` sees at most one error: no ejection yet.
    for path in ["/", "/dead", "/flaky", "/slow"] {
        gw.get("h", path).send().await.expect("warm-up answer");
    }
    tcp_session(tcp).await;
    let refused = Request::get(gw.addr, "/")
        .header("x_refused", "1")
        .send()
        .await
        .expect("warm-up answer");
    assert_eq!(refused.status, 400);
    let baseline = scrape_after(&prom, unix_now()).await;

    // A rejected configuration, then an accepted one (the same as before).
    gw.write(&yaml.replace("route: [", "routes: ["));
    gw.gw
        .reload()
        .await
        .expect_err("a broken configuration is rejected");
    gw.write(&yaml);
    assert_eq!(gw.gw.reload().await, Ok(2));

    // The load: 20 clients for 5 s.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let pause = Duration::from_millis(20);
    let mut clients = Vec::new();
    let mix: [(&str, usize); 4] = [("/", 12), ("/dead", 2), ("/flaky", 2), ("/slow", 3)];
    for (path, n) in mix {
        for _ in 0..n {
            clients.push(http_client(
                gw.get("h", path),
                pause,
                stop.clone(),
                tally.clone(),
            ));
        }
    }
    clients.push(misc_client(gw.addr, tcp, stop.clone(), tally.clone()));
    assert_eq!(clients.len(), CLIENTS);
    let load_start = Instant::now();
    tokio::time::sleep(LOAD).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client finished");
    }
    let (elapsed, load_end) = (load_start.elapsed().as_secs_f64(), unix_now());
    let ok = tally.ok.load(Ordering::Relaxed);
    let other = tally.other.load(Ordering::Relaxed);
    let sessions = tally.tcp_sessions.load(Ordering::Relaxed);
    assert!(
        ok > 0 && other > 0 && sessions > 0,
        "{ok} {other} {sessions}"
    );
    let after = scrape_after(&prom, load_end).await;
    assert!(after - baseline < 60.0, "the load fits in one rate window");

    // The brief's query over the minute ending at the first scrape after the load: Prometheus'
    // rate() is the increase over the window divided by its 60 s, and every 200 of the load
    // (none other) falls in that window.
    let measured = ok as f64 / elapsed;
    let window_rate = value_at(&prom, OK_RATE, after).await;
    let expected = ok as f64 / 60.0;
    eprintln!(
        "{ok} x 200 in {elapsed:.1} s ({measured:.0}/s; {other} other answers, {sessions} TCP \
         sessions); Prometheus {OK_RATE} = {window_rate:.2}/s, expected {expected:.2}/s"
    );
    assert!(
        window_rate > expected / 3.0 && window_rate < expected * 3.0,
        "{OK_RATE} = {window_rate}, expected {expected} ({ok} responses over 60 s)"
    );
    // And over a window inside the load: the rate the clients saw.
    let inside = "sum(rate(istio_requests_total{response_code=\"200\"}[4s]))";
    let inside_rate = value_at(&prom, inside, load_end - 0.5).await;
    eprintln!("Prometheus {inside} at the end of the load = {inside_rate:.0}/s");
    assert!(
        inside_rate > measured / 3.0 && inside_rate < measured * 3.0,
        "{inside} = {inside_rate}, the clients measured {measured}"
    );

    // Every dashboard query, evaluated at the end of the load (gauges as they were then):
    // it parses and returns series, and every panel shows something other than zero.
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("dashboard is JSON");
    let at = load_end - 0.5;
    let mut problems = Vec::new();
    let mut queries = 0;
    for (title, exprs) in panel_targets(&dashboard) {
        let mut shows_something = false;
        for expr in &exprs {
            queries += 1;
            let promql = substitute(expr);
            let answer = prom.query_at(&promql, at).await;
            if answer["status"] != "success" {
                problems.push(format!("{title}: {promql}: {answer}"));
                continue;
            }
            let series = Prometheus::vector(&answer);
            if series.is_empty() {
                problems.push(format!("{title}: {promql}: no series"));
            }
            shows_something |= series.iter().any(|(_, v)| v.is_finite() && *v != 0.0);
        }
        if !shows_something {
            problems.push(format!("{title}: every series is zero"));
        }
    }
    // The template variables' `label_values(selector, label)` find values.
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        let Some(def) = var["definition"].as_str() else {
            continue;
        };
        let inner = def
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {}: {def}", var["name"]));
        let (selector, label) = inner.rsplit_once(',').expect("selector, label");
        let answer = prom.query_at(&substitute(selector.trim()), at).await;
        let label = label.trim();
        if !Prometheus::vector(&answer)
            .iter()
            .any(|(m, _)| m[label].is_string())
        {
            problems.push(format!("variable {}: no {label} in {answer}", var["name"]));
        }
    }
    assert!(queries >= 20, "{queries} dashboard queries");
    assert!(problems.is_empty(), "{problems:#?}");
    eprintln!(
        "{queries} dashboard queries checked; the test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
