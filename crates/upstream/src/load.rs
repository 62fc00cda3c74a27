//! Circuit breakers: a cluster's live load (connections, pending and active requests, retries in
//! flight) checked against its `connectionPool` thresholds, and the counters of what was refused.
//!
//! Envoy's semantics: a request that finds no ready connection is *pending* until it gets one;
//! a new connection is opened only while the cluster is under `max_connections`, otherwise the
//! pending request waits for one to come free. Past `max_pending_requests`, `max_requests` or
//! the retry limit the request is refused at once (503, `x-envoy-overloaded`, flag `UO`). The
//! counts are shared by every worker (atomics, no locks) and are approximate under races, as
//! Envoy's are.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rampart_model::{PoolSettings, UNLIMITED};
use tokio::sync::Notify;

/// Live load and refusal counters of one cluster; outlives configuration reloads.
#[derive(Debug, Default)]
pub struct ClusterLoad {
    connections: AtomicU32,
    pending: AtomicU32,
    requests: AtomicU32,
    retries: AtomicU32,
    /// Signalled when a connection goes idle or closes while requests are pending.
    freed: Notify,
    /// Counters, named after Envoy's cluster stats.
    pub stats: LoadStats,
}

/// What the circuit breakers and retries did (Envoy `cluster.<name>.*` stats).
#[derive(Debug, Default)]
pub struct LoadStats {
    /// `upstream_cx_total`: connections opened.
    pub cx_total: AtomicU64,
    /// `upstream_cx_overflow`: times `max_connections` stopped a new connection.
    pub cx_overflow: AtomicU64,
    /// `upstream_rq_pending_overflow`: requests refused because too many were pending.
    pub pending_overflow: AtomicU64,
    /// `upstream_rq_pending_total`: requests that had to wait for a connection.
    pub pending_total: AtomicU64,
    /// `upstream_rq_overflow`... (Envoy counts it in `upstream_rq_pending_overflow` for HTTP/1;
    /// kept apart here): requests refused by `max_requests`.
    pub rq_overflow: AtomicU64,
    /// `upstream_rq_retry`: retries sent.
    pub retries: AtomicU64,
    /// `upstream_rq_retry_success`: retries that got a response not retried again.
    pub retry_success: AtomicU64,
    /// `upstream_rq_retry_overflow`: retries refused by `max_retries` or the retry budget.
    pub retry_overflow: AtomicU64,
    /// `upstream_rq_retry_limit_exceeded`: requests that still failed after the last retry.
    pub retry_limit_exceeded: AtomicU64,
    /// `upstream_rq_timeout`: requests that hit the route timeout.
    pub timeouts: AtomicU64,
    /// `upstream_rq_per_try_timeout`: attempts that hit `perTryTimeout`.
    pub per_try_timeouts: AtomicU64,
}

/// Why the circuit breaker refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// `http1MaxPendingRequests`.
    Pending,
    /// `http2MaxRequests`.
    Requests,
    /// `maxRetries` or the retry budget.
    Retries,
}

impl ClusterLoad {
    /// Connections open now.
    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Requests waiting for a connection now.
    pub fn pending(&self) -> u32 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Requests in flight now.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Retries in flight now.
    pub fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Whether a new request may start under `max_requests`.
    #[inline]
    pub fn admit_request(&self, limits: &PoolSettings) -> Result<(), Overflow> {
        if limits.max_requests != UNLIMITED && self.requests() >= limits.max_requests {
            self.stats.rq_overflow.fetch_add(1, Ordering::Relaxed);
            return Err(Overflow::Requests);
        }
        Ok(())
    }

    /// Reserves a retry under `max_retries` and the retry budget; the guard gives it back.
    pub fn admit_retry(&self, limits: &PoolSettings) -> Result<RetryGuard<'_>, Overflow> {
        let in_flight = self.retries.fetch_add(1, Ordering::Relaxed);
        let limit = match limits.retry_budget {
            Some(budget) => {
                let active = f64::from(self.requests() + self.pending());
                ((active * budget.percent / 100.0) as u32).max(budget.min_concurrency)
            }
            None => limits.max_retries,
        };
        if in_flight >= limit {
            self.retries.fetch_sub(1, Ordering::Relaxed);
            self.stats.retry_overflow.fetch_add(1, Ordering::Relaxed);
            return Err(Overflow::Retries);
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        Ok(RetryGuard(self))
    }

    /// Counts a request in flight (the endpoint's active guard gives it back).
    #[inline]
    pub(crate) fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn request_finished(&self) {
        self.requests.fetch_sub(1, Ordering::Relaxed);
    }

