//! BackendTrafficPolicy validation: what Rampart takes from it (active health checks aimed at
//! ServiceEntries or DestinationRules, rate limits aimed at Gateways or VirtualServices, checked
//! in [`super::rate_limit`]) and a clear error for everything else. Envoy Gateway's
//! CRD rules for the accepted fields are mirrored (types, thresholds ≥ 1, status ranges, payload
//! unions), except that `targetRefs` name Istio resources and `type: TCP` may omit `tcp` (a
//! connect-only probe).
//!
//! Receives: a typed `Resource<BackendTrafficPolicy>`. Hands on: diagnostics. Whether a target
//! exists is checked by `compile`, which sees every resource.

use super::{dns1123_subdomain, Check};
use crate::diag::Diagnostic;
use crate::envoy_gateway::{ActiveHealthCheck, BackendTrafficPolicy, Payload};
use crate::resource::Resource;

/// Checks one BackendTrafficPolicy.
pub fn validate(res: &Resource<BackendTrafficPolicy>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let spec = &res.spec;
    for (field, instead) in spec.unsupported() {
        let msg = format!("BackendTrafficPolicy {field} is not supported by Rampart");
        c.err(
            &format!("spec.{field}"),
            match instead {
                Some(instead) => format!("{msg}: {instead}"),
                None => msg,
            },
        );
    }
    if spec.target_refs.is_empty() {
        c.err("spec.targetRefs", "targetRefs is required");
    }
    // Health checks attach to clusters (ServiceEntry, DestinationRule), rate limits to routes
    // (Gateway, VirtualService): one policy does one or the other.
    let rate_limit = spec.rate_limit.is_some();
    let kinds = if rate_limit {
        "Gateway or VirtualService"
    } else {
        "ServiceEntry or DestinationRule"
    };
    for (i, t) in spec.target_refs.iter().enumerate() {
        let at = format!("spec.targetRefs[{i}]");
        if t.group != "networking.istio.io" {
            c.err(
                &format!("{at}.group"),
                format!(
                    "group {:?} is not supported: Rampart targets networking.istio.io {kinds}",
                    t.group
                ),
            );
        }
        let kind_ok = if rate_limit {
            matches!(t.kind.as_str(), "Gateway" | "VirtualService")
        } else {
            matches!(t.kind.as_str(), "ServiceEntry" | "DestinationRule")
        };
        if !kind_ok {
            let why = if rate_limit { " with rateLimit" } else { "" };
            c.err(
                &format!("{at}.kind"),
                format!("kind {:?} is not supported{why}: use {kinds}", t.kind),
            );
        }
        if t.name.is_empty() {
            c.err(&format!("{at}.name"), "name is required");
        }
        if t.section_name.is_some() {
            c.err(
                &format!("{at}.sectionName"),
                "sectionName is not supported by Rampart: the policy applies to every port",
            );
        }
    }
    if let Some(rl) = &spec.rate_limit {
        super::rate_limit::check(&mut c, rl);
        if spec.health_check.is_some() {
            c.err(
                "spec.healthCheck",
                "healthCheck and rateLimit target different kinds (clusters, routes): put them in separate BackendTrafficPolicies",
            );
        }
        return;
    }
    let Some(hc) = &spec.health_check else {
        c.err(
            "spec.healthCheck",
            "healthCheck.active or rateLimit is required: they are the BackendTrafficPolicy features Rampart uses",
        );
        return;
    };
    if hc.passive.is_some() {
        c.err(
            "spec.healthCheck.passive",
            "passive is not supported by Rampart: use a DestinationRule outlierDetection",
        );
    }
    if hc.panic_threshold.is_some() {
        c.err(
            "spec.healthCheck.panicThreshold",
            "panicThreshold is not supported by Rampart: use a DestinationRule outlierDetection.minHealthPercent",
        );
    }
    match &hc.active {
        Some(active) => check_active(&mut c, "spec.healthCheck.active", active),
        None => c.err("spec.healthCheck.active", "active is required"),
    }
}

