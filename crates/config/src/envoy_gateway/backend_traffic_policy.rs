//! Envoy Gateway's `BackendTrafficPolicy` (`gateway.envoyproxy.io/v1alpha1`), used by Rampart
//! for two things Istio has no field for: active health checks (see [`super::health_check`]),
//! whose `targetRefs` name a `ServiceEntry` or `DestinationRule`, and rate limits (see
//! [`super::rate_limit`]), whose `targetRefs` name a `Gateway` or `VirtualService`; targets are
//! in the policy's namespace. Its other
//! features have Istio equivalents (VirtualService `retries`/`timeout`, DestinationRule
//! `connectionPool`, …) or none in Rampart; each is kept as an opaque value only so validation can
//! reject it by name (see [`BackendTrafficPolicy::unsupported`]).

use serde::Deserialize;
use serde_json::Value;

use super::{ActiveHealthCheck, HealthCheck, RateLimitSpec};

/// Mirrors `BackendTrafficPolicySpec` (the fields Rampart reads, plus the ones it rejects).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct BackendTrafficPolicy {
    /// `targetRefs`: what the policy applies to (required, non-empty).
    pub target_refs: Vec<TargetRef>,
    /// `healthCheck`: `active` is required, `passive` is rejected.
    pub health_check: Option<HealthCheck>,
    /// `rateLimit`: local and global request limits.
    pub rate_limit: Option<RateLimitSpec>,
    /// `targetRef` (deprecated singular form): rejected.
    pub target_ref: Option<Value>,
    /// `targetSelectors`: rejected.
    pub target_selectors: Option<Value>,
    /// `loadBalancer`: rejected (DestinationRule `loadBalancer`).
    pub load_balancer: Option<Value>,
    /// `retry`: rejected (VirtualService `retries`).
    pub retry: Option<Value>,
    /// `circuitBreaker`: rejected (DestinationRule `connectionPool`).
    pub circuit_breaker: Option<Value>,
    /// `timeout`: rejected (VirtualService `timeout`, DestinationRule `connectTimeout`).
    pub timeout: Option<Value>,
    /// `bandwidthLimit`: rejected.
    pub bandwidth_limit: Option<Value>,
    /// `faultInjection`: rejected (VirtualService `fault`).
    pub fault_injection: Option<Value>,
    /// `admissionControl`: rejected.
    pub admission_control: Option<Value>,
    /// `proxyProtocol`: rejected (DestinationRule `trafficPolicy.proxyProtocol`).
    pub proxy_protocol: Option<Value>,
    /// `tcpKeepalive`: rejected (DestinationRule `connectionPool.tcp.tcpKeepalive`).
    pub tcp_keepalive: Option<Value>,
    /// `dns`: rejected (ServiceEntry `resolution`).
    pub dns: Option<Value>,
    /// `http2`: rejected (DestinationRule `connectionPool.http`).
    pub http2: Option<Value>,
    /// `connection`: rejected.
    pub connection: Option<Value>,
    /// `useClientProtocol`: rejected.
    pub use_client_protocol: Option<Value>,
    /// `compression`: rejected.
    pub compression: Option<Value>,
    /// `compressor`: rejected.
    pub compressor: Option<Value>,
    /// `responseOverride`: rejected.
    pub response_override: Option<Value>,
    /// `mergeType`: rejected.
    pub merge_type: Option<Value>,
    /// `httpUpgrade`: rejected.
    pub http_upgrade: Option<Value>,
    /// `requestBuffer`: rejected.
    pub request_buffer: Option<Value>,
    /// `telemetry`: rejected.
    pub telemetry: Option<Value>,
    /// `routingType`: rejected.
    pub routing_type: Option<Value>,
}

impl BackendTrafficPolicy {
    /// The active health check, if the policy has one.
    pub fn active(&self) -> Option<&ActiveHealthCheck> {
        self.health_check.as_ref()?.active.as_ref()
    }

    /// Spec fields that are set but not taken by Rampart, in schema order: each field's YAML
    /// name and, when Istio has an equivalent, what to use instead (`use a …`).
    pub fn unsupported(&self) -> Vec<(&'static str, Option<&'static str>)> {
        let fields: [(&Option<Value>, &str, Option<&str>); 23] = [
            (&self.target_ref, "targetRef", Some("use targetRefs")),
            (&self.target_selectors, "targetSelectors", Some("use targetRefs")),
            (
                &self.load_balancer,
                "loadBalancer",
                Some("use a DestinationRule loadBalancer"),
            ),
            (&self.retry, "retry", Some("use a VirtualService retries")),
            (
                &self.proxy_protocol,
                "proxyProtocol",
                Some("use a DestinationRule proxyProtocol"),
            ),
            (
                &self.tcp_keepalive,
                "tcpKeepalive",
                Some("use a DestinationRule connectionPool.tcp.tcpKeepalive"),
            ),
            (
                &self.circuit_breaker,
                "circuitBreaker",
                Some("use a DestinationRule connectionPool"),
            ),
            (
                &self.timeout,
                "timeout",
                Some("use a VirtualService timeout or a DestinationRule connectionPool.tcp.connectTimeout"),
            ),
            (&self.connection, "connection", None),
            (&self.dns, "dns", Some("use a ServiceEntry resolution")),
            (
                &self.http2,
                "http2",
                Some("use a DestinationRule connectionPool.http"),
            ),
            (&self.merge_type, "mergeType", None),
            (&self.bandwidth_limit, "bandwidthLimit", None),
            (
                &self.fault_injection,
                "faultInjection",
                Some("use a VirtualService fault"),
            ),
            (&self.admission_control, "admissionControl", None),
            (&self.use_client_protocol, "useClientProtocol", None),
            (&self.compression, "compression", None),
            (&self.compressor, "compressor", None),
            (&self.response_override, "responseOverride", None),
            (&self.http_upgrade, "httpUpgrade", None),
            (&self.request_buffer, "requestBuffer", None),
            (&self.telemetry, "telemetry", None),
            (&self.routing_type, "routingType", None),
        ];
        fields
            .into_iter()
            .filter(|(v, _, _)| v.is_some())
            .map(|(_, name, instead)| (name, instead))
            .collect()
    }
}

/// A policy target (Gateway API `LocalPolicyTargetReferenceWithSectionName`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TargetRef {
    /// `group`: must be `networking.istio.io`.
    pub group: String,
    /// `kind`: `ServiceEntry` or `DestinationRule` (health checks), `Gateway` or
    /// `VirtualService` (rate limits).
    pub kind: String,
    /// `name`, in the policy's namespace.
    pub name: String,
    /// `sectionName`: rejected (a policy applies to every port of its target).
    pub section_name: Option<String>,
}