    /// Reserves a slot for a new connection under `max_connections`.
    pub(crate) fn try_open(&self, max: u32) -> bool {
        let mut open = self.connections.load(Ordering::Relaxed);
        loop {
            if max != UNLIMITED && open >= max {
                self.stats.cx_overflow.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            match self.connections.compare_exchange_weak(
                open,
                open + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.stats.cx_total.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(now) => open = now,
            }
        }
    }

    /// Takes a connection slot past the limit (Envoy lets a host with no connection open one,
    /// so its pending requests are not stranded behind other hosts' idle connections).
    pub(crate) fn force_open(&self) {
        self.connections.fetch_add(1, Ordering::AcqRel);
        self.stats.cx_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed (or its dial failed): frees its slot.
    pub(crate) fn closed(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
        self.wake_pending();
    }

    /// A connection went idle: a pending request may take it.
    #[inline]
    pub(crate) fn idled(&self) {
        self.wake_pending();
    }

    #[inline]
    fn wake_pending(&self) {
        if self.pending.load(Ordering::Acquire) > 0 {
            self.freed.notify_waiters();
        }
    }

    /// Enters the pending state, or refuses when `max_pending` requests already wait.
    pub(crate) fn enter_pending(&self, max_pending: u32) -> Result<PendingGuard<'_>, Overflow> {
        let before = self.pending.fetch_add(1, Ordering::AcqRel);
        if max_pending != UNLIMITED && before >= max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.stats.pending_overflow.fetch_add(1, Ordering::Relaxed);
            return Err(Overflow::Pending);
        }
        self.stats.pending_total.fetch_add(1, Ordering::Relaxed);
        Ok(PendingGuard(self))
    }

    /// Resolves when a connection may have come free (register before re-checking).
    pub(crate) fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }
}

/// A request waiting for a connection; leaving the pending state when dropped.
#[derive(Debug)]
pub(crate) struct PendingGuard<'a>(&'a ClusterLoad);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A retry in flight; released when dropped.
#[derive(Debug)]
pub struct RetryGuard<'a>(&'a ClusterLoad);

impl Drop for RetryGuard<'_> {
    fn drop(&mut self) {
        self.0.retries.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds one connection slot of a cluster (and counts the connection on its endpoint); frees
/// it when the connection is dropped.
#[derive(Debug)]
pub struct ConnSlot(pub(crate) std::sync::Arc<crate::Endpoint>);

impl ConnSlot {
    /// Takes the slot reserved by [`ClusterLoad::try_open`] (or granted past the limit).
    pub(crate) fn new(endpoint: &std::sync::Arc<crate::Endpoint>) -> Self {
        endpoint.open.fetch_add(1, Ordering::Relaxed);
        Self(endpoint.clone())
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0.load.closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::RetryBudget;

    #[test]
    fn pending_overflow_past_the_limit() {
        let load = ClusterLoad::default();
        let first = load.enter_pending(1).unwrap();
        assert_eq!(load.enter_pending(1).unwrap_err(), Overflow::Pending);
        assert_eq!(load.stats.pending_overflow.load(Ordering::Relaxed), 1);
        drop(first);
        assert!(load.enter_pending(1).is_ok());
    }

    #[test]
    fn connection_slots_are_bounded() {
        let load = std::sync::Arc::new(ClusterLoad::default());
        let addr = "127.0.0.1:1".parse().unwrap();
        let ep = std::sync::Arc::new(crate::Endpoint::new(
            addr,
            1,
            Default::default(),
            1,
            load.clone(),
        ));
        assert!(load.try_open(1));
        let slot = ConnSlot::new(&ep);
        assert_eq!(ep.open_connections(), 1);
        assert!(!load.try_open(1));
        assert_eq!(load.stats.cx_overflow.load(Ordering::Relaxed), 1);
        drop(slot);
        assert_eq!(ep.open_connections(), 0);
        assert!(load.try_open(1));
    }

    #[test]
    fn retry_budget_scales_with_active_requests_with_a_floor() {
        let load = ClusterLoad::default();
        let limits = PoolSettings {
            retry_budget: Some(RetryBudget {
                percent: 20.0,
                min_concurrency: 3,
            }),
            ..PoolSettings::default()
        };
        for _ in 0..20 {
            load.request_started();
        }
        // 20 % of 20 active requests is 4 (above the floor of 3).
        let guards: Vec<_> = (0..4).map(|_| load.admit_retry(&limits).unwrap()).collect();
        assert_eq!(load.admit_retry(&limits).unwrap_err(), Overflow::Retries);
        drop(guards);
        for _ in 0..20 {
            load.request_finished();
        }
        // With nothing active the floor applies.
        let guards: Vec<_> = (0..3).map(|_| load.admit_retry(&limits).unwrap()).collect();
        assert!(load.admit_retry(&limits).is_err());
        assert_eq!(load.stats.retry_overflow.load(Ordering::Relaxed), 2);
        drop(guards);
    }

    #[test]
    fn max_requests_refuses_new_requests() {
        let load = ClusterLoad::default();
        let limits = PoolSettings {
            max_requests: 1,
            ..PoolSettings::default()
        };
        assert!(load.admit_request(&limits).is_ok());
        load.request_started();
        assert_eq!(load.admit_request(&limits).unwrap_err(), Overflow::Requests);
        load.request_finished();
        assert!(load.admit_request(&limits).is_ok());
    }
}
