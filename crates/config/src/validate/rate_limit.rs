//! `BackendTrafficPolicy.spec.rateLimit` validation: Envoy Gateway's CRD rules (enums, list
//! sizes, "at least one selector field") and its translator's rules (a `Distinct` header has no
//! value and no invert; a local policy has at most one rule without selectors and every local
//! unit is a multiple of that rule's unit; `shadowMode` is global only), plus Rampart's own: a
//! limit of at least one request, and the fields it does not implement rejected by name.
//!
//! Receives: the `rateLimit` section of a policy. Hands on: diagnostics at `spec.rateLimit.…`.

use super::{header_name, ip_subnet, regex, Check};
use crate::envoy_gateway::{
    rate_limit_unit_seconds, BackendTrafficPolicy, RateLimitRule, RateLimitRules,
    RateLimitSelectCondition, RateLimitSpec,
};

type C<'a, 'b> = &'a mut Check<'b, BackendTrafficPolicy>;

/// Envoy Gateway's `maxItems` for global rules.
const MAX_GLOBAL_RULES: usize = 128;
/// Envoy Gateway's `maxItems` for local rules.
const MAX_LOCAL_RULES: usize = 16;
/// Envoy Gateway's `maxItems` for `clientSelectors`.
const MAX_SELECTORS: usize = 8;
/// Gateway API's `HTTPMethod` values.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Checks `spec.rateLimit`.
pub fn check(c: C<'_, '_>, rl: &RateLimitSpec) {
    let at = "spec.rateLimit";
    match rl.kind.as_deref() {
        None => {
            if rl.global.is_none() && rl.local.is_none() {
                c.err(at, "one of global or local is required");
            }
        }
        Some(kind @ ("Global" | "Local")) => {
            let (wanted, other, set, other_set) = if kind == "Global" {
                ("global", "local", rl.global.is_some(), rl.local.is_some())
            } else {
                ("local", "global", rl.local.is_some(), rl.global.is_some())
            };
            if !set {
                c.err(
                    &format!("{at}.{wanted}"),
                    format!("{wanted} is required with type {kind}"),
                );
            }
            if other_set {
                c.err(
                    &format!("{at}.{other}"),
                    format!("{other} must not be set with type {kind}: drop type to use both"),
                );
            }
        }
        Some(other) => c.err(
            &format!("{at}.type"),
            format!("type {other:?} must be Global or Local"),
        ),
    }
    if let Some(global) = &rl.global {
        rules(c, &format!("{at}.global"), global, false);
    }
    if let Some(local) = &rl.local {
        rules(c, &format!("{at}.local"), local, true);
        local_defaults(c, &format!("{at}.local"), local);
    }
}

fn rules(c: C<'_, '_>, at: &str, section: &RateLimitRules, local: bool) {
    let max = if local {
        MAX_LOCAL_RULES
    } else {
        MAX_GLOBAL_RULES
    };
    if section.rules.is_empty() {
        c.err(&format!("{at}.rules"), "rules must not be empty");
    } else if section.rules.len() > max {
        c.err(
            &format!("{at}.rules"),
            format!("at most {max} rules are allowed"),
        );
    }
    for (i, rule) in section.rules.iter().enumerate() {
        self::rule(c, &format!("{at}.rules[{i}]"), rule, local);
    }
}

fn rule(c: C<'_, '_>, at: &str, r: &RateLimitRule, local: bool) {
    if r.limit.requests == 0 {
        c.err(
            &format!("{at}.limit.requests"),
            "requests must be at least 1",
        );
    } else if r.limit.requests > u64::from(u32::MAX) {
        c.err(
            &format!("{at}.limit.requests"),
            format!("requests must be at most {}", u32::MAX),
        );
    }
    if r.limit.unit.is_empty() {
        c.err(&format!("{at}.limit.unit"), "unit is required");
    } else if rate_limit_unit_seconds(&r.limit.unit).is_none() {
        c.err(
            &format!("{at}.limit.unit"),
            format!(
                "unit {:?} must be Second, Minute, Hour, Day, Month or Year",
                r.limit.unit
            ),
        );
    }
    if r.limit.from_metadata.is_some() {
        c.err(
            &format!("{at}.limit.fromMetadata"),
            "fromMetadata is not supported by Rampart",
        );
    }
    if r.cost.is_some() {
        c.err(
            &format!("{at}.cost"),
            "cost is not supported by Rampart: every request costs 1",
        );
    }
    if local && r.shadow_mode.is_some() {
        c.err(
            &format!("{at}.shadowMode"),
            "shadowMode is only supported for global rate limits",
        );
    }
    if let Some(h) = &r.x_rate_limit_headers {
        if !matches!(h.as_str(), "Off" | "DraftVersion03") {
            c.err(
                &format!("{at}.xRateLimitHeaders"),
                format!("xRateLimitHeaders {h:?} must be Off or DraftVersion03"),
            );
        }
    }
    if r.client_selectors.len() > MAX_SELECTORS {
        c.err(
            &format!("{at}.clientSelectors"),
            format!("at most {MAX_SELECTORS} clientSelectors are allowed"),
        );
    }
    for (i, sel) in r.client_selectors.iter().enumerate() {
        selector(c, &format!("{at}.clientSelectors[{i}]"), sel);
    }
}

