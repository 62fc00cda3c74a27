//! Route matching and actions (scenarios.md S16 and the HTTPMatchRequest fields).

use rampart_testkit::{Backend, Request};

use crate::support::{app_service, TestGateway, G0};

/// G0 + an `app` ServiceEntry on `backend` + one VirtualService with these `http` rules.
fn app(backend: &Backend, rules: &str) -> String {
    format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
{rules}",
        app_service(backend.port(), "HTTP")
    )
}

const TO_APP: &str = "route: [{destination: {host: app.default.svc.cluster.local}}]";

#[tokio::test]
async fn match_fields_select_rules_first_match_wins() {
    let be = Backend::start("app").await;
    let rules = r#"  - name: query
    match: [{queryParams: {debug: {exact: "1"}}}]
    directResponse: {status: 200, body: {string: query}}
  - name: regex
    match: [{uri: {regex: "/items/[0-9]+"}}]
    directResponse: {status: 200, body: {string: regex}}
  - name: without
    match: [{uri: {prefix: /canary}, withoutHeaders: {x-canary: {}}}]
    directResponse: {status: 200, body: {string: stable}}
  - name: method
    match: [{method: {exact: DELETE}}]
    directResponse: {status: 200, body: {string: delete}}
  - name: authority
    match: [{authority: {prefix: admin.}}]
    directResponse: {status: 200, body: {string: admin}}
  - name: nocase
    match: [{uri: {exact: /Case}, ignoreUriCase: true}]
    directResponse: {status: 200, body: {string: nocase}}
  - name: port
    match: [{port: 1, uri: {prefix: /port}}, {uri: {exact: /port-any}}]
    directResponse: {status: 200, body: {string: port}}
  - name: scheme
    match: [{scheme: {exact: http}, uri: {exact: /scheme}}]
    directResponse: {status: 200, body: {string: scheme}}
  - name: header-present
    match: [{headers: {x-any: {}}}]
    directResponse: {status: 200, body: {string: present}}
"#;
    let gw = TestGateway::start(&app(&be, rules)).await;
    let cases: Vec<(Request, u16, &str)> = vec![
        (gw.get("h", "/?debug=1"), 200, "query"),
        (gw.get("h", "/?debug=10"), 404, ""),
        (gw.get("h", "/items/12"), 200, "regex"),
        (gw.get("h", "/items/12/x"), 404, ""),
        (gw.get("h", "/canary"), 200, "stable"),
        (gw.get("h", "/canary").header("x-canary", "1"), 404, ""),
        (
            gw.get("h", "/x").method(http::Method::DELETE),
            200,
            "delete",
        ),
        (gw.get("admin.example.com", "/x"), 200, "admin"),
        (gw.get("h", "/cASE"), 200, "nocase"),
        (gw.get("h", "/port"), 404, ""),
        (gw.get("h", "/port-any"), 200, "port"),
        (gw.get("h", "/scheme"), 200, "scheme"),
        (gw.get("h", "/zzz").header("x-any", ""), 200, "present"),
    ];
    for (req, status, body) in cases {
        let desc = format!("{req:?}");
        let resp = req.send().await.unwrap();
        assert_eq!(
            (resp.status.as_u16(), resp.body.as_str()),
            (status, body),
            "{desc}"
        );
    }
    assert_eq!(be.count(), 0, "direct responses never reach the backend");
}

