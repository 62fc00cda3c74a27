use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::*;

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// A token with these raw header and payload texts and a dummy signature.
fn token(header: &str, payload: &str) -> String {
    format!("{}.{}.c2ln", b64(header), b64(payload))
}

fn parse_err(header: &str, payload: &str) -> Status {
    Jwt::parse(&token(header, payload)).unwrap_err()
}

const RS: &str = r#"{"alg":"RS256","kid":"a"}"#;

#[test]
fn parses_registered_claims() {
    let jwt = Jwt::parse(&token(
        RS,
        r#"{"iss":"i","sub":"s","aud":["x","y"],"exp":20,"nbf":10,"iat":5,"azp":"p"}"#,
    ))
    .unwrap();
    assert_eq!(jwt.alg, Alg::Rs256);
    assert_eq!(jwt.kid.as_deref(), Some("a"));
    assert_eq!(jwt.issuer.as_deref(), Some("i"));
    assert_eq!(jwt.subject.as_deref(), Some("s"));
    assert_eq!(jwt.audiences, ["x", "y"]);
    assert_eq!((jwt.exp, jwt.nbf), (Some(20), Some(10)));
    assert_eq!(jwt.presenter.as_deref(), Some("p"));
    assert_eq!(jwt.signature, b"sig");
    let text = token(RS, "{}");
    let jwt = Jwt::parse(&text).unwrap();
    assert_eq!(&text[..jwt.signed_len], &text[..text.rfind('.').unwrap()]);
}

#[test]
fn segment_count_and_size() {
    for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "..."] {
        assert_eq!(
            Jwt::parse(bad).unwrap_err(),
            Status::JwtBadFormat,
            "{bad:?}"
        );
    }
    let huge = token(RS, &format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_TOKEN_LEN)));
    assert_eq!(Jwt::parse(&huge).unwrap_err(), Status::JwtBadFormat);
}

#[test]
fn bad_base64_and_json() {
    let payload = b64("{}");
    assert_eq!(
        Jwt::parse(&format!("*.{payload}.c2ln")).unwrap_err(),
        Status::JwtHeaderParseErrorBadBase64
    );
    assert_eq!(
        parse_err("not json", "{}"),
        Status::JwtHeaderParseErrorBadJson
    );
    assert_eq!(parse_err("[1]", "{}"), Status::JwtHeaderParseErrorBadJson);
    let header = b64(RS);
    assert_eq!(
        Jwt::parse(&format!("{header}.%%%.c2ln")).unwrap_err(),
        Status::JwtPayloadParseErrorBadBase64
    );
    assert_eq!(parse_err(RS, "claims"), Status::JwtPayloadParseErrorBadJson);
    assert_eq!(
        parse_err(RS, "\"str\""),
        Status::JwtPayloadParseErrorBadJson
    );
    assert_eq!(
        Jwt::parse(&format!("{header}.{payload}.!!")).unwrap_err(),
        Status::JwtSignatureParseErrorBadBase64
    );
}

#[test]
fn duplicate_members_are_invalid() {
    assert_eq!(
        parse_err(RS, r#"{"sub":"alice","sub":"admin"}"#),
        Status::JwtPayloadParseErrorBadJson
    );
    assert_eq!(
        parse_err(r#"{"alg":"RS256","alg":"none"}"#, "{}"),
        Status::JwtHeaderParseErrorBadJson
    );
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let depth = 10_000;
    let payload = format!(r#"{{"a":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let started = std::time::Instant::now();
    assert_eq!(parse_err(RS, &payload), Status::JwtPayloadParseErrorBadJson);
    assert!(started.elapsed() < std::time::Duration::from_millis(200));
    // 5 000 objects: 10 000 would not fit the token size cap (also a refusal, tested above).
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth / 2), "}".repeat(depth / 2));
    assert_eq!(parse_err(RS, &objects), Status::JwtPayloadParseErrorBadJson);
}

#[test]
fn algorithms() {
    for none in [
        "none", "None", "NONE", "HS256", "HS512", "ES512", "rs256", "",
    ] {
        let header = format!(r#"{{"alg":"{none}"}}"#);
        assert_eq!(
            parse_err(&header, "{}"),
            Status::JwtHeaderNotImplementedAlg,
            "{none}"
        );
    }
    assert_eq!(parse_err("{}", "{}"), Status::JwtHeaderBadAlg);
    assert_eq!(parse_err(r#"{"alg":256}"#, "{}"), Status::JwtHeaderBadAlg);
    assert_eq!(
        parse_err(r#"{"alg":"RS256","kid":7}"#, "{}"),
        Status::JwtHeaderBadKid
    );
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        assert!(Jwt::parse(&token(&header, "{}")).is_ok(), "{alg}");
    }
}

#[test]
fn type_confusion() {
    let cases = [
        (
            r#"{"exp":"9999999999"}"#,
            Status::JwtPayloadParseErrorExpNotInteger,
        ),
        (r#"{"exp":null}"#, Status::JwtPayloadParseErrorExpNotInteger),
        (r#"{"exp":-1}"#, Status::JwtPayloadParseErrorExpOutOfRange),
        (r#"{"exp":1e30}"#, Status::JwtPayloadParseErrorExpOutOfRange),
        (r#"{"nbf":"0"}"#, Status::JwtPayloadParseErrorNbfNotInteger),
        (r#"{"iat":true}"#, Status::JwtPayloadParseErrorIatNotInteger),
        (r#"{"aud":5}"#, Status::JwtPayloadParseErrorAudNotString),
        (
            r#"{"aud":["a",5]}"#,
            Status::JwtPayloadParseErrorAudNotString,
        ),
        (r#"{"iss":null}"#, Status::JwtPayloadParseErrorIssNotString),
        (r#"{"iss":["a"]}"#, Status::JwtPayloadParseErrorIssNotString),
        (r#"{"sub":1}"#, Status::JwtPayloadParseErrorSubNotString),
        (r#"{"jti":{}}"#, Status::JwtPayloadParseErrorJtiNotString),
    ];
    for (payload, status) in cases {
        assert_eq!(parse_err(RS, payload), status, "{payload}");
    }
    let jwt = Jwt::parse(&token(RS, r#"{"exp":1700000000.7}"#)).unwrap();
    assert_eq!(jwt.exp, Some(1_700_000_000));
}
