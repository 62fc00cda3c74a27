//! TLS origination (DestinationRule `trafficPolicy.tls`): the gateway speaks TLS to upstreams,
//! verifies them (CA file, SNI name or `subjectAltNames`, or not at all with
//! `insecureSkipVerify`), presents a client certificate in MUTUAL mode, offers ALPN per the
//! upstream protocol, and fails a bad handshake as a connect failure (503 `UF`).

use std::path::{Path, PathBuf};

use rampart_testkit::pki::{Ca, Leaf};
use rampart_testkit::tls_backend::{mutual_config, TlsBackend};
use rampart_testkit::Backend;

use crate::support::{temp_dir, TestGateway, G0};

/// The service host every test originates TLS to.
const HOST: &str = "app.default.svc.cluster.local";

/// A CA written to disk, and the directory for the other files of a test.
struct Files {
    ca: Ca,
    dir: PathBuf,
    ca_file: PathBuf,
}

fn files() -> Files {
    let dir = temp_dir();
    let ca = Ca::new("upstream-ca");
    let ca_file = dir.join("upstream-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    Files { ca, dir, ca_file }
}

/// A TLS backend presenting a certificate for `names` from `ca`, offering HTTP/1.1 (and h2).
async fn tls_backend(name: &str, ca: &Ca, names: &[&str]) -> TlsBackend {
    TlsBackend::start(name, ca.server(names).server_config(&[b"h2", b"http/1.1"])).await
}

/// One endpoint of `app`: on 127.0.0.1, service port → backend port, label `version`.
struct Ep<'a>(u16, u16, &'a str);

/// G0, the STATIC ServiceEntry `app` with `ports` (number, protocol) and `endpoints`, a
/// VirtualService sending `/r<i>` to `destinations[i]`, and a DestinationRule for `app` whose
/// spec continues with `rule`.
fn config(
    ports: &[(u16, &str)],
    endpoints: &[Ep<'_>],
    destinations: &[&str],
    rule: &str,
) -> String {
    let port_list: Vec<String> = ports
        .iter()
        .map(|(n, proto)| format!("{{number: {n}, name: p{n}, protocol: {proto}}}"))
        .collect();
    let endpoints: String = endpoints
        .iter()
        .map(|Ep(n, target, version)| {
            format!("  - {{address: 127.0.0.1, ports: {{p{n}: {target}}}, labels: {{version: {version}}}}}\n")
        })
        .collect();
    let rules: String = destinations
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!("  - match: [{{uri: {{prefix: /r{i}}}}}]\n    route: [{{destination: {d}}}]\n")
        })
        .collect();
    format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [{HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{}]
  endpoints:
{endpoints}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
{rules}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: app}}
spec:
  host: app
{rule}",
        port_list.join(", ")
    )
}

/// One HTTP port 80 to `backend_port`, every request to it, and a top-level `tls` of `tls`.
fn simple_config(backend_port: u16, tls: &str) -> String {
    config(
        &[(80, "HTTP")],
        &[Ep(80, backend_port, "v1")],
        &["{host: app}"],
        &format!("  trafficPolicy:\n    tls: {tls}\n"),
    )
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `GET /r<i>` through the gateway: status and body.
async fn get(gw: &TestGateway, route: usize) -> (u16, String) {
    let r = gw
        .get("app.example.com", &format!("/r{route}"))
        .send()
        .await
        .unwrap();
    (r.status.as_u16(), r.body)
}

#[tokio::test]
async fn simple_with_ca_certificates_verifies_the_upstream_and_sends_the_host_as_sni() {
    let f = files();
    let backend = tls_backend("secure", &f.ca, &[HOST]).await;
    let tls = format!("{{mode: SIMPLE, caCertificates: {}}}", path(&f.ca_file));
    let gw = TestGateway::start(&simple_config(backend.port(), &tls)).await;
    assert_eq!(get(&gw, 0).await, (200, "secure".to_string()));
    let session = &backend.sessions()[0];
    assert_eq!(session.sni.as_deref(), Some(HOST));
    assert_eq!(session.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(
        session.client_certs.is_empty(),
        "SIMPLE presents no certificate"
    );
    let request = &backend.requests()[0];
    assert_eq!(request.version, http::Version::HTTP_11);
    // The pooled TLS connection is reused.
    assert_eq!(get(&gw, 0).await.0, 200);
    assert_eq!(backend.sessions().len(), 1);
    let dump: serde_json::Value =
        serde_json::from_str(&gw.admin("/config_dump").await.body).unwrap();
    let tls = &dump["config"]["clusters"][0]["tls"];
    assert_eq!(tls["mode"], "SIMPLE", "{dump}");
    assert_eq!(tls["sni"], HOST, "{dump}");
}

#[tokio::test]
async fn an_upstream_certificate_from_another_ca_is_a_503_uf_and_gets_no_request() {
    let f = files();
    let stranger = Ca::new("stranger");
    let backend = tls_backend("untrusted", &stranger, &[HOST]).await;
    let tls = format!("{{mode: SIMPLE, caCertificates: {}}}", path(&f.ca_file));
    let gw = TestGateway::start(&simple_config(backend.port(), &tls)).await;
    let (status, body) = get(&gw, 0).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure, \
         transport failure reason: TLS_error:|invalid peer certificate: UnknownIssuer:TLS_error_end"
    );
    // The first try and Istio's two default connect-failure retries, each refused.
    backend.handshakes_done(3).await;
    assert_eq!(backend.failed_handshakes(), 3);
    assert!(backend.requests().is_empty());
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(metrics.contains("response_flags=\"UF,URX\""), "{metrics}");
    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains(&format!("127.0.0.1:{}::cx_connect_fail::3", backend.port())),
        "{clusters}"
    );
}

