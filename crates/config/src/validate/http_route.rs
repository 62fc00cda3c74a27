//! VirtualService HTTP route validation (Istio `validateHTTPRoute` and helpers): route /
//! redirect / directResponse exclusivity, matches, header operations, CORS, fault injection,
//! mirrors, retries, rewrites, weights, and unreachable-rule warnings.
//!
//! Receives: one `spec.http[i]` of a VirtualService. Hands on: diagnostics via [`Check`].

use std::collections::BTreeMap;

use super::http_policy::{cors_policy, fault_injection, http_status, redirect, retries};
use super::virtual_service::{destination, gateway_names, weights};
use super::{dns1123_label, header_name, header_value, match_header_name, port, regex, set, Check};
use crate::networking::{
    HeaderOperations, Headers, HttpMatchRequest, HttpRoute, StringMatch, VirtualService,
};
use crate::path;

type C<'a, 'b> = &'a mut Check<'b, VirtualService>;

/// Checks one HTTP route at `at` (`spec.http[i]`); `delegate` when the VS has no hosts.
pub(super) fn validate(c: C<'_, '_>, at: &str, h: &HttpRoute, delegate: bool) {
    let f = |field: &str| format!("{at}.{field}");
    conflicts(c, at, h, delegate);
    for (i, m) in h.matches.iter().enumerate() {
        match_request(c, &format!("{at}.match[{i}]"), m);
    }
    if let Some(hd) = &h.headers {
        headers(c, &f("headers"), hd);
    }
    if let Some(cors) = &h.cors_policy {
        cors_policy(c, &f("corsPolicy"), cors);
    }
    if let Some(fault) = &h.fault {
        fault_injection(c, &f("fault"), fault);
    }
    if let Some(v) = h.mirror_percent {
        if v > 100 {
            c.err(
                &f("mirrorPercent"),
                format!("mirror_percent must have a max value of 100 (it has {v})"),
            );
        }
        c.warn(
            &f("mirrorPercent"),
            "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead",
        );
    }
    if let Some(p) = &h.mirror_percentage {
        if p.value > 100.0 {
            c.err(
                &f("mirrorPercentage.value"),
                format!(
                    "mirror_percentage must have a max value of 100 (it has {:.6})",
                    p.value
                ),
            );
        }
        if p.value < 0.0 {
            c.err(
                &f("mirrorPercentage.value"),
                format!(
                    "mirror_percentage must have a min value of 0 (it has {:.6})",
                    p.value
                ),
            );
        }
    }
    if let Some(m) = &h.mirror {
        destination(c, &f("mirror"), m);
    }
    for (i, m) in h.mirrors.iter().enumerate() {
        let mp = format!("{at}.mirrors[{i}]");
        if m.destination.host.is_empty() && !c.res.source.has(&format!("{mp}.destination")) {
            c.err(&mp, "destination is required for mirrors");
            continue;
        }
        destination(c, &format!("{mp}.destination"), &m.destination);
        if let Some(p) = &m.percentage {
            if p.value > 100.0 {
                c.err(
                    &format!("{mp}.percentage.value"),
                    format!(
                        "mirror percentage must have a max value of 100 (it has {:.6})",
                        p.value
                    ),
                );
            }
            if p.value < 0.0 {
                c.err(
                    &format!("{mp}.percentage.value"),
                    format!(
                        "mirror percentage must have a min value of 0 (it has {:.6})",
                        p.value
                    ),
                );
            }
        }
    }
    if let Some(r) = &h.redirect {
        redirect(c, &f("redirect"), r, &h.matches);
    }
    if let Some(d) = &h.direct_response {
        let dp = f("directResponse");
        if let Some(body) = &d.body {
            let size = body.string.as_ref().map_or(0, String::len)
                + body.bytes.as_ref().map_or(0, |b| b.len() / 4 * 3);
            if size > 1024 * 1024 {
                c.err(
                    &format!("{dp}.body"),
                    "large direct_responses may impact control plane performance, must be less than 1MB",
                );
            } else if size > 100 * 1024 {
                c.warn(
                    &format!("{dp}.body"),
                    "large direct_responses may impact control plane performance",
                );
            }
            if body.string.is_some() && body.bytes.is_some() {
                c.err(
                    &format!("{dp}.body"),
                    "only one of string or bytes may be set",
                );
            }
        }
        http_status(c, &format!("{dp}.status"), i64::from(d.status));
    }
    if let Some(r) = &h.retries {
        retries(c, &f("retries"), r);
    }
    if let Some(rw) = &h.rewrite {
        let rp = f("rewrite");
        if set(&rw.uri) && rw.uri_regex_rewrite.is_some() {
            c.err(
                &rp,
                "rewrite may only contain one of URI or UriRegexRewrite",
            );
        }
        if !set(&rw.uri) && rw.uri_regex_rewrite.is_none() && !set(&rw.authority) {
            c.err(
                &rp,
                "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified",
            );
        }
        if let Some(rr) = &rw.uri_regex_rewrite {
            let rrp = format!("{rp}.uriRegexRewrite");
            if !set(&rr.pattern) || !set(&rr.rewrite) {
                c.err(
                    &rrp,
                    "UriRegexRewrite requires both Rewrite and Match fields to be specified",
                );
            } else if let Some(p) = &rr.pattern {
                c.check(
                    &format!("{rrp}.match"),
                    regex(p, "HTTPRewrite.UriRegexRewrite.Match"),
                );
            }
        }
    }
    authority_once(c, at, h);
    for (i, r) in h.route.iter().enumerate() {
        let rp = format!("{at}.route[{i}]");
        if r.destination.host.is_empty() && !c.res.source.has(&format!("{rp}.destination")) {
            c.err(&rp, "destination is required");
        } else {
            destination(c, &format!("{rp}.destination"), &r.destination);
        }
        if let Some(hd) = &r.headers {
            headers(c, &format!("{rp}.headers"), hd);
        }
    }
    let w: Vec<_> = h.route.iter().map(|r| r.weight).collect();
    weights(c, &f("route"), &w);
    c.duration(&f("timeout"), &h.timeout);
}

