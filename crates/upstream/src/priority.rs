//! Envoy's priority levels: which share of requests each priority (from locality failover)
//! takes, given how much of it is healthy.
//!
//! A priority's health is its healthy share of endpoints times the overprovisioning factor
//! (1.4), capped at 100 %. Priority 0 takes as much load as its health allows; what it cannot
//! take spills to priority 1, and so on. When the health of all priorities together is under
//! 100 %, the loads are scaled up so they still sum to 100 %.

/// Envoy's default overprovisioning factor, in percent.
const OVERPROVISIONING: u64 = 140;

/// Per-priority load in percent (summing to 100, or all zero when nothing is healthy), from
/// `(healthy, total)` endpoint counts per priority.
pub fn loads(levels: &[(usize, usize)]) -> Vec<u32> {
    let health: Vec<u64> = levels
        .iter()
        .map(|&(healthy, total)| {
            if total == 0 {
                0
            } else {
                (healthy as u64 * OVERPROVISIONING / total as u64).min(100)
            }
        })
        .collect();
    let total_health: u64 = health.iter().sum::<u64>().min(100);
    let mut out = vec![0u32; levels.len()];
    if total_health == 0 {
        return out;
    }
    let mut remaining = 100u64;
    for (i, h) in health.iter().enumerate() {
        let scaled = (h * 100).div_ceil(total_health).min(remaining);
        out[i] = scaled as u32;
        remaining -= scaled;
    }
    if remaining > 0 {
        // Rounding: give what is left to the last priority with any health.
        if let Some(i) = health.iter().rposition(|&h| h > 0) {
            out[i] += remaining as u32;
        }
    }
    out
}

/// The priority for a uniformly random `roll` in `0..100`.
pub fn choose(loads: &[u32], roll: u32) -> Option<usize> {
    let mut acc = 0;
    for (i, &load) in loads.iter().enumerate() {
        acc += load;
        if roll < acc {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_first_priority_takes_everything() {
        assert_eq!(loads(&[(4, 4), (4, 4)]), [100, 0]);
    }

    #[test]
    fn load_spills_over_as_health_drops() {
        // 2 of 4 healthy: 50 % × 1.4 = 70 % stays, 30 % spills to priority 1.
        assert_eq!(loads(&[(2, 4), (4, 4)]), [70, 30]);
        // Still 100 % at priority 0 with 3 of 4 healthy (75 × 1.4 > 100).
        assert_eq!(loads(&[(3, 4), (4, 4)]), [100, 0]);
        assert_eq!(loads(&[(0, 4), (4, 4)]), [0, 100]);
    }

    #[test]
    fn degraded_everywhere_is_scaled_to_one_hundred() {
        // 1/4 healthy each: health 35 + 35 = 70 → scaled to 50/50.
        assert_eq!(loads(&[(1, 4), (1, 4)]), [50, 50]);
        assert_eq!(loads(&[(0, 2), (0, 2)]), [0, 0]);
    }

    #[test]
    fn rolls_map_to_priorities() {
        let l = [70, 30];
        assert_eq!(choose(&l, 0), Some(0));
        assert_eq!(choose(&l, 69), Some(0));
        assert_eq!(choose(&l, 70), Some(1));
        assert_eq!(choose(&l, 99), Some(1));
        assert_eq!(choose(&[0, 0], 5), None);
    }
}
