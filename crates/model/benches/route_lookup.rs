//! Route lookup at 10, 1,000 and 10,000 routes: hosts × path rules, one listener.
//!
//! Half the routes are spread over distinct hosts, half are path rules of one busy host, so both
//! the host table and the path index are exercised. The time should stay flat as routes grow.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, Method, StatusCode};
use rampart_model::route::{
    Action, DirectResponse, HeaderOps, PathMatch, RequestView, Route, RouteMatch, RouteOrigin,
    RouteTable, StrMatch, VirtualHost,
};

fn route(path: String, exact: bool) -> Route {
    let kind = if exact {
        StrMatch::Exact(path.into())
    } else {
        StrMatch::Prefix(path.into())
    };
    Route {
        name: "r".into(),
        origin: RouteOrigin {
            virtual_service: "default/vs".into(),
            rule: 0,
            location: "b:1".into(),
        },
        matches: vec![RouteMatch {
            uri: Some(PathMatch {
                kind,
                ignore_case: false,
            }),
            ..Default::default()
        }],
        action: Action::Direct(DirectResponse {
            status: StatusCode::OK,
            body: Default::default(),
        }),
        rewrite: None,
        request_headers: HeaderOps::default(),
        response_headers: HeaderOps::default(),
        timeout: None,
        retry: rampart_model::route::RetryPolicy::istio_default(),
        fault: None,
        mirrors: Box::default(),
        rate_limit: None,
        cors: None,
        stat: 0,
    }
}

fn table(n: usize) -> RouteTable {
    let hosts = (n / 2).max(1);
    let mut vhosts: Vec<VirtualHost> = (0..hosts)
        .map(|h| {
            VirtualHost::new(
                format!("svc-{h}.example.com").into(),
                vec![route("/".into(), false)],
                false,
            )
        })
        .collect();
    let busy: Vec<Route> = (0..n - hosts)
        .map(|i| route(format!("/api/v{i}/items"), i % 2 == 0))
        .collect();
    vhosts.push(VirtualHost::new("busy.example.com".into(), busy, false));
    RouteTable::new(vhosts)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    let headers = HeaderMap::new();
    for n in [10usize, 1_000, 10_000] {
        let t = table(n);
        let last = (n - (n / 2).max(1)).saturating_sub(1);
        let path = format!("/api/v{last}/items");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let req = RequestView {
                    method: &Method::GET,
                    scheme: "http",
                    authority: black_box("busy.example.com"),
                    path: black_box(&path),
                    query: None,
                    headers: &headers,
                    port: 80,
                    auth: None,
                };
                let vh = t.find_host(req.authority).expect("host");
                black_box(vh.find_route(&req).is_some())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
