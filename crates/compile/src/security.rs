//! RequestAuthentication and AuthorizationPolicy → what this proxy enforces.
//!
//! Binding (which policies apply to this proxy), as DESIGN.md §1 states it:
//! - `targetRef(s)`: the policy names a Gateway, in its own namespace, that this proxy serves;
//! - `selector`: every label of `matchLabels` is one of this proxy's labels (in any namespace, as
//!   for Gateway selectors: a standalone gateway has no other workloads to confuse it with);
//! - neither: the policy is namespace-wide, and applies when its namespace is the root namespace
//!   (`istio-system`), the proxy's namespace, or the namespace of a Gateway this proxy serves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use rampart_config::networking::{Destination, PortSelector};
use rampart_config::security::{
    AuthorizationPolicy, Condition as CondSpec, JwtRule as JwtSpec, Operation as OpSpec,
    PolicyTargetReference, RequestAuthentication, Rule as RuleSpec, Source as SourceSpec,
};
use rampart_config::{parse_duration, ConfigSet, Diagnostic, Resource, Severity};
use rampart_model::authn::{JwksSource, JwtRule, TokenLocations};
use rampart_model::authz::{
    Attribute, Authorization, Cidr, CondValue, Condition, ExtAuthz, Field, Operation, PathPattern,
    Policy, Rule, Source, StrPattern,
};

use crate::clusters::Builder;
use crate::gateways;
use crate::ProxyIdentity;

/// Istio's root namespace: namespace-wide policies there apply to every workload.
pub(crate) const ROOT_NAMESPACE: &str = "istio-system";

/// Claims Istio always splits on spaces for authorization.
const SPACE_DELIMITED: [&str; 2] = ["scope", "permission"];

/// JWKS fetch timeout when `timeout` is not set.
const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// External authorization timeout when `timeout` is not set (Envoy's ext_authz default is
/// 200 ms; Istio's API documents 600 s, which would hold requests far too long at an edge).
const EXT_AUTHZ_TIMEOUT: Duration = Duration::from_secs(2);

/// The JWT rules of every RequestAuthentication bound to this proxy, in load order.
pub fn jwt_rules(set: &ConfigSet, me: &ProxyIdentity) -> Vec<JwtRule> {
    set.request_authentications
        .iter()
        .filter(|ra| bound(set, me, ra, &ra.spec.selector, targets(&ra.spec)))
        .flat_map(|ra| {
            ra.spec
                .jwt_rules
                .iter()
                .enumerate()
                .map(move |(i, rule)| jwt_rule(ra, i, rule))
        })
        .collect()
}

fn targets(ra: &RequestAuthentication) -> impl Iterator<Item = &PolicyTargetReference> {
    ra.target_ref.iter().chain(&ra.target_refs)
}

fn jwt_rule(ra: &Resource<RequestAuthentication>, i: usize, spec: &JwtSpec) -> JwtRule {
    let header = |h: &str| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok();
    let jwks = match (&spec.jwks, &spec.jwks_uri) {
        (Some(inline), _) => JwksSource::Inline(inline.as_str().into()),
        (None, Some(uri)) => JwksSource::Uri(uri.as_str().into()),
        // Validation requires one of them; an empty key set rejects every token.
        (None, None) => JwksSource::Inline(r#"{"keys":[]}"#.into()),
    };
    let mut split: Vec<Box<str>> = SPACE_DELIMITED.iter().map(|c| (*c).into()).collect();
    split.extend(
        spec.space_delimited_claims
            .iter()
            .map(|c| c.as_str().into()),
    );
    JwtRule {
        origin: format!("{}/{}.jwtRules[{i}]", ra.meta.namespace, ra.meta.name).into(),
        issuer: spec.issuer.as_str().into(),
        audiences: spec.audiences.iter().map(|a| a.as_str().into()).collect(),
        jwks,
        locations: TokenLocations {
            headers: spec
                .from_headers
                .iter()
                .filter_map(|h| Some((header(&h.name)?, h.prefix.as_str().into())))
                .collect(),
            params: spec.from_params.iter().map(|p| p.as_str().into()).collect(),
            cookies: spec
                .from_cookies
                .iter()
                .map(|c| c.as_str().into())
                .collect(),
        },
        output_payload_to_header: spec.output_payload_to_header.as_deref().and_then(header),
        output_claim_to_headers: spec
            .output_claim_to_headers
            .iter()
            .filter_map(|o| Some((header(&o.header)?, o.claim.as_str().into())))
            .collect(),
        forward_original_token: spec.forward_original_token,
        fetch_timeout: spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_JWKS_TIMEOUT),
        space_delimited_claims: split.into(),
    }
}

