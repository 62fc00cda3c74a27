//! Gateway TLS termination: Istio's secure-ingress tasks (SIMPLE, multiple hosts, MUTUAL,
//! OPTIONAL_MUTUAL), SNI chain selection, ALPN, protocol versions, client-certificate headers and
//! certificate rotation on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_testkit::pki::{Ca, Leaf};
use rampart_testkit::tls_client::{self, TlsConn};
use rampart_testkit::{Backend, Reply};

use crate::support::{temp_dir, TestGateway};

/// S8/S9's services: httpbin (`/status/418` answers 418) and helloworld, both on `backend`.
fn services(port: u16) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: httpbin}}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  hosts: [httpbin.example.com]
  gateways: [mygateway]
  http:
  - match: [{{uri: {{prefix: /status}}}}, {{uri: {{prefix: /delay}}}}]
    route:
    - destination: {{port: {{number: 8000}}, host: httpbin.default.svc.cluster.local}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: helloworld}}
spec:
  hosts: [helloworld.example.com]
  gateways: [mygateway]
  http:
  - match: [{{uri: {{exact: /hello}}}}]
    route:
    - destination: {{port: {{number: 8000}}, host: httpbin.default.svc.cluster.local}}
"
    )
}

fn gateway(servers: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: mygateway}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}"
    )
}

/// S8's single SIMPLE server with `tls` settings `tls`.
fn simple_server(tls: &str) -> String {
    gateway(&format!(
        "  - port: {{number: ${{GW_PORT}}, name: https, protocol: HTTPS}}
    tls: {tls}
    hosts: [httpbin.example.com]
"
    ))
}

async fn teapot() -> Backend {
    Backend::with("httpbin", |r| {
        if r.uri.starts_with("/status/418") {
            Reply::new(418, "-=[ teapot ]=-")
        } else {
            Reply::new(200, "Hello version: v1")
        }
    })
    .await
}

struct Pki {
    ca: Ca,
    dir: PathBuf,
    httpbin: Leaf,
}

/// CA `example.com`, httpbin's server certificate as credential `httpbin-credential` (with the
/// CA as `ca.crt`, for MUTUAL), in a fresh credentials directory.
fn pki() -> Pki {
    let ca = Ca::new("example.com");
    let dir = temp_dir();
    let httpbin = ca.server(&["httpbin.example.com"]);
    httpbin.write_credential(&dir, "httpbin-credential", Some(&ca));
    Pki { ca, dir, httpbin }
}

async fn start(yaml: &str, backend: &Backend, credentials: &Path) -> TestGateway {
    let credentials = credentials.to_path_buf();
    TestGateway::start_with(&format!("{yaml}{}", services(backend.port())), move |o| {
        o.identity.credentials = credentials;
        o.watch = true;
    })
    .await
}

/// Whether a client with `config` gets no answer from httpbin: the handshake fails or, with
/// TLS 1.3 (where the client learns of a refused certificate on its first read), the request.
async fn refused(gw: &TestGateway, config: Arc<rustls::ClientConfig>) -> bool {
    match connect(gw, "httpbin.example.com", config).await {
        Err(_) => true,
        Ok(mut conn) => conn
            .get("httpbin.example.com", "/status/418", &[])
            .await
            .is_err(),
    }
}

async fn connect(
    gw: &TestGateway,
    sni: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsConn, String> {
    tls_client::connect(gw.addr, sni, config).await
}

#[tokio::test]
async fn s8_simple_tls_serves_routes_with_the_credential() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let mut conn = connect(
        &gw,
        "httpbin.example.com",
        pki.ca.client_config(&[b"http/1.1"]),
    )
    .await
    .expect("handshake");
    assert_eq!(conn.server_cert, pki.httpbin.der);
    let teapot = conn
        .get("httpbin.example.com", "/status/418", &[])
        .await
        .unwrap();
    assert_eq!(teapot.status, 418);
    assert_eq!(&teapot.body[..], b"-=[ teapot ]=-");
    let missing = conn
        .get("httpbin.example.com", "/headers", &[])
        .await
        .unwrap();
    assert_eq!(missing.status, 404, "no route for /headers");
    // The backend learns the original scheme; a client's own XFCC never reaches it.
    let _ = conn
        .get(
            "httpbin.example.com",
            "/status/418",
            &[("x-forwarded-client-cert", "Hash=forged")],
        )
        .await
        .unwrap();
    let seen = backend.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|r| r.headers["x-forwarded-proto"] == "https"));
    assert!(seen
        .iter()
        .all(|r| !r.headers.contains_key("x-forwarded-client-cert")));
}

