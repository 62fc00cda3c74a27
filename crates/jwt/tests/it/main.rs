//! Integration tests of `rampart-jwt` through its public API: real keys, real tokens, real
//! JWKS servers on 127.0.0.1.

mod keys;
mod locations;
mod remote;
mod server;
mod tls;
mod verify;

use std::sync::Arc;

use http::request::Parts;
use rampart_jwt::{Authenticator, Identity, JwksRegistry, Outcome, RegistrySettings};
use rampart_model::authn::JwtRule;

/// A request head with `uri` and `headers`.
pub fn request(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

/// A request carrying `token` as `Authorization: Bearer`.
pub fn bearer(token: &str) -> Parts {
    request("/api", &[("authorization", &format!("Bearer {token}"))])
}

/// An authenticator over `rules` with a default registry.
pub fn authenticator(rules: &[JwtRule]) -> Authenticator {
    Authenticator::new(rules, &JwksRegistry::new(RegistrySettings::default())).unwrap()
}

/// The identity, or a panic naming the outcome.
pub fn identity(outcome: Outcome) -> Arc<Identity> {
    match outcome {
        Outcome::Authenticated(id) => id,
        other => panic!("expected Authenticated, got {other:?}"),
    }
}

/// The rejection message, or a panic naming the outcome.
pub fn rejected(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Rejected(r) => r.message,
        other => panic!("expected Rejected, got {other:?}"),
    }
}