fn conflicts(c: C<'_, '_>, at: &str, h: &HttpRoute, delegate: bool) {
    let name = h.name.as_deref().unwrap_or_default();
    if h.delegate.is_some() && !delegate {
        if h.redirect.is_some() {
            c.err(
                &format!("{at}.redirect"),
                format!("root HTTP route {name} must not specify redirect"),
            );
        }
        if !h.route.is_empty() {
            c.err(
                &format!("{at}.route"),
                format!("root HTTP route {name} must not specify route"),
            );
        }
        return;
    }
    if delegate && h.delegate.is_some() {
        c.err(
            &format!("{at}.delegate"),
            "delegate HTTP route cannot contain delegate",
        );
    }
    let mut conflict = |field: &str, msg: &str| c.err(&format!("{at}.{field}"), msg);
    if h.redirect.is_some() {
        if !h.route.is_empty() {
            conflict("route", "HTTP route cannot contain both route and redirect");
        }
        if h.fault.is_some() {
            conflict("fault", "HTTP route cannot contain both fault and redirect");
        }
        if h.rewrite.is_some() {
            conflict(
                "rewrite",
                "HTTP route rule cannot contain both rewrite and redirect",
            );
        }
        if h.direct_response.is_some() {
            conflict(
                "directResponse",
                "HTTP route rule cannot contain both direct_response and redirect",
            );
        }
    } else if h.direct_response.is_some() {
        if !h.route.is_empty() {
            conflict(
                "route",
                "HTTP route cannot contain both route and direct_response",
            );
        }
        if h.fault.is_some() {
            conflict(
                "fault",
                "HTTP route cannot contain both fault and direct_response",
            );
        }
        if h.rewrite.is_some() {
            conflict(
                "rewrite",
                "HTTP route rule cannot contain both rewrite and direct_response",
            );
        }
    } else if h.route.is_empty() {
        c.err(at, "HTTP route, redirect or direct_response is required");
    }
    if h.mirror.is_some() && !h.mirrors.is_empty() {
        c.err(
            &format!("{at}.mirrors"),
            "HTTP route cannot contain both mirror and mirrors",
        );
    }
}

fn string_match(c: C<'_, '_>, at: &str, m: &StringMatch, what: &str) {
    let count = [&m.exact, &m.prefix, &m.regex]
        .iter()
        .filter(|x| x.is_some())
        .count();
    if count > 1 {
        c.err(at, "only one of exact, prefix or regex may be set");
    }
    if m.prefix.as_deref() == Some("") {
        c.err(
            &format!("{at}.prefix"),
            format!("{what:?}: prefix string match should not be empty"),
        );
    }
    if let Some(re) = &m.regex {
        regex_match(c, &format!("{at}.regex"), re, what);
    }
}

pub(super) fn regex_match(c: C<'_, '_>, at: &str, re: &str, what: &str) {
    if re.is_empty() {
        c.err(
            at,
            format!("{what:?}: regex string match should not be empty"),
        );
    } else {
        c.check(at, regex(re, what));
    }
}

