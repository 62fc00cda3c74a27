//! RequestAuthentication validation (istio/pkg/config/validation `validateJwtRule`), plus the
//! selector/targetRef rules shared with AuthorizationPolicy.

use std::collections::HashSet;

use super::{duration, header_name, labels, Check};
use crate::diag::Diagnostic;
use crate::networking::TypeWorkloadSelector;
use crate::resource::Resource;
use crate::security::{JwtRule, PolicyTargetReference, RequestAuthentication};

/// Checks one RequestAuthentication.
pub fn validate(res: &Resource<RequestAuthentication>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let spec = &res.spec;
    binding(
        &mut c,
        spec.selector.as_ref(),
        spec.target_ref.as_ref(),
        &spec.target_refs,
    );
    for (i, rule) in spec.jwt_rules.iter().enumerate() {
        jwt_rule(&mut c, &format!("spec.jwtRules[{i}]"), rule);
    }
}

/// `selector`, `targetRef` and `targetRefs` (shared by the security kinds): at most one of them;
/// a target must be a Gateway in the policy's namespace.
pub(crate) fn binding<T>(
    c: &mut Check<'_, T>,
    selector: Option<&TypeWorkloadSelector>,
    target_ref: Option<&PolicyTargetReference>,
    target_refs: &[PolicyTargetReference],
) {
    let set = [
        selector.is_some(),
        target_ref.is_some(),
        !target_refs.is_empty(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        c.err(
            "spec",
            "only one of selector, targetRef or targetRefs can be set",
        );
    }
    if let Some(sel) = selector {
        labels(c, "spec.selector.matchLabels", &sel.match_labels);
    }
    let refs = target_ref
        .map(|t| ("spec.targetRef".to_string(), t))
        .into_iter()
        .chain(
            target_refs
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("spec.targetRefs[{i}]"), t)),
        );
    for (at, t) in refs {
        if !matches!(
            t.group.as_str(),
            "networking.istio.io" | "gateway.networking.k8s.io"
        ) {
            c.err(
                &format!("{at}.group"),
                format!(
                    "group {:?} is not supported: a policy at a gateway targets a networking.istio.io or gateway.networking.k8s.io Gateway",
                    t.group
                ),
            );
        }
        if t.kind != "Gateway" {
            c.err(
                &format!("{at}.kind"),
                format!("kind {:?} is not supported: use Gateway", t.kind),
            );
        }
        if t.name.is_empty() {
            c.err(&format!("{at}.name"), "name is required");
        }
        if let Some(ns) = &t.namespace {
            if *ns != c.res.meta.namespace {
                c.err(
                    &format!("{at}.namespace"),
                    format!(
                        "cross namespace referencing is not currently supported: {ns:?} is not the policy's namespace"
                    ),
                );
            }
        }
    }
}

fn jwt_rule<T>(c: &mut Check<'_, T>, at: &str, rule: &JwtRule) {
    if rule.issuer.is_empty() && rule.jwks_uri.is_none() {
        c.err(
            &format!("{at}.issuer"),
            "issuer must be set (or jwksUri when the issuer is left open)",
        );
    }
    match (&rule.jwks, &rule.jwks_uri) {
        (None, None) => c.err(
            &format!("{at}.jwksUri"),
            "one of jwksUri or jwks is required: Rampart does not discover keys from the issuer (OpenID discovery)",
        ),
        (Some(_), Some(_)) => c.warn(
            &format!("{at}.jwks"),
            "both jwks and jwksUri are set: the inline jwks is used",
        ),
        _ => {}
    }
    if let Some(uri) = &rule.jwks_uri {
        c.check(&format!("{at}.jwksUri"), jwks_uri(uri));
        if let Some(warning) = link_local(uri) {
            c.warn(&format!("{at}.jwksUri"), warning);
        }
    }
    if let Some(jwks) = &rule.jwks {
        c.check(&format!("{at}.jwks"), jwks_json(jwks));
    }
    for (i, aud) in rule.audiences.iter().enumerate() {
        if aud.is_empty() {
            c.err(
                &format!("{at}.audiences[{i}]"),
                "audience must be non-empty",
            );
        }
    }
    for (i, h) in rule.from_headers.iter().enumerate() {
        let path = format!("{at}.fromHeaders[{i}].name");
        if h.name.is_empty() {
            c.err(&path, "name is required");
        } else {
            c.check(&path, header_name(&h.name));
        }
    }
    for (field, list) in [
        ("fromParams", &rule.from_params),
        ("fromCookies", &rule.from_cookies),
        ("spaceDelimitedClaims", &rule.space_delimited_claims),
    ] {
        for (i, v) in list.iter().enumerate() {
            if v.is_empty() {
                c.err(&format!("{at}.{field}[{i}]"), "value must be non-empty");
            }
        }
    }
    if let Some(h) = &rule.output_payload_to_header {
        c.check(&format!("{at}.outputPayloadToHeader"), header_name(h));
    }
    let mut seen = HashSet::new();
    for (i, o) in rule.output_claim_to_headers.iter().enumerate() {
        let p = format!("{at}.outputClaimToHeaders[{i}]");
        if o.header.is_empty() {
            c.err(&format!("{p}.header"), "header is required");
        } else {
            c.check(&format!("{p}.header"), header_name(&o.header));
            if !seen.insert(o.header.to_ascii_lowercase()) {
                c.err(
                    &format!("{p}.header"),
                    format!("duplicate header {:?}", o.header),
                );
            }
        }
        if o.claim.is_empty() {
            c.err(&format!("{p}.claim"), "claim is required");
        }
    }
    if let Some(t) = &rule.timeout {
        c.check(&format!("{at}.timeout"), duration(t).map(drop));
    }
}

/// A JWKS URI: absolute `http` or `https` URL with a host.
fn jwks_uri(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or_else(|| format!("jwksUri {uri:?} must be an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("jwksUri {uri:?} has no valid host"));
    }
    Ok(())
}

/// Inline JWKS: a JSON object with a `keys` array.
fn jwks_json(text: &str) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("jwks is not valid JSON: {e}"))?;
    match v.get("keys") {
        Some(serde_json::Value::Array(_)) => Ok(()),
        _ => Err("jwks must be a JSON object with a \"keys\" array".into()),
    }
}

/// Istio's IST0175 concern: a `jwksUri` on a link-local address (where cloud metadata services
/// answer). Rampart refuses to fetch from there; say so at load.
fn link_local(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let ip: std::net::IpAddr = host.parse().ok()?;
    let link_local = match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    link_local.then(|| {
        format!("jwksUri {uri:?} is a link-local address (cloud metadata services live there): Rampart will not fetch it")
    })
}
