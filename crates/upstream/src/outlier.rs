//! Passive health checking (Envoy outlier detection, Istio `outlierDetection`): endpoints that
//! fail too many requests in a row leave the load balancer for a while.
//!
//! The proxy reports every attempt's outcome with [`Cluster::record_outcome`]. Reaching a
//! consecutive-error threshold ejects the endpoint at once, unless that would put more than
//! `maxEjectionPercent` of the cluster out (one endpoint may always be ejected). An ejection
//! lasts `baseEjectionTime` × the number of times the endpoint has been ejected, capped at
//! `max_ejection_time`; the [`sweep`] task, every `interval`, brings endpoints back and lets the
//! multiplier decay while they stay in. Health lives on the [`Endpoint`], which outlives
//! reloads, so an ejection survives a configuration change.
//!
//! Ejection deadlines are kept on the tokio clock (milliseconds since the cluster's creation),
//! so that tests drive them with `tokio::time::pause`/`advance`.

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rampart_model::{ClusterSpec, OutlierSpec};
use tokio::time::Instant;

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

/// The consecutive-error streak that triggered an ejection (Envoy's ejection types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Streak {
    Errors5xx,
    Gateway,
    LocalOrigin,
}

/// Health of one endpoint: passive (ejection) and active (health checks). All atomics, so
/// reporting an outcome never locks.
#[derive(Debug)]
pub struct EndpointHealth {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    consecutive_local: AtomicU32,
    /// Milliseconds on the cluster's clock until which the endpoint is ejected; 0 = not
    /// ejected. Set under the cluster's writer lock; cleared by the sweeper.
    ejected_until: AtomicU64,
    /// Times ejected, the ejection-time multiplier (Envoy's eject-time backoff): grows with
    /// each ejection while the time is below `max_ejection_time`, decays while healthy.
    ejections: AtomicU32,
    /// Times ejected since the endpoint was created (never decays).
    ejections_total: AtomicU64,
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
            ejections_total: AtomicU64::new(0),
            checked_healthy: AtomicBool::new(true),
            check_failures_in_row: AtomicU32::new(0),
            check_passes_in_row: AtomicU32::new(0),
        }
    }
}

