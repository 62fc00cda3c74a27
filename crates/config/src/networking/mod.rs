//! Typed Istio `networking.istio.io` specs, mirroring Istio's fields exactly (camelCase in YAML,
//! unknown fields rejected).
//!
//! Receives: `serde_json::Value` specs from the loader. Hands on: the spec types stored in
//! [`crate::Resource`], read by `validate` and by `compile`.

mod common;
mod destination_rule;
mod gateway;
mod http;
mod load_balancer;
mod service_entry;
mod virtual_service;
mod workload_entry;

pub use common::*;
pub use destination_rule::*;
pub use gateway::*;
pub use http::*;
pub use load_balancer::*;
pub use service_entry::*;
pub use virtual_service::*;
pub use workload_entry::*;
