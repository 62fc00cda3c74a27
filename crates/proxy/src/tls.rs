//! TLS listeners: read the ClientHello, let its SNI pick the chain (Envoy's filter-chain match),
//! then either pass the encrypted stream through untouched or terminate TLS with the chain's
//! certificate and serve HTTP (ALPN `h2` or HTTP/1.1) or TCP on the decrypted stream.
//!
//! The ClientHello is read, not peeked, so that a slow client cannot make the loop spin; the
//! bytes read are replayed to the handshake (or to the upstream, for passthrough) by [`Replay`].

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use rampart_model::{ChainApp, TlsChains};
use rampart_tls::client_hello::{self, Peek};
use rampart_tls::peer::PeerCert;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::codec::{self, Protocol};
use crate::headers::Refusal;
use crate::request::ConnCx;

/// `x-forwarded-client-cert`: Envoy's header describing the client certificate.
pub const X_FORWARDED_CLIENT_CERT: &str = "x-forwarded-client-cert";

/// Time allowed to read the ClientHello and finish the handshake when the request-head timeout
/// is off.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a terminated TLS session tells the request path and the access log.
#[derive(Debug)]
pub struct TlsInfo {
    /// The SNI the client sent (lower-case), which chose the chain.
    pub sni: Option<Arc<str>>,
    /// `TLSv1.3` / `TLSv1.2`.
    pub version: &'static str,
    /// The negotiated cipher suite (IANA name).
    pub cipher: &'static str,
    /// The verified client certificate (MUTUAL, OPTIONAL_MUTUAL with one presented).
    pub peer: Option<PeerCert>,
    /// The `x-forwarded-client-cert` value for that certificate.
    pub xfcc: Option<HeaderValue>,
}

/// Serves one connection on a TLS listener.
pub async fn serve(mut stream: TcpStream, mut cx: ConnCx, chains: Arc<TlsChains>) {
    let token = cx.clock.token().clone();
    let limit = cx
        .shared
        .options
        .request_headers_timeout
        .unwrap_or(HANDSHAKE_TIMEOUT);
    let read = tokio::time::timeout(limit, read_hello(&mut stream));
    let (hello, replay) = tokio::select! {
        read = read => match read {
            Ok(Ok(Some(read))) => read,
            Ok(Ok(None)) => return refuse(&cx, Refusal::TlsNoChain, "not a TLS ClientHello"),
            Ok(Err(_)) => return,
            Err(_) => return refuse(&cx, Refusal::TlsHandshake, "ClientHello timeout"),
        },
        () = token.cancelled() => return,
    };
    let sni: Option<Arc<str>> = hello.sni.map(Arc::from);
    let Some(chain) = chains.find(sni.as_deref()) else {
        return refuse(&cx, Refusal::TlsNoChain, "no server for this SNI");
    };
    let Some(tls) = chain.tls.clone() else {
        // Passthrough: the upstream gets the ClientHello and everything after it.
        if let ChainApp::Tcp(routes) = &chain.app {
            crate::tcp::serve(stream, replay.freeze(), cx, routes.clone(), sni).await;
        }
        return;
    };
    let app = match &chain.app {
        ChainApp::Http(_) => None,
        ChainApp::Tcp(routes) => Some(routes.clone()),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let handshake =
        tokio::time::timeout(limit, acceptor.accept(Replay::new(replay.freeze(), stream)));
    let tls_stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(s)) => s,
            Ok(Err(err)) => return refuse(&cx, Refusal::TlsHandshake, &err.to_string()),
            Err(_) => return refuse(&cx, Refusal::TlsHandshake, "handshake timeout"),
        },
        () = token.cancelled() => return,
    };
    let (_, session) = tls_stream.get_ref();
    let protocol = match session.alpn_protocol() {
        Some(b"h2") => Protocol::Http2,
        Some(_) => Protocol::Http1,
        None => Protocol::Unsure,
    };
    cx.tls = Some(Arc::new(session_info(session, sni.clone())));
    cx.scheme = "https";
    match app {
        None => codec::serve_io(tls_stream, protocol, cx).await,
        Some(routes) => crate::tcp::serve(tls_stream, Bytes::new(), cx, routes, sni).await,
    }
}

/// Reads until the ClientHello is complete; `None` when the bytes are not one.
async fn read_hello(
    stream: &mut TcpStream,
) -> io::Result<Option<(client_hello::ClientHello, BytesMut)>> {
    let mut buf = BytesMut::with_capacity(2048);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        match client_hello::peek(&buf) {
            Peek::Hello(hello) => return Ok(Some((hello, buf))),
            Peek::NeedMore => {}
            Peek::NotTls => return Ok(None),
        }
    }
}

fn session_info(session: &rustls::ServerConnection, sni: Option<Arc<str>>) -> TlsInfo {
    let peer = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| PeerCert::parse(leaf));
    let xfcc = peer
        .as_ref()
        .and_then(|p| HeaderValue::try_from(p.xfcc(None)).ok());
    TlsInfo {
        sni,
        version: match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        },
        cipher: session
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown"),
        peer,
        xfcc,
    }
}

/// Envoy's `SANITIZE_SET` (Istio's gateway default): a client's `x-forwarded-client-cert` is
/// never forwarded; the gateway sets its own for a verified client certificate.
pub fn set_client_cert(headers: &mut HeaderMap, tls: Option<&TlsInfo>) {
    // A client's own copy was removed with the edge sanitising (`headers::sanitize_request`).
    if let Some(v) = tls.and_then(|t| t.xfcc.clone()) {
        headers.insert(X_FORWARDED_CLIENT_CERT, v);
    }
}

#[cold]
fn refuse(cx: &ConnCx, reason: Refusal, why: &str) {
    cx.shared.count_refusal(reason);
    tracing::debug!(peer = %cx.peer, port = cx.port, why, "TLS connection closed");
}

/// A stream that yields `prefix` before reading from `inner`: bytes read to sniff TLS, or a
/// head the gateway's own HTTP/1.1 codec hands to hyper's.
pub struct Replay<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Replay<S> {
    /// `prefix` is read first, then `inner`.
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_prefix_is_read_before_the_stream() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut replayed = Replay::new(Bytes::from_static(b"hello"), server);
        let mut all = String::new();
        replayed.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }
}
