//! Request matching: `HTTPMatchRequest` compiled to typed matchers.
//!
//! Receives a [`RequestView`] (borrowed from the request head) and answers whether a match entry
//! holds, or which condition failed first (for `explain`).

use http::{HeaderMap, HeaderName, Method};
use regex::Regex;

/// The parts of a request that routing looks at, borrowed from the request head.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Method.
    pub method: &'a Method,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host header or `:authority`, as sent (may include a port).
    pub authority: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Query string without `?`.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Listener port the request arrived on.
    pub port: u16,
    /// The request's verified JWT, once authentication has run (`@request.auth.claims` matches).
    pub auth: Option<&'a dyn crate::authz::AuthView>,
}

/// Istio `StringMatch`, compiled. Regexes are anchored (full match), as Envoy's `safe_regex`.
#[derive(Debug, Clone)]
pub enum StrMatch {
    /// Byte-equal.
    Exact(Box<str>),
    /// Starts with.
    Prefix(Box<str>),
    /// Whole value matches the regex.
    Regex(Regex),
    /// Any value (an empty `StringMatch {}`: presence only).
    Any,
}

impl StrMatch {
    /// Whether `value` matches, case-sensitively.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => value == &**s,
            Self::Prefix(p) => value.starts_with(&**p),
            Self::Regex(re) => re.is_match(value),
            Self::Any => true,
        }
    }
}

/// A `uri` match, with `ignoreUriCase`.
#[derive(Debug, Clone)]
pub struct PathMatch {
    /// The match.
    pub kind: StrMatch,
    /// Compare exact/prefix ignoring ASCII case.
    pub ignore_case: bool,
}

impl PathMatch {
    /// Whether the path matches.
    #[inline]
    pub fn matches(&self, path: &str) -> bool {
        if !self.ignore_case {
            return self.kind.matches(path);
        }
        match &self.kind {
            StrMatch::Exact(s) => path.eq_ignore_ascii_case(s),
            StrMatch::Prefix(p) => {
                path.len() >= p.len()
                    && path.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            }
            other => other.matches(path),
        }
    }
}

/// A header condition (`headers` or `withoutHeaders`).
#[derive(Debug, Clone)]
pub struct HeaderMatch {
    /// Header name.
    pub name: HeaderName,
    /// Value condition; the header must be present.
    pub value: StrMatch,
}

impl HeaderMatch {
    /// Whether the header is present and its (comma-joined) value matches.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&self.name).iter();
        let Some(first) = values.next() else {
            return false;
        };
        let Some(second) = values.next() else {
            return first.to_str().is_ok_and(|v| self.value.matches(v));
        };
        // Several lines of one header: Envoy matches the comma-joined value.
        let mut joined = String::new();
        for v in [first, second].into_iter().chain(values) {
            let Ok(v) = v.to_str() else { return false };
            if !joined.is_empty() {
                joined.push(',');
            }
            joined.push_str(v);
        }
        self.value.matches(&joined)
    }
}

/// A `queryParams` condition.
#[derive(Debug, Clone)]
pub struct QueryMatch {
    /// Parameter name.
    pub name: Box<str>,
    /// Value condition (`?key` without value has the value "").
    pub value: StrMatch,
}

impl QueryMatch {
    /// Whether the first parameter of that name exists and matches.
    pub fn matches(&self, query: Option<&str>) -> bool {
        let Some(query) = query else { return false };
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == &*self.name {
                return self.value.matches(value);
            }
        }
        false
    }
}

/// A JWT claim condition (`headers` / `withoutHeaders` keyed `@request.auth.claims.<name>`).
#[derive(Debug, Clone)]
pub struct ClaimMatch {
    /// The claim's path (`groups`, or `a`, `b` for a nested claim).
    pub path: Box<[Box<str>]>,
    /// Value condition: a string claim, or any element of a list claim, must match.
    pub value: StrMatch,
}

impl ClaimMatch {
    /// Whether the request carries a verified token whose claim matches.
    pub fn matches(&self, auth: Option<&dyn crate::authz::AuthView>) -> bool {
        auth.is_some_and(|a| {
            a.claim_values(&self.path)
                .iter()
                .any(|v| self.value.matches(v))
        })
    }

    /// The claim's name as written after `@request.auth.claims.`.
    pub fn name(&self) -> String {
        self.path.join(".")
    }
}

/// One compiled `HTTPMatchRequest`: every set condition must hold.
#[derive(Debug, Clone, Default)]
pub struct RouteMatch {
    /// `name`.
    pub name: Option<Box<str>>,
    /// `uri`.
    pub uri: Option<PathMatch>,
    /// `scheme`.
    pub scheme: Option<StrMatch>,
    /// `method`.
    pub method: Option<StrMatch>,
    /// `authority`.
    pub authority: Option<StrMatch>,
    /// `headers`.
    pub headers: Vec<HeaderMatch>,
    /// `withoutHeaders`.
    pub without_headers: Vec<HeaderMatch>,
    /// `queryParams`.
    pub query_params: Vec<QueryMatch>,
    /// `port`.
    pub port: Option<u16>,
    /// `headers` keyed `@request.auth.claims.…`.
    pub claims: Vec<ClaimMatch>,
    /// `withoutHeaders` keyed `@request.auth.claims.…`.
    pub without_claims: Vec<ClaimMatch>,
}

