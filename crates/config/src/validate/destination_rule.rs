//! DestinationRule validation (Istio `ValidateDestinationRule`): host, subsets, exportTo,
//! workloadSelector; traffic policies are checked in [`super::traffic_policy`].
//!
//! Receives: a typed `Resource<DestinationRule>`. Hands on: diagnostics.

use std::collections::HashSet;

use super::virtual_service::subset_name;
use super::{export_to, wildcard_domain, Check};
use crate::diag::Diagnostic;
use crate::networking::DestinationRule;
use crate::path;
use crate::resource::Resource;

/// Checks one DestinationRule.
pub fn validate(res: &Resource<DestinationRule>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let dr = &res.spec;
    c.check("spec.host", wildcard_domain(&dr.host));
    if let Some(tp) = &dr.traffic_policy {
        super::traffic_policy::validate(&mut c, "spec.trafficPolicy", tp);
    }
    let mut names = HashSet::new();
    for (i, s) in dr.subsets.iter().enumerate() {
        let at = path::index("spec.subsets", i);
        if !names.insert(s.name.as_str()) {
            c.err(
                &format!("{at}.name"),
                format!("duplicate subset names: {}", s.name),
            );
        }
        c.check(&format!("{at}.name"), subset_name(&s.name));
        super::labels(&mut c, &format!("{at}.labels"), &s.labels);
        if let Some(tp) = &s.traffic_policy {
            super::traffic_policy::validate(&mut c, &format!("{at}.trafficPolicy"), tp);
        }
    }
    export_to(
        &mut c,
        "spec.exportTo",
        &dr.export_to,
        false,
        dr.workload_selector.is_some(),
    );
    if let Some(ws) = &dr.workload_selector {
        let at = "spec.workloadSelector.matchLabels";
        for (k, v) in &ws.match_labels {
            let p = path::key(at, k);
            if k.is_empty() {
                c.err(&p, "empty key is not supported in selector");
            }
            if k.contains('*') || v.contains('*') {
                c.err(
                    &p,
                    format!("wildcard is not supported in selector: {k}={v}"),
                );
            }
        }
        super::labels(&mut c, at, &ws.match_labels);
    }
}