fn match_request(c: C<'_, '_>, at: &str, m: &HttpMatchRequest) {
    for (name, sm) in &m.headers {
        let hp = path::key(&format!("{at}.headers"), name);
        c.check(&hp, match_header_name(name));
        string_match(c, &hp, sm, "headers");
    }
    for (name, sm) in &m.without_headers {
        let hp = path::key(&format!("{at}.withoutHeaders"), name);
        c.check(&hp, match_header_name(name));
        if sm.regex.as_deref() != Some("*") {
            string_match(c, &hp, sm, "withoutHeaders");
        }
    }
    if let Some(u) = &m.uri {
        let up = format!("{at}.uri");
        let count = [&u.exact, &u.prefix, &u.regex]
            .iter()
            .filter(|x| x.is_some())
            .count();
        if count > 1 {
            c.err(&up, "only one of exact, prefix or regex may be set");
        }
        if let Some(re) = &u.regex {
            regex_match(c, &format!("{up}.regex"), re, "uri");
        }
    }
    for (field, sm) in [
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ] {
        if let Some(sm) = sm {
            string_match(c, &format!("{at}.{field}"), sm, field);
        }
    }
    for (name, sm) in &m.query_params {
        string_match(
            c,
            &path::key(&format!("{at}.queryParams"), name),
            sm,
            "queryParams",
        );
    }
    if let Some(p) = m.port.filter(|p| *p != 0) {
        c.check(&format!("{at}.port"), port(p));
    }
    super::labels(c, &format!("{at}.sourceLabels"), &m.source_labels);
    gateway_names(c, &format!("{at}.gateways"), &m.gateways);
    if let Some(ns) = m.source_namespace.as_deref().filter(|s| !s.is_empty()) {
        if !dns1123_label(ns) {
            c.err(
                &format!("{at}.sourceNamespace"),
                format!("sourceNamespace match {ns} is invalid"),
            );
        }
    }
}

fn headers(c: C<'_, '_>, at: &str, h: &Headers) {
    if let Some(req) = &h.request {
        header_ops(c, &format!("{at}.request"), req, true);
    }
    if let Some(resp) = &h.response {
        header_ops(c, &format!("{at}.response"), resp, false);
    }
}

fn header_ops(c: C<'_, '_>, at: &str, ops: &HeaderOperations, request: bool) {
    for (field, map) in [("set", &ops.set), ("add", &ops.add)] {
        for (name, value) in map {
            let p = path::key(&format!("{at}.{field}"), name);
            let name_check = if request {
                header_op_name_with_authority(name)
            } else {
                header_op_name(name)
            };
            c.check(&p, name_check);
            c.check(&p, header_value(value));
        }
    }
    for (i, name) in ops.remove.iter().enumerate() {
        c.check(&format!("{at}.remove[{i}]"), header_op_name(name));
    }
}

fn is_internal(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

fn is_authority(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

fn header_op_name_with_authority(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if is_internal(name) && !is_authority(name) {
        return Err(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        ));
    }
    if !is_authority(name) {
        header_name(name)?;
    }
    Ok(())
}

fn header_op_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(format!("invalid header {name:?}: cannot set Host header"));
    }
    if is_internal(name) {
        return Err(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        ));
    }
    header_name(name)
}

/// The authority may be set once: `rewrite.authority` or `headers.request.{set,add}` host/:authority.
fn authority_once(c: C<'_, '_>, at: &str, h: &HttpRoute) {
    let mut current = h
        .rewrite
        .as_ref()
        .and_then(|r| r.authority.clone())
        .filter(|a| !a.is_empty());
    let Some(req) = h.headers.as_ref().and_then(|hd| hd.request.as_ref()) else {
        return;
    };
    for (field, map) in [("set", &req.set), ("add", &req.add)] {
        for (k, v) in map.iter().filter(|(k, _)| is_authority(k)) {
            if let Some(cur) = &current {
                c.err(
                    &path::key(&format!("{at}.headers.request.{field}"), k),
                    format!("authority header cannot be set multiple times: have {cur:?}, attempting to set {v:?}"),
                );
                return;
            }
            current = Some(v.clone());
        }
    }
}

/// Warnings for rules that can never match (Istio's `VirtualServiceUnreachableRule` and
/// `VirtualServiceIneffectiveMatch`).
pub(super) fn unreachable(c: C<'_, '_>, http: &[HttpRoute]) {
    let name = |i: usize, r: &HttpRoute| match r.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => format!("{n:?}"),
        None => format!("#{i}"),
    };
    let mut catch_all: Option<usize> = None;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in http.iter().enumerate() {
        let at = path::index("spec.http", i);
        if catch_all.is_some() {
            c.warn(
                &at,
                format!(
                    "virtualService rule {} not used (only the last rule can have no matches)",
                    name(i, r)
                ),
            );
            continue;
        }
        if r.matches.is_empty() || r.matches.iter().any(is_empty_match) {
            catch_all = Some(i);
        }
        for (j, m) in r.matches.iter().enumerate() {
            let key = match_key(m);
            if let Some(&first) = seen.get(&key) {
                c.warn(
                    &format!("{at}.match[{j}]"),
                    format!(
                        "virtualService rule {} match #{j} is not used (duplicate/overlapping match in rule {})",
                        name(i, r),
                        name(first, &http[first])
                    ),
                );
            } else {
                seen.insert(key, i);
            }
        }
    }
}

fn is_empty_match(m: &HttpMatchRequest) -> bool {
    let mut m = m.clone();
    m.name = None;
    m == HttpMatchRequest::default()
}

fn match_key(m: &HttpMatchRequest) -> String {
    let mut m = m.clone();
    m.name = None;
    format!("{m:?}")
}
