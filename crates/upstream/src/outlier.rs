//! Passive health checking (Envoy outlier detection, Istio `outlierDetection`): endpoints that
//! fail too many requests in a row leave the load balancer for a while.
//!
//! The proxy reports every attempt's outcome with [`Cluster::record_outcome`]. Reaching a
//! consecutive-error threshold ejects the endpoint at once, unless `maxEjectionPercent` of the
//! cluster is already out (one endpoint may always be ejected). An ejection lasts
//! `baseEjectionTime` × the number of times the endpoint has been ejected, capped at
//! `max_ejection_time`; a sweeper running every `interval` brings endpoints back and lets the
//! multiplier decay while they stay healthy. Health lives on the [`Endpoint`], which outlives
//! reloads, so an ejection survives a configuration change.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use rampart_model::OutlierSpec;

use crate::cluster::{Cluster, ClusterState};
use crate::endpoint::Endpoint;

/// How an attempt on an endpoint ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered with this status.
    Response(u16),
    /// Connect failure, reset or timeout before an answer (Envoy's locally originated errors).
    LocalFailure,
}

/// Health of one endpoint: passive (ejection) and active (health checks).
#[derive(Debug)]
pub struct EndpointHealth {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    consecutive_local: AtomicU32,
    /// Milliseconds since [`epoch`] until which the endpoint is ejected; 0 = not ejected.
    ejected_until: AtomicU64,
    /// Times ejected (the ejection-time multiplier; decays while healthy).
    ejections: AtomicU32,
    /// Verdict of active health checking (true until a checker says otherwise).
    pub(crate) checked_healthy: AtomicBool,
    pub(crate) check_failures_in_row: AtomicU32,
    pub(crate) check_passes_in_row: AtomicU32,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        Self {
            consecutive_5xx: AtomicU32::new(0),
            consecutive_gateway: AtomicU32::new(0),
            consecutive_local: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            checked_healthy: AtomicBool::new(true),
            check_failures_in_row: AtomicU32::new(0),
            check_passes_in_row: AtomicU32::new(0),
        }
    }
}

