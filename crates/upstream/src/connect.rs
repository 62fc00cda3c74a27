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
