//! Compiled `RequestAuthentication`: the JWT providers this proxy checks tokens against.
//!
//! Pure data, built by `compile` from every RequestAuthentication bound to this proxy; the
//! `rampart-jwt` crate turns it into a running authenticator (JWKS caches, verifiers).

use std::time::Duration;

use http::HeaderName;

/// One `jwtRules[]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct JwtRule {
    /// Where it was written (`namespace/name` and `jwtRules[i]`), for logs and metrics.
    pub origin: Box<str>,
    /// `issuer`: must equal the token's `iss` (empty: any issuer, only when `jwksUri` is set).
    pub issuer: Box<str>,
    /// `audiences`: the token's `aud` must contain one of them; empty = no audience check.
    pub audiences: Box<[Box<str>]>,
    /// `jwks` or `jwksUri`.
    pub jwks: JwksSource,
    /// Where tokens are looked for. Empty `headers` and `params` and `cookies` means Istio's
    /// default: `Authorization: Bearer <token>`, then the `access_token` query parameter.
    pub locations: TokenLocations,
    /// `outputPayloadToHeader`: header that receives the verified payload, base64url-encoded.
    pub output_payload_to_header: Option<HeaderName>,
    /// `outputClaimToHeaders`: `(header, claim)` pairs; nested claims as `a.b`.
    pub output_claim_to_headers: Box<[(HeaderName, Box<str>)]>,
    /// `forwardOriginalToken`: keep the token in the request sent upstream (default false).
    pub forward_original_token: bool,
    /// `timeout`: JWKS fetch timeout (default 5 s).
    pub fetch_timeout: Duration,
    /// `spaceDelimitedClaims` plus Istio's always-split `scope` and `permission`.
    pub space_delimited_claims: Box<[Box<str>]>,
}

/// The key set of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// `jwks`: the JWKS JSON, inline.
    Inline(Box<str>),
    /// `jwksUri`: fetched (http or https), cached and refreshed.
    Uri(Box<str>),
}

/// `fromHeaders`, `fromParams`, `fromCookies`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenLocations {
    /// `fromHeaders`: header name and required value prefix (e.g. `Bearer `; may be empty).
    pub headers: Box<[(HeaderName, Box<str>)]>,
    /// `fromParams`: query parameter names.
    pub params: Box<[Box<str>]>,
    /// `fromCookies`: cookie names.
    pub cookies: Box<[Box<str>]>,
}

impl TokenLocations {
    /// Whether no location is configured (Istio's defaults apply).
    pub fn is_default(&self) -> bool {
        self.headers.is_empty() && self.params.is_empty() && self.cookies.is_empty()
    }
}
