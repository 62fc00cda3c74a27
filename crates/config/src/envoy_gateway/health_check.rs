//! `BackendTrafficPolicy.spec.healthCheck` (Envoy Gateway's `healthcheck_types.go`): active HTTP
//! and TCP probes, with Envoy Gateway's defaults applied by the accessors so `compile` never
//! repeats them. Fields Rampart does not implement are kept as opaque values for validation to
//! reject by name.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::duration::parse_duration;

/// Mirrors `HealthCheck`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HealthCheck {
    /// `active`: the probes (required by Rampart).
    pub active: Option<ActiveHealthCheck>,
    /// `passive`: rejected (DestinationRule `outlierDetection`).
    pub passive: Option<Value>,
    /// `panicThreshold`: rejected (DestinationRule `outlierDetection.minHealthPercent`).
    pub panic_threshold: Option<Value>,
}

/// Mirrors `ActiveHealthCheck`. Read the settings through the accessors ([`Self::timeout`],
/// [`Self::interval`], …), which apply Envoy Gateway's defaults.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ActiveHealthCheck {
    /// `type`: `HTTP` or `TCP` (required; `GRPC` is rejected).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `timeout`: wait for one probe's answer (default 1s).
    pub timeout: Option<String>,
    /// `interval`: time between probes (default 3s).
    pub interval: Option<String>,
    /// `unhealthyThreshold`: failed probes before an endpoint is unhealthy (default 3).
    pub unhealthy_threshold: Option<u32>,
    /// `healthyThreshold`: passed probes before an endpoint is healthy again (default 1).
    pub healthy_threshold: Option<u32>,
    /// `http`: required with `type: HTTP`, forbidden otherwise.
    pub http: Option<HttpHealthChecker>,
    /// `tcp`: optional with `type: TCP` (absent: connect only), forbidden otherwise.
    pub tcp: Option<TcpHealthChecker>,
    /// `grpc`: rejected.
    pub grpc: Option<Value>,
    /// `initialJitter`: rejected.
    pub initial_jitter: Option<Value>,
    /// `overrides` (health-check port): rejected.
    pub overrides: Option<Value>,
    /// `healthCheckLog`: rejected.
    pub health_check_log: Option<Value>,
}

impl ActiveHealthCheck {
    /// Envoy Gateway's default `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Envoy Gateway's default `interval`.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3);
    /// Envoy Gateway's default `unhealthyThreshold`.
    pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;
    /// Envoy Gateway's default `healthyThreshold`.
    pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 1;

    /// `timeout`, or 1s when unset. (Only valid durations reach a `ConfigSet`; an unparsable
    /// one also reads as the default.)
    pub fn timeout(&self) -> Duration {
        duration_or(self.timeout.as_deref(), Self::DEFAULT_TIMEOUT)
    }

    /// `interval`, or 3s when unset.
    pub fn interval(&self) -> Duration {
        duration_or(self.interval.as_deref(), Self::DEFAULT_INTERVAL)
    }

    /// `unhealthyThreshold`, or 3 when unset; never below 1.
    pub fn unhealthy_threshold(&self) -> u32 {
        self.unhealthy_threshold
            .unwrap_or(Self::DEFAULT_UNHEALTHY_THRESHOLD)
            .max(1)
    }

    /// `healthyThreshold`, or 1 when unset; never below 1.
    pub fn healthy_threshold(&self) -> u32 {
        self.healthy_threshold
            .unwrap_or(Self::DEFAULT_HEALTHY_THRESHOLD)
            .max(1)
    }
}

fn duration_or(d: Option<&str>, default: Duration) -> Duration {
    d.and_then(|d| parse_duration(d).ok()).unwrap_or(default)
}

/// Mirrors `HTTPActiveHealthChecker`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpHealthChecker {
    /// `path` (required, starts with `/`).
    pub path: String,
    /// `hostname`: `Host` of the probe (default: the service host).
    pub hostname: Option<String>,
    /// `method` (default GET): read it through [`Self::method`].
    pub method: Option<String>,
    /// `expectedStatuses` (default [200]): read them through [`Self::expected_statuses`].
    pub expected_statuses: Vec<u32>,
    /// `expectedResponse`: bytes the body must contain.
    pub expected_response: Option<Payload>,
    /// `retriableStatuses`: rejected.
    pub retriable_statuses: Option<Value>,
    /// `requestBody`: rejected.
    pub request_body: Option<Value>,
}

impl HttpHealthChecker {
    /// Envoy Gateway's default `method`.
    pub const DEFAULT_METHOD: &'static str = "GET";
    /// Envoy Gateway's default `expectedStatuses`.
    pub const DEFAULT_EXPECTED_STATUSES: [u32; 1] = [200];

    /// `method`, or `GET` when unset.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or(Self::DEFAULT_METHOD)
    }

    /// `expectedStatuses`, or `[200]` when unset or empty.
    pub fn expected_statuses(&self) -> &[u32] {
        if self.expected_statuses.is_empty() {
            &Self::DEFAULT_EXPECTED_STATUSES
        } else {
            &self.expected_statuses
        }
    }
}

/// Mirrors `TCPActiveHealthChecker`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TcpHealthChecker {
    /// `send`: bytes written after connecting.
    pub send: Option<Payload>,
    /// `receive`: bytes expected back.
    pub receive: Option<Payload>,
}

/// Mirrors `ActiveHealthCheckPayload`: text or base64 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Payload {
    /// `type`: `Text` or `Binary`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `text`: the payload with `type: Text`.
    pub text: Option<String>,
    /// `binary`: the base64 payload with `type: Binary`.
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
