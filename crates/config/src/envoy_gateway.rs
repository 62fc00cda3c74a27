//! Envoy Gateway's `BackendTrafficPolicy` (`gateway.envoyproxy.io/v1alpha1`), used by Rampart
//! for one thing Istio has no field for: active health checks. `targetRefs` name a
//! `ServiceEntry` or `DestinationRule` in the policy's namespace. Its other features have Istio
//! equivalents (VirtualService `retries`/`timeout`, DestinationRule `connectionPool`, …) and are
//! rejected with a pointer to them.

use serde::Deserialize;
use serde_json::Value;

/// Mirrors `BackendTrafficPolicySpec` (the fields Rampart reads, plus the ones it rejects).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct BackendTrafficPolicy {
    /// `targetRefs`: what the policy applies to.
    pub target_refs: Vec<TargetRef>,
    /// `healthCheck`.
    pub health_check: Option<HealthCheck>,
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
    /// `rateLimit`: rejected.
    pub rate_limit: Option<Value>,
    /// `faultInjection`: rejected (VirtualService `fault`).
    pub fault_injection: Option<Value>,
    /// `proxyProtocol`: rejected.
    pub proxy_protocol: Option<Value>,
    /// `tcpKeepalive`: rejected (DestinationRule `connectionPool.tcp.tcpKeepalive`).
    pub tcp_keepalive: Option<Value>,
    /// `dns`: rejected.
    pub dns: Option<Value>,
    /// `http2`: rejected.
    pub http2: Option<Value>,
    /// `connection`: rejected.
    pub connection: Option<Value>,
    /// `useClientProtocol`: rejected.
    pub use_client_protocol: Option<Value>,
    /// `compression`: rejected.
    pub compression: Option<Value>,
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
}

impl BackendTrafficPolicy {
    /// Fields Rampart does not take from a BackendTrafficPolicy, with what to use instead.
    pub fn unsupported(&self) -> Vec<(&'static str, &'static str)> {
        let fields: [(&Option<Value>, &str, &str); 20] = [
            (&self.target_ref, "targetRef", "use targetRefs"),
            (&self.target_selectors, "targetSelectors", "use targetRefs"),
            (
                &self.load_balancer,
                "loadBalancer",
                "use a DestinationRule loadBalancer",
            ),
            (&self.retry, "retry", "use a VirtualService retries"),
            (
                &self.circuit_breaker,
                "circuitBreaker",
                "use a DestinationRule connectionPool",
            ),
            (
                &self.timeout,
                "timeout",
                "use a VirtualService timeout or a DestinationRule connectTimeout",
            ),
            (
                &self.rate_limit,
                "rateLimit",
                "it is not supported by Rampart",
            ),
            (
                &self.fault_injection,
                "faultInjection",
                "use a VirtualService fault",
            ),
            (
                &self.proxy_protocol,
                "proxyProtocol",
                "it is not supported by Rampart",
            ),
            (
                &self.tcp_keepalive,
                "tcpKeepalive",
                "use a DestinationRule connectionPool.tcp.tcpKeepalive",
            ),
            (&self.dns, "dns", "use a ServiceEntry resolution"),
            (&self.http2, "http2", "it is not supported by Rampart"),
            (
                &self.connection,
                "connection",
                "it is not supported by Rampart",
            ),
            (
                &self.use_client_protocol,
                "useClientProtocol",
                "it is not supported by Rampart",
            ),
            (
                &self.compression,
                "compression",
                "it is not supported by Rampart",
            ),
            (
                &self.response_override,
                "responseOverride",
                "it is not supported by Rampart",
            ),
            (
                &self.merge_type,
                "mergeType",
                "it is not supported by Rampart",
            ),
            (
                &self.http_upgrade,
                "httpUpgrade",
                "it is not supported by Rampart",
            ),
            (
                &self.request_buffer,
                "requestBuffer",
                "it is not supported by Rampart",
            ),
            (
                &self.telemetry,
                "telemetry",
                "it is not supported by Rampart",
            ),
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
    /// `group` (`networking.istio.io`).
    pub group: String,
    /// `kind` (`ServiceEntry` or `DestinationRule`).
    pub kind: String,
    /// `name`, in the policy's namespace.
    pub name: String,
    /// `sectionName`: rejected.
    pub section_name: Option<String>,
}

/// `healthCheck`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HealthCheck {
    /// `active`.
    pub active: Option<ActiveHealthCheck>,
    /// `passive`: rejected (DestinationRule `outlierDetection`).
    pub passive: Option<Value>,
    /// `panicThreshold`: rejected (DestinationRule `outlierDetection.minHealthPercent`).
    pub panic_threshold: Option<Value>,
}

/// `healthCheck.active`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ActiveHealthCheck {
    /// `type`: `HTTP` or `TCP` (`GRPC` is rejected).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `timeout` (default 1s).
    pub timeout: Option<String>,
    /// `interval` (default 3s).
    pub interval: Option<String>,
    /// `unhealthyThreshold` (default 3).
    pub unhealthy_threshold: Option<u32>,
    /// `healthyThreshold` (default 1).
    pub healthy_threshold: Option<u32>,
    /// `http`, required for `type: HTTP`.
    pub http: Option<HttpHealthChecker>,
    /// `tcp`, for `type: TCP`.
    pub tcp: Option<TcpHealthChecker>,
    /// `grpc`: rejected.
    pub grpc: Option<Value>,
    /// `initialJitter`: rejected.
    pub initial_jitter: Option<Value>,
}

/// `healthCheck.active.http`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpHealthChecker {
    /// `path` (required).
    pub path: String,
    /// `hostname`: `Host` of the probe (default: the service host).
    pub hostname: Option<String>,
    /// `method` (default GET).
    pub method: Option<String>,
    /// `expectedStatuses` (default [200]).
    pub expected_statuses: Vec<u32>,
    /// `expectedResponse`: bytes the body must contain.
    pub expected_response: Option<Payload>,
}

/// `healthCheck.active.tcp`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TcpHealthChecker {
    /// `send`: bytes written after connecting.
    pub send: Option<Payload>,
    /// `receive`: bytes expected back.
    pub receive: Option<Payload>,
}

/// `ActiveHealthCheckPayload`: text or base64 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Payload {
    /// `type`: `Text` or `Binary`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `text`.
    pub text: Option<String>,
    /// `binary` (base64).
    pub binary: Option<String>,
}

impl Payload {
    /// The payload's bytes; `None` when it does not decode.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self.kind.as_deref() {
            Some("Binary") => crate::decode_base64(self.binary.as_deref()?),
            _ => Some(self.text.clone()?.into_bytes()),
        }
    }
}
