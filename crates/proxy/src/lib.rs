//! The request path, one module per stage, in order:
//! [`listener`] (accept) → [`codec`] (HTTP/1.1: the gateway's own codec for the common request,
//! hyper's for the rest; HTTP/2: hyper's) → [`request`] (route lookup and the action)
//! → [`headers`] (proxy headers) → [`forward`] (destination, endpoint, upstream call) →
//! [`respond`] (local replies). [`active`] holds the snapshot being served.

pub mod access;
pub mod active;
pub mod authn;
pub mod authz;
pub mod body;
pub mod codec;
pub mod cors;
pub mod error;
pub mod ext_authz;
pub mod forward;
pub mod framing;
mod h1;
pub mod headers;
pub mod listener;
pub mod mirror;
pub mod normalize;
pub mod rate_limit;
pub mod request;
pub mod respond;
pub mod tcp;
pub mod timeouts;
pub mod tls;
pub mod trace;
pub mod upgrade;

pub use active::{Active, Shared};
pub use error::Error;
pub use listener::Workers;
