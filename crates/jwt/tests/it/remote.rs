//! Remote JWKS: fetch, cache, refresh, rotation, failure handling (JW-04, JW-05, JW-17..JW-21).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_jwt::{Authenticator, JwksRegistry, JwksStats, RegistrySettings};
use rampart_model::authn::{JwksSource, JwtRule};
use serde_json::json;

use crate::keys::{claims, jwks, rsa_a, rsa_b, rule, TestKey};
use crate::server::{JwksServer, Mode};
use crate::{bearer, identity, rejected};

const FETCH_FAILED: &str = "Jwks remote fetch is failed";
const NO_KEY: &str = "Jwks doesn't have key to match kid or alg from Jwt";

/// Settings with fast refresh and retry, so tests observe several fetches quickly.
fn fast() -> RegistrySettings {
    RegistrySettings {
        refresh_interval: Duration::from_millis(100),
        retry_min: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        ..RegistrySettings::default()
    }
}

/// Settings where only the first fetch and kid-triggered refetches happen.
fn no_refresh() -> RegistrySettings {
    RegistrySettings {
        refresh_interval: Duration::from_secs(3600),
        retry_min: Duration::from_secs(3600),
        ..RegistrySettings::default()
    }
}

fn remote_rule(uri: &str, timeout: Duration) -> JwtRule {
    let mut rule = rule(JwksSource::Uri(uri.into()));
    rule.fetch_timeout = timeout;
    rule
}

fn setup(settings: RegistrySettings, uri: &str) -> (Arc<JwksRegistry>, Authenticator) {
    let registry = JwksRegistry::new(settings);
    let auth = Authenticator::new(&[remote_rule(uri, Duration::from_secs(2))], &registry).unwrap();
    (registry, auth)
}

fn stats(registry: &JwksRegistry) -> JwksStats {
    let mut all = registry.stats();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// Polls `cond` every 10 ms for up to 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn token_a(kid: &str) -> String {
    rsa_a().mint("RS256", Some(kid), &claims("alice"))
}

fn token_b(kid: &str) -> String {
    rsa_b().mint("RS256", Some(kid), &claims("bob"))
}

#[tokio::test]
async fn cached_keys_outlive_the_server() {
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let (registry, auth) = setup(fast(), &server.uri());
    // The first request waits for the first fetch.
    identity(auth.authenticate(&mut bearer(&token_a("a"))).await);
    let first = stats(&registry);
    assert_eq!((first.fetch_success, first.keys), (1, 1));
    server.stop();
    eventually("two failed refreshes", || {
        stats(&registry).fetch_failure >= 2
    })
    .await;
    identity(auth.authenticate(&mut bearer(&token_a("a"))).await);
    assert_eq!(stats(&registry).keys, 1);
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_interval() {
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let (registry, auth) = setup(no_refresh(), &server.uri());
    identity(auth.authenticate(&mut bearer(&token_a("a"))).await);
    assert_eq!(server.hits(), 1);
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_b("b"))).await),
        NO_KEY
    );
    assert_eq!(server.hits(), 2, "one refetch for the unknown kid");
    for kid in ["b", "c", "../../etc/passwd"] {
        assert_eq!(
            rejected(auth.authenticate(&mut bearer(&token_b(kid))).await),
            NO_KEY
        );
    }
    assert_eq!(server.hits(), 2, "no more within 30 s");
    assert_eq!(stats(&registry).kid_refetches, 1);
    // Published now, but the interval has not passed: still refused, still no fetch.
    server.set(Mode::Json(jwks(&[(rsa_a(), "a"), (rsa_b(), "b")])));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_b("b"))).await),
        NO_KEY
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn new_kid_is_accepted_after_one_refetch() {
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let (registry, auth) = setup(no_refresh(), &server.uri());
    identity(auth.authenticate(&mut bearer(&token_a("a"))).await);
    server.set(Mode::Json(jwks(&[(rsa_a(), "a"), (rsa_b(), "b")])));
    let id = identity(auth.authenticate(&mut bearer(&token_b("b"))).await);
    assert_eq!(id.subject, "bob");
    assert_eq!(server.hits(), 2);
    assert_eq!(stats(&registry).keys, 2);
}

#[tokio::test]
async fn rotation_and_restart() {
    let mut server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let registry = JwksRegistry::new(RegistrySettings {
        kid_refetch_interval: Duration::from_secs(3600),
        ..fast()
    });
    let auth = Authenticator::new(
        &[remote_rule(&server.uri(), Duration::from_secs(2))],
        &registry,
    )
    .unwrap();
    identity(auth.authenticate(&mut bearer(&token_a("a"))).await);

    // JW-19: publish A+B, then B only.
    server.set(Mode::Json(jwks(&[(rsa_a(), "a"), (rsa_b(), "b")])));
    eventually("B in the key set", || stats(&registry).keys == 2).await;
    identity(auth.authenticate(&mut bearer(&token_b("b"))).await);
    server.set(Mode::Json(jwks(&[(rsa_b(), "b")])));
    eventually("A dropped", || stats(&registry).keys == 1).await;
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_a("a"))).await),
        NO_KEY
    );

    // JW-17: server down, then back with a rotated key.
    server.stop();
    let failures = stats(&registry).fetch_failure;
    eventually("a failed refresh", || {
        stats(&registry).fetch_failure > failures
    })
    .await;
    identity(auth.authenticate(&mut bearer(&token_b("b"))).await);
    let rotated = TestKey::ec("P-256");
    server.restart(Mode::Json(jwks(&[(&rotated, "c")]))).await;
    let successes = stats(&registry).fetch_success;
    eventually("a refresh after restart", || {
        stats(&registry).fetch_success > successes
    })
    .await;
    identity(
        auth.authenticate(&mut bearer(&rotated.mint(
            "ES256",
            Some("c"),
            &claims("carol"),
        )))
        .await,
    );
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_b("b"))).await),
        NO_KEY
    );
}

