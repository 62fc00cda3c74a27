//! Signature, algorithm and claim checks with inline JWKS (hostile plan JW-01..JW-15).

use ring::hmac;
use serde_json::json;

use crate::keys::{claims, inline_rule, jwks, now, rsa_a, TestKey, AUDIENCE, ISSUER};
use crate::{authenticator, bearer, identity, rejected};

const EXPIRED: &str = "Jwt is expired";
const BAD_FORMAT: &str =
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";
const NO_KEY: &str = "Jwks doesn't have key to match kid or alg from Jwt";
const NOT_SUPPORTED: &str = "Jwt header [alg] is not supported";

#[tokio::test]
async fn valid_tokens_of_every_algorithm() {
    let ec256 = TestKey::ec("P-256");
    let ec384 = TestKey::ec("P-384");
    let ed = TestKey::ed25519();
    let rsa = rsa_a();
    let doc = jwks(&[
        (rsa, "rsa"),
        (&ec256, "ec256"),
        (&ec384, "ec384"),
        (&ed, "ed"),
    ]);
    let auth = authenticator(&[inline_rule(doc)]);
    let cases: [(&TestKey, &str, &str); 9] = [
        (rsa, "RS256", "rsa"),
        (rsa, "RS384", "rsa"),
        (rsa, "RS512", "rsa"),
        (rsa, "PS256", "rsa"),
        (rsa, "PS384", "rsa"),
        (rsa, "PS512", "rsa"),
        (&ec256, "ES256", "ec256"),
        (&ec384, "ES384", "ec384"),
        (&ed, "EdDSA", "ed"),
    ];
    for (key, alg, kid) in cases {
        let token = key.mint(alg, Some(kid), &claims("alice"));
        let id = identity(auth.authenticate(&mut bearer(&token)).await);
        assert_eq!(id.principal, format!("{ISSUER}/alice"), "{alg}");
        assert_eq!(id.audiences, [AUDIENCE]);
        // No kid: every compatible key is tried.
        let token = key.mint(alg, None, &claims("bob"));
        identity(auth.authenticate(&mut bearer(&token)).await);
    }
}

#[tokio::test]
async fn bad_signature_and_wrong_key() {
    let other = TestKey::ec("P-256");
    let ec = TestKey::ec("P-256");
    let auth = authenticator(&[inline_rule(jwks(&[(&ec, "a")]))]);
    let forged = other.mint("ES256", Some("a"), &claims("mallory"));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&forged)).await),
        "Jwt verification fails"
    );
    // A valid token with its payload swapped keeps the signature of the old payload.
    let good = ec.mint("ES256", Some("a"), &claims("alice"));
    let evil = ec.mint("ES256", Some("a"), &claims("admin"));
    let spliced: Vec<&str> = good.split('.').collect();
    let evil_payload = evil.split('.').nth(1).unwrap();
    let spliced = format!("{}.{evil_payload}.{}", spliced[0], spliced[2]);
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&spliced)).await),
        "Jwt verification fails"
    );
}

#[tokio::test]
async fn time_window() {
    let ec = TestKey::ec("P-256");
    let auth = authenticator(&[inline_rule(jwks(&[(&ec, "a")]))]);
    let mint = |patch: serde_json::Value| {
        let mut c = claims("alice");
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        ec.mint("ES256", Some("a"), &c)
    };
    let expired = mint(json!({"exp": now() - 120}));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&expired)).await),
        EXPIRED
    );
    let within_skew = mint(json!({"exp": now() - 30}));
    identity(auth.authenticate(&mut bearer(&within_skew)).await);
    let early = mint(json!({"nbf": now() + 300}));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&early)).await),
        "Jwt not yet valid"
    );
    let mut no_exp = claims("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    identity(
        auth.authenticate(&mut bearer(&ec.mint("ES256", Some("a"), &no_exp)))
            .await,
    );
    // Time is checked before the signature, as in Envoy.
    let other = TestKey::ec("P-256");
    let mut c = claims("x");
    c["exp"] = json!(now() - 3600);
    let forged_expired = other.mint("ES256", Some("a"), &c);
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&forged_expired)).await),
        EXPIRED
    );
}

#[tokio::test]
async fn issuer_and_audience() {
    let ec = TestKey::ec("P-256");
    let auth = authenticator(&[inline_rule(jwks(&[(&ec, "a")]))]);
    let mut c = claims("alice");
    c["iss"] = json!("https://evil.test");
    let token = ec.mint("ES256", Some("a"), &c);
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Jwt issuer is not configured"
    );
    let mut c = claims("alice");
    c["aud"] = json!("other");
    let token = ec.mint("ES256", Some("a"), &c);
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Audiences in Jwt are not allowed"
    );
    c["aud"] = json!(["x", AUDIENCE]);
    let token = ec.mint("ES256", Some("a"), &c);
    let id = identity(auth.authenticate(&mut bearer(&token)).await);
    assert_eq!(id.audiences, ["x", AUDIENCE]);
    // No audiences configured: no audience check.
    let mut rule = inline_rule(jwks(&[(&ec, "a")]));
    rule.audiences = Box::new([]);
    let open = authenticator(&[rule]);
    c["aud"] = json!("anything");
    identity(
        open.authenticate(&mut bearer(&ec.mint("ES256", Some("a"), &c)))
            .await,
    );
}

