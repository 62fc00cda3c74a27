//! Tracing at start-up: the settings from `rampart run --tracing-*`, this proxy's identity on
//! every span (as Istio's proxies tag theirs), and the exporter task.

use std::sync::Arc;

use rampart_compile::ProxyIdentity;
use rampart_trace::{Settings, Tracer};

/// Starts the tracer, and its exporter on the current runtime (the control runtime, beside the
/// admin server and reloads, away from the workers).
pub fn start(mut settings: Settings, identity: &ProxyIdentity) -> Arc<Tracer> {
    let identity = identity_attributes(identity, &settings.service_name);
    settings.span_attributes.extend(identity);
    let (endpoint, sampling) = (settings.endpoint.to_string(), settings.sampling);
    let (tracer, exporter) = Tracer::new(settings);
    tokio::spawn(exporter.run());
    tracing::info!(%endpoint, sampling, "tracing on");
    tracer
}

/// `node_id`, `istio.canonical_service`, `istio.namespace` and (with a locality) `zone`.
fn identity_attributes(me: &ProxyIdentity, service_name: &str) -> Vec<(&'static str, String)> {
    let ns = &me.namespace;
    let workload = service_name.split('.').next().unwrap_or(service_name);
    let canonical = me
        .labels
        .get("service.istio.io/canonical-name")
        .or_else(|| me.labels.get("app"))
        .map_or(workload, String::as_str);
    let mut attributes = vec![
        (
            "node_id",
            format!("router~{}~{workload}.{ns}~{ns}.svc.cluster.local", me.bind),
        ),
        ("istio.canonical_service", canonical.to_string()),
        ("istio.namespace", ns.clone()),
    ];
    if let Some(zone) = me.locality.as_deref().and_then(|l| l.split('/').nth(1)) {
        attributes.push(("zone", zone.to_string()));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_name_the_proxy_as_istio_does() {
        let mut me = ProxyIdentity {
            locality: Some("eu-west1/eu-west1-b/rack1".into()),
            ..ProxyIdentity::default()
        };
        let attrs = identity_attributes(&me, "istio-ingressgateway.istio-system");
        let get = |k: &str| {
            attrs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("node_id").unwrap(),
            "router~0.0.0.0~istio-ingressgateway.istio-system~istio-system.svc.cluster.local"
        );
        assert_eq!(
            get("istio.canonical_service").unwrap(),
            "istio-ingressgateway"
        );
        assert_eq!(get("zone").unwrap(), "eu-west1-b");
        me.labels.insert("app".into(), "edge".into());
        let attrs = identity_attributes(&me, "rampart-ingressgateway");
        assert!(attrs.contains(&("istio.canonical_service", "edge".to_string())));
    }
}