#[tokio::test]
async fn sni_is_sent_and_verified_instead_of_the_host() {
    let f = files();
    let backend = tls_backend("by-sni", &f.ca, &["api.upstream.example"]).await;
    let tls = format!(
        "{{mode: SIMPLE, caCertificates: {}, sni: api.upstream.example}}",
        path(&f.ca_file)
    );
    let gw = TestGateway::start(&simple_config(backend.port(), &tls)).await;
    assert_eq!(get(&gw, 0).await, (200, "by-sni".to_string()));
    assert_eq!(
        backend.sessions()[0].sni.as_deref(),
        Some("api.upstream.example")
    );
}

#[tokio::test]
async fn subject_alt_names_replace_the_name_check() {
    let f = files();
    // The certificate is valid for the host, but not for the listed SAN.
    let backend = tls_backend("sans", &f.ca, &[HOST, "api.internal"]).await;
    let tls = |san: &str| {
        format!(
            "{{mode: SIMPLE, caCertificates: {}, subjectAltNames: [{san}]}}",
            path(&f.ca_file)
        )
    };
    let gw = TestGateway::start(&simple_config(backend.port(), &tls("other.internal"))).await;
    let (status, body) = get(&gw, 0).await;
    assert_eq!(status, 503);
    assert!(
        body.contains("match none of subjectAltNames [other.internal]"),
        "{body}"
    );
    assert!(backend.requests().is_empty());

    gw.write(&simple_config(backend.port(), &tls("api.internal")));
    gw.gw.reload().await.expect("valid");
    assert_eq!(get(&gw, 0).await, (200, "sans".to_string()));
}

#[tokio::test]
async fn insecure_skip_verify_accepts_an_untrusted_certificate() {
    let stranger = Ca::new("stranger");
    let backend = tls_backend("insecure", &stranger, &["somewhere.else"]).await;
    let gw = TestGateway::start(&simple_config(
        backend.port(),
        "{mode: SIMPLE, insecureSkipVerify: true}",
    ))
    .await;
    assert_eq!(get(&gw, 0).await, (200, "insecure".to_string()));
    assert_eq!(backend.sessions()[0].sni.as_deref(), Some(HOST));
}

/// MUTUAL `tls` with client certificate and key files.
fn mutual_tls(f: &Files, cert: &Path, key: &Path) -> String {
    format!(
        "{{mode: MUTUAL, caCertificates: {}, clientCertificate: {}, privateKey: {}}}",
        path(&f.ca_file),
        path(cert),
        path(key)
    )
}

async fn mutual_backend(f: &Files, client_ca: &Ca) -> TlsBackend {
    let leaf = f.ca.server(&[HOST]);
    TlsBackend::start("mutual", mutual_config(&leaf, client_ca, &[b"http/1.1"])).await
}

