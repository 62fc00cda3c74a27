//! `rampart status [--admin ADDR]`: reads a running gateway's admin port and prints its
//! configuration version, routes, clusters with endpoint health, and golden signals (traffic,
//! errors, latency) in tables.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// Prints the status of the gateway whose admin port is `admin`; returns the exit code.
pub fn run(admin: SocketAddr) -> anyhow::Result<i32> {
    let dump: Value = serde_json::from_str(&get(admin, "/config_dump")?)?;
    let clusters: Value = serde_json::from_str(&get(admin, "/clusters?format=json")?)?;
    let metrics = get(admin, "/stats/prometheus")?;
    print!("{}", render(admin, &dump, &clusters, &metrics));
    Ok(0)
}

/// One admin GET over HTTP/1.0 (the body, or an error naming the path).
fn get(admin: SocketAddr, path: &str) -> anyhow::Result<String> {
    let err = |e: std::io::Error| anyhow::anyhow!("admin {admin}{path}: {e}");
    let mut s = TcpStream::connect_timeout(&admin, Duration::from_secs(3)).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {admin}\r\n\r\n").map_err(err)?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(err)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("admin {admin}{path}: not an HTTP response"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        let status = head.lines().next().unwrap_or_default();
        anyhow::bail!("admin {admin}{path}: {status}");
    }
    Ok(body.to_string())
}

/// The whole report.
fn render(admin: SocketAddr, dump: &Value, clusters: &Value, metrics: &str) -> String {
    let mut out = String::new();
    let reload = &dump["lastReload"];
    let _ = writeln!(
        out,
        "Gateway admin {admin}: config version {}, last reload {}",
        dump["version"],
        if reload["rejected"] == true {
            "REJECTED"
        } else {
            "ok"
        }
    );
    if let Some(messages) = reload["messages"].as_array().filter(|m| !m.is_empty()) {
        for m in messages {
            let _ = writeln!(out, "  {}", m.as_str().unwrap_or_default());
        }
    }
    out.push('\n');
    let mut routes = vec![row(["LISTENER", "HOST", "ROUTE", "ACTION"])];
    for l in dump["config"]["listeners"].as_array().into_iter().flatten() {
        for vh in l["virtualHosts"].as_array().into_iter().flatten() {
            for r in vh["routes"].as_array().into_iter().flatten() {
                routes.push(row([
                    text(&l["address"]),
                    text(&vh["domain"]),
                    text(&r["name"]),
                    action(&r["action"]),
                ]));
            }
        }
    }
    table(&mut out, &routes);
    out.push('\n');
    let mut rows = vec![row([
        "CLUSTER",
        "ENDPOINTS",
        "HEALTHY",
        "RQ TOTAL",
        "RQ ACTIVE",
        "EJECTIONS",
    ])];
    for c in clusters["clusters"].as_array().into_iter().flatten() {
        let eps = c["endpoints"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let healthy = eps.iter().filter(|e| e["health"] == "healthy").count();
        let sum = |field: &str| eps.iter().filter_map(|e| e[field].as_u64()).sum::<u64>();
        rows.push(row([
            text(&c["name"]),
            eps.len().to_string(),
            healthy.to_string(),
            sum("rqTotal").to_string(),
            sum("rqActive").to_string(),
            sum("ejectionsTotal").to_string(),
        ]));
    }
    table(&mut out, &rows);
    out.push('\n');
    let signals = Signals::parse(metrics);
    let _ = writeln!(
        out,
        "Requests {}  4xx {}  5xx {} ({:.1}%)  p50 {}  p99 {}",
        signals.total,
        signals.client_errors,
        signals.server_errors,
        signals.error_percent(),
        signals
            .quantile(0.5)
            .map_or("-".into(), |ms| format!("≤ {ms} ms")),
        signals
            .quantile(0.99)
            .map_or("-".into(), |ms| format!("≤ {ms} ms")),
    );
    out
}

fn row<const N: usize>(cells: [impl Into<String>; N]) -> Vec<String> {
    cells.into_iter().map(Into::into).collect()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// A route's action in a few words: destinations with weights, a redirect or a direct response.
fn action(a: &Value) -> String {
    if let Some(dests) = a["forward"].as_array() {
        return dests
            .iter()
            .map(|d| format!("{} ({})", text(&d["destination"]), d["weight"]))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(r) = a.get("redirect") {
        return format!("redirect {}", r["status"]);
    }
    if let Some(d) = a.get("directResponse") {
        return format!("direct response {}", d["status"]);
    }
    "-".into()
}

/// Left-aligned columns, two spaces apart.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// Traffic, errors and latency summed over `istio_requests_total` and
/// `istio_request_duration_milliseconds`.
#[derive(Debug, Default)]
struct Signals {
    total: u64,
    client_errors: u64,
    server_errors: u64,
    /// Upper bound (ms) → cumulative count, summed over every series.
    buckets: Vec<(f64, u64)>,
}

impl Signals {
    fn parse(metrics: &str) -> Self {
        let mut s = Signals::default();
        for line in metrics.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: u64 = value.parse::<f64>().map_or(0, |v| v as u64);
            if series.starts_with("istio_requests_total{") {
                s.total += value;
                match label(series, "response_code").and_then(|c| c.chars().next()) {
                    Some('4') => s.client_errors += value,
                    Some('5') => s.server_errors += value,
                    _ => {}
                }
            } else if series.starts_with("istio_request_duration_milliseconds_bucket{") {
                let le = match label(series, "le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => le.parse().unwrap_or(f64::INFINITY),
                    None => continue,
                };
                match s.buckets.iter_mut().find(|(b, _)| *b == le) {
                    Some((_, n)) => *n += value,
                    None => s.buckets.push((le, value)),
                }
            }
        }
        s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        s
    }

    fn error_percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.server_errors as f64 / self.total as f64
        }
    }

    /// The smallest bucket bound that holds quantile `q` of the requests.
    fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.buckets.last()?.1;
        if count == 0 {
            return None;
        }
        let rank = (q * count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank)
            .map(|(le, _)| *le)
            .filter(|le| le.is_finite())
    }
}

/// The value of `name="…"` in a series' labels.
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let at = series.find(&format!("{name}=\""))? + name.len() + 2;
    series[at..].split('"').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_signals_from_istio_series() {
        let text = "# TYPE istio_requests_total counter
istio_requests_total{reporter=\"source\",response_code=\"200\"} 90
istio_requests_total{reporter=\"source\",response_code=\"503\"} 10
istio_request_duration_milliseconds_bucket{a=\"x\",le=\"1\"} 40
istio_request_duration_milliseconds_bucket{a=\"x\",le=\"5\"} 80
istio_request_duration_milliseconds_bucket{a=\"x\",le=\"+Inf\"} 90
istio_request_duration_milliseconds_bucket{a=\"y\",le=\"1\"} 0
istio_request_duration_milliseconds_bucket{a=\"y\",le=\"5\"} 9
istio_request_duration_milliseconds_bucket{a=\"y\",le=\"+Inf\"} 10
";
        let s = Signals::parse(text);
        assert_eq!((s.total, s.server_errors), (100, 10));
        assert!((s.error_percent() - 10.0).abs() < 1e-9);
        assert_eq!(s.quantile(0.5), Some(5.0));
        assert_eq!(s.quantile(0.3), Some(1.0));
        assert_eq!(s.quantile(0.99), None, "beyond the last finite bucket");
    }
}
