//! `BackendTrafficPolicy.spec.rateLimit` (Envoy Gateway's `ratelimit_types.go`): local (one
//! token bucket set per gateway process) and global (one counter shared by every replica through
//! Redis) limits, each a list of rules that select clients by headers, methods, path and source
//! address. Field names and defaults mirror Envoy Gateway's; fields Rampart does not implement
//! (`cost`, `queryParams`, `limit.fromMetadata`) are kept as opaque values for validation to reject
//! by name.

use serde::Deserialize;
use serde_json::Value;

/// Mirrors `RateLimitSpec`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitSpec {
    /// `type`: `Global` or `Local` (deprecated by Envoy Gateway, still accepted): with it, only
    /// the named section is used.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `global`: limits shared by every replica.
    pub global: Option<RateLimitRules>,
    /// `local`: limits per gateway process.
    pub local: Option<RateLimitRules>,
}

impl RateLimitSpec {
    /// The sections in effect: with `type` set only that one, otherwise each one present.
    /// Returns `(global, local)`.
    pub fn effective(&self) -> (Option<&RateLimitRules>, Option<&RateLimitRules>) {
        match self.kind.as_deref() {
            Some("Global") => (self.global.as_ref(), None),
            Some("Local") => (None, self.local.as_ref()),
            _ => (self.global.as_ref(), self.local.as_ref()),
        }
    }
}

/// Mirrors `GlobalRateLimit` and `LocalRateLimit` (the same shape).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitRules {
    /// `rules`: every rule whose selectors match counts the request; any rule over its limit
    /// refuses it.
    pub rules: Vec<RateLimitRule>,
}

/// Mirrors `RateLimitRule`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitRule {
    /// `clientSelectors`: all must match (none: the rule applies to every request).
    pub client_selectors: Vec<RateLimitSelectCondition>,
    /// `limit`.
    pub limit: RateLimitValue,
    /// `shared`: one bucket for every route the policy targets (default: one per route).
    pub shared: Option<bool>,
    /// `shadowMode`: count but never refuse (global rules only).
    pub shadow_mode: Option<bool>,
    /// `xRateLimitHeaders`: `Off` or `DraftVersion03` (the default).
    pub x_rate_limit_headers: Option<String>,
    /// `cost`: rejected.
    pub cost: Option<Value>,
}

/// Mirrors `RateLimitSelectCondition`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitSelectCondition {
    /// `headers`: all must match.
    pub headers: Vec<RateLimitHeaderMatch>,
    /// `methods`: any may match.
    pub methods: Vec<RateLimitMethodMatch>,
    /// `path`.
    pub path: Option<RateLimitPathMatch>,
    /// `sourceCIDR`.
    #[serde(rename = "sourceCIDR")]
    pub source_cidr: Option<RateLimitSourceMatch>,
    /// `queryParams`: rejected.
    pub query_params: Option<Value>,
}

/// Mirrors `HeaderMatch` as used by rate limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitHeaderMatch {
    /// `type`: `Exact` (default), `RegularExpression` or `Distinct`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `name` (case-insensitive).
    pub name: String,
    /// `value`: required unless `Distinct`, forbidden with it.
    pub value: Option<String>,
    /// `invert`: not with `Distinct`.
    pub invert: Option<bool>,
}

impl RateLimitHeaderMatch {
    /// `type`, or `Exact` when unset.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Exact")
    }
}

/// Mirrors `MethodMatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitMethodMatch {
    /// `value`: a Gateway API `HTTPMethod`.
    pub value: String,
    /// `invert`.
    pub invert: Option<bool>,
}

/// Mirrors `PathMatch`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitPathMatch {
    /// `type`: `PathPrefix` (default), `Exact` or `RegularExpression`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `value` (default `/`).
    pub value: String,
    /// `invert`.
    pub invert: Option<bool>,
}

impl Default for RateLimitPathMatch {
    fn default() -> Self {
        Self {
            kind: None,
            value: "/".into(),
            invert: None,
        }
    }
}

impl RateLimitPathMatch {
    /// `type`, or `PathPrefix` when unset.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("PathPrefix")
    }
}

/// Mirrors `SourceMatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitSourceMatch {
    /// `type`: `Exact` (default: the whole block shares a bucket) or `Distinct` (one bucket per
    /// client address).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `value`: a CIDR block such as `192.168.0.0/24`.
    pub value: String,
    /// `invert`: match clients outside the block.
    pub invert: Option<bool>,
}

impl RateLimitSourceMatch {
    /// `type`, or `Exact` when unset.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Exact")
    }
}

/// Mirrors `RateLimitValue`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitValue {
    /// `requests` per `unit` (≥ 1 in Rampart).
    pub requests: u64,
    /// `unit`: `Second`, `Minute`, `Hour`, `Day`, `Month` or `Year`.
    pub unit: String,
    /// `fromMetadata`: rejected.
    pub from_metadata: Option<Value>,
}

/// Seconds in a rate-limit `unit` (Envoy's ratelimit service: a month is 30 days, a year 365);
/// `None` for an unknown unit.
pub fn rate_limit_unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit {
        "Second" => 1,
        "Minute" => 60,
        "Hour" => 3_600,
        "Day" => 86_400,
        "Month" => 30 * 86_400,
        "Year" => 365 * 86_400,
        _ => return None,
    })
}
