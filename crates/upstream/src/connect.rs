//! Opening connections to endpoints: TCP, then TLS when the cluster originates it
//! (DestinationRule `trafficPolicy.tls`), together bounded by the cluster's connect timeout.

use rampart_model::upstream_tls::UpstreamTls;
use rampart_model::ClusterSpec;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::error::{Error, TlsFailure};
use crate::stream::{Stream, TlsTcp};

/// A connection ready for requests: TCP, plus the cluster's TLS handshake when it has one, both
/// within the connect timeout. A failed handshake is a connect failure (Envoy raises
/// "connected" only once the handshake is done), so retries (`connect-failure`), outlier
/// detection and the `UF` flag treat it as a refused connection.
pub async fn dial(addr: SocketAddr, spec: &ClusterSpec) -> Result<Stream, Error> {
    let deadline = Instant::now() + spec.connect_timeout;
    let tcp = connect(addr, spec).await?;
    match &spec.tls {
        None => Ok(Stream::Plain(tcp)),
        Some(tls) => handshake(tcp, tls, tls.config.clone(), deadline)
            .await
            .map(Stream::Tls),
    }
}

/// The client side of a TLS handshake on `tcp` with `tls`'s server name and `config` (the
/// cluster's, or a variant of it), finished by `deadline`.
pub async fn handshake(
    tcp: TcpStream,
    tls: &UpstreamTls,
    config: Arc<rustls::ClientConfig>,
    deadline: Instant,
) -> Result<TlsTcp, Error> {
    let peer = tcp.peer_addr().ok();
    let connecting = TlsConnector::from(config).connect(tls.server_name.clone(), tcp);
    let reason = match tokio::time::timeout_at(deadline, connecting).await {
        Ok(Ok(stream)) => return Ok(Box::new(stream)),
        Ok(Err(err)) => err.to_string(),
        Err(_) => "handshake timed out".to_string(),
    };
    tracing::debug!(?peer, sni = %tls.server_name_str(), %reason, "upstream TLS handshake failed");
    Err(Error::ConnectFailure(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        TlsFailure(reason.into()),
    )))
}

