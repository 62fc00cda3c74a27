//! Istio's `MeshConfig` (the `mesh` file that `pilot-discovery --meshConfig` reads, and the
//! `mesh` key of the `istio` ConfigMap): Rampart reads `extensionProviders` with
//! `envoyExtAuthzHttp`, the external authorizers of CUSTOM AuthorizationPolicies. Every other
//! MeshConfig field and provider kind is rejected by name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::resource::Source;

/// A loaded mesh configuration and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// The typed configuration.
    pub config: MeshConfig,
    /// File and field lines.
    pub source: Source,
}

/// Mirrors `istio.mesh.v1alpha1.MeshConfig` (the fields Rampart reads).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct MeshConfig {
    /// `extensionProviders`.
    pub extension_providers: Vec<ExtensionProvider>,
}

/// Mirrors `MeshConfig.ExtensionProvider`: a name and one provider kind.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionProvider {
    /// `name`: what `AuthorizationPolicy.provider.name` refers to.
    pub name: String,
    /// `envoyExtAuthzHttp`: an HTTP external authorizer.
    pub envoy_ext_authz_http: Option<ExtAuthzHttp>,
    /// `envoyExtAuthzGrpc`: rejected (gRPC authorizers are not supported yet).
    pub envoy_ext_authz_grpc: Option<Value>,
    /// Tracing, logging and metrics providers: rejected.
    #[serde(flatten)]
    pub others: BTreeMap<String, Value>,
}

/// Mirrors `MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ExtAuthzHttp {
    /// `service`: `[<namespace>/]<hostname>` of the authorizer (a ServiceEntry host).
    pub service: String,
    /// `port`: its port (a number, or a string as Istio's docs write it: `"8000"`).
    #[serde(deserialize_with = "number_or_string")]
    pub port: u32,
    /// `timeout`: how long to wait for the authorizer (default 600s in Istio's API).
    pub timeout: Option<String>,
    /// `pathPrefix`: prepended to the request path in the check request.
    pub path_prefix: Option<String>,
    /// `failOpen`: allow the request when the authorizer cannot be reached.
    pub fail_open: bool,
    /// `statusOnError`: status sent when the authorizer cannot be reached (default 403).
    pub status_on_error: Option<String>,
    /// `includeRequestHeadersInCheck`: client headers copied into the check request.
    pub include_request_headers_in_check: Vec<String>,
    /// `includeHeadersInCheck`: deprecated name of the same.
    pub include_headers_in_check: Vec<String>,
    /// `includeAdditionalHeadersInCheck`: fixed headers added to the check request.
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    /// `headersToUpstreamOnAllow`: authorizer headers copied into the allowed request.
    pub headers_to_upstream_on_allow: Vec<String>,
    /// `headersToDownstreamOnDeny`: authorizer headers copied into the denial.
    pub headers_to_downstream_on_deny: Vec<String>,
    /// `headersToDownstreamOnAllow`: authorizer headers copied into the allowed response.
    pub headers_to_downstream_on_allow: Vec<String>,
    /// `includeRequestBodyInCheck`: rejected (the body is not sent to the authorizer).
    pub include_request_body_in_check: Option<Value>,
}

/// A `uint32` as protobuf's JSON mapping reads it: a number or a decimal string.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| D::Error::custom(format!("{n} is not a port number"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| D::Error::custom(format!("{s:?} is not a port number"))),
        other => Err(D::Error::custom(format!(
            "expected a port number, found {other}"
        ))),
    }
}