/// Every AuthorizationPolicy bound to this proxy, compiled. Values that only compile can check
/// (path templates, CUSTOM providers) become diagnostics.
pub fn authorization<'a>(
    set: &'a ConfigSet,
    me: &ProxyIdentity,
    clusters: &mut Builder<'a>,
    diags: &mut Vec<Diagnostic>,
) -> Authorization {
    let mut by_action: BTreeMap<&str, Vec<Policy>> = BTreeMap::new();
    let mut custom = Vec::new();
    let mut providers: HashMap<&str, Arc<ExtAuthz>> = HashMap::new();
    for ap in &set.authorization_policies {
        let spec = &ap.spec;
        let refs = spec.target_ref.iter().chain(&spec.target_refs);
        if !bound(set, me, ap, &spec.selector, refs) {
            continue;
        }
        let mut cx = Cx { ap, diags };
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| cx.rule(&format!("spec.rules[{i}]"), r))
            .collect();
        let policy = Policy {
            name: format!("{}/{}", ap.meta.namespace, ap.meta.name).into(),
            rules,
        };
        let action = spec.action.as_deref().unwrap_or("ALLOW");
        if action == "CUSTOM" {
            let name = spec.provider.as_ref().map_or("", |p| p.name.as_str());
            let provider = match providers.get(name) {
                Some(p) => Some(p.clone()),
                None => ext_authz(set, ap, name, clusters, diags).inspect(|p| {
                    providers.insert(name, p.clone());
                }),
            };
            if let Some(provider) = provider {
                custom.push((policy, provider));
            }
            continue;
        }
        by_action.entry(action).or_default().push(policy);
    }
    let mut take = |a: &str| by_action.remove(a).unwrap_or_default().into_boxed_slice();
    Authorization {
        custom: custom.into(),
        deny: take("DENY"),
        allow: take("ALLOW"),
        audit: take("AUDIT"),
    }
}

/// Whether a security policy (or a Telemetry) applies to this proxy (see the module docs).
pub(crate) fn bound<'a, T>(
    set: &ConfigSet,
    me: &ProxyIdentity,
    res: &Resource<T>,
    selector: &Option<rampart_config::networking::TypeWorkloadSelector>,
    mut refs: impl Iterator<Item = &'a PolicyTargetReference>,
) -> bool {
    let ns = res.meta.namespace.as_str();
    let served = |name: Option<&str>, in_ns: &str| {
        set.gateways.iter().any(|gw| {
            gw.meta.namespace == in_ns
                && name.is_none_or(|n| gw.meta.name == n)
                && gateways::applies(gw, me)
        })
    };
    if let Some(first) = refs.next() {
        return std::iter::once(first)
            .chain(refs)
            .any(|t| t.kind == "Gateway" && served(Some(&t.name), ns));
    }
    match selector {
        Some(sel) => sel
            .match_labels
            .iter()
            .all(|(k, v)| me.labels.get(k) == Some(v)),
        None => ns == ROOT_NAMESPACE || ns == me.namespace || served(None, ns),
    }
}

