//! Raw TCP connections for layer-4 proxying (VirtualService `tcp` and `tls` routes).
//!
//! Receives a cluster's current state and the client's address; hands back a connected
//! [`TcpUpstream`] to an endpoint the cluster's balancer chose among its routable (healthy,
//! not ejected) endpoints. The connection holds one of the cluster's `maxConnections` slots until
//! it is dropped. As Envoy's `tcp_proxy` does by default (`max_connect_attempts: 1`), one
//! connect is attempted, and its outcome is reported to outlier detection: a failure as a
//! locally originated error, a success as a final connect success. Connections are not pooled.
//! A cluster that originates TLS (DestinationRule `tls`) gets TLS here too, as Envoy's
//! `tcp_proxy` does: the client's bytes travel inside the gateway's own TLS session.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rampart_model::{ClusterSpec, HashKey, LbPolicy};

use crate::cluster::{Cluster, ClusterState};
use crate::connect::dial;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::lb::stable_hash;
use crate::load::ConnSlot;
use crate::outlier::Outcome;

/// A connected upstream for one proxied connection.
#[derive(Debug)]
pub struct TcpUpstream {
    /// The connection (plain TCP, or TLS when the cluster originates it).
    pub stream: crate::stream::Stream,
    endpoint: Arc<Endpoint>,
    /// Frees the cluster's connection slot when the connection is dropped.
    _slot: ConnSlot,
}

impl TcpUpstream {
    /// The endpoint connected to.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }
}

/// Why no upstream connection was made; each is one Envoy response flag.
#[derive(Debug, thiserror::Error)]
pub enum TcpConnectError {
    /// The cluster has no routable endpoint (`UH`).
    #[error("no healthy upstream")]
    NoHealthyUpstream,
    /// The cluster already has `maxConnections` open (`UO`, `upstream_cx_overflow`).
    #[error("upstream connection limit reached")]
    Overflow,
    /// The connect to this endpoint failed or timed out (`UF`).
    #[error("connect to {} failed: {source}", .endpoint.address)]
    ConnectFailure {
        /// The endpoint tried.
        endpoint: Arc<Endpoint>,
        /// The cause.
        source: io::Error,
    },
}

impl Cluster {
    /// Picks an endpoint for a connection from `client` (hashed by its address when the cluster
    /// balances by `consistentHash.useSourceIp`), takes a connection slot and connects once.
    pub async fn connect_tcp(
        &self,
        state: &ClusterState,
        client: IpAddr,
    ) -> Result<TcpUpstream, TcpConnectError> {
        let endpoint = self
            .pick(state, source_hash(&state.spec, client))
            .map_err(|_| TcpConnectError::NoHealthyUpstream)?;
        if !self.load.try_open(state.spec.pool.max_connections) {
            return Err(TcpConnectError::Overflow);
        }
        let slot = ConnSlot::new(&endpoint);
        match dial(endpoint.address, &state.spec).await {
            Ok(stream) => {
                endpoint.connections.fetch_add(1, Ordering::Relaxed);
                // Envoy's `LocalOriginConnectSuccessFinal`: a success (200) for the streaks.
                self.record_outcome(state, &endpoint, Outcome::Response(200));
                Ok(TcpUpstream {
                    stream,
                    endpoint,
                    _slot: slot,
                })
            }
            Err(err) => {
                endpoint.connect_failures.fetch_add(1, Ordering::Relaxed);
                self.record_outcome(state, &endpoint, Outcome::LocalFailure);
                let source = match err {
                    Error::ConnectFailure(io) => io,
                    other => io::Error::other(other),
                };
                Err(TcpConnectError::ConnectFailure { endpoint, source })
            }
        }
    }
}

/// The client address hash, when the cluster balances by it (Istio sets the `tcp_proxy` hash
/// policy only for `useSourceIp`; other keys do not exist in a TCP stream, so the balancer
/// picks at random, as Envoy's does without a hash).
fn source_hash(spec: &ClusterSpec, client: IpAddr) -> Option<u64> {
    match &spec.lb {
        LbPolicy::RingHash {
            key: HashKey::SourceIp,
            ..
        }
        | LbPolicy::Maglev {
            key: HashKey::SourceIp,
            ..
        } => Some(match client.to_canonical() {
            IpAddr::V4(ip) => stable_hash(&ip.octets()),
            IpAddr::V6(ip) => stable_hash(&ip.octets()),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{outlier, spec};

    fn client() -> IpAddr {
        IpAddr::from([10, 0, 0, 1])
    }

    #[tokio::test]
    async fn max_connections_bounds_open_upstreams() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut s = spec(&[port]);
        s.pool.max_connections = 1;
        let cluster = Cluster::new(s, 1);
        let first = cluster
            .connect_tcp(&cluster.state(), client())
            .await
            .unwrap();
        assert_eq!(first.endpoint().address.port(), port);
        assert!(matches!(
            cluster.connect_tcp(&cluster.state(), client()).await,
            Err(TcpConnectError::Overflow)
        ));
        assert_eq!(cluster.load.stats.cx_overflow.load(Ordering::Relaxed), 1);
        drop(first);
        assert!(cluster
            .connect_tcp(&cluster.state(), client())
            .await
            .is_ok());
        assert_eq!(cluster.load.connections(), 0, "every slot given back");
    }

    #[tokio::test]
    async fn connect_failures_count_towards_ejection() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut s = spec(&[refused]);
        s.outlier = Some(outlier(2, 100));
        let cluster = Cluster::new(s, 1);
        for _ in 0..2 {
            let err = cluster.connect_tcp(&cluster.state(), client()).await;
            assert!(matches!(err, Err(TcpConnectError::ConnectFailure { .. })));
        }
        let ep = cluster.state().endpoints[0].clone();
        assert!(ep.health.is_ejected());
        assert_eq!(ep.connect_failures.load(Ordering::Relaxed), 2);
        assert!(matches!(
            cluster.connect_tcp(&cluster.state(), client()).await,
            Err(TcpConnectError::NoHealthyUpstream)
        ));
        assert_eq!(cluster.load.connections(), 0);
    }

    #[test]
    fn only_source_ip_hashing_applies_to_tcp() {
        let mut s = spec(&[1]);
        assert_eq!(source_hash(&s, client()), None);
        s.lb = LbPolicy::RingHash {
            key: HashKey::SourceIp,
            min_ring_size: 1024,
        };
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(source_hash(&s, client()), source_hash(&s, mapped));
        assert!(source_hash(&s, client()).is_some());
    }
}