#[tokio::test]
async fn s8_unknown_sni_plain_http_and_no_sni_are_refused() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let other = connect(&gw, "other.example.com", pki.ca.client_config(&[])).await;
    assert!(other.is_err(), "no server for other.example.com");
    let no_sni = connect(&gw, "127.0.0.1", pki.ca.client_config(&[])).await;
    assert!(no_sni.is_err(), "no SNI, no catch-all server");
    let plain = gw.get("httpbin.example.com", "/status/418").send().await;
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");
    assert_eq!(backend.count(), 0);
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics.contains("rampart_downstream_rejected_total{reason=\"tls_no_chain\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn alpn_h2_is_negotiated_and_http11_still_works() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let mut h2 = connect(
        &gw,
        "httpbin.example.com",
        pki.ca.client_config(&[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]));
    let resp = h2
        .get("httpbin.example.com", "/status/418", &[])
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.version),
        (418, http::Version::HTTP_2)
    );
    let mut h1 = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(h1.alpn, None);
    let resp = h1
        .get("httpbin.example.com", "/status/418", &[])
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.version),
        (418, http::Version::HTTP_11)
    );
}

#[tokio::test]
async fn s9_several_servers_on_one_port_each_present_their_certificate() {
    let pki = pki();
    let hello = pki.ca.server(&["helloworld.example.com"]);
    hello.write_credential(&pki.dir, "helloworld-credential", None);
    let backend = teapot().await;
    let yaml = gateway(
        "  - port: {number: ${GW_PORT}, name: https-httpbin, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
    hosts: [httpbin.example.com]
  - port: {number: ${GW_PORT}, name: https-helloworld, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: helloworld-credential}
    hosts: [helloworld.example.com]
",
    );
    let gw = start(&yaml, &backend, &pki.dir).await;
    let mut a = connect(&gw, "helloworld.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(a.server_cert, hello.der);
    let resp = a
        .get("helloworld.example.com", "/hello", &[])
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), &resp.body[..]),
        (200, &b"Hello version: v1"[..])
    );
    let mut b = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(b.server_cert, pki.httpbin.der);
    assert_eq!(
        b.get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
    // Each server has its own routes: helloworld's host is not served on httpbin's chain.
    let cross = b
        .get("helloworld.example.com", "/hello", &[])
        .await
        .unwrap();
    assert_eq!(cross.status, 404);
    let dump: serde_json::Value =
        serde_json::from_str(&gw.admin("/config_dump").await.body).unwrap();
    let chains = &dump["config"]["listeners"][0]["tlsChains"];
    assert_eq!(
        chains[0]["serverNames"][0], "httpbin.example.com",
        "{chains}"
    );
    assert_eq!(
        chains[1]["serverNames"][0], "helloworld.example.com",
        "{chains}"
    );
    assert_eq!(
        chains[1]["tls"]["certificate"],
        "credential helloworld-credential"
    );
    assert_eq!(
        chains[1]["virtualHosts"][0]["domain"],
        "helloworld.example.com"
    );
}

#[tokio::test]
async fn s10_mutual_requires_a_client_certificate_from_the_ca() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: MUTUAL, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let client = pki.ca.client(
        "client.example.com",
        &["spiffe://cluster.local/ns/default/sa/client"],
    );
    let mut ok = connect(
        &gw,
        "httpbin.example.com",
        pki.ca.client_config_with(&[], Some(&client)),
    )
    .await
    .expect("handshake with a client certificate");
    assert_eq!(
        ok.get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
    let xfcc = backend.requests()[0].headers["x-forwarded-client-cert"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        xfcc.contains("Subject=\"CN=client.example.com\"")
            && xfcc.contains(";URI=spiffe://cluster.local/ns/default/sa/client")
            && xfcc.starts_with("Hash="),
        "{xfcc}"
    );
    // Without a certificate, or with one from another CA, no request gets through. (With TLS 1.3
    // the client learns of the refusal on its first read, so the request is what fails.)
    let stranger = Ca::new("other.example.com").client("client.example.com", &[]);
    for cert in [None, Some(&stranger)] {
        let refused = refused(&gw, pki.ca.client_config_with(&[], cert)).await;
        assert!(
            refused,
            "client certificate {:?} must be refused",
            cert.map(|_| "stranger")
        );
    }
    assert_eq!(backend.count(), 1);
}

