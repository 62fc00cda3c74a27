//! Shared fixtures for unit tests.

use std::sync::Arc;
use std::time::Duration;

use rampart_model::upstream_tls::{OriginationMode, UpstreamTls};
use rampart_testkit::pki::{self, Ca};

use rampart_model::{
    ClusterKey, ClusterSpec, EndpointAddress, EndpointSpec, LbPolicy, OutlierSpec, PoolSettings,
    UpstreamProtocol,
};

/// A cluster of STATIC endpoints on 127.0.0.1 at `ports`, priority 0, round robin.
pub fn spec(ports: &[u16]) -> ClusterSpec {
    ClusterSpec {
        key: ClusterKey {
            host: "app.test".into(),
            port: 80,
            subset: None,
        },
        endpoints: ports
            .iter()
            .map(|&port| EndpointSpec {
                address: EndpointAddress::Socket(([127, 0, 0, 1], port).into()),
                weight: 1,
                labels: Default::default(),
                locality: None,
                priority: 0,
            })
            .collect(),
        lb: LbPolicy::RoundRobin,
        protocol: UpstreamProtocol::Http1,
        connect_timeout: Duration::from_secs(1),
        dns_refresh: Duration::from_secs(5),
        pool: PoolSettings::default(),
        outlier: None,
        health_check: None,
        tls: None,
    }
}

/// Istio's outlier-detection defaults with `consecutive_5xx` and `max_ejection_percent`.
pub fn outlier(consecutive_5xx: u32, max_ejection_percent: u32) -> OutlierSpec {
    OutlierSpec {
        consecutive_5xx,
        consecutive_gateway: 0,
        consecutive_local_origin: 5,
        split_local_origin: false,
        interval: Duration::from_secs(10),
        base_ejection_time: Duration::from_secs(30),
        max_ejection_time: Duration::from_secs(300),
        max_ejection_percent,
        min_health_percent: 0,
        error_codes: Box::new([]),
    }
}

/// SIMPLE TLS settings trusting `ca`, verifying (and sending) `name`, offering `alpn`.
pub fn tls(ca: &Ca, name: &str, alpn: &[&[u8]], fingerprint: u64) -> Arc<UpstreamTls> {
    Arc::new(UpstreamTls {
        config: ca.client_config(alpn),
        server_name: pki::server_name(name),
        mode: OriginationMode::Simple,
        description: "test".into(),
        fingerprint,
    })
}
