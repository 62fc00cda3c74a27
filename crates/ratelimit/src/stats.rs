//! Rate-limit metrics: decisions per policy and Redis failures, rendered for
//! `/stats/prometheus`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A decision, as the `result` label says it.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// Admitted.
    Ok = 0,
    /// Refused with 429.
    OverLimit = 1,
    /// Redis failed (admitted or refused per the failure mode).
    Error = 2,
}

const RESULTS: [&str; 3] = ["ok", "over_limit", "error"];

/// Counters per policy: read without a lock on every decision; a policy seen for the first time
/// copies the map once.
type ByPolicy = BTreeMap<Arc<str>, Arc<[AtomicU64; 3]>>;

#[derive(Debug)]
pub struct Stats {
    by_policy: ArcSwap<ByPolicy>,
    redis_errors: AtomicU64,
    fail_closed: bool,
}

impl Stats {
    pub fn new(fail_closed: bool) -> Self {
        Self {
            by_policy: ArcSwap::default(),
            redis_errors: AtomicU64::new(0),
            fail_closed,
        }
    }

    pub fn count(&self, policy: &Arc<str>, outcome: Outcome) {
        let found = self.by_policy.load().get(policy).cloned();
        let counters = found.unwrap_or_else(|| {
            let mut fresh = None;
            self.by_policy.rcu(|map| {
                let mut map = ByPolicy::clone(map);
                fresh = Some(map.entry(policy.clone()).or_default().clone());
                map
            });
            fresh.unwrap_or_default()
        });
        counters[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn redis_error(&self) {
        self.redis_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP rampart_ratelimit_requests_total Requests checked against rate limits, by policy and result."
        );
        let _ = writeln!(out, "# TYPE rampart_ratelimit_requests_total counter");
        for (policy, counters) in self.by_policy.load().iter() {
            for (i, result) in RESULTS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "rampart_ratelimit_requests_total{{policy=\"{policy}\",result=\"{result}\"}} {}",
                    counters[i].load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP rampart_ratelimit_redis_errors_total Redis calls for global rate limits that failed or timed out; failure_mode says whether those requests were admitted (allow) or refused (deny)."
        );
        let _ = writeln!(out, "# TYPE rampart_ratelimit_redis_errors_total counter");
        let mode = if self.fail_closed { "deny" } else { "allow" };
        let _ = writeln!(
            out,
            "rampart_ratelimit_redis_errors_total{{failure_mode=\"{mode}\"}} {}",
            self.redis_errors.load(Ordering::Relaxed)
        );
    }
}
