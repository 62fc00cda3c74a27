//! Compiling `trafficPolicy.tls` into cluster TLS settings, and the server-certificate checks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart_config::load_str;
use rampart_model::ClusterSpec;
use rampart_testkit::pki::Ca;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};

use rustls::pki_types::{CertificateDer, UnixTime};

use super::*;
use crate::{compile, Compiled, ProxyIdentity};

/// A fresh temporary directory for certificate files.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-compile-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A gateway, the ServiceEntry `api.example.com` (ports 80 and 8443, endpoints labelled v1 and
/// v2, port 80 speaking `protocol`), a VirtualService with one rule per destination
/// (`/r0`, `/r1`, …) and `dr`.
fn config(protocol: &str, destinations: &[&str], dr: &str) -> String {
    let rules: String = destinations
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!("  - match: [{{uri: {{prefix: /r{i}}}}}]\n    route: [{{destination: {d}}}]\n")
        })
        .collect();
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: api}}
spec:
  hosts: [api.example.com]
  resolution: STATIC
  ports: [{{number: 80, name: main, protocol: {protocol}}}, {{number: 8443, name: alt, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, labels: {{version: v1}}}}, {{address: 127.0.0.2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: api}}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
{rules}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: api}}
spec:
  host: api.example.com
{dr}"#
    )
}

fn compile_with(yaml: &str, credentials: Option<PathBuf>) -> Compiled {
    let loaded = load_str("test.yaml", yaml);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let mut me = ProxyIdentity::default();
    if let Some(dir) = credentials {
        me.credentials = dir;
    }
    compile(&loaded.config, &me)
}

fn cluster<'a>(c: &'a Compiled, name: &str) -> &'a ClusterSpec {
    c.snapshot
        .clusters
        .iter()
        .find(|s| s.key.to_string() == name)
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

fn sni(c: &Compiled, name: &str) -> Option<String> {
    cluster(c, name).tls.as_ref().map(|t| t.server_name_str())
}

fn errors(c: &Compiled) -> Vec<String> {
    c.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn simple_trusts_the_ca_file_and_sends_the_service_host() {
    let dir = temp_dir();
    let ca = Ca::new("upstream-ca");
    std::fs::write(dir.join("ca.crt"), &ca.pem).unwrap();
    let dr = format!(
        "  trafficPolicy:\n    tls: {{mode: SIMPLE, caCertificates: {}}}\n",
        dir.join("ca.crt").display()
    );
    let c = compile_with(
        &config(
            "HTTP",
            &["{host: api.example.com, port: {number: 80}}"],
            &dr,
        ),
        None,
    );
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let tls = cluster(&c, "outbound|80||api.example.com")
        .tls
        .clone()
        .expect("tls");
    assert_eq!(tls.mode, OriginationMode::Simple);
    assert_eq!(tls.server_name_str(), "api.example.com");
    assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    assert!(tls.description.contains("ca.crt"), "{}", tls.description);
    assert!(
        c.snapshot.files.contains(&dir.join("ca.crt")),
        "a CA change reloads"
    );
    let dumped = &c.snapshot.dump["clusters"][0]["tls"];
    assert_eq!(dumped["mode"], "SIMPLE");
    assert_eq!(dumped["sni"], "api.example.com");
}

#[test]
fn http2_clusters_offer_h2_and_default_roots_are_webpki() {
    let dr = "  trafficPolicy:\n    tls: {mode: SIMPLE}\n";
    let c = compile_with(
        &config(
            "HTTP2",
            &["{host: api.example.com, port: {number: 80}}"],
            dr,
        ),
        None,
    );
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let tls = cluster(&c, "outbound|80||api.example.com")
        .tls
        .clone()
        .expect("tls");
    assert_eq!(tls.config.alpn_protocols, vec![b"h2".to_vec()]);
    assert!(
        tls.description.contains("webpki-roots"),
        "{}",
        tls.description
    );
}

#[test]
fn precedence_is_subset_port_then_subset_then_port_then_top() {
    let dr = "  trafficPolicy:
    tls: {mode: SIMPLE, sni: top.example}
    portLevelSettings:
    - port: {number: 8443}
      tls: {mode: SIMPLE, sni: port.example}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: SIMPLE, sni: subset.example}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 8443}
        tls: {mode: SIMPLE, sni: subset-port.example}
  - name: plain
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: DISABLE}
";
    let dests = [
        "{host: api.example.com, port: {number: 80}}",
        "{host: api.example.com, port: {number: 8443}}",
        "{host: api.example.com, port: {number: 80}, subset: v1}",
        "{host: api.example.com, port: {number: 8443}, subset: v1}",
        "{host: api.example.com, port: {number: 80}, subset: v2}",
        "{host: api.example.com, port: {number: 8443}, subset: v2}",
        "{host: api.example.com, port: {number: 80}, subset: plain}",
    ];
    let c = compile_with(&config("HTTP", &dests, dr), None);
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let expect = [
        ("outbound|80||api.example.com", Some("top.example")),
        ("outbound|8443||api.example.com", Some("port.example")),
        ("outbound|80|v1|api.example.com", Some("subset.example")),
        ("outbound|8443|v1|api.example.com", Some("subset.example")),
        ("outbound|80|v2|api.example.com", Some("top.example")),
        (
            "outbound|8443|v2|api.example.com",
            Some("subset-port.example"),
        ),
        ("outbound|80|plain|api.example.com", None),
    ];
    for (name, want) in expect {
        assert_eq!(sni(&c, name).as_deref(), want, "{name}");
    }
}

