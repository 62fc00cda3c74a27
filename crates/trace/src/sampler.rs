//! The sampling decision: parent-based (the caller's decision wins), then a share of new
//! traces chosen by trace id, as OpenTelemetry's `ParentBased(TraceIdRatioBased)`: every proxy
//! using the same percentage decides alike for the same trace.

use crate::id::TraceId;

/// Istio's default `randomSamplingPercentage`: 1% of new traces.
pub const DEFAULT_PERCENT: f64 = 1.0;

/// Whether a request is sampled: `caller`'s decision when it sent one, else `percent` % of
/// trace ids.
pub fn decide(caller: Option<bool>, trace_id: &TraceId, percent: f64) -> bool {
    caller.unwrap_or_else(|| by_ratio(trace_id, percent))
}

/// Whether `trace_id` falls in the sampled `percent` % (0 and below: never; 100 and above:
/// always).
pub fn by_ratio(trace_id: &TraceId, percent: f64) -> bool {
    if percent.is_nan() || percent <= 0.0 {
        return false;
    }
    if percent >= 100.0 {
        return true;
    }
    let threshold = (percent / 100.0 * u64::MAX as f64) as u64;
    trace_id.low_u64() < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_decision_wins() {
        let id = TraceId::random();
        assert!(decide(Some(true), &id, 0.0));
        assert!(!decide(Some(false), &id, 100.0));
    }

    #[test]
    fn new_traces_are_sampled_at_the_percentage() {
        let id = TraceId::random();
        assert!(decide(None, &id, 100.0));
        assert!(!decide(None, &id, 0.0));
        assert!(!decide(None, &id, f64::NAN));
        let sampled = (0..100_000)
            .filter(|_| by_ratio(&TraceId::random(), 10.0))
            .count();
        assert!((9_000..11_000).contains(&sampled), "{sampled}");
    }

    #[test]
    fn the_decision_follows_the_trace_id() {
        let low = TraceId::from_hex(b"00000000000000000000000000000001").unwrap();
        let high = TraceId::from_hex(b"0000000000000000ffffffffffffffff").unwrap();
        assert!(by_ratio(&low, 0.001));
        assert!(!by_ratio(&high, 99.9));
    }
}