impl EndpointHealth {
    /// Ejected by outlier detection now.
    pub fn is_ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Acquire) != 0
    }

    /// Failed active health checking.
    pub fn failed_health_check(&self) -> bool {
        !self.checked_healthy.load(Ordering::Acquire)
    }

    /// May take traffic.
    pub fn is_healthy(&self) -> bool {
        !self.is_ejected() && !self.failed_health_check()
    }

    /// Times ejected (the current ejection multiplier).
    pub fn ejection_multiplier(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Envoy's `health_flags` text for `/clusters`.
    pub fn flags(&self) -> &'static str {
        match (self.is_ejected(), self.failed_health_check()) {
            (false, false) => "healthy",
            (true, false) => "/failed_outlier_check",
            (false, true) => "/failed_active_hc",
            (true, true) => "/failed_active_hc/failed_outlier_check",
        }
    }

    fn reset_errors(&self) {
        for counter in [
            &self.consecutive_5xx,
            &self.consecutive_gateway,
            &self.consecutive_local,
        ] {
            if counter.load(Ordering::Relaxed) != 0 {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// Outlier-detection and health-checking counters of a cluster (Envoy names in the docs).
#[derive(Debug, Default)]
pub struct HealthStats {
    /// `outlier_detection.ejections_enforced_total`.
    pub ejections_enforced: AtomicU64,
    /// `outlier_detection.ejections_overflow`: ejections refused by `maxEjectionPercent`.
    pub ejections_overflow: AtomicU64,
    /// `health_check.attempt`.
    pub checks: AtomicU64,
    /// `health_check.failure`: probes that failed.
    pub check_failures: AtomicU64,
    /// Endpoints that turned unhealthy under active checks.
    pub became_unhealthy: AtomicU64,
    /// Endpoints that turned healthy again under active checks.
    pub became_healthy: AtomicU64,
}

/// Milliseconds since the first call (a process-wide monotonic clock, never 0 after start).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| Instant::now() - Duration::from_millis(1));
    epoch.elapsed().as_millis() as u64
}

impl Cluster {
    /// Records how an attempt on `endpoint` ended; may eject it. Costs a branch when the
    /// cluster has no outlier detection, and a load or two on success.
    pub fn record_outcome(&self, state: &ClusterState, endpoint: &Arc<Endpoint>, outcome: Outcome) {
        let Some(od) = &state.spec.outlier else {
            return;
        };
        let h = &endpoint.health;
        let code = match outcome {
            Outcome::Response(code) => code,
            Outcome::LocalFailure if od.split_local_origin => {
                let n = h.consecutive_local.fetch_add(1, Ordering::Relaxed) + 1;
                if od.consecutive_local_origin > 0 && n >= od.consecutive_local_origin {
                    self.eject(state, endpoint, od);
                }
                return;
            }
            // Not split: a local failure counts as the 503 Envoy turns it into.
            Outcome::LocalFailure => 503,
        };
        let error = if od.error_codes.is_empty() {
            code >= 500
        } else {
            od.error_codes.contains(&code)
        };
        if !error {
            h.reset_errors();
            return;
        }
        let n5 = h.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
        let ngw = if matches!(code, 502..=504) {
            h.consecutive_gateway.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            h.consecutive_gateway.store(0, Ordering::Relaxed);
            0
        };
        if (od.consecutive_5xx > 0 && n5 >= od.consecutive_5xx)
            || (od.consecutive_gateway > 0 && ngw >= od.consecutive_gateway)
        {
            self.eject(state, endpoint, od);
        }
    }

    fn eject(&self, state: &ClusterState, endpoint: &Arc<Endpoint>, od: &OutlierSpec) {
        let h = &endpoint.health;
        h.reset_errors();
        if h.is_ejected() {
            return;
        }
        let total = state.endpoints.len();
        let ejected = state
            .endpoints
            .iter()
            .filter(|e| e.health.is_ejected())
            .count();
        if ejected > 0 && (ejected + 1) * 100 > total * od.max_ejection_percent as usize {
            self.health_stats
                .ejections_overflow
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let times = h.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let length = od
            .base_ejection_time
            .saturating_mul(times)
            .min(od.max_ejection_time);
        let until = now_ms() + length.as_millis().max(1) as u64;
        if h.ejected_until
            .compare_exchange(0, until, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        self.health_stats
            .ejections_enforced
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(cluster = %self.key, endpoint = %endpoint.address, seconds = length.as_secs_f64(), "outlier ejected");
        self.refresh_health();
    }

    /// Brings back endpoints whose ejection ended, and lets the ejection multiplier of
    /// healthy endpoints decay. Returns whether anything changed.
    pub fn sweep_outliers(&self) -> bool {
        let state = self.state();
        let now = now_ms();
        let mut changed = false;
        for ep in &state.endpoints {
            let h = &ep.health;
            let until = h.ejected_until.load(Ordering::Acquire);
            if until != 0 {
                if now >= until
                    && h.ejected_until
                        .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    tracing::info!(cluster = %self.key, endpoint = %ep.address, "outlier returned");
                    changed = true;
                }
            } else if h.ejections.load(Ordering::Relaxed) > 0
                && h.consecutive_5xx.load(Ordering::Relaxed) == 0
            {
                let _ = h
                    .ejections
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            }
        }
        if changed {
            self.refresh_health();
        }
        changed
    }

    /// Endpoints ejected now.
    pub fn ejections_active(&self) -> usize {
        self.state()
            .endpoints
            .iter()
            .filter(|e| e.health.is_ejected())
            .count()
    }
}

/// Runs the cluster's sweeper every `interval` until the cluster is dropped.
pub async fn sweep(cluster: Weak<Cluster>) {
    loop {
        let interval = match cluster.upgrade() {
            Some(c) => c
                .state()
                .spec
                .outlier
                .as_ref()
                .map_or(Duration::from_secs(1), |od| od.interval),
            None => return,
        };
        tokio::time::sleep(interval).await;
        match cluster.upgrade() {
            Some(c) => {
                c.sweep_outliers();
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::test_support::{outlier, spec};

    fn cluster(ports: &[u16], od: OutlierSpec) -> Cluster {
        let mut spec = spec(ports);
        spec.outlier = Some(od);
        Cluster::new(spec, 1)
    }

    fn fail(c: &Cluster, port: u16, times: usize, outcome: Outcome) {
        for _ in 0..times {
            let state = c.state();
            let ep = state
                .endpoints
                .iter()
                .find(|e| e.address.port() == port)
                .unwrap()
                .clone();
            c.record_outcome(&state, &ep, outcome);
        }
    }

    fn picked(c: &Cluster) -> BTreeSet<u16> {
        let state = c.state();
        (0..30)
            .filter_map(|_| c.pick(&state, None).ok())
            .map(|e| e.address.port())
            .collect()
    }

    #[test]
    fn consecutive_5xx_eject_and_a_success_resets_the_count() {
        let c = cluster(&[1, 2, 3], outlier(3, 100));
        fail(&c, 1, 2, Outcome::Response(500));
        fail(&c, 1, 1, Outcome::Response(200));
        fail(&c, 1, 2, Outcome::Response(503));
        assert_eq!(c.ejections_active(), 0, "the success reset the streak");
        fail(&c, 1, 1, Outcome::LocalFailure);
        assert_eq!(
            c.ejections_active(),
            1,
            "a local failure counts as a 5xx when not split"
        );
        assert_eq!(picked(&c), BTreeSet::from([2, 3]));
        assert_eq!(c.health_stats.ejections_enforced.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn max_ejection_percent_caps_ejections_but_one_is_always_allowed() {
        let c = cluster(&[1, 2, 3], outlier(1, 10));
        fail(&c, 1, 1, Outcome::Response(500));
        fail(&c, 2, 1, Outcome::Response(500));
        assert_eq!(
            c.ejections_active(),
            1,
            "10 % of 3 still ejects one, not two"
        );
        assert_eq!(c.health_stats.ejections_overflow.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn with_every_endpoint_ejected_there_is_no_healthy_upstream_unless_panicking() {
        let c = cluster(&[1, 2], outlier(1, 100));
        fail(&c, 1, 1, Outcome::Response(502));
        fail(&c, 2, 1, Outcome::Response(502));
        assert!(matches!(
            c.pick(&c.state(), None),
            Err(crate::Error::NoHealthyUpstream)
        ));
        let mut od = outlier(1, 100);
        od.min_health_percent = 50;
        let c = cluster(&[1, 2], od);
        fail(&c, 1, 1, Outcome::Response(500));
        assert_eq!(picked(&c), BTreeSet::from([2]), "50 % healthy is not panic");
        fail(&c, 2, 1, Outcome::Response(500));
        assert_eq!(c.ejections_active(), 2);
        assert_eq!(
            picked(&c),
            BTreeSet::from([1, 2]),
            "panic mode ignores health"
        );
    }

    #[test]
    fn ejection_time_grows_with_each_ejection() {
        let c = cluster(&[1, 2], outlier(1, 100));
        fail(&c, 1, 1, Outcome::Response(500));
        let ep = c.state().endpoints[0].clone();
        let first = ep.health.ejected_until.load(Ordering::Relaxed) - now_ms();
        // Let the ejection run out rather than wait for it.
        ep.health.ejected_until.store(now_ms(), Ordering::Relaxed);
        assert!(c.sweep_outliers(), "returned after its ejection time");
        assert_eq!(c.ejections_active(), 0);
        fail(&c, 1, 1, Outcome::Response(500));
        assert_eq!(ep.health.ejection_multiplier(), 2);
        let second = ep.health.ejected_until.load(Ordering::Relaxed) - now_ms();
        assert!(
            second > first + 25_000,
            "30 s then 60 s: {first} ms, {second} ms"
        );
    }

    #[test]
    fn split_local_origin_errors_count_apart() {
        let mut od = outlier(5, 100);
        od.split_local_origin = true;
        od.consecutive_local_origin = 2;
        let c = cluster(&[1, 2], od);
        fail(&c, 1, 1, Outcome::LocalFailure);
        fail(&c, 1, 4, Outcome::Response(500));
        assert_eq!(c.ejections_active(), 0);
        fail(&c, 1, 1, Outcome::LocalFailure);
        assert_eq!(c.ejections_active(), 1);
    }

    #[test]
    fn ejection_survives_an_update_with_the_same_endpoints() {
        let c = cluster(&[1, 2], outlier(1, 100));
        fail(&c, 1, 1, Outcome::Response(500));
        let mut next = spec(&[1, 2]);
        next.lb = rampart_model::LbPolicy::Random;
        next.outlier = Some(outlier(1, 100));
        c.update(next);
        assert_eq!(c.ejections_active(), 1);
        assert_eq!(picked(&c), BTreeSet::from([2]));
    }

    #[test]
    fn a_failing_priority_spills_to_the_next() {
        let mut s = spec(&[1, 2, 3]);
        s.endpoints[2].priority = 1;
        s.outlier = Some(outlier(1, 100));
        let c = Cluster::new(s, 1);
        assert_eq!(
            picked(&c),
            BTreeSet::from([1, 2]),
            "priority 0 takes everything"
        );
        fail(&c, 1, 1, Outcome::Response(500));
        fail(&c, 2, 1, Outcome::Response(500));
        assert_eq!(picked(&c), BTreeSet::from([3]), "failover to priority 1");
    }
}
