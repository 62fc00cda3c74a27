//! Certificates and keys from files, for server TLS (Gateway `tls`) and TLS origination
//! (DestinationRule `tls`).
//!
//! File fields (`serverCertificate`, `privateKey`, `caCertificates`, `clientCertificate`) are PEM
//! files; a relative path is taken from the directory of the YAML file that names it.
//! `credentialName: NAME` names a directory under the proxy's credentials directory
//! (`--credentials`), laid out as Istio's Kubernetes Secrets are:
//!
//! ```text
//! <credentials>/NAME/tls.crt   certificate chain   (or `cert`)
//! <credentials>/NAME/tls.key   private key         (or `key`)
//! <credentials>/NAME/ca.crt    CA bundle, optional (or `cacert`)
//! <credentials>/NAME-cacert/ca.crt   CA bundle kept apart, used when NAME has none
//! ```
//!
//! Every file read is recorded, so that a change to any of them reloads the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

/// The files of one certificate source.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialFiles {
    /// Certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// Private key.
    pub key: Option<PathBuf>,
    /// CA bundle (to verify peers).
    pub ca: Option<PathBuf>,
}

/// Reads certificate files, remembering every path it touched.
#[derive(Debug)]
pub(crate) struct Loader {
    /// Where `credentialName`s live.
    pub dir: PathBuf,
    /// Every file read (or looked for), for the file watcher.
    pub touched: Vec<PathBuf>,
}

impl Loader {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            touched: Vec::new(),
        }
    }

    /// Every file read or looked for, each once.
    pub fn into_files(mut self) -> Vec<PathBuf> {
        self.touched.sort();
        self.touched.dedup();
        self.touched
    }

    /// `path` from YAML: absolute, or relative to the YAML file `source`.
    pub fn resolve(&self, path: &str, source: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        Path::new(source)
            .parent()
            .map_or_else(|| p.to_path_buf(), |dir| dir.join(p))
    }

    /// The files of credential `name`; `Err` names what is missing.
    pub fn credential(&mut self, name: &str) -> Result<CredentialFiles, String> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(format!("credential name {name:?} is not a plain name"));
        }
        let dir = self.dir.join(name);
        // Watch the directory itself too: a credential created later should be noticed.
        self.touched.push(dir.clone());
        let pick = |this: &mut Self, dir: &Path, names: &[&str]| {
            names.iter().map(|n| dir.join(n)).find(|p| {
                this.touched.push(p.clone());
                p.is_file()
            })
        };
        let cert = pick(self, &dir, &["tls.crt", "cert"]);
        let key = pick(self, &dir, &["tls.key", "key"]);
        let ca = pick(self, &dir, &["ca.crt", "cacert"]).or_else(|| {
            pick(
                self,
                &self.dir.join(format!("{name}-cacert")),
                &["ca.crt", "cacert"],
            )
        });
        if cert.is_none() && key.is_none() && ca.is_none() {
            return Err(format!(
                "credential {name:?} not found: expected {}/tls.crt and tls.key",
                dir.display()
            ));
        }
        Ok(CredentialFiles { cert, key, ca })
    }

    /// A PEM certificate chain, leaf first.
    pub fn certs(&mut self, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
        self.touched.push(path.to_path_buf());
        let bytes = read(path)?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate in the file", path.display()));
        }
        Ok(certs)
    }

    /// A PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn key(&mut self, path: &Path) -> Result<PrivateKeyDer<'static>, String> {
        self.touched.push(path.to_path_buf());
        let bytes = read(path)?;
        // The error text never includes the file's contents.
        PrivateKeyDer::from_pem_slice(&bytes)
            .map_err(|_| format!("{}: no PEM private key in the file", path.display()))
    }

    /// A certificate and its key, checked to belong together.
    pub fn certified_key(&mut self, cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
        let chain = self.certs(cert)?;
        let key_der = self.key(key)?;
        let provider = provider();
        CertifiedKey::from_der(chain, key_der, &provider)
            .map(Arc::new)
            .map_err(|e| {
                format!(
                    "{} and {} do not make a usable certificate: {e}",
                    cert.display(),
                    key.display()
                )
            })
    }

    /// Certificate revocation lists (PEM) for client verification.
    pub fn crls(
        &mut self,
        path: &Path,
    ) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>, String> {
        use rustls::pki_types::CertificateRevocationListDer;
        self.touched.push(path.to_path_buf());
        let bytes = read(path)?;
        let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a PEM CRL file: {e}", path.display()))?;
        if crls.is_empty() {
            return Err(format!("{}: no CRL in the file", path.display()));
        }
        Ok(crls)
    }

    /// A CA bundle as trust anchors.
    pub fn roots(&mut self, path: &Path) -> Result<Arc<RootCertStore>, String> {
        let mut roots = RootCertStore::empty();
        for cert in self.certs(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
        }
        Ok(Arc::new(roots))
    }
}

/// The crypto provider every TLS configuration uses: ring.
pub(crate) fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    const MAX: u64 = 1024 * 1024;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX {
        return Err(format!("{}: larger than 1 MiB", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}
