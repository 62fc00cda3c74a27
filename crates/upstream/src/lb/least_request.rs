//! Least request: power of two choices, as Envoy's default for Istio's `LEAST_REQUEST`.

use std::sync::Arc;

use super::WeightedRandom;
use crate::endpoint::Endpoint;

/// `LEAST_REQUEST`: draw two endpoints (by weight) and take the one with fewer active requests.
#[derive(Debug)]
pub struct LeastRequest {
    draw: WeightedRandom,
}

impl LeastRequest {
    /// Builds from endpoint weights.
    pub fn new(weights: &[u32]) -> Self {
        Self {
            draw: WeightedRandom::new(weights),
        }
    }

    /// The less loaded of two random choices. Requires at least one endpoint.
    pub fn pick(&self, endpoints: &[Arc<Endpoint>]) -> usize {
        let a = self.draw.pick();
        if endpoints.len() == 1 {
            return a;
        }
        let mut b = self.draw.pick();
        if b == a {
            b = (a + 1 + fastrand::usize(..endpoints.len() - 1)) % endpoints.len();
        }
        if endpoints[b].active_requests() < endpoints[a].active_requests() {
            b
        } else {
            a
        }
    }
}
