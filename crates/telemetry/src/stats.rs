//! Request counters and latency histograms, lock-free on the request path.
//!
//! Each (route, destination) pair gets one [`RequestStats`]; response codes and flags are counted
//! in a small fixed table of slots claimed with compare-and-swap, so recording is a few atomic
//! operations and label cardinality is bounded by design.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::flags::ResponseFlags;

/// Distinct (code, flags) combinations counted per stats handle; the rest go to the last slot.
const SLOTS: usize = 16;
/// Envoy's default histogram buckets, in milliseconds (Istio keeps them).
pub const DURATION_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Buckets of `istio_request_bytes` / `istio_response_bytes`, in bytes: powers of ten from 1 to
/// 10^7, the size buckets Istio's stats plugin has always reported.
pub const SIZE_BUCKETS_BYTES: [f64; 8] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// A histogram of sizes in bytes, lock-free.
#[derive(Debug, Default)]
pub struct SizeHistogram {
    buckets: [AtomicU64; SIZE_BUCKETS_BYTES.len()],
    sum: AtomicU64,
    count: AtomicU64,
}

impl SizeHistogram {
    /// Counts one size.
    #[inline]
    pub fn observe(&self, bytes: u64) {
        // Powers of ten: the bucket is the number of decimal digits past the first.
        let bucket = if bytes <= 1 {
            0
        } else {
            (bytes - 1).ilog10() as usize + 1
        };
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(bytes, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Per-bucket (non-cumulative) counts, sum in bytes, count.
    pub fn snapshot(&self) -> (Vec<u64>, f64, u64) {
        (
            self.buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            self.sum.load(Ordering::Relaxed) as f64,
            self.count.load(Ordering::Relaxed),
        )
    }
}

/// The labels of one stats handle.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatKey {
    /// Route name (`HTTPRoute.name` or `<namespace>/<vs>.<index>`), or `-` when no route matched.
    pub route: Box<str>,
    /// Destination service host, or `unknown`.
    pub destination_service: Box<str>,
    /// Destination subset (Istio reports it as `destination_version`), or `unknown`.
    pub destination_version: Box<str>,
}

/// Counters of one (route, destination).
#[derive(Debug)]
pub struct RequestStats {
    /// The labels.
    pub key: StatKey,
    /// Packed `(code << 32) | flags + 1`; 0 = free slot.
    slot_keys: [AtomicU64; SLOTS],
    slot_counts: [AtomicU64; SLOTS],
    buckets: [AtomicU64; DURATION_BUCKETS_MS.len()],
    duration_sum_us: AtomicU64,
    duration_count: AtomicU64,
    /// `istio_request_bytes`: request head plus declared body.
    pub request_bytes: SizeHistogram,
    /// `istio_response_bytes`: response head plus declared body.
    pub response_bytes: SizeHistogram,
    /// Layer-4 connections proxied to this destination (`tcp`/`tls` routes).
    pub tcp: TcpStats,
}

impl RequestStats {
    fn new(key: StatKey) -> Self {
        Self {
            key,
            slot_keys: Default::default(),
            slot_counts: Default::default(),
            buckets: Default::default(),
            duration_sum_us: AtomicU64::new(0),
            duration_count: AtomicU64::new(0),
            request_bytes: SizeHistogram::default(),
            response_bytes: SizeHistogram::default(),
            tcp: TcpStats::default(),
        }
    }

