//! The configuration being served, with its resolved runtime handles, swapped atomically.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rampart_model::Snapshot;
use rampart_telemetry::{RequestStats, StatsRegistry};
use rampart_upstream::{Cluster, Registry};

/// One snapshot with everything a request needs already looked up: clusters and stats handles
/// are indexed exactly as the snapshot's `ClusterId`s and stat ids, so a request never looks up
/// a name.
#[derive(Debug)]
pub struct Active {
    /// The compiled configuration.
    pub model: Arc<Snapshot>,
    /// Runtime clusters, indexed by `ClusterId`.
    pub clusters: Box<[Arc<Cluster>]>,
    /// Stats handles, indexed by stat id.
    pub stats: Box<[Arc<RequestStats>]>,
}

impl Active {
    /// Resolves a snapshot's clusters and stats against the long-lived registries.
    pub fn new(model: Arc<Snapshot>, registry: &Registry, stats: &StatsRegistry) -> Self {
        let clusters = registry.reconcile(&model.clusters);
        let stats = stats.resolve(&model.stat_keys);
        Self {
            model,
            clusters,
            stats,
        }
    }
}

/// Proxy-wide settings that are not part of Istio's resources.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How many proxies in front of this one are trusted to set `x-forwarded-*`
    /// (Istio's `numTrustedProxies`; 0 = the peer is the client).
    pub trusted_hops: u32,
    /// Where access-log lines go, when logging is on.
    pub access_log: Option<Arc<rampart_telemetry::AccessLog>>,
}

/// State shared by every worker: the active configuration and the drain flag.
#[derive(Debug)]
pub struct Shared {
    active: ArcSwap<Active>,
    draining: AtomicBool,
    /// Proxy settings.
    pub options: Options,
    /// Cluster state that outlives snapshots.
    pub registry: Registry,
    /// Requests refused before routing, by [`crate::headers::Refusal`] (in its order).
    pub rejected: [AtomicU64; 2],
}

impl Shared {
    /// Starts serving `active`.
    pub fn new(active: Active, registry: Registry, options: Options) -> Self {
        Self {
            active: ArcSwap::from_pointee(active),
            draining: AtomicBool::new(false),
            options,
            registry,
            rejected: Default::default(),
        }
    }

    /// Counts a refused request.
    pub fn count_refusal(&self, refusal: crate::headers::Refusal) {
        self.rejected[refusal as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The active configuration (one atomic load and reference-count increment).
    #[inline]
    pub fn active(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// Replaces the active configuration; requests in flight finish on the old one.
    pub fn swap(&self, active: Active) {
        self.active.store(Arc::new(active));
    }

    /// Whether a drain has begun (`/ready` answers 503, listeners stop accepting).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Begins draining.
    pub fn start_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
