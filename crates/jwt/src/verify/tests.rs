use super::*;

fn jwt(claims: &str) -> Jwt {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    Jwt::parse(&format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"ES256"}"#),
        b64(claims)
    ))
    .unwrap()
}

#[test]
fn time_window_with_skew() {
    let now = 1_000_000;
    assert_eq!(
        check_time(&jwt(r#"{"exp":999880}"#), now),
        Err(Status::JwtExpired)
    );
    assert_eq!(check_time(&jwt(r#"{"exp":999940}"#), now), Ok(()));
    assert_eq!(
        check_time(&jwt(r#"{"exp":999939}"#), now),
        Err(Status::JwtExpired)
    );
    assert_eq!(
        check_time(&jwt(r#"{"nbf":1000300}"#), now),
        Err(Status::JwtNotYetValid)
    );
    assert_eq!(check_time(&jwt(r#"{"nbf":1000060}"#), now), Ok(()));
    assert_eq!(
        check_time(&jwt("{}"), now),
        Ok(()),
        "no exp: accepted, as Envoy"
    );
    assert_eq!(
        check_time(&jwt(r#"{"exp":18446744073709551615}"#), now),
        Ok(())
    );
}

#[test]
fn audiences() {
    let allowed: Vec<Box<str>> = vec![
        "rampart-api".into(),
        sanitize_audience("https://api.test/").into(),
    ];
    assert_eq!(
        check_audience(&jwt(r#"{"aud":"x"}"#), &allowed),
        Err(Status::JwtAudienceNotAllowed)
    );
    assert_eq!(
        check_audience(&jwt("{}"), &allowed),
        Err(Status::JwtAudienceNotAllowed)
    );
    assert_eq!(
        check_audience(&jwt(r#"{"aud":["x","rampart-api"]}"#), &allowed),
        Ok(())
    );
    assert_eq!(
        check_audience(&jwt(r#"{"aud":"http://api.test"}"#), &allowed),
        Ok(())
    );
    assert_eq!(
        check_audience(&jwt(r#"{"aud":"api.test"}"#), &allowed),
        Ok(())
    );
    assert_eq!(
        check_audience(&jwt(r#"{"aud":"x"}"#), &[]),
        Ok(()),
        "none configured: no check"
    );
}
