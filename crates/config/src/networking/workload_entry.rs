//! `WorkloadEntry` spec type (networking.istio.io), as in workload_entry.proto; also the element
//! type of `ServiceEntry.endpoints`.
//!
//! Receives: a WorkloadEntry `spec` or an endpoint object (via serde). Hands on: a typed endpoint.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Mirrors `istio.networking.v1alpha3.WorkloadEntry`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct WorkloadEntry {
    /// `address`: IP, FQDN or `unix:///path`.
    pub address: Option<String>,
    /// `ports`: service port name → endpoint port.
    pub ports: BTreeMap<String, u32>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `network`.
    pub network: Option<String>,
    /// `locality`: `region/zone/subzone`.
    pub locality: Option<String>,
    /// `weight`: LB weight.
    pub weight: Option<u32>,
    /// `serviceAccount`.
    pub service_account: Option<String>,
}
