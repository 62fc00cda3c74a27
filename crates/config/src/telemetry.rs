//! `Telemetry` spec types (telemetry.istio.io), field for field as in Istio's telemetry.proto.
//!
//! Receives: the `spec` of a Telemetry document (via serde). Hands on: access-logging, tracing
//! and metrics settings for validation and `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::networking::TypeWorkloadSelector;
use crate::security::PolicyTargetReference;

/// Mirrors `istio.telemetry.v1.Telemetry`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Telemetry {
    /// `selector`: the workloads it applies to.
    pub selector: Option<TypeWorkloadSelector>,
    /// `targetRef`: a Gateway it applies to.
    pub target_ref: Option<PolicyTargetReference>,
    /// `targetRefs`: Gateways it applies to.
    pub target_refs: Vec<PolicyTargetReference>,
    /// `tracing`.
    pub tracing: Vec<Tracing>,
    /// `metrics`.
    pub metrics: Vec<Metrics>,
    /// `accessLogging`.
    pub access_logging: Vec<AccessLogging>,
}

/// `ProviderRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ProviderRef {
    /// `name`: an extension provider of MeshConfig, or a built-in one (`envoy`, `prometheus`).
    pub name: String,
}

/// `TracingSelector`, `LogSelector`: which traffic a setting applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ModeSelector {
    /// `mode`: `CLIENT_AND_SERVER` (default), `CLIENT` or `SERVER`.
    pub mode: Option<String>,
}

/// Mirrors `istio.telemetry.v1.Tracing`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Tracing {
    /// `match`.
    #[serde(rename = "match")]
    pub matches: Option<ModeSelector>,
    /// `providers`.
    pub providers: Vec<ProviderRef>,
    /// `randomSamplingPercentage`: 0–100.
    pub random_sampling_percentage: Option<f64>,
    /// `disableSpanReporting`.
    pub disable_span_reporting: Option<bool>,
    /// `customTags`: not supported by Rampart.
    pub custom_tags: BTreeMap<String, Value>,
    /// `useRequestIdForTraceSampling`: not supported by Rampart.
    pub use_request_id_for_trace_sampling: Option<bool>,
    /// `enableIstioTags`.
    pub enable_istio_tags: Option<bool>,
}

/// Mirrors `istio.telemetry.v1.Metrics`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Metrics {
    /// `providers`.
    pub providers: Vec<ProviderRef>,
    /// `overrides`.
    pub overrides: Vec<MetricsOverride>,
    /// `reportingInterval`.
    pub reporting_interval: Option<String>,
}

/// Mirrors `istio.telemetry.v1.MetricsOverrides`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct MetricsOverride {
    /// `match`.
    #[serde(rename = "match")]
    pub matches: Option<MetricSelector>,
    /// `disabled`.
    pub disabled: Option<bool>,
    /// `tagOverrides`.
    pub tag_overrides: BTreeMap<String, Value>,
}

/// Mirrors `istio.telemetry.v1.MetricSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct MetricSelector {
    /// `metric`: `ALL_METRICS`, `REQUEST_COUNT`, `REQUEST_DURATION`, `REQUEST_SIZE`,
    /// `RESPONSE_SIZE`, `TCP_OPENED_CONNECTIONS`, `TCP_CLOSED_CONNECTIONS`, `TCP_SENT_BYTES`,
    /// `TCP_RECEIVED_BYTES`, `GRPC_REQUEST_MESSAGES`, `GRPC_RESPONSE_MESSAGES`.
    pub metric: Option<String>,
    /// `customMetric`.
    pub custom_metric: Option<String>,
    /// `mode`.
    pub mode: Option<String>,
}

/// Mirrors `istio.telemetry.v1.AccessLogging`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AccessLogging {
    /// `match`.
    #[serde(rename = "match")]
    pub matches: Option<ModeSelector>,
    /// `providers`.
    pub providers: Vec<ProviderRef>,
    /// `disabled`.
    pub disabled: Option<bool>,
    /// `filter`: a CEL expression; not supported by Rampart.
    pub filter: Option<Value>,
}
