//! Values Istio's validation accepts but Envoy refuses (its proto constraints), so istiod would
//! push them and the proxy would NACK them. Rampart rejects them here instead, with the field
//! path, rather than compiling something else (a hash on the source IP for a header name that
//! cannot exist) or something unbounded (a ring of a billion entries built on the data plane).
//!
//! Receives the DestinationRules of a [`ConfigSet`]; hands on error diagnostics.

use rampart_config::networking::{LoadBalancerSettings, TrafficPolicy};
use rampart_config::{ConfigSet, Diagnostic, Resource, Severity};

/// Envoy's `RingHashLbConfig.minimum_ring_size` bound (`lte: 8388608`), also its default
/// `maximum_ring_size`.
pub const MAX_RING_SIZE: u64 = 8_388_608;

/// Reports every out-of-bounds value in `set`.
pub fn check(set: &ConfigSet, diags: &mut Vec<Diagnostic>) {
    for dr in &set.destination_rules {
        if let Some(tp) = &dr.spec.traffic_policy {
            traffic_policy(dr, diags, "spec.trafficPolicy", tp);
        }
        for (i, subset) in dr.spec.subsets.iter().enumerate() {
            if let Some(tp) = &subset.traffic_policy {
                traffic_policy(dr, diags, &format!("spec.subsets[{i}].trafficPolicy"), tp);
            }
        }
    }
}

fn traffic_policy<T>(
    res: &Resource<T>,
    diags: &mut Vec<Diagnostic>,
    path: &str,
    tp: &TrafficPolicy,
) {
    if let Some(lb) = &tp.load_balancer {
        load_balancer(res, diags, &format!("{path}.loadBalancer"), lb);
    }
    for (i, pl) in tp.port_level_settings.iter().enumerate() {
        if let Some(lb) = &pl.load_balancer {
            let at = format!("{path}.portLevelSettings[{i}].loadBalancer");
            load_balancer(res, diags, &at, lb);
        }
    }
}

fn load_balancer<T>(
    res: &Resource<T>,
    diags: &mut Vec<Diagnostic>,
    path: &str,
    lb: &LoadBalancerSettings,
) {
    let Some(hash) = &lb.consistent_hash else {
        return;
    };
    let at = format!("{path}.consistentHash");
    // Envoy: `header_name` has `min_len: 1` and must be a valid header name.
    if let Some(name) = &hash.http_header_name {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            diags.push(res.diag(
                Severity::Error,
                &format!("{at}.httpHeaderName"),
                format!("{name:?} is not a valid HTTP header name"),
            ));
        }
    }
    // Envoy: `QueryParameter.name` has `min_len: 1`.
    if hash.http_query_parameter_name.as_deref() == Some("") {
        diags.push(res.diag(
            Severity::Error,
            &format!("{at}.httpQueryParameterName"),
            "the query parameter name must not be empty",
        ));
    }
    let sizes = [
        (hash.minimum_ring_size, format!("{at}.minimumRingSize")),
        (
            hash.ring_hash.as_ref().and_then(|r| r.minimum_ring_size),
            format!("{at}.ringHash.minimumRingSize"),
        ),
    ];
    for (size, field) in sizes {
        if let Some(size) = size.filter(|&s| s > MAX_RING_SIZE) {
            diags.push(res.diag(
                Severity::Error,
                &field,
                format!("minimumRingSize {size} is above Envoy's limit of {MAX_RING_SIZE}"),
            ));
        }
    }
}
