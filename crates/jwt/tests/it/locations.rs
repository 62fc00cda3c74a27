//! Where tokens are looked for, what is removed, and which headers are set (JW-09, JW-10,
//! JW-16).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{HeaderName, Method};
use rampart_jwt::Outcome;
use rampart_model::authn::TokenLocations;
use serde_json::json;

use crate::keys::{claims, inline_rule, jwks, TestKey, ISSUER};
use crate::{authenticator, bearer, identity, rejected, request};

const BAD_FORMAT: &str =
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";

fn key() -> (TestKey, String) {
    let ec = TestKey::ec("P-256");
    let doc = jwks(&[(&ec, "a")]);
    (ec, doc)
}

#[tokio::test]
async fn default_locations() {
    let (ec, doc) = key();
    let auth = authenticator(&[inline_rule(doc)]);
    let token = ec.mint("ES256", Some("a"), &claims("alice"));

    let mut parts = bearer(&token);
    identity(auth.authenticate(&mut parts).await);
    assert!(
        parts.headers.get("authorization").is_none(),
        "token removed by default"
    );

    let mut parts = request(&format!("/api?a=1&access_token={token}&b=2"), &[]);
    identity(auth.authenticate(&mut parts).await);
    assert_eq!(parts.uri, "/api?a=1&b=2");

    let mut parts = request("/api", &[("authorization", "Basic dXNlcjpwdw==")]);
    assert!(matches!(
        auth.authenticate(&mut parts).await,
        Outcome::Anonymous
    ));
    assert_eq!(
        parts.headers["authorization"], "Basic dXNlcjpwdw==",
        "not ours: left alone"
    );

    let mut parts = request("/api", &[]);
    assert!(matches!(
        auth.authenticate(&mut parts).await,
        Outcome::Anonymous
    ));
    // A token in an unconfigured place is not looked at.
    let mut parts = request("/api", &[("x-jwt", &token)]);
    assert!(matches!(
        auth.authenticate(&mut parts).await,
        Outcome::Anonymous
    ));
}

#[tokio::test]
async fn forward_original_token() {
    let (ec, doc) = key();
    let mut rule = inline_rule(doc);
    rule.forward_original_token = true;
    let auth = authenticator(&[rule]);
    let token = ec.mint("ES256", Some("a"), &claims("alice"));
    let mut parts = bearer(&token);
    identity(auth.authenticate(&mut parts).await);
    assert_eq!(parts.headers["authorization"], format!("Bearer {token}"));
    let mut parts = request(&format!("/api?access_token={token}"), &[]);
    identity(auth.authenticate(&mut parts).await);
    assert_eq!(
        parts.uri.query(),
        Some(format!("access_token={token}").as_str())
    );
}

#[tokio::test]
async fn configured_header_prefix_must_match() {
    let (ec, doc) = key();
    let mut rule = inline_rule(doc);
    rule.locations = TokenLocations {
        headers: vec![(HeaderName::from_static("x-token"), "Token ".into())].into(),
        params: Box::new([]),
        cookies: vec!["session".into()].into(),
    };
    let auth = authenticator(&[rule]);
    let token = ec.mint("ES256", Some("a"), &claims("alice"));
    let mut parts = request("/", &[("x-token", &format!("Token {token}"))]);
    identity(auth.authenticate(&mut parts).await);
    assert!(parts.headers.get("x-token").is_none());
    let mut parts = request("/", &[("x-token", &format!("Bearer {token}"))]);
    assert_eq!(rejected(auth.authenticate(&mut parts).await), BAD_FORMAT);
    // Defaults do not apply once locations are configured.
    assert!(matches!(
        auth.authenticate(&mut bearer(&token)).await,
        Outcome::Anonymous
    ));
    let mut parts = request("/", &[("cookie", &format!("theme=dark; session={token}"))]);
    identity(auth.authenticate(&mut parts).await);
}

#[tokio::test]
async fn two_different_tokens_are_refused() {
    let (ec, doc) = key();
    let auth = authenticator(&[inline_rule(doc)]);
    let good = ec.mint("ES256", Some("a"), &claims("alice"));
    let forged = TestKey::ec("P-256").mint("ES256", Some("a"), &claims("admin"));
    let mut parts = request(
        "/api",
        &[
            ("authorization", &format!("Bearer {good}")),
            ("authorization", &format!("Bearer {forged}")),
        ],
    );
    assert_eq!(
        rejected(auth.authenticate(&mut parts).await),
        "Found multiple Jwt tokens"
    );
    let mut parts = request(
        &format!("/api?access_token={forged}"),
        &[("authorization", &format!("Bearer {good}"))],
    );
    assert_eq!(
        rejected(auth.authenticate(&mut parts).await),
        "Found multiple Jwt tokens"
    );
    // The same token twice is one token.
    let mut parts = request(
        &format!("/api?access_token={good}"),
        &[("authorization", &format!("Bearer {good}"))],
    );
    identity(auth.authenticate(&mut parts).await);
    assert!(parts.headers.get("authorization").is_none());
    assert_eq!(parts.uri, "/api");
}

