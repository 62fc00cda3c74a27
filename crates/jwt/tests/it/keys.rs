//! Test keys generated at start (RSA via the `rsa` crate, EC and Ed25519 via ring) and token
//! minting.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rampart_model::authn::{JwksSource, JwtRule, TokenLocations};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "rampart-api";

/// A signing key and its public JWK.
pub enum TestKey {
    Rsa {
        pair: RsaKeyPair,
        n: Vec<u8>,
        e: Vec<u8>,
        public_pem: String,
        public_der: Vec<u8>,
    },
    Ec {
        pair: EcdsaKeyPair,
        crv: &'static str,
    },
    Ed(Ed25519KeyPair),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// An RSA-2048 key.
    pub fn rsa() -> TestKey {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let der = private.to_pkcs8_der().unwrap();
        let public = private.to_public_key();
        TestKey::Rsa {
            pair: RsaKeyPair::from_pkcs8(der.as_bytes()).unwrap(),
            n: public.n().to_bytes_be(),
            e: public.e().to_bytes_be(),
            public_pem: public
                .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                .unwrap(),
            public_der: public.to_public_key_der().unwrap().as_bytes().to_vec(),
        }
    }

    /// A P-256 (`"P-256"`) or P-384 (`"P-384"`) key.
    pub fn ec(crv: &'static str) -> TestKey {
        let alg = match crv {
            "P-256" => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            _ => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        };
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        TestKey::Ec {
            pair: EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            crv,
        }
    }

    /// An Ed25519 key.
    pub fn ed25519() -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        TestKey::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    /// The public JWK with `kid` (no `alg` member).
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            TestKey::Rsa { n, e, .. } => {
                json!({"kty": "RSA", "kid": kid, "n": b64(n), "e": b64(e)})
            }
            TestKey::Ec { pair, crv } => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                json!({"kty": "EC", "crv": crv, "kid": kid,
                       "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..])})
            }
            TestKey::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref())})
            }
        }
    }

    /// Signs `header.payload` (already base64url) with `alg`.
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            TestKey::Rsa { pair, .. } => {
                let padding: &dyn sig::RsaEncoding = match alg {
                    "RS256" => &sig::RSA_PKCS1_SHA256,
                    "RS384" => &sig::RSA_PKCS1_SHA384,
                    "RS512" => &sig::RSA_PKCS1_SHA512,
                    "PS256" => &sig::RSA_PSS_SHA256,
                    "PS384" => &sig::RSA_PSS_SHA384,
                    _ => &sig::RSA_PSS_SHA512,
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, input, &mut out).unwrap();
                out
            }
            TestKey::Ec { pair, .. } => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
            TestKey::Ed(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    /// A token with header `{"alg", "kid"}` and `claims`.
    pub fn mint(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        self.mint_with_header(alg, &header, claims)
    }

    /// A token with any header.
    pub fn mint_with_header(&self, alg: &str, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// The RSA public key as PEM, DER and `n` (the HMAC-confusion secrets).
    pub fn rsa_public_forms(&self) -> Vec<Vec<u8>> {
        match self {
            TestKey::Rsa {
                n,
                public_pem,
                public_der,
                ..
            } => {
                vec![
                    public_pem.as_bytes().to_vec(),
                    public_der.clone(),
                    n.clone(),
                    b64(n).into_bytes(),
                ]
            }
            _ => Vec::new(),
        }
    }
}

/// The RSA key every test shares (generating one costs about a second).
pub fn rsa_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::rsa)
}

/// A second RSA key, for rotation.
pub fn rsa_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::rsa)
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid token for `sub` from [`ISSUER`] for [`AUDIENCE`], valid for an hour.
pub fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "sub": sub, "aud": AUDIENCE, "iat": now(), "exp": now() + 3600})
}

/// A JWKS document of `(key, kid)` pairs.
pub fn jwks(keys: &[(&TestKey, &str)]) -> String {
    json!({"keys": keys.iter().map(|(k, kid)| k.jwk(kid)).collect::<Vec<_>>()}).to_string()
}

/// A rule for [`ISSUER`] / [`AUDIENCE`] with default locations and `jwks`.
pub fn rule(jwks: JwksSource) -> JwtRule {
    JwtRule {
        origin: "default/ra jwtRules[0]".into(),
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()].into(),
        jwks,
        locations: TokenLocations::default(),
        output_payload_to_header: None,
        output_claim_to_headers: Box::new([]),
        forward_original_token: false,
        fetch_timeout: Duration::from_secs(5),
        space_delimited_claims: vec!["scope".into(), "permission".into()].into(),
    }
}

/// A rule with inline `jwks`.
pub fn inline_rule(jwks: String) -> JwtRule {
    rule(JwksSource::Inline(jwks.into()))
}
