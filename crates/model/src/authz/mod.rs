//! Compiled `AuthorizationPolicy`s bound to this proxy, and their evaluation.
//!
//! Evaluation follows Istio (security/authorization docs, `model.go`): any matching DENY policy
//! denies; then, if no ALLOW policy applies to the proxy the request is allowed, else it is
//! allowed only when an ALLOW policy matches. AUDIT policies never change the decision. A policy
//! matches when any of its rules does; a rule when every one of its `from`, `to` and `when`
//! parts does (inside a list field, any value; `not*` fields, no value).

mod ext_authz;
mod matchers;
mod path_template;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

use http::{HeaderMap, HeaderName};

pub use crate::cidr::Cidr;
pub use ext_authz::ExtAuthz;
pub use matchers::{Field, PathPattern, StrPattern};
pub use path_template::PathTemplate;

/// Every policy that applies to this proxy, by action.
#[derive(Debug, Default)]
pub struct Authorization {
    /// CUSTOM policies, each with its external authorizer.
    pub custom: Box<[(Policy, std::sync::Arc<ExtAuthz>)]>,
    /// DENY policies.
    pub deny: Box<[Policy]>,
    /// ALLOW policies; when there is at least one, a request must match one of them.
    pub allow: Box<[Policy]>,
    /// AUDIT policies (marked in the access log, never deny).
    pub audit: Box<[Policy]>,
}

impl Authorization {
    /// Whether no policy applies (requests skip authorization entirely).
    pub fn is_empty(&self) -> bool {
        self.custom.is_empty()
            && self.deny.is_empty()
            && self.allow.is_empty()
            && self.audit.is_empty()
    }

    /// The external authorizer to ask, when a CUSTOM policy matches (evaluated before every
    /// other action, as in Istio).
    pub fn custom_check(&self, req: &AuthzRequest<'_>) -> Option<&std::sync::Arc<ExtAuthz>> {
        self.custom
            .iter()
            .find(|(policy, _)| policy.matches(req, true))
            .map(|(_, provider)| provider)
    }

    /// Istio's decision for `req`.
    pub fn evaluate(&self, req: &AuthzRequest<'_>) -> Verdict<'_> {
        let audited = self.audit.iter().any(|p| p.matches(req, false));
        if let Some(p) = self.deny.iter().find(|p| p.matches(req, true)) {
            return Verdict {
                allowed: false,
                policy: Some(&p.name),
                audited,
            };
        }
        if self.allow.is_empty() {
            return Verdict {
                allowed: true,
                policy: None,
                audited,
            };
        }
        match self.allow.iter().find(|p| p.matches(req, false)) {
            Some(p) => Verdict {
                allowed: true,
                policy: Some(&p.name),
                audited,
            },
            None => Verdict {
                allowed: false,
                policy: None,
                audited,
            },
        }
    }
}

/// The outcome of [`Authorization::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The policy that decided (`namespace/name`), when one matched.
    pub policy: Option<&'a str>,
    /// Whether an AUDIT policy matched.
    pub audited: bool,
}

/// One AuthorizationPolicy.
#[derive(Debug)]
pub struct Policy {
    /// `namespace/name`, for logs.
    pub name: Box<str>,
    /// `rules`; none = the policy never matches (an ALLOW policy without rules allows nothing).
    pub rules: Box<[Rule]>,
}

impl Policy {
    /// Whether any rule matches. For DENY policies (`deny`), paths are also tried with `;params`
    /// removed from every segment, so `/admin;x` cannot slip past a rule on `/admin`.
    pub fn matches(&self, req: &AuthzRequest<'_>, deny: bool) -> bool {
        if self.rules.iter().any(|r| r.matches(req)) {
            return true;
        }
        if deny && req.path.contains(';') {
            let stripped = strip_path_params(req.path);
            let alt = AuthzRequest {
                path: &stripped,
                ..*req
            };
            return self.rules.iter().any(|r| r.matches(&alt));
        }
        false
    }
}

