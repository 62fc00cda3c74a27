//! Cluster-level resilience settings from a DestinationRule: `connectionPool` (circuit breakers
//! and connection lifetimes), `retryBudget` and `outlierDetection`, with Istio's defaults.

use std::time::Duration;

use rampart_config::networking::{ConnectionPoolSettings, OutlierDetection, RetryBudget};
use rampart_config::parse_duration;
use rampart_model::{OutlierSpec, PoolSettings, TcpKeepalive, UNLIMITED};

/// Envoy's cap on one ejection (`max_ejection_time`).
const MAX_EJECTION_TIME: Duration = Duration::from_secs(300);

fn duration(s: Option<&str>) -> Option<Duration> {
    s.and_then(|s| parse_duration(s).ok())
}

/// A positive proto int threshold, or Istio's unlimited default (0 and unset mean "default").
fn threshold(v: Option<i32>) -> u32 {
    match v {
        Some(n) if n > 0 => n as u32,
        _ => UNLIMITED,
    }
}

/// `connectionPool` and `retryBudget` as circuit-breaker thresholds.
pub fn pool_settings(
    pool: Option<&ConnectionPoolSettings>,
    budget: Option<&RetryBudget>,
) -> PoolSettings {
    let mut out = PoolSettings::default();
    if let Some(tcp) = pool.and_then(|p| p.tcp.as_ref()) {
        out.max_connections = threshold(tcp.max_connections);
        out.max_connection_duration =
            duration(tcp.max_connection_duration.as_deref()).filter(|d| !d.is_zero());
        if let Some(idle) = duration(tcp.idle_timeout.as_deref()) {
            // `0s` disables the idle timeout.
            out.tcp_idle_timeout = (!idle.is_zero()).then_some(idle);
        }
        out.tcp_keepalive = tcp.tcp_keepalive.as_ref().map(|k| TcpKeepalive {
            probes: k.probes.filter(|&p| p > 0),
            time: duration(k.time.as_deref()).filter(|d| !d.is_zero()),
            interval: duration(k.interval.as_deref()).filter(|d| !d.is_zero()),
        });
    }
    if let Some(http) = pool.and_then(|p| p.http.as_ref()) {
        out.max_pending_requests = threshold(http.http1_max_pending_requests);
        out.max_requests = threshold(http.http2_max_requests);
        out.max_retries = threshold(http.max_retries);
        out.max_requests_per_connection =
            http.max_requests_per_connection.unwrap_or(0).max(0) as u32;
        out.max_concurrent_streams = http.max_concurrent_streams.unwrap_or(0).max(0) as u32;
        if let Some(idle) = duration(http.idle_timeout.as_deref()) {
            // `0s` disables the idle timeout.
            out.idle_timeout = if idle.is_zero() { Duration::MAX } else { idle };
        }
        out.http2_keepalive = http.http2_keep_alive.as_ref().and_then(|k| {
            Some((
                duration(k.interval.as_deref())?,
                duration(k.timeout.as_deref())?,
            ))
        });
    }
    // `connectionPool.http.retryBudget` (the form this project's issue names) or
    // `trafficPolicy.retryBudget` (Istio's API); validation refuses both in one policy.
    let budget = pool
        .and_then(|p| p.http.as_ref()?.retry_budget.as_ref())
        .or(budget);
    out.retry_budget = budget.map(|b| rampart_model::RetryBudget {
        percent: b.percent.unwrap_or(20.0),
        min_concurrency: b.min_retry_concurrency.unwrap_or(3),
    });
    out
}

/// `outlierDetection` with Istio's (and Envoy's) defaults.
pub fn outlier(od: &OutlierDetection) -> OutlierSpec {
    let base_ejection_time =
        duration(od.base_ejection_time.as_deref()).unwrap_or(Duration::from_secs(30));
    OutlierSpec {
        consecutive_5xx: od
            .consecutive_5xx_errors
            .or(od.consecutive_errors.map(|n| n.max(0) as u32))
            .unwrap_or(5),
        consecutive_gateway: od.consecutive_gateway_errors.unwrap_or(0),
        consecutive_local_origin: od.consecutive_local_origin_failures.unwrap_or(5),
        split_local_origin: od.split_external_local_origin_errors,
        interval: duration(od.interval.as_deref())
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(10)),
        base_ejection_time,
        max_ejection_time: MAX_EJECTION_TIME.max(base_ejection_time),
        max_ejection_percent: match od.max_ejection_percent {
            Some(p) if p > 0 => p.min(100) as u32,
            _ => 10,
        },
        min_health_percent: od.min_health_percent.unwrap_or(0).clamp(0, 100) as u32,
        error_codes: od
            .outlier_detection_http_error_codes
            .iter()
            .map(|&c| c as u16)
            .collect(),
    }
}
