//! The checks on a parsed token, in Envoy's order: time window, audiences, then the signature.
//!
//! Receives a [`Jwt`] from `token` and a provider's settings and keys; answers `Ok` or the
//! status to refuse with. Pure functions: the clock is a parameter.

use crate::jwks::KeySet;
use crate::status::Status;
use crate::token::Jwt;

/// Allowed clock difference for `exp` and `nbf` (Envoy's default `clock_skew_seconds`).
pub const CLOCK_SKEW_SECS: u64 = 60;

/// `nbf` and `exp` against `now` (seconds since the epoch), with [`CLOCK_SKEW_SECS`]. A token
/// without `exp` does not expire (Envoy accepts it).
pub(crate) fn check_time(jwt: &Jwt, now: u64) -> Result<(), Status> {
    if let Some(nbf) = jwt.nbf {
        if now.saturating_add(CLOCK_SKEW_SECS) < nbf {
            return Err(Status::JwtNotYetValid);
        }
    }
    if let Some(exp) = jwt.exp {
        if now > exp.saturating_add(CLOCK_SKEW_SECS) {
            return Err(Status::JwtExpired);
        }
    }
    Ok(())
}

/// Whether one of the token's audiences is allowed; `allowed` holds sanitized audiences and
/// empty means no check.
pub(crate) fn check_audience(jwt: &Jwt, allowed: &[Box<str>]) -> Result<(), Status> {
    if allowed.is_empty()
        || jwt
            .audiences
            .iter()
            .any(|aud| allowed.iter().any(|a| **a == *sanitize_audience(aud)))
    {
        Ok(())
    } else {
        Err(Status::JwtAudienceNotAllowed)
    }
}

/// Envoy's audience normalisation: a leading `http://` or `https://` is dropped, and then a
/// trailing `/` too, so `https://api.test/` and `api.test` are the same audience.
pub(crate) fn sanitize_audience(aud: &str) -> &str {
    match aud
        .strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
    {
        Some(rest) => rest.strip_suffix('/').unwrap_or(rest),
        None => aud,
    }
}

/// The signature of `token` (the text `jwt` was parsed from) against the keys that may verify
/// it: [`Status::JwksKidAlgMismatch`] when no key fits the `alg`/`kid`,
/// [`Status::JwtVerificationFail`] when keys fit but none verifies.
pub(crate) fn check_signature(jwt: &Jwt, token: &str, keys: &KeySet) -> Result<(), Status> {
    let Some(message) = token.as_bytes().get(..jwt.signed_len) else {
        return Err(Status::JwtVerificationFail);
    };
    let mut tried = false;
    for jwk in keys.keys.iter() {
        if !jwk.matches(jwt.alg, jwt.kid.as_deref()) {
            continue;
        }
        tried = true;
        if jwk.key.verify(jwt.alg, message, &jwt.signature) {
            return Ok(());
        }
    }
    Err(if tried {
        Status::JwtVerificationFail
    } else {
        Status::JwksKidAlgMismatch
    })
}

#[cfg(test)]
mod tests;
