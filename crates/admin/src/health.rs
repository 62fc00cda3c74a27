//! Outlier detection and active health checking of each cluster: the settings in force and the
//! counters, under the names Istio's sidecars export them
//! (`envoy_cluster_<stat>{cluster_name="outbound|port|subset|host"}`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart_model::{HealthCheckSpec, HealthProbe, OutlierSpec};
use rampart_upstream::outlier::HealthStats;
use rampart_upstream::Cluster;

use crate::series::per_cluster;
use serde_json::json;

type Counter = fn(&HealthStats) -> &AtomicU64;

/// Counters: (Envoy stat name, help, field).
const COUNTERS: [(&str, &str, Counter); 10] = [
    (
        "outlier_detection_ejections_enforced_total",
        "Endpoints ejected by outlier detection.",
        |s| &s.ejections_enforced,
    ),
    (
        "outlier_detection_ejections_enforced_consecutive_5xx",
        "Ejections for consecutive 5xx errors.",
        |s| &s.ejections_enforced_5xx,
    ),
    (
        "outlier_detection_ejections_enforced_consecutive_gateway_failure",
        "Ejections for consecutive gateway errors.",
        |s| &s.ejections_enforced_gateway,
    ),
    (
        "outlier_detection_ejections_enforced_consecutive_local_origin_failure",
        "Ejections for consecutive local-origin failures.",
        |s| &s.ejections_enforced_local_origin,
    ),
    (
        "outlier_detection_ejections_overflow",
        "Ejections refused by maxEjectionPercent.",
        |s| &s.ejections_overflow,
    ),
    ("health_check_attempt", "Active health-check probes.", |s| {
        &s.checks
    }),
    (
        "health_check_success",
        "Active health-check probes that passed.",
        |s| &s.check_successes,
    ),
    (
        "health_check_failure",
        "Active health-check probes that failed.",
        |s| &s.check_failures,
    ),
    (
        "health_check_unhealthy_transitions",
        "Endpoints marked unhealthy by active health checks.",
        |s| &s.became_unhealthy,
    ),
    (
        "health_check_healthy_transitions",
        "Endpoints marked healthy again by active health checks.",
        |s| &s.became_healthy,
    ),
];

/// Gauges: (Envoy stat name, help, reader).
const GAUGES: [(&str, &str, fn(&Cluster) -> usize); 2] = [
    (
        "outlier_detection_ejections_active",
        "Endpoints ejected now.",
        Cluster::ejections_active,
    ),
    (
        "health_check_healthy",
        "Endpoints passing active health checks now.",
        Cluster::health_check_healthy,
    ),
];

/// Appends the Prometheus series for `clusters`.
pub fn prometheus(out: &mut String, clusters: &[Arc<Cluster>]) {
    for (stat, help, field) in COUNTERS {
        per_cluster(out, "counter", stat, help, clusters, |c| {
            field(&c.health_stats).load(Ordering::Relaxed)
        });
    }
    for (stat, help, read) in GAUGES {
        per_cluster(out, "gauge", stat, help, clusters, |c| read(c) as u64);
    }
}

/// `/clusters` text lines: the settings in force and the counters.
pub fn text(out: &mut String, name: &str, c: &Cluster) {
    let st = c.state();
    if let Some(od) = &st.spec.outlier {
        for (field, value) in outlier_fields(od) {
            let _ = writeln!(out, "{name}::outlier::{field}::{value}");
        }
    }
    if let Some(hc) = &st.spec.health_check {
        for (field, value) in health_check_fields(hc) {
            let _ = writeln!(out, "{name}::health_check::{field}::{value}");
        }
    }
    for (stat, _, read) in GAUGES {
        let _ = writeln!(out, "{name}::{stat}::{}", read(c));
    }
    for (stat, _, field) in COUNTERS {
        let value = field(&c.health_stats).load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}::{stat}::{value}");
    }
}

