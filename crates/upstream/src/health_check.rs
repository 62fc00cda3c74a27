//! Active health checking: every endpoint of a cluster is probed every `interval` (an HTTP
//! request or a TCP exchange, each on a fresh connection, never the request pools), each probe
//! bounded by `timeout`. `unhealthy_threshold` failures in a row take an endpoint out of the
//! load balancer; `healthy_threshold` passes in a row bring it back.
//!
//! Endpoints start healthy, so a freshly loaded configuration serves at once instead of
//! answering 503 until the first probes are back; the first round of probes runs immediately,
//! so a dead endpoint is out within `unhealthy_threshold - 1` intervals. (Envoy starts hosts
//! unhealthy until their first probe passes.)
//!
//! Probes of a cluster that originates TLS go over TLS with the cluster's settings, as Envoy's
//! go through the cluster's transport socket; HTTP probes offer ALPN `http/1.1` (they speak
//! HTTP/1.1 even to HTTP/2 clusters).

#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use rampart_model::upstream_tls::UpstreamTls;
use rampart_model::{HealthCheckSpec, HealthProbe};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::connect::handshake;
use crate::endpoint::Endpoint;
use crate::stream::Stream;

/// Largest probe response read.
const MAX_PROBE_RESPONSE: usize = 64 * 1024;

/// The cluster's checker: a round of probes every `interval` until the cluster is dropped,
/// the first at once. New settings wake it, so a changed interval applies from the last round;
/// while the settings have no health check, every endpoint counts as passing and the checker
/// idles until settings come back.
pub async fn run(cluster: Weak<Cluster>) {
    let Some(reconfigured) = cluster.upgrade().map(|c| c.reconfigured.clone()) else {
        return;
    };
    let mut last_round: Option<Instant> = None;
    loop {
        let notified = reconfigured.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Some(c) = cluster.upgrade() else { return };
        let Some(hc) = c.state().spec.health_check.clone() else {
            c.forget_health_checks();
            drop(c);
            notified.await;
            last_round = None;
            continue;
        };
        drop(c);
        let due = last_round.map_or_else(Instant::now, |t| t + hc.interval);
        tokio::select! {
            () = tokio::time::sleep_until(due) => {
                last_round = Some(Instant::now());
                // Held for one round at most, which the probe timeout bounds.
                let Some(c) = cluster.upgrade() else { return };
                c.check_endpoints(&hc).await;
            }
            // New settings: wait again with their interval.
            () = &mut notified => {}
        }
    }
}

impl Cluster {
    /// Probes every endpoint once, concurrently, and applies the verdicts; returns whether
    /// an endpoint changed state (the routable sets were rebuilt then).
    pub async fn check_endpoints(&self, hc: &HealthCheckSpec) -> bool {
        let (endpoints, tls) = {
            let state = self.state();
            (state.endpoints.clone(), state.spec.tls.clone())
        };
        let hc = Arc::new(hc.clone());
        let transport = Arc::new(tls.map(|tls| ProbeTls::new(tls, &hc.probe)));
        let mut probes = tokio::task::JoinSet::new();
        for ep in endpoints {
            let (hc, transport) = (hc.clone(), transport.clone());
            probes.spawn(async move {
                let passed = probe(&hc, (*transport).as_ref(), &ep).await;
                (ep, passed)
            });
        }
        let mut changed = false;
        while let Some(result) = probes.join_next().await {
            if let Ok((ep, passed)) = result {
                changed |= self.record_check(&hc, &ep, passed);
            }
        }
        if changed {
            self.refresh_health();
        }
        changed
    }

    /// `health_check.healthy`: endpoints passing active health checks now.
    pub fn health_check_healthy(&self) -> usize {
        self.state()
            .endpoints
            .iter()
            .filter(|e| !e.health.failed_health_check())
            .count()
    }

