use rampart_config::load_str;
use rampart_testkit::pki::Ca;

use crate::{compile, Compiled, ProxyIdentity};

/// Compiles one HTTPS Gateway server with `tls` settings `tls`, credentials under `dir`.
fn compile_server(tls: &str, dir: &std::path::Path) -> Compiled {
    let yaml = format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8443, name: https, protocol: HTTPS}}
    tls: {tls}
    hosts: [a.example.com]
"
    );
    let loaded = load_str(&dir.join("gw.yaml").display().to_string(), &yaml);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let me = ProxyIdentity {
        credentials: dir.to_path_buf(),
        ..ProxyIdentity::default()
    };
    compile(&loaded.config, &me)
}

fn error_at(c: &Compiled, path: &str) -> String {
    c.diagnostics
        .iter()
        .find(|d| d.is_error() && d.path == path)
        .map(|d| d.message.clone())
        .unwrap_or_else(|| panic!("no error at {path}: {:?}", c.diagnostics))
}

fn dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rampart-server-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn relative_files_load_and_a_foreign_key_is_an_error_at_its_field() {
    let d = dir();
    let ca = Ca::new("ca");
    ca.server(&["a.example.com"]).write(&d, "a");
    let ok = compile_server(
        "{mode: SIMPLE, serverCertificate: a.crt, privateKey: a.key}",
        &d,
    );
    assert!(!ok.has_errors(), "{:?}", ok.diagnostics);
    assert!(
        ok.snapshot.files.contains(&d.join("a.crt")),
        "files are watched"
    );
    let other = ca.server(&["a.example.com"]);
    std::fs::write(d.join("a.key"), &other.key_pem).unwrap();
    let bad = compile_server(
        "{mode: SIMPLE, serverCertificate: a.crt, privateKey: a.key}",
        &d,
    );
    let msg = error_at(&bad, "spec.servers[0].tls.serverCertificate");
    assert!(msg.contains("do not make a usable certificate"), "{msg}");
    assert!(!msg.contains("PRIVATE KEY"), "no key material in messages");
}

#[test]
fn credentials_need_their_files_and_mutual_needs_a_ca() {
    let d = dir();
    let missing = compile_server("{mode: SIMPLE, credentialName: nope}", &d);
    assert!(error_at(&missing, "spec.servers[0].tls.credentialName").contains("not found"));
    let ca = Ca::new("ca");
    ca.server(&["a.example.com"])
        .write_credential(&d, "web", None);
    let simple = compile_server("{mode: SIMPLE, credentialName: web}", &d);
    assert!(!simple.has_errors(), "{:?}", simple.diagnostics);
    let mutual = compile_server("{mode: MUTUAL, credentialName: web}", &d);
    assert!(error_at(&mutual, "spec.servers[0].tls.caCertificates").contains("client CA"));
    // A CA kept in NAME-cacert completes it.
    std::fs::create_dir_all(d.join("web-cacert")).unwrap();
    std::fs::write(d.join("web-cacert/ca.crt"), &ca.pem).unwrap();
    let mutual = compile_server("{mode: MUTUAL, credentialName: web}", &d);
    assert!(!mutual.has_errors(), "{:?}", mutual.diagnostics);
    let traversal = compile_server("{mode: SIMPLE, credentialName: ../web}", &d);
    assert!(error_at(&traversal, "spec.servers[0].tls.credentialName").contains("plain name"));
}

#[test]
fn versions_and_ciphers_rustls_lacks_are_rejected_by_name() {
    let d = dir();
    Ca::new("ca")
        .server(&["a.example.com"])
        .write_credential(&d, "web", None);
    let old = compile_server("{mode: SIMPLE, credentialName: web, minProtocolVersion: TLSV1_1, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]}", &d);
    assert!(error_at(&old, "spec.servers[0].tls.minProtocolVersion").contains("TLS 1.2 and 1.3"));
    let cbc = compile_server(
        "{mode: SIMPLE, credentialName: web, cipherSuites: [ECDHE-RSA-AES128-SHA]}",
        &d,
    );
    let msg = error_at(&cbc, "spec.servers[0].tls.cipherSuites");
    assert!(
        msg.contains("ECDHE-RSA-AES128-SHA") && msg.contains("ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{msg}"
    );
    let inverted = compile_server("{mode: SIMPLE, credentialName: web, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2}", &d);
    error_at(&inverted, "spec.servers[0].tls.minProtocolVersion");
    let gcm = compile_server(
        "{mode: SIMPLE, credentialName: web, cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384]}",
        &d,
    );
    assert!(!gcm.has_errors(), "{:?}", gcm.diagnostics);
}

#[test]
fn modes_rampart_cannot_serve_are_rejected() {
    let d = dir();
    let yaml = "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: tls, protocol: TLS}
    tls: {mode: ISTIO_MUTUAL}
    hosts: [a.example.com]
";
    let loaded = load_str(&d.join("gw.yaml").display().to_string(), yaml);
    let c = compile(&loaded.config, &ProxyIdentity::default());
    assert!(error_at(&c, "spec.servers[0].tls.mode").contains("ISTIO_MUTUAL"));
}
