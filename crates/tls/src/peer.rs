//! What a peer certificate says, in the forms that headers and logs use: Envoy's
//! `x-forwarded-client-cert` fields (`Hash`, `Subject`, `URI`, `DNS`) and the SPKI pin that
//! `verifyCertificateSpki` compares.

use base64::Engine;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The parts of a certificate Rampart shows or checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCert {
    /// SHA-256 of the DER certificate, lower-case hex (XFCC `Hash`).
    pub hash: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo, standard base64 (`verifyCertificateSpki`).
    pub spki: String,
    /// Subject in RFC 2253 form (`CN=client,O=Example`), as Envoy prints it.
    pub subject: String,
    /// URI SANs (SPIFFE ids).
    pub uris: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs, as text.
    pub ips: Vec<String>,
}

impl PeerCert {
    /// Parses a DER certificate; `None` when it is not one.
    pub fn parse(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut out = PeerCert {
            hash: hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
            spki: base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(
                &ring::digest::SHA256,
                cert.public_key().raw,
            )),
            subject: rfc2253(&cert),
            ..PeerCert::default()
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::URI(u) => out.uris.push((*u).to_string()),
                    GeneralName::DNSName(d) => out.dns.push((*d).to_string()),
                    GeneralName::IPAddress(ip) => {
                        if let Some(ip) = ip_text(ip) {
                            out.ips.push(ip);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(out)
    }

    /// Whether one of the SANs (URI, DNS or IP) equals `name`. A DNS SAN `*.example.com` covers
    /// one label, as in certificate name checks.
    pub fn has_san(&self, name: &str) -> bool {
        self.uris.iter().any(|u| u == name)
            || self.ips.iter().any(|i| i == name)
            || self.dns.iter().any(|d| dns_covers(d, name))
    }

    /// The `x-forwarded-client-cert` element for this certificate, with the fields Istio's
    /// gateways set (`Hash`, `Subject`, `URI`, `DNS`), and `By` when the proxy has an identity.
    pub fn xfcc(&self, by: Option<&str>) -> String {
        let mut out = String::with_capacity(128);
        if let Some(by) = by {
            out.push_str("By=");
            out.push_str(&quote(by));
            out.push(';');
        }
        out.push_str("Hash=");
        out.push_str(&self.hash);
        out.push_str(";Subject=\"");
        out.push_str(&self.subject.replace('\\', "\\\\").replace('"', "\\\""));
        out.push('"');
        // Envoy writes one URI field (the first URI SAN) and one DNS field per DNS SAN.
        out.push_str(";URI=");
        if let Some(uri) = self.uris.first() {
            out.push_str(&quote(uri));
        }
        for dns in &self.dns {
            out.push_str(";DNS=");
            out.push_str(&quote(dns));
        }
        out
    }
}

/// XFCC values are quoted when they hold a separator.
fn quote(v: &str) -> String {
    if v.contains([',', ';', '=', '"']) {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

fn dns_covers(san: &str, name: &str) -> bool {
    if san.eq_ignore_ascii_case(name) {
        return true;
    }
    match (san.strip_prefix("*."), name.split_once('.')) {
        (Some(suffix), Some((label, rest))) => {
            !label.is_empty() && rest.eq_ignore_ascii_case(suffix)
        }
        _ => false,
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            Some(std::net::Ipv6Addr::from(a).to_string())
        }
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// RFC 2253: the last RDN first, `,` between RDNs, `+` within one, special characters escaped.
fn rfc2253(cert: &X509Certificate<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| attr.attr_type().to_id_string());
                    let value = attr
                        .as_str()
                        .map(escape_dn)
                        .unwrap_or_else(|_| format!("#{}", hex(attr.attr_value().data)));
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape_dn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Normalises a `verifyCertificateHash` entry (hex, colons allowed, any case) to lower-case hex.
pub fn normalize_hash(pin: &str) -> String {
    pin.chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use rampart_testkit::pki::Ca;

    use super::*;

    #[test]
    fn describes_a_client_certificate_as_envoy_does() {
        let ca = Ca::new("example.com");
        let leaf = ca.client("client.example.com", &["spiffe://cluster.local/ns/a/sa/b"]);
        let cert = PeerCert::parse(&leaf.der).expect("parses");
        assert_eq!(cert.subject, "CN=client.example.com");
        assert_eq!(cert.uris, ["spiffe://cluster.local/ns/a/sa/b"]);
        assert_eq!(cert.dns, ["client.example.com"]);
        assert_eq!(cert.hash.len(), 64);
        assert!(cert.has_san("spiffe://cluster.local/ns/a/sa/b"));
        assert!(!cert.has_san("spiffe://cluster.local/ns/a/sa/c"));
        assert_eq!(
            cert.xfcc(None),
            format!(
                "Hash={};Subject=\"CN=client.example.com\";URI=spiffe://cluster.local/ns/a/sa/b;DNS=client.example.com",
                cert.hash
            )
        );
    }

    #[test]
    fn subject_lists_the_last_rdn_first() {
        let ca = Ca::new("Example, Inc");
        let cert = PeerCert::parse(ca.der()).expect("parses");
        assert_eq!(cert.subject, "O=Example\\, Inc,CN=Example\\, Inc");
    }

    #[test]
    fn wildcard_dns_san_covers_one_label() {
        assert!(dns_covers("*.example.com", "a.example.com"));
        assert!(!dns_covers("*.example.com", "a.b.example.com"));
        assert!(!dns_covers("*.example.com", "example.com"));
        assert_eq!(normalize_hash("AB:cd:01"), "abcd01");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(PeerCert::parse(b"not a certificate").is_none());
    }
}
