//! `corsPolicy`, compiled: which origins may call, and the headers a preflight or an actual
//! cross-origin request gets (Envoy's CORS filter).

use http::HeaderValue;

use super::StrMatch;

/// A route's CORS policy.
#[derive(Debug)]
pub struct Cors {
    /// `allowOrigins` (and the deprecated `allowOrigin`, where `*` means any).
    pub origins: Vec<StrMatch>,
    /// `Access-Control-Allow-Methods` for preflights.
    pub allow_methods: Option<HeaderValue>,
    /// `Access-Control-Allow-Headers` for preflights.
    pub allow_headers: Option<HeaderValue>,
    /// `Access-Control-Expose-Headers` for actual requests.
    pub expose_headers: Option<HeaderValue>,
    /// `Access-Control-Max-Age` (seconds) for preflights.
    pub max_age: Option<HeaderValue>,
    /// `allowCredentials`.
    pub allow_credentials: bool,
    /// `unmatchedPreflights`: forward preflights from other origins upstream (the default), or
    /// answer them without CORS headers (`IGNORE`).
    pub forward_unmatched_preflights: bool,
}

impl Cors {
    /// Whether `origin` may make cross-origin requests.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|m| m.matches(origin))
    }
}