#[tokio::test]
async fn redirects_rewrites_and_direct_responses() {
    let be = Backend::start("app").await;
    let rules = format!(
        r#"  - match: [{{uri: {{exact: /v1}}}}]
    redirect: {{uri: /v2, redirectCode: 302}}
  - match: [{{uri: {{prefix: /old/}}}}]
    redirect: {{prefixRewrite: /new/, authority: new.example.com, scheme: https}}
  - match: [{{uri: {{prefix: /down}}}}]
    directResponse: {{status: 503, body: {{string: down}}}}
  - match: [{{uri: {{prefix: /bytes}}}}]
    directResponse: {{status: 200, body: {{bytes: aGVsbG8=}}}}
  - match: [{{uri: {{prefix: /api/}}}}]
    rewrite: {{uri: /}}
    {TO_APP}
  - match: [{{uri: {{prefix: /svc/}}}}]
    rewrite: {{uriRegexRewrite: {{match: "^/svc/([^/]+)(/.*)$", rewrite: "\\2/\\1"}}}}
    {TO_APP}
  - match: [{{uri: {{prefix: /auth}}}}]
    rewrite: {{authority: rewritten.example.com}}
    {TO_APP}
  - match: [{{uri: {{prefix: /hdr}}}}]
    headers: {{request: {{set: {{x-a: "1"}}, remove: [x-b]}}, response: {{add: {{x-c: "2"}}}}}}
    {TO_APP}
"#
    );
    let gw = TestGateway::start(&app(&be, &rules)).await;

    let r = gw.get("h.example.com", "/v1?q=1").send().await.unwrap();
    assert_eq!(r.status.as_u16(), 302);
    assert_eq!(r.header("location"), "http://h.example.com/v2?q=1");
    let r = gw.get("h.example.com", "/old/a/b").send().await.unwrap();
    assert_eq!(r.status.as_u16(), 301);
    assert_eq!(r.header("location"), "https://new.example.com/new/a/b");
    let r = gw.get("h", "/down").send().await.unwrap();
    assert_eq!((r.status.as_u16(), r.body.as_str()), (503, "down"));
    let r = gw.get("h", "/bytes").send().await.unwrap();
    assert_eq!(r.body, "hello");
    assert_eq!(be.count(), 0);

    gw.get("h", "/api/users?id=3").send().await.unwrap();
    gw.get("h", "/svc/a/b/c").send().await.unwrap();
    gw.get("h", "/auth").send().await.unwrap();
    let r = gw.get("h", "/hdr").header("x-b", "z").send().await.unwrap();
    assert_eq!(r.header("x-c"), "2");
    let seen = be.requests();
    assert_eq!(seen[0].uri, "/users?id=3", "prefix replaced, query kept");
    assert_eq!(seen[1].uri, "/b/c/a");
    assert_eq!(seen[2].headers["host"], "rewritten.example.com");
    assert_eq!(seen[3].headers["x-a"], "1");
    assert!(seen[3].headers.get("x-b").is_none());
}

#[tokio::test]
async fn https_redirect_server_answers_301() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${GW_PORT}, name: http, protocol: HTTP}
    hosts: ["a.example.com"]
    tls: {httpsRedirect: true}
"#;
    let gw = TestGateway::start(yaml).await;
    let r = gw.get("a.example.com", "/x?y=1").send().await.unwrap();
    assert_eq!(r.status.as_u16(), 301);
    assert_eq!(r.header("location"), "https://a.example.com/x?y=1");
}

#[tokio::test]
async fn proxy_headers_are_set_and_hop_by_hop_headers_stripped() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&app(&be, &format!("  - {TO_APP}\n"))).await;
    let r = gw
        .get("h", "/")
        .header("connection", "x-secret")
        .header("x-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("x-forwarded-for", "10.1.1.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert!(r
        .header("x-envoy-upstream-service-time")
        .parse::<u64>()
        .is_ok());
    let seen = &be.requests()[0];
    assert!(seen.headers.get("x-secret").is_none() && seen.headers.get("keep-alive").is_none());
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.1.1,127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-request-id"].len(), 36);
    let r = gw
        .get("h", "/")
        .header("x-request-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(
        be.requests()[1].headers["x-request-id"],
        "abc",
        "a client's request id is kept"
    );
}

#[tokio::test]
async fn virtual_services_for_one_host_merge_and_delegate() {
    let be = Backend::start("app").await;
    let yaml = format!(
        r#"{}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: second}}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - match: [{{uri: {{prefix: /second}}}}]
    directResponse: {{status: 200, body: {{string: second}}}}
  - match: [{{uri: {{prefix: /team}}}}]
    delegate: {{name: team}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: team}}
spec:
  http:
  - match: [{{headers: {{x-team: {{exact: a}}}}}}]
    directResponse: {{status: 200, body: {{string: team-a}}}}
  - directResponse: {{status: 200, body: {{string: team-other}}}}
"#,
        app(&be, "  - match: [{uri: {prefix: /first}}]\n    directResponse: {status: 200, body: {string: first}}\n")
    );
    let gw = TestGateway::start(&yaml).await;
    let body = |r: rampart_testkit::Response| (r.status.as_u16(), r.body);
    assert_eq!(
        body(gw.get("h", "/first").send().await.unwrap()),
        (200, "first".into())
    );
    assert_eq!(
        body(gw.get("h", "/second").send().await.unwrap()),
        (200, "second".into())
    );
    assert_eq!(
        body(
            gw.get("h", "/team/x")
                .header("x-team", "a")
                .send()
                .await
                .unwrap()
        ),
        (200, "team-a".into())
    );
    assert_eq!(
        body(gw.get("h", "/team/x").send().await.unwrap()),
        (200, "team-other".into())
    );
    assert_eq!(
        gw.get("h", "/other").send().await.unwrap().status.as_u16(),
        404,
        "delegate rules keep the root's /team match"
    );
}