/// The first condition of a match entry that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// `uri`.
    Uri,
    /// `scheme`.
    Scheme,
    /// `method`.
    Method,
    /// `authority`.
    Authority,
    /// `headers[name]`.
    Header(HeaderName),
    /// `withoutHeaders[name]` matched.
    WithoutHeader(HeaderName),
    /// `queryParams[name]`.
    QueryParam(Box<str>),
    /// `port`.
    Port,
    /// `headers[@request.auth.claims.name]`.
    Claim(String),
    /// `withoutHeaders[@request.auth.claims.name]` matched.
    WithoutClaim(String),
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Uri => f.write_str("uri does not match"),
            Self::Scheme => f.write_str("scheme does not match"),
            Self::Method => f.write_str("method does not match"),
            Self::Authority => f.write_str("authority does not match"),
            Self::Header(h) => write!(f, "header {h} does not match"),
            Self::WithoutHeader(h) => write!(f, "withoutHeaders {h} is present and matches"),
            Self::QueryParam(q) => write!(f, "query parameter {q} does not match"),
            Self::Port => f.write_str("port does not match"),
            Self::Claim(c) => write!(f, "JWT claim {c} does not match"),
            Self::WithoutClaim(c) => write!(f, "withoutHeaders JWT claim {c} matches"),
        }
    }
}

impl RouteMatch {
    /// Whether every condition holds.
    #[inline]
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        self.first_mismatch(req).is_none()
    }

    /// The first condition that does not hold, in the order Istio lists the fields.
    pub fn first_mismatch(&self, req: &RequestView<'_>) -> Option<Mismatch> {
        if let Some(uri) = &self.uri {
            if !uri.matches(req.path) {
                return Some(Mismatch::Uri);
            }
        }
        if let Some(scheme) = &self.scheme {
            if !scheme.matches(req.scheme) {
                return Some(Mismatch::Scheme);
            }
        }
        if let Some(method) = &self.method {
            if !method.matches(req.method.as_str()) {
                return Some(Mismatch::Method);
            }
        }
        if let Some(authority) = &self.authority {
            if !authority.matches(req.authority) {
                return Some(Mismatch::Authority);
            }
        }
        if let Some(port) = self.port {
            if port != req.port {
                return Some(Mismatch::Port);
            }
        }
        for h in &self.headers {
            if !h.matches(req.headers) {
                return Some(Mismatch::Header(h.name.clone()));
            }
        }
        for h in &self.without_headers {
            if h.matches(req.headers) {
                return Some(Mismatch::WithoutHeader(h.name.clone()));
            }
        }
        for q in &self.query_params {
            if !q.matches(req.query) {
                return Some(Mismatch::QueryParam(q.name.clone()));
            }
        }
        for c in &self.claims {
            if !c.matches(req.auth) {
                return Some(Mismatch::Claim(c.name()));
            }
        }
        for c in &self.without_claims {
            if c.matches(req.auth) {
                return Some(Mismatch::WithoutClaim(c.name()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(path: &'a str, query: Option<&'a str>, headers: &'a HeaderMap) -> RequestView<'a> {
        RequestView {
            method: &Method::GET,
            scheme: "http",
            authority: "example.com",
            path,
            query,
            headers,
            port: 80,
            auth: None,
        }
    }

    #[test]
    fn query_param_exact_does_not_match_longer_value() {
        let q = QueryMatch {
            name: "debug".into(),
            value: StrMatch::Exact("1".into()),
        };
        assert!(q.matches(Some("debug=1")));
        assert!(!q.matches(Some("debug=10")));
        assert!(q.matches(Some("a=b&debug=1")));
        assert!(!q.matches(None));
        let empty = QueryMatch {
            name: "flag".into(),
            value: StrMatch::Exact("".into()),
        };
        assert!(empty.matches(Some("flag")));
    }

    #[test]
    fn ignore_case_applies_to_exact_and_prefix() {
        let m = PathMatch {
            kind: StrMatch::Prefix("/Api".into()),
            ignore_case: true,
        };
        assert!(m.matches("/api/x"));
        assert!(m.matches("/API"));
        assert!(!m.matches("/ap"));
    }

    #[test]
    fn header_values_are_joined_with_commas() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        let m = HeaderMatch {
            name: HeaderName::from_static("x-a"),
            value: StrMatch::Exact("1,2".into()),
        };
        assert!(m.matches(&headers));
    }

    #[test]
    fn without_headers_excludes_requests_carrying_the_header() {
        let mut headers = HeaderMap::new();
        let rm = RouteMatch {
            without_headers: vec![HeaderMatch {
                name: HeaderName::from_static("x-canary"),
                value: StrMatch::Any,
            }],
            ..Default::default()
        };
        assert!(rm.matches(&view("/", None, &headers)));
        headers.insert("x-canary", "yes".parse().unwrap());
        assert_eq!(
            rm.first_mismatch(&view("/", None, &headers)),
            Some(Mismatch::WithoutHeader(HeaderName::from_static("x-canary")))
        );
    }
}
