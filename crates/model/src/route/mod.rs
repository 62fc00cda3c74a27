//! Compiled HTTP routes: host table → virtual host → first matching route → action.

mod cors;
mod host;
mod index;
mod matcher;
mod resilience;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use regex::Regex;

use crate::cluster::ClusterId;

pub use cors::Cors;
pub use host::{normalize_host, RouteTable};
pub use index::PathIndex;
pub use matcher::{
    ClaimMatch, HeaderMatch, Mismatch, PathMatch, QueryMatch, RequestView, RouteMatch, StrMatch,
};
pub use resilience::{Abort, Fault, Mirror, RetryOn, RetryPolicy, Share, DEFAULT_BACKOFF};

/// Hash map for route lookups by host or path. Its keys come from configuration and requests
/// only look them up, so a fast seeded hash (foldhash) serves where SipHash's flooding
/// resistance buys nothing; it was a fifth of a route lookup's instructions.
type LookupMap<V> = std::collections::HashMap<Box<str>, V, foldhash::fast::RandomState>;

/// Routes of one domain (Envoy's virtual host), in first-match order.
#[derive(Debug)]
pub struct VirtualHost {
    /// Domain as served: `reviews.default.svc.cluster.local`, `*.example.com` or `*`.
    pub domain: Box<str>,
    /// Routes, merged from every VirtualService bound to this domain, in order.
    pub routes: Vec<Route>,
    /// Path index over `routes` so lookups do not test every rule.
    pub index: PathIndex,
    /// The Gateway server asked for `tls.httpsRedirect`: answer 301 to https.
    pub https_redirect: bool,
    /// Some route matches on JWT claims: the route is chosen again once the token is verified.
    pub claim_routes: bool,
}

impl VirtualHost {
    /// Builds a virtual host and its path index.
    pub fn new(domain: Box<str>, routes: Vec<Route>, https_redirect: bool) -> Self {
        let index = PathIndex::build(&routes);
        let claim_routes = routes.iter().any(|r| {
            r.matches
                .iter()
                .any(|m| !m.claims.is_empty() || !m.without_claims.is_empty())
        });
        Self {
            domain,
            routes,
            index,
            https_redirect,
            claim_routes,
        }
    }

    /// The first route that matches, with the index of the match entry that matched
    /// (`None` for a route without `match`).
    pub fn find_route(&self, req: &RequestView<'_>) -> Option<(&Route, Option<usize>)> {
        self.index.find(&self.routes, req)
    }
}

/// Where a route came from, for logs, `explain` and `/config_dump`.
#[derive(Clone, Debug)]
pub struct RouteOrigin {
    /// `namespace/name` of the VirtualService.
    pub virtual_service: Box<str>,
    /// Index of the rule in its `spec.http` list.
    pub rule: u32,
    /// File and line of the rule.
    pub location: Box<str>,
}

/// One compiled `HTTPRoute`.
#[derive(Debug)]
pub struct Route {
    /// Route name (`HTTPRoute.name`, else `<vs>.<index>`), used in metrics and logs.
    pub name: Box<str>,
    /// Where the rule was written.
    pub origin: RouteOrigin,
    /// OR-ed match entries; empty means the route matches every request.
    pub matches: Vec<RouteMatch>,
    /// What to do with a matching request.
    pub action: Action,
    /// `rewrite`.
    pub rewrite: Option<Rewrite>,
    /// `headers.request`.
    pub request_headers: HeaderOps,
    /// `headers.response`.
    pub response_headers: HeaderOps,
    /// `timeout`; `None` = no route timeout (Istio's default).
    pub timeout: Option<Duration>,
    /// `retries`, or Istio's default policy.
    pub retry: RetryPolicy,
    /// `fault`.
    pub fault: Option<Box<Fault>>,
    /// `mirror`/`mirrors`.
    pub mirrors: Box<[Mirror]>,
    /// `corsPolicy`.
    pub cors: Option<Box<Cors>>,
    /// Rate limits from the BackendTrafficPolicy that targets this route's VirtualService or
    /// Gateway.
    pub rate_limit: Option<Arc<crate::rate_limit::RouteRateLimit>>,
    /// Stats handle (index into [`crate::Snapshot::stat_keys`]) for responses the gateway makes
    /// itself on this route (redirects, direct responses).
    pub stat: u32,
}

