//! Prometheus text rendering of the request stats, with Istio's metric and label names.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::stats::{StatsRegistry, DURATION_BUCKETS_MS};

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

/// Renders `istio_requests_total`, `istio_request_duration_milliseconds` and
/// `rampart_route_requests_total` into `out`.
pub fn render(out: &mut String, stats: &StatsRegistry, workload: &Workload<'_>) {
    let all = stats.all();
    // Istio's metrics have no route label: sum per destination label set.
    let mut istio: BTreeMap<String, u64> = BTreeMap::new();
    let mut durations: BTreeMap<String, (Vec<u64>, f64, u64)> = BTreeMap::new();
    let _ = writeln!(out, "# HELP rampart_route_requests_total Requests by route, destination, response code and flags.");
    let _ = writeln!(out, "# TYPE rampart_route_requests_total counter");
    for s in &all {
        let (svc_name, svc_ns) = service_parts(&s.key.destination_service);
        let dest = format!(
            "destination_service=\"{}\",destination_service_name=\"{}\",destination_service_namespace=\"{}\",destination_version=\"{}\"",
            escape_label(&s.key.destination_service),
            escape_label(svc_name),
            escape_label(svc_ns),
            escape_label(&s.key.destination_version)
        );
        for (code, flags, count) in s.counts() {
            let _ = writeln!(
                out,
                "rampart_route_requests_total{{route=\"{}\",{dest},response_code=\"{code}\",response_flags=\"{flags}\"}} {count}",
                escape_label(&s.key.route)
            );
            *istio
                .entry(format!(
                    "{dest},response_code=\"{code}\",response_flags=\"{flags}\""
                ))
                .or_default() += count;
        }
        let (buckets, sum, count) = s.histogram();
        let entry = durations
            .entry(dest)
            .or_insert_with(|| (vec![0; buckets.len()], 0.0, 0));
        for (acc, b) in entry.0.iter_mut().zip(buckets) {
            *acc += b;
        }
        entry.1 += sum;
        entry.2 += count;
    }
    let source = format!(
        "reporter=\"source\",source_workload=\"{}\",source_workload_namespace=\"{}\",request_protocol=\"http\"",
        escape_label(workload.name),
        escape_label(workload.namespace)
    );
    let _ = writeln!(
        out,
        "# HELP istio_requests_total Requests, as Istio counts them."
    );
    let _ = writeln!(out, "# TYPE istio_requests_total counter");
    for (labels, count) in &istio {
        let _ = writeln!(out, "istio_requests_total{{{source},{labels}}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP istio_request_duration_milliseconds Request duration."
    );
    let _ = writeln!(out, "# TYPE istio_request_duration_milliseconds histogram");
    for (labels, (buckets, sum, count)) in &durations {
        let mut cumulative = 0;
        for (le, b) in DURATION_BUCKETS_MS.iter().zip(buckets) {
            cumulative += b;
            let _ = writeln!(out, "istio_request_duration_milliseconds_bucket{{{source},{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "istio_request_duration_milliseconds_bucket{{{source},{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "istio_request_duration_milliseconds_sum{{{source},{labels}}} {sum}"
        );
        let _ = writeln!(
            out,
            "istio_request_duration_milliseconds_count{{{source},{labels}}} {count}"
        );
    }
}