#[tokio::test]
async fn mutual_presents_the_client_certificate() {
    let f = files();
    let client_ca = Ca::new("client-ca");
    let client: Leaf = client_ca.client("gateway", &["spiffe://td/ns/istio-system/sa/gw"]);
    let (cert, key) = client.write(&f.dir, "client");
    let backend = mutual_backend(&f, &client_ca).await;
    let gw = TestGateway::start(&simple_config(backend.port(), &mutual_tls(&f, &cert, &key))).await;
    assert_eq!(get(&gw, 0).await, (200, "mutual".to_string()));
    assert_eq!(
        backend.sessions()[0].client_certs.first(),
        Some(&client.der)
    );
}

#[tokio::test]
async fn simple_to_a_server_that_requires_a_client_certificate_fails() {
    let f = files();
    let backend = mutual_backend(&f, &Ca::new("client-ca")).await;
    let tls = format!("{{mode: SIMPLE, caCertificates: {}}}", path(&f.ca_file));
    let gw = TestGateway::start(&simple_config(backend.port(), &tls)).await;
    assert_eq!(get(&gw, 0).await.0, 503);
    assert!(backend.requests().is_empty());
}

#[tokio::test]
async fn a_mismatched_client_key_is_refused_naming_the_field() {
    let f = files();
    let client_ca = Ca::new("client-ca");
    let (cert, key) = client_ca.client("gateway", &[]).write(&f.dir, "client");
    let (_, other_key) = client_ca.client("other", &[]).write(&f.dir, "other");
    let backend = mutual_backend(&f, &client_ca).await;
    let gw = TestGateway::start(&simple_config(backend.port(), &mutual_tls(&f, &cert, &key))).await;
    gw.write(&simple_config(
        backend.port(),
        &mutual_tls(&f, &cert, &other_key),
    ));
    let rejected = gw
        .gw
        .reload()
        .await
        .expect_err("a key of another certificate");
    assert!(
        rejected
            .iter()
            .any(|m| m.contains("spec.trafficPolicy.tls.privateKey") && m.contains("other.key")),
        "{rejected:?}"
    );
    // The last good configuration keeps originating with the right key.
    assert_eq!(get(&gw, 0).await, (200, "mutual".to_string()));
}

