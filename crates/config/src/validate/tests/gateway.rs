//! Gateway rules.

use super::{clean, doc, expect, expect_warn};

fn gw(body: &str) -> String {
    doc("Gateway", body)
}

const OK_SERVER: &str =
    "  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n";

#[test]
fn valid_gateway_is_clean() {
    clean(&gw(OK_SERVER));
}

#[test]
fn name_must_be_dns_label() {
    let t = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a.b}\nspec:\n"
        .to_string()
        + OK_SERVER;
    expect(&t, 3, "metadata.name", "invalid gateway name: \"a.b\"");
}

#[test]
fn needs_a_server() {
    expect(
        &gw("  servers: []\n"),
        5,
        "spec.servers",
        "gateway must have at least one server",
    );
}

#[test]
fn server_needs_hosts() {
    expect(
        &gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"),
        6,
        "spec.servers[0].hosts",
        "server config must contain at least one host",
    );
}

#[test]
fn short_and_partial_wildcard_hosts() {
    let t = gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts:\n    - foo\n    - \"*foo.com\"\n    - \"bad ns/a.com\"\n");
    expect(
        &t,
        8,
        "spec.servers[0].hosts[0]",
        "short names (non FQDN) are not allowed",
    );
    expect(
        &t,
        9,
        "spec.servers[0].hosts[1]",
        "partial wildcard \"*foo.com\" not allowed",
    );
    expect(
        &t,
        10,
        "spec.servers[0].hosts[2]",
        "invalid namespace value \"bad ns\" in gateway",
    );
    clean(&gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"prod/*.example.com\", \"./a.example.com\", \"*/b.example.com\", 10.0.0.1]\n"));
}

#[test]
fn port_rules() {
    let t = gw("  servers:\n  - port:\n      number: 70000\n      name: \"\"\n      protocol: FOO\n      targetPort: 8080\n    hosts: [\"*\"]\n");
    expect(
        &t,
        7,
        "spec.servers[0].port.number",
        "port number 70000 must be in the range 1..65535",
    );
    expect(&t, 8, "spec.servers[0].port.name", "port name must be set");
    expect(
        &t,
        9,
        "spec.servers[0].port.protocol",
        "invalid protocol \"FOO\"",
    );
    expect(
        &t,
        10,
        "spec.servers[0].port.targetPort",
        "targetPort has no impact on Gateways",
    );
    expect(
        &gw("  servers:\n  - hosts: [\"*\"]\n"),
        6,
        "spec.servers[0].port",
        "port is required",
    );
}

#[test]
fn protocol_is_case_insensitive() {
    clean(&gw(
        "  servers:\n  - port: {number: 80, name: http, protocol: http}\n    hosts: [\"*\"]\n",
    ));
}

