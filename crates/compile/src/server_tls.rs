//! A terminating Gateway server's `tls` settings → [`ServerTls`] (a rustls `ServerConfig`).
//!
//! Certificates come from `serverCertificate`/`privateKey`, `tlsCertificates`, `credentialName`
//! or `credentialNames` (see [`crate::credentials`]); client CAs from `caCertificates`, the
//! credential's `ca.crt`, or `caCertCredentialName`. Versions default to TLS 1.2–1.3 (Istio's
//! gateway default); `cipherSuites` restricts the TLS 1.2 suites (TLS 1.3 suites are not
//! configurable, as in Envoy). HTTPS servers offer ALPN `h2` and `http/1.1`.

use std::path::PathBuf;
use std::sync::Arc;

use rampart_config::networking::{ServerTlsMode, ServerTlsSettings, TlsProtocol};
use rampart_config::{Diagnostic, Severity};
use rampart_model::tls::{ClientAuth, ServerTls};
use rampart_tls::verify::{ConstrainedClientVerifier, Constraints};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};

use crate::credentials::{provider, Loader};
use crate::gateways::BoundServer;

/// Builds the server side of `server`'s TLS; `Err` is a diagnostic at the offending field.
pub(crate) fn build(
    server: &BoundServer<'_>,
    loader: &mut Loader,
) -> Result<ServerTls, Box<Diagnostic>> {
    let at = format!("spec.servers[{}].tls", server.index);
    let err = |field: &str, msg: String| {
        let path = if field.is_empty() {
            at.clone()
        } else {
            format!("{at}.{field}")
        };
        Box::new(server.gateway.diag(Severity::Error, &path, msg))
    };
    let Some(tls) = server.server.tls.as_ref() else {
        return Err(err("", "a TLS server needs tls settings".into()));
    };
    let client_auth = match tls.mode.unwrap_or_default() {
        ServerTlsMode::Simple => ClientAuth::None,
        ServerTlsMode::Mutual => ClientAuth::Required,
        ServerTlsMode::OptionalMutual => ClientAuth::Optional,
        other => return Err(err("mode", format!("{other:?} does not terminate TLS"))),
    };
    let source = &server.gateway.source.file;
    let sources = certificate_sources(tls, loader, source).map_err(|(f, m)| err(f, m))?;
    let mut keys = Vec::new();
    for (field, cert, key) in &sources.pairs {
        keys.push(loader.certified_key(cert, key).map_err(|m| err(field, m))?);
    }
    let provider = Arc::new(cipher_suites(tls).map_err(|m| err("cipherSuites", m))?);
    let versions = versions(tls).map_err(|(f, m)| err(f, m))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            err(
                "cipherSuites",
                format!("no cipher suite for the TLS versions allowed: {e}"),
            )
        })?;
    let builder = if client_auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        let Some((field, ca)) = &sources.ca else {
            return Err(err(
                "caCertificates",
                "MUTUAL and OPTIONAL_MUTUAL need a client CA bundle (caCertificates, or ca.crt in the credential)".into(),
            ));
        };
        let roots = loader.roots(ca).map_err(|m| err(field, m))?;
        let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        if let Some(crl) = &tls.ca_crl {
            let path = loader.resolve(crl, source);
            let crls = loader.crls(&path).map_err(|m| err("caCrl", m))?;
            verifier = verifier.with_crls(crls);
        }
        if client_auth == ClientAuth::Optional {
            verifier = verifier.allow_unauthenticated();
        }
        let verifier = verifier
            .build()
            .map_err(|e| err("caCertificates", format!("unusable client CA bundle: {e}")))?;
        let constraints = Constraints {
            subject_alt_names: tls.subject_alt_names.clone(),
            hashes: tls.verify_certificate_hash.clone(),
            spkis: tls.verify_certificate_spki.clone(),
        };
        builder.with_client_cert_verifier(if constraints.is_empty() {
            verifier
        } else {
            Arc::new(ConstrainedClientVerifier::new(verifier, constraints))
        })
    };
    let mut config = builder.with_cert_resolver(Arc::new(Certificates(keys)));
    if server
        .server
        .port
        .as_ref()
        .is_some_and(|p| p.protocol.eq_ignore_ascii_case("HTTPS"))
    {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(ServerTls {
        config: Arc::new(config),
        client_auth,
        client_sans: tls
            .subject_alt_names
            .iter()
            .map(|s| s.as_str().into())
            .collect(),
        source: sources.describe.into(),
    })
}

