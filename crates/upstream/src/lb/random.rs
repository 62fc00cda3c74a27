//! Weighted random choice over cumulative weights.

/// `RANDOM`, and the fallback of hash balancers when a request has no hash key.
#[derive(Debug)]
pub struct WeightedRandom {
    cumulative: Vec<u64>,
}

impl WeightedRandom {
    /// Builds from endpoint weights.
    pub fn new(weights: &[u32]) -> Self {
        let mut sum = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                sum += u64::from(w.max(1));
                sum
            })
            .collect();
        Self { cumulative }
    }

    /// A random index, proportional to weight. Requires at least one endpoint.
    pub fn pick(&self) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1);
        let roll = fastrand::u64(..total);
        self.cumulative.partition_point(|&c| c <= roll)
    }
}
