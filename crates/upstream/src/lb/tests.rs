use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_model::{HashKey, LbPolicy};

use super::*;

fn endpoints(weights: &[u32]) -> Vec<Arc<Endpoint>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let addr = format!("127.0.0.{}:80", i + 1).parse().unwrap();
            Arc::new(Endpoint::new(
                addr,
                w,
                BTreeMap::new(),
                1,
                Default::default(),
            ))
        })
        .collect()
}

fn counts(
    policy: &LbPolicy,
    weights: &[u32],
    n: usize,
    hash: impl Fn(usize) -> Option<u64>,
) -> Vec<usize> {
    let eps = endpoints(weights);
    let lb = Balancer::build(policy, &eps);
    let mut counts = vec![0; eps.len()];
    for i in 0..n {
        counts[lb.pick(&eps, hash(i)).unwrap()] += 1;
    }
    counts
}

#[test]
fn round_robin_follows_weights_exactly() {
    assert_eq!(
        counts(&LbPolicy::RoundRobin, &[1, 3], 400, |_| None),
        vec![100, 300]
    );
    assert_eq!(
        counts(&LbPolicy::RoundRobin, &[1, 1, 1], 300, |_| None),
        vec![100, 100, 100]
    );
}

#[test]
fn random_and_least_request_spread_by_weight() {
    for policy in [LbPolicy::Random, LbPolicy::LeastRequest] {
        let c = counts(&policy, &[1, 3], 8000, |_| None);
        let share = c[1] as f64 / 8000.0;
        assert!((0.70..0.80).contains(&share), "{policy:?}: {c:?}");
    }
}

#[test]
fn least_request_avoids_the_busy_endpoint() {
    let eps = endpoints(&[1, 1]);
    let _busy: Vec<_> = (0..5).map(|_| eps[0].activate()).collect();
    let lb = Balancer::build(&LbPolicy::LeastRequest, &eps);
    for _ in 0..100 {
        assert_eq!(lb.pick(&eps, None), Some(1));
    }
}

#[test]
fn hash_balancers_are_sticky_and_spread() {
    let key = HashKey::SourceIp;
    for policy in [
        LbPolicy::RingHash {
            key: key.clone(),
            min_ring_size: 1024,
        },
        LbPolicy::Maglev {
            key: key.clone(),
            table_size: 65537,
        },
    ] {
        let eps = endpoints(&[1, 1, 1]);
        let lb = Balancer::build(&policy, &eps);
        let mut seen = [0usize; 3];
        for k in 0..3000u64 {
            let h = stable_hash(&k.to_le_bytes());
            let first = lb.pick(&eps, Some(h)).unwrap();
            assert_eq!(lb.pick(&eps, Some(h)), Some(first));
            seen[first] += 1;
        }
        assert!(seen.iter().all(|&c| c > 700), "{policy:?}: {seen:?}");
    }
}

#[test]
fn maglev_moves_few_keys_when_an_endpoint_leaves() {
    let policy = LbPolicy::Maglev {
        key: HashKey::SourceIp,
        table_size: 65537,
    };
    let all = endpoints(&[1, 1, 1, 1]);
    let fewer: Vec<_> = all[..3].to_vec();
    let a = Balancer::build(&policy, &all);
    let b = Balancer::build(&policy, &fewer);
    let moved = (0..4000u64)
        .filter(|k| {
            let h = stable_hash(&k.to_le_bytes());
            let before = a.pick(&all, Some(h)).unwrap();
            before != 3 && b.pick(&fewer, Some(h)).unwrap() != before
        })
        .count();
    assert!(moved < 400, "moved {moved}");
}

#[test]
fn no_endpoints_means_no_pick() {
    let lb = Balancer::build(&LbPolicy::RoundRobin, &[]);
    assert_eq!(lb.pick(&[], None), None);
}
