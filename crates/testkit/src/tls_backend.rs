//! A TLS backend: terminates TLS with a [`crate::pki::Leaf`]'s rustls configuration, then
//! answers like [`crate::Backend`] (200 with its name) over HTTP/1.1 or HTTP/2 as ALPN chose.
//! Records, per connection, the SNI, the ALPN protocol and the client certificate it saw, and
//! per request what arrived, so that tests can assert what the gateway presented.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// One TLS connection as the backend saw it.
#[derive(Debug, Clone)]
pub struct TlsSession {
    /// The SNI the client sent, if any.
    pub sni: Option<String>,
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<Vec<u8>>,
    /// The client's certificate chain, leaf first (empty when none was presented).
    pub client_certs: Vec<CertificateDer<'static>>,
}

/// One request received over TLS.
#[derive(Debug, Clone)]
pub struct TlsRequest {
    /// Path and query.
    pub uri: String,
    /// HTTP version.
    pub version: Version,
    /// The `host` header (HTTP/1.1) or `:authority` (HTTP/2).
    pub authority: Option<String>,
    /// `:scheme` (HTTP/2 only).
    pub scheme: Option<String>,
    /// The request body.
    pub body: Bytes,
}

#[derive(Default)]
struct Log {
    sessions: Vec<TlsSession>,
    requests: Vec<TlsRequest>,
    /// Handshakes that failed (the client refused the certificate, or sent none when required).
    failed_handshakes: usize,
}

/// A running TLS backend on 127.0.0.1; stops when dropped.
pub struct TlsBackend {
    /// Its name (the response body and `x-backend` header).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    handshakes: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsBackend {
    /// Serves with `config` (e.g. [`crate::pki::Leaf::server_config`]; ALPN as it lists).
    pub async fn start(name: &str, config: Arc<rustls::ServerConfig>) -> TlsBackend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind TLS backend");
        let addr = listener.local_addr().expect("TLS backend addr");
        let log = Arc::new(Mutex::new(Log::default()));
        let (done, handshakes) = watch::channel(0usize);
        let body = Bytes::from(name.to_string());
        let name_header = HeaderValue::from_str(name).expect("backend name is a header value");
        let acceptor = TlsAcceptor::from(config);
        let task = {
            let log = log.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let conn = Conn {
                        log: log.clone(),
                        done: done.clone(),
                        body: body.clone(),
                        name: name_header.clone(),
                    };
                    tokio::spawn(conn.serve(acceptor.clone(), tcp));
                }
            })
        };
        TlsBackend {
            name: name.to_string(),
            addr,
            log,
            handshakes,
            task,
        }
    }

    /// Port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every TLS session so far, in handshake order.
    pub fn sessions(&self) -> Vec<TlsSession> {
        self.log.lock().expect("log lock").sessions.clone()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TlsRequest> {
        self.log.lock().expect("log lock").requests.clone()
    }

    /// Handshakes that failed so far.
    pub fn failed_handshakes(&self) -> usize {
        self.log.lock().expect("log lock").failed_handshakes
    }

    /// Waits until `n` handshakes (successful or not) have finished on the server side: a
    /// client may see the end of its handshake before the server does.
    pub async fn handshakes_done(&self, n: usize) {
        let mut rx = self.handshakes.clone();
        rx.wait_for(|&done| done >= n)
            .await
            .expect("backend still running");
    }
}

/// One accepted connection.
struct Conn {
    log: Arc<Mutex<Log>>,
    done: watch::Sender<usize>,
    body: Bytes,
    name: HeaderValue,
}

impl Conn {
    async fn serve(self, acceptor: TlsAcceptor, tcp: tokio::net::TcpStream) {
        let tls = match acceptor.accept(tcp).await {
            Ok(tls) => tls,
            Err(_) => {
                self.log.lock().expect("log lock").failed_handshakes += 1;
                self.done.send_modify(|n| *n += 1);
                return;
            }
        };
        let (_, session) = tls.get_ref();
        let seen = TlsSession {
            sni: session.server_name().map(str::to_string),
            alpn: session.alpn_protocol().map(<[u8]>::to_vec),
            client_certs: session
                .peer_certificates()
                .map(<[CertificateDer<'static>]>::to_vec)
                .unwrap_or_default(),
        };
        self.log.lock().expect("log lock").sessions.push(seen);
        self.done.send_modify(|n| *n += 1);
        let Conn {
            log, body, name, ..
        } = self;
        let svc = service_fn(move |req| {
            let (log, body, name) = (log.clone(), body.clone(), name.clone());
            async move { Ok::<_, Infallible>(answer(req, &log, body, name).await) }
        });
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), svc)
            .await;
    }
}

async fn answer(
    req: http::Request<Incoming>,
    log: &Mutex<Log>,
    body: Bytes,
    name: HeaderValue,
) -> http::Response<Full<Bytes>> {
    let authority = req.uri().authority().map(|a| a.to_string()).or_else(|| {
        req.headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let version = req.version();
    let scheme = req.uri().scheme_str().map(str::to_string);
    let received = req.into_body().collect().await;
    let recorded = TlsRequest {
        uri,
        version,
        authority,
        scheme,
        body: received.map(|b| b.to_bytes()).unwrap_or_default(),
    };
    log.lock().expect("log lock").requests.push(recorded);
    let mut resp = http::Response::new(Full::new(body));
    resp.headers_mut().insert("x-backend", name);
    resp
}

/// A server configuration presenting `leaf` that requires a client certificate issued by
/// `client_ca` (for MUTUAL origination), offering `alpn`.
pub fn mutual_config(
    leaf: &crate::pki::Leaf,
    client_ca: &crate::pki::Ca,
    alpn: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(client_ca.der().clone())
        .expect("CA is a trust anchor");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![leaf.der.clone()], leaf.private_key())
        .expect("server certificate");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}
