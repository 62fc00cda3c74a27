use std::collections::BTreeSet;

use super::*;
use crate::test_support::{outlier, spec};
use crate::Registry;

fn cluster(ports: &[u16], od: OutlierSpec) -> Cluster {
    let mut spec = spec(ports);
    spec.outlier = Some(od);
    Cluster::new(spec, 1)
}

fn endpoint(c: &Cluster, port: u16) -> Arc<Endpoint> {
    c.state()
        .endpoints
        .iter()
        .find(|e| e.address.port() == port)
        .unwrap()
        .clone()
}

fn report(c: &Cluster, port: u16, times: usize, outcome: Outcome) {
    let ep = endpoint(c, port);
    for _ in 0..times {
        c.record_outcome(&c.state(), &ep, outcome);
    }
}

fn ejected(c: &Cluster) -> BTreeSet<u16> {
    c.state()
        .endpoints
        .iter()
        .filter(|e| e.health.is_ejected())
        .map(|e| e.address.port())
        .collect()
}

fn picked(c: &Cluster) -> BTreeSet<u16> {
    let state = c.state();
    (0..30)
        .filter_map(|_| c.pick(&state, None).ok())
        .map(|e| e.address.port())
        .collect()
}

/// Milliseconds left of `port`'s ejection.
fn remaining_ms(c: &Cluster, port: u16) -> u64 {
    let until = endpoint(c, port)
        .health
        .ejected_until
        .load(Ordering::Relaxed);
    until.saturating_sub(c.now_ms())
}

fn enforced(c: &Cluster) -> u64 {
    c.health_stats.ejections_enforced.load(Ordering::Relaxed)
}

/// A registry on the current (paused) runtime holding one cluster for `spec`.
fn registered(spec: &ClusterSpec) -> (Registry, Arc<Cluster>) {
    let registry = Registry::new(1, tokio::runtime::Handle::current());
    let c = registry.reconcile(std::slice::from_ref(spec))[0].clone();
    (registry, c)
}

#[test]
fn consecutive_5xx_eject_and_a_success_resets_the_count() {
    let c = cluster(&[1, 2, 3], outlier(3, 100));
    report(&c, 1, 2, Outcome::Response(500));
    report(&c, 1, 1, Outcome::Response(200));
    report(&c, 1, 2, Outcome::Response(503));
    assert!(ejected(&c).is_empty(), "the success reset the streak");
    report(&c, 1, 1, Outcome::LocalFailure);
    assert_eq!(
        ejected(&c),
        BTreeSet::from([1]),
        "a local failure counts as a 5xx when not split"
    );
    assert_eq!(picked(&c), BTreeSet::from([2, 3]));
    assert_eq!(enforced(&c), 1);
    let stats = &c.health_stats;
    assert_eq!(stats.ejections_enforced_5xx.load(Ordering::Relaxed), 1);
    assert_eq!(endpoint(&c, 1).health.ejections_total(), 1);
    assert_eq!(endpoint(&c, 1).health.flags(), "/failed_outlier_check");
}

#[test]
fn without_outlier_detection_outcomes_are_ignored() {
    let c = Cluster::new(spec(&[1]), 1);
    report(&c, 1, 100, Outcome::Response(500));
    report(&c, 1, 100, Outcome::LocalFailure);
    assert!(ejected(&c).is_empty());
    let h = &endpoint(&c, 1).health;
    assert_eq!(h.consecutive_5xx.load(Ordering::Relaxed), 0);
}

#[test]
fn gateway_errors_have_their_own_streak() {
    let mut od = outlier(0, 100);
    od.consecutive_gateway = 2;
    let c = cluster(&[1, 2], od);
    report(&c, 1, 1, Outcome::Response(502));
    report(&c, 1, 1, Outcome::Response(500));
    report(&c, 1, 1, Outcome::Response(504));
    assert!(ejected(&c).is_empty(), "a 500 ends a gateway-error streak");
    report(&c, 1, 1, Outcome::LocalFailure);
    assert_eq!(ejected(&c), BTreeSet::from([1]));
    let stats = &c.health_stats;
    assert_eq!(stats.ejections_enforced_gateway.load(Ordering::Relaxed), 1);
    report(&c, 2, 10, Outcome::Response(500));
    assert_eq!(
        ejected(&c),
        BTreeSet::from([1]),
        "consecutive5xx 0 disables"
    );
}

#[test]
fn error_codes_choose_what_counts_but_local_failures_always_do() {
    let mut od = outlier(2, 100);
    od.error_codes = Box::new([429, 503]);
    let c = cluster(&[1, 2], od);
    report(&c, 1, 5, Outcome::Response(500));
    assert!(ejected(&c).is_empty(), "500 is not listed");
    report(&c, 1, 1, Outcome::Response(429));
    report(&c, 1, 1, Outcome::LocalFailure);
    assert_eq!(ejected(&c), BTreeSet::from([1]));
}