#[test]
fn mutual_reads_the_client_certificate_and_names_a_mismatched_key() {
    let dir = temp_dir();
    let ca = Ca::new("client-ca");
    let (cert, key) = ca.client("gateway", &[]).write(&dir, "client");
    let (_, other_key) = ca.client("other", &[]).write(&dir, "other");
    let dr = |key: &std::path::Path| {
        format!(
            "  trafficPolicy:\n    tls: {{mode: MUTUAL, clientCertificate: {}, privateKey: {}}}\n",
            cert.display(),
            key.display()
        )
    };
    let dest = ["{host: api.example.com, port: {number: 80}}"];
    let good = compile_with(&config("HTTP", &dest, &dr(&key)), None);
    assert!(!good.has_errors(), "{:?}", good.diagnostics);
    let tls = cluster(&good, "outbound|80||api.example.com")
        .tls
        .clone()
        .expect("tls");
    assert_eq!(tls.mode, OriginationMode::Mutual);
    assert!(tls.config.client_auth_cert_resolver.has_certs());
    assert!(good.snapshot.files.contains(&key));

    let bad = compile_with(&config("HTTP", &dest, &dr(&other_key)), None);
    let errs = errors(&bad);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("spec.trafficPolicy.tls.privateKey"),
        "{errs:?}"
    );
    assert!(
        errs[0].contains("is not the key of clientCertificate"),
        "{errs:?}"
    );
}

#[test]
fn unreadable_files_are_errors_at_their_field_once() {
    let dr = "  trafficPolicy:
    portLevelSettings:
    - port: {number: 8443}
      tls: {mode: SIMPLE, caCertificates: missing-ca.pem, caCrl: missing.crl}
";
    let dests = [
        "{host: api.example.com, port: {number: 8443}}",
        "{host: api.example.com, port: {number: 8443}, subset: v1}",
    ];
    let yaml = config("HTTP", &dests, dr) + "  subsets: [{name: v1, labels: {version: v1}}]\n";
    let c = compile_with(&yaml, None);
    let errs = errors(&c);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].contains("spec.trafficPolicy.portLevelSettings[0].tls.caCertificates"),
        "{errs:?}"
    );
    assert!(
        errs[1].contains("spec.trafficPolicy.portLevelSettings[0].tls.caCrl"),
        "{errs:?}"
    );
}

