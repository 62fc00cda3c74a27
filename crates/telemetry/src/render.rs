//! Prometheus text rendering of the request stats, with Istio's metric and label names.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::stats::{RequestStats, StatKey, StatsRegistry, DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES};

/// Labels every Istio request metric carries for a gateway-reported request.
pub struct Workload<'a> {
    /// `source_workload` (the gateway's name).
    pub name: &'a str,
    /// `source_workload_namespace`.
    pub namespace: &'a str,
}

/// A Prometheus label value: backslash, quote and newline escaped.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `destination_service_name` and `_namespace` from a `name.namespace.svc.…` host.
fn service_parts(host: &str) -> (&str, &str) {
    let mut parts = host.split('.');
    let name = parts.next().unwrap_or("unknown");
    match (parts.next(), parts.next()) {
        (Some(ns), Some("svc")) => (name, ns),
        _ => (host, "unknown"),
    }
}

/// Renders `istio_requests_total`, `istio_request_duration_milliseconds`,
/// `rampart_route_requests_total` and the `istio_tcp_*` families into `out`.
pub fn render(out: &mut String, stats: &StatsRegistry, workload: &Workload<'_>) {
    let all = stats.all();
    render_requests(out, &all, workload);
    render_tcp(out, &all, workload);
}

/// The destination labels of a stats handle.
fn destination_labels(key: &StatKey) -> String {
    let (svc_name, svc_ns) = service_parts(&key.destination_service);
    format!(
        "destination_service=\"{}\",destination_service_name=\"{}\",destination_service_namespace=\"{}\",destination_version=\"{}\"",
        escape_label(&key.destination_service),
        escape_label(svc_name),
        escape_label(svc_ns),
        escape_label(&key.destination_version)
    )
}

/// `reporter`, the `source_*` labels, `request_protocol` and the labels a gateway cannot know
/// (peer identities, clusters), as Istio reports them from a gateway: `unknown`.
fn source_labels(workload: &Workload<'_>, protocol: &str) -> String {
    let name = escape_label(workload.name);
    format!(
        "reporter=\"source\",source_workload=\"{name}\",source_canonical_service=\"{name}\",source_canonical_revision=\"latest\",source_workload_namespace=\"{}\",source_principal=\"unknown\",source_app=\"{name}\",source_version=\"unknown\",source_cluster=\"unknown\",destination_principal=\"unknown\",destination_cluster=\"unknown\",request_protocol=\"{protocol}\",connection_security_policy=\"unknown\"",
        escape_label(workload.namespace)
    )
}

/// The destination labels of Istio's metrics: Rampart's, plus the workload and canonical-service
/// labels derived from the service (the endpoints' workloads are not tracked per request).
fn istio_destination_labels(key: &StatKey) -> String {
    let (svc_name, svc_ns) = service_parts(&key.destination_service);
    let revision = match &*key.destination_version {
        "unknown" => "latest",
        v => v,
    };
    format!(
        "{},destination_workload=\"unknown\",destination_workload_namespace=\"{}\",destination_app=\"unknown\",destination_canonical_service=\"{}\",destination_canonical_revision=\"{}\"",
        destination_labels(key),
        escape_label(svc_ns),
        escape_label(svc_name),
        escape_label(revision)
    )
}

/// `istio_tcp_connections_opened_total`, `_closed_total` (by `response_flags`),
/// `istio_tcp_received_bytes_total` and `istio_tcp_sent_bytes_total`, summed per destination;
/// destinations that never had a connection are left out.
fn render_tcp(out: &mut String, all: &[Arc<RequestStats>], workload: &Workload<'_>) {
    let mut opened: BTreeMap<String, u64> = BTreeMap::new();
    let mut closed: BTreeMap<String, u64> = BTreeMap::new();
    let mut received: BTreeMap<String, u64> = BTreeMap::new();
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for s in all.iter().filter(|s| s.tcp.opened_total() > 0) {
        let dest = istio_destination_labels(&s.key);
        *opened.entry(dest.clone()).or_default() += s.tcp.opened_total();
        for (flags, count) in s.tcp.closed_counts() {
            *closed
                .entry(format!("{dest},response_flags=\"{flags}\""))
                .or_default() += count;
        }
        *received.entry(dest.clone()).or_default() += s.tcp.received_bytes.load(Ordering::Relaxed);
        *sent.entry(dest).or_default() += s.tcp.sent_bytes.load(Ordering::Relaxed);
    }
    let source = source_labels(workload, "tcp");
    let families = [
        (
            "istio_tcp_connections_opened_total",
            "TCP connections opened.",
            &opened,
        ),
        (
            "istio_tcp_connections_closed_total",
            "TCP connections closed.",
            &closed,
        ),
        (
            "istio_tcp_received_bytes_total",
            "Bytes received from TCP clients.",
            &received,
        ),
        (
            "istio_tcp_sent_bytes_total",
            "Bytes sent to TCP clients.",
            &sent,
        ),
    ];
    for (name, help, series) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (labels, value) in series {
            let _ = writeln!(out, "{name}{{{source},{labels}}} {value}");
        }
    }
}

