//! TLS pieces shared by `compile` (building handshake configurations) and the data plane
//! (choosing a chain by SNI, describing client certificates).
//!
//! - [`client_hello`]: reads SNI and ALPN from the first bytes of a connection without
//!   terminating TLS, for SNI routing and passthrough.
//! - [`peer`]: the details of a peer certificate that headers and logs show (Envoy's
//!   `x-forwarded-client-cert` fields).
//! - [`verify`]: client-certificate constraints on top of chain verification
//!   (`subjectAltNames`, `verifyCertificateHash`, `verifyCertificateSpki`).

pub mod client_hello;
pub mod peer;
pub mod verify;
