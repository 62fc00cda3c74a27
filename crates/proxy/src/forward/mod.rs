//! Forwarding: endpoint choice, connection checkout and the upstream call, with Istio's default
//! retry policy for failures that happen before the request was sent.
//!
//! Receives the upstream request already rewritten (headers, path, authority); hands back the
//! upstream response or the typed failure, and records `URX` when retries ran out.

mod hash;

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use rampart_telemetry::{ResponseFlag, ResponseFlags};
use rampart_upstream::{Cluster, Endpoint, PooledBody, RequestBody};

use crate::error::Error;

pub use hash::{request_hash, RequestHash};

/// Istio's default retry policy: two retries on `connect-failure` (and on a pooled connection
/// that closed before the request went out, which Envoy does not count at all).
const DEFAULT_RETRIES: u32 = 2;
/// Envoy's default base retry back-off.
const BACKOFF_BASE: Duration = Duration::from_millis(25);
/// How many picks may be spent looking for an endpoint not tried yet (Envoy's
/// `host_selection_retry_max_attempts` with `retry_previous_hosts`).
const HOST_SELECTION_ATTEMPTS: usize = 5;

/// What `send` needs to know about the request beyond the request itself.
pub struct Target<'a> {
    /// The route's cluster.
    pub cluster: &'a Arc<Cluster>,
    /// The request's consistent-hash key, if the cluster balances by one.
    pub hash: Option<u64>,
}

/// Sends `req` to an endpoint of the cluster; connect failures are retried on another endpoint
/// (when there is one) with jittered exponential back-off.
pub async fn send(
    target: &Target<'_>,
    mut req: Request<RequestBody>,
    flags: &mut ResponseFlags,
) -> Result<Response<PooledBody>, Error> {
    let cluster = target.cluster;
    let state = cluster.state();
    let hash = target.hash;
    let mut tried: Vec<Arc<Endpoint>> = Vec::new();
    let mut retries_left = DEFAULT_RETRIES;
    let mut backoff = BACKOFF_BASE;
    loop {
        let endpoint = pick_untried(cluster, &state, hash, &tried)?;
        let failure = match cluster.checkout(&state, &endpoint).await {
            Ok(conn) => match conn.send(req).await {
                Ok(resp) => return Ok(resp),
                Err(err) => match err.unsent {
                    // The pooled connection closed under us; nothing was sent: go again.
                    Some(unsent) => {
                        req = unsent;
                        continue;
                    }
                    None => return Err(err.error.into()),
                },
            },
            Err(err) => err,
        };
        if !failure.before_request_sent() {
            return Err(failure.into());
        }
        if retries_left == 0 {
            if DEFAULT_RETRIES > 0 {
                flags.insert(ResponseFlag::UpstreamRetryLimitExceeded);
            }
            return Err(failure.into());
        }
        retries_left -= 1;
        tried.push(endpoint);
        tokio::time::sleep(jitter(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_BASE * 10);
    }
}

/// A fresh endpoint when possible (Envoy's `retry_previous_hosts`), else whatever the balancer
/// says.
fn pick_untried(
    cluster: &Cluster,
    state: &rampart_upstream::ClusterState,
    hash: Option<u64>,
    tried: &[Arc<Endpoint>],
) -> Result<Arc<Endpoint>, Error> {
    let mut endpoint = cluster.pick(state, hash)?;
    if tried.is_empty() {
        return Ok(endpoint);
    }
    for _ in 0..HOST_SELECTION_ATTEMPTS {
        if !tried.iter().any(|t| Arc::ptr_eq(t, &endpoint)) {
            break;
        }
        endpoint = cluster.pick(state, None)?;
    }
    Ok(endpoint)
}

/// A uniformly random duration in `[0, max]` (full jitter).
fn jitter(max: Duration) -> Duration {
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(fastrand::u64(..=ms))
}
