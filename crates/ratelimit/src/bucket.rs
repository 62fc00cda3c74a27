//! A lock-free token bucket: `requests` tokens per `unit`, refilled continuously, starting full
//! (Envoy's local rate limit with `max_tokens = tokens_per_fill = requests`,
//! `fill_interval = unit`).
//!
//! Stored as one atomic: the "theoretical arrival time" of GCRA, the instant at which the bucket
//! would be empty again if no more tokens were taken. Taking a token moves it one emission
//! interval (`unit / requests`) later; the request is refused when that would put it more than
//! one `unit` ahead of now. Times are nanoseconds since the registry's base instant.

use std::sync::atomic::{AtomicU64, Ordering};

/// The limit of a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Tokens per unit (≥ 1).
    pub requests: u32,
    /// Unit in nanoseconds (≥ 1).
    pub unit_ns: u64,
}

impl Rate {
    fn interval(self) -> u64 {
        (self.unit_ns / u64::from(self.requests.max(1))).max(1)
    }
}

/// The outcome of taking one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Taken: tokens left and nanoseconds until the bucket is full again.
    Ok {
        /// Whole tokens left.
        remaining: u32,
        /// Until full.
        reset_ns: u64,
    },
    /// Empty: nanoseconds until one token is back.
    Empty {
        /// Until a token is available.
        retry_ns: u64,
    },
}

/// One bucket.
#[derive(Debug, Default)]
pub struct Bucket {
    tat: AtomicU64,
}

impl Bucket {
    /// Takes one token at `now` (nanoseconds since the base instant).
    pub fn take(&self, now: u64, rate: Rate) -> Take {
        let t = rate.interval();
        let burst = rate.unit_ns;
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + t;
            let ahead = next - now;
            if ahead > burst {
                return Take::Empty {
                    retry_ns: ahead - burst,
                };
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    let remaining = ((burst - ahead) / t).min(u64::from(rate.requests)) as u32;
                    return Take::Ok {
                        remaining,
                        reset_ns: ahead,
                    };
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// Whether the bucket is full at `now` (it can be forgotten: a new one is the same).
    pub fn is_full(&self, now: u64) -> bool {
        self.tat.load(Ordering::Relaxed) <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn starts_full_then_refills_at_the_rate() {
        let b = Bucket::default();
        let rate = Rate {
            requests: 10,
            unit_ns: SEC,
        };
        let now = 5 * SEC;
        for i in 0..10 {
            match b.take(now, rate) {
                Take::Ok { remaining, .. } => assert_eq!(remaining, 9 - i),
                other => panic!("token {i}: {other:?}"),
            }
        }
        let Take::Empty { retry_ns } = b.take(now, rate) else {
            panic!("11th token taken");
        };
        assert_eq!(retry_ns, SEC / 10);
        // One interval later exactly one token is back.
        assert!(matches!(
            b.take(now + SEC / 10, rate),
            Take::Ok { remaining: 0, .. }
        ));
        assert!(matches!(b.take(now + SEC / 10, rate), Take::Empty { .. }));
        assert!(!b.is_full(now + SEC / 2));
        assert!(b.is_full(now + 2 * SEC));
    }

    #[test]
    fn steady_offered_load_admits_the_rate() {
        // 100/s offered 1000/s for 10 s: the first burst (100) plus 100 per second.
        let b = Bucket::default();
        let rate = Rate {
            requests: 100,
            unit_ns: SEC,
        };
        let admitted = (0..10_000u64)
            .filter(|i| matches!(b.take(SEC + i * SEC / 1000, rate), Take::Ok { .. }))
            .count();
        assert!((1099..=1101).contains(&admitted), "{admitted}");
    }

    #[test]
    fn concurrent_takers_never_overdraw() {
        let b = std::sync::Arc::new(Bucket::default());
        let rate = Rate {
            requests: 1000,
            unit_ns: 3600 * SEC,
        };
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| matches!(b.take(SEC, rate), Take::Ok { .. }))
                        .count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1000);
    }
}
