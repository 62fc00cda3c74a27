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
    /// Circuit-breaker thresholds and connection settings (`connectionPool`).
    pub pool: PoolSettings,
    /// Passive health checking (`outlierDetection`); `None` when the DestinationRule has none.
    pub outlier: Option<OutlierSpec>,
    /// Active health checking (a `BackendTrafficPolicy` that targets the service).
    pub health_check: Option<HealthCheckSpec>,
    /// TLS origination (DestinationRule `trafficPolicy.tls`); `None` speaks plain TCP.
    pub tls: Option<Arc<crate::upstream_tls::UpstreamTls>>,
}

/// Istio's "unlimited" circuit-breaker threshold (2^32 - 1).
pub const UNLIMITED: u32 = u32::MAX;

/// `connectionPool`: circuit-breaker thresholds (Envoy `circuit_breakers`) and connection
/// lifetime settings. Thresholds default to [`UNLIMITED`], as Istio sets them.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSettings {
    /// `tcp.maxConnections`: open connections to all endpoints together.
    pub max_connections: u32,
    /// `http.http1MaxPendingRequests`: requests waiting for a connection.
    pub max_pending_requests: u32,
    /// `http.http2MaxRequests`: requests in flight.
    pub max_requests: u32,
    /// `http.maxRetries`: retries in flight.
    pub max_retries: u32,
    /// `retryBudget`: retries in flight as a share of requests in flight.
    pub retry_budget: Option<RetryBudget>,
    /// `http.maxRequestsPerConnection`; 0 = unlimited.
    pub max_requests_per_connection: u32,
    /// `http.maxConcurrentStreams` on each HTTP/2 connection; 0 = the server's limit.
    pub max_concurrent_streams: u32,
    /// `http.idleTimeout`: close pooled connections idle this long (default 1h).
    pub idle_timeout: Duration,
    /// `tcp.idleTimeout`: close a TCP-proxied connection (`tcp`/`tls` routes) after this long
    /// without a byte either way (default 1h); `None` when `0s` turned it off.
    pub tcp_idle_timeout: Option<Duration>,
    /// `tcp.maxConnectionDuration`: stop reusing connections this old.
    pub max_connection_duration: Option<Duration>,
    /// `tcp.tcpKeepalive`.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `http.http2KeepAlive`: PING interval and timeout.
    pub http2_keepalive: Option<(Duration, Duration)>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: UNLIMITED,
            max_pending_requests: UNLIMITED,
            max_requests: UNLIMITED,
            max_retries: UNLIMITED,
            retry_budget: None,
            max_requests_per_connection: 0,
            max_concurrent_streams: 0,
            idle_timeout: Duration::from_secs(3600),
            tcp_idle_timeout: Some(Duration::from_secs(3600)),
            max_connection_duration: None,
            tcp_keepalive: None,
            http2_keepalive: None,
        }
    }
}

/// Envoy's `retry_budget`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    /// Retries in flight may be at most this percentage of requests in flight (default 20).
    pub percent: f64,
    /// ... but always at least this many (default 3).
    pub min_concurrency: u32,
}

/// `tcp.tcpKeepalive`; unset parts keep the OS defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TcpKeepalive {
    /// Probes before the connection is dropped.
    pub probes: Option<u32>,
    /// Idle time before the first probe.
    pub time: Option<Duration>,
    /// Time between probes.
    pub interval: Option<Duration>,
}

/// `outlierDetection` with Istio's defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierSpec {
    /// `consecutive5xxErrors` (default 5); 0 disables.
    pub consecutive_5xx: u32,
    /// `consecutiveGatewayErrors` (default off = 0).
    pub consecutive_gateway: u32,
    /// `consecutiveLocalOriginFailures` (default 5), used when `split_local_origin`.
    pub consecutive_local_origin: u32,
    /// `splitExternalLocalOriginErrors`.
    pub split_local_origin: bool,
    /// `interval` (default 10s): how often ejections are reviewed.
    pub interval: Duration,
    /// `baseEjectionTime` (default 30s), multiplied by the number of ejections.
    pub base_ejection_time: Duration,
    /// Cap on one ejection (Envoy `max_ejection_time`, 300s or the base time if larger).
    pub max_ejection_time: Duration,
    /// `maxEjectionPercent` (default 10).
    pub max_ejection_percent: u32,
    /// `minHealthPercent` (default 0): below it the balancer ignores health (panic mode).
    pub min_health_percent: u32,
    /// `outlierDetectionHttpErrorCodes`: statuses that count as errors (empty: every 5xx).
    pub error_codes: Box<[u16]>,
}

/// Active health checking of every endpoint of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheckSpec {
    /// What a probe does.
    pub probe: HealthProbe,
    /// Time between probes.
    pub interval: Duration,
    /// Limit on one probe.
    pub timeout: Duration,
    /// Failed probes in a row that make a healthy endpoint unhealthy.
    pub unhealthy_threshold: u32,
    /// Passed probes in a row that make an unhealthy endpoint healthy.
    pub healthy_threshold: u32,
    /// `namespace/name` of the policy, for `/clusters`.
    pub source: Arc<str>,
}

/// One kind of health probe.
#[derive(Clone, Debug, PartialEq)]
pub enum HealthProbe {
    /// An HTTP request whose response status must be one of `expected_statuses`.
    Http {
        /// Request method.
        method: http::Method,
        /// Request path.
        path: Arc<str>,
        /// `Host` header sent (the cluster's service host).
        host: Arc<str>,
        /// Statuses that count as healthy.
        expected_statuses: Box<[u16]>,
        /// Bytes the response body must contain, if any.
        expected_body: Option<bytes::Bytes>,
    },
    /// A TCP connect, optionally writing `send` and expecting `receive` back.
    Tcp {
        /// Payload written after connecting.
        send: Option<bytes::Bytes>,
        /// Payload the endpoint must answer with.
        receive: Option<bytes::Bytes>,
    },
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
    /// `region/zone/subzone`, when known.
    pub locality: Option<Arc<str>>,
    /// Failover priority: 0 is used first; higher ones take traffic as lower ones become
    /// unhealthy (Envoy priority levels, from `localityLbSetting`).
    pub priority: u32,
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