fn selector(c: C<'_, '_>, at: &str, s: &RateLimitSelectCondition) {
    if s.query_params.is_some() {
        c.err(
            &format!("{at}.queryParams"),
            "queryParams is not supported by Rampart yet",
        );
    }
    let none = s.headers.is_empty()
        && s.methods.is_empty()
        && s.path.is_none()
        && s.source_cidr.is_none()
        && s.query_params.is_none();
    if none {
        c.err(
            at,
            "at least one of headers, methods, path or sourceCIDR must be specified",
        );
    }
    for (i, h) in s.headers.iter().enumerate() {
        let hp = format!("{at}.headers[{i}]");
        if h.name.is_empty() {
            c.err(&format!("{hp}.name"), "name is required");
        } else {
            c.check(&format!("{hp}.name"), header_name(&h.name));
        }
        match h.kind() {
            "Exact" | "RegularExpression" if h.value.is_none() => c.err(
                &format!("{hp}.value"),
                format!("value is required with type {}", h.kind()),
            ),
            "Exact" => {}
            "RegularExpression" => {
                let re = h.value.as_deref().unwrap_or_default();
                c.check(&format!("{hp}.value"), regex(re, re));
            }
            "Distinct" => {
                if h.value.is_some() {
                    c.err(
                        &format!("{hp}.value"),
                        "value must not be set with type Distinct: every value gets its own bucket",
                    );
                }
                if h.invert == Some(true) {
                    c.err(
                        &format!("{hp}.invert"),
                        "invert is not applicable with type Distinct",
                    );
                }
            }
            other => c.err(
                &format!("{hp}.type"),
                format!("type {other:?} must be Exact, RegularExpression or Distinct"),
            ),
        }
    }
    for (i, m) in s.methods.iter().enumerate() {
        if !METHODS.contains(&m.value.as_str()) {
            c.err(
                &format!("{at}.methods[{i}].value"),
                format!("method {:?} must be one of {}", m.value, METHODS.join(", ")),
            );
        }
    }
    if let Some(p) = &s.path {
        let pp = format!("{at}.path");
        match p.kind() {
            "PathPrefix" | "Exact" => {
                if !p.value.starts_with('/') {
                    c.err(&format!("{pp}.value"), "path must start with /");
                }
            }
            "RegularExpression" => c.check(&format!("{pp}.value"), regex(&p.value, &p.value)),
            other => c.err(
                &format!("{pp}.type"),
                format!("type {other:?} must be PathPrefix, Exact or RegularExpression"),
            ),
        }
    }
    if let Some(src) = &s.source_cidr {
        let sp = format!("{at}.sourceCIDR");
        if !matches!(src.kind(), "Exact" | "Distinct") {
            c.err(
                &format!("{sp}.type"),
                format!("type {:?} must be Exact or Distinct", src.kind()),
            );
        }
        if !src.value.contains('/') {
            c.err(
                &format!("{sp}.value"),
                format!("{:?} is not a CIDR block (e.g. 10.0.0.0/8)", src.value),
            );
        } else {
            c.check(&format!("{sp}.value"), ip_subnet(&src.value));
        }
    }
}

/// Envoy Gateway's local-only rules: the rule without selectors is the route's default bucket
/// (at most one), and every rule's unit must be a multiple of the default's (Second when there
/// is no default rule).
fn local_defaults(c: C<'_, '_>, at: &str, local: &RateLimitRules) {
    let defaults: Vec<usize> = (0..local.rules.len())
        .filter(|&i| local.rules[i].client_selectors.is_empty())
        .collect();
    for &i in defaults.iter().skip(1) {
        c.err(
            &format!("{at}.rules[{i}].clientSelectors"),
            "a local rate limit can not have more than one rule without clientSelectors",
        );
    }
    let base = defaults
        .first()
        .and_then(|&i| rate_limit_unit_seconds(&local.rules[i].limit.unit))
        .unwrap_or(1);
    for (i, r) in local.rules.iter().enumerate() {
        if let Some(secs) = rate_limit_unit_seconds(&r.limit.unit) {
            if secs % base != 0 {
                c.err(
                    &format!("{at}.rules[{i}].limit.unit"),
                    "a local rule's unit must be a multiple of the unit of the rule without clientSelectors",
                );
            }
        }
    }
}
