//! `HTTPMatchRequest` → [`RouteMatch`]: string matches typed, regexes anchored and built once.

use http::HeaderName;
use rampart_config::networking::{HttpMatchRequest, StringMatch};
use rampart_model::route::{ClaimMatch, HeaderMatch, PathMatch, QueryMatch, RouteMatch, StrMatch};
use regex::Regex;

/// Builds an anchored regex (Envoy's `safe_regex` is a full match).
pub fn anchored(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

/// A `StringMatch`; an empty one matches any value (presence).
pub fn string_match(m: &StringMatch) -> Result<StrMatch, String> {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if let Some(exact) = &m.exact {
        return Ok(StrMatch::Exact(exact.as_str().into()));
    }
    if let Some(prefix) = nonempty(&m.prefix) {
        return Ok(StrMatch::Prefix(prefix.into()));
    }
    if let Some(regex) = nonempty(&m.regex) {
        return anchored(&regex).map(StrMatch::Regex);
    }
    Ok(StrMatch::Any)
}

/// Compiles one match entry; `Err((field, message))` names the failing field relative to it.
pub fn route_match(m: &HttpMatchRequest) -> Result<RouteMatch, (String, String)> {
    let field = |name: &str, r: Result<StrMatch, String>| r.map_err(|e| (name.to_string(), e));
    let mut out = RouteMatch {
        name: m.name.as_deref().map(Into::into),
        ..Default::default()
    };
    if let Some(uri) = &m.uri {
        let kind = field("uri", string_match(uri))?;
        let kind = match kind {
            // ignoreUriCase compares exact/prefix case-insensitively; keep patterns lowercase.
            StrMatch::Exact(s) if m.ignore_uri_case => {
                StrMatch::Exact(s.to_ascii_lowercase().into())
            }
            StrMatch::Prefix(s) if m.ignore_uri_case => {
                StrMatch::Prefix(s.to_ascii_lowercase().into())
            }
            other => other,
        };
        out.uri = Some(PathMatch {
            kind,
            ignore_case: m.ignore_uri_case,
        });
    }
    if let Some(s) = &m.scheme {
        out.scheme = Some(field("scheme", string_match(s))?);
    }
    if let Some(s) = &m.method {
        out.method = Some(field("method", string_match(s))?);
    }
    if let Some(s) = &m.authority {
        out.authority = Some(field("authority", string_match(s))?);
    }
    for (name, value) in &m.headers {
        // Istio ignores these pseudo keys in `headers`.
        if matches!(name.as_str(), "uri" | "scheme" | "method" | "authority") {
            continue;
        }
        let at = || format!("headers.{name}");
        match claim_path(name) {
            Some(path) => out.claims.push(ClaimMatch {
                path,
                value: string_match(value).map_err(|e| (at(), e))?,
            }),
            None => out
                .headers
                .push(header_match(name, value).map_err(|e| (at(), e))?),
        }
    }
    for (name, value) in &m.without_headers {
        let at = || format!("withoutHeaders.{name}");
        match claim_path(name) {
            Some(path) => out.without_claims.push(ClaimMatch {
                path,
                value: string_match(value).map_err(|e| (at(), e))?,
            }),
            None => out
                .without_headers
                .push(header_match(name, value).map_err(|e| (at(), e))?),
        }
    }
    for (name, value) in &m.query_params {
        let value = string_match(value).map_err(|e| (format!("queryParams.{name}"), e))?;
        out.query_params.push(QueryMatch {
            name: name.as_str().into(),
            value,
        });
    }
    out.port = m.port.map(|p| p as u16);
    Ok(out)
}

/// The claim path of an Istio JWT-claim match key: `@request.auth.claims.groups` → `groups`,
/// `@request.auth.claims.a.b` or `@request.auth.claims[a][b]` → `a`, `b`.
fn claim_path(key: &str) -> Option<Box<[Box<str>]>> {
    let rest = key.strip_prefix("@request.auth.claims")?;
    let parts: Vec<Box<str>> = match rest.strip_prefix('.') {
        Some(dotted) => dotted.split('.').map(Box::from).collect(),
        None => rest
            .strip_prefix('[')?
            .strip_suffix(']')?
            .split("][")
            .map(Box::from)
            .collect(),
    };
    (!parts.iter().any(|p| p.is_empty())).then(|| parts.into())
}

fn header_match(name: &str, value: &StringMatch) -> Result<HeaderMatch, String> {
    let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    Ok(HeaderMatch {
        name,
        value: string_match(value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_are_full_matches() {
        let re = string_match(&StringMatch {
            regex: Some("/items/[0-9]+".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(re.matches("/items/12"));
        assert!(!re.matches("/items/12/x"));
        assert!(!re.matches("/x/items/12"));
    }

    #[test]
    fn empty_match_is_presence() {
        assert!(matches!(
            string_match(&StringMatch::default()).unwrap(),
            StrMatch::Any
        ));
    }
}