#[test]
fn credential_name_gives_ca_and_client_certificate() {
    let dir = temp_dir();
    let ca = Ca::new("cred-ca");
    ca.client("gateway", &[])
        .write_credential(&dir, "upstream-client", Some(&ca));
    let dr = "  trafficPolicy:\n    tls: {mode: MUTUAL, credentialName: upstream-client}\n";
    let dest = ["{host: api.example.com, port: {number: 80}}"];
    let c = compile_with(&config("HTTP", &dest, dr), Some(dir.clone()));
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let tls = cluster(&c, "outbound|80||api.example.com")
        .tls
        .clone()
        .expect("tls");
    assert!(
        tls.description.contains("credential upstream-client"),
        "{}",
        tls.description
    );
    assert!(tls.config.client_auth_cert_resolver.has_certs());

    let missing = dr.replace("upstream-client", "nope");
    let c = compile_with(&config("HTTP", &dest, &missing), Some(dir));
    let errs = errors(&c);
    assert!(
        errs.iter()
            .any(|e| e.contains("spec.trafficPolicy.tls.credentialName")),
        "{errs:?}"
    );
}

#[test]
fn istio_mutual_is_rejected_at_the_mode_field() {
    let dr = "  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n";
    let c = compile_with(
        &config("HTTP", &["{host: api.example.com, port: {number: 80}}"], dr),
        None,
    );
    let errs = errors(&c);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("spec.trafficPolicy.tls.mode: ISTIO_MUTUAL (needs the mesh CA) is not supported by Rampart yet"), "{errs:?}");
}

#[test]
fn service_entry_sans_apply_when_the_rule_has_none() {
    let dr = "  trafficPolicy:\n    tls: {mode: SIMPLE}\n";
    let yaml = config("HTTP", &["{host: api.example.com, port: {number: 80}}"], dr).replace(
        "  resolution: STATIC\n",
        "  resolution: STATIC\n  subjectAltNames: [spiffe://td/ns/a/sa/api]\n",
    );
    let c = compile_with(&yaml, None);
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let tls = cluster(&c, "outbound|80||api.example.com")
        .tls
        .clone()
        .expect("tls");
    assert!(
        tls.description
            .contains("subjectAltNames [spiffe://td/ns/a/sa/api]"),
        "{}",
        tls.description
    );

    let own = "  trafficPolicy:\n    tls: {mode: SIMPLE, subjectAltNames: [api.internal]}\n";
    let c = compile_with(&yaml.replace(dr, own), None);
    let tls = cluster(&c, "outbound|80||api.example.com")
        .tls
        .clone()
        .expect("tls");
    assert!(
        tls.description.contains("subjectAltNames [api.internal]"),
        "{}",
        tls.description
    );
}

#[test]
fn a_host_that_is_no_server_name_needs_sni() {
    let dr = "  trafficPolicy:\n    tls: {mode: SIMPLE}\n";
    let yaml = config(
        "HTTP",
        &["{host: \"*.example.com\", port: {number: 80}}"],
        dr,
    )
    .replace("hosts: [api.example.com]", "hosts: [\"*.example.com\"]")
    .replace("host: api.example.com\n", "host: \"*.example.com\"\n");
    let c = compile_with(&yaml, None);
    let errs = errors(&c);
    assert!(errs.iter().any(|e| e.contains("spec.trafficPolicy.tls: host *.example.com cannot be sent as SNI")), "{errs:?}");
    let fixed = compile_with(
        &yaml.replace("{mode: SIMPLE}", "{mode: SIMPLE, sni: api.example.com}"),
        None,
    );
    assert!(!fixed.has_errors(), "{:?}", fixed.diagnostics);
}

#[test]
fn settings_and_certificates_decide_the_fingerprint() {
    let dir = temp_dir();
    let ca = Ca::new("fp-ca");
    std::fs::write(dir.join("ca.crt"), &ca.pem).unwrap();
    let dr = format!(
        "  trafficPolicy:\n    tls: {{mode: SIMPLE, caCertificates: {}}}\n",
        dir.join("ca.crt").display()
    );
    let dest = ["{host: api.example.com, port: {number: 80}}"];
    let fp = |yaml: &str| {
        let c = compile_with(yaml, None);
        cluster(&c, "outbound|80||api.example.com")
            .tls
            .as_ref()
            .expect("tls")
            .fingerprint
    };
    let first = fp(&config("HTTP", &dest, &dr));
    assert_eq!(
        first,
        fp(&config("HTTP", &dest, &dr)),
        "same files, same settings"
    );
    std::fs::write(dir.join("ca.crt"), &Ca::new("other").pem).unwrap();
    assert_ne!(first, fp(&config("HTTP", &dest, &dr)), "a new CA");
}

