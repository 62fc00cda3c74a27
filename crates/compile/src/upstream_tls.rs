//! TLS origination (DestinationRule `trafficPolicy.tls`, Istio's `ClientTLSSettings`): turns the
//! settings in force for a cluster into a [`UpstreamTls`], with the rustls client configuration
//! built once from the certificate files.
//!
//! Receives the settings (already chosen by `clusters` with Istio's precedence), the field path
//! they were written at, the cluster's host and protocol; hands on the compiled settings, or
//! diagnostics at the exact field that is wrong (an unreadable file, a key that does not belong
//! to its certificate, a name that cannot be sent as SNI).
//!
//! What is checked, as Istio ≥ 1.20 configures Envoy (`VERIFY_CERTIFICATE_AT_CLIENT`,
//! `ENABLE_AUTO_SNI`):
//! - SNI is `sni` when set, else the cluster's service host;
//! - the server's chain is verified against `caCertificates` (or the credential's `ca.crt`),
//!   else against the Mozilla roots of `webpki-roots` (Envoy uses the operating system's roots;
//!   a static set keeps the binary independent of the host it runs on), with `caCrl` applied;
//! - the certificate must be valid for the SNI name, unless `subjectAltNames` (or the
//!   ServiceEntry's `subjectAltNames` when the settings have none) are given: then it must carry
//!   one of those as a DNS, URI or IP SAN instead;
//! - `insecureSkipVerify: true` skips every certificate check (handshake signatures are still
//!   verified);
//! - ALPN offers `h2` to HTTP/2 clusters and `http/1.1` to HTTP/1.1 ones; TLS 1.2 and 1.3.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, LazyLock};

use rampart_config::networking::{ClientTlsMode, ClientTlsSettings, DestinationRule};
use rampart_config::{Diagnostic, Resource, Severity};
use rampart_model::upstream_tls::{OriginationMode, UpstreamTls};
use rampart_model::UpstreamProtocol;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateRevocationListDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};

use crate::credentials::{provider, Loader};
use verify::{ClientCert, SanVerifier, SkipVerification};

/// Where the settings for one cluster come from, and which cluster they apply to.
pub(crate) struct Site<'a> {
    /// The DestinationRule that holds them.
    pub dr: &'a Resource<DestinationRule>,
    /// The `tls` block in force.
    pub settings: &'a ClientTlsSettings,
    /// Its field path, e.g. `spec.subsets[0].trafficPolicy.portLevelSettings[1].tls`.
    pub path: &'a str,
    /// The cluster's service host (fully qualified).
    pub host: &'a str,
    /// The ServiceEntry's `subjectAltNames`, used when the settings have none.
    pub service_sans: &'a [String],
    /// The protocol spoken over the connection (decides ALPN).
    pub protocol: UpstreamProtocol,
}

/// A client configuration built from one `tls` block, shared by every cluster it applies to.
#[derive(Clone)]
struct Built {
    config: Arc<ClientConfig>,
    mode: OriginationMode,
    description: Arc<str>,
    fingerprint: u64,
}

/// One `tls` block of one DestinationRule, for one ALPN and SAN list.
#[derive(Hash, PartialEq, Eq)]
struct BuildKey {
    dr: usize,
    path: String,
    h2: bool,
    sans: Vec<String>,
}

/// Builds the TLS settings of clusters, each `tls` block once however many clusters it covers
/// (so files are read, and problems reported, once).
#[derive(Default)]
pub(crate) struct Origination {
    built: HashMap<BuildKey, Option<Built>>,
    reported: HashSet<(usize, String)>,
}