#[tokio::test]
async fn port_level_tls_applies_to_its_port_only() {
    let f = files();
    let plain = Backend::start("plain").await;
    let secure = tls_backend("secure", &f.ca, &[HOST]).await;
    let rule = format!(
        "  trafficPolicy:
    portLevelSettings:
    - port: {{number: 8443}}
      tls: {{mode: SIMPLE, caCertificates: {}}}
",
        path(&f.ca_file)
    );
    let yaml = config(
        &[(80, "HTTP"), (8443, "HTTP")],
        &[Ep(80, plain.port(), "v1"), Ep(8443, secure.port(), "v1")],
        &[
            "{host: app, port: {number: 80}}",
            "{host: app, port: {number: 8443}}",
        ],
        &rule,
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(get(&gw, 0).await, (200, "plain".to_string()));
    assert_eq!(get(&gw, 1).await, (200, "secure".to_string()));
    assert_eq!(plain.count(), 1);
    assert_eq!(secure.requests().len(), 1);
}

#[tokio::test]
async fn subset_tls_overrides_the_top_level() {
    let f = files();
    let plain = Backend::start("plain").await;
    let secure = tls_backend("secure", &f.ca, &["v2.internal"]).await;
    let rule = format!(
        "  trafficPolicy:
    tls: {{mode: DISABLE}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - name: v2
    labels: {{version: v2}}
    trafficPolicy:
      tls: {{mode: SIMPLE, caCertificates: {}, sni: v2.internal}}
",
        path(&f.ca_file)
    );
    // One port, two endpoints: the plain backend is v1, the TLS one v2.
    let yaml = config(
        &[(80, "HTTP")],
        &[Ep(80, plain.port(), "v1"), Ep(80, secure.port(), "v2")],
        &["{host: app, subset: v1}", "{host: app, subset: v2}"],
        &rule,
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(get(&gw, 0).await, (200, "plain".to_string()));
    assert_eq!(get(&gw, 1).await, (200, "secure".to_string()));
    assert_eq!(backend_sni(&secure), Some("v2.internal".to_string()));
}

fn backend_sni(b: &TlsBackend) -> Option<String> {
    b.sessions().first().and_then(|s| s.sni.clone())
}

#[tokio::test]
async fn http2_upstreams_negotiate_h2_over_tls() {
    let f = files();
    let backend = tls_backend("h2", &f.ca, &[HOST]).await;
    let tls = format!("{{mode: SIMPLE, caCertificates: {}}}", path(&f.ca_file));
    let by_port = config(
        &[(80, "HTTP2")],
        &[Ep(80, backend.port(), "v1")],
        &["{host: app}"],
        &format!("  trafficPolicy:\n    tls: {tls}\n"),
    );
    let by_upgrade = config(
        &[(80, "HTTP")],
        &[Ep(80, backend.port(), "v1")],
        &["{host: app}"],
        &format!(
            "  trafficPolicy:\n    connectionPool: {{http: {{h2UpgradePolicy: UPGRADE}}}}\n    tls: {tls}\n"
        ),
    );
    for (i, yaml) in [by_port, by_upgrade].iter().enumerate() {
        // One gateway at a time, so that session `i` is this gateway's.
        let gw = TestGateway::start(yaml).await;
        assert_eq!(get(&gw, 0).await, (200, "h2".to_string()));
        let session = &backend.sessions()[i];
        assert_eq!(session.alpn.as_deref(), Some(&b"h2"[..]));
        assert_eq!(backend.requests()[i].version, http::Version::HTTP_2);
        assert_eq!(backend.requests()[i].scheme.as_deref(), Some("https"));
        assert_eq!(
            backend.requests()[i].authority.as_deref(),
            Some("app.example.com")
        );
    }
}

#[tokio::test]
async fn request_bodies_stream_over_tls() {
    let f = files();
    let backend = tls_backend("secure", &f.ca, &[HOST]).await;
    let tls = format!("{{mode: SIMPLE, caCertificates: {}}}", path(&f.ca_file));
    let gw = TestGateway::start(&simple_config(backend.port(), &tls)).await;
    let body = "x".repeat(256 * 1024);
    let r = gw
        .get("app.example.com", "/r0/upload")
        .method(http::Method::POST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "secure"));
    assert_eq!(backend.requests()[0].body.len(), body.len());
    // The connection went back to the pool whole and serves the next request.
    assert_eq!(get(&gw, 0).await.0, 200);
    assert_eq!(backend.sessions().len(), 1);
}

#[tokio::test]
async fn changed_tls_settings_replace_pooled_connections() {
    let f = files();
    let backend = tls_backend("secure", &f.ca, &["a.internal", "b.internal"]).await;
    let tls = |sni: &str| {
        format!(
            "{{mode: SIMPLE, caCertificates: {}, sni: {sni}}}",
            path(&f.ca_file)
        )
    };
    let gw = TestGateway::start(&simple_config(backend.port(), &tls("a.internal"))).await;
    assert_eq!(get(&gw, 0).await.0, 200);
    // An unchanged reload keeps the pooled connection.
    gw.gw.reload().await.expect("valid");
    assert_eq!(get(&gw, 0).await.0, 200);
    assert_eq!(backend.sessions().len(), 1);
    // New settings: the next request opens a connection under them.
    gw.write(&simple_config(backend.port(), &tls("b.internal")));
    gw.gw.reload().await.expect("valid");
    assert_eq!(get(&gw, 0).await.0, 200);
    let snis: Vec<_> = backend.sessions().into_iter().map(|s| s.sni).collect();
    assert_eq!(
        snis,
        [
            Some("a.internal".to_string()),
            Some("b.internal".to_string())
        ]
    );
    // Back to plain text: a TLS backend cannot answer it.
    gw.write(&simple_config(backend.port(), "{mode: DISABLE}"));
    gw.gw.reload().await.expect("valid");
    assert_ne!(get(&gw, 0).await.0, 200);
}

/// A `tcp` route to a cluster that originates TLS: the client's plain bytes reach the backend
/// inside the gateway's TLS session (Envoy's `tcp_proxy` with an upstream TLS transport).
#[tokio::test]
async fn a_tcp_route_to_a_tls_cluster_originates_tls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = files();
    let backend = tls_backend("secure-tcp", &f.ca, &[HOST]).await;
    let yaml = format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: ${{GW_PORT}}, name: tcp, protocol: TCP}}
    hosts: [\"*\"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [{HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 443, name: tls, protocol: TCP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{tls: {}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  tcp:
  - route: [{{destination: {{host: app, port: {{number: 443}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: app}}
spec:
  host: app
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: {}}}
",
        backend.port(),
        path(&f.ca_file)
    );
    let gw = TestGateway::start(&yaml).await;
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(b"GET /plain HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("secure-tcp"), "{reply}");
    assert_eq!(backend.sessions()[0].sni.as_deref(), Some(HOST));
    assert_eq!(backend.requests()[0].uri, "/plain");
}
