//! Compiled TLS settings: handshake configurations built once per snapshot from certificate files,
//! so that no connection reads a file or parses a certificate.

use std::sync::Arc;

/// Server side of a terminating Gateway server (`tls.mode` SIMPLE, MUTUAL, OPTIONAL_MUTUAL).
#[derive(Debug)]
pub struct ServerTls {
    /// The rustls configuration: certificate, client verification, versions, ciphers, ALPN.
    pub config: Arc<rustls::ServerConfig>,
    /// How client certificates are treated.
    pub client_auth: ClientAuth,
    /// `subjectAltNames`: a verified client certificate must carry one of these (URI, DNS or IP
    /// SAN); empty accepts any verified certificate.
    pub client_sans: Vec<Box<str>>,
    /// Where the certificate came from (file paths or credential name), for dumps and logs.
    pub source: Box<str>,
}

/// `tls.mode` as far as client certificates go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// SIMPLE: none requested.
    None,
    /// MUTUAL: required and verified.
    Required,
    /// OPTIONAL_MUTUAL: requested; verified when presented.
    Optional,
}