fn render_requests(out: &mut String, all: &[Arc<RequestStats>], workload: &Workload<'_>) {
    // Istio's metrics have no route label: sum per destination label set.
    let mut istio: BTreeMap<String, u64> = BTreeMap::new();
    let mut durations: BTreeMap<String, (Vec<u64>, f64, u64)> = BTreeMap::new();
    let mut request_sizes = BTreeMap::new();
    let mut response_sizes = BTreeMap::new();
    let _ = writeln!(out, "# HELP rampart_route_requests_total Requests by route, destination, response code and flags.");
    let _ = writeln!(out, "# TYPE rampart_route_requests_total counter");
    for s in all {
        let dest = destination_labels(&s.key);
        let istio_dest = istio_destination_labels(&s.key);
        for (code, flags, count) in s.counts() {
            let _ = writeln!(
                out,
                "rampart_route_requests_total{{route=\"{}\",{dest},response_code=\"{code}\",response_flags=\"{flags}\"}} {count}",
                escape_label(&s.key.route)
            );
            *istio
                .entry(format!(
                    "{istio_dest},response_code=\"{code}\",response_flags=\"{flags}\",grpc_response_status=\"\""
                ))
                .or_default() += count;
        }
        accumulate(&mut durations, &istio_dest, s.histogram());
        accumulate(&mut request_sizes, &istio_dest, s.request_bytes.snapshot());
        accumulate(
            &mut response_sizes,
            &istio_dest,
            s.response_bytes.snapshot(),
        );
    }
    let source = source_labels(workload, "http");
    let _ = writeln!(
        out,
        "# HELP istio_requests_total Requests, as Istio counts them."
    );
    let _ = writeln!(out, "# TYPE istio_requests_total counter");
    for (labels, count) in &istio {
        let _ = writeln!(out, "istio_requests_total{{{source},{labels}}} {count}");
    }
    write_histogram(
        out,
        ("istio_request_duration_milliseconds", "Request duration."),
        &source,
        &DURATION_BUCKETS_MS,
        &durations,
    );
    write_histogram(
        out,
        (
            "istio_request_bytes",
            "Request sizes: head and declared body, in bytes.",
        ),
        &source,
        &SIZE_BUCKETS_BYTES,
        &request_sizes,
    );
    write_histogram(
        out,
        (
            "istio_response_bytes",
            "Response sizes: head and declared body, in bytes.",
        ),
        &source,
        &SIZE_BUCKETS_BYTES,
        &response_sizes,
    );
}

/// Adds a histogram snapshot into the per-label-set sums.
fn accumulate(
    into: &mut BTreeMap<String, (Vec<u64>, f64, u64)>,
    labels: &str,
    snap: (Vec<u64>, f64, u64),
) {
    let (buckets, sum, count) = snap;
    let entry = into
        .entry(labels.to_string())
        .or_insert_with(|| (vec![0; buckets.len()], 0.0, 0));
    for (acc, b) in entry.0.iter_mut().zip(buckets) {
        *acc += b;
    }
    entry.1 += sum;
    entry.2 += count;
}

/// One Prometheus histogram family: cumulative `_bucket`s, `_sum` and `_count` per label set.
fn write_histogram(
    out: &mut String,
    (name, help): (&str, &str),
    source: &str,
    bounds: &[f64],
    series: &BTreeMap<String, (Vec<u64>, f64, u64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (labels, (buckets, sum, count)) in series {
        let mut cumulative = 0;
        for (le, b) in bounds.iter().zip(buckets) {
            cumulative += b;
            let _ = writeln!(
                out,
                "{name}_bucket{{{source},{labels},le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{source},{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "{name}_sum{{{source},{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{source},{labels}}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{ResponseFlag, ResponseFlags};

    #[test]
    fn tcp_families_sum_per_destination() {
        let reg = StatsRegistry::default();
        let key = |route: &str| StatKey {
            route: route.into(),
            destination_service: "echo.default.svc.cluster.local".into(),
            destination_version: "v1".into(),
        };
        let handles = reg.resolve(&[key("a"), key("b")]);
        for h in handles.iter() {
            h.tcp.opened();
            h.tcp.received_bytes.fetch_add(5, Ordering::Relaxed);
        }
        handles[0].tcp.closed(ResponseFlags::NONE);
        handles[1]
            .tcp
            .closed(ResponseFlag::UpstreamConnectionFailure.into());
        let mut out = String::new();
        let workload = Workload {
            name: "gw",
            namespace: "istio-system",
        };
        render(&mut out, &reg, &workload);
        let line = |prefix: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix) && !l.starts_with('#'))
                .unwrap_or_else(|| panic!("no {prefix} in {out}"))
                .to_string()
        };
        let opened = line("istio_tcp_connections_opened_total{");
        assert!(opened.contains("request_protocol=\"tcp\""), "{opened}");
        assert!(
            opened.contains("destination_service_name=\"echo\""),
            "{opened}"
        );
        assert!(opened.ends_with(" 2"), "{opened}");
        assert!(line("istio_tcp_received_bytes_total{").ends_with(" 10"));
        assert!(out.contains("response_flags=\"UF\"} 1"), "{out}");
        assert!(out.contains("response_flags=\"-\"} 1"), "{out}");
        assert!(
            !out.contains("istio_requests_total{"),
            "no requests were made"
        );
    }
}
