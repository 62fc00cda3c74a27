//! Local buckets by stable identity (rule id, route unless `shared`, descriptor), kept across
//! configuration reloads. Each (rule, route) scope holds one bucket for requests without a
//! descriptor and at most [`MAX_DISTINCT`] buckets for distinct descriptors: when full, buckets
//! that have refilled completely are dropped (a fresh one is identical), and if none has, new
//! descriptors share one overflow bucket, so a client that varies a header cannot grow memory
//! or escape the limit.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;

use crate::bucket::{Bucket, Rate, Take};

/// Distinct buckets kept per rule and route.
pub const MAX_DISTINCT: usize = 10_000;

/// Every local bucket of the process.
#[derive(Debug, Default)]
pub struct LocalBuckets {
    hasher: RandomState,
    /// Few and rarely added (one per rule and route): read without a lock, copied on insert.
    scopes: ArcSwap<HashMap<u64, Arc<Scope>>>,
}

#[derive(Debug, Default)]
struct Scope {
    plain: Bucket,
    overflow: Bucket,
    /// Up to [`MAX_DISTINCT`] entries, added as new clients appear: a copy per insert would
    /// cost more than an uncontended read lock.
    distinct: RwLock<HashMap<u64, Arc<Bucket>>>,
}

impl LocalBuckets {
    /// Takes a token from the bucket of (`rule`, `route`, `descriptor`) at `now` (nanoseconds
    /// since the limiter's base instant).
    pub fn take(&self, rule: &str, route: &str, descriptor: &str, now: u64, rate: Rate) -> Take {
        let scope = self.scope(rule, route);
        if descriptor.is_empty() {
            return scope.plain.take(now, rate);
        }
        let key = self.hasher.hash_one(descriptor);
        let found = read(&scope.distinct).get(&key).cloned();
        let bucket = match found {
            Some(b) => b,
            None => {
                let mut map = write(&scope.distinct);
                if map.len() >= MAX_DISTINCT && !map.contains_key(&key) {
                    map.retain(|_, b| !b.is_full(now));
                }
                if map.len() >= MAX_DISTINCT && !map.contains_key(&key) {
                    drop(map);
                    return scope.overflow.take(now, rate);
                }
                map.entry(key).or_default().clone()
            }
        };
        bucket.take(now, rate)
    }

    /// Distinct buckets held for (`rule`, `route`).
    pub fn distinct_len(&self, rule: &str, route: &str) -> usize {
        read(&self.scope(rule, route).distinct).len()
    }

    fn scope(&self, rule: &str, route: &str) -> Arc<Scope> {
        let key = self.hasher.hash_one((rule, route));
        if let Some(s) = self.scopes.load().get(&key) {
            return s.clone();
        }
        let mut scope = None;
        self.scopes.rcu(|scopes| {
            let mut scopes = HashMap::clone(scopes);
            scope = Some(scopes.entry(key).or_default().clone());
            scopes
        });
        scope.unwrap_or_default()
    }
}

/// Lock poisoning cannot leave these maps inconsistent (every update is one insert or retain),
/// so a poisoned lock is used as is.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        requests: 2,
        unit_ns: 1_000_000_000,
    };

    fn ok(t: Take) -> bool {
        matches!(t, Take::Ok { .. })
    }

    #[test]
    fn descriptors_and_routes_have_their_own_buckets() {
        let b = LocalBuckets::default();
        for _ in 0..2 {
            assert!(ok(b.take("p/local/0", "vs/0", "alice", 0, RATE)));
        }
        assert!(!ok(b.take("p/local/0", "vs/0", "alice", 0, RATE)));
        assert!(ok(b.take("p/local/0", "vs/0", "bob", 0, RATE)));
        assert!(ok(b.take("p/local/0", "vs/1", "alice", 0, RATE)));
        assert!(ok(b.take("p/local/0", "vs/0", "", 0, RATE)));
        assert_eq!(b.distinct_len("p/local/0", "vs/0"), 2);
    }

    #[test]
    fn distinct_buckets_are_capped() {
        let b = LocalBuckets::default();
        for i in 0..MAX_DISTINCT + 50 {
            b.take("r", "", &format!("client-{i}"), 0, RATE);
        }
        assert_eq!(b.distinct_len("r", ""), MAX_DISTINCT);
        // New descriptors share the overflow bucket: two tokens, then refused.
        assert!(!ok(b.take("r", "", "yet-another", 0, RATE)));
        // Once the buckets have refilled they are dropped to make room.
        assert!(ok(b.take("r", "", "later", 10_000_000_000, RATE)));
        assert_eq!(b.distinct_len("r", ""), 1);
    }
}
