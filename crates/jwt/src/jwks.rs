//! JWKS documents (RFC 7517) → [`KeySet`]: the verification keys of one provider.
//!
//! Receives JSON text (inline `jwks`, or a fetched `jwksUri` body); hands `verify` a list of
//! public keys. As Envoy does, a key Rampart cannot use (unknown `kty`, `use: enc`, an RSA
//! modulus under 2048 bits, a P-521 or symmetric key, an `alg` that does not fit the key) is
//! skipped, and the set is refused only when no usable key is left. Private members (`d`, `p`,
//! …) are ignored: only the public half is kept.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::key::{Alg, PublicKey};

/// Why a JWKS document was refused (Envoy's texts).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Not JSON, or not a JSON object.
    #[error("Jwks is an invalid JSON")]
    InvalidJson,
    /// No `keys` member.
    #[error("Jwks does not have [keys] field")]
    NoKeys,
    /// `keys` is not an array.
    #[error("[keys] in Jwks is not an array")]
    BadKeys,
    /// Every entry of `keys` was unusable.
    #[error("Jwks doesn't have any valid public key")]
    NoValidKeys,
}

/// One usable JWK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jwk {
    /// `kid`, when the JWK has one.
    pub(crate) kid: Option<Box<str>>,
    /// `alg`, when the JWK pins one (then only that algorithm may use the key).
    pub(crate) alg: Option<Alg>,
    pub(crate) key: PublicKey,
}

impl Jwk {
    /// Whether this key may verify a token with header `alg` and `kid`: Envoy's rule — the
    /// family fits, the JWK's own `alg` (if any) is the token's, and when both have a `kid`
    /// they are equal.
    pub(crate) fn matches(&self, alg: Alg, kid: Option<&str>) -> bool {
        let kid_ok = match (kid, self.kid.as_deref()) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        };
        kid_ok && self.alg.is_none_or(|a| a == alg) && self.key.supports(alg)
    }
}

/// The usable keys of one JWKS document, immutable once parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    pub(crate) keys: Box<[Jwk]>,
}

impl KeySet {
    /// Parses a JWKS document; `Err` when it is malformed or holds no usable key.
    pub fn parse(json: &[u8]) -> Result<KeySet, JwksError> {
        let doc: Value = serde_json::from_slice(json).map_err(|_| JwksError::InvalidJson)?;
        let doc = doc.as_object().ok_or(JwksError::InvalidJson)?;
        let keys = doc.get("keys").ok_or(JwksError::NoKeys)?;
        let keys = keys.as_array().ok_or(JwksError::BadKeys)?;
        let keys: Box<[Jwk]> = keys
            .iter()
            .filter_map(|k| parse_jwk(k.as_object()?))
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoValidKeys);
        }
        Ok(KeySet { keys })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key (never true for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_jwk(jwk: &Map<String, Value>) -> Option<Jwk> {
    if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str().into()),
        Some(_) => return None,
    };
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(alg)) => Some(Alg::parse(alg)?),
        Some(_) => return None,
    };
    let key = match jwk.get("kty")?.as_str()? {
        "RSA" => rsa_key(jwk)?,
        "EC" => ec_key(jwk)?,
        "OKP" => okp_key(jwk)?,
        _ => return None,
    };
    if alg.is_some_and(|a| !key.supports(a)) {
        return None;
    }
    Some(Jwk { kid, alg, key })
}

fn member(jwk: &Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    b64url(jwk.get(name)?.as_str()?)
}

/// Base64url without padding (a trailing `=` padding is tolerated).
pub(crate) fn b64url(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

fn rsa_key(jwk: &Map<String, Value>) -> Option<PublicKey> {
    let n = member(jwk, "n")?;
    let e = member(jwk, "e")?;
    let n = strip_zeros(&n);
    let e = strip_zeros(&e);
    // ring verifies 2048..=8192-bit moduli; refuse others now rather than on every request.
    if !(256..=1024).contains(&n.len()) || e.is_empty() || e.len() > 4 {
        return None;
    }
    Some(PublicKey::Rsa {
        n: n.into(),
        e: e.into(),
    })
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn ec_key(jwk: &Map<String, Value>) -> Option<PublicKey> {
    let x = member(jwk, "x")?;
    let y = member(jwk, "y")?;
    let size = match jwk.get("crv")?.as_str()? {
        "P-256" => 32,
        "P-384" => 48,
        _ => return None,
    };
    if x.len() != size || y.len() != size {
        return None;
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Some(if size == 32 {
        PublicKey::P256(point.into())
    } else {
        PublicKey::P384(point.into())
    })
}

fn okp_key(jwk: &Map<String, Value>) -> Option<PublicKey> {
    if jwk.get("crv")?.as_str()? != "Ed25519" {
        return None;
    }
    let x = member(jwk, "x")?;
    (x.len() == 32).then(|| PublicKey::Ed25519(x.into()))
}

#[cfg(test)]
mod tests;
