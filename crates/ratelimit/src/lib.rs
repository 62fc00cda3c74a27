//! Rate limiting for routes with a [`RouteRateLimit`] (Envoy Gateway's BackendTrafficPolicy
//! `rateLimit`): local rules take a token from a lock-free bucket in this process ([`bucket`],
//! [`local`]); global rules count in a fixed window in Redis shared by every replica
//! ([`global`], [`redis`]).
//!
//! The [`Limiter`] lives as long as the process, so buckets survive configuration reloads: they
//! are keyed by the rule's stable identity, the route's (unless the rule is `shared`) and the
//! request's descriptor. When Redis cannot answer within the timeout the request is admitted
//! (fail open, Envoy's `failure_mode_deny: false` and Envoy Gateway's default) or refused with
//! 500 when the gateway runs with fail-closed; local rules apply either way, and the failure is
//! counted in `rampart_ratelimit_redis_errors_total`.

pub mod bucket;
pub mod global;
pub mod local;
pub mod redis;
mod stats;

use std::net::IpAddr;
use std::time::Duration;

use rampart_model::rate_limit::{RateLimitRule, RouteRateLimit, Scope};
use rampart_model::route::RequestView;

use crate::bucket::{Rate, Take};
use crate::global::Counter;
use crate::local::LocalBuckets;
use crate::redis::{Client, RedisAddr};
use crate::stats::{Outcome, Stats};

/// Envoy Gateway's default timeout for a rate-limit backend call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(20);

/// How global limits reach Redis.
#[derive(Clone, Debug)]
pub struct GlobalSettings {
    /// The Redis server.
    pub redis: RedisAddr,
    /// Bound on each Redis call.
    pub timeout: Duration,
    /// Refuse (500) instead of admitting when Redis fails.
    pub fail_closed: bool,
}

/// The limits a response reports (`x-ratelimit-*`, `retry-after`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// `limit.requests`.
    pub limit: u32,
    /// Window (`limit.unit`) in seconds.
    pub window_secs: u64,
    /// Requests left.
    pub remaining: u32,
    /// Seconds until the quota is whole again (`x-ratelimit-reset`) or, when refused, until a
    /// request may pass (`retry-after`).
    pub reset_secs: u64,
    /// Whether the rule sends `x-ratelimit-*` headers.
    pub headers: bool,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward it; `Some` carries the tightest quota of the rules that counted it.
    Allow(Option<Quota>),
    /// Refuse it with 429.
    Limited(Quota),
    /// Redis failed and the gateway fails closed: refuse with 500.
    Failed,
}

/// Every bucket and counter of the process.
#[derive(Debug)]
pub struct Limiter {
    base: tokio::time::Instant,
    local: LocalBuckets,
    global: Option<(Client, bool)>,
    stats: Stats,
}

impl Limiter {
    /// A limiter; with `global`, its Redis connection is opened now and runs on the current
    /// Tokio runtime (so this must then be called inside one).
    pub fn new(global: Option<GlobalSettings>) -> Self {
        let fail_closed = global.as_ref().is_some_and(|g| g.fail_closed);
        let global = global.map(|g| {
            let client = Client::new(g.redis, g.timeout, tokio::runtime::Handle::current());
            client.warm();
            (client, g.fail_closed)
        });
        Self {
            base: tokio::time::Instant::now(),
            local: LocalBuckets::default(),
            global,
            stats: Stats::new(fail_closed),
        }
    }

    /// Whether global rules can be served (a Redis server is configured).
    pub fn has_global(&self) -> bool {
        self.global.is_some()
    }

    /// Counts `req` (from `client`) against every rule of the route's policy that selects it.
    pub async fn check(
        &self,
        rl: &RouteRateLimit,
        req: &RequestView<'_>,
        client: IpAddr,
    ) -> Decision {
        let now = self.base.elapsed().as_nanos() as u64;
        let mut tightest: Option<Quota> = None;
        let mut globals: Vec<(&RateLimitRule, String)> = Vec::new();
        for rule in &rl.policy.rules {
            let Some(descriptor) = rule.descriptor(req, client) else {
                continue;
            };
            if rule.scope == Scope::Global {
                globals.push((rule, descriptor));
                continue;
            }
            let route = if rule.shared { "" } else { &rl.route };
            let rate = Rate {
                requests: rule.requests,
                unit_ns: rule.unit.as_nanos() as u64,
            };
            match self.local.take(&rule.id, route, &descriptor, now, rate) {
                Take::Ok {
                    remaining,
                    reset_ns,
                } => {
                    note(&mut tightest, quota(rule, remaining, secs_ceil(reset_ns)));
                }
                Take::Empty { retry_ns } => {
                    self.stats.count(&rl.policy.name, Outcome::OverLimit);
                    return Decision::Limited(quota(rule, 0, secs_ceil(retry_ns)));
                }
            }
        }
        if globals.is_empty() {
            if tightest.is_some() {
                self.stats.count(&rl.policy.name, Outcome::Ok);
            }
            return Decision::Allow(tightest);
        }
        let Some((redis, fail_closed)) = &self.global else {
            // Refused at configuration time; admit rather than guess.
            self.stats.count(&rl.policy.name, Outcome::Error);
            return Decision::Allow(tightest);
        };
        let counters: Vec<Counter<'_>> = globals
            .iter()
            .map(|(rule, descriptor)| Counter {
                rule: &rule.id,
                route: if rule.shared { "" } else { &rl.route },
                descriptor,
                unit_secs: rule.unit.as_secs(),
            })
            .collect();
        match global::count(redis, &counters).await {
            Ok(counts) => {
                let mut limited: Option<Quota> = None;
                for ((rule, _), c) in globals.iter().zip(counts) {
                    let reset = c.reset_ms.div_ceil(1000);
                    if c.count > u64::from(rule.requests) {
                        if !rule.shadow && limited.is_none() {
                            limited = Some(quota(rule, 0, reset));
                        }
                    } else {
                        let left = u64::from(rule.requests) - c.count;
                        note(&mut tightest, quota(rule, left as u32, reset));
                    }
                }
                if let Some(q) = limited {
                    self.stats.count(&rl.policy.name, Outcome::OverLimit);
                    return Decision::Limited(q);
                }
                self.stats.count(&rl.policy.name, Outcome::Ok);
                Decision::Allow(tightest)
            }
            Err(e) => {
                tracing::debug!(error = %e, policy = %rl.policy.name, "global rate limit unavailable");
                self.stats.redis_error();
                self.stats.count(&rl.policy.name, Outcome::Error);
                if *fail_closed {
                    Decision::Failed
                } else {
                    Decision::Allow(tightest)
                }
            }
        }
    }

    /// Appends the rate-limit metrics (Prometheus text).
    pub fn render(&self, out: &mut String) {
        self.stats.render(out);
    }
}

fn quota(rule: &RateLimitRule, remaining: u32, reset_secs: u64) -> Quota {
    Quota {
        limit: rule.requests,
        window_secs: rule.unit.as_secs().max(1),
        remaining,
        reset_secs,
        headers: rule.headers,
    }
}

/// Keeps the quota with the fewest requests left (among rules that send headers).
fn note(tightest: &mut Option<Quota>, q: Quota) {
    if q.headers && tightest.is_none_or(|t| q.remaining < t.remaining) {
        *tightest = Some(q);
    }
}

fn secs_ceil(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000).max(1)
}

#[cfg(test)]
mod tests;
