//! A real `prometheus` server on a free loopback port, for metrics tests: it scrapes the gateway
//! under test and answers PromQL over its HTTP API. Nothing is mocked: when `prometheus` is not
//! installed the test fails and says how to install it, unless `RAMPART_SKIP_PROMETHEUS=1` is set
//! (see [`Prometheus::required`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::client::Request;

/// The environment variable that lets a test skip when `prometheus` is absent.
pub const SKIP_ENV: &str = "RAMPART_SKIP_PROMETHEUS";

/// A running `prometheus` (its storage in a temporary directory), killed on drop.
pub struct Prometheus {
    /// Its HTTP address (API and `/-/ready`) on 127.0.0.1.
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

/// Whether `prometheus` is on `PATH`.
pub fn installed() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A scrape configuration: `job` scraping `targets` at `metrics_path`, everything every second.
pub fn scrape_config(job: &str, targets: &[SocketAddr], metrics_path: &str) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {job}
    metrics_path: {metrics_path}
    static_configs:
      - targets: [{}]
",
        targets.join(", ")
    )
}

impl Prometheus {
    /// Whether a test that needs `prometheus` should run: true when it is installed; false (after
    /// saying why on standard error) when it is absent and `RAMPART_SKIP_PROMETHEUS=1` is set.
    ///
    /// # Panics
    /// When it is absent and skipping was not asked for.
    pub fn required(test: &str) -> bool {
        if installed() {
            return true;
        }
        if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
            eprintln!(
                "SKIPPED {test}: `prometheus` is not installed and {SKIP_ENV}=1 is set \
                 (install it with apt-get install prometheus, or run scripts/test.sh)"
            );
            return false;
        }
        panic!(
            "{test} needs a real Prometheus but `prometheus` is not on PATH: install it \
             (apt-get install prometheus) or run scripts/test.sh, which does; \
             set {SKIP_ENV}=1 to skip this test instead"
        )
    }

    /// Starts `prometheus` scraping `job` at `targets`' `metrics_path` every second (see
    /// [`scrape_config`]) and waits until it is ready.
    pub async fn start(job: &str, targets: &[SocketAddr], metrics_path: &str) -> Self {
        Self::start_with_config(&scrape_config(job, targets, metrics_path)).await
    }

    /// Starts `prometheus` with this configuration file content and waits for `/-/ready`.
    ///
    /// # Panics
    /// When `prometheus` is missing, exits, or is not ready within 30 s (its log is in the
    /// message).
    pub async fn start_with_config(config: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rampart-prometheus-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("prometheus temp dir");
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        // The port was free a moment ago; another process may take it first: try a few.
        let mut why = String::new();
        for _ in 0..3 {
            let addr = SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
            let mut child = spawn(&dir, addr);
            match wait_ready(&mut child, addr, &dir, Duration::from_secs(30)).await {
                Ok(()) => {
                    return Self {
                        addr,
                        dir,
                        child: Some(child),
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    why = e;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("prometheus did not become ready: {why}")
    }

    /// The last 4 KiB of Prometheus' own log (for failure messages).
    pub fn log(&self) -> String {
        log_tail(&self.dir)
    }

    /// `GET path` on Prometheus' HTTP API, parsed as JSON.
    ///
    /// # Panics
    /// When Prometheus does not answer or the body is not JSON.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let resp = Request::get(self.addr, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("prometheus does not answer {path}: {e}"));
        serde_json::from_str(&resp.body).unwrap_or_else(|e| {
            panic!(
                "prometheus answered {path} with {} and no JSON ({e}): {}",
                resp.status, resp.body
            )
        })
    }

    /// An instant PromQL query evaluated now: the whole API answer (`status`, `data`, `error`).
    pub async fn query(&self, promql: &str) -> serde_json::Value {
        self.api(&format!("/api/v1/query?query={}", encode(promql)))
            .await
    }

    /// An instant PromQL query evaluated at `time` (Unix seconds).
    pub async fn query_at(&self, promql: &str, time: f64) -> serde_json::Value {
        self.api(&format!(
            "/api/v1/query?query={}&time={time:.3}",
            encode(promql)
        ))
        .await
    }

    /// The result of a successful instant query as (labels, value) pairs; values Prometheus
    /// renders as `NaN` or `±Inf` come back as such.
    ///
    /// # Panics
    /// When the query fails (the error is in the message) or its result is not a vector.
    pub fn vector(answer: &serde_json::Value) -> Vec<(serde_json::Value, f64)> {
        assert_eq!(answer["status"], "success", "query failed: {answer}");
        assert_eq!(
            answer["data"]["resultType"], "vector",
            "not a vector: {answer}"
        );
        answer["data"]["result"]
            .as_array()
            .expect("result array")
            .iter()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("no value in {s}"));
                (s["metric"].clone(), value)
            })
            .collect()
    }

    /// The directory holding the configuration, storage and log (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills Prometheus, waits for it to exit and removes its directory (kept, and named on
    /// standard error, when a test is failing).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!(
                    "prometheus configuration, data and log kept in {}",
                    self.dir.display()
                );
            } else {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `/-/ready` until it answers 200; on failure says why, with the end of the log.
async fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    dir: &Path,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status})\n{}", log_tail(dir)));
        }
        if let Ok(resp) = Request::get(addr, "/-/ready").send().await {
            if resp.status == 200 {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "/-/ready on {addr} not 200 after {within:?}\n{}",
                log_tail(dir)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last 4 KiB of the log in `dir`.
fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
    let start = log.len().saturating_sub(4096);
    let start = (start..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(log.len());
    log[start..].to_string()
}

fn spawn(dir: &Path, addr: SocketAddr) -> Child {
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log file");
    Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start prometheus ({e}): metrics tests need a real Prometheus; \
                 install it (apt-get install prometheus) or run scripts/test.sh, which does"
            )
        })
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters are kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("sum(rate(x{a=\"5..\"}[1m])) / 2"),
            "sum%28rate%28x%7Ba%3D%225..%22%7D%5B1m%5D%29%29%20%2F%202"
        );
    }

    #[test]
    fn the_scrape_config_scrapes_every_second() {
        let c = scrape_config(
            "rampart",
            &["127.0.0.1:15000".parse().unwrap()],
            "/stats/prometheus",
        );
        assert!(c.contains("scrape_interval: 1s"), "{c}");
        assert!(c.contains("evaluation_interval: 1s"), "{c}");
        assert!(c.contains("metrics_path: /stats/prometheus"), "{c}");
        assert!(c.contains("targets: [\"127.0.0.1:15000\"]"), "{c}");
    }
}