fn check_active(c: &mut Check<'_, BackendTrafficPolicy>, at: &str, a: &ActiveHealthCheck) {
    c.duration(&format!("{at}.timeout"), &a.timeout);
    c.duration(&format!("{at}.interval"), &a.interval);
    for (field, value) in [
        ("unhealthyThreshold", a.unhealthy_threshold),
        ("healthyThreshold", a.healthy_threshold),
    ] {
        if value == Some(0) {
            c.err(
                &format!("{at}.{field}"),
                format!("{field} must be at least 1"),
            );
        }
    }
    if a.grpc.is_some() {
        c.err(
            &format!("{at}.grpc"),
            "gRPC health checks are not supported by Rampart yet",
        );
    }
    for (field, set) in [
        ("initialJitter", a.initial_jitter.is_some()),
        ("overrides", a.overrides.is_some()),
        ("healthCheckLog", a.health_check_log.is_some()),
    ] {
        if set {
            c.err(
                &format!("{at}.{field}"),
                format!("{field} is not supported by Rampart"),
            );
        }
    }
    match a.kind.as_deref() {
        None => c.err(&format!("{at}.type"), "type is required (HTTP or TCP)"),
        Some("HTTP") => {
            if a.tcp.is_some() {
                c.err(&format!("{at}.tcp"), "tcp must not be set with type HTTP");
            }
            let Some(http) = &a.http else {
                c.err(&format!("{at}.http"), "http is required with type HTTP");
                return;
            };
            let hp = format!("{at}.http");
            if !http.path.starts_with('/') {
                c.err(&format!("{hp}.path"), "path must start with /");
            }
            if let Some(m) = &http.method {
                let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
                if m.is_empty() || !m.bytes().all(token) {
                    c.err(
                        &format!("{hp}.method"),
                        format!("{m:?} is not an HTTP method"),
                    );
                }
            }
            for (i, &s) in http.expected_statuses.iter().enumerate() {
                if !(100..=599).contains(&s) {
                    c.err(
                        &format!("{hp}.expectedStatuses[{i}]"),
                        format!("status {s} is not in range 100-599"),
                    );
                }
            }
            if let Some(p) = &http.expected_response {
                payload(c, &format!("{hp}.expectedResponse"), p);
            }
            if let Some(h) = &http.hostname {
                if !dns1123_subdomain(h) {
                    c.err(
                        &format!("{hp}.hostname"),
                        format!("hostname {h:?} must be a lowercase DNS name"),
                    );
                }
            }
            for (field, set) in [
                ("retriableStatuses", http.retriable_statuses.is_some()),
                ("requestBody", http.request_body.is_some()),
            ] {
                if set {
                    c.err(
                        &format!("{hp}.{field}"),
                        format!("{field} is not supported by Rampart"),
                    );
                }
            }
        }
        Some("TCP") => {
            if a.http.is_some() {
                c.err(&format!("{at}.http"), "http must not be set with type TCP");
            }
            if let Some(tcp) = &a.tcp {
                for (field, p) in [("send", &tcp.send), ("receive", &tcp.receive)] {
                    if let Some(p) = p {
                        payload(c, &format!("{at}.tcp.{field}"), p);
                    }
                }
            }
        }
        Some("GRPC") => c.err(
            &format!("{at}.type"),
            "GRPC health checks are not supported by Rampart yet",
        ),
        Some(other) => c.err(
            &format!("{at}.type"),
            format!("type {other:?} must be HTTP or TCP"),
        ),
    }
}

fn payload(c: &mut Check<'_, BackendTrafficPolicy>, at: &str, p: &Payload) {
    // As Envoy Gateway's CEL rules: the field of the other type must not be set either.
    match p.kind.as_deref() {
        Some("Text") if p.binary.is_some() => c.err(
            &format!("{at}.binary"),
            "binary must not be set with type Text",
        ),
        Some("Binary") if p.text.is_some() => c.err(
            &format!("{at}.text"),
            "text must not be set with type Binary",
        ),
        _ => {}
    }
    match p.kind.as_deref() {
        Some("Text") if p.text.is_none() => {
            c.err(&format!("{at}.text"), "text is required with type Text")
        }
        Some("Binary") if p.binary.is_none() => c.err(
            &format!("{at}.binary"),
            "binary is required with type Binary",
        ),
        Some("Binary") if p.bytes().is_none() => {
            c.err(&format!("{at}.binary"), "binary is not valid base64")
        }
        Some("Text" | "Binary") => {}
        Some(other) => c.err(
            &format!("{at}.type"),
            format!("type {other:?} must be Text or Binary"),
        ),
        None => c.err(&format!("{at}.type"), "type is required (Text or Binary)"),
    }
}
