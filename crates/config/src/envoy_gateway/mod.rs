//! Typed Envoy Gateway `gateway.envoyproxy.io/v1alpha1` specs that Rampart reads next to Istio's:
//! only `BackendTrafficPolicy`, and from it active health checks and rate limits (Istio has no
//! field for them). Field names mirror Envoy Gateway's API (camelCase in YAML, unknown fields rejected);
//! Envoy Gateway features that Istio already covers are kept as opaque values so validation can
//! name them and point to the Istio field to use instead.
//!
//! Receives: `serde_json::Value` specs from the loader. Hands on: the spec types stored in
//! [`crate::Resource`], read by `validate` and by `compile` (through the defaulting accessors,
//! e.g. [`ActiveHealthCheck::timeout`]).

mod backend_traffic_policy;
mod health_check;
mod rate_limit;

pub use backend_traffic_policy::*;
pub use health_check::*;
pub use rate_limit::*;
