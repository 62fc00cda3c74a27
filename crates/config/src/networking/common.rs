//! Spec pieces shared by several Istio kinds (`Percent`, `StringMatch`, `Destination`, …).
//!
//! Receives: nothing (plain serde types filled by the loader). Hands on: the types that the
//! per-kind modules embed and that `compile` reads.

use serde::Deserialize;

/// Mirrors `istio.networking.v1alpha3.Percent`: a percentage in `[0, 100]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Percent {
    /// `value`: the percentage.
    pub value: f64,
}

/// Mirrors `istio.networking.v1alpha3.StringMatch` (oneof exact / prefix / regex; `{}` = presence).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct StringMatch {
    /// `exact`: byte-equal match.
    pub exact: Option<String>,
    /// `prefix`: starts-with match.
    pub prefix: Option<String>,
    /// `regex`: RE2 full match.
    pub regex: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.PortSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PortSelector {
    /// `number`: the port number.
    pub number: u32,
}

/// Mirrors `istio.networking.v1alpha3.Destination`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Destination {
    /// `host`: registry host name (required).
    pub host: String,
    /// `subset`: DestinationRule subset name.
    pub subset: Option<String>,
    /// `port`: port on the host.
    pub port: Option<PortSelector>,
}

/// Mirrors `istio.networking.v1alpha3.WorkloadSelector` (`labels`), used by ServiceEntry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct WorkloadSelector {
    /// `labels`: label selector.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Mirrors `istio.type.v1beta1.WorkloadSelector` (`matchLabels`), used by DestinationRule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TypeWorkloadSelector {
    /// `matchLabels`: label selector.
    pub match_labels: std::collections::BTreeMap<String, String>,
}
