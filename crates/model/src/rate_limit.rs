//! Compiled rate limits (Envoy Gateway's `BackendTrafficPolicy.spec.rateLimit`): which requests a
//! rule counts, under which descriptor, against which limit.
//!
//! A route carries at most one [`RouteRateLimit`]: the policy plus the route's identity, so each
//! route has its own buckets unless a rule is `shared` (Envoy Gateway's semantics). Selectors are
//! precompiled (regexes, CIDR blocks, methods); matching never parses. Counting is done by the
//! runtime (`rampart-ratelimit`), which keys its buckets by [`RateLimitRule::id`], the route key
//! and the descriptor, so they outlive snapshots.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};
use regex::Regex;

pub use crate::cidr::Cidr;
use crate::route::RequestView;

/// A policy's limits as applied to one route.
#[derive(Debug)]
pub struct RouteRateLimit {
    /// The policy.
    pub policy: Arc<RateLimitPolicy>,
    /// The route's stable identity (`<vs namespace>/<vs name>/<rule index>`): buckets of rules
    /// that are not `shared` are per route.
    pub route: Arc<str>,
}

/// One BackendTrafficPolicy's `rateLimit`, compiled.
#[derive(Debug)]
pub struct RateLimitPolicy {
    /// `namespace/name` of the policy (the `policy` label of the metrics).
    pub name: Arc<str>,
    /// Local rules, then global rules.
    pub rules: Box<[RateLimitRule]>,
    /// Where `spec.rateLimit.global` is written (`file:line: BackendTrafficPolicy ns/name`), when
    /// the policy has global rules: a gateway without Redis refuses the configuration there.
    pub global_at: Option<Box<str>>,
}

impl RateLimitPolicy {
    /// Whether any rule is global (needs Redis).
    pub fn has_global(&self) -> bool {
        self.rules.iter().any(|r| r.scope == Scope::Global)
    }
}

/// Where a rule's counter lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A token bucket in this process.
    Local,
    /// A fixed-window counter in Redis, shared by every replica.
    Global,
}

/// One `RateLimitRule`.
#[derive(Debug)]
pub struct RateLimitRule {
    /// Stable identity: `<policy ns>/<policy name>/<local|global>/<index>`.
    pub id: Arc<str>,
    /// Local or global.
    pub scope: Scope,
    /// `clientSelectors` (all must match; empty matches every request).
    pub selectors: Box<[Selector]>,
    /// `limit.requests` (≥ 1).
    pub requests: u32,
    /// `limit.unit` as a duration.
    pub unit: Duration,
    /// `shared`: one bucket for every targeted route.
    pub shared: bool,
    /// `shadowMode`: count, never refuse.
    pub shadow: bool,
    /// `xRateLimitHeaders` is not `Off`.
    pub headers: bool,
}

impl RateLimitRule {
    /// The rule's descriptor for this request when every selector matches: the `Distinct`
    /// values in selector order, separated by NUL (empty when there are none). `None` when a
    /// selector does not match (the rule does not count this request).
    pub fn descriptor(&self, req: &RequestView<'_>, client: IpAddr) -> Option<String> {
        let mut out = String::new();
        for sel in &self.selectors {
            sel.matches(req, client, &mut out)?;
        }
        Some(out)
    }
}

/// One `RateLimitSelectCondition`.
#[derive(Debug, Default)]
pub struct Selector {
    /// `headers` (ANDed).
    pub headers: Vec<HeaderSelector>,
    /// `methods`: (method, invert); the plain ones are ORed, the inverted ones must all miss.
    pub methods: Vec<(Method, bool)>,
    /// `path`.
    pub path: Option<PathSelector>,
    /// `sourceCIDR`.
    pub source: Option<SourceSelector>,
}

impl Selector {
    /// Appends this selector's distinct values to `out`; `None` when it does not match.
    fn matches(&self, req: &RequestView<'_>, client: IpAddr, out: &mut String) -> Option<()> {
        if !self.methods.is_empty() {
            let m = req.method;
            let plain = self.methods.iter().filter(|(_, inv)| !inv);
            let any_plain = self.methods.iter().any(|(_, inv)| !inv);
            if any_plain && !plain.clone().any(|(x, _)| x == m) {
                return None;
            }
            if self.methods.iter().any(|(x, inv)| *inv && x == m) {
                return None;
            }
        }
        if let Some(p) = &self.path {
            if p.matches(req.path) == p.invert {
                return None;
            }
        }
        if let Some(s) = &self.source {
            if s.block.contains(client) == s.invert {
                return None;
            }
            if s.distinct {
                push(out, &client.to_string());
            }
        }
        for h in &self.headers {
            let value = req.headers.get(h.name())?.to_str().ok()?;
            match h {
                HeaderSelector::Exact {
                    value: v, invert, ..
                } => {
                    if (value == &**v) == *invert {
                        return None;
                    }
                }
                HeaderSelector::Regex { regex, invert, .. } => {
                    if regex.is_match(value) == *invert {
                        return None;
                    }
                }
                HeaderSelector::Distinct { .. } => push(out, value),
            }
        }
        Some(())
    }
}

fn push(out: &mut String, value: &str) {
    if !out.is_empty() {
        out.push('\0');
    }
    out.push_str(value);
}

/// One `HeaderMatch`. A request without the header never matches (as Envoy's header matchers).
#[derive(Debug)]
pub enum HeaderSelector {
    /// `type: Exact`.
    Exact {
        /// Header name.
        name: HeaderName,
        /// Expected value.
        value: Box<str>,
        /// `invert`.
        invert: bool,
    },
    /// `type: RegularExpression` (whole-value match).
    Regex {
        /// Header name.
        name: HeaderName,
        /// Anchored regex.
        regex: Regex,
        /// `invert`.
        invert: bool,
    },
    /// `type: Distinct`: each value has its own bucket.
    Distinct {
        /// Header name.
        name: HeaderName,
    },
}

impl HeaderSelector {
    /// The header this selector reads.
    pub fn name(&self) -> &HeaderName {
        match self {
            Self::Exact { name, .. } | Self::Regex { name, .. } | Self::Distinct { name } => name,
        }
    }
}

/// One `PathMatch`.
#[derive(Debug)]
pub struct PathSelector {
    /// How the path is compared.
    pub kind: PathKind,
    /// `invert`.
    pub invert: bool,
}

/// `PathMatch.type` with its value.
#[derive(Debug)]
pub enum PathKind {
    /// `Exact`.
    Exact(Box<str>),
    /// `PathPrefix`: whole segments (`/api` matches `/api` and `/api/x`, not `/apix`).
    Prefix(Box<str>),
    /// `RegularExpression` (whole-path match).
    Regex(Regex),
}

impl PathSelector {
    /// Whether `path` matches, before `invert`.
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            PathKind::Exact(p) => path == &**p,
            PathKind::Prefix(p) => {
                let p = p.trim_end_matches('/');
                path.strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
            PathKind::Regex(re) => re.is_match(path),
        }
    }
}

/// One `SourceMatch`.
#[derive(Debug)]
pub struct SourceSelector {
    /// The block.
    pub block: Cidr,
    /// `type: Distinct`: each client address has its own bucket.
    pub distinct: bool,
    /// `invert`.
    pub invert: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn path_prefix_is_segment_wise() {
        let p = PathSelector {
            kind: PathKind::Prefix("/api".into()),
            invert: false,
        };
        assert!(p.matches("/api") && p.matches("/api/v1"));
        assert!(!p.matches("/apix"));
        let root = PathSelector {
            kind: PathKind::Prefix("/".into()),
            invert: false,
        };
        assert!(root.matches("/anything"));
    }
}
