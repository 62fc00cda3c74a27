//! The cluster registry: cluster state that survives configuration reloads.
//!
//! `reconcile` is called by the (single) reload task with the clusters of a new snapshot; it keeps
//! the clusters whose key is unchanged (updating their settings), creates new ones and forgets
//! removed ones (their connections close once in-flight requests finish).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rampart_model::{ClusterKey, ClusterSpec, EndpointAddress};

use crate::cluster::Cluster;
use crate::{health_check, outlier, reap, resolve};

/// Clusters by stable key.
#[derive(Debug)]
pub struct Registry {
    workers: usize,
    clusters: ArcSwap<HashMap<ClusterKey, Arc<Cluster>>>,
    runtime: tokio::runtime::Handle,
}

impl Registry {
    /// An empty registry for `workers` data-plane threads; DNS resolution, outlier sweeps and
    /// health checks run on `runtime`.
    pub fn new(workers: usize, runtime: tokio::runtime::Handle) -> Self {
        Self {
            workers: workers.max(1),
            clusters: ArcSwap::default(),
            runtime,
        }
    }

    /// The clusters for a new snapshot, in the order of `specs` (so `ClusterId` indexes them).
    pub fn reconcile(&self, specs: &[ClusterSpec]) -> Box<[Arc<Cluster>]> {
        let old = self.clusters.load();
        let mut next = HashMap::with_capacity(specs.len());
        let clusters: Box<[Arc<Cluster>]> = specs
            .iter()
            .map(|spec| {
                let cluster = match old.get(&spec.key) {
                    Some(existing) => {
                        existing.update(spec.clone());
                        existing.clone()
                    }
                    None => Arc::new(Cluster::new(spec.clone(), self.workers)),
                };
                let needs_dns = spec
                    .endpoints
                    .iter()
                    .any(|e| matches!(e.address, EndpointAddress::Dns { .. }));
                if needs_dns && cluster.resolver.get().is_none() {
                    let task = self
                        .runtime
                        .spawn(resolve::refresh(Arc::downgrade(&cluster)));
                    let _ = cluster.resolver.set(task.abort_handle());
                }
                // Started once, when first needed; they live (idle while their settings are
                // absent) until the cluster is dropped, and pick up new settings by themselves.
                if spec.outlier.is_some() && cluster.sweeper.get().is_none() {
                    let task = self.runtime.spawn(outlier::sweep(Arc::downgrade(&cluster)));
                    let _ = cluster.sweeper.set(task.abort_handle());
                }
                if spec.health_check.is_some() && cluster.checker.get().is_none() {
                    let task = self
                        .runtime
                        .spawn(health_check::run(Arc::downgrade(&cluster)));
                    let _ = cluster.checker.set(task.abort_handle());
                }
                if cluster.reaper.get().is_none() {
                    let task = self.runtime.spawn(reap::run(Arc::downgrade(&cluster)));
                    let _ = cluster.reaper.set(task.abort_handle());
                }
                next.insert(spec.key.clone(), cluster.clone());
                cluster
            })
            .collect();
        self.clusters.store(Arc::new(next));
        clusters
    }

    /// Every live cluster, for `/clusters`.
    pub fn clusters(&self) -> Arc<HashMap<ClusterKey, Arc<Cluster>>> {
        self.clusters.load_full()
    }
}