/// `/clusters?format=json` fields.
pub fn json(c: &Cluster) -> serde_json::Value {
    let st = c.state();
    let mut stats = serde_json::Map::new();
    for (stat, _, read) in GAUGES {
        stats.insert(stat.to_string(), json!(read(c)));
    }
    for (stat, _, field) in COUNTERS {
        let value = field(&c.health_stats).load(Ordering::Relaxed);
        stats.insert(stat.to_string(), json!(value));
    }
    json!({
        "outlierDetection": st.spec.outlier.as_ref().map(|od| json!({
            "consecutive5xxErrors": od.consecutive_5xx,
            "consecutiveGatewayErrors": od.consecutive_gateway,
            "consecutiveLocalOriginFailures": od.consecutive_local_origin,
            "splitExternalLocalOriginErrors": od.split_local_origin,
            "interval": seconds(od.interval),
            "baseEjectionTime": seconds(od.base_ejection_time),
            "maxEjectionTime": seconds(od.max_ejection_time),
            "maxEjectionPercent": od.max_ejection_percent,
            "minHealthPercent": od.min_health_percent,
            "outlierDetectionHttpErrorCodes": od.error_codes,
        })),
        "healthCheck": st.spec.health_check.as_ref().map(|hc| {
            let probe = match &hc.probe {
                HealthProbe::Http { method, path, host, expected_statuses, expected_body } => json!({
                    "type": "HTTP",
                    "method": method.as_str(),
                    "path": &**path,
                    "hostname": &**host,
                    "expectedStatuses": expected_statuses,
                    "expectedResponse": expected_body.as_deref().map(escape),
                }),
                HealthProbe::Tcp { send, receive } => json!({
                    "type": "TCP",
                    "send": send.as_deref().map(escape),
                    "receive": receive.as_deref().map(escape),
                }),
            };
            json!({
                "source": &*hc.source,
                "probe": probe,
                "interval": seconds(hc.interval),
                "timeout": seconds(hc.timeout),
                "unhealthyThreshold": hc.unhealthy_threshold,
                "healthyThreshold": hc.healthy_threshold,
            })
        }),
        "stats": stats,
    })
}

fn outlier_fields(od: &OutlierSpec) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("consecutive_5xx", od.consecutive_5xx.to_string()),
        (
            "consecutive_gateway_failure",
            od.consecutive_gateway.to_string(),
        ),
        (
            "consecutive_local_origin_failure",
            od.consecutive_local_origin.to_string(),
        ),
        (
            "split_external_local_origin_errors",
            od.split_local_origin.to_string(),
        ),
        ("interval", format!("{:?}", od.interval)),
        ("base_ejection_time", format!("{:?}", od.base_ejection_time)),
        ("max_ejection_time", format!("{:?}", od.max_ejection_time)),
        ("max_ejection_percent", od.max_ejection_percent.to_string()),
        ("min_health_percent", od.min_health_percent.to_string()),
    ];
    if !od.error_codes.is_empty() {
        fields.push(("error_codes", list(&od.error_codes)));
    }
    fields
}

fn health_check_fields(hc: &HealthCheckSpec) -> Vec<(&'static str, String)> {
    let mut fields = vec![("source", hc.source.to_string())];
    match &hc.probe {
        HealthProbe::Http {
            method,
            path,
            host,
            expected_statuses,
            expected_body,
        } => {
            fields.push(("type", "HTTP".into()));
            fields.push(("method", method.to_string()));
            fields.push(("path", path.to_string()));
            fields.push(("hostname", host.to_string()));
            fields.push(("expected_statuses", list(expected_statuses)));
            if let Some(body) = expected_body {
                fields.push(("expected_response", escape(body)));
            }
        }
        HealthProbe::Tcp { send, receive } => {
            fields.push(("type", "TCP".into()));
            if let Some(send) = send {
                fields.push(("send", escape(send)));
            }
            if let Some(receive) = receive {
                fields.push(("receive", escape(receive)));
            }
        }
    }
    fields.push(("interval", format!("{:?}", hc.interval)));
    fields.push(("timeout", format!("{:?}", hc.timeout)));
    fields.push(("unhealthy_threshold", hc.unhealthy_threshold.to_string()));
    fields.push(("healthy_threshold", hc.healthy_threshold.to_string()));
    fields
}

