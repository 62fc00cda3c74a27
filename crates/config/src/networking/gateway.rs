//! `Gateway` spec types (networking.istio.io), field for field as in Istio's gateway.proto.
//!
//! Receives: the `spec` of a Gateway document (via serde). Hands on: typed servers, ports and
//! server-side TLS settings for validation and `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Mirrors `istio.networking.v1alpha3.Gateway`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Gateway {
    /// `servers`: the listeners.
    pub servers: Vec<Server>,
    /// `selector`: labels of the proxies that run this gateway.
    pub selector: BTreeMap<String, String>,
}

/// Mirrors `istio.networking.v1alpha3.Server`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Server {
    /// `port`: the listening port (required).
    pub port: Option<Port>,
    /// `bind`: IP or `unix://` address to bind.
    pub bind: Option<String>,
    /// `hosts`: `[namespace/]dnsName` entries (required).
    pub hosts: Vec<String>,
    /// `tls`: server-side TLS settings.
    pub tls: Option<ServerTlsSettings>,
    /// `defaultEndpoint`: not implemented by Istio either.
    pub default_endpoint: Option<String>,
    /// `name`: optional unique server name.
    pub name: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.Port`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Port {
    /// `number`: port number.
    pub number: u32,
    /// `protocol`: HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, TCP, TLS (case-insensitive).
    pub protocol: String,
    /// `name`: port name (required, unique across servers).
    pub name: String,
    /// `targetPort`: deprecated; rejected on Gateways.
    pub target_port: Option<u32>,
}

/// Mirrors `istio.networking.v1alpha3.ServerTLSSettings.TLSmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// SNI routing without termination (enum default).
    #[default]
    Passthrough,
    /// Terminate with a server certificate.
    Simple,
    /// Terminate and require a client certificate.
    Mutual,
    /// Cluster encoded in SNI; no VirtualService needed.
    AutoPassthrough,
    /// Istio workload certificates.
    IstioMutual,
    /// Terminate, client certificate optional.
    OptionalMutual,
}

/// Mirrors `istio.networking.v1alpha3.ServerTLSSettings.TLSProtocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum TlsProtocol {
    /// Let the implementation choose.
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    /// TLS 1.0.
    #[serde(rename = "TLSV1_0")]
    TlsV1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSV1_1")]
    TlsV1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    TlsV1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    TlsV1_3,
}

/// Mirrors `istio.networking.v1alpha3.ServerTLSSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServerTlsSettings {
    /// `httpsRedirect`: answer plain HTTP with a 301 to https.
    pub https_redirect: bool,
    /// `mode`: TLS mode (absent = PASSTHROUGH).
    pub mode: Option<ServerTlsMode>,
    /// `serverCertificate`: certificate file path.
    pub server_certificate: Option<String>,
    /// `privateKey`: key file path.
    pub private_key: Option<String>,
    /// `caCertificates`: client CA bundle file path.
    pub ca_certificates: Option<String>,
    /// `caCrl`: client certificate revocation list file path.
    pub ca_crl: Option<String>,
    /// `credentialName`: named credential holding cert/key (and CA).
    pub credential_name: Option<String>,
    /// `credentialNames`: 1–2 named credentials.
    pub credential_names: Vec<String>,
    /// `caCertCredentialName`: separate credential holding the CA.
    pub ca_cert_credential_name: Option<String>,
    /// `tlsCertificates`: inline file triples (max 2).
    pub tls_certificates: Vec<TlsCertificate>,
    /// `subjectAltNames`: accepted client SANs.
    pub subject_alt_names: Vec<String>,
    /// `verifyCertificateSpki`: accepted client SPKI hashes (base64).
    pub verify_certificate_spki: Vec<String>,
    /// `verifyCertificateHash`: accepted client certificate hashes (hex).
    pub verify_certificate_hash: Vec<String>,
    /// `minProtocolVersion`.
    pub min_protocol_version: Option<TlsProtocol>,
    /// `maxProtocolVersion`.
    pub max_protocol_version: Option<TlsProtocol>,
    /// `cipherSuites`.
    pub cipher_suites: Vec<String>,
    /// `insecureSkipVerify`: verify client certs but accept on failure.
    pub insecure_skip_verify: Option<bool>,
}

/// Mirrors `istio.networking.v1alpha3.ServerTLSSettings.TLSCertificate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TlsCertificate {
    /// `serverCertificate`: certificate file path.
    pub server_certificate: Option<String>,
    /// `privateKey`: key file path.
    pub private_key: Option<String>,
    /// `caCertificates`: CA bundle file path.
    pub ca_certificates: Option<String>,
}
