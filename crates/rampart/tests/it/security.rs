//! Access control as Istio's security tasks document it (../shared/reference/scenarios.md S12,
//! S13, S14), YAML unchanged but for ports and keys: AuthorizationPolicy, RequestAuthentication,
//! and the path normalisation that keeps policies from being bypassed (hostile plan §5).

use std::time::Duration;

use http::Method;
use rampart_testkit::jwt::{now, Issuer};
use rampart_testkit::Backend;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{app_config, service, TestGateway, G0};

const REVIEWS: &str = "reviews.default.svc.cluster.local";
const RATINGS: &str = "ratings.default.svc.cluster.local";
const DENIED: &str = "RBAC: access denied";

/// Reviews and ratings behind G0, each host routed to its own backend.
struct Mesh {
    reviews: Backend,
    ratings: Backend,
}

impl Mesh {
    async fn start() -> Self {
        Self {
            reviews: Backend::start("reviews").await,
            ratings: Backend::start("ratings").await,
        }
    }

    fn config(&self, policies: &str) -> String {
        format!(
            "{G0}{}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [{REVIEWS}]
  gateways: [edge]
  http: [{{route: [{{destination: {{host: {REVIEWS}}}}}]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings}}
spec:
  hosts: [{RATINGS}]
  gateways: [edge]
  http: [{{route: [{{destination: {{host: {RATINGS}}}}}]}}]
{policies}",
            service("reviews", REVIEWS, &[(self.reviews.port(), "v1")]),
            service("ratings", RATINGS, &[(self.ratings.port(), "v1")]),
        )
    }
}

const ALLOW_NOTHING: &str = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing}
spec: {}
";

const REVIEWS_GET: &str = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-get}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - to:
    - operation:
        hosts: [reviews.default.svc.cluster.local]
        methods: [GET]
";

const ALLOW_ALL: &str = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-all}
spec:
  rules: [{}]
";

/// Loads `bad` over a gateway serving ALLOW_ALL: the reload must be refused while the last good
/// configuration keeps serving. Returns every error message, one per line.
async fn refused_reload(bad: &str) -> String {
    let mesh = Mesh::start().await;
    let gw = TestGateway::start(&mesh.config(ALLOW_ALL)).await;
    gw.write(&mesh.config(bad));
    let errors = gw.gw.reload().await.expect_err("rejected").join("\n");
    let resp = gw.get(REVIEWS, "/").send().await.unwrap();
    assert_eq!(resp.status, 200, "last good config serves");
    errors
}

#[tokio::test]
async fn s12_allow_nothing_then_allow_get_on_reviews() {
    let mesh = Mesh::start().await;
    let gw = TestGateway::start(&mesh.config(ALLOW_NOTHING)).await;
    let resp = gw.get(REVIEWS, "/reviews/0").send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (403, DENIED));
    assert_eq!(
        mesh.reviews.count(),
        0,
        "a denied request never reaches the backend"
    );

    gw.write(&mesh.config(&format!("{ALLOW_NOTHING}{REVIEWS_GET}")));
    gw.gw.reload().await.expect("reload");
    let host = format!("{REVIEWS}:{}", gw.addr.port());
    let get = gw.get(&host, "/reviews/0").send().await.unwrap();
    assert_eq!(get.status, 200, "{}", get.body);
    let post = gw
        .get(REVIEWS, "/reviews/0")
        .method(Method::POST)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status, 403);
    let ratings = gw.get(RATINGS, "/ratings/0").send().await.unwrap();
    assert_eq!(ratings.status, 403);
    assert_eq!(mesh.ratings.count(), 0);
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics.contains("rampart_downstream_rejected_total{reason=\"authz_denied\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn deny_is_evaluated_before_allow() {
    let mesh = Mesh::start().await;
    let deny = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-header}
spec:
  action: DENY
  rules:
  - when:
    - key: request.headers[x-token]
      notValues: [admin]
";
    let gw = TestGateway::start(&mesh.config(&format!("{ALLOW_ALL}{deny}"))).await;
    let admin = gw.get(REVIEWS, "/").header("x-token", "admin");
    assert_eq!(admin.send().await.unwrap().status, 200);
    let guest = gw.get(REVIEWS, "/").header("x-token", "guest");
    let resp = guest.send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (403, DENIED));
    assert_eq!(gw.get(REVIEWS, "/").send().await.unwrap().status, 403);
    assert_eq!(mesh.reviews.count(), 1);
}