#[test]
fn split_local_origin_failures_count_apart_and_a_response_ends_them() {
    let mut od = outlier(3, 100);
    od.split_local_origin = true;
    od.consecutive_local_origin = 2;
    let c = cluster(&[1, 2], od);
    report(&c, 1, 1, Outcome::LocalFailure);
    report(&c, 1, 2, Outcome::Response(500));
    report(&c, 1, 1, Outcome::LocalFailure);
    assert!(
        ejected(&c).is_empty(),
        "a 5xx is a working connection: the local streak restarted, and local failures are no 5xx"
    );
    report(&c, 1, 1, Outcome::LocalFailure);
    assert_eq!(ejected(&c), BTreeSet::from([1]));
    let stats = &c.health_stats;
    assert_eq!(
        stats
            .ejections_enforced_local_origin
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn max_ejection_percent_caps_ejections_but_one_is_always_allowed() {
    let c = cluster(&[1, 2, 3], outlier(1, 10));
    report(&c, 1, 1, Outcome::Response(500));
    report(&c, 2, 1, Outcome::Response(500));
    assert_eq!(
        ejected(&c),
        BTreeSet::from([1]),
        "10 % of 3 still ejects one"
    );
    assert_eq!(c.health_stats.ejections_overflow.load(Ordering::Relaxed), 1);

    let ports: Vec<u16> = (1..=10).collect();
    let c = cluster(&ports, outlier(1, 20));
    for &port in &ports {
        report(&c, port, 1, Outcome::Response(500));
    }
    assert_eq!(ejected(&c), BTreeSet::from([1, 2]), "20 % of 10");
    assert_eq!(c.health_stats.ejections_overflow.load(Ordering::Relaxed), 8);

    let c = cluster(&[1, 2], outlier(1, 0));
    report(&c, 1, 1, Outcome::Response(500));
    assert!(ejected(&c).is_empty(), "0 % ejects nothing");
}

#[test]
fn with_every_endpoint_ejected_there_is_no_healthy_upstream() {
    let c = cluster(&[1, 2], outlier(1, 100));
    report(&c, 1, 1, Outcome::Response(502));
    report(&c, 2, 1, Outcome::Response(502));
    assert!(matches!(
        c.pick(&c.state(), None),
        Err(crate::Error::NoHealthyUpstream)
    ));
    assert_eq!(c.no_healthy_upstream.load(Ordering::Relaxed), 1);
}

#[test]
fn below_min_health_percent_the_balancer_panics_and_ignores_health() {
    let mut od = outlier(1, 100);
    od.min_health_percent = 50;
    let c = cluster(&[1, 2], od);
    report(&c, 1, 1, Outcome::Response(500));
    assert_eq!(picked(&c), BTreeSet::from([2]), "50 % healthy is not panic");
    report(&c, 2, 1, Outcome::Response(500));
    assert_eq!(ejected(&c), BTreeSet::from([1, 2]));
    assert_eq!(picked(&c), BTreeSet::from([1, 2]), "panic mode");
}

#[tokio::test(start_paused = true)]
async fn ejection_time_grows_with_each_ejection_up_to_the_cap() {
    let c = cluster(&[1, 2], outlier(1, 100));
    report(&c, 1, 1, Outcome::Response(500));
    assert_eq!(remaining_ms(&c, 1), 30_000);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(!c.sweep_outliers(), "still out after 29 s");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(c.sweep_outliers(), "back after 30 s");
    assert!(ejected(&c).is_empty());

    report(&c, 1, 1, Outcome::Response(500));
    assert_eq!(endpoint(&c, 1).health.ejection_multiplier(), 2);
    assert_eq!(remaining_ms(&c, 1), 60_000, "base × 2");
    for _ in 0..12 {
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(c.sweep_outliers());
        report(&c, 1, 1, Outcome::Response(500));
    }
    assert_eq!(remaining_ms(&c, 1), 300_000, "capped at max_ejection_time");
    assert_eq!(
        endpoint(&c, 1).health.ejection_multiplier(),
        10,
        "the multiplier stops growing at the cap, as Envoy's backoff does"
    );
    assert_eq!(endpoint(&c, 1).health.ejections_total(), 14);
}

#[tokio::test(start_paused = true)]
async fn the_multiplier_decays_by_one_per_interval_in_service() {
    let c = cluster(&[1, 2], outlier(1, 100));
    let ep = endpoint(&c, 1);
    for _ in 0..3 {
        report(&c, 1, 1, Outcome::Response(500));
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(c.sweep_outliers());
    }
    assert_eq!(ep.health.ejection_multiplier(), 3);
    c.sweep_outliers();
    c.sweep_outliers();
    assert_eq!(ep.health.ejection_multiplier(), 1);
    report(&c, 1, 1, Outcome::Response(500));
    assert_eq!(remaining_ms(&c, 1), 60_000);
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_task_returns_endpoints_after_their_ejection_time() {
    let mut s = spec(&[1, 2]);
    s.outlier = Some(outlier(1, 100)); // interval 10 s, base 30 s
    let (_registry, c) = registered(&s);
    report(&c, 1, 1, Outcome::Response(500));
    assert_eq!(picked(&c), BTreeSet::from([2]));
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(ejected(&c), BTreeSet::from([1]), "sweeps at 10 s and 20 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(ejected(&c).is_empty(), "the 30 s sweep returned it");
    assert_eq!(picked(&c), BTreeSet::from([1, 2]));
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_picks_up_a_new_interval_after_a_reload() {
    let mut od = outlier(1, 100);
    od.interval = Duration::from_secs(600);
    od.base_ejection_time = Duration::from_secs(1);
    let mut s = spec(&[1, 2]);
    s.outlier = Some(od.clone());
    let (registry, c) = registered(&s);
    report(&c, 1, 1, Outcome::Response(500));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ejected(&c), BTreeSet::from([1]), "no sweep before 600 s");
    od.interval = Duration::from_secs(2);
    s.outlier = Some(od);
    registry.reconcile(std::slice::from_ref(&s));
    // The new interval counts from the sweeper's start: the sweep is due at once.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(ejected(&c).is_empty());
}

#[tokio::test(start_paused = true)]
async fn removing_outlier_detection_readmits_ejected_endpoints() {
    let mut s = spec(&[1, 2]);
    s.outlier = Some(outlier(1, 100));
    let (registry, c) = registered(&s);
    report(&c, 1, 1, Outcome::Response(500));
    assert_eq!(picked(&c), BTreeSet::from([2]));
    s.outlier = None;
    registry.reconcile(std::slice::from_ref(&s));
    assert_eq!(picked(&c), BTreeSet::from([1, 2]), "at once");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(
        ejected(&c).is_empty(),
        "and the sweeper forgot the ejection"
    );
}

#[test]
fn ejection_survives_an_update_with_the_same_endpoints() {
    let c = cluster(&[1, 2], outlier(1, 100));
    report(&c, 1, 1, Outcome::Response(500));
    let before = endpoint(&c, 1);
    let mut next = spec(&[1, 2]);
    next.lb = rampart_model::LbPolicy::Random;
    next.outlier = Some(outlier(1, 100));
    c.update(next);
    assert!(
        Arc::ptr_eq(&before, &endpoint(&c, 1)),
        "the endpoint is reused"
    );
    assert_eq!(ejected(&c), BTreeSet::from([1]));
    assert_eq!(picked(&c), BTreeSet::from([2]));
}

#[test]
fn an_endpoint_removed_by_a_reload_is_not_ejected() {
    let c = cluster(&[1, 2, 3], outlier(1, 100));
    let stale = c.state();
    let gone = endpoint(&c, 1);
    let mut next = spec(&[2, 3]);
    next.outlier = Some(outlier(1, 100));
    c.update(next);
    c.record_outcome(&stale, &gone, Outcome::Response(500));
    assert_eq!(enforced(&c), 0);
    assert_eq!(picked(&c), BTreeSet::from([2, 3]));
}

#[test]
fn a_failing_priority_spills_to_the_next() {
    let mut s = spec(&[1, 2, 3]);
    s.endpoints[2].priority = 1;
    s.outlier = Some(outlier(1, 100));
    let c = Cluster::new(s, 1);
    assert_eq!(picked(&c), BTreeSet::from([1, 2]), "priority 0 takes all");
    report(&c, 1, 1, Outcome::Response(500));
    report(&c, 2, 1, Outcome::Response(500));
    assert_eq!(picked(&c), BTreeSet::from([3]), "failover to priority 1");
}

#[test]
fn concurrent_failures_never_exceed_max_ejection_percent() {
    let ports: Vec<u16> = (1..=8).collect();
    let c = Arc::new(cluster(&ports, outlier(1, 50)));
    std::thread::scope(|scope| {
        for &port in &ports {
            let c = c.clone();
            scope.spawn(move || report(&c, port, 1, Outcome::Response(500)));
        }
    });
    assert_eq!(ejected(&c).len(), 4);
    assert_eq!(c.state().routable().count(), 4);
}
