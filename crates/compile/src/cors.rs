//! `corsPolicy` → [`Cors`], as Istio hands it to Envoy's CORS filter.

use http::HeaderValue;
use rampart_config::networking::{CorsPolicy, UnmatchedPreflights};
use rampart_config::parse_duration;
use rampart_model::route::{Cors, StrMatch};

use crate::matches::string_match;

/// Compiles a route's CORS policy; `Err((field, message))` names a field that cannot be used.
pub fn cors(p: &CorsPolicy) -> Result<Box<Cors>, (String, String)> {
    let mut origins = Vec::new();
    for o in &p.allow_origin {
        origins.push(if o == "*" {
            StrMatch::Any
        } else {
            StrMatch::Exact(o.as_str().into())
        });
    }
    for (i, m) in p.allow_origins.iter().enumerate() {
        origins.push(string_match(m).map_err(|e| (format!("allowOrigins[{i}]"), e))?);
    }
    let list = |field: &str, items: &[String]| -> Result<Option<HeaderValue>, (String, String)> {
        if items.is_empty() {
            return Ok(None);
        }
        HeaderValue::try_from(items.join(","))
            .map(Some)
            .map_err(|_| (field.to_string(), "is not a valid header value".to_string()))
    };
    let max_age = p
        .max_age
        .as_deref()
        .and_then(|d| parse_duration(d).ok())
        .map(|d| HeaderValue::from(d.as_secs()));
    Ok(Box::new(Cors {
        origins,
        allow_methods: list("allowMethods", &p.allow_methods)?,
        allow_headers: list("allowHeaders", &p.allow_headers)?,
        expose_headers: list("exposeHeaders", &p.expose_headers)?,
        max_age,
        allow_credentials: p.allow_credentials.unwrap_or(false),
        forward_unmatched_preflights: p.unmatched_preflights != Some(UnmatchedPreflights::Ignore),
    }))
}