#[tokio::test]
async fn optional_mutual_accepts_no_certificate_but_not_a_bad_one() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: OPTIONAL_MUTUAL, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let mut anonymous = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(
        anonymous
            .get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
    let client = pki.ca.client("client.example.com", &[]);
    let mut known = connect(
        &gw,
        "httpbin.example.com",
        pki.ca.client_config_with(&[], Some(&client)),
    )
    .await
    .unwrap();
    assert_eq!(
        known
            .get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
    let stranger = Ca::new("elsewhere").client("client.example.com", &[]);
    let bad = refused(&gw, pki.ca.client_config_with(&[], Some(&stranger))).await;
    assert!(bad, "a certificate from another CA is refused");
    let seen = backend.requests();
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].headers.contains_key("x-forwarded-client-cert"));
    assert!(seen[1].headers.contains_key("x-forwarded-client-cert"));
}

#[tokio::test]
async fn mutual_subject_alt_names_narrow_the_accepted_clients() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server(
            "{mode: MUTUAL, credentialName: httpbin-credential, subjectAltNames: [spiffe://cluster.local/ns/default/sa/good]}",
        ),
        &backend,
        &pki.dir,
    )
    .await;
    let good = pki
        .ca
        .client("good", &["spiffe://cluster.local/ns/default/sa/good"]);
    let other = pki
        .ca
        .client("other", &["spiffe://cluster.local/ns/default/sa/other"]);
    let mut conn = connect(
        &gw,
        "httpbin.example.com",
        pki.ca.client_config_with(&[], Some(&good)),
    )
    .await
    .unwrap();
    assert_eq!(
        conn.get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
    let refused = refused(&gw, pki.ca.client_config_with(&[], Some(&other))).await;
    assert!(refused);
    assert_eq!(backend.count(), 1);
}

#[tokio::test]
async fn protocol_versions_bound_the_handshake() {
    let pki = pki();
    let (cert, key) = pki.httpbin.write(&pki.dir, "httpbin");
    let backend = teapot().await;
    let tls12_only = format!(
        "{{mode: SIMPLE, serverCertificate: {}, privateKey: {}, maxProtocolVersion: TLSV1_2}}",
        cert.display(),
        key.display()
    );
    let gw = start(&simple_server(&tls12_only), &backend, &pki.dir).await;
    let conn = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(conn.version, Some(rustls::ProtocolVersion::TLSv1_2));
    let tls13_client = client_with_versions(&pki.ca, &[&rustls::version::TLS13]);
    assert!(connect(&gw, "httpbin.example.com", tls13_client)
        .await
        .is_err());

    let tls13_only = tls12_only
        .replace("maxProtocolVersion", "minProtocolVersion")
        .replace("TLSV1_2", "TLSV1_3");
    gw.write(&format!(
        "{}{}",
        simple_server(&tls13_only),
        services(backend.port())
    ));
    gw.gw.reload().await.expect("reload");
    let tls12_client = client_with_versions(&pki.ca, &[&rustls::version::TLS12]);
    assert!(connect(&gw, "httpbin.example.com", tls12_client)
        .await
        .is_err());
    let conn = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(conn.version, Some(rustls::ProtocolVersion::TLSv1_3));
}

