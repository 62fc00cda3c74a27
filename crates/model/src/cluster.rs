//! Upstream clusters as compiled settings: which endpoints, which load balancer, which protocol.
//!
//! A cluster is Istio's `(service host, port, subset)`; its runtime state (pools, counters) lives
//! in `upstream`, keyed by [`ClusterKey`] so that it survives reloads.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

/// Index of a cluster in [`crate::Snapshot::clusters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClusterId(pub u32);

/// Stable identity of a cluster across snapshots: Istio's `outbound|port|subset|host`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterKey {
    /// Registry host (ServiceEntry host, fully qualified).
    pub host: Arc<str>,
    /// Service port number.
    pub port: u16,
    /// DestinationRule subset name, if any.
    pub subset: Option<Arc<str>>,
}

impl fmt::Display for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subset = self.subset.as_deref().unwrap_or("");
        write!(f, "outbound|{}|{}|{}", self.port, subset, self.host)
    }
}

/// Compiled settings of one cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Stable identity.
    pub key: ClusterKey,
    /// Endpoints selected by the subset's labels, in registry order.
    pub endpoints: Vec<EndpointSpec>,
    /// Load-balancing policy (DestinationRule `trafficPolicy.loadBalancer`).
    pub lb: LbPolicy,
    /// HTTP version spoken to the endpoints.
    pub protocol: UpstreamProtocol,
    /// TCP connect timeout (`connectionPool.tcp.connectTimeout`, default 10s).
    pub connect_timeout: Duration,
    /// How often DNS endpoints are resolved again.
    pub dns_refresh: Duration,
}

/// One endpoint of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSpec {
    /// Where to connect.
    pub address: EndpointAddress,
    /// Load-balancing weight (WorkloadEntry `weight`, default 1).
    pub weight: u32,
    /// Endpoint labels (used for subsets; shown in `/clusters`).
    pub labels: BTreeMap<String, String>,
}

/// An endpoint address: an IP socket, or a DNS name resolved at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndpointAddress {
    /// A literal IP and port.
    Socket(SocketAddr),
    /// A name resolved by the upstream resolver (ServiceEntry `resolution: DNS`).
    Dns {
        /// Host name to resolve.
        host: Arc<str>,
        /// Port to connect to.
        port: u16,
    },
}

impl fmt::Display for EndpointAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(addr) => write!(f, "{addr}"),
            Self::Dns { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Load-balancing policy (Istio `LoadBalancerSettings`).
#[derive(Clone, Debug, PartialEq)]
pub enum LbPolicy {
    /// `ROUND_ROBIN`: weighted round robin.
    RoundRobin,
    /// `LEAST_REQUEST` (Istio's default): power of two choices on active requests.
    LeastRequest,
    /// `RANDOM`: weighted random.
    Random,
    /// `consistentHash` with a ring (`ringHash`, the default hash algorithm).
    RingHash {
        /// What to hash.
        key: HashKey,
        /// `ringHash.minimumRingSize` (default 1024).
        min_ring_size: u32,
    },
    /// `consistentHash` with `maglev`.
    Maglev {
        /// What to hash.
        key: HashKey,
        /// `maglev.tableSize` (prime, default 65537).
        table_size: u32,
    },
}

/// What a consistent-hash load balancer hashes.
#[derive(Clone, Debug, PartialEq)]
pub enum HashKey {
    /// `httpHeaderName`.
    Header(HeaderName),
    /// `httpCookie`: the cookie's value; generated with `ttl` when absent and a ttl is set.
    Cookie {
        /// Cookie name.
        name: Arc<str>,
        /// Cookie path attribute.
        path: Option<Arc<str>>,
        /// Cookie lifetime; `None` means never generate it.
        ttl: Option<Duration>,
    },
    /// `useSourceIp`.
    SourceIp,
    /// `httpQueryParameterName`.
    QueryParam(Arc<str>),
}

/// HTTP version used towards the endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2 (prior knowledge): `GRPC`/`HTTP2` ports or `h2UpgradePolicy: UPGRADE`.
    Http2,
}