/// What a matched route does.
#[derive(Debug)]
pub enum Action {
    /// Forward to one of several weighted destinations.
    Forward(Forward),
    /// `redirect`.
    Redirect(Redirect),
    /// `directResponse`.
    Direct(DirectResponse),
}

/// Weighted destinations of a forwarding route.
#[derive(Debug)]
pub struct Forward {
    /// Destinations with a weight > 0 (or the single destination).
    pub destinations: Vec<WeightedDestination>,
    /// Sum of the weights (> 0).
    pub total_weight: u32,
}

impl Forward {
    /// The destination for a uniformly random `roll` in `0..total_weight`.
    pub fn pick(&self, roll: u32) -> &WeightedDestination {
        let mut acc = 0;
        for dest in &self.destinations {
            acc += dest.weight;
            if roll < acc {
                return dest;
            }
        }
        // Unreachable for roll < total_weight; the last destination is a safe answer.
        &self.destinations[self.destinations.len() - 1]
    }
}

/// One `HTTPRouteDestination`.
#[derive(Debug)]
pub struct WeightedDestination {
    /// The cluster; `None` when the host or subset does not exist (Envoy answers 503 `NC`).
    pub cluster: Option<ClusterId>,
    /// Relative weight.
    pub weight: u32,
    /// Istio `destination_service` style name: `host`, or `host|subset`.
    pub name: Box<str>,
    /// Stats handle (index into [`crate::Snapshot::stat_keys`]).
    pub stat: u32,
    /// Per-destination `headers.request`.
    pub request_headers: HeaderOps,
    /// Per-destination `headers.response`.
    pub response_headers: HeaderOps,
}

/// `HTTPRedirect`.
#[derive(Debug)]
pub struct Redirect {
    /// New path (`uri`: whole path; `prefixRewrite`: matched prefix).
    pub path: Option<PathRewrite>,
    /// New authority (host without port).
    pub authority: Option<Box<str>>,
    /// New port.
    pub port: Option<RedirectPort>,
    /// New scheme.
    pub scheme: Option<Box<str>>,
    /// 301 unless `redirectCode` says otherwise.
    pub status: StatusCode,
}

/// How a redirect or rewrite changes the path.
#[derive(Debug, Clone)]
pub enum PathRewrite {
    /// Replace the whole path.
    Full(Box<str>),
    /// Replace the prefix that the route matched (whole path if it matched otherwise).
    Prefix(Box<str>),
}

/// Port of a redirect.
#[derive(Debug, Clone, Copy)]
pub enum RedirectPort {
    /// `port`.
    Fixed(u16),
    /// `derivePort: FROM_PROTOCOL_DEFAULT` (80 or 443, omitted from the URL).
    ProtocolDefault,
    /// `derivePort: FROM_REQUEST_PORT`.
    FromRequest,
}

/// `HTTPDirectResponse`.
#[derive(Debug)]
pub struct DirectResponse {
    /// Status code.
    pub status: StatusCode,
    /// Body bytes.
    pub body: Bytes,
}

/// `HTTPRewrite`.
#[derive(Debug)]
pub struct Rewrite {
    /// `uri` (prefix replacement when the route matched a prefix).
    pub uri: Option<PathRewrite>,
    /// `uriRegexRewrite`: regex and replacement (`\1` already converted to `${1}`).
    pub uri_regex: Option<(Regex, Box<str>)>,
    /// `authority`.
    pub authority: Option<HeaderValue>,
}

/// `Headers.HeaderOperations`, compiled.
#[derive(Debug, Default, Clone)]
pub struct HeaderOps {
    /// Overwrite.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Append.
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Delete.
    pub remove: Vec<HeaderName>,
}

impl HeaderOps {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies remove, then set, then add.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}
