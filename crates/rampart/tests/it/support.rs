//! A gateway under test: config written to a temporary directory, listeners on 127.0.0.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart::{Gateway, GatewayOptions};
use rampart_testkit::{free_port, Request, Response};

pub struct TestGateway {
    pub gw: Gateway,
    /// The gateway's HTTP listener.
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub file: PathBuf,
    port: u16,
}

/// A fresh, empty temporary directory.
pub fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-it-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl TestGateway {
    /// Starts a gateway on `yaml`, where `${GW_PORT}` becomes the listener port.
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_with(yaml, |_| {}).await
    }

    /// Same, with options adjusted by `tweak`.
    pub async fn start_with(yaml: &str, tweak: impl FnOnce(&mut GatewayOptions)) -> TestGateway {
        let port = free_port();
        let file = temp_dir().join("config.yaml");
        std::fs::write(&file, yaml.replace("${GW_PORT}", &port.to_string())).expect("write config");
        let mut opts = GatewayOptions::new(vec![file.clone()]);
        opts.admin = Some("127.0.0.1:0".parse().unwrap());
        opts.identity.bind = "127.0.0.1".parse().unwrap();
        tweak(&mut opts);
        let gw = Gateway::start(opts).await.expect("gateway starts");
        let admin = gw.admin_addr.expect("admin addr");
        TestGateway {
            gw,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            admin,
            file,
            port,
        }
    }

    /// Replaces the configuration file (same `${GW_PORT}`).
    pub fn write(&self, yaml: &str) {
        std::fs::write(
            &self.file,
            yaml.replace("${GW_PORT}", &self.port.to_string()),
        )
        .expect("write config");
    }

    /// `GET path` with `Host: host` through the gateway.
    pub fn get(&self, host: &str, path: &str) -> Request {
        Request::get(self.addr, path).host(host)
    }

    /// `GET path` on the admin port.
    pub async fn admin(&self, path: &str) -> Response {
        Request::get(self.admin, path)
            .send()
            .await
            .expect("admin answers")
    }

    /// The body of admin page `path` once `ready` holds for it (bounded: panics after 10 s,
    /// showing the last body).
    pub async fn admin_until(&self, path: &str, ready: impl Fn(&str) -> bool) -> String {
        poll_until(async || {
            let body = self.admin(path).await.body;
            if ready(&body) {
                Ok(body)
            } else {
                Err(format!("{path} never became as expected:\n{body}"))
            }
        })
        .await
    }
}

/// Sends `n` copies of `req` and counts answers by body.
pub async fn tally(req: &Request, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        let resp = req.clone().send().await.expect("response");
        *counts
            .entry(format!("{} {}", resp.status.as_u16(), resp.body))
            .or_insert(0) += 1;
    }
    counts
}

/// The scenarios' shared Gateway (G0).
pub const G0: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${GW_PORT}, name: http, protocol: HTTP}
    hosts: ["*"]
"#;

/// A ServiceEntry for `host` with one labelled endpoint per (port, version).
pub fn service(name: &str, host: &str, endpoints: &[(u16, &str)]) -> String {
    let mut eps = String::new();
    for (port, version) in endpoints {
        eps.push_str(&format!(
            "  - {{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{version: {version}}}}}\n"
        ));
    }
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints:
{eps}"
    )
}

/// A DestinationRule with one subset per version label.
pub fn subsets(name: &str, host: &str, versions: &[&str]) -> String {
    let mut s = String::new();
    for v in versions {
        s.push_str(&format!("  - {{name: {v}, labels: {{version: {v}}}}}\n"));
    }
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}}}
spec:
  host: {host}
  subsets:
{s}"
    )
}

/// A VirtualService `app` binding every host on `edge` to one destination (inline YAML).
pub fn vs_to(destination: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{{destination: {destination}}}]
"
    )
}

/// A STATIC ServiceEntry `app` (`app.default.svc.cluster.local`, port 80 speaking `protocol`)
/// with one endpoint on 127.0.0.1:`port`.
pub fn app_service(port: u16, protocol: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [app.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: main, protocol: {protocol}}}]
  endpoints: [{{address: 127.0.0.1, ports: {{main: {port}}}}}]
"
    )
}

/// G0 plus the STATIC ServiceEntry `app` on 127.0.0.1:`port` and a VirtualService sending every
/// host to it: the smallest working gateway.
pub fn app_config(port: u16) -> String {
    format!(
        "{G0}{}{}",
        app_service(port, "HTTP"),
        vs_to("{host: app.default.svc.cluster.local}")
    )
}

/// The access-log lines in `file` once there are at least `n` (bounded: panics after 10 s; the
/// writer flushes every 100 ms).
pub async fn log_lines(file: &std::path::Path, n: usize) -> Vec<String> {
    poll_until(async || {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            Ok(lines)
        } else {
            Err(format!("only {} access-log lines, want {n}", lines.len()))
        }
    })
    .await
}

/// Polls `cond` until it holds (bounded: panics after 10 s).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    poll_until(async || {
        if cond() {
            Ok(())
        } else {
            Err(format!("timed out waiting for {what}"))
        }
    })
    .await
}

/// Polls `probe` every 10 ms until it yields a value; after 10 s, panics with what its last
/// try said.
async fn poll_until<T>(mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(why) => assert!(std::time::Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A STATIC ServiceEntry `app` (`app.default.svc.cluster.local`, port 9080 named `http`) with
/// these endpoint lines (flow-style YAML list items, e.g.
/// `  - {address: 127.0.0.1, ports: {http: 8080}}\n`).
pub fn app_with_endpoints(endpoints: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [app.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints:
{endpoints}"
    )
}

/// A backend that answers `healthy` normally and `failing` while the returned switch is on.
pub async fn switchable(
    name: &str,
    healthy: rampart_testkit::Reply,
    failing: rampart_testkit::Reply,
    start_failing: bool,
) -> (
    rampart_testkit::Backend,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let switch = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(start_failing));
    let on = switch.clone();
    let backend = rampart_testkit::Backend::with(name, move |_| {
        if on.load(std::sync::atomic::Ordering::SeqCst) {
            failing.clone()
        } else {
            healthy.clone()
        }
    })
    .await;
    (backend, switch)
}
