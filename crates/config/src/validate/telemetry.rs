//! Telemetry validation (Istio's `ValidateTelemetry`), plus the fields Rampart does not map:
//! those are errors naming the field, never silently ignored.

use super::request_authentication::binding;
use super::Check;
use crate::diag::Diagnostic;
use crate::resource::Resource;
use crate::telemetry::{ModeSelector, Telemetry};

const NOT_SUPPORTED: &str = "is not supported by Rampart";

/// Checks one Telemetry.
pub fn validate(res: &Resource<Telemetry>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let spec = &res.spec;
    binding(
        &mut c,
        spec.selector.as_ref(),
        spec.target_ref.as_ref(),
        &spec.target_refs,
    );
    for (i, t) in spec.tracing.iter().enumerate() {
        let at = format!("spec.tracing[{i}]");
        mode(&mut c, &at, t.matches.as_ref());
        providers(&mut c, &at, t.providers.iter().map(|p| p.name.as_str()));
        if let Some(p) = t.random_sampling_percentage {
            if !(0.0..=100.0).contains(&p) {
                c.err(
                    &format!("{at}.randomSamplingPercentage"),
                    format!("randomSamplingPercentage must be in range [0.0, 100.0], got {p}"),
                );
            }
        }
        if !t.custom_tags.is_empty() {
            c.err(
                &format!("{at}.customTags"),
                format!("customTags {NOT_SUPPORTED}"),
            );
        }
        if t.use_request_id_for_trace_sampling.is_some() {
            c.err(
                &format!("{at}.useRequestIdForTraceSampling"),
                format!("useRequestIdForTraceSampling {NOT_SUPPORTED}: sampling is random"),
            );
        }
        if t.enable_istio_tags == Some(false) {
            c.err(
                &format!("{at}.enableIstioTags"),
                format!("turning Istio's span tags off {NOT_SUPPORTED}"),
            );
        }
    }
    for (i, m) in spec.metrics.iter().enumerate() {
        let at = format!("spec.metrics[{i}]");
        for (j, p) in m.providers.iter().enumerate() {
            if p.name != "prometheus" {
                c.err(
                    &format!("{at}.providers[{j}].name"),
                    format!("metrics provider {:?} {NOT_SUPPORTED}: Rampart exports Prometheus metrics only", p.name),
                );
            }
        }
        if !m.overrides.is_empty() {
            c.err(
                &format!("{at}.overrides"),
                format!("metric overrides {NOT_SUPPORTED} yet: every Istio metric is reported with its standard labels"),
            );
        }
        if m.reporting_interval.is_some() {
            c.err(
                &format!("{at}.reportingInterval"),
                format!("reportingInterval {NOT_SUPPORTED}: Prometheus scrapes current values"),
            );
        }
    }
    for (i, a) in spec.access_logging.iter().enumerate() {
        let at = format!("spec.accessLogging[{i}]");
        mode(&mut c, &at, a.matches.as_ref());
        for (j, p) in a.providers.iter().enumerate() {
            if p.name != "envoy" {
                c.err(
                    &format!("{at}.providers[{j}].name"),
                    format!("access log provider {:?} {NOT_SUPPORTED}: use the built-in \"envoy\" provider (the --access-log file, standard output by default)", p.name),
                );
            }
        }
        if a.filter.is_some() {
            c.err(
                &format!("{at}.filter"),
                format!("access log filters (CEL) {NOT_SUPPORTED}"),
            );
        }
    }
}

fn mode<T>(c: &mut Check<'_, T>, at: &str, selector: Option<&ModeSelector>) {
    if let Some(m) = selector.and_then(|s| s.mode.as_deref()) {
        if !matches!(m, "CLIENT_AND_SERVER" | "CLIENT" | "SERVER") {
            c.err(
                &format!("{at}.match.mode"),
                format!("unknown mode {m:?}: expected CLIENT_AND_SERVER, CLIENT or SERVER"),
            );
        }
    }
}

fn providers<'a, T>(c: &mut Check<'_, T>, at: &str, names: impl Iterator<Item = &'a str>) {
    for (j, name) in names.enumerate() {
        if name.is_empty() {
            c.err(
                &format!("{at}.providers[{j}].name"),
                "provider name must be set",
            );
        }
    }
}
