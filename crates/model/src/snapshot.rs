//! The immutable snapshot swapped in atomically on every successful (re)load.

use crate::authn::JwtRule;
use crate::authz::Authorization;
use crate::cluster::{ClusterId, ClusterSpec};
use crate::listener::Listener;

/// Everything the data plane needs for one configuration version.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Monotonic version, incremented on every successful load.
    pub version: u64,
    /// Listeners to bind, by port.
    pub listeners: Vec<Listener>,
    /// Clusters, indexed by [`ClusterId`].
    pub clusters: Vec<ClusterSpec>,
    /// Labels of every stats handle that routes refer to by index; entry 0 is "no route".
    pub stat_keys: Vec<rampart_telemetry::StatKey>,
    /// JWT rules of every RequestAuthentication bound to this proxy, in load order.
    pub jwt_rules: Vec<JwtRule>,
    /// AuthorizationPolicies bound to this proxy.
    pub authorization: Authorization,
    /// Access logging as a `Telemetry` resource sets it: `Some(true)` on, `Some(false)` off,
    /// `None` as the command line says.
    pub access_logging: Option<bool>,
    /// Trace sampling percentage (0–100) from a `Telemetry` resource; `None`: the command line's.
    pub tracing_sampling: Option<f64>,
    /// Files outside the configuration that this snapshot was built from (certificates, keys,
    /// CA bundles, credential directories): a change to any of them reloads.
    pub files: Vec<std::path::PathBuf>,
    /// JSON rendering of the resources this snapshot was compiled from (`/config_dump`).
    pub dump: serde_json::Value,
}

impl Snapshot {
    /// The cluster with this id.
    pub fn cluster(&self, id: ClusterId) -> &ClusterSpec {
        &self.clusters[id.0 as usize]
    }
}
