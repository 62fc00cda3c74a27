//! `/stats/prometheus`: Istio's request metrics plus Rampart's own.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use rampart_proxy::headers::Refusal;
use rampart_telemetry::render::{escape_label, render, Workload};
use rampart_upstream::Endpoint;

use crate::status::AdminState;

/// Prometheus text exposition.
pub fn prometheus(state: &AdminState) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let workload = Workload {
        name: &state.workload,
        namespace: &state.workload_namespace,
    };
    render(&mut out, &state.stats, &workload);
    let status = state.status.load();
    let _ = writeln!(
        out,
        "# HELP rampart_config_reloads_total Configurations loaded and served."
    );
    let _ = writeln!(out, "# TYPE rampart_config_reloads_total counter");
    let _ = writeln!(
        out,
        "rampart_config_reloads_total {}",
        state.reloads.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# HELP rampart_config_reload_failures_total Configurations rejected (the last good one kept serving).");
    let _ = writeln!(out, "# TYPE rampart_config_reload_failures_total counter");
    let _ = writeln!(
        out,
        "rampart_config_reload_failures_total {}",
        state.reload_failures.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP rampart_config_version Version of the configuration being served."
    );
    let _ = writeln!(out, "# TYPE rampart_config_version gauge");
    let _ = writeln!(out, "rampart_config_version {}", status.version);
    if let Some(log) = &state.shared.options.access_log {
        let _ = writeln!(
            out,
            "# HELP rampart_access_log_dropped_total Access-log lines dropped because the writer fell behind."
        );
        let _ = writeln!(out, "# TYPE rampart_access_log_dropped_total counter");
        let _ = writeln!(
            out,
            "rampart_access_log_dropped_total {}",
            log.dropped.load(Ordering::Relaxed)
        );
    }
    if let Some(tracer) = &state.shared.options.tracer {
        tracer.render_prometheus(&mut out);
    }
    let _ = writeln!(
        out,
        "# HELP rampart_downstream_cx_active Downstream connections open."
    );
    let _ = writeln!(out, "# TYPE rampart_downstream_cx_active gauge");
    let _ = writeln!(
        out,
        "rampart_downstream_cx_active {}",
        state.shared.connections.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP rampart_downstream_rejected_total Requests refused by the gateway itself (malformed, unauthenticated, unauthorized), by reason."
    );
    let _ = writeln!(out, "# TYPE rampart_downstream_rejected_total counter");
    for refusal in Refusal::ALL {
        let _ = writeln!(
            out,
            "rampart_downstream_rejected_total{{reason=\"{}\"}} {}",
            refusal.reason(),
            state.shared.rejected[refusal as usize].load(Ordering::Relaxed)
        );
    }
    jwks(&mut out, &state.shared.jwks.stats());
    let mut clusters: Vec<_> = state.shared.registry.clusters().values().cloned().collect();
    clusters.sort_by(|a, b| a.key.cmp(&b.key));
    let series = [
        (
            "rampart_upstream_rq_total",
            "Requests sent to the cluster's endpoints.",
        ),
        ("rampart_upstream_cx_total", "Upstream connections opened."),
        (
            "rampart_upstream_cx_connect_fail_total",
            "Upstream connection attempts that failed.",
        ),
        ("rampart_upstream_rq_active", "Upstream requests in flight."),
        (
            "rampart_upstream_no_healthy_total",
            "Requests that found no endpoint.",
        ),
    ];
    for (i, (name, help)) in series.iter().enumerate() {
        let kind = if i == 3 { "gauge" } else { "counter" };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for c in &clusters {
            let st = c.state();
            let sum = |f: &dyn Fn(&Endpoint) -> u64| st.endpoints.iter().map(|e| f(e)).sum::<u64>();
            let value = match i {
                0 => sum(&|e| e.requests.load(Ordering::Relaxed)),
                1 => sum(&|e| e.connections.load(Ordering::Relaxed)),
                2 => sum(&|e| e.connect_failures.load(Ordering::Relaxed)),
                3 => sum(&|e| u64::from(e.active_requests())),
                _ => c.no_healthy_upstream.load(Ordering::Relaxed),
            };
            let _ = writeln!(out, "{name}{{cluster_name=\"{}\"}} {value}", c.key);
        }
    }
    crate::load::prometheus(&mut out, &clusters);
    crate::health::prometheus(&mut out, &clusters);
    state.shared.rate_limits.render(&mut out);
    out
}

/// JWKS caches: fetches by outcome, unknown-`kid` refetches and keys held, per `jwksUri`.
fn jwks(out: &mut String, stats: &[rampart_jwt::JwksStats]) {
    type Value = fn(&rampart_jwt::JwksStats) -> u64;
    let families: [(&str, &str, &str, &[(&str, Value)]); 3] = [
        (
            "rampart_jwks_fetch_total",
            "counter",
            "JWKS fetches by jwksUri and result.",
            &[
                (",result=\"success\"", |s| s.fetch_success),
                (",result=\"failure\"", |s| s.fetch_failure),
            ],
        ),
        (
            "rampart_jwks_kid_refetch_total",
            "counter",
            "Extra JWKS fetches caused by an unknown kid.",
            &[("", |s| s.kid_refetches)],
        ),
        (
            "rampart_jwks_keys",
            "gauge",
            "Keys held (the last good set is kept while fetches fail).",
            &[("", |s| s.keys as u64)],
        ),
    ];
    if stats.is_empty() {
        return;
    }
    for (name, kind, help, series) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in stats {
            let uri = escape_label(&s.uri);
            for (labels, value) in series {
                let _ = writeln!(out, "{name}{{uri=\"{uri}\"{labels}}} {}", value(s));
            }
        }
    }
}