impl EndpointHealth {
    /// Ejected by outlier detection now (Envoy `FAILED_OUTLIER_CHECK`).
    pub fn is_ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Acquire) != 0
    }

    /// Failed active health checking (Envoy `FAILED_ACTIVE_HC`).
    pub fn failed_health_check(&self) -> bool {
        !self.checked_healthy.load(Ordering::Acquire)
    }

    /// Neither ejected nor failing active health checks.
    pub fn is_healthy(&self) -> bool {
        !self.is_ejected() && !self.failed_health_check()
    }

    /// May take traffic under `spec`: only the checks `spec` configures count, so removing
    /// `outlierDetection` or the health check from the settings stops their verdicts at once.
    pub fn is_routable(&self, spec: &ClusterSpec) -> bool {
        (spec.outlier.is_none() || !self.is_ejected())
            && (spec.health_check.is_none() || !self.failed_health_check())
    }

    /// The current ejection-time multiplier (times ejected, less decay).
    pub fn ejection_multiplier(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Times ejected since the endpoint appeared.
    pub fn ejections_total(&self) -> u64 {
        self.ejections_total.load(Ordering::Relaxed)
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

    fn streak(&self, streak: Streak) -> &AtomicU32 {
        match streak {
            Streak::Errors5xx => &self.consecutive_5xx,
            Streak::Gateway => &self.consecutive_gateway,
            Streak::LocalOrigin => &self.consecutive_local,
        }
    }

    /// Adds an error to `streak`; true when it reached `threshold` (0 = never).
    fn count(&self, streak: Streak, threshold: u32) -> bool {
        let n = self.streak(streak).fetch_add(1, Ordering::Relaxed) + 1;
        threshold > 0 && n >= threshold
    }

    /// Ends `streak`; a plain load when it is already 0 (the success path), so a healthy
    /// endpoint's cache line is not written by every request.
    fn end(&self, streak: Streak) {
        let counter = self.streak(streak);
        if counter.load(Ordering::Relaxed) != 0 {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn end_all(&self) {
        for streak in [Streak::Errors5xx, Streak::Gateway, Streak::LocalOrigin] {
            self.end(streak);
        }
    }
}

/// Outlier-detection and health-checking counters of a cluster, under Envoy's stat names.
/// The gauges (`outlier_detection.ejections_active`, `health_check.healthy`) are counted from
/// the endpoints when read: see [`Cluster::ejections_active`] and
/// [`Cluster::health_check_healthy`].
#[derive(Debug, Default)]
pub struct HealthStats {
    /// `outlier_detection.ejections_enforced_total`.
    pub ejections_enforced: AtomicU64,
    /// `outlier_detection.ejections_enforced_consecutive_5xx`.
    pub ejections_enforced_5xx: AtomicU64,
    /// `outlier_detection.ejections_enforced_consecutive_gateway_failure`.
    pub ejections_enforced_gateway: AtomicU64,
    /// `outlier_detection.ejections_enforced_consecutive_local_origin_failure`.
    pub ejections_enforced_local_origin: AtomicU64,
    /// `outlier_detection.ejections_overflow`: ejections refused by `maxEjectionPercent`.
    pub ejections_overflow: AtomicU64,
    /// `health_check.attempt`.
    pub checks: AtomicU64,
    /// `health_check.success`: probes that passed.
    pub check_successes: AtomicU64,
    /// `health_check.failure`: probes that failed.
    pub check_failures: AtomicU64,
    /// Endpoints that turned unhealthy under active checks (no Envoy counterpart).
    pub became_unhealthy: AtomicU64,
    /// Endpoints that turned healthy again under active checks (no Envoy counterpart).
    pub became_healthy: AtomicU64,
}

impl Cluster {
    /// Records how an attempt on `endpoint` ended; may eject it. Locally generated answers
    /// (circuit-breaker overflow, no healthy upstream) must not be reported. Returns at once
    /// when the cluster has no outlier detection; a success costs a load or two.
    pub fn record_outcome(&self, state: &ClusterState, endpoint: &Arc<Endpoint>, outcome: Outcome) {
        let Some(od) = &state.spec.outlier else {
            return;
        };
        let h = &endpoint.health;
        let (error, gateway) = match outcome {
            Outcome::Response(code) => {
                if od.split_local_origin {
                    // A response means the connection worked: a local-origin success.
                    h.end(Streak::LocalOrigin);
                }
                let error = if od.error_codes.is_empty() {
                    code >= 500
                } else {
                    od.error_codes.contains(&code)
                };
                (error, matches!(code, 502..=504))
            }
            Outcome::LocalFailure if od.split_local_origin => {
                if h.count(Streak::LocalOrigin, od.consecutive_local_origin) {
                    self.eject(endpoint, od, Streak::LocalOrigin);
                }
                return;
            }
            // Not split: Envoy counts a local failure as the 503 (or 504) it answers with.
            Outcome::LocalFailure => (true, true),
        };
        // Envoy looks at the gateway streak first; the second trigger finds the endpoint out.
        if !gateway {
            h.end(Streak::Gateway);
        } else if h.count(Streak::Gateway, od.consecutive_gateway) {
            self.eject(endpoint, od, Streak::Gateway);
        }
        if !error {
            h.end(Streak::Errors5xx);
        } else if h.count(Streak::Errors5xx, od.consecutive_5xx) {
            self.eject(endpoint, od, Streak::Errors5xx);
        }
    }

    /// Ejects `endpoint` when `streak` reached its threshold, unless it is out already or
    /// `maxEjectionPercent` forbids it. Takes the writer lock, so that two ejections cannot
    /// both pass the percentage check.
    fn eject(&self, endpoint: &Arc<Endpoint>, od: &OutlierSpec, streak: Streak) {
        let h = &endpoint.health;
        // As Envoy does: a new streak can trigger again even without a success in between.
        h.end(streak);
        if h.is_ejected() {
            return;
        }
        let writer = self.lock_writer();
        let state = self.state();
        if h.is_ejected() || !state.endpoints.iter().any(|e| Arc::ptr_eq(e, endpoint)) {
            return; // Ejected meanwhile, or removed by a reload.
        }
        let ejected = state
            .endpoints
            .iter()
            .filter(|e| e.health.is_ejected())
            .count();
        if ejected >= max_ejected(state.endpoints.len(), od.max_ejection_percent) {
            self.health_stats
                .ejections_overflow
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Envoy's backoff: the multiplier grows only while the ejection time is below the cap.
        let mut times = h.ejections.load(Ordering::Relaxed);
        if od.base_ejection_time.saturating_mul(times) < od.max_ejection_time {
            times = times.saturating_add(1);
            h.ejections.store(times, Ordering::Relaxed);
        }
        let length = ejection_time(od, times);
        let until = self.now_ms() + length.as_millis().max(1) as u64;
        h.ejected_until.store(until, Ordering::Release);
        h.ejections_total.fetch_add(1, Ordering::Relaxed);
        let stats = &self.health_stats;
        stats.ejections_enforced.fetch_add(1, Ordering::Relaxed);
        match streak {
            Streak::Errors5xx => &stats.ejections_enforced_5xx,
            Streak::Gateway => &stats.ejections_enforced_gateway,
            Streak::LocalOrigin => &stats.ejections_enforced_local_origin,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.rebuild_routable(&writer);
        tracing::info!(
            cluster = %self.key,
            endpoint = %endpoint.address,
            reason = ?streak,
            seconds = length.as_secs_f64(),
            "outlier ejected"
        );
    }

    /// One sweep (every `interval`): brings back endpoints whose ejection time has passed and
    /// lets the multiplier of endpoints that stayed in for the interval decay. Returns whether
    /// any endpoint came back (the routable sets were rebuilt then).
    pub fn sweep_outliers(&self) -> bool {
        let state = self.state();
        let now = self.now_ms();
        let mut changed = false;
        for ep in &state.endpoints {
            let h = &ep.health;
            let until = h.ejected_until.load(Ordering::Acquire);
            if until == 0 {
                let _ = h
                    .ejections
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            } else if now >= until
                && h.ejected_until
                    .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                // A fresh start: errors from before the ejection do not count again.
                h.end_all();
                tracing::info!(cluster = %self.key, endpoint = %ep.address, "outlier returned");
                changed = true;
            }
        }
        if changed {
            self.refresh_health();
        }
        changed
    }

    /// Forgets every ejection and streak (outlier detection was removed from the settings).
    fn clear_outliers(&self) {
        let state = self.state();
        let mut changed = false;
        for ep in &state.endpoints {
            let h = &ep.health;
            changed |= h.ejected_until.swap(0, Ordering::AcqRel) != 0;
            h.ejections.store(0, Ordering::Relaxed);
            h.end_all();
        }
        if changed {
            self.refresh_health();
        }
    }

    /// `outlier_detection.ejections_active`: endpoints ejected now.
    pub fn ejections_active(&self) -> usize {
        self.state()
            .endpoints
            .iter()
            .filter(|e| e.health.is_ejected())
            .count()
    }

    /// Milliseconds on the cluster's clock; never 0, which means "not ejected".
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

/// How many endpoints of `total` may be out at once: `percent` of them, rounded down, but at
/// least one (Envoy ejects one host even when the percentage rounds to zero) unless `percent`
/// is 0.
fn max_ejected(total: usize, percent: u32) -> usize {
    if percent == 0 {
        return 0;
    }
    (total * percent.min(100) as usize / 100).max(1)
}

/// Length of an ejection with multiplier `times`: `baseEjectionTime × times`, capped.
fn ejection_time(od: &OutlierSpec, times: u32) -> Duration {
    od.base_ejection_time
        .saturating_mul(times)
        .min(od.max_ejection_time)
}

/// The cluster's sweeper: runs [`Cluster::sweep_outliers`] every `interval` until the cluster
/// is dropped. New settings wake it, so a changed interval applies at once (counted from the
/// last sweep); while the settings have no outlier detection it forgets every ejection and
/// idles until settings come back.
pub async fn sweep(cluster: Weak<Cluster>) {
    let Some(reconfigured) = cluster.upgrade().map(|c| c.reconfigured.clone()) else {
        return;
    };
    let mut since = Instant::now();
    loop {
        let notified = reconfigured.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Some(c) = cluster.upgrade() else { return };
        let interval = c.state().spec.outlier.as_ref().map(|od| od.interval);
        let Some(interval) = interval else {
            c.clear_outliers();
            drop(c);
            notified.await;
            since = Instant::now();
            continue;
        };
        drop(c);
        tokio::select! {
            () = tokio::time::sleep_until(since + interval) => {
                since = Instant::now();
                match cluster.upgrade() {
                    Some(c) => c.sweep_outliers(),
                    None => return,
                };
            }
            // New settings: wait again with their interval.
            () = &mut notified => {}
        }
    }
}