/// Compiles one policy's rules, reporting bad values against it.
struct Cx<'a> {
    ap: &'a Resource<AuthorizationPolicy>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Cx<'_> {
    fn rule(&mut self, at: &str, spec: &RuleSpec) -> Rule {
        Rule {
            from: spec
                .from
                .iter()
                .flatten()
                .filter_map(|f| f.source.as_ref())
                .map(|s| self.source(s))
                .collect(),
            to: spec
                .to
                .iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, t)| Some((i, t.operation.as_ref()?)))
                .map(|(i, o)| self.operation(&format!("{at}.to[{i}].operation"), o))
                .collect(),
            when: spec
                .when
                .iter()
                .flatten()
                .filter_map(|c| self.condition(c))
                .collect(),
        }
    }

    fn source(&mut self, s: &SourceSpec) -> Source {
        let ns = &self.ap.meta.namespace;
        let accounts = |v: &Option<Vec<String>>| -> Option<Box<[StrPattern]>> {
            v.as_ref().map(|list| {
                list.iter()
                    .map(|sa| match sa.contains('/') {
                        true => StrPattern::Exact(sa.as_str().into()),
                        false => StrPattern::Exact(format!("{ns}/{sa}").into()),
                    })
                    .collect()
            })
        };
        Source {
            principals: strs(&s.principals, &s.not_principals),
            request_principals: strs(&s.request_principals, &s.not_request_principals),
            namespaces: strs(&s.namespaces, &s.not_namespaces),
            service_accounts: Field {
                any: accounts(&s.service_accounts),
                none: accounts(&s.not_service_accounts).unwrap_or_default(),
            },
            ip_blocks: cidrs(&s.ip_blocks, &s.not_ip_blocks),
            remote_ip_blocks: cidrs(&s.remote_ip_blocks, &s.not_remote_ip_blocks),
        }
    }

    fn operation(&mut self, at: &str, o: &OpSpec) -> Operation {
        let lower = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|l| l.iter().map(|h| h.to_ascii_lowercase()).collect::<Vec<_>>())
        };
        let ports = |v: &Option<Vec<String>>| -> Option<Box<[u16]>> {
            v.as_ref()
                .map(|l| l.iter().filter_map(|p| p.parse().ok()).collect())
        };
        Operation {
            hosts: strs(&lower(&o.hosts), &lower(&o.not_hosts)),
            ports: Field {
                any: ports(&o.ports),
                none: ports(&o.not_ports).unwrap_or_default(),
            },
            methods: strs(&o.methods, &o.not_methods),
            paths: Field {
                any: self.paths(&format!("{at}.paths"), &o.paths),
                none: self
                    .paths(&format!("{at}.notPaths"), &o.not_paths)
                    .unwrap_or_default(),
            },
        }
    }

    fn paths(&mut self, at: &str, v: &Option<Vec<String>>) -> Option<Box<[PathPattern]>> {
        let list = v.as_ref()?;
        let mut out = Vec::with_capacity(list.len());
        for (i, p) in list.iter().enumerate() {
            match PathPattern::parse(p) {
                Ok(m) => out.push(m),
                Err(e) => self
                    .diags
                    .push(self.ap.diag(Severity::Error, &format!("{at}[{i}]"), e)),
            }
        }
        Some(out.into())
    }

    fn condition(&mut self, c: &CondSpec) -> Option<Condition> {
        let attribute = attribute(&c.key)?;
        let value = |v: &String| -> Option<CondValue> {
            Some(match attribute {
                Attribute::SourceIp | Attribute::RemoteIp | Attribute::DestinationIp => {
                    CondValue::Ip(Cidr::parse(v).ok()?)
                }
                Attribute::DestinationPort => CondValue::Port(v.parse().ok()?),
                _ => CondValue::Str(StrPattern::parse(v)),
            })
        };
        let list = |l: &Option<Vec<String>>| -> Option<Box<[CondValue]>> {
            l.as_ref().map(|l| l.iter().filter_map(value).collect())
        };
        Some(Condition {
            values: Field {
                any: list(&c.values),
                none: list(&c.not_values).unwrap_or_default(),
            },
            attribute,
        })
    }
}

fn strs(any: &Option<Vec<String>>, none: &Option<Vec<String>>) -> Field<StrPattern> {
    let list = |v: &Option<Vec<String>>| -> Option<Box<[StrPattern]>> {
        v.as_ref()
            .map(|l| l.iter().map(|s| StrPattern::parse(s)).collect())
    };
    Field {
        any: list(any),
        none: list(none).unwrap_or_default(),
    }
}

fn cidrs(any: &Option<Vec<String>>, none: &Option<Vec<String>>) -> Field<Cidr> {
    let list = |v: &Option<Vec<String>>| -> Option<Box<[Cidr]>> {
        v.as_ref()
            .map(|l| l.iter().filter_map(|s| Cidr::parse(s).ok()).collect())
    };
    Field {
        any: list(any),
        none: list(none).unwrap_or_default(),
    }
}