// === the verifiers ===

/// A CA of our own (for URI SANs and CRLs, which the test PKI does not issue).
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    fn server(&self, sans: Vec<SanType>, serial: u64) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.serial_number = Some(SerialNumber::from(serial));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, &self.issuer).unwrap().der().clone()
    }

    fn crl(&self, revoked: u64) -> CertificateRevocationListDer<'static> {
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2020, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(revoked),
                revocation_time: rcgen::date_time_ymd(2020, 1, 1),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().der().clone()
    }

    fn material(&self, crls: Vec<CertificateRevocationListDer<'static>>) -> Material {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        Material {
            roots: Some((Arc::new(roots), "test".into())),
            client: None,
            crls,
        }
    }
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

fn check(
    verifier: &Arc<dyn ServerCertVerifier>,
    cert: &CertificateDer<'static>,
    name: &str,
) -> Result<(), String> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    verifier
        .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn without_sans_the_server_name_is_checked() {
    let ca = TestCa::new("ca");
    let v = verifier(&ca.material(vec![]), &[], false, &Arc::new(provider())).unwrap();
    let cert = ca.server(vec![dns("api.example.com")], 1);
    assert_eq!(check(&v, &cert, "api.example.com"), Ok(()));
    assert!(check(&v, &cert, "other.example.com").is_err());
    let stranger = TestCa::new("stranger").server(vec![dns("api.example.com")], 2);
    assert!(check(&v, &stranger, "api.example.com").is_err());
}

#[test]
fn sans_replace_the_name_check_but_never_the_chain() {
    let ca = TestCa::new("ca");
    let sans = [
        "spiffe://td/ns/a/sa/api".to_string(),
        "api.internal".to_string(),
    ];
    let v = verifier(&ca.material(vec![]), &sans, false, &Arc::new(provider())).unwrap();
    let uri = SanType::URI("spiffe://td/ns/a/sa/api".try_into().unwrap());
    let by_uri = ca.server(vec![dns("whatever.example"), uri.clone()], 1);
    assert_eq!(check(&v, &by_uri, "api.example.com"), Ok(()), "URI SAN");
    let by_dns = ca.server(vec![dns("api.internal")], 2);
    assert_eq!(check(&v, &by_dns, "api.example.com"), Ok(()), "DNS SAN");
    let neither = ca.server(vec![dns("api.example.com")], 3);
    let err = check(&v, &neither, "api.example.com").unwrap_err();
    assert!(err.contains("match none of subjectAltNames"), "{err}");
    // A certificate from another CA fails even though its SAN is listed.
    let stranger = TestCa::new("stranger").server(vec![uri], 4);
    let err = check(&v, &stranger, "api.example.com").unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn insecure_skip_verify_accepts_any_certificate() {
    let ca = TestCa::new("ca");
    let v = verifier(&ca.material(vec![]), &[], true, &Arc::new(provider())).unwrap();
    let stranger = TestCa::new("stranger").server(vec![dns("x.example")], 1);
    assert_eq!(check(&v, &stranger, "api.example.com"), Ok(()));
}

#[test]
fn a_revoked_certificate_fails_with_ca_crl() {
    let ca = TestCa::new("ca");
    let v = verifier(
        &ca.material(vec![ca.crl(7)]),
        &[],
        false,
        &Arc::new(provider()),
    )
    .unwrap();
    assert_eq!(
        check(
            &v,
            &ca.server(vec![dns("api.example.com")], 8),
            "api.example.com"
        ),
        Ok(())
    );
    let err = check(
        &v,
        &ca.server(vec![dns("api.example.com")], 7),
        "api.example.com",
    )
    .unwrap_err();
    assert!(err.contains("Revoked"), "{err}");
}
