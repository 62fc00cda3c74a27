//! Gateway validation (Istio `ValidateGateway`, `validateServer`, `validateTLSOptions`).
//!
//! Receives: a typed `Resource<Gateway>`. Hands on: diagnostics for servers, hosts, ports, bind
//! addresses and server TLS settings.

use std::collections::HashSet;

use super::{
    dns1123_label, is_ip, partial_wildcard, port, protocol, set, unix_address, wildcard_domain,
    Check,
};
use crate::diag::Diagnostic;
use crate::networking::{Gateway, Server, ServerTlsMode, ServerTlsSettings, TlsProtocol};
use crate::path;
use crate::resource::Resource;

/// Checks one Gateway.
pub fn validate(res: &Resource<Gateway>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let spec = &res.spec;
    if spec.servers.is_empty() {
        c.err("spec.servers", "gateway must have at least one server");
    }
    let mut port_names = HashSet::new();
    let mut server_names = HashSet::new();
    for (i, s) in spec.servers.iter().enumerate() {
        let at = path::index("spec.servers", i);
        server(&mut c, &at, s);
        if let Some(p) = &s.port {
            if !port_names.insert(p.name.as_str()) {
                c.err(
                    &format!("{at}.port.name"),
                    format!(
                        "port names in servers must be unique: duplicate name {}",
                        p.name
                    ),
                );
            }
            let https_redirect = s.tls.as_ref().is_some_and(|t| t.https_redirect);
            if https_redirect && !super::is_http(&p.protocol) {
                c.warn(
                    &format!("{at}.tls.httpsRedirect"),
                    "tls.httpsRedirect should only be used with http servers",
                );
            }
        }
        if let Some(name) = s.name.as_deref().filter(|n| !n.is_empty()) {
            if !server_names.insert(name) {
                c.err(
                    &format!("{at}.name"),
                    format!("server names must be unique: duplicate name {name}"),
                );
            }
        }
    }
}

fn server(c: &mut Check<'_, Gateway>, at: &str, s: &Server) {
    if s.hosts.is_empty() {
        c.err(
            &format!("{at}.hosts"),
            "server config must contain at least one host",
        );
    }
    for (i, h) in s.hosts.iter().enumerate() {
        let p = path::index(&format!("{at}.hosts"), i);
        for e in gateway_host(h) {
            c.err(&p, e);
        }
    }
    let bind = s.bind.as_deref().unwrap_or_default();
    let port_ok = match &s.port {
        None => {
            c.err(&format!("{at}.port"), "port is required");
            false
        }
        Some(p) => {
            let pp = format!("{at}.port");
            let mut ok = true;
            if protocol(&p.protocol).is_none() {
                ok = false;
                c.err(
                    &format!("{pp}.protocol"),
                    format!(
                        "invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                        p.protocol
                    ),
                );
            }
            if p.number > 0 || !bind.starts_with("unix://") {
                if let Err(e) = port(p.number) {
                    ok = false;
                    c.err(&format!("{pp}.number"), e);
                }
            }
            if p.target_port.is_some_and(|t| t > 0) {
                ok = false;
                c.err(
                    &format!("{pp}.targetPort"),
                    "targetPort has no impact on Gateways",
                );
            }
            if p.name.is_empty() {
                ok = false;
                c.err(&format!("{pp}.name"), "port name must be set");
            }
            ok
        }
    };
    if let Some(addr) = bind.strip_prefix("unix://") {
        c.check(&format!("{at}.bind"), unix_address(addr));
        if let Some(p) = s.port.as_ref().filter(|p| p.number != 0) {
            c.err(
                &format!("{at}.port.number"),
                format!("port number must be 0 for unix domain socket: {}", p.number),
            );
        }
    } else if !bind.is_empty() && !is_ip(bind) {
        c.err(&format!("{at}.bind"), format!("{bind} is not a valid IP"));
    }
    if let Some(tls) = &s.tls {
        tls_options(c, &format!("{at}.tls"), tls);
    }
    if !port_ok {
        return;
    }
    let Some(p) = &s.port else { return };
    if super::is_tls(&p.protocol) && s.tls.is_none() {
        c.err(
            &format!("{at}.tls"),
            "server must have TLS settings for HTTPS/TLS protocols",
        );
    } else if let (false, Some(tls)) = (super::is_tls(&p.protocol), &s.tls) {
        if super::is_http(&p.protocol) {
            let only_redirect = tls.mode.unwrap_or_default() == ServerTlsMode::Passthrough
                && !set(&tls.ca_certificates)
                && !set(&tls.private_key)
                && !set(&tls.server_certificate);
            if !only_redirect {
                c.err(
                    &format!("{at}.tls"),
                    "server cannot have TLS settings for plain text HTTP ports",
                );
            }
        } else {
            c.err(
                &format!("{at}.tls"),
                "server cannot have TLS settings for non HTTPS/TLS ports",
            );
        }
    }
}

/// `[namespace/]dnsName` as a Gateway server host.
fn gateway_host(h: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let name = match h.split_once('/') {
        None => h,
        Some((ns, name)) => {
            if ns.is_empty() || name.is_empty() {
                errs.push("config namespace and dnsName in host entry cannot be empty".into());
            }
            if ns != "*" && ns != "." && !dns1123_label(ns) {
                errs.push(format!("invalid namespace value {ns:?} in gateway"));
            }
            name
        }
    };
    if name != "*" && !name.contains('.') {
        errs.push("short names (non FQDN) are not allowed".into());
    }
    if let Err(e) = wildcard_domain(name) {
        if !is_ip(name) {
            errs.push(e);
        }
    }
    if let Err(e) = partial_wildcard(name) {
        errs.push(e);
    }
    errs
}

