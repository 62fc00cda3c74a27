//! `DestinationRule` spec types (networking.istio.io), field for field as in
//! destination_rule.proto. Load-balancer settings live in [`super::load_balancer`].
//!
//! Receives: the `spec` of a DestinationRule document (via serde). Hands on: typed traffic
//! policies (connection pool, outlier detection, client TLS, …) for validation and `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{PortSelector, TypeWorkloadSelector};
use super::load_balancer::LoadBalancerSettings;

/// Mirrors `istio.networking.v1alpha3.DestinationRule`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DestinationRule {
    /// `host`: registry host the rule applies to (required).
    pub host: String,
    /// `trafficPolicy`: policy for all ports and subsets.
    pub traffic_policy: Option<TrafficPolicy>,
    /// `subsets`: named endpoint subsets.
    pub subsets: Vec<Subset>,
    /// `exportTo`: visibility.
    pub export_to: Vec<String>,
    /// `workloadSelector`: client proxies this rule applies to.
    pub workload_selector: Option<TypeWorkloadSelector>,
}

/// Mirrors `istio.networking.v1alpha3.TrafficPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TrafficPolicy {
    /// `loadBalancer`.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// `connectionPool`: circuit-breaker thresholds.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// `outlierDetection`: passive health checking.
    pub outlier_detection: Option<OutlierDetection>,
    /// `tls`: TLS origination.
    pub tls: Option<ClientTlsSettings>,
    /// `portLevelSettings`: per-port overrides.
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// `tunnel`: HTTP CONNECT/POST tunnelling.
    pub tunnel: Option<TunnelSettings>,
    /// `proxyProtocol`: upstream PROXY protocol.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// `retryBudget`: cluster-wide retry budget.
    pub retry_budget: Option<RetryBudget>,
}

/// Mirrors `istio.networking.v1alpha3.TrafficPolicy.PortTrafficPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PortTrafficPolicy {
    /// `port`: the port (required).
    pub port: Option<PortSelector>,
    /// `loadBalancer`.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// `connectionPool`.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// `outlierDetection`.
    pub outlier_detection: Option<OutlierDetection>,
    /// `tls`.
    pub tls: Option<ClientTlsSettings>,
}

/// Mirrors `istio.networking.v1alpha3.TrafficPolicy.TunnelSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TunnelSettings {
    /// `protocol`: `CONNECT` (default) or `POST`.
    pub protocol: Option<String>,
    /// `targetHost`: tunnel target host (required).
    pub target_host: String,
    /// `targetPort`: tunnel target port (required).
    pub target_port: u32,
}

/// Mirrors `istio.networking.v1alpha3.TrafficPolicy.ProxyProtocol.VERSION`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
pub enum ProxyProtocolVersion {
    /// PROXY protocol v1 (text).
    #[default]
    V1,
    /// PROXY protocol v2 (binary).
    V2,
}

/// Mirrors `istio.networking.v1alpha3.TrafficPolicy.ProxyProtocol`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ProxyProtocol {
    /// `version`.
    pub version: Option<ProxyProtocolVersion>,
}

