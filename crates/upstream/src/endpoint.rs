//! One upstream endpoint: its address, weight, live request count and connection pools.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::load::ClusterLoad;
use crate::outlier::EndpointHealth;
use crate::pool::WorkerPool;

/// An endpoint that requests can be sent to. Lives as long as some cluster lists it, so its
/// pools survive configuration reloads.
#[derive(Debug)]
pub struct Endpoint {
    /// Socket address (DNS names are resolved before an endpoint exists).
    pub address: SocketAddr,
    /// Load-balancing weight (≥ 1).
    pub weight: u32,
    /// Labels, shown in `/clusters`.
    pub labels: BTreeMap<String, String>,
    active: AtomicU32,
    /// Requests sent (first byte written or connection attempted).
    pub requests: AtomicU64,
    /// Connections opened.
    pub connections: AtomicU64,
    /// Failed connection attempts.
    pub connect_failures: AtomicU64,
    pools: Box<[WorkerPool]>,
    /// The cluster's load, for its circuit breakers.
    pub(crate) load: Arc<ClusterLoad>,
    /// Connections open now (all workers).
    pub(crate) open: AtomicU32,
    /// Passive and active health.
    pub health: EndpointHealth,
    /// `region/zone/subzone`, when known.
    pub locality: Option<Arc<str>>,
    /// Failover priority (0 first); updated in place on reload.
    pub priority: AtomicU32,
}

impl Endpoint {
    /// A new endpoint with one pool per worker.
    pub fn new(
        address: SocketAddr,
        weight: u32,
        labels: BTreeMap<String, String>,
        workers: usize,
        load: Arc<ClusterLoad>,
    ) -> Self {
        Self {
            address,
            weight: weight.max(1),
            labels,
            active: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            pools: (0..workers.max(1)).map(|_| WorkerPool::default()).collect(),
            load,
            open: AtomicU32::new(0),
            health: EndpointHealth::default(),
            locality: None,
            priority: AtomicU32::new(0),
        }
    }

    /// The same endpoint with its locality.
    pub fn with_locality(mut self, locality: Option<Arc<str>>) -> Self {
        self.locality = locality;
        self
    }

    /// Requests in flight (sent, response body not finished).
    #[inline]
    pub fn active_requests(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a request as active (here and in the cluster) until the guard is dropped.
    pub fn activate(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.load.request_started();
        ActiveGuard(self.clone())
    }

    /// The pool of the current worker thread.
    #[inline]
    pub fn pool(&self) -> &WorkerPool {
        let worker = crate::worker::current();
        &self.pools[worker % self.pools.len()]
    }

    /// Connections open to this endpoint now.
    pub fn open_connections(&self) -> u32 {
        self.open.load(Ordering::Relaxed)
    }

    /// Every worker's pool (a request waiting for a connection may take any idle one).
    pub fn pools(&self) -> &[WorkerPool] {
        &self.pools
    }
}

/// Decrements the endpoint's active-request count when dropped.
#[derive(Debug)]
pub struct ActiveGuard(Arc<Endpoint>);

impl ActiveGuard {
    /// The endpoint counted.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        self.0.load.request_finished();
    }
}
