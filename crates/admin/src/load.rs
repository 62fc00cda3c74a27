//! Circuit-breaker, retry and timeout counters of each cluster, under the names Istio's
//! sidecars export them (`envoy_cluster_<stat>{cluster_name="outbound|port|subset|host"}`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rampart_upstream::load::LoadStats;
use rampart_upstream::Cluster;

use crate::series::per_cluster;
use serde_json::json;

type Counter = fn(&LoadStats) -> &AtomicU64;

/// Counters: (Envoy stat name, help, field).
const COUNTERS: [(&str, &str, Counter); 11] = [
    ("upstream_cx_total", "Connections opened.", |s| &s.cx_total),
    (
        "upstream_cx_overflow",
        "Times maxConnections stopped a new connection.",
        |s| &s.cx_overflow,
    ),
    (
        "upstream_rq_pending_total",
        "Requests that waited for a connection.",
        |s| &s.pending_total,
    ),
    (
        "upstream_rq_pending_overflow",
        "Requests refused by http1MaxPendingRequests (503 UO).",
        |s| &s.pending_overflow,
    ),
    (
        "upstream_rq_overflow",
        "Requests refused by http2MaxRequests (503 UO).",
        |s| &s.rq_overflow,
    ),
    ("upstream_rq_retry", "Retries sent.", |s| &s.retries),
    (
        "upstream_rq_retry_success",
        "Retries whose answer was not retried again.",
        |s| &s.retry_success,
    ),
    (
        "upstream_rq_retry_overflow",
        "Retries refused by maxRetries or the retry budget.",
        |s| &s.retry_overflow,
    ),
    (
        "upstream_rq_retry_limit_exceeded",
        "Requests still failing after the last retry (URX).",
        |s| &s.retry_limit_exceeded,
    ),
    (
        "upstream_rq_timeout",
        "Requests that hit the route timeout (504 UT).",
        |s| &s.timeouts,
    ),
    (
        "upstream_rq_per_try_timeout",
        "Attempts that hit perTryTimeout.",
        |s| &s.per_try_timeouts,
    ),
];

/// Gauges: (Envoy stat name, help, reader).
const GAUGES: [(&str, &str, fn(&Cluster) -> u32); 6] = [
    (
        "membership_healthy",
        "Endpoints that may take traffic now.",
        |c| c.state().routable().count() as u32,
    ),
    ("membership_total", "Endpoints of the cluster.", |c| {
        c.state().endpoints.len() as u32
    }),
    ("upstream_cx_active", "Connections open.", |c| {
        c.load.connections()
    }),
    (
        "upstream_rq_pending_active",
        "Requests waiting for a connection.",
        |c| c.load.pending(),
    ),
    ("upstream_rq_active", "Requests in flight.", |c| {
        c.load.requests()
    }),
    ("upstream_rq_retry_active", "Retries in flight.", |c| {
        c.load.retries()
    }),
];

/// Appends the Prometheus series for `clusters`.
pub fn prometheus(out: &mut String, clusters: &[Arc<Cluster>]) {
    for (stat, help, field) in COUNTERS {
        per_cluster(out, "counter", stat, help, clusters, |c| {
            field(&c.load.stats).load(Ordering::Relaxed)
        });
    }
    for (stat, help, read) in GAUGES {
        per_cluster(out, "gauge", stat, help, clusters, |c| read(c) as u64);
    }
}

/// `/clusters` text lines: thresholds in force and live counters.
pub fn text(out: &mut String, name: &str, c: &Cluster) {
    let st = c.state();
    let p = &st.spec.pool;
    let limit = |v: u32| {
        if v == u32::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let _ = writeln!(
        out,
        "{name}::circuit_breakers::max_connections::{}",
        limit(p.max_connections)
    );
    let _ = writeln!(
        out,
        "{name}::circuit_breakers::max_pending_requests::{}",
        limit(p.max_pending_requests)
    );
    let _ = writeln!(
        out,
        "{name}::circuit_breakers::max_requests::{}",
        limit(p.max_requests)
    );
    let _ = writeln!(
        out,
        "{name}::circuit_breakers::max_retries::{}",
        limit(p.max_retries)
    );
    if let Some(b) = p.retry_budget {
        let _ = writeln!(
            out,
            "{name}::circuit_breakers::retry_budget::{}%,min {}",
            b.percent, b.min_concurrency
        );
    }
    for (stat, _, read) in GAUGES {
        let _ = writeln!(out, "{name}::{stat}::{}", read(c));
    }
    for (stat, _, field) in COUNTERS {
        let _ = writeln!(
            out,
            "{name}::{stat}::{}",
            field(&c.load.stats).load(Ordering::Relaxed)
        );
    }
}

/// `/clusters?format=json` fields.
pub fn json(c: &Cluster) -> serde_json::Value {
    let st = c.state();
    let p = &st.spec.pool;
    let mut counters = serde_json::Map::new();
    for (stat, _, read) in GAUGES {
        counters.insert(stat.to_string(), json!(read(c)));
    }
    for (stat, _, field) in COUNTERS {
        counters.insert(
            stat.to_string(),
            json!(field(&c.load.stats).load(Ordering::Relaxed)),
        );
    }
    json!({
        "circuitBreakers": {
            "maxConnections": p.max_connections,
            "maxPendingRequests": p.max_pending_requests,
            "maxRequests": p.max_requests,
            "maxRetries": p.max_retries,
            "retryBudget": p.retry_budget.map(|b| json!({"percent": b.percent, "minRetryConcurrency": b.min_concurrency})),
            "maxRequestsPerConnection": p.max_requests_per_connection,
        },
        "stats": counters,
    })
}
