//! The compiled configuration: what the data plane runs.
//!
//! `compile` builds a [`Snapshot`] from validated Istio resources; the proxy reads it through an
//! `ArcSwap` once per request. Everything here is already parsed, resolved, ordered and indexed:
//! nothing on the request path parses a string or builds a regex.

pub mod authn;
pub mod authz;
pub mod cidr;
pub mod cluster;
pub mod listener;
pub mod rate_limit;
pub mod route;
pub mod snapshot;
pub mod tcp;
pub mod tls;
pub mod upstream_tls;

pub use cluster::{
    ClusterId, ClusterKey, ClusterSpec, EndpointAddress, EndpointSpec, HashKey, HealthCheckSpec,
    HealthProbe, LbPolicy, OutlierSpec, PoolSettings, RetryBudget, TcpKeepalive, UpstreamProtocol,
    UNLIMITED,
};
pub use listener::{ChainApp, Listener, ServerName, TlsChain, TlsChains, Transport};
pub use snapshot::Snapshot;
