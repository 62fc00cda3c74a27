//! An external authorizer (`MeshConfig.extensionProviders[].envoyExtAuthzHttp`), compiled: the
//! cluster to call and what to copy in and out, as Envoy's ext_authz HTTP service does.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use crate::cluster::ClusterId;

/// One `envoyExtAuthzHttp` provider.
#[derive(Debug)]
pub struct ExtAuthz {
    /// Provider name.
    pub name: Box<str>,
    /// The authorizer's cluster (`None` when its service is unknown: every check then fails).
    pub cluster: Option<ClusterId>,
    /// `Host` of check requests: the service and port.
    pub authority: HeaderValue,
    /// `pathPrefix`, prepended to the request's path and query.
    pub path_prefix: Box<str>,
    /// `timeout`.
    pub timeout: Duration,
    /// `failOpen`: allow when the authorizer cannot answer.
    pub fail_open: bool,
    /// `statusOnError` (default 403).
    pub status_on_error: StatusCode,
    /// Client headers sent to the authorizer: `Authorization` and `Proxy-Authorization` always
    /// (Envoy's default), plus `includeRequestHeadersInCheck`.
    pub include_headers: Box<[HeaderName]>,
    /// `includeAdditionalHeadersInCheck`.
    pub additional_headers: Box<[(HeaderName, HeaderValue)]>,
    /// `headersToUpstreamOnAllow`.
    pub to_upstream_on_allow: Box<[HeaderName]>,
    /// `headersToDownstreamOnDeny`.
    pub to_downstream_on_deny: Box<[HeaderName]>,
    /// `headersToDownstreamOnAllow`.
    pub to_downstream_on_allow: Box<[HeaderName]>,
}
