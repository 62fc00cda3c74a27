//! Per-route resilience: `retries` (or Istio's default policy), `fault` and `mirror(s)`.

use http::StatusCode;
use rampart_config::networking::{HttpFaultInjection, HttpRetry, HttpRoute, VirtualService};
use rampart_config::{parse_duration, Resource};
use rampart_model::route::{Abort, Fault, Mirror, RetryOn, RetryPolicy, Share, DEFAULT_BACKOFF};

use crate::routes::RouteCx;

/// The retry policy in force: `retries` with Istio's conversion, or the default policy.
pub fn retry_policy(retries: Option<&HttpRetry>) -> RetryPolicy {
    let Some(r) = retries else {
        return RetryPolicy::istio_default();
    };
    let attempts = r.attempts.unwrap_or(0).max(0) as u32;
    if attempts == 0 {
        return RetryPolicy::disabled();
    }
    let mut policy = RetryPolicy::istio_default();
    policy.attempts = attempts;
    policy.per_try_timeout = r
        .per_try_timeout
        .as_deref()
        .and_then(|t| parse_duration(t).ok())
        .filter(|d| !d.is_zero());
    if let Some(on) = r.retry_on.as_deref().filter(|s| !s.trim().is_empty()) {
        // Istio: the list replaces the default conditions; bare status numbers become
        // retriable status codes, and `retriable-status-codes` is implied by them.
        let mut retry_on = RetryOn::NONE;
        let mut codes = Vec::new();
        for token in on.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if let Ok(code) = token.parse::<u16>() {
                codes.push(code);
                retry_on |= RetryOn::RETRIABLE_STATUS_CODES;
            } else if let Some(cond) = RetryOn::from_token(token) {
                retry_on |= cond;
            }
        }
        codes.sort_unstable();
        codes.dedup();
        policy.retry_on = retry_on;
        policy.status_codes = codes.into();
    }
    policy.backoff = r
        .backoff
        .as_deref()
        .and_then(|b| parse_duration(b).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_BACKOFF);
    policy.retry_previous_hosts = r.retry_ignore_previous_hosts.unwrap_or(true);
    policy.retry_remote_localities = r.retry_remote_localities.unwrap_or(false);
    policy
}

/// `fault`, compiled; `None` when it injects nothing.
pub fn fault(f: Option<&HttpFaultInjection>) -> Option<Box<Fault>> {
    let f = f?;
    // Istio: no percentage means no request is faulted; the deprecated integer `percent` is
    // honoured for delays.
    let delay = f.delay.as_ref().and_then(|d| {
        let after = parse_duration(d.fixed_delay.as_deref()?).ok()?;
        let percent = match (&d.percentage, d.percent) {
            (Some(p), _) => p.value,
            (None, Some(p)) => f64::from(p),
            (None, None) => 0.0,
        };
        Some((after, Share { percent }))
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let what = match (a.http_status, a.grpc_status.as_deref()) {
            (Some(s), _) => Abort::Http(StatusCode::from_u16(s as u16).ok()?),
            (None, Some(name)) => Abort::Grpc(grpc_code(name)?),
            (None, None) => return None,
        };
        let percent = a.percentage.as_ref().map_or(0.0, |p| p.value);
        Some((what, Share { percent }))
    });
    if delay.is_none() && abort.is_none() {
        return None;
    }
    Some(Box::new(Fault { delay, abort }))
}

/// The numeric code of a gRPC status name.
fn grpc_code(name: &str) -> Option<u8> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u8)
}

/// `mirror` (with `mirrorPercentage`/`mirrorPercent`) and `mirrors`, resolved to clusters.
pub fn mirrors(
    cx: &mut RouteCx<'_, '_>,
    vs: &Resource<VirtualService>,
    rule: &HttpRoute,
    path: &str,
    route_name: &str,
) -> Box<[Mirror]> {
    let mut out = Vec::new();
    if let Some(dest) = &rule.mirror {
        let percent = match (&rule.mirror_percentage, rule.mirror_percent) {
            (Some(p), _) => p.value,
            (None, Some(p)) => f64::from(p),
            (None, None) => 100.0,
        };
        out.push((dest, percent, format!("{path}.mirror")));
    }
    for (i, m) in rule.mirrors.iter().enumerate() {
        let percent = m.percentage.as_ref().map_or(100.0, |p| p.value);
        out.push((
            &m.destination,
            percent,
            format!("{path}.mirrors[{i}].destination"),
        ));
    }
    out.into_iter()
        .map(|(dest, percent, at)| {
            let resolved = cx.clusters.resolve(dest, vs, &at, cx.diags);
            let version = resolved.subset.clone().unwrap_or_else(|| "unknown".into());
            Mirror {
                cluster: resolved.cluster,
                share: Share { percent },
                stat: cx.stats.id(route_name, &resolved.host, &version),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(yaml: &str) -> RetryPolicy {
        let r: HttpRetry = serde_json::from_str(yaml).unwrap();
        retry_policy(Some(&r))
    }

    #[test]
    fn absent_retries_mean_istio_default() {
        let p = retry_policy(None);
        assert_eq!(p.attempts, 2);
        assert!(p
            .retry_on
            .contains(RetryOn::CONNECT_FAILURE | RetryOn::REFUSED_STREAM));
        assert!(!p.retry_on.intersects(RetryOn::FIVE_XX | RetryOn::RESET));
        assert!(p.status_codes.is_empty());
    }

    #[test]
    fn zero_attempts_disable_retries() {
        assert_eq!(retry(r#"{"attempts": 0}"#).attempts, 0);
    }

    #[test]
    fn attempts_without_retry_on_keep_default_conditions() {
        let p = retry(r#"{"attempts": 3, "perTryTimeout": "2s"}"#);
        assert_eq!(p.attempts, 3);
        assert_eq!(p.per_try_timeout, Some(std::time::Duration::from_secs(2)));
        assert_eq!(p.retry_on, RetryPolicy::istio_default().retry_on);
    }

    #[test]
    fn status_numbers_become_retriable_codes() {
        let p = retry(r#"{"attempts": 2, "retryOn": "503, reset,429,503", "backoff": "100ms"}"#);
        assert_eq!(&*p.status_codes, &[429, 503]);
        assert_eq!(p.retry_on, RetryOn::RETRIABLE_STATUS_CODES | RetryOn::RESET);
        assert_eq!(p.backoff, std::time::Duration::from_millis(100));
    }

    #[test]
    fn fault_without_percentage_faults_nothing() {
        let f: HttpFaultInjection =
            serde_json::from_str(r#"{"abort": {"httpStatus": 500}}"#).unwrap();
        let compiled = fault(Some(&f)).unwrap();
        let (what, share) = compiled.abort.unwrap();
        assert_eq!(what, Abort::Http(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!share.hit(0.0));
    }

    #[test]
    fn grpc_abort_uses_the_numeric_code() {
        let f: HttpFaultInjection = serde_json::from_str(
            r#"{"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 100}}}"#,
        )
        .unwrap();
        let (what, share) = fault(Some(&f)).unwrap().abort.unwrap();
        assert_eq!(what, Abort::Grpc(14));
        assert!(share.hit(0.999));
    }
}