fn list(codes: &[u16]) -> String {
    let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
    codes.join(",")
}

/// Probe payloads may be binary: shown with Rust's ASCII escapes.
fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rampart_model::{
        ClusterKey, ClusterSpec, EndpointAddress, EndpointSpec, LbPolicy, PoolSettings,
        UpstreamProtocol,
    };
    use rampart_upstream::outlier::Outcome;

    use super::*;

    fn cluster() -> Cluster {
        let spec = ClusterSpec {
            key: ClusterKey {
                host: "app.test".into(),
                port: 80,
                subset: None,
            },
            endpoints: [1, 2]
                .into_iter()
                .map(|port| EndpointSpec {
                    address: EndpointAddress::Socket(([127, 0, 0, 1], port).into()),
                    weight: 1,
                    labels: BTreeMap::new(),
                    locality: None,
                    priority: 0,
                })
                .collect(),
            lb: LbPolicy::RoundRobin,
            protocol: UpstreamProtocol::Http1,
            connect_timeout: Duration::from_secs(1),
            dns_refresh: Duration::from_secs(5),
            pool: PoolSettings::default(),
            outlier: Some(OutlierSpec {
                consecutive_5xx: 1,
                consecutive_gateway: 0,
                consecutive_local_origin: 5,
                split_local_origin: false,
                interval: Duration::from_secs(10),
                base_ejection_time: Duration::from_secs(30),
                max_ejection_time: Duration::from_secs(300),
                max_ejection_percent: 50,
                min_health_percent: 0,
                error_codes: Box::new([]),
            }),
            health_check: Some(HealthCheckSpec {
                probe: HealthProbe::Tcp {
                    send: Some(bytes::Bytes::from_static(b"\x01ping")),
                    receive: None,
                },
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(1),
                unhealthy_threshold: 3,
                healthy_threshold: 1,
                source: "default/app-health".into(),
            }),
            tls: None,
        };
        let c = Cluster::new(spec, 1);
        let state = c.state();
        c.record_outcome(&state, &state.endpoints[0], Outcome::Response(503));
        c
    }

    #[test]
    fn settings_and_counters_in_every_form() {
        let c = Arc::new(cluster());
        let name = c.key.to_string();
        let mut text = String::new();
        super::text(&mut text, &name, &c);
        for line in [
            "outbound|80||app.test::outlier::consecutive_5xx::1",
            "outbound|80||app.test::outlier::base_ejection_time::30s",
            "outbound|80||app.test::health_check::type::TCP",
            "outbound|80||app.test::health_check::send::\\x01ping",
            "outbound|80||app.test::health_check::interval::500ms",
            "outbound|80||app.test::outlier_detection_ejections_active::1",
            "outbound|80||app.test::outlier_detection_ejections_enforced_total::1",
            "outbound|80||app.test::health_check_healthy::2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        let json = super::json(&c);
        assert_eq!(json["outlierDetection"]["maxEjectionPercent"], 50);
        assert_eq!(json["healthCheck"]["probe"]["type"], "TCP");
        assert_eq!(json["healthCheck"]["interval"], 0.5);
        assert_eq!(json["stats"]["outlier_detection_ejections_active"], 1);
        let mut prom = String::new();
        prometheus(&mut prom, &[c]);
        for line in [
            "envoy_cluster_outlier_detection_ejections_enforced_total{cluster_name=\"outbound|80||app.test\"} 1",
            "envoy_cluster_outlier_detection_ejections_enforced_consecutive_5xx{cluster_name=\"outbound|80||app.test\"} 1",
            "envoy_cluster_outlier_detection_ejections_active{cluster_name=\"outbound|80||app.test\"} 1",
            "envoy_cluster_health_check_failure{cluster_name=\"outbound|80||app.test\"} 0",
            "envoy_cluster_health_check_healthy{cluster_name=\"outbound|80||app.test\"} 2",
            "# TYPE envoy_cluster_health_check_healthy gauge",
        ] {
            assert!(prom.lines().any(|l| l == line), "{line}\n{prom}");
        }
    }
}