    /// Counts one finished request.
    pub fn record(&self, code: u16, flags: ResponseFlags, duration_us: u64) {
        let packed = (u64::from(code) << 32) | u64::from(flags.0.wrapping_add(1));
        let slot = self.slot_for(packed);
        self.slot_counts[slot].fetch_add(1, Ordering::Relaxed);
        let ms = duration_us as f64 / 1000.0;
        let bucket = DURATION_BUCKETS_MS.partition_point(|&b| b < ms);
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.duration_sum_us
            .fetch_add(duration_us, Ordering::Relaxed);
        self.duration_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request's and response's sizes.
    #[inline]
    pub fn record_sizes(&self, request: u64, response: u64) {
        self.request_bytes.observe(request);
        self.response_bytes.observe(response);
    }

    fn slot_for(&self, packed: u64) -> usize {
        claim_slot(&self.slot_keys, packed)
    }

    /// `(code, flags, count)` for every combination seen.
    pub fn counts(&self) -> Vec<(u16, ResponseFlags, u64)> {
        self.slot_keys
            .iter()
            .zip(&self.slot_counts)
            .filter_map(|(k, c)| {
                let k = k.load(Ordering::Acquire);
                (k != 0).then(|| {
                    let flags = ResponseFlags(((k & 0xffff_ffff) as u32).wrapping_sub(1));
                    ((k >> 32) as u16, flags, c.load(Ordering::Relaxed))
                })
            })
            .collect()
    }

    /// Histogram: per-bucket (non-cumulative) counts, sum in ms, count.
    pub fn histogram(&self) -> (Vec<u64>, f64, u64) {
        let buckets = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let sum = self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1000.0;
        (buckets, sum, self.duration_count.load(Ordering::Relaxed))
    }
}

/// The slot of `keys` holding `packed` (non-zero), claimed with compare-and-swap when new; the
/// last slot takes every key past the table's size.
fn claim_slot(keys: &[AtomicU64], packed: u64) -> usize {
    for (i, key) in keys.iter().enumerate() {
        let current = key.load(Ordering::Acquire);
        if current == packed {
            return i;
        }
        if current == 0 {
            match key.compare_exchange(0, packed, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return i,
                Err(won) if won == packed => return i,
                Err(_) => continue,
            }
        }
    }
    keys.len() - 1
}

/// Distinct response-flag sets counted for closed TCP connections per handle.
const TCP_SLOTS: usize = 4;

/// Counters behind Istio's `istio_tcp_*` metrics for one (route, destination).
#[derive(Debug, Default)]
pub struct TcpStats {
    opened: AtomicU64,
    /// Packed `flags + 1` per slot; 0 = free.
    closed_keys: [AtomicU64; TCP_SLOTS],
    closed_counts: [AtomicU64; TCP_SLOTS],
    /// Bytes read from clients (`istio_tcp_received_bytes_total`).
    pub received_bytes: AtomicU64,
    /// Bytes written to clients (`istio_tcp_sent_bytes_total`).
    pub sent_bytes: AtomicU64,
}

impl TcpStats {
    /// Counts a connection opened (routed to this destination).
    pub fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed, with the flags that say why it ended early, if it did.
    pub fn closed(&self, flags: ResponseFlags) {
        let slot = claim_slot(&self.closed_keys, u64::from(flags.0) + 1);
        self.closed_counts[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections opened so far.
    pub fn opened_total(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// `(flags, count)` of closed connections, for every flag set seen.
    pub fn closed_counts(&self) -> Vec<(ResponseFlags, u64)> {
        self.closed_keys
            .iter()
            .zip(&self.closed_counts)
            .filter_map(|(k, c)| {
                let k = k.load(Ordering::Acquire);
                (k != 0).then(|| (ResponseFlags((k - 1) as u32), c.load(Ordering::Relaxed)))
            })
            .collect()
    }
}

/// Stats handles by label set; survives reloads so counters never go backwards.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    stats: ArcSwap<HashMap<StatKey, Arc<RequestStats>>>,
}

impl StatsRegistry {
    /// Handles for `keys`, in order, creating missing ones (called on reload, not per request).
    pub fn resolve(&self, keys: &[StatKey]) -> Box<[Arc<RequestStats>]> {
        let current = self.stats.load();
        if keys.iter().all(|k| current.contains_key(k)) {
            return keys.iter().map(|k| current[k].clone()).collect();
        }
        let mut next = HashMap::clone(&current);
        let out = keys
            .iter()
            .map(|k| {
                next.entry(k.clone())
                    .or_insert_with(|| Arc::new(RequestStats::new(k.clone())))
                    .clone()
            })
            .collect();
        self.stats.store(Arc::new(next));
        out
    }

    /// Every handle, sorted by labels (for rendering).
    pub fn all(&self) -> Vec<Arc<RequestStats>> {
        let mut all: Vec<_> = self.stats.load().values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::ResponseFlag;

    #[test]
    fn tcp_closes_count_by_flags() {
        let tcp = TcpStats::default();
        tcp.opened();
        tcp.opened();
        tcp.closed(ResponseFlags::NONE);
        tcp.closed(ResponseFlag::UpstreamConnectionFailure.into());
        tcp.closed(ResponseFlags::NONE);
        assert_eq!(tcp.opened_total(), 2);
        assert_eq!(
            tcp.closed_counts(),
            vec![
                (ResponseFlags::NONE, 2),
                (ResponseFlag::UpstreamConnectionFailure.into(), 1)
            ]
        );
    }

    #[test]
    fn counts_codes_and_flags_separately() {
        let reg = StatsRegistry::default();
        let key = StatKey {
            route: "r".into(),
            destination_service: "s".into(),
            destination_version: "v1".into(),
        };
        let s = &reg.resolve(std::slice::from_ref(&key))[0];
        s.record(200, ResponseFlags::NONE, 1500);
        s.record(200, ResponseFlags::NONE, 1500);
        for size in [0, 1, 2, 10, 11, 100_000, 10_000_000, 10_000_001] {
            s.request_bytes.observe(size);
        }
        let (sizes, sum, n) = s.request_bytes.snapshot();
        // le=1: 0 and 1; le=10: 2 and 10; le=100: 11; le=1e5: 100000; le=1e7: 1e7; +Inf: one.
        assert_eq!(sizes, [2, 2, 1, 0, 0, 1, 0, 1]);
        assert_eq!((sum as u64, n), (20_100_025, 8));
        s.record(503, ResponseFlag::UpstreamConnectionFailure.into(), 10);
        let mut counts = s.counts();
        counts.sort_by_key(|c| c.0);
        assert_eq!(
            counts,
            vec![
                (200, ResponseFlags::NONE, 2),
                (503, ResponseFlag::UpstreamConnectionFailure.into(), 1)
            ]
        );
        let again = &reg.resolve(&[key])[0];
        assert!(Arc::ptr_eq(s, again), "handles survive a second resolve");
        let (buckets, _, count) = s.histogram();
        assert_eq!(count, 3);
        assert_eq!(buckets[0], 1, "10us falls in the 0.5ms bucket");
        assert_eq!(buckets[2], 2, "1.5ms falls in the 5ms bucket");
    }
}
