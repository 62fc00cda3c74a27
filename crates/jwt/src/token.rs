//! A compact JWS (`header.payload.signature`) → [`Jwt`]: decoded, typed, not yet trusted.
//!
//! Receives the token text found by `extract`; hands `verify` the algorithm, key id, registered
//! claims and the signing input. Every check here follows Envoy's `Jwt::parseFromString`, in its
//! order, with its status codes. Hostile input is bounded: the token length is capped at
//! [`MAX_TOKEN_LEN`], JSON nesting by serde_json's recursion limit (128), and a member repeated
//! at the top level of the header or payload (two `sub`s) makes the token invalid rather than
//! letting the last one silently win.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::jwks::b64url;
use crate::key::Alg;
use crate::status::Status;

/// Longest token Rampart parses (bytes). Request headers are capped at 60 KiB before this.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// A parsed, unverified token.
#[derive(Debug)]
pub(crate) struct Jwt {
    pub(crate) alg: Alg,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) issuer: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) exp: Option<u64>,
    pub(crate) nbf: Option<u64>,
    /// `azp` when it is a string.
    pub(crate) presenter: Option<String>,
    pub(crate) claims: Map<String, Value>,
    /// The payload JSON exactly as received (decoded from base64url).
    pub(crate) payload: Vec<u8>,
    /// Bytes of `header.payload` at the start of the token text: what the signature covers.
    pub(crate) signed_len: usize,
    pub(crate) signature: Vec<u8>,
}

impl Jwt {
    /// Parses `token`; the error is the Envoy status the request is refused with.
    pub(crate) fn parse(token: &str) -> Result<Jwt, Status> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Status::JwtBadFormat);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Status::JwtBadFormat);
        };

        let header = b64url(header).ok_or(Status::JwtHeaderParseErrorBadBase64)?;
        let header = object(&header).ok_or(Status::JwtHeaderParseErrorBadJson)?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => {
                Alg::parse(alg).ok_or(Status::JwtHeaderNotImplementedAlg)?
            }
            _ => return Err(Status::JwtHeaderBadAlg),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str().into()),
            Some(_) => return Err(Status::JwtHeaderBadKid),
        };
        // `jku`, `x5u`, `x5c` and `jwk` are never read: keys come only from configuration.

        let payload_bytes = b64url(payload).ok_or(Status::JwtPayloadParseErrorBadBase64)?;
        let claims = object(&payload_bytes).ok_or(Status::JwtPayloadParseErrorBadJson)?;
        let issuer = string_claim(&claims, "iss", Status::JwtPayloadParseErrorIssNotString)?;
        let subject = string_claim(&claims, "sub", Status::JwtPayloadParseErrorSubNotString)?;
        time_claim(
            &claims,
            "iat",
            Status::JwtPayloadParseErrorIatNotInteger,
            Status::JwtPayloadParseErrorIatOutOfRange,
        )?;
        let nbf = time_claim(
            &claims,
            "nbf",
            Status::JwtPayloadParseErrorNbfNotInteger,
            Status::JwtPayloadParseErrorNbfOutOfRange,
        )?;
        let exp = time_claim(
            &claims,
            "exp",
            Status::JwtPayloadParseErrorExpNotInteger,
            Status::JwtPayloadParseErrorExpOutOfRange,
        )?;
        string_claim(&claims, "jti", Status::JwtPayloadParseErrorJtiNotString)?;
        let audiences = audiences(&claims)?;
        let presenter = claims.get("azp").and_then(Value::as_str).map(str::to_owned);

        let signature = b64url(signature).ok_or(Status::JwtSignatureParseErrorBadBase64)?;
        Ok(Jwt {
            alg,
            kid,
            issuer,
            subject,
            audiences,
            exp,
            nbf,
            presenter,
            claims,
            payload: payload_bytes,
            signed_len: token.len() - signature_len(token),
            signature,
        })
    }
}

fn signature_len(token: &str) -> usize {
    token.rsplit('.').next().map_or(0, |s| s.len() + 1)
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &str,
    bad: Status,
) -> Result<Option<String>, Status> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad),
    }
}

/// A NumericDate: a JSON number (Envoy reads it as a protobuf double, so a fraction is
/// truncated); a string, `null` or anything else is refused.
fn time_claim(
    claims: &Map<String, Value>,
    name: &str,
    not_integer: Status,
    out_of_range: Status,
) -> Result<Option<u64>, Status> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = value else {
        return Err(not_integer);
    };
    if let Some(n) = n.as_u64() {
        return Ok(Some(n));
    }
    match n.as_f64() {
        // 2^64 as f64; `as` saturates, but out-of-range is an error here, as in Envoy.
        Some(f) if (0.0..18_446_744_073_709_551_616.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(out_of_range),
    }
}

fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, Status> {
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(Status::JwtPayloadParseErrorAudNotString),
        Some(_) => Err(Status::JwtPayloadParseErrorAudNotString),
    }
}

/// A JSON object whose top-level members are unique; `None` for anything else (including
/// nesting deeper than serde_json's recursion limit).
fn object(json: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<UniqueObject>(json)
        .ok()
        .map(|o| o.0)
}

struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = UniqueObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with unique member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
        let mut map = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom("duplicate member"));
            }
            map.insert(key, value);
        }
        Ok(UniqueObject(map))
    }
}

#[cfg(test)]
mod tests;
