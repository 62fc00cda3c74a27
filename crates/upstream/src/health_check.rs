//! Active health checking: every endpoint of a cluster is probed on an interval (HTTP request
//! or TCP connect, each on a fresh connection, never the request pools). `unhealthy_threshold`
//! failures in a row take an endpoint out of the load balancer; `healthy_threshold` passes in a
//! row bring it back.
//!
//! Endpoints start healthy, so a freshly loaded configuration serves at once; the first round
//! of probes runs immediately. (Envoy starts them unhealthy until a first probe passes; with
//! both, a dead endpoint is out within `unhealthy_threshold` intervals.)

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use rampart_model::{HealthCheckSpec, HealthProbe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::Cluster;
use crate::endpoint::Endpoint;

/// Largest probe response read.
const MAX_PROBE_RESPONSE: usize = 64 * 1024;

/// Probes the cluster's endpoints until the cluster is dropped or loses its health check.
pub async fn run(cluster: Weak<Cluster>) {
    loop {
        let (spec, endpoints) = match cluster.upgrade() {
            Some(c) => {
                let state = c.state();
                match &state.spec.health_check {
                    Some(hc) => (hc.clone(), state.endpoints.clone()),
                    None => return,
                }
            }
            None => return,
        };
        let spec = Arc::new(spec);
        let mut probes = tokio::task::JoinSet::new();
        for ep in endpoints {
            let spec = spec.clone();
            probes.spawn(async move {
                let passed = probe(&spec, &ep).await;
                (ep, passed)
            });
        }
        let results = probes.join_all().await;
        let Some(c) = cluster.upgrade() else { return };
        let mut changed = false;
        for (ep, passed) in &results {
            changed |= c.record_check(&spec, ep, *passed);
        }
        if changed {
            c.refresh_health();
        }
        drop(c);
        tokio::time::sleep(spec.interval).await;
    }
}

impl Cluster {
    /// Counts one probe result; returns whether the endpoint changed state.
    fn record_check(&self, spec: &HealthCheckSpec, ep: &Endpoint, passed: bool) -> bool {
        let h = &ep.health;
        self.health_stats.checks.fetch_add(1, Ordering::Relaxed);
        if passed {
            h.check_failures_in_row.store(0, Ordering::Relaxed);
            let passes = h.check_passes_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if !h.checked_healthy.load(Ordering::Acquire) && passes >= spec.healthy_threshold {
                h.checked_healthy.store(true, Ordering::Release);
                self.health_stats
                    .became_healthy
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(cluster = %self.key, endpoint = %ep.address, "health check passed: endpoint healthy");
                return true;
            }
        } else {
            self.health_stats
                .check_failures
                .fetch_add(1, Ordering::Relaxed);
            h.check_passes_in_row.store(0, Ordering::Relaxed);
            let failures = h.check_failures_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if h.checked_healthy.load(Ordering::Acquire) && failures >= spec.unhealthy_threshold {
                h.checked_healthy.store(false, Ordering::Release);
                self.health_stats
                    .became_unhealthy
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(cluster = %self.key, endpoint = %ep.address, "health check failed: endpoint unhealthy");
                return true;
            }
        }
        false
    }
}

/// One probe of one endpoint, bounded by the check's timeout.
async fn probe(spec: &HealthCheckSpec, ep: &Arc<Endpoint>) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(ep.address).await.ok()?;
        match &spec.probe {
            HealthProbe::Tcp { send, receive } => {
                if let Some(payload) = send {
                    stream.write_all(payload).await.ok()?;
                }
                match receive {
                    Some(expected) => Some(read_contains(&mut stream, expected).await),
                    None => Some(true),
                }
            }
            HealthProbe::Http {
                method,
                path,
                host,
                expected_statuses,
                expected_body,
            } => {
                let request = format!(
                    "{method} {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: rampart-health-check\r\nconnection: close\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).await.ok()?;
                let response = read_all(&mut stream).await;
                let status = status_of(&response)?;
                let body_ok = match expected_body {
                    Some(expected) => contains(body_of(&response), expected),
                    None => true,
                };
                Some(expected_statuses.contains(&status) && body_ok)
            }
        }
    };
    matches!(
        tokio::time::timeout(spec.timeout, attempt).await,
        Ok(Some(true))
    )
}

async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < MAX_PROBE_RESPONSE {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf
}

async fn read_contains(stream: &mut TcpStream, expected: &Bytes) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < MAX_PROBE_RESPONSE {
        if contains(&buf, expected) {
            return true;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    contains(&buf, expected)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The status code of an HTTP/1.x response.
fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\n').next()?;
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.next()?;
    if !version.starts_with(b"HTTP/1.") {
        return None;
    }
    std::str::from_utf8(parts.next()?).ok()?.trim().parse().ok()
}

fn body_of(response: &[u8]) -> &[u8] {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &response[i + 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Some(503)
        );
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(body_of(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nok"), b"ok");
    }
}