#[tokio::test]
async fn path_templates_and_prefixes() {
    let mesh = Mesh::start().await;
    let policies = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: [\"/admin/{**}\"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-api}
spec:
  rules: [{to: [{operation: {paths: [\"/api/*\", \"/admin/*\", \"/admins\"]}}]}]
";
    let gw = TestGateway::start(&mesh.config(policies)).await;
    for (path, status) in [
        ("/admin/x/y", 403),
        ("/admins", 200),
        ("/api/v1", 200),
        ("/apix", 403),
    ] {
        let resp = gw.get(REVIEWS, path).send().await.unwrap();
        assert_eq!(resp.status, status, "{path}");
    }
}

#[tokio::test]
async fn a_bad_path_template_is_a_config_error_naming_the_field() {
    let errors = refused_reload(
        "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad}
spec:
  rules: [{to: [{operation: {paths: [\"/foo/{*}.txt\"]}}]}]
",
    )
    .await;
    assert!(
        errors
            .lines()
            .any(|e| e.contains("spec.rules[0].to[0].operation.paths[0]") && e.contains("template")),
        "{errors}"
    );
}

fn ingress_policy(action: &str, field: &str, blocks: &str) -> String {
    format!(
        "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: ingress-policy, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  action: {action}
  rules:
  - from:
    - source:
        {field}: [{blocks}]
"
    )
}

#[tokio::test]
async fn s14_ingress_ip_allow_list_with_hot_reload() {
    let mesh = Mesh::start().await;
    let gw = TestGateway::start(&mesh.config(&ingress_policy(
        "ALLOW",
        "ipBlocks",
        "\"1.2.3.4\", \"5.6.7.0/24\"",
    )))
    .await;
    let resp = gw.get(REVIEWS, "/").send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (403, DENIED));
    gw.write(&mesh.config(&ingress_policy(
        "ALLOW",
        "ipBlocks",
        "\"1.2.3.4\", \"5.6.7.0/24\", \"127.0.0.1\"",
    )));
    gw.gw.reload().await.expect("reload");
    assert_eq!(gw.get(REVIEWS, "/").send().await.unwrap().status, 200);
    gw.write(&mesh.config(&ingress_policy("DENY", "ipBlocks", "\"127.0.0.1\"")));
    gw.gw.reload().await.expect("reload");
    assert_eq!(gw.get(REVIEWS, "/").send().await.unwrap().status, 403);
}

#[tokio::test]
async fn s14_remote_ip_blocks_follow_trusted_hops() {
    let mesh = Mesh::start().await;
    let yaml = mesh.config(&ingress_policy("ALLOW", "remoteIpBlocks", "\"5.6.7.0/24\""));
    let trusting = TestGateway::start_with(&yaml, |o| o.trusted_hops = 1).await;
    let via = |gw: &TestGateway, xff: &str| gw.get(REVIEWS, "/").header("x-forwarded-for", xff);
    assert_eq!(via(&trusting, "5.6.7.8").send().await.unwrap().status, 200);
    assert_eq!(via(&trusting, "9.9.9.9").send().await.unwrap().status, 403);
    // XF-02: the right-most untrusted entry counts, not a forged one further left.
    assert_eq!(
        via(&trusting, "5.6.7.8, 9.9.9.9")
            .send()
            .await
            .unwrap()
            .status,
        403
    );
    // With no trusted hops the header is ignored: remote.ip is the peer.
    let direct = TestGateway::start(&yaml).await;
    assert_eq!(via(&direct, "5.6.7.8").send().await.unwrap().status, 403);
}

fn jwt_config(mesh: &Mesh, issuer: &Issuer, extra: &str) -> String {
    mesh.config(&format!(
        "---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt-edge}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: '{}'
    forwardOriginalToken: false
    outputClaimToHeaders: [{{header: x-jwt-sub, claim: sub}}]
{extra}",
        issuer.jwks()
    ))
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({
        "iss": "testing@secure.istio.io",
        "sub": "testing@secure.istio.io",
        "exp": now() + 3600,
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

#[tokio::test]
async fn s13_request_authentication_alone() {
    let mesh = Mesh::start().await;
    let issuer = Issuer::new("test");
    let gw = TestGateway::start(&jwt_config(&mesh, &issuer, "")).await;
    let bearer = |t: &str| {
        gw.get(REVIEWS, "/")
            .header("authorization", &format!("Bearer {t}"))
    };

    assert_eq!(
        gw.get(REVIEWS, "/").send().await.unwrap().status,
        200,
        "no token passes"
    );
    let junk = bearer("deadbeef").send().await.unwrap();
    assert_eq!(junk.status, 401);
    assert!(
        junk.body
            .starts_with("Jwt is not in the form of Header.Payload.Signature"),
        "{}",
        junk.body
    );
    assert!(junk.header("www-authenticate").starts_with("Bearer"));

    let valid = issuer.token(&claims(json!({})));
    // A client cannot forge the header the gateway sets from the token (JW-16).
    let resp = bearer(&valid)
        .header("x-jwt-sub", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let seen = mesh.reviews.requests().pop().unwrap();
    assert_eq!(seen.headers.get_all("x-jwt-sub").iter().count(), 1);
    assert_eq!(seen.headers["x-jwt-sub"], "testing@secure.istio.io");
    assert!(seen.headers.get("authorization").is_none(), "token removed");

    let expired = issuer.token(&claims(json!({"exp": now() - 120})));
    let resp = bearer(&expired).send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (401, "Jwt is expired")
    );

    let by_param = gw
        .get(REVIEWS, &format!("/?access_token={valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_param.status, 200);
    let before = mesh.reviews.count();
    let other = Issuer::new("other").token(&claims(json!({})));
    assert_eq!(
        bearer(&other).send().await.unwrap().status,
        401,
        "unknown key"
    );
    assert_eq!(
        mesh.reviews.count(),
        before,
        "rejected tokens never reach the backend"
    );
}

#[tokio::test]
async fn s13_required_principal_and_claims() {
    let mesh = Mesh::start().await;
    let issuer = Issuer::new("test");
    let require = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: [testing@secure.istio.io/testing@secure.istio.io]
";
    let gw = TestGateway::start(&jwt_config(&mesh, &issuer, require)).await;
    let bearer = |t: &str| {
        gw.get(REVIEWS, "/")
            .header("authorization", &format!("Bearer {t}"))
    };
    let resp = gw.get(REVIEWS, "/").send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (403, DENIED));
    let valid = issuer.token(&claims(json!({})));
    assert_eq!(bearer(&valid).send().await.unwrap().status, 200);
    assert_eq!(
        bearer("a.b.c").send().await.unwrap().status,
        401,
        "authn before authz"
    );

    let groups = format!(
        "{require}    when:\n    - key: request.auth.claims[groups]\n      values: [group1]\n"
    );
    gw.write(&jwt_config(&mesh, &issuer, &groups));
    gw.gw.reload().await.expect("reload");
    let member = issuer.token(&claims(json!({"groups": ["group1", "group2"]})));
    assert_eq!(bearer(&member).send().await.unwrap().status, 200);
    assert_eq!(bearer(&valid).send().await.unwrap().status, 403);
}

/// Sends raw bytes, reads until close or 2 s; returns the status code.
async fn raw_status(gw: &TestGateway, raw: &str) -> u16 {
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// Hostile plan §5: `httpbin.example` denies `/admin` and `/admin/*`; `allow.example` allows
/// only `/public/*`. Every bypass attempt is refused and the backend sees only what the policy
/// allowed, under the path the policy saw.
#[tokio::test]
async fn pn_path_normalisation_blocks_policy_bypass() {
    let be = Backend::start("httpbin").await;
    let policies = "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  action: DENY
  rules: [{to: [{operation: {hosts: [httpbin.example], paths: [/admin, /admin/*]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-list}
spec:
  rules:
  - to: [{operation: {hosts: [allow.example], paths: [/public/*]}}]
  - to: [{operation: {hosts: [httpbin.example, \"httpbin.example:*\"]}}]
";
    let yaml = format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: all}}
spec:
  hosts: [httpbin.example, allow.example]
  gateways: [edge]
  http: [{{route: [{{destination: {{host: httpbin.default.svc.cluster.local}}}}]}}]
{policies}",
        service(
            "httpbin",
            "httpbin.default.svc.cluster.local",
            &[(be.port(), "v1")]
        )
    );
    let gw = TestGateway::start(&yaml).await;
    let port = gw.addr.port();
    let req = |host: &str, target: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    let deny = "httpbin.example";
    let cases: Vec<(String, &[u16])> = vec![
        (req(deny, "/admin"), &[403]),
        (req(deny, "/admin#x"), &[400, 403]),
        (req(deny, "//admin"), &[403]),
        (req(deny, "/public//..//admin"), &[403]),
        (req(deny, "/admin%2Fx"), &[400]),
        (req(deny, "/public%2F..%2Fadmin"), &[400]),
        (req(deny, "/public%2f..%2fadmin"), &[400]),
        (req(deny, "/public%5C..%5Cadmin"), &[400]),
        (req(deny, "/public/../admin"), &[403]),
        (req(deny, "/./admin"), &[403]),
        (req(deny, "/public\\..\\admin"), &[400, 403]),
        (req(deny, "/%61dmin"), &[403]),
        (req(deny, "/admin%00"), &[400]),
        (req(deny, "/admin%00.png"), &[400]),
        (req(deny, "/admin?x=/public"), &[403]),
        (req(deny, "/admin/?a"), &[403]),
        (req(deny, "/admin;jsessionid=1"), &[403]),
        (req(deny, "/admin/;x"), &[403]),
        (req(deny, "/admin/"), &[403]),
        (req(deny, "/admin/x/../"), &[403]),
        (req("HTTPBIN.Example", "/admin"), &[403]),
        (req("httpbin.example.", "/admin"), &[403, 404]),
        (req(&format!("httpbin.example:{port}"), "/admin"), &[403]),
        (req("allow.example", "/Admin"), &[403]),
        (req("allow.example", "/public/../admin"), &[403]),
        (req("allow.example", "/public/%2e%2e/admin"), &[403]),
    ];
    for (raw, expected) in &cases {
        let status = raw_status(&gw, raw).await;
        assert!(
            expected.contains(&status),
            "{raw:?}: got {status}, want {expected:?}"
        );
    }
    // PN-16: the same verdicts over HTTP/2 (`:path` and `:authority`).
    for (host, path, want) in [
        (deny, "/admin", 403),
        (deny, "//admin", 403),
        (deny, "/public/../admin", 403),
        (deny, "/%61dmin", 403),
        (deny, "/admin%2Fx", 400),
        (deny, "/admin;x", 403),
        ("HTTPBIN.example", "/admin", 403),
        ("allow.example", "/public/%2e%2e/admin", 403),
    ] {
        let resp = gw.get(host, path).http2().send().await.unwrap();
        assert_eq!(resp.status, want, "h2 {host} {path}");
    }
    assert_eq!(
        be.count(),
        0,
        "{:?}",
        be.requests().iter().map(|r| &r.uri).collect::<Vec<_>>()
    );

    // PN-09: paths are case-sensitive, as in Istio: `/Admin` is not `/admin`, and the
    // backend gets exactly the path the policy saw.
    assert_eq!(raw_status(&gw, &req(deny, "/Admin")).await, 200);
    assert_eq!(
        raw_status(&gw, &req("allow.example", "/public/./a//b")).await,
        200
    );
    let uris: Vec<String> = be.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/Admin", "/public/a/b"]);
}

#[tokio::test]
async fn path_normalisation_can_be_turned_off_or_decode_slashes() {
    let be = Backend::start("app").await;
    let yaml = app_config(be.port());
    let decode = TestGateway::start_with(&yaml, |o| {
        o.path_normalization = rampart_proxy::normalize::PathNormalization::DecodeAndMergeSlashes
    })
    .await;
    assert_eq!(decode.get("a", "/x%2Fy").send().await.unwrap().status, 200);
    let none = TestGateway::start_with(&yaml, |o| {
        o.path_normalization = rampart_proxy::normalize::PathNormalization::None
    })
    .await;
    assert_eq!(
        none.get("a", "/p//q/../r").send().await.unwrap().status,
        200
    );
    let uris: Vec<String> = be.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/x/y", "/p//q/../r"]);
}

#[tokio::test]
async fn invalid_security_policies_are_rejected_with_field_paths() {
    let all = refused_reload(
        "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad}
spec:
  action: DENY
  rules:
  - from: [{source: {ipBlocks: [\"1.2.3.4/40\"]}}]
    when: [{key: request.colour, values: [red]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: bad-jwt}
spec:
  jwtRules: [{issuer: x, jwksUri: \"ftp://keys\"}]
",
    )
    .await;
    for want in [
        "spec.rules[0].from[0].source.ipBlocks[0]",
        "spec.rules[0].when[0].key: unknown attribute",
        "spec.jwtRules[0].jwksUri",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
}

/// JW-17/18 through the gateway: keys fetched from `jwksUri` (a real server on loopback) verify
/// tokens; with the JWKS server unreachable from the start, tokens get 401 (fail closed) while
/// requests without one still pass, and the failed fetches are counted.
#[tokio::test]
async fn remote_jwks_through_the_gateway() {
    let mesh = Mesh::start().await;
    let issuer = Issuer::new("remote");
    let jwks = issuer.jwks();
    let keys = Backend::with("jwks", move |_| {
        rampart_testkit::Reply::new(200, &jwks).header("content-type", "application/json")
    })
    .await;
    let dead_port = rampart_testkit::free_port();
    let rule = |port: u16| {
        format!(
            "---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: remote, namespace: istio-system}}
spec:
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: http://127.0.0.1:{port}/jwks.json
    timeout: 1s
"
        )
    };
    let token = issuer.token(&claims(json!({})));
    let gw = TestGateway::start(&mesh.config(&rule(keys.port()))).await;
    let bearer = |gw: &TestGateway| {
        gw.get(REVIEWS, "/")
            .header("authorization", &format!("Bearer {token}"))
    };
    assert_eq!(bearer(&gw).send().await.unwrap().status, 200);
    assert_eq!(keys.count(), 1, "fetched once, then cached");
    assert_eq!(bearer(&gw).send().await.unwrap().status, 200);
    assert_eq!(keys.count(), 1);

    let down = TestGateway::start(&mesh.config(&rule(dead_port))).await;
    let resp = bearer(&down).send().await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (401, "Jwks remote fetch is failed")
    );
    assert_eq!(down.get(REVIEWS, "/").send().await.unwrap().status, 200);
    let metrics = down.admin("/stats/prometheus").await.body;
    let failures = format!(
        "rampart_jwks_fetch_total{{uri=\"http://127.0.0.1:{dead_port}/jwks.json\",result=\"failure\"}}"
    );
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&failures))
        .unwrap_or_else(|| panic!("no {failures} in\n{metrics}"));
    assert_ne!(line.rsplit(' ').next(), Some("0"), "{line}");
}

/// SL-08: `Expect: 100-continue` on a denied path gets 403 without `100 Continue`, and the
/// backend sees nothing.
#[tokio::test]
async fn sl08_expect_continue_to_a_denied_path() {
    let mesh = Mesh::start().await;
    let gw = TestGateway::start(&mesh.config(ALLOW_NOTHING)).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {REVIEWS}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("an answer without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert_eq!(mesh.reviews.count(), 0);
}

/// XF-01 and XF-05: with no trusted hops a forged `x-forwarded-for` cannot change `remote.ip`;
/// with one trusted hop `remoteIpBlocks` read the client from the header while `ipBlocks` keep
/// reading the TCP peer.
#[tokio::test]
async fn xf01_xf05_peer_and_remote_addresses() {
    let mesh = Mesh::start().await;
    let deny_local = ingress_policy("DENY", "remoteIpBlocks", "\"127.0.0.1/32\"");
    let gw = TestGateway::start(&mesh.config(&deny_local)).await;
    let forged = gw
        .get(REVIEWS, "/")
        .header("x-forwarded-for", "203.0.113.9");
    assert_eq!(forged.send().await.unwrap().status, 403, "XF-01");

    let both = format!(
        "{}{}",
        ingress_policy("ALLOW", "remoteIpBlocks", "\"203.0.113.0/24\""),
        ingress_policy("DENY", "ipBlocks", "\"10.0.0.0/8\"").replace("ingress-policy", "peer-deny")
    );
    let gw = TestGateway::start_with(&mesh.config(&both), |o| o.trusted_hops = 1).await;
    let via = gw
        .get(REVIEWS, "/")
        .header("x-forwarded-for", "203.0.113.9");
    assert_eq!(
        via.send().await.unwrap().status,
        200,
        "remote.ip from the header"
    );
    let seen = mesh.reviews.requests().pop().unwrap();
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9,127.0.0.1");
    let peer_only = ingress_policy("ALLOW", "ipBlocks", "\"203.0.113.0/24\"");
    gw.write(&mesh.config(&peer_only));
    gw.gw.reload().await.expect("reload");
    let via = gw
        .get(REVIEWS, "/")
        .header("x-forwarded-for", "203.0.113.9");
    assert_eq!(
        via.send().await.unwrap().status,
        403,
        "ipBlocks read the TCP peer"
    );
}

/// Istio's external authorization task (authz-custom): a CUSTOM policy sends `/headers` to the
/// `sample-ext-authz-http` provider of the MeshConfig, which allows requests carrying
/// `x-ext-authz: allow`. Its verdict header reaches the backend on allow and the client on deny;
/// with the authorizer gone, requests get `statusOnError` unless `failOpen`.
#[tokio::test]
async fn custom_action_asks_the_external_authorizer() {
    let mesh = Mesh::start().await;
    let authorizer = Backend::with("ext-authz", |r| {
        let allowed = r.headers.get("x-ext-authz").is_some_and(|v| v == "allow");
        if allowed {
            rampart_testkit::Reply::new(200, "").header("x-ext-authz-check-result", "allowed")
        } else {
            rampart_testkit::Reply::new(
                403,
                "denied by ext_authz for not found header `x-ext-authz: allow` in the request",
            )
            .header("x-ext-authz-check-result", "denied")
        }
    })
    .await;
    let dir = crate::support::temp_dir();
    let mesh_file = dir.join("mesh");
    let write_mesh = |extra: &str| {
        std::fs::write(
            &mesh_file,
            format!(
                "extensionProviders:
- name: \"sample-ext-authz-http\"
  envoyExtAuthzHttp:
    service: \"foo/ext-authz.foo.svc.cluster.local\"
    port: \"8000\"
    pathPrefix: /check
    includeRequestHeadersInCheck: [\"x-ext-authz\"]
    headersToUpstreamOnAllow: [\"x-ext-authz-check-result\"]
    headersToDownstreamOnDeny: [\"x-ext-authz-check-result\"]
{extra}"
            ),
        )
        .unwrap()
    };
    write_mesh("");
    let policies = format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ext-authz, namespace: foo}}
spec:
  hosts: [ext-authz.foo.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {}}}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: ext-authz}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  action: CUSTOM
  provider: {{name: sample-ext-authz-http}}
  rules:
  - to:
    - operation:
        paths: [\"/headers\"]
",
        authorizer.port()
    );
    let file = mesh_file.clone();
    let gw = TestGateway::start_with(&mesh.config(&policies), |o| o.mesh_config = Some(file)).await;

    let denied = gw
        .get(REVIEWS, "/headers?x=1")
        .header("x-ext-authz", "deny")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status, 403);
    assert!(
        denied.body.starts_with("denied by ext_authz"),
        "{}",
        denied.body
    );
    assert_eq!(denied.header("x-ext-authz-check-result"), "denied");
    assert_eq!(mesh.reviews.count(), 0);
    let check = authorizer.requests().pop().unwrap();
    assert_eq!(check.uri, "/check/headers?x=1");
    assert_eq!(check.method, http::Method::GET);
    assert_eq!(check.headers["x-ext-authz"], "deny");

    let allowed = gw
        .get(REVIEWS, "/headers")
        .header("x-ext-authz", "allow")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status, 200);
    assert_eq!(
        mesh.reviews.requests().pop().unwrap().headers["x-ext-authz-check-result"],
        "allowed"
    );
    // Paths the policy does not name are not checked.
    let before = authorizer.count();
    assert_eq!(gw.get(REVIEWS, "/ip").send().await.unwrap().status, 200);
    assert_eq!(authorizer.count(), before);

    // The authorizer gone: 403 (statusOnError's default), then open with failOpen.
    authorizer.stop().await;
    let resp = gw
        .get(REVIEWS, "/headers")
        .header("x-ext-authz", "allow")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 403);
    write_mesh("    failOpen: true\n");
    gw.gw.reload().await.expect("reload");
    let resp = gw.get(REVIEWS, "/headers").send().await.unwrap();
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn custom_policies_need_a_known_provider() {
    let errors = refused_reload(
        "---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext}
spec:
  action: CUSTOM
  provider: {name: nowhere}
  rules: [{}]
",
    )
    .await;
    assert!(
        errors.contains("spec.provider.name") && errors.contains("no MeshConfig"),
        "{errors}"
    );
}

/// Istio's "JWT claim based routing" task: a route that matches `@request.auth.claims.groups`
/// is taken only with a verified token carrying the claim; otherwise the request finds no route
/// (404), and an invalid token is still 401.
#[tokio::test]
async fn jwt_claim_based_routing() {
    let mesh = Mesh::start().await;
    let issuer = Issuer::new("test");
    let routing = format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: claims}}
spec:
  hosts: [claims.example]
  gateways: [edge]
  http:
  - match:
    - uri: {{prefix: /headers}}
      headers:
        \"@request.auth.claims.groups\":
          exact: group1
    route:
    - destination: {{host: {REVIEWS}}}
  - match:
    - uri: {{prefix: /nested}}
      headers:
        \"@request.auth.claims[team][name]\":
          prefix: core
      withoutHeaders:
        \"@request.auth.claims.sub\":
          exact: blocked
    route:
    - destination: {{host: {RATINGS}}}
"
    );
    let gw = TestGateway::start(&jwt_config(&mesh, &issuer, &routing)).await;
    let with = |path: &str, token: &str| {
        gw.get("claims.example", path)
            .header("authorization", &format!("Bearer {token}"))
    };
    assert_eq!(
        gw.get("claims.example", "/headers")
            .send()
            .await
            .unwrap()
            .status,
        404
    );
    let member = issuer.token(&claims(json!({"groups": ["group1", "group2"]})));
    assert_eq!(with("/headers", &member).send().await.unwrap().status, 200);
    assert_eq!(mesh.reviews.count(), 1);
    let other = issuer.token(&claims(json!({"groups": ["group2"]})));
    assert_eq!(with("/headers", &other).send().await.unwrap().status, 404);
    assert_eq!(
        with("/headers", "not.a.token").send().await.unwrap().status,
        401
    );

    let core = issuer.token(&claims(json!({"team": {"name": "core-infra"}})));
    assert_eq!(with("/nested", &core).send().await.unwrap().status, 200);
    assert_eq!(mesh.ratings.count(), 1);
    let blocked = issuer.token(&claims(json!({"team": {"name": "core"}, "sub": "blocked"})));
    assert_eq!(with("/nested", &blocked).send().await.unwrap().status, 404);
}

/// XF-03: malformed or oversized `x-forwarded-for` never panics; an entry that is not an
/// address makes `remote.ip` the peer, so an IP allow-list fails closed.
#[tokio::test]
async fn xf03_malformed_forwarded_for_fails_closed() {
    let mesh = Mesh::start().await;
    let yaml = mesh.config(&ingress_policy("ALLOW", "remoteIpBlocks", "\"5.6.7.0/24\""));
    let gw = TestGateway::start_with(&yaml, |o| o.trusted_hops = 1).await;
    let many = vec!["5.6.7.8"; 5_000].join(", ") + ", garbage";
    for xff in [
        "garbage, , 999.1.1.1",
        "5.6.7.8, ",
        "5.6.7.8 junk",
        many.as_str(),
    ] {
        let resp = gw
            .get(REVIEWS, "/")
            .header("x-forwarded-for", xff)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status, 403, "{}", &xff[..xff.len().min(40)]);
    }
    // Two header lines: the right-most entry of the last one counts.
    let two = gw
        .get(REVIEWS, "/")
        .header("x-forwarded-for", "9.9.9.9")
        .header("x-forwarded-for", "5.6.7.8");
    assert_eq!(two.send().await.unwrap().status, 200);
    assert_eq!(mesh.reviews.count(), 1);
}
