//! `https` jwksUri against a server whose certificate is issued by a test CA.

use std::sync::Arc;
use std::time::Duration;

use rampart_jwt::{tls_config, Authenticator, JwksRegistry, RegistrySettings};
use rampart_model::authn::JwksSource;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::keys::{claims, jwks, rule, TestKey};
use crate::server::{JwksServer, Mode};
use crate::{bearer, identity, rejected};

/// A CA certificate and a TLS acceptor whose certificate (for 127.0.0.1) it issued.
fn test_pki() -> (CertificateDer<'static>, TlsAcceptor) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    (ca.der().clone(), TlsAcceptor::from(Arc::new(config)))
}

#[tokio::test]
async fn https_jwks_with_a_custom_ca() {
    let (ca, acceptor) = test_pki();
    let key = TestKey::ed25519();
    let server = JwksServer::start_tls(Mode::Json(jwks(&[(&key, "k")])), acceptor).await;
    let token = key.mint("EdDSA", Some("k"), &claims("alice"));
    let mut rule = rule(JwksSource::Uri(server.uri().into()));
    rule.fetch_timeout = Duration::from_secs(2);

    let trusted = JwksRegistry::new(RegistrySettings {
        tls: tls_config(&[ca]),
        ..RegistrySettings::default()
    });
    let auth = Authenticator::new(std::slice::from_ref(&rule), &trusted).unwrap();
    identity(auth.authenticate(&mut bearer(&token)).await);
    assert_eq!(trusted.stats()[0].fetch_success, 1);

    // Without the CA, the certificate is refused and so is the token.
    let untrusted = JwksRegistry::new(RegistrySettings::default());
    let auth = Authenticator::new(&[rule], &untrusted).unwrap();
    assert_eq!(
        rejected(auth.authenticate(&mut bearer(&token)).await),
        "Jwks remote fetch is failed"
    );
    assert_eq!(untrusted.stats()[0].fetch_failure, 1);
}
