//! Active health checks: the BackendTrafficPolicies whose `targetRefs` name a cluster's
//! ServiceEntry or DestinationRule, compiled into the cluster's [`HealthCheckSpec`].

use std::time::Duration;

use bytes::Bytes;
use rampart_config::envoy_gateway::BackendTrafficPolicy;
use rampart_config::networking::{DestinationRule, ServiceEntry};
use rampart_config::{parse_duration, ConfigSet, Diagnostic, Resource, Severity};
use rampart_model::{HealthCheckSpec, HealthProbe};

/// The health check for a cluster of `se` (host `host`) under `dr`: the first policy, in load
/// order, that targets either.
pub fn for_cluster(
    set: &ConfigSet,
    se: &Resource<ServiceEntry>,
    dr: Option<&Resource<DestinationRule>>,
    host: &str,
) -> Option<HealthCheckSpec> {
    let targets = |p: &Resource<BackendTrafficPolicy>| {
        p.spec.target_refs.iter().any(|t| match t.kind.as_str() {
            "ServiceEntry" => p.meta.namespace == se.meta.namespace && t.name == se.meta.name,
            "DestinationRule" => {
                dr.is_some_and(|dr| p.meta.namespace == dr.meta.namespace && t.name == dr.meta.name)
            }
            _ => false,
        })
    };
    let policy = set.backend_traffic_policies.iter().find(|p| targets(p))?;
    let active = policy.spec.health_check.as_ref()?.active.as_ref()?;
    let duration = |d: &Option<String>, default: u64| {
        d.as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(default))
    };
    let probe = match &active.http {
        Some(http) => HealthProbe::Http {
            method: http::Method::from_bytes(http.method.as_deref().unwrap_or("GET").as_bytes())
                .unwrap_or(http::Method::GET),
            path: http.path.as_str().into(),
            host: http.hostname.as_deref().unwrap_or(host).into(),
            expected_statuses: if http.expected_statuses.is_empty() {
                Box::new([200])
            } else {
                http.expected_statuses.iter().map(|&s| s as u16).collect()
            },
            expected_body: http
                .expected_response
                .as_ref()
                .and_then(|p| p.bytes())
                .map(Bytes::from),
        },
        None => {
            let tcp = active.tcp.as_ref();
            HealthProbe::Tcp {
                send: tcp.and_then(|t| t.send.as_ref()?.bytes()).map(Bytes::from),
                receive: tcp
                    .and_then(|t| t.receive.as_ref()?.bytes())
                    .map(Bytes::from),
            }
        }
    };
    Some(HealthCheckSpec {
        probe,
        interval: duration(&active.interval, 3),
        timeout: duration(&active.timeout, 1),
        unhealthy_threshold: active.unhealthy_threshold.unwrap_or(3).max(1),
        healthy_threshold: active.healthy_threshold.unwrap_or(1).max(1),
        source: format!("{}/{}", policy.meta.namespace, policy.meta.name).into(),
    })
}

/// Warns about targets that name nothing, so a typo does not silently disable a check.
pub fn check_targets(set: &ConfigSet, diags: &mut Vec<Diagnostic>) {
    for p in &set.backend_traffic_policies {
        for (i, t) in p.spec.target_refs.iter().enumerate() {
            let found = match t.kind.as_str() {
                "ServiceEntry" => set
                    .service_entries
                    .iter()
                    .any(|se| se.meta.namespace == p.meta.namespace && se.meta.name == t.name),
                "DestinationRule" => set
                    .destination_rules
                    .iter()
                    .any(|dr| dr.meta.namespace == p.meta.namespace && dr.meta.name == t.name),
                _ => true,
            };
            if !found {
                diags.push(p.diag(
                    Severity::Warning,
                    &format!("spec.targetRefs[{i}].name"),
                    format!(
                        "no {} {}/{}: this health check applies to nothing",
                        t.kind, p.meta.namespace, t.name
                    ),
                ));
            }
        }
    }
}
