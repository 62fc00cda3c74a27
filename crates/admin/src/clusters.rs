//! `/clusters`: every live cluster and endpoint with its counters, in Envoy's
//! `cluster::endpoint::stat::value` text form, or JSON with `?format=json`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::status::AdminState;

/// Text form.
pub fn text(state: &AdminState) -> String {
    let mut out = String::new();
    let mut clusters: Vec<_> = state.shared.registry.clusters().values().cloned().collect();
    clusters.sort_by(|a, b| a.key.cmp(&b.key));
    for c in clusters {
        let name = c.key.to_string();
        let st = c.state();
        let _ = writeln!(out, "{name}::lb::{:?}", st.spec.lb);
        let _ = writeln!(out, "{name}::protocol::{:?}", st.spec.protocol);
        let _ = writeln!(
            out,
            "{name}::no_healthy_upstream::{}",
            c.no_healthy_upstream.load(Ordering::Relaxed)
        );
        crate::load::text(&mut out, &name, &c);
        crate::health::text(&mut out, &name, &c);
        for ep in &st.endpoints {
            let p = format!("{name}::{}", ep.address);
            let _ = writeln!(out, "{p}::weight::{}", ep.weight);
            let _ = writeln!(out, "{p}::health_flags::{}", ep.health.flags());
            let _ = writeln!(
                out,
                "{p}::priority::{}",
                ep.priority.load(Ordering::Relaxed)
            );
            if let Some(locality) = &ep.locality {
                let _ = writeln!(out, "{p}::locality::{locality}");
            }
            let _ = writeln!(
                out,
                "{p}::outlier_ejections::{}",
                ep.health.ejections_total()
            );
            let _ = writeln!(
                out,
                "{p}::outlier_ejection_multiplier::{}",
                ep.health.ejection_multiplier()
            );
            let _ = writeln!(out, "{p}::rq_active::{}", ep.active_requests());
            let _ = writeln!(
                out,
                "{p}::rq_total::{}",
                ep.requests.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "{p}::cx_total::{}",
                ep.connections.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "{p}::cx_connect_fail::{}",
                ep.connect_failures.load(Ordering::Relaxed)
            );
            for (k, v) in &ep.labels {
                let _ = writeln!(out, "{p}::label::{k}={v}");
            }
        }
    }
    out
}

/// JSON form.
pub fn json(state: &AdminState) -> serde_json::Value {
    let mut clusters: Vec<_> = state.shared.registry.clusters().values().cloned().collect();
    clusters.sort_by(|a, b| a.key.cmp(&b.key));
    let list: Vec<_> = clusters
        .iter()
        .map(|c| {
            let st = c.state();
            json!({
                "name": c.key.to_string(),
                "lb": format!("{:?}", st.spec.lb),
                "protocol": format!("{:?}", st.spec.protocol),
                "noHealthyUpstream": c.no_healthy_upstream.load(Ordering::Relaxed),
                "load": crate::load::json(c),
                "health": crate::health::json(c),
                "endpoints": st.endpoints.iter().map(|ep| json!({
                    "address": ep.address.to_string(),
                    "weight": ep.weight,
                    "labels": ep.labels,
                    "health": ep.health.flags(),
                    "priority": ep.priority.load(Ordering::Relaxed),
                    "locality": ep.locality.as_deref(),
                    "ejectionsTotal": ep.health.ejections_total(),
                    "ejectionMultiplier": ep.health.ejection_multiplier(),
                    "rqActive": ep.active_requests(),
                    "rqTotal": ep.requests.load(Ordering::Relaxed),
                    "cxTotal": ep.connections.load(Ordering::Relaxed),
                    "cxConnectFail": ep.connect_failures.load(Ordering::Relaxed),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "clusters": list })
}
