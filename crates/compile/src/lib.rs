//! Compilation: validated Istio resources → the immutable [`rampart_model::Snapshot`].
//!
//! Receives a [`rampart_config::ConfigSet`] (already validated field by field) and the proxy's
//! own identity (labels, namespace, bind address). Resolves names with Istio's short-name rules,
//! binds VirtualServices to this proxy's Gateway servers, merges them per host in load order,
//! compiles matchers and regexes, and builds the clusters that routes refer to. Problems that need
//! more than one resource to see (a field Rampart does not implement yet, a destination port that
//! is ambiguous) come back as diagnostics with file, line and field path.

mod clusters;
mod cors;
mod credentials;
mod dump;
pub mod explain;
mod gateways;
mod health_checks;
mod hosts;
mod l4_routes;
mod limits;
mod locality;
mod matches;
mod pool_policy;
mod rate_limits;
mod resilience;
mod routes;
mod security;
mod server_tls;
mod services;
mod stats;
mod telemetry;
mod unsupported;
mod upstream_tls;

use std::collections::BTreeMap;
use std::net::IpAddr;

use rampart_config::{ConfigSet, Diagnostic};
use rampart_model::Snapshot;

/// Who this proxy is: Gateways and policies are applied when their selectors match.
#[derive(Clone, Debug)]
pub struct ProxyIdentity {
    /// Workload labels (`istio=ingressgateway` for `rampart run` by default).
    pub labels: BTreeMap<String, String>,
    /// Namespace of the proxy workload (for `sourceNamespace` matches).
    pub namespace: String,
    /// Address listeners bind (Gateway `bind` overrides it per server).
    pub bind: IpAddr,
    /// `region/zone/subzone` of the proxy, for locality-aware load balancing.
    pub locality: Option<String>,
    /// Directory of named credentials (`credentialName`), see [`credentials`].
    pub credentials: std::path::PathBuf,
}

/// Where `credentialName`s are looked up unless `--credentials` says otherwise.
pub const DEFAULT_CREDENTIALS_DIR: &str = "/etc/rampart/credentials";

impl Default for ProxyIdentity {
    fn default() -> Self {
        Self {
            labels: BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]),
            namespace: "istio-system".to_string(),
            bind: IpAddr::from([0, 0, 0, 0]),
            locality: None,
            credentials: DEFAULT_CREDENTIALS_DIR.into(),
        }
    }
}

/// The result of compiling: a snapshot, and every problem found. The snapshot must not be served
/// when any diagnostic is an error.
#[derive(Debug)]
pub struct Compiled {
    /// The compiled configuration (version 0: the caller numbers it).
    pub snapshot: Snapshot,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compiles `set` for a proxy with identity `me`.
pub fn compile(set: &ConfigSet, me: &ProxyIdentity) -> Compiled {
    let mut diags = Vec::new();
    unsupported::check(set, &mut diags);
    limits::check(set, &mut diags);
    health_checks::check_targets(set, &mut diags);
    let services = services::Registry::build(set, &me.namespace, &mut diags);
    let mut clusters = clusters::Builder::new(set, &services, me);
    let mut stats = stats::StatTable::new();
    let listeners = gateways::build(set, me, &mut clusters, &mut stats, &mut diags);
    let authorization = security::authorization(set, me, &mut clusters, &mut diags);
    let (clusters, files) = clusters.finish(&mut diags);
    let jwt_rules = security::jwt_rules(set, me);
    let telemetry = telemetry::settings(set, me);
    let mut dump = dump::render(set, &listeners, &clusters);
    dump["security"] = dump::security(&jwt_rules, &authorization);
    dump["telemetry"] = serde_json::json!({
        "accessLogging": telemetry.access_logging,
        "tracingSamplingPercent": telemetry.tracing_sampling,
    });
    let snapshot = Snapshot {
        version: 0,
        listeners,
        clusters,
        stat_keys: stats.into_keys(),
        jwt_rules,
        authorization,
        access_logging: telemetry.access_logging,
        tracing_sampling: telemetry.tracing_sampling,
        files,
        dump,
    };
    Compiled {
        snapshot,
        diagnostics: diags,
    }
}

#[cfg(test)]
mod tests;
