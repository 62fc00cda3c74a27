//! Upstreams: everything after the route picked a cluster.
//!
//! Receives compiled [`rampart_model::ClusterSpec`]s; hands back, per request, an endpoint chosen
//! by the cluster's load balancer and a pooled HTTP connection to it. State here outlives
//! configuration snapshots: the [`Registry`] keeps clusters (and their endpoints' pools) by
//! [`rampart_model::ClusterKey`], so a reload does not drop pooled connections of unchanged
//! clusters.

pub mod body;
pub mod cluster;
pub mod connect;
pub mod endpoint;
pub mod error;
pub mod h1;
pub mod health_check;
pub mod lb;
pub mod load;
pub mod outlier;
pub mod pool;
pub mod priority;
pub mod reap;
pub mod registry;
pub mod resolve;
pub mod stream;
pub mod tcp;
pub mod worker;

#[cfg(test)]
mod test_support;

pub use body::{Activity, BodyError, ClientBody, PooledBody, Recorder, Recording, RequestBody};
pub use cluster::{Cluster, ClusterState, Conn, SendError};
pub use endpoint::Endpoint;
pub use error::Error;
pub use load::{ClusterLoad, Overflow};
pub use registry::Registry;
