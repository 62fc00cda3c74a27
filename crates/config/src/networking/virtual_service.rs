//! `VirtualService` spec types (networking.istio.io), field for field as in virtual_service.proto.
//!
//! Receives: the `spec` of a VirtualService document (via serde). Hands on: typed HTTP, TLS and TCP
//! routes for validation and `compile`. The HTTP route's policy pieces (redirect, retries, fault,
//! CORS, headers) live in [`super::http`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{Destination, Percent, StringMatch};
use super::http::{
    CorsPolicy, Headers, HttpDirectResponse, HttpFaultInjection, HttpRedirect, HttpRetry,
    HttpRewrite,
};

/// Mirrors `istio.networking.v1alpha3.VirtualService`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct VirtualService {
    /// `hosts`: destination hosts this VirtualService describes.
    pub hosts: Vec<String>,
    /// `gateways`: gateways (and/or `mesh`) the rules apply to.
    pub gateways: Vec<String>,
    /// `http`: ordered HTTP rules.
    pub http: Vec<HttpRoute>,
    /// `tls`: ordered TLS passthrough rules.
    pub tls: Vec<TlsRoute>,
    /// `tcp`: ordered TCP rules.
    pub tcp: Vec<TcpRoute>,
    /// `exportTo`: visibility.
    pub export_to: Vec<String>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPRoute`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpRoute {
    /// `name`: for logs.
    pub name: Option<String>,
    /// `match`: OR of match conditions; empty = match all.
    #[serde(rename = "match")]
    pub matches: Vec<HttpMatchRequest>,
    /// `route`: weighted destinations.
    pub route: Vec<HttpRouteDestination>,
    /// `redirect`: answer with a redirect.
    pub redirect: Option<HttpRedirect>,
    /// `directResponse`: answer with a fixed response.
    pub direct_response: Option<HttpDirectResponse>,
    /// `delegate`: take rules from another VirtualService.
    pub delegate: Option<Delegate>,
    /// `rewrite`: path/authority rewrite before forwarding.
    pub rewrite: Option<HttpRewrite>,
    /// `timeout`: whole-request timeout (duration string).
    pub timeout: Option<String>,
    /// `retries`: retry policy.
    pub retries: Option<HttpRetry>,
    /// `fault`: fault injection.
    pub fault: Option<HttpFaultInjection>,
    /// `mirror`: single mirror destination (deprecated form).
    pub mirror: Option<Destination>,
    /// `mirrors`: mirror destinations.
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// `mirrorPercent`: deprecated integer percentage for `mirror`.
    pub mirror_percent: Option<u32>,
    /// `mirrorPercentage`: percentage for `mirror`.
    pub mirror_percentage: Option<Percent>,
    /// `corsPolicy`: CORS.
    pub cors_policy: Option<CorsPolicy>,
    /// `headers`: header manipulation.
    pub headers: Option<Headers>,
}

/// Mirrors `istio.networking.v1alpha3.Delegate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Delegate {
    /// `name`: delegate VirtualService name.
    pub name: String,
    /// `namespace`: its namespace (default: the root's).
    pub namespace: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPMatchRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpMatchRequest {
    /// `name`: for logs.
    pub name: Option<String>,
    /// `uri`: path match.
    pub uri: Option<StringMatch>,
    /// `scheme`: scheme match.
    pub scheme: Option<StringMatch>,
    /// `method`: method match.
    pub method: Option<StringMatch>,
    /// `authority`: Host match.
    pub authority: Option<StringMatch>,
    /// `headers`: header matches (`{}` = presence).
    pub headers: BTreeMap<String, StringMatch>,
    /// `port`: addressed port.
    pub port: Option<u32>,
    /// `sourceLabels`: client workload selector.
    pub source_labels: BTreeMap<String, String>,
    /// `gateways`: restrict this match to these gateways.
    pub gateways: Vec<String>,
    /// `queryParams`: query parameter matches.
    pub query_params: BTreeMap<String, StringMatch>,
    /// `ignoreUriCase`: case-insensitive exact/prefix uri match.
    pub ignore_uri_case: bool,
    /// `withoutHeaders`: negated header matches.
    pub without_headers: BTreeMap<String, StringMatch>,
    /// `sourceNamespace`: client namespace selector.
    pub source_namespace: Option<String>,
    /// `statPrefix`: per-route stats prefix.
    pub stat_prefix: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPRouteDestination`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpRouteDestination {
    /// `destination`: where to send (required).
    pub destination: Destination,
    /// `weight`: relative weight.
    pub weight: Option<i32>,
    /// `headers`: per-destination header manipulation.
    pub headers: Option<Headers>,
}

/// Mirrors `istio.networking.v1alpha3.RouteDestination` (TCP/TLS routes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RouteDestination {
    /// `destination`: where to send (required).
    pub destination: Destination,
    /// `weight`: relative weight.
    pub weight: Option<i32>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPMirrorPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpMirrorPolicy {
    /// `destination`: mirror target (required).
    pub destination: Destination,
    /// `percentage`: share of requests mirrored (absent = 100).
    pub percentage: Option<Percent>,
}

/// Mirrors `istio.networking.v1alpha3.TLSRoute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TlsRoute {
    /// `match`: SNI matches (required).
    #[serde(rename = "match")]
    pub matches: Vec<TlsMatchAttributes>,
    /// `route`: destinations.
    pub route: Vec<RouteDestination>,
}

/// Mirrors `istio.networking.v1alpha3.TCPRoute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TcpRoute {
    /// `match`: L4 matches.
    #[serde(rename = "match")]
    pub matches: Vec<L4MatchAttributes>,
    /// `route`: destinations.
    pub route: Vec<RouteDestination>,
}

/// Mirrors `istio.networking.v1alpha3.L4MatchAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct L4MatchAttributes {
    /// `destinationSubnets`: destination IPs/CIDRs.
    pub destination_subnets: Vec<String>,
    /// `port`: addressed port.
    pub port: Option<u32>,
    /// `sourceSubnet`: deprecated source CIDR.
    pub source_subnet: Option<String>,
    /// `sourceLabels`: client workload selector.
    pub source_labels: BTreeMap<String, String>,
    /// `gateways`: restrict to these gateways.
    pub gateways: Vec<String>,
    /// `sourceNamespace`: client namespace selector.
    pub source_namespace: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.TLSMatchAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TlsMatchAttributes {
    /// `sniHosts`: SNI values to match (required).
    pub sni_hosts: Vec<String>,
    /// `destinationSubnets`: destination IPs/CIDRs.
    pub destination_subnets: Vec<String>,
    /// `port`: addressed port.
    pub port: Option<u32>,
    /// `sourceLabels`: client workload selector.
    pub source_labels: BTreeMap<String, String>,
    /// `gateways`: restrict to these gateways.
    pub gateways: Vec<String>,
    /// `sourceNamespace`: client namespace selector.
    pub source_namespace: Option<String>,
}
