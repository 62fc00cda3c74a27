//! `Telemetry` resources bound to this proxy → the snapshot's access-logging switch and trace
//! sampling percentage.
//!
//! Binding is the security policies' (selector, targetRef to a served Gateway, or
//! namespace-wide in the root namespace, the proxy's or a served Gateway's). As in Istio, the most
//! specific resource that sets a list wins for that list: one with a selector or targetRef over a
//! namespace-wide one, a namespace-wide one over the root namespace's; among equals, the first in
//! load order. `match.mode` is not distinguished: a gateway is both the server of its clients
//! and the client of its upstreams.

use rampart_config::telemetry::Telemetry;
use rampart_config::{ConfigSet, Resource};

use crate::security::{bound, ROOT_NAMESPACE};
use crate::ProxyIdentity;

/// What the bound Telemetry resources decide.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TelemetrySettings {
    /// `Some(on)` when a Telemetry sets `accessLogging`.
    pub access_logging: Option<bool>,
    /// `Some(percent)` when a Telemetry sets `tracing` sampling (0 when span reporting is off).
    pub tracing_sampling: Option<f64>,
}

/// Resolves the Telemetry resources of `set` for this proxy.
pub(crate) fn settings(set: &ConfigSet, me: &ProxyIdentity) -> TelemetrySettings {
    let mut bound_here: Vec<(u8, &Resource<Telemetry>)> = set
        .telemetries
        .iter()
        .filter(|t| {
            let refs = t.spec.target_ref.iter().chain(&t.spec.target_refs);
            bound(set, me, t, &t.spec.selector, refs)
        })
        .map(|t| (specificity(t), t))
        .collect();
    // Most specific first; the sort is stable, so load order breaks ties.
    bound_here.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
    let access_logging = bound_here
        .iter()
        .find(|(_, t)| !t.spec.access_logging.is_empty())
        .map(|(_, t)| {
            t.spec
                .access_logging
                .iter()
                .any(|a| a.disabled != Some(true))
        });
    let tracing_sampling = bound_here
        .iter()
        .find_map(|(_, t)| t.spec.tracing.first())
        .and_then(|tracing| {
            if tracing.disable_span_reporting == Some(true) {
                Some(0.0)
            } else {
                tracing.random_sampling_percentage
            }
        });
    TelemetrySettings {
        access_logging,
        tracing_sampling,
    }
}

/// 2: a selector or targetRef; 1: namespace-wide outside the root namespace; 0: root namespace.
fn specificity(t: &Resource<Telemetry>) -> u8 {
    if t.spec.selector.is_some() || t.spec.target_ref.is_some() || !t.spec.target_refs.is_empty() {
        2
    } else {
        u8::from(t.meta.namespace != ROOT_NAMESPACE)
    }
}

#[cfg(test)]
mod tests {
    use rampart_config::load_str;

    use super::*;

    fn settings_of(yaml: &str) -> TelemetrySettings {
        let loaded = load_str("t.yaml", yaml);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        settings(&loaded.config, &ProxyIdentity::default())
    }

    const ROOT: &str = "apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
  tracing: [{randomSamplingPercentage: 10.0}]
";

    #[test]
    fn the_root_namespace_default_applies() {
        assert_eq!(
            settings_of(ROOT),
            TelemetrySettings {
                access_logging: Some(true),
                tracing_sampling: Some(10.0)
            }
        );
        assert_eq!(settings_of(""), TelemetrySettings::default());
    }

    #[test]
    fn a_selector_beats_the_root_default_list_by_list() {
        let yaml = format!(
            "{ROOT}---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  accessLogging: [{{disabled: true}}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: other, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{app: nothing-here}}}}
  tracing: [{{randomSamplingPercentage: 99.0}}]
"
        );
        assert_eq!(
            settings_of(&yaml),
            TelemetrySettings {
                access_logging: Some(false),
                tracing_sampling: Some(10.0)
            }
        );
    }

    #[test]
    fn disabled_span_reporting_samples_nothing() {
        let yaml = "apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: quiet, namespace: istio-system}
spec:
  tracing: [{disableSpanReporting: true, randomSamplingPercentage: 50.0}]
";
        assert_eq!(settings_of(yaml).tracing_sampling, Some(0.0));
    }
}
