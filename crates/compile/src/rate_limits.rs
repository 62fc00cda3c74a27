//! Rate limits: BackendTrafficPolicies with `rateLimit` compiled once into
//! [`RateLimitPolicy`] values and attached to the routes they target. A policy that names a
//! VirtualService applies to that VirtualService's routes; one that names a Gateway applies to
//! every route served on that Gateway's servers; a route takes the VirtualService's policy over
//! the Gateway's (Envoy Gateway: the more specific target wins, policies do not merge).
//!
//! Receives: validated policies (regexes compile, CIDRs parse, units are known). Hands on: the
//! `rate_limit` field of each [`Route`], and warnings for targets that name nothing or that two
//! policies claim.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};
use rampart_config::envoy_gateway::{
    rate_limit_unit_seconds, BackendTrafficPolicy, RateLimitRule as ApiRule,
    RateLimitSelectCondition,
};
use rampart_config::networking::VirtualService;
use rampart_config::{ConfigSet, Diagnostic, Resource, Severity};
use rampart_model::rate_limit::{
    Cidr, HeaderSelector, PathKind, PathSelector, RateLimitPolicy, RateLimitRule, RouteRateLimit,
    Scope, Selector, SourceSelector,
};
use rampart_model::route::Route;

/// Compiled policies by target: `(kind, namespace/name)`.
#[derive(Default)]
pub struct RateLimits {
    by_target: HashMap<(&'static str, String), Arc<RateLimitPolicy>>,
}

impl RateLimits {
    /// Compiles every policy with `rateLimit`, first in load order winning a target.
    pub fn build(set: &ConfigSet, diags: &mut Vec<Diagnostic>) -> Self {
        let mut out = Self::default();
        for p in &set.backend_traffic_policies {
            let Some(policy) = compile_policy(p) else {
                continue;
            };
            let policy = Arc::new(policy);
            for (i, t) in p.spec.target_refs.iter().enumerate() {
                let kind = match t.kind.as_str() {
                    "Gateway" => "Gateway",
                    "VirtualService" => "VirtualService",
                    _ => continue,
                };
                let exists = match kind {
                    "Gateway" => set
                        .gateways
                        .iter()
                        .any(|g| g.meta.namespace == p.meta.namespace && g.meta.name == t.name),
                    _ => set
                        .virtual_services
                        .iter()
                        .any(|v| v.meta.namespace == p.meta.namespace && v.meta.name == t.name),
                };
                let at = format!("spec.targetRefs[{i}].name");
                let target = format!("{}/{}", p.meta.namespace, t.name);
                if !exists {
                    diags.push(p.diag(
                        Severity::Warning,
                        &at,
                        format!("no {kind} {target}: this rate limit applies to nothing"),
                    ));
                }
                match out.by_target.entry((kind, target)) {
                    std::collections::hash_map::Entry::Occupied(e) => diags.push(p.diag(
                        Severity::Warning,
                        &at,
                        format!(
                            "{kind} {} already has rate limits from BackendTrafficPolicy {}: this one is ignored for it",
                            e.key().1,
                            e.get().name
                        ),
                    )),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(policy.clone());
                    }
                }
            }
        }
        out
    }

    /// Sets the rate limit of `routes`, compiled from `vs` for the Gateway `gateway`
    /// (`namespace/name`).
    pub fn attach(&self, routes: &mut [Route], vs: &Resource<VirtualService>, gateway: &str) {
        if self.by_target.is_empty() {
            return;
        }
        let vs_ref = format!("{}/{}", vs.meta.namespace, vs.meta.name);
        let policy = self
            .by_target
            .get(&("VirtualService", vs_ref))
            .or_else(|| self.by_target.get(&("Gateway", gateway.to_string())));
        let Some(policy) = policy else {
            return;
        };
        for route in routes {
            let key = format!("{}/{}", route.origin.virtual_service, route.origin.rule);
            route.rate_limit = Some(Arc::new(RouteRateLimit {
                policy: policy.clone(),
                route: key.into(),
            }));
        }
    }
}

fn compile_policy(p: &Resource<BackendTrafficPolicy>) -> Option<RateLimitPolicy> {
    let spec = p.spec.rate_limit.as_ref()?;
    let (global, local) = spec.effective();
    let name: Arc<str> = format!("{}/{}", p.meta.namespace, p.meta.name).into();
    let mut rules = Vec::new();
    for (scope, section, tag) in [
        (Scope::Local, local, "local"),
        (Scope::Global, global, "global"),
    ] {
        for (i, r) in section.iter().flat_map(|s| s.rules.iter()).enumerate() {
            rules.push(compile_rule(r, scope, format!("{name}/{tag}/{i}").into())?);
        }
    }
    let global_at = global.is_some().then(|| {
        let d = p.diag(Severity::Error, "spec.rateLimit.global", "");
        let text = d.to_string();
        text.trim_end_matches(": ").into()
    });
    Some(RateLimitPolicy {
        name,
        rules: rules.into(),
        global_at,
    })
}

fn compile_rule(r: &ApiRule, scope: Scope, id: Arc<str>) -> Option<RateLimitRule> {
    let selectors = r
        .client_selectors
        .iter()
        .map(selector)
        .collect::<Option<Vec<_>>>()?;
    Some(RateLimitRule {
        id,
        scope,
        selectors: selectors.into(),
        requests: u32::try_from(r.limit.requests).ok()?.max(1),
        unit: Duration::from_secs(rate_limit_unit_seconds(&r.limit.unit)?),
        shared: r.shared == Some(true),
        shadow: r.shadow_mode == Some(true),
        headers: r.x_rate_limit_headers.as_deref() != Some("Off"),
    })
}

fn selector(s: &RateLimitSelectCondition) -> Option<Selector> {
    let anchored = |re: &str| regex::Regex::new(&format!("^(?:{re})$")).ok();
    let mut out = Selector::default();
    for h in &s.headers {
        let name = HeaderName::from_bytes(h.name.to_ascii_lowercase().as_bytes()).ok()?;
        let invert = h.invert == Some(true);
        out.headers.push(match h.kind() {
            "Distinct" => HeaderSelector::Distinct { name },
            "RegularExpression" => HeaderSelector::Regex {
                name,
                regex: anchored(h.value.as_deref()?)?,
                invert,
            },
            _ => HeaderSelector::Exact {
                name,
                value: h.value.as_deref()?.into(),
                invert,
            },
        });
    }
    for m in &s.methods {
        let method = Method::from_bytes(m.value.as_bytes()).ok()?;
        out.methods.push((method, m.invert == Some(true)));
    }
    if let Some(p) = &s.path {
        let kind = match p.kind() {
            "Exact" => PathKind::Exact(p.value.as_str().into()),
            "RegularExpression" => PathKind::Regex(anchored(&p.value)?),
            _ => PathKind::Prefix(p.value.as_str().into()),
        };
        out.path = Some(PathSelector {
            kind,
            invert: p.invert == Some(true),
        });
    }
    if let Some(src) = &s.source_cidr {
        out.source = Some(SourceSelector {
            block: Cidr::parse(&src.value).ok()?,
            distinct: src.kind() == "Distinct",
            invert: src.invert == Some(true),
        });
    }
    Some(out)
}
