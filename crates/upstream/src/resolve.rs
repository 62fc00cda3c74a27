//! DNS resolution for `resolution: DNS` endpoints, re-run at the cluster's refresh interval,
//! and at once when a reload names a host that has no answer yet.
//!
//! The system resolver does not expose record TTLs, so the refresh interval stands in for them.
//! A failed lookup keeps the previous answer (Envoy keeps last known hosts too).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use rampart_model::EndpointAddress;

use crate::cluster::Cluster;

/// Resolves the cluster's DNS endpoints until the cluster is dropped.
pub async fn refresh(cluster: Weak<Cluster>) {
    loop {
        let Some(live) = cluster.upgrade() else {
            return;
        };
        let specs = live.specs_to_resolve();
        drop(live);
        let names: BTreeSet<(Arc<str>, u16)> = specs
            .iter()
            .flat_map(|s| &s.endpoints)
            .filter_map(|e| match &e.address {
                EndpointAddress::Dns { host, port } => Some((host.clone(), *port)),
                EndpointAddress::Socket(_) => None,
            })
            .collect();
        let interval = specs[0].dns_refresh;
        for (host, port) in names {
            let lookup = tokio::net::lookup_host((host.to_string(), port)).await;
            match lookup {
                Ok(addrs) => {
                    let mut addrs: Vec<SocketAddr> = addrs.collect();
                    addrs.sort();
                    addrs.dedup();
                    if let Some(live) = cluster.upgrade() {
                        live.set_resolved((host, port), addrs);
                    }
                }
                Err(err) => {
                    tracing::warn!(%host, error = %err, "DNS resolution failed; keeping previous endpoints")
                }
            }
        }
        let Some(live) = cluster.upgrade() else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = live.resolve_now.notified() => {}
        }
    }
}