/// The attribute a (validated) `when` key names.
fn attribute(key: &str) -> Option<Attribute> {
    if let Some(name) = key
        .strip_prefix("request.headers[")
        .and_then(|r| r.strip_suffix(']'))
    {
        return HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .ok()
            .map(Attribute::Header);
    }
    if let Some(rest) = key
        .strip_prefix("request.auth.claims[")
        .and_then(|r| r.strip_suffix(']'))
    {
        return Some(Attribute::Claim(rest.split("][").map(Box::from).collect()));
    }
    Some(match key {
        "source.ip" => Attribute::SourceIp,
        "remote.ip" => Attribute::RemoteIp,
        "source.namespace" => Attribute::SourceNamespace,
        "source.principal" => Attribute::SourcePrincipal,
        "source.serviceAccount" => Attribute::SourceServiceAccount,
        "source.trustDomain" => Attribute::SourceTrustDomain,
        "request.auth.principal" => Attribute::RequestPrincipal,
        "request.auth.audiences" => Attribute::Audiences,
        "request.auth.presenter" => Attribute::Presenter,
        "destination.ip" => Attribute::DestinationIp,
        "destination.port" => Attribute::DestinationPort,
        "connection.sni" => Attribute::Sni,
        _ => return None,
    })
}

/// Envoy's ext_authz default: these client headers always reach the authorizer.
const ALWAYS_CHECKED: [&str; 2] = ["authorization", "proxy-authorization"];

/// The `envoyExtAuthzHttp` provider `name` of the MeshConfig, compiled; a diagnostic on the
/// policy's `spec.provider.name` when there is none.
fn ext_authz<'a>(
    set: &'a ConfigSet,
    ap: &Resource<AuthorizationPolicy>,
    name: &str,
    clusters: &mut Builder<'a>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Arc<ExtAuthz>> {
    let found = set
        .mesh
        .as_ref()
        .and_then(|m| m.config.extension_providers.iter().find(|p| p.name == name));
    let Some(http) = found.and_then(|p| p.envoy_ext_authz_http.as_ref()) else {
        let why = match (&set.mesh, found) {
            (None, _) => format!(
                "provider {name:?}: no MeshConfig is loaded (rampart run --mesh-config FILE)"
            ),
            (Some(_), None) => {
                format!("provider {name:?} is not in the MeshConfig's extensionProviders")
            }
            (Some(_), Some(_)) => format!("provider {name:?} is not an envoyExtAuthzHttp provider"),
        };
        diags.push(ap.diag(Severity::Error, "spec.provider.name", why));
        return None;
    };
    // `[<namespace>/]<hostname>`: the host is what ServiceEntries declare.
    let host = http
        .service
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let dest = Destination {
        host: host.clone(),
        subset: None,
        port: Some(PortSelector { number: http.port }),
    };
    let cluster = clusters.resolve(&dest, ap, "spec.provider", diags).cluster;
    let header = |h: &String| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok();
    let names = |list: &[String]| -> Box<[HeaderName]> { list.iter().filter_map(header).collect() };
    let mut include: Vec<HeaderName> = ALWAYS_CHECKED
        .iter()
        .map(|h| HeaderName::from_static(h))
        .collect();
    for h in http
        .include_request_headers_in_check
        .iter()
        .chain(&http.include_headers_in_check)
        .filter_map(header)
    {
        if !include.contains(&h) {
            include.push(h);
        }
    }
    Some(Arc::new(ExtAuthz {
        name: name.into(),
        cluster,
        authority: HeaderValue::try_from(format!("{host}:{}", http.port))
            .unwrap_or_else(|_| HeaderValue::from_static("ext-authz")),
        path_prefix: http.path_prefix.as_deref().unwrap_or("").into(),
        timeout: http
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(EXT_AUTHZ_TIMEOUT),
        fail_open: http.fail_open,
        status_on_error: http
            .status_on_error
            .as_deref()
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|n| StatusCode::from_u16(n).ok())
            .unwrap_or(StatusCode::FORBIDDEN),
        include_headers: include.into(),
        additional_headers: http
            .include_additional_headers_in_check
            .iter()
            .filter_map(|(k, v)| Some((header(k)?, HeaderValue::try_from(v.as_str()).ok()?)))
            .collect(),
        to_upstream_on_allow: names(&http.headers_to_upstream_on_allow),
        to_downstream_on_deny: names(&http.headers_to_downstream_on_deny),
        to_downstream_on_allow: names(&http.headers_to_downstream_on_allow),
    }))
}