/// Where a server's certificates and client CA come from.
struct Sources {
    /// (field, certificate, key), one or two (e.g. RSA and ECDSA).
    pairs: Vec<(&'static str, PathBuf, PathBuf)>,
    /// (field, CA bundle).
    ca: Option<(&'static str, PathBuf)>,
    /// For dumps and logs.
    describe: String,
}

fn certificate_sources(
    tls: &ServerTlsSettings,
    loader: &mut Loader,
    source: &str,
) -> Result<Sources, (&'static str, String)> {
    let mut pairs = Vec::new();
    let mut ca = tls
        .ca_certificates
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|p| ("caCertificates", loader.resolve(p, source)));
    let describe;
    let names: Vec<&str> = tls
        .credential_name
        .iter()
        .map(String::as_str)
        .chain(tls.credential_names.iter().map(String::as_str))
        .filter(|n| !n.is_empty())
        .collect();
    if !names.is_empty() {
        let field = if tls.credential_name.is_some() {
            "credentialName"
        } else {
            "credentialNames"
        };
        for name in &names {
            let files = loader.credential(name).map_err(|m| (field, m))?;
            let (Some(cert), Some(key)) = (files.cert, files.key) else {
                return Err((
                    field,
                    format!("credential {name:?} needs tls.crt and tls.key"),
                ));
            };
            pairs.push((field, cert, key));
            if ca.is_none() {
                ca = files.ca.map(|c| (field, c));
            }
        }
        describe = format!("credential {}", names.join(","));
    } else if !tls.tls_certificates.is_empty() {
        for c in &tls.tls_certificates {
            let (Some(cert), Some(key)) = (&c.server_certificate, &c.private_key) else {
                return Err((
                    "tlsCertificates",
                    "serverCertificate and privateKey are required".into(),
                ));
            };
            pairs.push((
                "tlsCertificates",
                loader.resolve(cert, source),
                loader.resolve(key, source),
            ));
            if ca.is_none() {
                ca = c
                    .ca_certificates
                    .as_deref()
                    .map(|p| ("tlsCertificates", loader.resolve(p, source)));
            }
        }
        describe = "tlsCertificates".into();
    } else {
        let (Some(cert), Some(key)) = (&tls.server_certificate, &tls.private_key) else {
            return Err((
                "serverCertificate",
                "serverCertificate and privateKey are required".into(),
            ));
        };
        pairs.push((
            "serverCertificate",
            loader.resolve(cert, source),
            loader.resolve(key, source),
        ));
        describe = format!("file {cert}");
    }
    if let Some(name) = tls
        .ca_cert_credential_name
        .as_deref()
        .filter(|n| !n.is_empty())
    {
        let files = loader
            .credential(name)
            .map_err(|m| ("caCertCredentialName", m))?;
        let ca_file = files.ca.or(files.cert).ok_or((
            "caCertCredentialName",
            format!("credential {name:?} has no ca.crt"),
        ))?;
        ca = Some(("caCertCredentialName", ca_file));
    }
    Ok(Sources {
        pairs,
        ca,
        describe,
    })
}

/// rustls implements TLS 1.2 and 1.3; Istio's gateway default is 1.2 to 1.3.
fn versions(
    tls: &ServerTlsSettings,
) -> Result<Vec<&'static SupportedProtocolVersion>, (&'static str, String)> {
    let rank = |v: Option<TlsProtocol>, field: &'static str, default: u8| {
        match v {
        None | Some(TlsProtocol::TlsAuto) => Ok(default),
        Some(TlsProtocol::TlsV1_2) => Ok(2),
        Some(TlsProtocol::TlsV1_3) => Ok(3),
        Some(old) => Err((
            field,
            format!("{old:?} is not supported by Rampart: its TLS library (rustls) implements TLS 1.2 and 1.3 only"),
        )),
    }
    };
    let min = rank(tls.min_protocol_version, "minProtocolVersion", 2)?;
    let max = rank(tls.max_protocol_version, "maxProtocolVersion", 3)?;
    if min > max {
        return Err((
            "minProtocolVersion",
            "minProtocolVersion is above maxProtocolVersion".into(),
        ));
    }
    let mut out = Vec::new();
    if min <= 2 {
        out.push(&rustls::version::TLS12);
    }
    if max >= 3 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

/// The ring provider with its TLS 1.2 suites narrowed to `cipherSuites` (Istio's OpenSSL names).
fn cipher_suites(tls: &ServerTlsSettings) -> Result<CryptoProvider, String> {
    use rustls::crypto::ring::cipher_suite as cs;
    let mut provider = provider();
    if tls.cipher_suites.is_empty() {
        return Ok(provider);
    }
    let known: [(&str, SupportedCipherSuite); 6] = [
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ];
    let tls13 = [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    ];
    let mut tls12 = Vec::new();
    for name in &tls.cipher_suites {
        if let Some((_, suite)) = known.iter().find(|(n, _)| n == name) {
            if !tls12.contains(suite) {
                tls12.push(*suite);
            }
        } else if !tls13.contains(&name.as_str()) {
            return Err(format!(
                "cipher suite {name} is not supported by Rampart (rustls); supported: {}",
                known.map(|(n, _)| n).join(", ")
            ));
        }
    }
    provider
        .cipher_suites
        .retain(|s| s.version() == &rustls::version::TLS13 || tls12.contains(s));
    Ok(provider)
}

/// One or two certificates (e.g. RSA and ECDSA): the first whose key can sign with a scheme the
/// client offers.
#[derive(Debug)]
struct Certificates(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        self.0
            .iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or_else(|| self.0.first())
            .cloned()
    }
}

#[cfg(test)]
mod tests;