#[tokio::test]
async fn gateway_hosts_and_namespaces_restrict_binding() {
    let be = Backend::start("app").await;
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${GW_PORT}, name: http, protocol: HTTP}
    hosts: ["*.example.com", "prod/api.internal"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wild, namespace: default}
spec:
  hosts: ["*"]
  gateways: [default/edge]
  http:
  - directResponse: {status: 200, body: {string: wild}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: dev}
spec:
  hosts: [api.internal]
  gateways: [default/edge]
  http:
  - directResponse: {status: 200, body: {string: dev-api}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: prod}
spec:
  hosts: [api.internal]
  gateways: [default/edge]
  http:
  - directResponse: {status: 200, body: {string: prod-api}}
"#;
    let _ = be;
    let gw = TestGateway::start(yaml).await;
    let r = gw.get("shop.example.com", "/").send().await.unwrap();
    assert_eq!(
        r.body, "wild",
        "VS host * binds under server host *.example.com"
    );
    let r = gw.get("example.com", "/").send().await.unwrap();
    assert_eq!(
        r.status.as_u16(),
        404,
        "*.example.com does not cover example.com"
    );
    let r = gw.get("api.internal", "/").send().await.unwrap();
    assert_eq!(
        r.body, "prod-api",
        "only namespace prod may bind prod/api.internal"
    );
}

const CORS_ROUTE: &str = "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{destination: {host: app.default.svc.cluster.local}}]
    corsPolicy:
      allowOrigins: [{exact: \"https://shop.example\"}, {regex: \"https://.*\\\\.partner\\\\.example\"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-token]
      exposeHeaders: [x-total]
      maxAge: 24h
      allowCredentials: true
      UNMATCHED
";

#[tokio::test]
async fn cors_preflights_are_answered_and_allowed_origins_get_cors_headers() {
    let be = Backend::start("app").await;
    let yaml = format!(
        "{G0}{}{}",
        app_service(be.port(), "HTTP"),
        CORS_ROUTE.replace("UNMATCHED", "")
    );
    let gw = TestGateway::start(&yaml).await;
    let preflight = |origin: &str| {
        gw.get("app", "/items")
            .method(http::Method::OPTIONS)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
    };
    // An allowed origin's preflight is answered by the gateway.
    let resp = preflight("https://shop.example").send().await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("access-control-allow-origin"),
        "https://shop.example"
    );
    assert_eq!(resp.header("access-control-allow-methods"), "GET,POST");
    assert_eq!(resp.header("access-control-allow-headers"), "x-token");
    assert_eq!(resp.header("access-control-max-age"), "86400");
    assert_eq!(resp.header("access-control-allow-credentials"), "true");
    let resp = preflight("https://api.partner.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.header("access-control-allow-origin"),
        "https://api.partner.example"
    );
    assert_eq!(be.count(), 0, "preflights never reach the backend");
    // Other origins' preflights are forwarded (unmatchedPreflights defaults to FORWARD).
    let resp = preflight("https://evil.example").send().await.unwrap();
    assert_eq!(resp.body, "app");
    assert_eq!(resp.header("access-control-allow-origin"), "");
    assert_eq!(be.count(), 1);
    // Actual requests: allowed origins get the headers, others and non-CORS requests do not.
    let resp = gw
        .get("app", "/items")
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.body, "app");
    assert_eq!(
        resp.header("access-control-allow-origin"),
        "https://shop.example"
    );
    assert_eq!(resp.header("access-control-expose-headers"), "x-total");
    let resp = gw
        .get("app", "/items")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.header("access-control-allow-origin"), "");
    let resp = gw.get("app", "/items").send().await.unwrap();
    assert_eq!(resp.header("access-control-allow-origin"), "");
    // IGNORE: other origins' preflights are answered without CORS headers, not forwarded.
    gw.write(&format!(
        "{G0}{}{}",
        app_service(be.port(), "HTTP"),
        CORS_ROUTE.replace("UNMATCHED", "unmatchedPreflights: IGNORE")
    ));
    gw.gw.reload().await.expect("reloaded");
    let before = be.count();
    let resp = preflight("https://evil.example").send().await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), "");
    assert_eq!(be.count(), before);
}
