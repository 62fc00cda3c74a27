//! HTTP routes: the `http` rules of a VirtualService compiled for one Gateway binding.
//!
//! A binding is (gateway, listener port): match entries restricted to other gateways or ports
//! are dropped, as Istio drops them when it generates that gateway's routes. `delegate` rules are
//! replaced by the delegate VirtualService's rules, with the root's match conditions merged in.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use rampart_config::networking::{
    HeaderOperations, HttpMatchRequest, HttpRoute, RedirectPortSelection, VirtualService,
};
use rampart_config::{parse_duration, ConfigSet, Diagnostic, Resource, Severity};
use rampart_model::route::{
    Action, DirectResponse, Forward, HeaderOps, PathRewrite, Redirect, RedirectPort, Rewrite,
    Route, RouteMatch, RouteOrigin, WeightedDestination,
};

use crate::clusters::Builder;
use crate::cors;
use crate::hosts::gateway_ref;
use crate::matches::route_match;
use crate::resilience;
use crate::stats::StatTable;
use crate::ProxyIdentity;

/// Everything route compilation reads and writes.
pub struct RouteCx<'a, 'b> {
    pub set: &'a ConfigSet,
    pub clusters: &'b mut Builder<'a>,
    pub stats: &'b mut StatTable,
    pub diags: &'b mut Vec<Diagnostic>,
    pub me: &'b ProxyIdentity,
    /// `namespace/name` of the Gateway being compiled.
    pub gateway: &'b str,
    /// Listener port.
    pub port: u16,
}

/// The routes of `vs` for this binding, in rule order.
pub fn compile(cx: &mut RouteCx<'_, '_>, vs: &Resource<VirtualService>) -> Vec<Route> {
    let mut out = Vec::new();
    for (i, rule) in vs.spec.http.iter().enumerate() {
        let path = format!("spec.http[{i}]");
        let Some(matches) = applicable_matches(cx, vs, &rule.matches) else {
            continue;
        };
        if let Some(delegate) = &rule.delegate {
            let ns = delegate
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| vs.meta.namespace.clone());
            let Some(target) = cx
                .set
                .virtual_services
                .iter()
                .find(|d| d.meta.name == delegate.name && d.meta.namespace == ns)
            else {
                cx.diags.push(vs.diag(
                    Severity::Error,
                    &format!("{path}.delegate"),
                    format!(
                        "delegate VirtualService {ns}/{} does not exist",
                        delegate.name
                    ),
                ));
                continue;
            };
            for (k, drule) in target.spec.http.iter().enumerate() {
                let dpath = format!("spec.http[{k}]");
                if drule.delegate.is_some() {
                    cx.diags.push(target.diag(
                        Severity::Error,
                        &format!("{dpath}.delegate"),
                        "a delegate VirtualService cannot delegate again",
                    ));
                    continue;
                }
                let Some(dmatches) = applicable_matches(cx, target, &drule.matches) else {
                    continue;
                };
                let merged = merge_matches(&matches, &dmatches);
                if let Some(route) = compile_rule(cx, target, k, drule, &merged, &dpath) {
                    out.push(route);
                }
            }
            continue;
        }
        if let Some(route) = compile_rule(cx, vs, i, rule, &matches, &path) {
            out.push(route);
        }
    }
    out
}

/// Match entries (with their index) that apply to this binding; `None` when the rule had
/// matches and none applies (the rule is then absent from this gateway).
fn applicable_matches(
    cx: &RouteCx<'_, '_>,
    vs: &Resource<VirtualService>,
    matches: &[HttpMatchRequest],
) -> Option<Vec<(usize, HttpMatchRequest)>> {
    if matches.is_empty() {
        return Some(Vec::new());
    }
    let kept: Vec<(usize, HttpMatchRequest)> = matches
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.gateways.is_empty()
                || m.gateways
                    .iter()
                    .any(|g| gateway_ref(g, &vs.meta.namespace) == cx.gateway)
        })
        .filter(|(_, m)| m.port.is_none_or(|p| p == u32::from(cx.port)))
        .filter(|(_, m)| {
            m.source_labels
                .iter()
                .all(|(k, v)| cx.me.labels.get(k) == Some(v))
        })
        .filter(|(_, m)| {
            m.source_namespace
                .as_deref()
                .is_none_or(|ns| ns.is_empty() || ns == cx.me.namespace)
        })
        .map(|(j, m)| (j, m.clone()))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Root × delegate match entries: the delegate's conditions, with the root's filling the gaps.