/// `path` with every segment's `;params` removed.
fn strip_path_params(path: &str) -> String {
    path.split('/')
        .map(|seg| seg.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// One rule: `from` (any), `to` (any), `when` (all); an empty part matches.
#[derive(Debug, Default)]
pub struct Rule {
    /// `from[].source`.
    pub from: Box<[Source]>,
    /// `to[].operation`.
    pub to: Box<[Operation]>,
    /// `when`.
    pub when: Box<[Condition]>,
}

impl Rule {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        (self.from.is_empty() || self.from.iter().any(|s| s.matches(req)))
            && (self.to.is_empty() || self.to.iter().any(|o| o.matches(req)))
            && self.when.iter().all(|c| c.matches(req))
    }
}

/// `Source`: every set field must match.
#[derive(Debug, Default)]
pub struct Source {
    /// `principals` / `notPrincipals` (mTLS peer identity).
    pub principals: Field<StrPattern>,
    /// `requestPrincipals` / `notRequestPrincipals` (JWT `iss/sub`).
    pub request_principals: Field<StrPattern>,
    /// `namespaces` / `notNamespaces` (mTLS peer).
    pub namespaces: Field<StrPattern>,
    /// `serviceAccounts` / `notServiceAccounts`, as `ns/sa` (a bare `sa` is compiled into the
    /// policy's namespace).
    pub service_accounts: Field<StrPattern>,
    /// `ipBlocks` / `notIpBlocks` (TCP peer).
    pub ip_blocks: Field<Cidr>,
    /// `remoteIpBlocks` / `notRemoteIpBlocks` (original client).
    pub remote_ip_blocks: Field<Cidr>,
}

impl Source {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        let peer = req.peer_principal;
        self.principals.test(peer, |p, v| p.matches(v))
            && self
                .request_principals
                .test(req.auth.map(|a| a.principal()), |p, v| p.matches(v))
            && self
                .namespaces
                .test(peer.and_then(peer_namespace), |p, v| p.matches(v))
            && self
                .service_accounts
                .test(peer.and_then(peer_service_account).as_deref(), |p, v| {
                    p.matches(v)
                })
            && self
                .ip_blocks
                .test(Some(req.source_ip), |c, ip| c.contains(ip))
            && self
                .remote_ip_blocks
                .test(Some(req.remote_ip), |c, ip| c.contains(ip))
    }
}

/// `Operation`: every set field must match.
#[derive(Debug, Default)]
pub struct Operation {
    /// `hosts` / `notHosts`, lower-cased: compared case-insensitively, with and without port.
    pub hosts: Field<StrPattern>,
    /// `ports` / `notPorts`.
    pub ports: Field<u16>,
    /// `methods` / `notMethods`.
    pub methods: Field<StrPattern>,
    /// `paths` / `notPaths`.
    pub paths: Field<PathPattern>,
}

impl Operation {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        self.hosts
            .test_any(host_forms(req.host), |p, h| p.matches(&h))
            && self.ports.test(Some(req.port), |p, v| *p == v)
            && self.methods.test(Some(req.method), |p, v| p.matches(v))
            && self.paths.test(Some(req.path), |p, v| p.matches(v))
    }
}

/// The forms a Host is compared in: lower-cased, trailing dot removed; as sent (with port) and
/// without the port.
fn host_forms(host: &str) -> impl Iterator<Item = String> {
    let lower = host.to_ascii_lowercase();
    let (name, port) = split_port(&lower);
    let name = name.strip_suffix('.').unwrap_or(name);
    let full = match port {
        Some(p) => format!("{name}:{p}"),
        None => name.to_string(),
    };
    let bare = port.map(|_| name.to_string());
    std::iter::once(full).chain(bare)
}

/// `host:port` → (`host`, `Some(port)`); IPv6 literals keep their brackets.
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rfind(':') {
        Some(i)
            if !host[i..].contains(']') && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            (&host[..i], Some(&host[i + 1..]))
        }
        _ => (host, None),
    }
}

/// A `when` condition.
#[derive(Debug)]
pub struct Condition {
    /// The attribute named by `key`.
    pub attribute: Attribute,
    /// `values` / `notValues`.
    pub values: Field<CondValue>,
}

/// What a `when` key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `request.headers[name]`.
    Header(HeaderName),
    /// `source.ip`.
    SourceIp,
    /// `remote.ip`.
    RemoteIp,
    /// `source.namespace`.
    SourceNamespace,
    /// `source.principal`.
    SourcePrincipal,
    /// `source.serviceAccount`.
    SourceServiceAccount,
    /// `source.trustDomain`.
    SourceTrustDomain,
    /// `request.auth.principal`.
    RequestPrincipal,
    /// `request.auth.audiences`.
    Audiences,
    /// `request.auth.presenter`.
    Presenter,
    /// `request.auth.claims[a][b]…`.
    Claim(Box<[Box<str>]>),
    /// `destination.ip`.
    DestinationIp,
    /// `destination.port`.
    DestinationPort,
    /// `connection.sni`.
    Sni,
}

