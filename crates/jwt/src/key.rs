//! Signature algorithms and public keys: the only place that calls into `ring`.
//!
//! Receives a token's `alg` and signing input from `verify`, and a key parsed by `jwks`; answers
//! whether the signature holds.
//!
//! Why `ring` directly rather than `jsonwebtoken`: the checks that make JWT safe are about which
//! key may verify which algorithm (an RSA key never verifies `HS256`, an EC P-256 key never
//! verifies `ES384`, a JWK's own `alg` binds it). Here they are one exhaustive `match`
//! ([`PublicKey::supports`]) that the tests pin down, with no HMAC, `none` or PEM-secret code
//! path in the build at all. `ring` is also already what rustls runs on (no OpenSSL, no cmake).

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};

/// A signature algorithm Rampart verifies (`alg` in a JWS header or a JWK).
///
/// Anything else — `none` in any spelling, `HS*` (a shared secret is never configured in a
/// JWKS that Rampart accepts), `ES512` (P-521 is not in `ring`) — is refused at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    /// The algorithm named exactly `name` (JOSE names are case-sensitive).
    pub(crate) fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }

    fn rsa(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            Alg::Es256 | Alg::Es384 | Alg::EdDsa => return None,
        })
    }
}

/// A public key from a JWKS, validated for shape when the JWKS was parsed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// `kty: RSA`: big-endian modulus (no leading zeros, 2048..=8192 bits) and exponent.
    Rsa { n: Box<[u8]>, e: Box<[u8]> },
    /// `kty: EC`, `crv: P-256`: uncompressed point `04 || x || y`.
    P256(Box<[u8]>),
    /// `kty: EC`, `crv: P-384`: uncompressed point `04 || x || y`.
    P384(Box<[u8]>),
    /// `kty: OKP`, `crv: Ed25519`: the 32-byte public key.
    Ed25519(Box<[u8]>),
}

impl std::fmt::Debug for PublicKey {
    // Key material stays out of logs and panics; the family is enough to debug with.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicKey::Rsa { .. } => "PublicKey::Rsa",
            PublicKey::P256(_) => "PublicKey::P256",
            PublicKey::P384(_) => "PublicKey::P384",
            PublicKey::Ed25519(_) => "PublicKey::Ed25519",
        })
    }
}

impl PublicKey {
    /// Whether this key's family (kty and curve) may verify `alg`.
    pub(crate) fn supports(&self, alg: Alg) -> bool {
        match self {
            PublicKey::Rsa { .. } => alg.rsa().is_some(),
            PublicKey::P256(_) => alg == Alg::Es256,
            PublicKey::P384(_) => alg == Alg::Es384,
            PublicKey::Ed25519(_) => alg == Alg::EdDsa,
        }
    }

    /// Whether `signature` over `message` verifies with this key under `alg`. False when the
    /// key does not support `alg`.
    pub(crate) fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        if !self.supports(alg) {
            return false;
        }
        match self {
            PublicKey::Rsa { n, e } => match alg.rsa() {
                Some(params) => {
                    let key = RsaPublicKeyComponents { n: &**n, e: &**e };
                    key.verify(params, message, signature).is_ok()
                }
                None => false,
            },
            PublicKey::P256(point) => verify_unparsed(
                &signature::ECDSA_P256_SHA256_FIXED,
                point,
                message,
                signature,
            ),
            PublicKey::P384(point) => verify_unparsed(
                &signature::ECDSA_P384_SHA384_FIXED,
                point,
                message,
                signature,
            ),
            PublicKey::Ed25519(key) => {
                verify_unparsed(&signature::ED25519, key, message, signature)
            }
        }
    }
}

fn verify_unparsed(
    alg: &'static dyn VerificationAlgorithm,
    key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .is_ok()
}
