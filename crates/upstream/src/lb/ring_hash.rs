//! Consistent hashing on a ring (Envoy's `RING_HASH`, Istio's default hash algorithm).

use std::sync::Arc;

use super::stable_hash;
use crate::endpoint::Endpoint;

/// Ring entries per endpoint are `min_ring_size × weight / total weight`, at least one.
#[derive(Debug)]
pub struct RingHash {
    ring: Vec<(u64, u32)>,
}

impl RingHash {
    /// Places every endpoint on the ring, in proportion to its weight.
    pub fn new(endpoints: &[Arc<Endpoint>], min_ring_size: u32) -> Self {
        let total: u64 = endpoints
            .iter()
            .map(|e| u64::from(e.weight))
            .sum::<u64>()
            .max(1);
        let size = u64::from(min_ring_size.max(1)).max(endpoints.len() as u64);
        let mut ring = Vec::with_capacity(size as usize + endpoints.len());
        for (i, ep) in endpoints.iter().enumerate() {
            let replicas = (size * u64::from(ep.weight) / total).max(1);
            for r in 0..replicas {
                let key = format!("{}_{r}", ep.address);
                ring.push((stable_hash(key.as_bytes()), i as u32));
            }
        }
        ring.sort_unstable();
        Self { ring }
    }

    /// The endpoint owning the first ring point at or after `hash`. Requires endpoints.
    pub fn pick(&self, hash: u64) -> usize {
        let at = self.ring.partition_point(|&(h, _)| h < hash);
        self.ring[at % self.ring.len()].1 as usize
    }
}