fn merge_matches(
    root: &[(usize, HttpMatchRequest)],
    delegate: &[(usize, HttpMatchRequest)],
) -> Vec<(usize, HttpMatchRequest)> {
    if root.is_empty() {
        return delegate.to_vec();
    }
    if delegate.is_empty() {
        return root.to_vec();
    }
    let mut out = Vec::new();
    for (_, r) in root {
        for (j, d) in delegate {
            let mut m = d.clone();
            m.uri = m.uri.or_else(|| r.uri.clone());
            m.scheme = m.scheme.or_else(|| r.scheme.clone());
            m.method = m.method.or_else(|| r.method.clone());
            m.authority = m.authority.or_else(|| r.authority.clone());
            m.port = m.port.or(r.port);
            m.ignore_uri_case |= r.ignore_uri_case;
            for (k, v) in &r.headers {
                m.headers.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &r.without_headers {
                m.without_headers
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            for (k, v) in &r.query_params {
                m.query_params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push((*j, m));
        }
    }
    out
}

fn compile_rule(
    cx: &mut RouteCx<'_, '_>,
    vs: &Resource<VirtualService>,
    index: usize,
    rule: &HttpRoute,
    matches: &[(usize, HttpMatchRequest)],
    path: &str,
) -> Option<Route> {
    let mut compiled: Vec<RouteMatch> = Vec::with_capacity(matches.len());
    for (j, m) in matches {
        match route_match(m) {
            Ok(rm) => compiled.push(rm),
            Err((field, msg)) => {
                cx.diags
                    .push(vs.diag(Severity::Error, &format!("{path}.match[{j}].{field}"), msg));
                return None;
            }
        }
    }
    let name: Box<str> = match rule.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => n.into(),
        None => format!("{}/{}.{index}", vs.meta.namespace, vs.meta.name).into(),
    };
    let local_stat = cx.stats.id(&name, "unknown", "unknown");
    let action = action(cx, vs, rule, path, &name)?;
    let mirrors = match action {
        Action::Forward(_) => resilience::mirrors(cx, vs, rule, path, &name),
        _ => Box::default(),
    };
    let headers = rule.headers.as_ref();
    let cors = match rule.cors_policy.as_ref().map(cors::cors).transpose() {
        Ok(cors) => cors,
        Err((field, msg)) => {
            cx.diags
                .push(vs.diag(Severity::Error, &format!("{path}.corsPolicy.{field}"), msg));
            return None;
        }
    };
    Some(Route {
        origin: RouteOrigin {
            virtual_service: format!("{}/{}", vs.meta.namespace, vs.meta.name).into(),
            rule: index as u32,
            location: format!("{}:{}", vs.source.file, vs.line_of(path)).into(),
        },
        name,
        matches: compiled,
        action,
        rewrite: rule.rewrite.as_ref().map(|r| Rewrite {
            uri: r
                .uri
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(|u| PathRewrite::Prefix(u.into())),
            uri_regex: r.uri_regex_rewrite.as_ref().and_then(|rr| {
                let re = regex::Regex::new(rr.pattern.as_deref()?).ok()?;
                Some((
                    re,
                    envoy_substitution(rr.rewrite.as_deref().unwrap_or("")).into(),
                ))
            }),
            authority: r
                .authority
                .as_deref()
                .filter(|a| !a.is_empty())
                .and_then(|a| HeaderValue::try_from(a).ok()),
        }),
        request_headers: header_ops(headers.and_then(|h| h.request.as_ref())),
        response_headers: header_ops(headers.and_then(|h| h.response.as_ref())),
        timeout: rule
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .filter(|d| !d.is_zero()),
        retry: resilience::retry_policy(rule.retries.as_ref()),
        fault: resilience::fault(rule.fault.as_ref()),
        mirrors,
        cors,
        rate_limit: None,
        stat: local_stat,
    })
}

fn action(
    cx: &mut RouteCx<'_, '_>,
    vs: &Resource<VirtualService>,
    rule: &HttpRoute,
    path: &str,
    route_name: &str,
) -> Option<Action> {
    if let Some(redirect) = &rule.redirect {
        let status = StatusCode::from_u16(redirect.redirect_code.unwrap_or(301) as u16)
            .unwrap_or(StatusCode::MOVED_PERMANENTLY);
        let path_rewrite = match (&redirect.uri, &redirect.prefix_rewrite) {
            (Some(u), _) if !u.is_empty() => Some(PathRewrite::Full(u.as_str().into())),
            (_, Some(p)) if !p.is_empty() => Some(PathRewrite::Prefix(p.as_str().into())),
            _ => None,
        };
        let port = match (redirect.port, redirect.derive_port) {
            (Some(p), _) if p != 0 => Some(RedirectPort::Fixed(p as u16)),
            (_, Some(RedirectPortSelection::FromProtocolDefault)) => {
                Some(RedirectPort::ProtocolDefault)
            }
            (_, Some(RedirectPortSelection::FromRequestPort)) => Some(RedirectPort::FromRequest),
            _ => None,
        };
        return Some(Action::Redirect(Redirect {
            path: path_rewrite,
            authority: redirect
                .authority
                .as_deref()
                .filter(|a| !a.is_empty())
                .map(Into::into),
            port,
            scheme: redirect
                .scheme
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Into::into),
            status,
        }));
    }
    if let Some(direct) = &rule.direct_response {
        let body = match direct.body.as_ref() {
            Some(b) => match (&b.string, &b.bytes) {
                (Some(s), _) => Bytes::from(s.clone()),
                (None, Some(encoded)) => match rampart_config::decode_base64(encoded) {
                    Some(bytes) => Bytes::from(bytes),
                    None => {
                        cx.diags.push(vs.diag(
                            Severity::Error,
                            &format!("{path}.directResponse.body.bytes"),
                            "body.bytes is not valid base64",
                        ));
                        return None;
                    }
                },
                (None, None) => Bytes::new(),
            },
            None => Bytes::new(),
        };
        let status = StatusCode::from_u16(direct.status as u16).unwrap_or(StatusCode::OK);
        return Some(Action::Direct(DirectResponse { status, body }));
    }
    let single = rule.route.len() == 1;
    let mut destinations = Vec::new();
    for (k, d) in rule.route.iter().enumerate() {
        let weight = if single {
            1
        } else {
            d.weight.unwrap_or(0).max(0) as u32
        };
        if weight == 0 {
            continue;
        }
        let resolved = cx.clusters.resolve(
            &d.destination,
            vs,
            &format!("{path}.route[{k}].destination"),
            cx.diags,
        );
        let version = resolved.subset.clone().unwrap_or_else(|| "unknown".into());
        let headers = d.headers.as_ref();
        destinations.push(WeightedDestination {
            cluster: resolved.cluster,
            weight,
            name: match &resolved.subset {
                Some(s) => format!("{}|{s}", resolved.host).into(),
                None => resolved.host.as_str().into(),
            },
            stat: cx.stats.id(route_name, &resolved.host, &version),
            request_headers: header_ops(headers.and_then(|h| h.request.as_ref())),
            response_headers: header_ops(headers.and_then(|h| h.response.as_ref())),
        });
    }
    let total_weight = destinations.iter().map(|d| d.weight).sum();
    if total_weight == 0 {
        // Validation reports empty routes and zero totals; nothing to serve here.
        return None;
    }
    Some(Action::Forward(Forward {
        destinations,
        total_weight,
    }))
}

/// Compiles header operations; `:authority` and `host` both mean the Host header.
fn header_ops(ops: Option<&HeaderOperations>) -> HeaderOps {
    let Some(ops) = ops else {
        return HeaderOps::default();
    };
    let name = |n: &str| {
        let n = n.to_ascii_lowercase();
        let n = if n == ":authority" {
            "host".to_string()
        } else {
            n
        };
        HeaderName::from_bytes(n.as_bytes()).ok()
    };
    let pairs = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .filter_map(|(k, v)| Some((name(k)?, HeaderValue::try_from(v.as_str()).ok()?)))
            .collect()
    };
    HeaderOps {
        set: pairs(&ops.set),
        add: pairs(&ops.add),
        remove: ops.remove.iter().filter_map(|n| name(n)).collect(),
    }
}

/// Istio writes regex substitutions as `\1`; the regex crate wants `${1}`.
fn envoy_substitution(rewrite: &str) -> String {
    let mut out = String::with_capacity(rewrite.len());
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_use_regex_crate_syntax() {
        assert_eq!(envoy_substitution("/\\2/\\1"), "/${2}/${1}");
        assert_eq!(envoy_substitution("/$x"), "/$$x");
    }
}
