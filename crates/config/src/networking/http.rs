//! The policy parts of a VirtualService `HTTPRoute`: redirect, direct response, rewrite,
//! retries, fault injection, CORS and header operations (virtual_service.proto).
//!
//! Receives: sub-objects of `spec.http[]` (via serde). Hands on: typed settings for validation
//! and `compile`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{Percent, StringMatch};

/// Mirrors `istio.networking.v1alpha3.HTTPRedirect.RedirectPortSelection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectPortSelection {
    /// 80 for http, 443 for https.
    FromProtocolDefault,
    /// The port of the request.
    FromRequestPort,
}

/// Mirrors `istio.networking.v1alpha3.HTTPRedirect`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpRedirect {
    /// `uri`: replace the whole path.
    pub uri: Option<String>,
    /// `authority`: replace the Host.
    pub authority: Option<String>,
    /// `port`: explicit port.
    pub port: Option<u32>,
    /// `derivePort`: derive the port instead.
    pub derive_port: Option<RedirectPortSelection>,
    /// `scheme`: `http` or `https`.
    pub scheme: Option<String>,
    /// `redirectCode`: 3xx status (default 301).
    pub redirect_code: Option<u32>,
    /// `prefixRewrite`: replace the matched prefix.
    pub prefix_rewrite: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPDirectResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpDirectResponse {
    /// `status`: HTTP status (required).
    pub status: u32,
    /// `body`: response body.
    pub body: Option<HttpBody>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPBody` (oneof string / bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpBody {
    /// `string`: body text.
    pub string: Option<String>,
    /// `bytes`: base64-encoded body.
    pub bytes: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPRewrite`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpRewrite {
    /// `uri`: replace prefix (prefix match) or whole path.
    pub uri: Option<String>,
    /// `authority`: replace Host.
    pub authority: Option<String>,
    /// `uriRegexRewrite`: regex rewrite of the path.
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// Mirrors `istio.networking.v1alpha3.RegexRewrite`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RegexRewrite {
    /// `match`: RE2 pattern.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// `rewrite`: replacement with `\1` groups.
    pub rewrite: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPRetry`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpRetry {
    /// `attempts`: number of retries.
    pub attempts: Option<i32>,
    /// `perTryTimeout`: per-attempt timeout.
    pub per_try_timeout: Option<String>,
    /// `retryOn`: comma list of retry conditions.
    pub retry_on: Option<String>,
    /// `retryRemoteLocalities`: retry to other localities.
    pub retry_remote_localities: Option<bool>,
    /// `retryIgnorePreviousHosts`: avoid previously tried hosts (default true).
    pub retry_ignore_previous_hosts: Option<bool>,
    /// `backoff`: base backoff interval.
    pub backoff: Option<String>,
}

/// Mirrors `istio.networking.v1alpha3.CorsPolicy.UnmatchedPreflights`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedPreflights {
    /// Default: forward.
    #[default]
    Unspecified,
    /// Forward unmatched preflights upstream.
    Forward,
    /// Answer unmatched preflights without CORS headers.
    Ignore,
}

/// Mirrors `istio.networking.v1alpha3.CorsPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CorsPolicy {
    /// `allowOrigin`: deprecated exact origins.
    pub allow_origin: Vec<String>,
    /// `allowOrigins`: origin matches.
    pub allow_origins: Vec<StringMatch>,
    /// `allowMethods`.
    pub allow_methods: Vec<String>,
    /// `allowHeaders`.
    pub allow_headers: Vec<String>,
    /// `exposeHeaders`.
    pub expose_headers: Vec<String>,
    /// `maxAge`: duration, whole seconds.
    pub max_age: Option<String>,
    /// `allowCredentials`.
    pub allow_credentials: Option<bool>,
    /// `unmatchedPreflights`.
    pub unmatched_preflights: Option<UnmatchedPreflights>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPFaultInjection`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpFaultInjection {
    /// `delay`: delay injection.
    pub delay: Option<FaultDelay>,
    /// `abort`: abort injection.
    pub abort: Option<FaultAbort>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPFaultInjection.Delay`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FaultDelay {
    /// `percent`: deprecated integer percentage.
    pub percent: Option<i32>,
    /// `fixedDelay`: delay duration.
    pub fixed_delay: Option<String>,
    /// `exponentialDelay`: unsupported.
    pub exponential_delay: Option<String>,
    /// `percentage`: share of requests delayed.
    pub percentage: Option<Percent>,
}

/// Mirrors `istio.networking.v1alpha3.HTTPFaultInjection.Abort`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FaultAbort {
    /// `httpStatus`: status to answer with.
    pub http_status: Option<i32>,
    /// `grpcStatus`: gRPC status name.
    pub grpc_status: Option<String>,
    /// `http2Error`: unsupported.
    pub http2_error: Option<String>,
    /// `percentage`: share of requests aborted.
    pub percentage: Option<Percent>,
}

/// Mirrors `istio.networking.v1alpha3.Headers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Headers {
    /// `request`: operations on the request.
    pub request: Option<HeaderOperations>,
    /// `response`: operations on the response.
    pub response: Option<HeaderOperations>,
}

/// Mirrors `istio.networking.v1alpha3.Headers.HeaderOperations`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HeaderOperations {
    /// `set`: overwrite.
    pub set: BTreeMap<String, String>,
    /// `add`: append.
    pub add: BTreeMap<String, String>,
    /// `remove`: delete.
    pub remove: Vec<String>,
}
