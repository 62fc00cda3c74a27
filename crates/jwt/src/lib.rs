//! `RequestAuthentication` at run time: finds a JWT in a request, verifies it against the
//! rules bound to this proxy, and yields the `request.auth.*` identity.
//!
//! Semantics are Envoy `jwt_authn` as Istio configures it: a request without a token passes
//! (authorization decides), a request with an invalid token is refused with `401` and Envoy's
//! message, a valid token yields an [`Identity`].
//!
//! - [`JwksRegistry`] lives as long as the process: one cache and refresh task per `jwksUri`.
//! - [`Authenticator`] is built per config snapshot from `rampart_model::authn::JwtRule`s and
//!   is cheap to use per request (no locks; keys behind `ArcSwap`).
//!
//! Token contents and key material are never logged.

mod authenticator;
mod extract;
mod fetch;
mod identity;
mod jwks;
mod key;
mod registry;
mod status;
mod token;
mod verify;

pub use authenticator::{Authenticator, BuildError, Outcome, Rejection};
pub use fetch::Cidr;
pub use identity::Identity;
pub use jwks::{JwksError, KeySet};
pub use registry::{tls_config, JwksRegistry, JwksStats, RegistrySettings};
pub use status::Status;
pub use token::MAX_TOKEN_LEN;
pub use verify::CLOCK_SKEW_SECS;
