//! The limiter on tokio's paused clock: local rules, descriptors, reload survival.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, Method};
use rampart_model::rate_limit::{
    HeaderSelector, RateLimitPolicy, RateLimitRule, RouteRateLimit, Scope, Selector,
};
use rampart_model::route::RequestView;

use super::*;

fn rule(id: &str, requests: u32, selectors: Vec<Selector>) -> RateLimitRule {
    RateLimitRule {
        id: id.into(),
        scope: Scope::Local,
        selectors: selectors.into(),
        requests,
        unit: Duration::from_secs(1),
        shared: false,
        shadow: false,
        headers: true,
    }
}

fn route(rules: Vec<RateLimitRule>) -> RouteRateLimit {
    RouteRateLimit {
        policy: Arc::new(RateLimitPolicy {
            name: "ns/p".into(),
            rules: rules.into(),
            global_at: None,
        }),
        route: "ns/vs/0".into(),
    }
}

async fn check(l: &Limiter, rl: &RouteRateLimit, headers: &HeaderMap) -> Decision {
    let view = RequestView {
        method: &Method::GET,
        scheme: "http",
        authority: "a",
        path: "/",
        query: None,
        headers,
        port: 80,
        auth: None,
    };
    l.check(rl, &view, "127.0.0.1".parse().unwrap()).await
}

fn limiter() -> Limiter {
    Limiter::new(None)
}

#[tokio::test(start_paused = true)]
async fn local_limit_refuses_then_refills() {
    let l = limiter();
    let rl = route(vec![rule("ns/p/local/0", 3, vec![])]);
    let h = HeaderMap::new();
    for left in [2, 1, 0] {
        let Decision::Allow(Some(q)) = check(&l, &rl, &h).await else {
            panic!("refused early");
        };
        assert_eq!((q.limit, q.remaining, q.window_secs), (3, left, 1));
    }
    let Decision::Limited(q) = check(&l, &rl, &h).await else {
        panic!("4th admitted");
    };
    assert_eq!((q.remaining, q.reset_secs), (0, 1));
    tokio::time::advance(Duration::from_millis(334)).await;
    assert!(matches!(check(&l, &rl, &h).await, Decision::Allow(_)));
    let mut out = String::new();
    l.render(&mut out);
    assert!(out.contains("rampart_ratelimit_requests_total{policy=\"ns/p\",result=\"ok\"} 4"));
    assert!(
        out.contains("rampart_ratelimit_requests_total{policy=\"ns/p\",result=\"over_limit\"} 1")
    );
}

#[tokio::test(start_paused = true)]
async fn distinct_headers_have_their_own_buckets_and_survive_reloads() {
    let l = limiter();
    let user = HeaderName::from_static("x-user");
    let sel = || Selector {
        headers: vec![HeaderSelector::Distinct { name: user.clone() }],
        ..Selector::default()
    };
    let rl = route(vec![rule("ns/p/local/0", 1, vec![sel()])]);
    let mut alice = HeaderMap::new();
    alice.insert(&user, "alice".parse().unwrap());
    let mut bob = HeaderMap::new();
    bob.insert(&user, "bob".parse().unwrap());
    assert!(matches!(check(&l, &rl, &alice).await, Decision::Allow(_)));
    assert!(matches!(check(&l, &rl, &alice).await, Decision::Limited(_)));
    assert!(matches!(check(&l, &rl, &bob).await, Decision::Allow(_)));
    // Without the header the rule does not apply.
    assert_eq!(
        check(&l, &rl, &HeaderMap::new()).await,
        Decision::Allow(None)
    );
    // A recompiled policy with the same identity finds the same buckets.
    let reloaded = route(vec![rule("ns/p/local/0", 1, vec![sel()])]);
    assert!(matches!(
        check(&l, &reloaded, &alice).await,
        Decision::Limited(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn strictest_rule_wins() {
    let l = limiter();
    let rl = route(vec![rule("r/0", 10, vec![]), rule("r/1", 2, vec![])]);
    let h = HeaderMap::new();
    let Decision::Allow(Some(q)) = check(&l, &rl, &h).await else {
        panic!()
    };
    assert_eq!((q.limit, q.remaining), (2, 1));
    check(&l, &rl, &h).await;
    let Decision::Limited(q) = check(&l, &rl, &h).await else {
        panic!()
    };
    assert_eq!(q.limit, 2);
}