fn client_with_versions(
    ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[tokio::test]
async fn a_rotated_certificate_serves_new_connections_while_old_ones_keep_working() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let mut old = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(old.server_cert, pki.httpbin.der);
    let renewed = pki.ca.server(&["httpbin.example.com"]);
    renewed.write_credential(&pki.dir, "httpbin-credential", Some(&pki.ca));
    let mut served = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let conn = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
            .await
            .expect("no handshake fails during the rotation");
        if conn.server_cert == renewed.der {
            served = Some(conn);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut fresh = served.expect("the renewed certificate is served");
    assert_eq!(
        fresh
            .get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
    assert_eq!(
        old.get("httpbin.example.com", "/status/418", &[])
            .await
            .unwrap()
            .status,
        418
    );
}

#[tokio::test]
async fn a_mismatched_key_is_rejected_and_the_previous_certificate_keeps_serving() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    // A new certificate whose key is not the one next to it.
    let renewed = pki.ca.server(&["httpbin.example.com"]);
    let cred = pki.dir.join("httpbin-credential");
    std::fs::write(cred.join("tls.crt"), &renewed.cert_pem).unwrap();
    let rejected = gw
        .gw
        .reload()
        .await
        .expect_err("mismatched key and certificate");
    assert!(
        rejected
            .iter()
            .any(|m| m.contains("spec.servers[0].tls.credentialName") && m.contains("tls.crt")),
        "{rejected:?}"
    );
    let conn = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(
        conn.server_cert, pki.httpbin.der,
        "the last good certificate serves"
    );
    // Once the key follows, the new certificate serves.
    std::fs::write(cred.join("tls.key"), &renewed.key_pem).unwrap();
    eventually_served(&gw, &pki.ca, &renewed).await;
}

async fn eventually_served(gw: &TestGateway, ca: &Ca, leaf: &Leaf) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(conn) = connect(gw, "httpbin.example.com", ca.client_config(&[])).await {
            if conn.server_cert == leaf.der {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "renewed certificate never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sl03_silent_and_garbage_clients_are_closed_without_reaching_anything() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = pki();
    let backend = teapot().await;
    let credentials = pki.dir.clone();
    let yaml = format!(
        "{}{}",
        simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        services(backend.port())
    );
    let gw = TestGateway::start_with(&yaml, move |o| {
        o.identity.credentials = credentials;
        // The handshake deadline follows the request-head timeout (10 s by default).
        o.request_headers_timeout = Some(std::time::Duration::from_secs(1));
    })
    .await;
    // Silent: closed by the handshake deadline, not left open.
    let mut silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("closed by the gateway")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // 64 KiB of garbage instead of a ClientHello: closed at once, with nothing sent back.
    let mut garbage = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let junk = vec![0x16u8; 64 * 1024];
    let _ = garbage.write_all(&junk).await;
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), garbage.read(&mut buf))
        .await
        .expect("closed by the gateway")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(backend.count(), 0);
    // The gateway still serves.
    let conn = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[])).await;
    assert!(conn.is_ok());
}

#[tokio::test]
async fn ft12_garbage_or_deleted_certificates_keep_the_last_good_one_serving() {
    let pki = pki();
    let backend = teapot().await;
    let gw = start(
        &simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        &backend,
        &pki.dir,
    )
    .await;
    let cred = pki.dir.join("httpbin-credential");
    std::fs::write(
        cred.join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    )
    .unwrap();
    let garbage = gw.gw.reload().await.expect_err("garbage certificate");
    assert!(garbage.iter().any(|m| m.contains("tls.crt")), "{garbage:?}");
    std::fs::remove_dir_all(&cred).unwrap();
    let deleted = gw.gw.reload().await.expect_err("deleted credential");
    assert!(
        deleted
            .iter()
            .any(|m| m.contains("httpbin-credential") && m.contains("not found")),
        "{deleted:?}"
    );
    let conn = connect(&gw, "httpbin.example.com", pki.ca.client_config(&[]))
        .await
        .unwrap();
    assert_eq!(conn.server_cert, pki.httpbin.der);
    let metrics = gw.admin("/stats/prometheus").await.body;
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rampart_config_reload_failures_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(failures >= 2, "{failures}");
    // AD-04: no key material in the config dump.
    let dump = gw.admin("/config_dump").await.body;
    assert!(!dump.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn access_log_records_the_sni_and_tls_version() {
    let pki = pki();
    let backend = teapot().await;
    let credentials = pki.dir.clone();
    let file = temp_dir().join("access.log");
    let log = file.clone();
    let yaml = format!(
        "{}{}",
        simple_server("{mode: SIMPLE, credentialName: httpbin-credential}"),
        services(backend.port())
    );
    let gw = TestGateway::start_with(&yaml, move |o| {
        o.identity.credentials = credentials;
        o.access_log = Some((Some(log), rampart_telemetry::AccessLogFormat::Json));
    })
    .await;
    let resp = tls_client::get(
        gw.addr,
        "httpbin.example.com",
        pki.ca.client_config(&[]),
        "/status/418",
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 418);
    let lines = crate::support::log_lines(&file, 1).await;
    let entry: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(entry["requested_server_name"], "httpbin.example.com");
    assert_eq!(entry["downstream_tls_version"], "TLSv1.3");
    assert_eq!(entry["downstream_tls_cipher"], "TLS13_AES_256_GCM_SHA384");
}
