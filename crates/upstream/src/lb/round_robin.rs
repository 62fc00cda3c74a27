//! Weighted round robin with a precomputed smooth schedule (nginx's algorithm, run once at build).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest schedule kept; larger weight totals are scaled down proportionally.
const MAX_SCHEDULE: u64 = 4096;

/// `ROUND_ROBIN`.
#[derive(Debug)]
pub struct RoundRobin {
    schedule: Vec<u32>,
    next: AtomicUsize,
}

impl RoundRobin {
    /// Builds the schedule: each endpoint appears in proportion to its weight, interleaved.
    pub fn new(weights: &[u32]) -> Self {
        let total: u64 = weights.iter().map(|&w| u64::from(w.max(1))).sum();
        let scale = |w: u32| -> i64 {
            let w = u64::from(w.max(1));
            if total <= MAX_SCHEDULE {
                w as i64
            } else {
                ((w * MAX_SCHEDULE) / total).max(1) as i64
            }
        };
        let weights: Vec<i64> = weights.iter().map(|&w| scale(w)).collect();
        let sum: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(sum as usize);
        for _ in 0..sum {
            let mut best = 0;
            for i in 0..weights.len() {
                current[i] += weights[i];
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= sum;
            schedule.push(best as u32);
        }
        // Start at a random offset so that many proxies do not hit endpoint 0 together.
        let start = if schedule.is_empty() {
            0
        } else {
            fastrand::usize(..schedule.len())
        };
        Self {
            schedule,
            next: AtomicUsize::new(start),
        }
    }

    /// The next endpoint in the schedule. Requires at least one endpoint.
    pub fn pick(&self) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.schedule[n % self.schedule.len()] as usize
    }
}
