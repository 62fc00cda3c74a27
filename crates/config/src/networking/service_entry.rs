//! `ServiceEntry` spec types (networking.istio.io), field for field as in service_entry.proto.
//!
//! Receives: the `spec` of a ServiceEntry document (via serde). Hands on: registry entries
//! (hosts, ports, resolution, endpoints) for validation and `compile`.

use serde::Deserialize;

use super::common::WorkloadSelector;
use super::workload_entry::WorkloadEntry;

/// Mirrors `istio.networking.v1alpha3.ServiceEntry`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServiceEntry {
    /// `hosts` (required).
    pub hosts: Vec<String>,
    /// `addresses`: VIPs or CIDRs.
    pub addresses: Vec<String>,
    /// `ports`.
    pub ports: Vec<ServicePort>,
    /// `location` (default MESH_EXTERNAL).
    pub location: Option<Location>,
    /// `resolution` (default NONE).
    pub resolution: Option<Resolution>,
    /// `endpoints`.
    pub endpoints: Vec<WorkloadEntry>,
    /// `workloadSelector`.
    pub workload_selector: Option<WorkloadSelector>,
    /// `exportTo`.
    pub export_to: Vec<String>,
    /// `subjectAltNames`.
    pub subject_alt_names: Vec<String>,
}

/// Mirrors `istio.networking.v1alpha3.ServicePort`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServicePort {
    /// `number` (required).
    pub number: u32,
    /// `protocol` (case-insensitive).
    pub protocol: Option<String>,
    /// `name` (required).
    pub name: String,
    /// `targetPort`.
    pub target_port: Option<u32>,
}

/// Mirrors `istio.networking.v1alpha3.ServiceEntry.Location`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Location {
    /// Outside the mesh (enum default).
    #[default]
    MeshExternal,
    /// Part of the mesh.
    MeshInternal,
}

/// Mirrors `istio.networking.v1alpha3.ServiceEntry.Resolution`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Original destination (enum default).
    #[default]
    None,
    /// Static endpoint IPs.
    Static,
    /// Asynchronous DNS, all IPs.
    Dns,
    /// DNS, first IP per connection.
    DnsRoundRobin,
    /// Per-request DNS for wildcard hosts.
    DynamicDns,
}