#[tokio::test]
async fn location_binds_the_issuer() {
    let a = TestKey::ec("P-256");
    let b = TestKey::ec("P-256");
    let mut rule_a = inline_rule(jwks(&[(&a, "a")]));
    rule_a.issuer = "https://a.test".into();
    rule_a.locations.headers = vec![(HeaderName::from_static("x-a"), "".into())].into();
    let mut rule_b = inline_rule(jwks(&[(&b, "b")]));
    rule_b.issuer = "https://b.test".into();
    rule_b.locations.headers = vec![(HeaderName::from_static("x-b"), "".into())].into();
    let auth = authenticator(&[rule_a, rule_b]);
    let mut c = claims("bob");
    c["iss"] = json!("https://b.test");
    let token_b = b.mint("ES256", Some("b"), &c);
    let mut parts = request("/", &[("x-b", &token_b)]);
    assert_eq!(
        identity(auth.authenticate(&mut parts).await).principal,
        "https://b.test/bob"
    );
    let mut parts = request("/", &[("x-a", &token_b)]);
    assert_eq!(
        rejected(auth.authenticate(&mut parts).await),
        "Jwt issuer is not configured"
    );
}

#[tokio::test]
async fn output_headers_are_set_and_never_forged() {
    let (ec, doc) = key();
    let mut rule = inline_rule(doc);
    rule.output_payload_to_header = Some(HeaderName::from_static("x-jwt-payload"));
    rule.output_claim_to_headers = vec![
        (HeaderName::from_static("x-jwt-sub"), "sub".into()),
        (HeaderName::from_static("x-jwt-team"), "org.team".into()),
        (HeaderName::from_static("x-jwt-level"), "level".into()),
        (HeaderName::from_static("x-jwt-admin"), "admin".into()),
        (HeaderName::from_static("x-jwt-groups"), "groups".into()),
    ]
    .into();
    let auth = authenticator(&[rule]);
    let forged = [
        ("x-jwt-sub", "admin"),
        ("x-jwt-payload", "e30"),
        ("x-jwt-team", "root"),
        ("x-jwt-groups", "admins"),
    ];

    // Anonymous: the forged copies are removed all the same.
    let mut parts = request("/api", &forged);
    assert!(matches!(
        auth.authenticate(&mut parts).await,
        Outcome::Anonymous
    ));
    for (name, _) in forged {
        assert!(parts.headers.get(name).is_none(), "{name}");
    }

    let mut c = claims("alice");
    c["org"] = json!({"team": "payments"});
    c["level"] = json!(3);
    c["admin"] = json!(false);
    c["groups"] = json!(["a", "b"]);
    let token = ec.mint("ES256", Some("a"), &c);
    let mut parts = request("/api", &forged);
    parts
        .headers
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    identity(auth.authenticate(&mut parts).await);
    assert_eq!(
        parts
            .headers
            .get_all("x-jwt-sub")
            .iter()
            .collect::<Vec<_>>(),
        ["alice"]
    );
    assert_eq!(parts.headers["x-jwt-team"], "payments");
    assert_eq!(parts.headers["x-jwt-level"], "3");
    assert_eq!(parts.headers["x-jwt-admin"], "false");
    assert!(
        parts.headers.get("x-jwt-groups").is_none(),
        "lists are not copied"
    );
    let payload = URL_SAFE_NO_PAD
        .decode(parts.headers["x-jwt-payload"].as_bytes())
        .unwrap();
    assert_eq!(
        payload,
        token
            .split('.')
            .nth(1)
            .map(|p| URL_SAFE_NO_PAD.decode(p).unwrap())
            .unwrap()
    );
}

#[tokio::test]
async fn identity_attributes() {
    let (ec, doc) = key();
    let auth = authenticator(&[inline_rule(doc)]);
    let mut c = claims("alice");
    c["azp"] = json!("web-app");
    c["scope"] = json!("read write");
    c["realm_access"] = json!({"roles": ["admin", "dev"]});
    let token = ec.mint("ES256", Some("a"), &c);
    let id = identity(auth.authenticate(&mut bearer(&token)).await);
    assert_eq!(id.principal, format!("{ISSUER}/alice"));
    assert_eq!(id.presenter.as_deref(), Some("web-app"));
    assert_eq!(id.claim_values(&["scope"]), ["read", "write"]);
    assert_eq!(
        id.claim_values(&["realm_access", "roles"]),
        ["admin", "dev"]
    );
    assert_eq!(id.claim_values(&["iss"]), [ISSUER]);
    // No `sub`: authenticated, but no principal.
    let mut c = claims("x");
    c.as_object_mut().unwrap().remove("sub");
    let id = identity(
        auth.authenticate(&mut bearer(&ec.mint("ES256", Some("a"), &c)))
            .await,
    );
    assert_eq!(id.principal, "");
}

#[tokio::test]
async fn cors_preflight_and_oversized_tokens() {
    let (_, doc) = key();
    let auth = authenticator(&[inline_rule(doc)]);
    let mut parts = request(
        "/api",
        &[
            ("origin", "https://web.test"),
            ("access-control-request-method", "GET"),
            ("authorization", "Bearer junk"),
        ],
    );
    parts.method = Method::OPTIONS;
    assert!(matches!(
        auth.authenticate(&mut parts).await,
        Outcome::Anonymous
    ));
    let huge = format!("{}.{}.{}", "a".repeat(40_000), "b".repeat(40_000), "c");
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&huge)).await),
        BAD_FORMAT
    );
    assert!(authenticator(&[]).is_empty());
    assert!(matches!(
        authenticator(&[]).authenticate(&mut bearer(&huge)).await,
        Outcome::Anonymous
    ));
}
