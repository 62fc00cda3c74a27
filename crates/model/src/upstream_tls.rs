//! TLS origination towards a cluster's endpoints (DestinationRule `trafficPolicy.tls`, Istio's
//! `ClientTLSSettings` in modes SIMPLE and MUTUAL), compiled once per snapshot: trust anchors,
//! server verification, client certificate and ALPN are already in the rustls configuration, so
//! that no connection reads a file or parses a certificate.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::ServerName;

/// How a cluster's connections are secured (attached to [`crate::ClusterSpec::tls`]).
pub struct UpstreamTls {
    /// Handshake configuration: server verification, client certificate, ALPN, TLS 1.2/1.3.
    pub config: Arc<rustls::ClientConfig>,
    /// Sent as SNI (DNS names only: TLS carries no IP in SNI) and, unless `subjectAltNames` are
    /// given, the name the server certificate must be valid for.
    pub server_name: ServerName<'static>,
    /// `mode`.
    pub mode: OriginationMode,
    /// What verifies the server and what the client presents, for `/config_dump` (never key
    /// material).
    pub description: Arc<str>,
    /// Digest of the settings and of the certificates read: equal digests mean that
    /// connections opened under the old settings may stay pooled across a reload.
    pub fingerprint: u64,
}

impl UpstreamTls {
    /// Whether connections made under `self` are interchangeable with ones made under `other`.
    pub fn same_as(&self, other: &UpstreamTls) -> bool {
        self.fingerprint == other.fingerprint && self.server_name == other.server_name
    }

    /// The server name as text (for dumps and logs).
    pub fn server_name_str(&self) -> String {
        self.server_name.to_str().into_owned()
    }
}

// The rustls configuration's own Debug is long (every suite and algorithm); cluster specs are
// logged and dumped, so show what identifies the settings instead.
impl fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("mode", &self.mode)
            .field("server_name", &self.server_name)
            .field("alpn", &self.config.alpn_protocols)
            .field("description", &self.description)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Whether two clusters' transports match: both plain, or both TLS with the same settings.
pub fn same_transport(a: Option<&UpstreamTls>, b: Option<&UpstreamTls>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_as(b),
        _ => false,
    }
}

/// `ClientTLSSettings.mode` values that originate TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginationMode {
    /// SIMPLE: TLS, the server is verified.
    Simple,
    /// MUTUAL: TLS with a client certificate.
    Mutual,
}

impl fmt::Display for OriginationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Simple => "SIMPLE",
            Self::Mutual => "MUTUAL",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(name: &str, fingerprint: u64) -> UpstreamTls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        UpstreamTls {
            config: Arc::new(config),
            server_name: ServerName::try_from(name.to_string()).unwrap(),
            mode: OriginationMode::Simple,
            description: "test".into(),
            fingerprint,
        }
    }

    #[test]
    fn transports_match_by_settings_not_by_allocation() {
        let a = tls("a.example", 1);
        assert!(same_transport(None, None));
        assert!(!same_transport(Some(&a), None));
        assert!(!same_transport(None, Some(&a)));
        assert!(same_transport(Some(&a), Some(&tls("a.example", 1))));
        assert!(!same_transport(Some(&a), Some(&tls("a.example", 2))));
        assert!(!same_transport(Some(&a), Some(&tls("b.example", 1))));
        assert_eq!(tls("10.0.0.1", 1).server_name_str(), "10.0.0.1");
        assert_eq!(OriginationMode::Mutual.to_string(), "MUTUAL");
    }
}
