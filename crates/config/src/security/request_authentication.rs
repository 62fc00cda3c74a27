//! `RequestAuthentication` (`security.istio.io/v1`, `v1beta1`): which JWTs a workload accepts.

use serde::Deserialize;

use super::PolicyTargetReference;
use crate::networking::TypeWorkloadSelector;

/// Mirrors `istio.security.v1.RequestAuthentication`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RequestAuthentication {
    /// `selector`: workloads the policy applies to (absent: the whole namespace).
    pub selector: Option<TypeWorkloadSelector>,
    /// `targetRef`: a Gateway the policy applies to.
    pub target_ref: Option<PolicyTargetReference>,
    /// `targetRefs`: Gateways the policy applies to.
    pub target_refs: Vec<PolicyTargetReference>,
    /// `jwtRules`: the accepted issuers.
    pub jwt_rules: Vec<JwtRule>,
}

/// Mirrors `istio.security.v1.JWTRule`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct JwtRule {
    /// `issuer`: the token's `iss` must equal it.
    pub issuer: String,
    /// `audiences`: accepted `aud` values.
    pub audiences: Vec<String>,
    /// `jwksUri`: where the public keys are fetched.
    pub jwks_uri: Option<String>,
    /// `jwks`: the public keys, inline (JWKS JSON).
    pub jwks: Option<String>,
    /// `fromHeaders`: headers carrying the token.
    pub from_headers: Vec<JwtHeader>,
    /// `fromParams`: query parameters carrying the token.
    pub from_params: Vec<String>,
    /// `fromCookies`: cookies carrying the token.
    pub from_cookies: Vec<String>,
    /// `outputPayloadToHeader`: header that receives the verified payload (base64url).
    pub output_payload_to_header: Option<String>,
    /// `outputClaimToHeaders`: claims copied to headers.
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// `forwardOriginalToken`: keep the token in the forwarded request.
    pub forward_original_token: bool,
    /// `timeout`: JWKS fetch timeout (default 5 s).
    pub timeout: Option<String>,
    /// `spaceDelimitedClaims`: claims split on spaces for authorization (besides `scope` and
    /// `permission`).
    pub space_delimited_claims: Vec<String>,
}

/// Mirrors `istio.security.v1.JWTHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct JwtHeader {
    /// `name`: header name (required).
    pub name: String,
    /// `prefix`: value prefix before the token, e.g. `Bearer `.
    pub prefix: String,
}

/// Mirrors `istio.security.v1.ClaimToHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ClaimToHeader {
    /// `header`: header to set.
    pub header: String,
    /// `claim`: claim to copy (nested as `a.b`).
    pub claim: String,
}