#[tokio::test]
async fn unreachable_from_start_fails_closed() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}/jwks.json");
    let (registry, auth) = setup(no_refresh(), &uri);
    let started = Instant::now();
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_a("a"))).await),
        FETCH_FAILED
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stats(&registry).fetch_failure, 1);
    // Later requests do not wait again.
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_a("a"))).await),
        FETCH_FAILED
    );
    // Requests without a token are unaffected.
    assert!(matches!(
        auth.authenticate(&mut crate::request("/", &[])).await,
        rampart_jwt::Outcome::Anonymous
    ));
}

#[tokio::test]
async fn silent_server_is_bounded_by_the_fetch_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let registry = JwksRegistry::new(no_refresh());
    let auth =
        Authenticator::new(&[remote_rule(&uri, Duration::from_millis(300))], &registry).unwrap();
    let started = Instant::now();
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_a("a"))).await),
        FETCH_FAILED
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn huge_slow_and_bad_answers_keep_the_previous_keys() {
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let registry = JwksRegistry::new(fast());
    let auth = Authenticator::new(
        &[remote_rule(&server.uri(), Duration::from_millis(500))],
        &registry,
    )
    .unwrap();
    identity(auth.authenticate(&mut bearer(&token_a("a"))).await);
    let bad = [
        Mode::Huge,
        Mode::Slow,
        Mode::Status(500),
        Mode::Status(302),
        Mode::Json("not json".into()),
        Mode::Json(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string()),
    ];
    for mode in bad {
        server.set(mode.clone());
        let failures = stats(&registry).fetch_failure;
        eventually(&format!("a failed fetch with {mode:?}"), || {
            stats(&registry).fetch_failure > failures
        })
        .await;
        assert_eq!(stats(&registry).keys, 1, "{mode:?}");
        identity(auth.authenticate(&mut bearer(&token_a("a"))).await);
    }
}

#[tokio::test]
async fn caches_are_shared_and_released_with_the_last_snapshot() {
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let registry = JwksRegistry::new(RegistrySettings {
        refresh_interval: Duration::from_millis(50),
        ..fast()
    });
    let rule = remote_rule(&server.uri(), Duration::from_secs(2));
    let old = Authenticator::new(std::slice::from_ref(&rule), &registry).unwrap();
    identity(old.authenticate(&mut bearer(&token_a("a"))).await);
    // A reload: the new snapshot shares the cache, already warm.
    let new = Authenticator::new(std::slice::from_ref(&rule), &registry).unwrap();
    drop(old);
    let hits = server.hits();
    identity(new.authenticate(&mut bearer(&token_a("a"))).await);
    assert!(server.hits() <= hits + 1, "no fetch because of the reload");
    assert_eq!(registry.stats().len(), 1);
    drop(new);
    assert!(registry.stats().is_empty());
    // Let any fetch in flight at the drop finish, then no more requests arrive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hits = server.hits();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.hits(), hits, "the refresh task stopped");
}

#[tokio::test]
async fn blocked_addresses_are_never_contacted() {
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let registry = JwksRegistry::new(RegistrySettings {
        blocked: vec!["127.0.0.0/8".parse().unwrap()],
        ..no_refresh()
    });
    let auth = Authenticator::new(
        &[remote_rule(&server.uri(), Duration::from_secs(2))],
        &registry,
    )
    .unwrap();
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token_a("a"))).await),
        FETCH_FAILED
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn token_urls_are_never_fetched() {
    let attacker = JwksServer::start(Mode::Json(jwks(&[(rsa_b(), "a")]))).await;
    let server = JwksServer::start(Mode::Json(jwks(&[(rsa_a(), "a")]))).await;
    let (_registry, auth) = setup(no_refresh(), &server.uri());
    let header = json!({"alg": "RS256", "kid": "a", "jku": attacker.uri(), "x5u": attacker.uri(),
                        "jwk": rsa_b().jwk("a")});
    let token = rsa_b().mint_with_header("RS256", &header, &claims("admin"));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Jwt verification fails"
    );
    assert_eq!(attacker.hits(), 0);
}

#[tokio::test]
async fn bad_uris_are_build_errors() {
    let registry = JwksRegistry::new(RegistrySettings::default());
    for uri in [
        "ftp://x.test/jwks",
        "not a uri",
        "http:///jwks",
        "https://user@x.test/jwks",
    ] {
        let err =
            Authenticator::new(&[remote_rule(uri, Duration::from_secs(1))], &registry).unwrap_err();
        assert!(err.to_string().contains("jwksUri"), "{err}");
    }
    let err = Authenticator::new(&[crate::keys::inline_rule("{}".into())], &registry).unwrap_err();
    assert_eq!(
        err.to_string(),
        "default/ra jwtRules[0]: jwks: Jwks does not have [keys] field"
    );
}
