//! Load balancers: choose one endpoint of a cluster's current endpoint set.
//!
//! Each balancer is built once per endpoint set (on reload or DNS change) so that a pick is a few
//! arithmetic operations and at most one atomic increment.

mod least_request;
mod maglev;
mod random;
mod ring_hash;
mod round_robin;

use std::sync::Arc;

use rampart_model::LbPolicy;

use crate::endpoint::Endpoint;

pub use least_request::LeastRequest;
pub use maglev::Maglev;
pub use random::WeightedRandom;
pub use ring_hash::RingHash;
pub use round_robin::RoundRobin;

/// A built load balancer over a fixed list of endpoints.
#[derive(Debug)]
pub enum Balancer {
    /// `ROUND_ROBIN`.
    RoundRobin(RoundRobin),
    /// `LEAST_REQUEST`.
    LeastRequest(LeastRequest),
    /// `RANDOM`.
    Random(WeightedRandom),
    /// `consistentHash` + ring hash.
    RingHash(RingHash, WeightedRandom),
    /// `consistentHash` + maglev.
    Maglev(Maglev, WeightedRandom),
}

impl Balancer {
    /// Builds the balancer for `policy` over `endpoints` (which may be empty).
    pub fn build(policy: &LbPolicy, endpoints: &[Arc<Endpoint>]) -> Self {
        let weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
        match policy {
            LbPolicy::RoundRobin => Self::RoundRobin(RoundRobin::new(&weights)),
            LbPolicy::LeastRequest => Self::LeastRequest(LeastRequest::new(&weights)),
            LbPolicy::Random => Self::Random(WeightedRandom::new(&weights)),
            LbPolicy::RingHash { min_ring_size, .. } => Self::RingHash(
                RingHash::new(endpoints, *min_ring_size),
                WeightedRandom::new(&weights),
            ),
            LbPolicy::Maglev { table_size, .. } => Self::Maglev(
                Maglev::new(endpoints, *table_size),
                WeightedRandom::new(&weights),
            ),
        }
    }

    /// Index of the chosen endpoint; `hash` is the request's consistent-hash key, if any.
    /// `None` only when there are no endpoints.
    pub fn pick(&self, endpoints: &[Arc<Endpoint>], hash: Option<u64>) -> Option<usize> {
        if endpoints.is_empty() {
            return None;
        }
        Some(match self {
            Self::RoundRobin(rr) => rr.pick(),
            Self::LeastRequest(lr) => lr.pick(endpoints),
            Self::Random(r) => r.pick(),
            // Without a hash key (header absent…) Envoy picks at random.
            Self::RingHash(ring, fallback) => {
                hash.map_or_else(|| fallback.pick(), |h| ring.pick(h))
            }
            Self::Maglev(table, fallback) => {
                hash.map_or_else(|| fallback.pick(), |h| table.pick(h))
            }
        })
    }
}

/// A stable 64-bit hash (the same in every process), used to place endpoints and keys.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    // FNV-1a followed by a 64-bit finalizer (splitmix) to spread nearby inputs.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests;