#[tokio::test]
async fn alg_none_and_hmac_confusion_are_refused() {
    let rsa = rsa_a();
    let auth = authenticator(&[inline_rule(jwks(&[(rsa, "a")]))]);
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let payload = b64(&claims("admin").to_string());
    for none in ["none", "None", "NONE"] {
        let header = b64(&json!({"alg": none, "kid": "a"}).to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let outcome = auth.authenticate(&mut bearer(&token)).await;
            assert!(
                matches!(rejected(outcome), NOT_SUPPORTED | BAD_FORMAT),
                "{none}"
            );
        }
    }
    for secret in rsa.rsa_public_forms() {
        let header = b64(&json!({"alg": "HS256", "kid": "a"}).to_string());
        let input = format!("{header}.{payload}");
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
        });
        assert_eq!(
            rejected(auth.authenticate(&mut bearer(&token)).await),
            NOT_SUPPORTED
        );
    }
}

#[tokio::test]
async fn kid_handling() {
    let rsa = rsa_a();
    let auth = authenticator(&[inline_rule(jwks(&[(rsa, "a")]))]);
    let long = "k".repeat(10 * 1024);
    for kid in [
        "unknown",
        "../../etc/passwd",
        "' OR 1=1 --",
        "",
        long.as_str(),
    ] {
        let token = rsa.mint("RS256", Some(kid), &claims("alice"));
        assert_eq!(
            rejected(auth.authenticate(&mut bearer(&token)).await),
            NO_KEY,
            "{kid:.20}"
        );
    }
}

#[tokio::test]
async fn key_family_must_fit_the_algorithm() {
    let rsa = rsa_a();
    let ec = TestKey::ec("P-256");
    // RS256 token, but the JWK with that kid is EC P-256.
    let auth = authenticator(&[inline_rule(jwks(&[(&ec, "a")]))]);
    let token = rsa.mint("RS256", Some("a"), &claims("alice"));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        NO_KEY
    );
    // ES384 claimed over a P-256 key.
    let token = ec.mint("ES256", Some("a"), &claims("alice"));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"ES384","kid":"a"}"#)
    };
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&parts.join("."))).await),
        NO_KEY
    );
    // A JWK pinned to RS256 does not verify PS256, even with the right key.
    let mut pinned = rsa.jwk("a");
    pinned["alg"] = json!("RS256");
    let auth = authenticator(&[inline_rule(json!({"keys": [pinned]}).to_string())]);
    let token = rsa.mint("PS256", Some("a"), &claims("alice"));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        NO_KEY
    );
    identity(
        auth.authenticate(&mut bearer(&rsa.mint("RS256", Some("a"), &claims("a"))))
            .await,
    );
}

#[tokio::test]
async fn header_keys_are_never_used() {
    // The token embeds its own key (`jwk`) and points at others (`jku`, `x5u`); only the
    // configured JWKS counts. (No request is made: the URLs would not even resolve.)
    let attacker = TestKey::ec("P-256");
    let configured = TestKey::ec("P-256");
    let auth = authenticator(&[inline_rule(jwks(&[(&configured, "a")]))]);
    let header = json!({"alg": "ES256", "kid": "a", "jwk": attacker.jwk("a"),
                        "jku": "http://attacker.invalid/jwks", "x5u": "http://attacker.invalid/x5u"});
    let token = attacker.mint_with_header("ES256", &header, &claims("admin"));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Jwt verification fails"
    );
}

#[tokio::test]
async fn malformed_tokens() {
    let ec = TestKey::ec("P-256");
    let auth = authenticator(&[inline_rule(jwks(&[(&ec, "a")]))]);
    let good = ec.mint("ES256", Some("a"), &claims("alice"));
    let segments: Vec<&str> = good.split('.').collect();
    let two = format!("{}.{}", segments[0], segments[1]);
    let four = format!("{good}.{}", segments[2]);
    for token in [two.as_str(), four.as_str(), "x", "a.b.c.d.e"] {
        assert_eq!(
            rejected(auth.authenticate(&mut bearer(token)).await),
            BAD_FORMAT
        );
    }
    let bad_b64 = format!("{}.{}.{}", "e30*", segments[1], segments[2]);
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&bad_b64)).await),
        "Jwt header is an invalid Base64url encoded"
    );
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let not_json = format!(
        "{}.{}.{}",
        segments[0],
        b64("claims, not json"),
        segments[2]
    );
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&not_json)).await),
        "Jwt payload is an invalid JSON"
    );
    // Duplicate `sub`, correctly signed: still refused.
    let header = b64(r#"{"alg":"ES256","kid":"a"}"#);
    let payload = b64(&format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","sub":"admin","exp":{}}}"#,
        now() + 60
    ));
    let input = format!("{header}.{payload}");
    let token = format!("{input}.{}", b64_bytes(&ec.sign("ES256", input.as_bytes())));
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Jwt payload is an invalid JSON"
    );
    // Nested 10 000 levels deep: refused quickly, no stack overflow.
    let deep = format!(
        r#"{{"iss":"{ISSUER}","x":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let input = format!("{header}.{}", b64(&deep));
    let token = format!("{input}.{}", b64_bytes(&ec.sign("ES256", input.as_bytes())));
    let started = std::time::Instant::now();
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Jwt payload is an invalid JSON"
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
}

fn b64_bytes(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn type_confusion() {
    let ec = TestKey::ec("P-256");
    let auth = authenticator(&[inline_rule(jwks(&[(&ec, "a")]))]);
    let cases = [
        (
            "exp",
            json!("9999999999"),
            "Jwt payload [exp] field is not an integer",
        ),
        (
            "aud",
            json!(5),
            "Jwt payload [aud] field is not a string or string list",
        ),
        (
            "iss",
            json!(null),
            "Jwt payload [iss] field is not a string",
        ),
    ];
    for (claim, value, message) in cases {
        let mut c = claims("alice");
        c[claim] = value;
        let token = ec.mint("ES256", Some("a"), &c);
        assert_eq!(
            rejected(auth.authenticate(&mut bearer(&token)).await),
            message
        );
    }
}