/// Mirrors `istio.networking.v1alpha3.TrafficPolicy.RetryBudget`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RetryBudget {
    /// `percent`: max share of active requests that may be retries.
    pub percent: Option<f64>,
    /// `minRetryConcurrency`: retries always allowed.
    pub min_retry_concurrency: Option<u32>,
    /// `budgetInterval`: accounting window (duration).
    pub budget_interval: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.Subset`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Subset {
    /// `name`: subset name (required, DNS-1123 label).
    pub name: String,
    /// `labels`: endpoint label selector.
    pub labels: BTreeMap<String, String>,
    /// `trafficPolicy`: overrides for this subset.
    pub traffic_policy: Option<TrafficPolicy>,
}

/// Mirrors `istio.networking.v1alpha3.ConnectionPoolSettings`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConnectionPoolSettings {
    /// `tcp`.
    pub tcp: Option<TcpSettings>,
    /// `http`.
    pub http: Option<HttpSettings>,
}

/// Mirrors `istio.networking.v1alpha3.ConnectionPoolSettings.TCPSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TcpSettings {
    /// `maxConnections`.
    pub max_connections: Option<i32>,
    /// `connectTimeout`.
    pub connect_timeout: Option<String>,
    /// `tcpKeepalive`.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `maxConnectionDuration`.
    pub max_connection_duration: Option<String>,
    /// `idleTimeout` (`0s` disables).
    pub idle_timeout: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.ConnectionPoolSettings.TCPSettings.TcpKeepalive`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TcpKeepalive {
    /// `probes`.
    pub probes: Option<u32>,
    /// `time`.
    pub time: Option<String>,
    /// `interval`.
    pub interval: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum H2UpgradePolicy {
    /// Mesh default.
    #[default]
    Default,
    /// Never upgrade.
    DoNotUpgrade,
    /// Upgrade HTTP/1.1 to HTTP/2 upstream.
    Upgrade,
}

/// Mirrors `istio.networking.v1alpha3.ConnectionPoolSettings.HTTPSettings`, plus `retryBudget`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpSettings {
    /// `http1MaxPendingRequests`.
    pub http1_max_pending_requests: Option<i32>,
    /// `http2MaxRequests`.
    pub http2_max_requests: Option<i32>,
    /// `maxRequestsPerConnection`.
    pub max_requests_per_connection: Option<i32>,
    /// `maxRetries`.
    pub max_retries: Option<i32>,
    /// `idleTimeout`.
    pub idle_timeout: Option<String>,
    /// `h2UpgradePolicy`.
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    /// `useClientProtocol`.
    pub use_client_protocol: bool,
    /// `maxConcurrentStreams`.
    pub max_concurrent_streams: Option<i32>,
    /// `http2KeepAlive`.
    pub http2_keep_alive: Option<ConnectionKeepalive>,
    /// `retryBudget`: the cluster's retry budget, as [`TrafficPolicy::retry_budget`] (Envoy's
    /// `circuit_breakers.thresholds.retry_budget`, next to `maxRetries`). A Rampart extension:
    /// Istio's API has only `trafficPolicy.retryBudget`, and a traffic policy may set one of the
    /// two, not both.
    pub retry_budget: Option<RetryBudget>,
}

/// Mirrors `istio.networking.v1alpha3.ConnectionPoolSettings.HTTPSettings.ConnectionKeepalive`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConnectionKeepalive {
    /// `interval`.
    pub interval: Option<String>,
    /// `timeout`.
    pub timeout: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.OutlierDetection`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct OutlierDetection {
    /// `consecutiveErrors`: deprecated.
    pub consecutive_errors: Option<i32>,
    /// `splitExternalLocalOriginErrors`.
    pub split_external_local_origin_errors: bool,
    /// `consecutiveLocalOriginFailures`.
    pub consecutive_local_origin_failures: Option<u32>,
    /// `consecutiveGatewayErrors`.
    pub consecutive_gateway_errors: Option<u32>,
    /// `consecutive5xxErrors`.
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    /// `interval`: ejection sweep interval.
    pub interval: Option<String>,
    /// `baseEjectionTime`.
    pub base_ejection_time: Option<String>,
    /// `maxEjectionPercent`.
    pub max_ejection_percent: Option<i32>,
    /// `minHealthPercent`.
    pub min_health_percent: Option<i32>,
    /// `outlierDetectionHttpErrorCodes`: status codes counted as errors.
    pub outlier_detection_http_error_codes: Vec<u32>,
}

/// Mirrors `istio.networking.v1alpha3.ClientTLSSettings.TLSmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    /// Plaintext (enum default).
    #[default]
    Disable,
    /// TLS to upstream.
    Simple,
    /// TLS with client certificate.
    Mutual,
    /// Istio workload certificates.
    IstioMutual,
}

/// Mirrors `istio.networking.v1alpha3.ClientTLSSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ClientTlsSettings {
    /// `mode`.
    pub mode: Option<ClientTlsMode>,
    /// `clientCertificate`: file path.
    pub client_certificate: Option<String>,
    /// `privateKey`: file path.
    pub private_key: Option<String>,
    /// `caCertificates`: file path.
    pub ca_certificates: Option<String>,
    /// `credentialName`: named credential.
    pub credential_name: Option<String>,
    /// `subjectAltNames`: accepted server SANs.
    pub subject_alt_names: Vec<String>,
    /// `sni`: SNI to send.
    pub sni: Option<String>,
    /// `insecureSkipVerify`: skip server verification.
    pub insecure_skip_verify: Option<bool>,
    /// `caCrl`: CRL file path.
    pub ca_crl: Option<String>,
}
