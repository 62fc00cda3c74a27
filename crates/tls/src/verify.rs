//! Client-certificate constraints of a Gateway server (`subjectAltNames`,
//! `verifyCertificateHash`, `verifyCertificateSpki`), checked during the handshake after the
//! chain is verified, so that a certificate that fails them fails the handshake as in Envoy.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use crate::peer::{normalize_hash, PeerCert};

/// What a verified client certificate must also satisfy; an empty list does not constrain.
#[derive(Debug, Default, Clone)]
pub struct Constraints {
    /// One of these must be a SAN of the certificate.
    pub subject_alt_names: Vec<String>,
    /// One of these must be the certificate's SHA-256 (hex).
    pub hashes: Vec<String>,
    /// One of these must be the SHA-256 of the certificate's SPKI (base64).
    pub spkis: Vec<String>,
}

impl Constraints {
    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.subject_alt_names.is_empty() && self.hashes.is_empty() && self.spkis.is_empty()
    }

    /// Checks `cert` against every non-empty list.
    pub fn check(&self, cert: &PeerCert) -> Result<(), &'static str> {
        if !self.subject_alt_names.is_empty()
            && !self.subject_alt_names.iter().any(|n| cert.has_san(n))
        {
            return Err("no subjectAltNames match");
        }
        // Envoy accepts a certificate that matches either pin list when both are given.
        let pinned = !self.hashes.is_empty() || !self.spkis.is_empty();
        if pinned
            && !self.hashes.iter().any(|h| normalize_hash(h) == cert.hash)
            && !self.spkis.contains(&cert.spki)
        {
            return Err("certificate hash or SPKI not pinned");
        }
        Ok(())
    }
}

/// A chain verifier (webpki) followed by [`Constraints`].
#[derive(Debug)]
pub struct ConstrainedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    constraints: Constraints,
}

impl ConstrainedClientVerifier {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ClientCertVerifier>, constraints: Constraints) -> Self {
        Self { inner, constraints }
    }
}

impl ClientCertVerifier for ConstrainedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = PeerCert::parse(end_entity)
            .ok_or(Error::InvalidCertificate(CertificateError::BadEncoding))?;
        self.constraints.check(&cert).map_err(|_| {
            Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rampart_testkit::pki::Ca;

    use super::*;

    #[test]
    fn lists_constrain_only_when_given() {
        let ca = Ca::new("ca");
        let cert = PeerCert::parse(&ca.client("c", &["spiffe://td/ns/a/sa/b"]).der).unwrap();
        assert!(Constraints::default().check(&cert).is_ok());
        let sans = |n: &str| Constraints {
            subject_alt_names: vec![n.into()],
            ..Constraints::default()
        };
        assert!(sans("spiffe://td/ns/a/sa/b").check(&cert).is_ok());
        assert!(sans("spiffe://td/ns/a/sa/x").check(&cert).is_err());
        let upper = cert.hash.to_ascii_uppercase();
        let pins = |hashes: Vec<String>, spkis: Vec<String>| Constraints {
            hashes,
            spkis,
            ..Constraints::default()
        };
        assert!(pins(vec![upper], vec![]).check(&cert).is_ok());
        assert!(pins(vec!["00".into()], vec![cert.spki.clone()])
            .check(&cert)
            .is_ok());
        assert!(pins(vec!["00".into()], vec!["AA==".into()])
            .check(&cert)
            .is_err());
    }
}
