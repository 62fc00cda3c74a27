//! `LoadBalancerSettings` of a DestinationRule traffic policy (destination_rule.proto):
//! simple and consistent-hash policies, locality settings and warm-up.
//!
//! Receives: `trafficPolicy.loadBalancer` objects (via serde). Hands on: typed settings for
//! validation and `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings.SimpleLB`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimpleLb {
    /// Istio default (LEAST_REQUEST).
    #[default]
    Unspecified,
    /// Deprecated alias of LEAST_REQUEST.
    LeastConn,
    /// Random pick.
    Random,
    /// Original destination.
    Passthrough,
    /// Round robin.
    RoundRobin,
    /// Least request (power of two choices).
    LeastRequest,
}

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LoadBalancerSettings {
    /// `simple`.
    pub simple: Option<SimpleLb>,
    /// `consistentHash`.
    pub consistent_hash: Option<ConsistentHashLb>,
    /// `localityLbSetting`.
    pub locality_lb_setting: Option<LocalityLoadBalancerSetting>,
    /// `zoneAwareLbSetting`.
    pub zone_aware_lb_setting: Option<ZoneAwareLoadBalancerSetting>,
    /// `warmupDurationSecs`: deprecated warm-up duration.
    pub warmup_duration_secs: Option<String>,
    /// `warmup`: slow start for new endpoints.
    pub warmup: Option<WarmupConfiguration>,
}

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings.ConsistentHashLB`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConsistentHashLb {
    /// `httpHeaderName`: hash on a header.
    pub http_header_name: Option<String>,
    /// `httpCookie`: hash on a cookie.
    pub http_cookie: Option<HttpCookie>,
    /// `useSourceIp`: hash on the client IP.
    pub use_source_ip: Option<bool>,
    /// `httpQueryParameterName`: hash on a query parameter.
    pub http_query_parameter_name: Option<String>,
    /// `ringHash`: ring-hash algorithm.
    pub ring_hash: Option<RingHash>,
    /// `maglev`: maglev algorithm.
    pub maglev: Option<MagLev>,
    /// `minimumRingSize`: deprecated.
    pub minimum_ring_size: Option<u64>,
}

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings.ConsistentHashLB.RingHash`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RingHash {
    /// `minimumRingSize`.
    pub minimum_ring_size: Option<u64>,
}

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings.ConsistentHashLB.MagLev`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct MagLev {
    /// `tableSize`: prime.
    pub table_size: Option<u64>,
}

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings.ConsistentHashLB.HTTPCookie`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpCookie {
    /// `name` (required).
    pub name: String,
    /// `path`.
    pub path: Option<String>,
    /// `ttl`: cookie lifetime (duration).
    pub ttl: Option<String>,
    /// `attributes`.
    pub attributes: Vec<CookieAttribute>,
}

/// Mirrors `istio.networking.v1alpha3.LoadBalancerSettings.ConsistentHashLB.HTTPCookie.Attribute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CookieAttribute {
    /// `name` (required).
    pub name: String,
    /// `value`.
    pub value: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.WarmupConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct WarmupConfiguration {
    /// `duration` (required).
    pub duration: Option<String>,
    /// `minimumPercent` (default 10).
    pub minimum_percent: Option<f64>,
    /// `aggression` (default 1.0).
    pub aggression: Option<f64>,
}

/// Mirrors `istio.networking.v1alpha3.LocalityLoadBalancerSetting`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LocalityLoadBalancerSetting {
    /// `distribute`.
    pub distribute: Vec<LocalityDistribute>,
    /// `failover`.
    pub failover: Vec<LocalityFailover>,
    /// `failoverPriority`.
    pub failover_priority: Vec<String>,
    /// `enabled`.
    pub enabled: Option<bool>,
}

/// Mirrors `istio.networking.v1alpha3.LocalityLoadBalancerSetting.Distribute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LocalityDistribute {
    /// `from`: origin locality.
    pub from: String,
    /// `to`: locality → weight.
    pub to: BTreeMap<String, u32>,
}

/// Mirrors `istio.networking.v1alpha3.LocalityLoadBalancerSetting.Failover`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LocalityFailover {
    /// `from`: region.
    pub from: String,
    /// `to`: region.
    pub to: String,
}

/// Mirrors `istio.networking.v1alpha3.ZoneAwareLoadBalancerSetting`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ZoneAwareLoadBalancerSetting {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `failover`.
    pub failover: Vec<LocalityFailover>,
    /// `failoverPriority`.
    pub failover_priority: Vec<String>,
    /// `minClusterSize`.
    pub min_cluster_size: Option<u64>,
}