    /// Counts one probe result; returns whether the endpoint changed state.
    fn record_check(&self, hc: &HealthCheckSpec, ep: &Endpoint, passed: bool) -> bool {
        let h = &ep.health;
        let stats = &self.health_stats;
        stats.checks.fetch_add(1, Ordering::Relaxed);
        if passed {
            stats.check_successes.fetch_add(1, Ordering::Relaxed);
            h.check_failures_in_row.store(0, Ordering::Relaxed);
            let passes = h.check_passes_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if h.failed_health_check() && passes >= hc.healthy_threshold {
                h.checked_healthy.store(true, Ordering::Release);
                stats.became_healthy.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cluster = %self.key, endpoint = %ep.address, passes, "health check passed: endpoint healthy");
                return true;
            }
        } else {
            stats.check_failures.fetch_add(1, Ordering::Relaxed);
            h.check_passes_in_row.store(0, Ordering::Relaxed);
            let failures = h.check_failures_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if !h.failed_health_check() && failures >= hc.unhealthy_threshold {
                h.checked_healthy.store(false, Ordering::Release);
                stats.became_unhealthy.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cluster = %self.key, endpoint = %ep.address, failures, "health check failed: endpoint unhealthy");
                return true;
            }
        }
        false
    }

    /// Every endpoint passes again (the health check was removed from the settings).
    fn forget_health_checks(&self) {
        let state = self.state();
        let mut changed = false;
        for ep in &state.endpoints {
            let h = &ep.health;
            changed |= !h.checked_healthy.swap(true, Ordering::AcqRel);
            h.check_failures_in_row.store(0, Ordering::Relaxed);
            h.check_passes_in_row.store(0, Ordering::Relaxed);
        }
        if changed {
            self.refresh_health();
        }
    }
}

/// The TLS settings probes use: the cluster's, with ALPN `http/1.1` for HTTP probes.
struct ProbeTls {
    tls: Arc<UpstreamTls>,
    config: Arc<rustls::ClientConfig>,
}

impl ProbeTls {
    fn new(tls: Arc<UpstreamTls>, probe: &HealthProbe) -> Self {
        let config = match probe {
            HealthProbe::Http { .. } => {
                let mut config = rustls::ClientConfig::clone(&tls.config);
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(config)
            }
            HealthProbe::Tcp { .. } => tls.config.clone(),
        };
        Self { tls, config }
    }
}

/// A connection for one probe: TCP, then TLS when the cluster originates it.
async fn open(ep: &Endpoint, tls: Option<&ProbeTls>, deadline: Instant) -> Option<Stream> {
    let tcp = TcpStream::connect(ep.address).await.ok()?;
    match tls {
        None => Some(Stream::Plain(tcp)),
        Some(t) => handshake(tcp, &t.tls, t.config.clone(), deadline)
            .await
            .ok()
            .map(Stream::Tls),
    }
}

/// One probe of one endpoint, bounded by the check's timeout.
async fn probe(hc: &HealthCheckSpec, tls: Option<&ProbeTls>, ep: &Endpoint) -> bool {
    let deadline = Instant::now() + hc.timeout;
    let attempt = async {
        let mut stream = open(ep, tls, deadline).await?;
        match &hc.probe {
            HealthProbe::Tcp { send, receive } => {
                if let Some(payload) = send {
                    stream.write_all(payload).await.ok()?;
                }
                match receive {
                    Some(expected) => {
                        Some(read_until_contains(&mut stream, Vec::new(), expected).await)
                    }
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
                    "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rampart-health-check\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).await.ok()?;
                let (status, body) = read_head(&mut stream).await?;
                if !expected_statuses.contains(&status) {
                    return Some(false);
                }
                match expected_body {
                    Some(expected) => Some(read_until_contains(&mut stream, body, expected).await),
                    None => Some(true),
                }
            }
        }
    };
    matches!(
        tokio::time::timeout_at(deadline, attempt).await,
        Ok(Some(true))
    )
}

/// Reads an HTTP/1.x response head (skipping `1xx` ones); returns the status and the body
/// bytes read with it. `None` when the answer is not HTTP or ends first.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code?;
                buf.drain(..len);
                if !(100..200).contains(&status) {
                    return Some((status, buf));
                }
                continue;
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return None,
        }
        if buf.len() >= MAX_PROBE_RESPONSE || !read_more(stream, &mut buf).await {
            return None;
        }
    }
}

/// Reads until `buf` contains `expected`, the peer closes, or the size limit.
async fn read_until_contains<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
    expected: &Bytes,
) -> bool {
    loop {
        if contains(&buf, expected) {
            return true;
        }
        if buf.len() >= MAX_PROBE_RESPONSE || !read_more(stream, &mut buf).await {
            return false;
        }
    }
}

/// Appends what the peer sends next; false at end of stream or on an error.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
