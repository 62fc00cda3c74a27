//! One Prometheus series per cluster, under the names Istio's sidecars export
//! (`envoy_cluster_<stat>{cluster_name="outbound|port|subset|host"}`).

use std::fmt::Write;
use std::sync::Arc;

use rampart_upstream::Cluster;

/// Writes `envoy_cluster_<stat>` (HELP, TYPE, one sample per cluster).
pub fn per_cluster(
    out: &mut String,
    kind: &str,
    stat: &str,
    help: &str,
    clusters: &[Arc<Cluster>],
    value: impl Fn(&Cluster) -> u64,
) {
    let _ = writeln!(out, "# HELP envoy_cluster_{stat} {help}");
    let _ = writeln!(out, "# TYPE envoy_cluster_{stat} {kind}");
    for c in clusters {
        let _ = writeln!(
            out,
            "envoy_cluster_{stat}{{cluster_name=\"{}\"}} {}",
            c.key,
            value(c)
        );
    }
}
