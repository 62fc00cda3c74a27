use http::{HeaderMap, Method, StatusCode};
use proptest::prelude::*;

use super::*;
use crate::route::{
    Action, DirectResponse, HeaderOps, PathMatch, RouteMatch, RouteOrigin, StrMatch,
};

fn route(matches: Vec<RouteMatch>) -> Route {
    Route {
        name: "r".into(),
        origin: RouteOrigin {
            virtual_service: "default/vs".into(),
            rule: 0,
            location: "t:1".into(),
        },
        matches,
        action: Action::Direct(DirectResponse {
            status: StatusCode::OK,
            body: Default::default(),
        }),
        rewrite: None,
        request_headers: HeaderOps::default(),
        response_headers: HeaderOps::default(),
        timeout: None,
        retry: crate::route::RetryPolicy::istio_default(),
        fault: None,
        mirrors: Box::default(),
        rate_limit: None,
        cors: None,
        stat: 0,
    }
}

fn uri(kind: StrMatch, ignore_case: bool) -> RouteMatch {
    RouteMatch {
        uri: Some(PathMatch { kind, ignore_case }),
        ..Default::default()
    }
}

fn view<'a>(path: &'a str, headers: &'a HeaderMap) -> RequestView<'a> {
    RequestView {
        method: &Method::GET,
        scheme: "http",
        authority: "h",
        path,
        query: None,
        headers,
        port: 80,
        auth: None,
    }
}

fn position(
    routes: &[Route],
    hit: Option<(&Route, Option<usize>)>,
) -> Option<(usize, Option<usize>)> {
    hit.map(|(r, m)| (routes.iter().position(|x| std::ptr::eq(x, r)).unwrap(), m))
}

#[test]
fn first_match_wins_across_exact_prefix_and_catch_all() {
    let routes = vec![
        route(vec![uri(StrMatch::Prefix("/api".into()), false)]),
        route(vec![uri(StrMatch::Exact("/api/v1".into()), false)]),
        route(vec![]),
    ];
    let index = PathIndex::build(&routes);
    let h = HeaderMap::new();
    assert_eq!(
        position(&routes, index.find(&routes, &view("/api/v1", &h))),
        Some((0, Some(0)))
    );
    assert_eq!(
        position(&routes, index.find(&routes, &view("/other", &h))),
        Some((2, None))
    );
}

#[test]
fn many_prefix_lengths_fall_back_to_scanning() {
    let routes: Vec<Route> = (1..40)
        .map(|n| route(vec![uri(StrMatch::Prefix("/".repeat(n).into()), false)]))
        .collect();
    let index = PathIndex::build(&routes);
    let h = HeaderMap::new();
    let path = "/".repeat(39);
    assert_eq!(
        position(&routes, index.find(&routes, &view(&path, &h))),
        Some((0, Some(0)))
    );
}

fn matcher() -> impl Strategy<Value = RouteMatch> {
    let s = "/[ab]{0,3}";
    prop_oneof![
        s.prop_map(|p| uri(StrMatch::Exact(p.into()), false)),
        s.prop_map(|p| uri(StrMatch::Prefix(p.into()), false)),
        s.prop_map(|p| uri(StrMatch::Prefix(p.to_uppercase().into()), true)),
        s.prop_map(|p| uri(
            StrMatch::Regex(regex::Regex::new(&format!("^(?:{p}.*)$")).unwrap()),
            false
        )),
        Just(RouteMatch::default()),
    ]
}

proptest! {
    #[test]
    fn indexed_lookup_agrees_with_linear_scan(
        rules in proptest::collection::vec(proptest::collection::vec(matcher(), 0..3), 0..12),
        path in "/[ab]{0,4}",
    ) {
        let routes: Vec<Route> = rules.into_iter().map(route).collect();
        let index = PathIndex::build(&routes);
        let h = HeaderMap::new();
        let req = view(&path, &h);
        prop_assert_eq!(position(&routes, index.find(&routes, &req)), position(&routes, index.scan(&routes, &req)));
    }
}