/// Connects to `addr` within the cluster's connect timeout, with Nagle off (requests are small
/// and latency-bound) and the cluster's TCP keep-alive settings.
pub async fn connect(addr: SocketAddr, spec: &ClusterSpec) -> Result<TcpStream, Error> {
    let timeout = spec.connect_timeout;
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Err(Error::ConnectFailure(err)),
        Err(_) => {
            return Err(Error::ConnectFailure(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timeout",
            )))
        }
    };
    // Best effort: a socket that refuses TCP_NODELAY or keep-alive settings still works.
    let _ = stream.set_nodelay(true);
    if let Some(ka) = spec.pool.tcp_keepalive {
        let mut keepalive = socket2::TcpKeepalive::new();
        if let Some(time) = ka.time {
            keepalive = keepalive.with_time(time);
        }
        if let Some(interval) = ka.interval {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(probes) = ka.probes {
            keepalive = keepalive.with_retries(probes);
        }
        if let Err(err) = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive) {
            tracing::debug!(%addr, error = %err, "cannot set TCP keep-alive");
        }
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rampart_model::{
        ClusterKey, ClusterSpec, LbPolicy, PoolSettings, TcpKeepalive, UpstreamProtocol,
    };

    use rampart_testkit::pki::Ca;
    use rampart_testkit::tls_backend::TlsBackend;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn spec(keepalive: Option<TcpKeepalive>) -> ClusterSpec {
        ClusterSpec {
            key: ClusterKey {
                host: "a".into(),
                port: 80,
                subset: None,
            },
            endpoints: Vec::new(),
            lb: LbPolicy::RoundRobin,
            protocol: UpstreamProtocol::Http1,
            connect_timeout: Duration::from_secs(1),
            dns_refresh: Duration::from_secs(5),
            pool: PoolSettings {
                tcp_keepalive: keepalive,
                ..PoolSettings::default()
            },
            outlier: None,
            health_check: None,
            tls: None,
        }
    }

    #[tokio::test]
    async fn tcp_keepalive_settings_reach_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let plain = connect(addr, &spec(None)).await.unwrap();
        assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());
        let ka = TcpKeepalive {
            probes: Some(3),
            time: Some(Duration::from_secs(30)),
            interval: Some(Duration::from_secs(5)),
        };
        let stream = connect(addr, &spec(Some(ka))).await.unwrap();
        let sock = socket2::SockRef::from(&stream);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
        assert!(stream.nodelay().unwrap());
    }

    /// `spec(None)` originating TLS to `name`, trusting `ca`.
    fn tls_spec(ca: &Ca, name: &str, timeout: Duration) -> ClusterSpec {
        let mut spec = spec(None);
        spec.tls = Some(crate::test_support::tls(ca, name, &[b"http/1.1"], 1));
        spec.connect_timeout = timeout;
        spec
    }

    /// Reads until `buf` holds `needle` (or the stream ends).
    async fn read_until(stream: &mut Stream, needle: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(needle.len()).any(|w| w == needle) {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before {needle:?}: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
        buf
    }

    #[tokio::test]
    async fn tls_follows_the_connect_with_sni_and_alpn() {
        let ca = Ca::new("upstream-ca");
        let config = ca
            .server(&["app.test"])
            .server_config(&[b"h2", b"http/1.1"]);
        let backend = TlsBackend::start("over-tls", config).await;
        let spec = tls_spec(&ca, "app.test", Duration::from_secs(5));
        let mut stream = dial(backend.addr, &spec).await.unwrap();
        assert!(stream.is_tls());
        stream
            .write_all(b"GET /x HTTP/1.1\r\nhost: app.test\r\n\r\n")
            .await
            .unwrap();
        let answer = read_until(&mut stream, b"over-tls").await;
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        let session = &backend.sessions()[0];
        assert_eq!(session.sni.as_deref(), Some("app.test"));
        assert_eq!(session.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert!(session.client_certs.is_empty());
    }

    #[tokio::test]
    async fn plain_clusters_stay_plain() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = dial(listener.local_addr().unwrap(), &spec(None))
            .await
            .unwrap();
        assert!(!stream.is_tls());
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_a_connect_failure_with_the_tls_reason() {
        let ca = Ca::new("upstream-ca");
        let stranger = Ca::new("stranger").server(&["app.test"]);
        let backend = TlsBackend::start("b", stranger.server_config(&[])).await;
        let spec = tls_spec(&ca, "app.test", Duration::from_secs(5));
        let err = dial(backend.addr, &spec).await.unwrap_err();
        assert!(matches!(err, Error::ConnectFailure(_)), "{err:?}");
        assert!(err.before_request_sent());
        assert_eq!(
            err.to_string(),
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure, \
             transport failure reason: TLS_error:|invalid peer certificate: UnknownIssuer:TLS_error_end"
        );
        backend.handshakes_done(1).await;
        assert!(backend.requests().is_empty());
    }

    #[tokio::test]
    async fn a_name_the_certificate_lacks_fails_the_handshake() {
        let ca = Ca::new("upstream-ca");
        let backend = TlsBackend::start("b", ca.server(&["other.test"]).server_config(&[])).await;
        let spec = tls_spec(&ca, "app.test", Duration::from_secs(5));
        let err = dial(backend.addr, &spec).await.unwrap_err().to_string();
        assert!(
            err.contains("certificate not valid for name \"app.test\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_fails_the_handshake_at_the_connect_timeout() {
        // Accepted by the kernel (backlog), never answered: the TLS handshake hangs.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ca = Ca::new("upstream-ca");
        let spec = tls_spec(&ca, "app.test", Duration::from_millis(100));
        let err = dial(listener.local_addr().unwrap(), &spec)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("TLS_error:|handshake timed out:TLS_error_end"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_idle_tls_connection_is_quiet_until_the_server_closes_it() {
        let ca = Ca::new("upstream-ca");
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server(&["app.test"]).server_config(&[]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (close, closed) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let _ = closed.await;
            tls.shutdown().await.unwrap();
        });
        let spec = tls_spec(&ca, "app.test", Duration::from_secs(5));
        let mut stream = dial(addr, &spec).await.unwrap();
        let mut buf = bytes::BytesMut::with_capacity(1024);
        assert!(stream.is_quiet(&mut buf));
        close.send(()).unwrap();
        server.await.unwrap();
        // Session tickets may arrive first (they are consumed, the stream stays quiet); the
        // close_notify ends it.
        loop {
            let Stream::Tls(tls) = &stream else {
                panic!("TLS")
            };
            tls.get_ref().0.readable().await.unwrap();
            if !stream.is_quiet(&mut buf) {
                break;
            }
        }
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(matches!(
            connect(addr, &spec(None)).await,
            Err(Error::ConnectFailure(_))
        ));
    }
}