#[test]
fn port_names_unique() {
    let t = gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n  - port: {number: 81, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n");
    expect(
        &t,
        8,
        "spec.servers[1].port.name",
        "port names in servers must be unique: duplicate name http",
    );
}

#[test]
fn bind_rules() {
    let t = gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    bind: nope\n    hosts: [\"*\"]\n");
    expect(&t, 7, "spec.servers[0].bind", "nope is not a valid IP");
    let t = gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    bind: unix:///tmp/s.sock\n    hosts: [\"*\"]\n");
    expect(
        &t,
        6,
        "spec.servers[0].port.number",
        "port number must be 0 for unix domain socket",
    );
    clean(&gw("  servers:\n  - port: {number: 0, name: http, protocol: HTTP}\n    bind: unix://@abstract\n    hosts: [\"*\"]\n"));
}

#[test]
fn https_needs_tls_and_http_rejects_tls() {
    let t = gw(
        "  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [\"*\"]\n",
    );
    expect(
        &t,
        6,
        "spec.servers[0].tls",
        "server must have TLS settings for HTTPS/TLS protocols",
    );
    let t = gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n    tls: {mode: SIMPLE, serverCertificate: c, privateKey: k}\n");
    expect(
        &t,
        8,
        "spec.servers[0].tls",
        "server cannot have TLS settings for plain text HTTP ports",
    );
    let t = gw("  servers:\n  - port: {number: 90, name: tcp, protocol: TCP}\n    hosts: [\"*\"]\n    tls: {httpsRedirect: true}\n");
    expect(
        &t,
        8,
        "spec.servers[0].tls",
        "server cannot have TLS settings for non HTTPS/TLS ports",
    );
    clean(&gw("  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n    tls: {httpsRedirect: true}\n"));
}

#[test]
fn https_redirect_on_non_http_warns() {
    let t = gw("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [\"*\"]\n    tls: {httpsRedirect: true, mode: SIMPLE, credentialName: c}\n");
    expect_warn(
        &t,
        8,
        "spec.servers[0].tls.httpsRedirect",
        "tls.httpsRedirect should only be used with http servers",
    );
}

fn tls(settings: &str) -> String {
    gw(&format!("  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n    hosts: [\"*\"]\n    tls:\n{settings}"))
}

#[test]
fn istio_mutual_rejects_certs() {
    let t = tls("      mode: ISTIO_MUTUAL\n      serverCertificate: c\n      credentialName: x\n");
    expect(
        &t,
        10,
        "spec.servers[0].tls.serverCertificate",
        "ISTIO_MUTUAL TLS cannot have associated server certificate",
    );
    expect(
        &t,
        11,
        "spec.servers[0].tls.credentialName",
        "ISTIO_MUTUAL TLS cannot have associated credentialName",
    );
}

#[test]
fn passthrough_with_certs_warns() {
    let t = tls("      mode: PASSTHROUGH\n      serverCertificate: c\n");
    expect_warn(
        &t,
        9,
        "spec.servers[0].tls.mode",
        "PASSTHROUGH mode does not use certificates, they will be ignored",
    );
}

#[test]
fn one_cert_source() {
    let t = tls("      mode: SIMPLE\n      serverCertificate: c\n      privateKey: k\n      credentialName: x\n");
    expect(&t, 8, "spec.servers[0].tls", "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified");
}

#[test]
fn simple_and_mutual_need_files() {
    let t = tls("      mode: SIMPLE\n");
    expect(
        &t,
        8,
        "spec.servers[0].tls.serverCertificate",
        "SIMPLE TLS requires a server certificate",
    );
    expect(
        &t,
        8,
        "spec.servers[0].tls.privateKey",
        "SIMPLE TLS requires a private key",
    );
    let t = tls("      mode: MUTUAL\n      serverCertificate: c\n      privateKey: k\n");
    expect(
        &t,
        8,
        "spec.servers[0].tls.caCertificates",
        "MUTUAL TLS requires a client CA bundle",
    );
    clean(&tls("      mode: MUTUAL\n      credentialName: x\n"));
}

#[test]
fn crl_rules() {
    let t = tls("      mode: SIMPLE\n      credentialName: x\n      caCrl: crl.pem\n");
    expect(
        &t,
        11,
        "spec.servers[0].tls.caCrl",
        "CRL is not supported with credentialName",
    );
    expect(
        &t,
        11,
        "spec.servers[0].tls.caCrl",
        "CRL is not supported with SIMPLE TLS",
    );
}

#[test]
fn too_many_tls_certificates_warns() {
    let t = tls("      mode: SIMPLE\n      tlsCertificates:\n      - {serverCertificate: a, privateKey: b}\n      - {serverCertificate: a, privateKey: b}\n      - {serverCertificate: a, privateKey: b}\n");
    expect_warn(
        &t,
        10,
        "spec.servers[0].tls.tlsCertificates",
        "SIMPLE TLS can support up to 2 server certificates",
    );
}

#[test]
fn old_tls_and_cipher_warnings() {
    let t = tls("      mode: SIMPLE\n      credentialName: x\n      minProtocolVersion: TLSV1_0\n");
    expect_warn(
        &t,
        11,
        "spec.servers[0].tls.minProtocolVersion",
        "TLS version below TLSV1_2 require setting compatible ciphers",
    );
    let t = tls("      mode: SIMPLE\n      credentialName: x\n      cipherSuites: [FOO, AES128-SHA, AES128-SHA]\n");
    expect_warn(
        &t,
        11,
        "spec.servers[0].tls.cipherSuites",
        "ignoring invalid cipher suites: [FOO]",
    );
    expect_warn(
        &t,
        11,
        "spec.servers[0].tls.cipherSuites",
        "ignoring duplicate cipher suites: [AES128-SHA]",
    );
}

#[test]
fn invalid_tls_mode_enum() {
    let t = tls("      mode: SIMPEL\n");
    expect(
        &t,
        9,
        "spec.servers[0].tls.mode",
        "unknown variant `SIMPEL`, did you mean `SIMPLE`?",
    );
}

#[test]
fn server_names_unique() {
    let t = gw("  servers:\n  - name: s\n    port: {number: 80, name: a, protocol: HTTP}\n    hosts: [\"*\"]\n  - name: s\n    port: {number: 81, name: b, protocol: HTTP}\n    hosts: [\"*\"]\n");
    expect(
        &t,
        9,
        "spec.servers[1].name",
        "server names must be unique: duplicate name s",
    );
}

#[test]
fn host_entry_rules() {
    for (host, msg) in [
        (
            "/a.example.com",
            "config namespace and dnsName in host entry cannot be empty",
        ),
        (
            "a.b_c.com",
            "domain name \"b_c.com\" invalid (label \"b_c\" invalid)",
        ),
    ] {
        let t = gw(&format!("  servers:\n  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: [{host:?}]\n"));
        expect(&t, 7, "spec.servers[0].hosts[0]", msg);
    }
}

#[test]
fn unix_bind_address_rules() {
    for (bind, msg) in [
        ("unix://", "unix address must not be empty"),
        ("unix://rel", "rel is not an absolute path to a file"),
    ] {
        let t = gw(&format!("  servers:\n  - port: {{number: 0, name: http, protocol: HTTP}}\n    bind: {bind:?}\n    hosts: [\"*\"]\n"));
        expect(&t, 7, "spec.servers[0].bind", msg);
    }
}

#[test]
fn istio_mutual_rejects_each_cert_source() {
    for (setting, field, what) in [
        ("privateKey: k", "privateKey", "private key"),
        ("caCertificates: ca", "caCertificates", "CA bundle"),
        (
            "tlsCertificates: [{serverCertificate: a, privateKey: b}]",
            "tlsCertificates",
            "tlsCertificates",
        ),
        ("credentialNames: [a]", "credentialNames", "credentialNames"),
    ] {
        let t = tls(&format!("      mode: ISTIO_MUTUAL\n      {setting}\n"));
        expect(
            &t,
            10,
            &format!("spec.servers[0].tls.{field}"),
            &format!("ISTIO_MUTUAL TLS cannot have associated {what}"),
        );
    }
}

#[test]
fn auto_passthrough_with_certs_warns() {
    let t = tls("      mode: AUTO_PASSTHROUGH\n      credentialName: x\n");
    expect_warn(
        &t,
        9,
        "spec.servers[0].tls.mode",
        "AUTO_PASSTHROUGH mode does not use certificates, they will be ignored",
    );
}

#[test]
fn at_most_two_credential_names() {
    let t = tls("      mode: SIMPLE\n      credentialNames: [a, b, c]\n");
    expect(
        &t,
        10,
        "spec.servers[0].tls.credentialNames",
        "at most 2 credentialNames may be specified",
    );
}

#[test]
fn tls_certificate_entries_need_cert_and_key() {
    let base = "      mode: MUTUAL\n      caCertificates: ca\n      tlsCertificates:\n";
    expect(
        &tls(&format!("{base}      - {{serverCertificate: a}}\n")),
        12,
        "spec.servers[0].tls.tlsCertificates[0]",
        "MUTUAL TLS requires a private key",
    );
    expect(
        &tls(&format!("{base}      - {{privateKey: b}}\n")),
        12,
        "spec.servers[0].tls.tlsCertificates[0]",
        "MUTUAL TLS requires a server certificate",
    );
}