fn tls_options(c: &mut Check<'_, Gateway>, at: &str, tls: &ServerTlsSettings) {
    let f = |field: &str| format!("{at}.{field}");
    if matches!(
        tls.min_protocol_version,
        Some(TlsProtocol::TlsV1_0 | TlsProtocol::TlsV1_1)
    ) && tls.cipher_suites.is_empty()
    {
        c.warn(
            &f("minProtocolVersion"),
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
        );
    }
    let mut seen = HashSet::new();
    let (mut invalid, mut dup) = (Vec::new(), Vec::new());
    for cs in &tls.cipher_suites {
        if !CIPHERS.contains(&cs.as_str()) {
            invalid.push(cs.as_str());
        } else if !seen.insert(cs.as_str()) {
            dup.push(cs.as_str());
        }
    }
    if !invalid.is_empty() {
        invalid.sort_unstable();
        invalid.dedup();
        c.warn(
            &f("cipherSuites"),
            format!("ignoring invalid cipher suites: [{}]", invalid.join(" ")),
        );
    }
    if !dup.is_empty() {
        dup.sort_unstable();
        dup.dedup();
        c.warn(
            &f("cipherSuites"),
            format!("ignoring duplicate cipher suites: [{}]", dup.join(" ")),
        );
    }
    let mode = tls.mode.unwrap_or_default();
    let creds = set(&tls.credential_name);
    if mode == ServerTlsMode::IstioMutual {
        let checks: [(bool, &str, &str); 6] = [
            (
                set(&tls.server_certificate),
                "serverCertificate",
                "server certificate",
            ),
            (set(&tls.private_key), "privateKey", "private key"),
            (set(&tls.ca_certificates), "caCertificates", "CA bundle"),
            (
                !tls.tls_certificates.is_empty(),
                "tlsCertificates",
                "tlsCertificates",
            ),
            (creds, "credentialName", "credentialName"),
            (
                !tls.credential_names.is_empty(),
                "credentialNames",
                "credentialNames",
            ),
        ];
        for (bad, field, what) in checks {
            if bad {
                c.err(
                    &f(field),
                    format!("ISTIO_MUTUAL TLS cannot have associated {what}"),
                );
            }
        }
        return;
    }
    if matches!(
        mode,
        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
    ) && (set(&tls.ca_crl)
        || set(&tls.server_certificate)
        || set(&tls.private_key)
        || set(&tls.ca_certificates)
        || !tls.tls_certificates.is_empty()
        || creds
        || !tls.credential_names.is_empty())
    {
        let name = if mode == ServerTlsMode::Passthrough {
            "PASSTHROUGH"
        } else {
            "AUTO_PASSTHROUGH"
        };
        c.warn(
            &f("mode"),
            format!("{name} mode does not use certificates, they will be ignored"),
        );
    }
    let sources = usize::from(set(&tls.server_certificate) && set(&tls.private_key))
        + usize::from(creds)
        + usize::from(!tls.credential_names.is_empty())
        + usize::from(!tls.tls_certificates.is_empty());
    if sources > 1 {
        c.err(
            at,
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
        );
    }
    if tls.credential_names.len() > 2 {
        c.err(
            &f("credentialNames"),
            "at most 2 credentialNames may be specified",
        );
    }
    let terminating = matches!(
        mode,
        ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
    );
    if terminating && !creds && tls.credential_names.is_empty() {
        let prefix = if mode == ServerTlsMode::Simple {
            "SIMPLE TLS"
        } else {
            if !set(&tls.ca_certificates) {
                c.err(
                    &f("caCertificates"),
                    "MUTUAL TLS requires a client CA bundle",
                );
            }
            "MUTUAL TLS"
        };
        if tls.tls_certificates.len() > 2 {
            c.warn(
                &f("tlsCertificates"),
                format!("{prefix} can support up to 2 server certificates"),
            );
        }
        if tls.tls_certificates.is_empty() {
            if !set(&tls.server_certificate) {
                c.err(
                    &f("serverCertificate"),
                    format!("{prefix} requires a server certificate"),
                );
            }
            if !set(&tls.private_key) {
                c.err(&f("privateKey"), format!("{prefix} requires a private key"));
            }
        }
        for (i, cert) in tls.tls_certificates.iter().enumerate() {
            let p = path::index(&f("tlsCertificates"), i);
            if !set(&cert.server_certificate) {
                c.err(&p, format!("{prefix} requires a server certificate"));
            }
            if !set(&cert.private_key) {
                c.err(&p, format!("{prefix} requires a private key"));
            }
        }
    }
    if set(&tls.ca_crl) {
        if creds {
            c.err(
                &f("caCrl"),
                "CRL is not supported with credentialName. CRL has to be specified in the credential",
            );
        }
        if mode == ServerTlsMode::Simple {
            c.err(&f("caCrl"), "CRL is not supported with SIMPLE TLS");
        }
    }
}

/// Cipher suite names Istio accepts (BoringSSL / Go names).
const CIPHERS: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];