/// A condition value: a string pattern, an IP block or a port, by attribute.
#[derive(Debug)]
pub enum CondValue {
    /// String attributes.
    Str(StrPattern),
    /// IP attributes.
    Ip(Cidr),
    /// `destination.port`.
    Port(u16),
}

impl CondValue {
    fn matches_str(&self, v: &str) -> bool {
        matches!(self, CondValue::Str(p) if p.matches(v))
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, CondValue::Ip(c) if c.contains(ip))
    }
}

impl Condition {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        let f = &self.values;
        let s = |p: &CondValue, v: &str| p.matches_str(v);
        let ip = |p: &CondValue, v: IpAddr| p.matches_ip(v);
        let peer = req.peer_principal;
        match &self.attribute {
            Attribute::Header(name) => f.test_any(
                req.headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
                s,
            ),
            Attribute::SourceIp => f.test(Some(req.source_ip), ip),
            Attribute::RemoteIp => f.test(Some(req.remote_ip), ip),
            Attribute::DestinationIp => f.test(Some(req.destination_ip), ip),
            Attribute::DestinationPort => f.test(
                Some(req.port),
                |p, v| matches!(p, CondValue::Port(n) if *n == v),
            ),
            Attribute::SourcePrincipal => f.test(peer, s),
            Attribute::SourceNamespace => f.test(peer.and_then(peer_namespace), s),
            Attribute::SourceServiceAccount => {
                f.test(peer.and_then(peer_service_account).as_deref(), s)
            }
            Attribute::SourceTrustDomain => f.test(peer.and_then(peer_trust_domain), s),
            Attribute::Sni => f.test(req.sni, s),
            Attribute::RequestPrincipal => f.test(req.auth.map(|a| a.principal()), s),
            Attribute::Presenter => f.test(req.auth.and_then(|a| a.presenter()), s),
            Attribute::Audiences => match req.auth {
                Some(a) => f.test_any(a.audiences().into_iter(), s),
                None => f.test(None::<&str>, s),
            },
            Attribute::Claim(path) => match req.auth {
                Some(a) => f.test_any(a.claim_values(path).into_iter(), s),
                None => f.test(None::<&str>, s),
            },
        }
    }
}

/// The verified JWT of a request, as authorization sees it.
pub trait AuthView: std::fmt::Debug + Sync {
    /// `request.auth.principal`: `<iss>/<sub>`.
    fn principal(&self) -> &str;
    /// `request.auth.audiences`.
    fn audiences(&self) -> Vec<&str>;
    /// `request.auth.presenter` (`azp`).
    fn presenter(&self) -> Option<&str>;
    /// Values of the claim at `path` (nested names); a list claim gives every element, a
    /// space-delimited claim every word.
    fn claim_values(&self, path: &[Box<str>]) -> Vec<&str>;
}

/// What authorization knows of a request.
#[derive(Clone, Copy)]
pub struct AuthzRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Host (`:authority`) as sent.
    pub host: &'a str,
    /// Normalised path, without the query.
    pub path: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Listener port (`destination.port`).
    pub port: u16,
    /// TCP peer address (`source.ip`).
    pub source_ip: IpAddr,
    /// Original client address, from `x-forwarded-for` per the trusted hops (`remote.ip`).
    pub remote_ip: IpAddr,
    /// Local address the request arrived on (`destination.ip`).
    pub destination_ip: IpAddr,
    /// TLS server name, on TLS listeners.
    pub sni: Option<&'a str>,
    /// mTLS peer identity (`<trust-domain>/ns/<ns>/sa/<sa>`), when the peer presented one.
    pub peer_principal: Option<&'a str>,
    /// The verified JWT, if any.
    pub auth: Option<&'a dyn AuthView>,
}

fn peer_namespace(principal: &str) -> Option<&str> {
    let (_, rest) = principal.split_once("/ns/")?;
    rest.split_once("/sa/").map(|(ns, _)| ns)
}

fn peer_service_account(principal: &str) -> Option<String> {
    let (_, rest) = principal.split_once("/ns/")?;
    let (ns, sa) = rest.split_once("/sa/")?;
    Some(format!("{ns}/{sa}"))
}

fn peer_trust_domain(principal: &str) -> Option<&str> {
    principal.split_once("/ns/").map(|(td, _)| td)
}