impl Origination {
    /// The TLS settings of a cluster, or `None` for plain text (`DISABLE`, and `ISTIO_MUTUAL`,
    /// which `unsupported` reports) or when the settings are wrong (reported in `diags`).
    pub fn for_cluster(
        &mut self,
        site: &Site<'_>,
        loader: &mut Loader,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Arc<UpstreamTls>> {
        let mode = match site.settings.mode.unwrap_or_default() {
            ClientTlsMode::Simple => OriginationMode::Simple,
            ClientTlsMode::Mutual => OriginationMode::Mutual,
            ClientTlsMode::Disable | ClientTlsMode::IstioMutual => return None,
        };
        let sans = if site.settings.subject_alt_names.is_empty() {
            site.service_sans
        } else {
            &site.settings.subject_alt_names
        };
        let built = self.built(site, mode, sans, loader, diags);
        let server_name = match server_name(site) {
            Ok(name) => name,
            Err((field, message)) => {
                self.report(site, &field, message, diags);
                return None;
            }
        };
        let built = built?;
        Some(Arc::new(UpstreamTls {
            config: built.config,
            server_name,
            mode: built.mode,
            description: built.description,
            fingerprint: built.fingerprint,
        }))
    }

    /// The configuration for `site`'s `tls` block with this SAN list, built on first use.
    fn built(
        &mut self,
        site: &Site<'_>,
        mode: OriginationMode,
        sans: &[String],
        loader: &mut Loader,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Built> {
        let key = BuildKey {
            dr: std::ptr::from_ref(site.dr) as usize,
            path: site.path.to_string(),
            h2: site.protocol == UpstreamProtocol::Http2,
            sans: sans.to_vec(),
        };
        if let Some(built) = self.built.get(&key) {
            return built.clone();
        }
        let built = match build(site, mode, sans, loader) {
            Ok(built) => Some(built),
            Err(problems) => {
                for (field, message) in problems {
                    self.report(site, &field, message, diags);
                }
                None
            }
        };
        self.built.insert(key, built.clone());
        built
    }

    /// One error at `site.path` + `field`, once per resource and field.
    fn report(
        &mut self,
        site: &Site<'_>,
        field: &str,
        message: String,
        diags: &mut Vec<Diagnostic>,
    ) {
        let path = format!("{}{field}", site.path);
        let id = (
            std::ptr::from_ref(site.dr) as usize,
            format!("{path}: {message}"),
        );
        if self.reported.insert(id) {
            diags.push(site.dr.diag(Severity::Error, &path, message));
        }
    }
}

/// A problem: the field (relative to the `tls` block, e.g. `.privateKey`) and what is wrong.
type Problem = (String, String);

/// The name sent as SNI and verified: `sni`, else the host.
fn server_name(site: &Site<'_>) -> Result<ServerName<'static>, Problem> {
    match site.settings.sni.as_deref().filter(|s| !s.is_empty()) {
        Some(sni) => ServerName::try_from(sni.to_ascii_lowercase())
            .map_err(|_| (".sni".into(), format!("{sni:?} is not a DNS name or IP address"))),
        None => ServerName::try_from(site.host.to_ascii_lowercase()).map_err(|_| {
            (
                String::new(),
                format!(
                    "host {} cannot be sent as SNI or verified (not a DNS name or IP address): set sni",
                    site.host
                ),
            )
        }),
    }
}

/// Server verification material and client certificate, read through `loader`.
struct Material {
    /// Trust anchors, and where they came from.
    roots: Option<(Arc<RootCertStore>, String)>,
    client: Option<(Arc<CertifiedKey>, String)>,
    crls: Vec<CertificateRevocationListDer<'static>>,
}

fn build(
    site: &Site<'_>,
    mode: OriginationMode,
    sans: &[String],
    loader: &mut Loader,
) -> Result<Built, Vec<Problem>> {
    let material = material(site, mode, loader)?;
    let tls = site.settings;
    let insecure = tls.insecure_skip_verify == Some(true);
    let provider = Arc::new(provider());
    let verifier = verifier(&material, sans, insecure, &provider)
        .map_err(|e| vec![(".caCertificates".to_string(), e)])?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| vec![(String::new(), format!("TLS versions: {e}"))])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &material.client {
        Some((key, _)) => builder.with_client_cert_resolver(Arc::new(ClientCert(key.clone()))),
        None => builder.with_no_client_auth(),
    };
    let alpn: &[u8] = match site.protocol {
        UpstreamProtocol::Http2 => b"h2",
        UpstreamProtocol::Http1 => b"http/1.1",
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Built {
        config: Arc::new(config),
        mode,
        description: describe(mode, &material, sans, insecure).into(),
        fingerprint: fingerprint(mode, &material, sans, insecure, alpn),
    })
}

/// Reads the files the settings name: CA bundle, CRL, client certificate and key.
fn material(
    site: &Site<'_>,
    mode: OriginationMode,
    loader: &mut Loader,
) -> Result<Material, Vec<Problem>> {
    let tls = site.settings;
    let file = &*site.dr.source.file;
    let mut problems = Vec::new();
    let mut out = Material {
        roots: None,
        client: None,
        crls: Vec::new(),
    };
    if let Some(name) = tls.credential_name.as_deref().filter(|n| !n.is_empty()) {
        credential(name, mode, loader, &mut out)
            .map_err(|e| vec![(".credentialName".into(), e)])?;
        return Ok(out);
    }
    if let Some(ca) = set(&tls.ca_certificates) {
        let path = loader.resolve(ca, file);
        match loader.roots(&path) {
            Ok(roots) => out.roots = Some((roots, format!("caCertificates {}", path.display()))),
            Err(e) => problems.push((".caCertificates".into(), e)),
        }
    }
    if let Some(crl) = set(&tls.ca_crl) {
        let path = loader.resolve(crl, file);
        match crls(loader, &path) {
            Ok(crls) => out.crls = crls,
            Err(e) => problems.push((".caCrl".into(), e)),
        }
    }
    if mode == OriginationMode::Mutual {
        // Validation requires both fields in MUTUAL mode without a credentialName.
        if let (Some(cert), Some(key)) = (set(&tls.client_certificate), set(&tls.private_key)) {
            let (cert, key) = (loader.resolve(cert, file), loader.resolve(key, file));
            match client_cert(loader, &cert, &key) {
                Ok(ck) => out.client = Some((ck, format!("clientCertificate {}", cert.display()))),
                Err(problem) => problems.push(problem),
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// `credentialName`: `ca.crt` verifies the server; in MUTUAL mode `tls.crt`/`tls.key` are the
/// client certificate.
fn credential(
    name: &str,
    mode: OriginationMode,
    loader: &mut Loader,
    out: &mut Material,
) -> Result<(), String> {
    let files = loader.credential(name)?;
    if let Some(ca) = &files.ca {
        out.roots = Some((loader.roots(ca)?, format!("credential {name}")));
    }
    if mode == OriginationMode::Mutual {
        let (Some(cert), Some(key)) = (&files.cert, &files.key) else {
            return Err(format!(
                "credential {name:?} has no client certificate and key (tls.crt, tls.key) for MUTUAL"
            ));
        };
        out.client = Some((
            loader.certified_key(cert, key)?,
            format!("credential {name}"),
        ));
    }
    Ok(())
}

/// The client certificate and its key; a key that does not belong to the certificate is an
/// error on `privateKey`.
fn client_cert(loader: &mut Loader, cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, Problem> {
    let chain = loader
        .certs(cert)
        .map_err(|e| (".clientCertificate".to_string(), e))?;
    let key_der = loader
        .key(key)
        .map_err(|e| (".privateKey".to_string(), e))?;
    CertifiedKey::from_der(chain, key_der, &provider())
        .map(Arc::new)
        .map_err(|e| {
            (
                ".privateKey".to_string(),
                format!(
                    "{} is not the key of clientCertificate {}: {e}",
                    key.display(),
                    cert.display()
                ),
            )
        })
}

/// A PEM file of certificate revocation lists.
fn crls(
    loader: &mut Loader,
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    const MAX: u64 = 1024 * 1024;
    loader.touched.push(path.to_path_buf());
    let too_big = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len()
        > MAX;
    if too_big {
        return Err(format!("{}: larger than 1 MiB", path.display()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM CRL file: {e}", path.display()))?;
    if crls.is_empty() {
        return Err(format!("{}: no X509 CRL in the file", path.display()));
    }
    Ok(crls)
}

/// The Mozilla roots, used when the settings name no CA.
static WEBPKI_ROOTS: LazyLock<Arc<RootCertStore>> = LazyLock::new(|| {
    Arc::new(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
});

/// The server-certificate check for these settings.
fn verifier(
    material: &Material,
    sans: &[String],
    insecure: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    if insecure {
        return Ok(Arc::new(SkipVerification(provider.clone())));
    }
    let roots = material
        .roots
        .as_ref()
        .map_or_else(|| WEBPKI_ROOTS.clone(), |(roots, _)| roots.clone());
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(material.crls.iter().cloned())
        .build()
        .map_err(|e| format!("cannot verify servers with these certificates: {e}"))?;
    if sans.is_empty() {
        return Ok(webpki);
    }
    Ok(Arc::new(SanVerifier {
        inner: webpki,
        sans: sans.to_vec(),
    }))
}

fn describe(mode: OriginationMode, m: &Material, sans: &[String], insecure: bool) -> String {
    let mut out = format!("{mode}; server verified by ");
    match (&m.roots, insecure) {
        (_, true) => out.push_str("nothing (insecureSkipVerify)"),
        (Some((_, source)), false) => out.push_str(source),
        (None, false) => out.push_str("webpki-roots"),
    }
    if !m.crls.is_empty() {
        out.push_str(&format!(" with {} CRL(s)", m.crls.len()));
    }
    if !sans.is_empty() && !insecure {
        out.push_str(&format!("; subjectAltNames [{}]", sans.join(", ")));
    }
    if let Some((_, source)) = &m.client {
        out.push_str(&format!("; client certificate {source}"));
    }
    out
}

/// A digest of everything the connections depend on except the server name.
fn fingerprint(
    mode: OriginationMode,
    m: &Material,
    sans: &[String],
    insecure: bool,
    alpn: &[u8],
) -> u64 {
    let mut h = DefaultHasher::new();
    (mode == OriginationMode::Mutual, insecure, sans, alpn).hash(&mut h);
    match &m.roots {
        Some((roots, _)) => {
            for anchor in &roots.roots {
                anchor.subject.as_ref().hash(&mut h);
                anchor.subject_public_key_info.as_ref().hash(&mut h);
            }
        }
        None => "webpki-roots".hash(&mut h),
    }
    for crl in &m.crls {
        crl.as_ref().hash(&mut h);
    }
    if let Some((key, _)) = &m.client {
        for cert in &key.cert {
            cert.as_ref().hash(&mut h);
        }
    }
    h.finish()
}

fn set(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.is_empty())
}

mod verify;

#[cfg(test)]
mod tests;
