use serde_json::json;

use super::*;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(kid: &str) -> Value {
    let mut n = vec![0xc1; 256];
    n[255] = 0x01;
    json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB"})
}

fn ec_jwk(crv: &str, size: usize) -> Value {
    json!({"kty": "EC", "crv": crv, "kid": "ec", "x": b64(&vec![1; size]), "y": b64(&vec![2; size])})
}

fn parse(doc: Value) -> Result<KeySet, JwksError> {
    KeySet::parse(doc.to_string().as_bytes())
}

#[test]
fn document_shape() {
    assert_eq!(KeySet::parse(b"nope"), Err(JwksError::InvalidJson));
    assert_eq!(KeySet::parse(b"[]"), Err(JwksError::InvalidJson));
    assert_eq!(parse(json!({})), Err(JwksError::NoKeys));
    assert_eq!(parse(json!({"keys": {}})), Err(JwksError::BadKeys));
    assert_eq!(parse(json!({"keys": []})), Err(JwksError::NoValidKeys));
    assert_eq!(
        parse(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
        Err(JwksError::NoValidKeys)
    );
}

#[test]
fn unusable_keys_are_skipped() {
    let short_rsa = json!({"kty": "RSA", "n": b64(&[0xc1; 128]), "e": "AQAB"});
    let enc = {
        let mut k = rsa_jwk("enc");
        k["use"] = json!("enc");
        k
    };
    let bad_alg = {
        let mut k = rsa_jwk("bad");
        k["alg"] = json!("ES256");
        k
    };
    let hs_alg = {
        let mut k = rsa_jwk("hs");
        k["alg"] = json!("HS256");
        k
    };
    let doc = json!({"keys": [
        short_rsa, enc, bad_alg, hs_alg,
        ec_jwk("P-521", 66), ec_jwk("P-256", 31),
        {"kty": "OKP", "crv": "X25519", "x": b64(&[1; 32])},
        {"kty": "RSA", "kid": 5, "n": b64(&[0xc1; 256]), "e": "AQAB"},
        rsa_jwk("good"), ec_jwk("P-256", 32), ec_jwk("P-384", 48),
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(&[1; 32])},
    ]});
    let set = parse(doc).unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(set.keys[0].kid.as_deref(), Some("good"));
    assert!(matches!(set.keys[1].key, PublicKey::P256(_)));
    assert!(matches!(set.keys[2].key, PublicKey::P384(_)));
    assert!(matches!(set.keys[3].key, PublicKey::Ed25519(_)));
}

#[test]
fn key_matching_follows_envoy() {
    let mut pinned = rsa_jwk("a");
    pinned["alg"] = json!("RS256");
    let set = parse(json!({"keys": [pinned, ec_jwk("P-256", 32), {"kty": "RSA", "n": b64(&[0xc1; 256]), "e": "AQAB"}]}))
        .unwrap();
    let [rsa_a, ec, rsa_no_kid] = &set.keys[..] else {
        panic!()
    };
    assert!(rsa_a.matches(Alg::Rs256, Some("a")));
    assert!(
        !rsa_a.matches(Alg::Ps256, Some("a")),
        "the JWK's alg binds it"
    );
    assert!(!rsa_a.matches(Alg::Rs256, Some("b")));
    assert!(rsa_a.matches(Alg::Rs256, None));
    assert!(!ec.matches(Alg::Rs256, Some("ec")), "kty must fit alg");
    assert!(!ec.matches(Alg::Es384, Some("ec")), "curve must fit alg");
    assert!(ec.matches(Alg::Es256, Some("ec")));
    assert!(rsa_no_kid.matches(Alg::Ps512, Some("anything")));
}
