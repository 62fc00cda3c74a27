//! An HTTPS client for tests: one TLS connection (SNI, ALPN and client certificate as the
//! rustls configuration says), HTTP/1.1 or HTTP/2 per the negotiated ALPN, and what the server
//! presented.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

/// An established TLS connection with an HTTP client on it.
pub struct TlsConn {
    sender: Sender,
    /// The server's leaf certificate.
    pub server_cert: CertificateDer<'static>,
    /// The ALPN protocol the server chose.
    pub alpn: Option<Vec<u8>>,
    /// `TLSv1_2` / `TLSv1_3`.
    pub version: Option<rustls::ProtocolVersion>,
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A response, read whole.
#[derive(Debug)]
pub struct TlsResponse {
    /// Status.
    pub status: StatusCode,
    /// HTTP version of the response.
    pub version: Version,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Connects to `addr` sending SNI `sni` (an IP address sends none) and completes the handshake;
/// `Err` carries the TLS (or I/O) error text.
pub async fn connect(
    addr: SocketAddr,
    sni: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsConn, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(config)
        .connect(crate::pki::server_name(sni), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    let server_cert = session
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
        .ok_or("no server certificate")?;
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let version = session.protocol_version();
    let io = TokioIo::new(tls);
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Sender::H2(sender)
    } else {
        let (sender, conn) = http1::handshake(io).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Sender::H1(sender)
    };
    Ok(TlsConn {
        sender,
        server_cert,
        alpn,
        version,
    })
}

impl TlsConn {
    /// `GET path` with `Host: host` (`:authority` over HTTP/2) and extra `headers`.
    pub async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<TlsResponse, String> {
        let h2 = matches!(self.sender, Sender::H2(_));
        let mut req = Request::get(if h2 {
            format!("https://{host}{path}")
        } else {
            path.to_string()
        });
        if !h2 {
            req = req.header("host", host);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(TlsResponse {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }
}

/// One request on a new connection.
pub async fn get(
    addr: SocketAddr,
    sni: &str,
    config: Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<TlsResponse, String> {
    connect(addr, sni, config).await?.get(sni, path, &[]).await
}
