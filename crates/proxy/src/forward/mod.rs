//! Forwarding: circuit-breaker admission, endpoint choice, connection checkout and the upstream
//! call, retried under the route's retry policy (Envoy semantics).
//!
//! Receives the upstream request already rewritten (headers, path, authority); hands back the
//! upstream response or the typed failure, recording `URX` when retries ran out and `UO` when a
//! circuit breaker refused. Every attempt's outcome is reported to the cluster's outlier
//! detection.

mod hash;
mod replay;
mod retry_on;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use rampart_model::route::RetryPolicy;
use rampart_telemetry::{ResponseFlag, ResponseFlags};
use rampart_upstream::outlier::Outcome;
use rampart_upstream::{Cluster, ClusterState, Endpoint, PooledBody, RequestBody};

use crate::error::Error;

pub use hash::{request_hash, RequestHash};
pub use replay::Replay;

/// How many picks may be spent looking for an endpoint not tried yet (Envoy's
/// `host_selection_retry_max_attempts` with `retry_previous_hosts`).
const HOST_SELECTION_ATTEMPTS: usize = 5;

/// What `send` needs to know about the request beyond the request itself.
pub struct Target<'a> {
    /// The route's cluster.
    pub cluster: &'a Arc<Cluster>,
    /// The request's consistent-hash key, if the cluster balances by one.
    pub hash: Option<u64>,
    /// The route's retry policy.
    pub retry: &'a RetryPolicy,
    /// Note the attempt count on the response (for the access log).
    pub count_attempts: bool,
    /// The request's trace, when tracing is on: each attempt gets a CLIENT span.
    pub trace: Option<&'a crate::trace::RequestTrace<'a>>,
}

/// Attempts made for a response (a response extension when [`Target::count_attempts`]).
#[derive(Clone, Copy, Debug)]
pub struct Attempts(pub u32);

/// How one attempt ended.
enum Attempt {
    /// The upstream answered.
    Answered(Response<PooledBody>),
    /// Nothing of the request reached an upstream; here it is back.
    NotSent(Error, Box<Request<RequestBody>>),
    /// The request (or part of it) may have reached the upstream.
    Failed(Error),
}

impl Attempt {
    /// The upstream's status, or why there was none (for the attempt's span).
    fn outcome(&self) -> Result<u16, &Error> {
        match self {
            Self::Answered(resp) => Ok(resp.status().as_u16()),
            Self::NotSent(err, _) | Self::Failed(err) => Err(err),
        }
    }
}

/// Sends `req` to an endpoint of the cluster, retrying as the policy allows: on another
/// endpoint when there is one, after a jittered exponential back-off, within the cluster's
/// retry budget. `replay` is the request kept for sending again, when the caller made one.
///
/// The request is boxed so that each async step it passes through moves a pointer, not the
/// whole request (callgrind: ten copies of it per request were 3% of all instructions).
pub async fn send(
    target: &Target<'_>,
    mut req: Box<Request<RequestBody>>,
    replay: Option<Replay>,
    flags: &mut ResponseFlags,
) -> Result<Response<PooledBody>, Error> {
    let cluster = target.cluster;
    let mut state = cluster.state();
    let policy = target.retry;
    if let Err(overflow) = cluster.load.admit_request(&state.spec.pool) {
        flags.insert(ResponseFlag::UpstreamOverflow);
        return Err(rampart_upstream::Error::Overflow(overflow).into());
    }
    let conditions = retry_on::Conditions::for_request(policy, &req, state.spec.protocol);
    let mut replay = match replay {
        Some(replay) => Some(replay),
        None if conditions.after_send_possible() => Some(Replay::prepare(&mut req)),
        None => None,
    };
    let mut next = Some(req);
    let mut tried: Vec<Arc<Endpoint>> = Vec::new();
    let mut retries_left = policy.attempts;
    let mut backoff = policy.backoff;
    let mut retry_guard = None;
    loop {
        let Some(mut req) = next.take() else {
            unreachable!("every retry path sets the next request")
        };
        let endpoint = pick(cluster, &state, target.hash, policy, &tried)?;
        let made = policy.attempts - retries_left + 1;
        let span = target.trace.and_then(|trace| {
            crate::trace::attempt(trace, cluster, &endpoint, made, req.headers_mut())
        });
        let attempt = attempt(cluster, &state, &endpoint, req, policy.per_try_timeout).await;
        if let Some(span) = span {
            crate::trace::attempt_done(span, attempt.outcome());
        }
        let retrying = retry_guard.is_some();
        let (retriable, last) = match attempt {
            Attempt::Answered(resp) => {
                let status = resp.status().as_u16();
                cluster.record_outcome(&state, &endpoint, Outcome::Response(status));
                if !conditions.retry_response(&resp) {
                    if retrying {
                        cluster.load.stats.retry_success.fetch_add(1, Relaxed);
                    }
                    let mut resp = resp;
                    if target.count_attempts {
                        resp.extensions_mut().insert(Attempts(made));
                    }
                    return Ok(resp);
                }
                (true, Ok(resp))
            }
            Attempt::NotSent(err, req) => {
                if matches!(
                    err,
                    Error::Upstream(rampart_upstream::Error::ConnectFailure(_))
                ) {
                    cluster.record_outcome(&state, &endpoint, Outcome::LocalFailure);
                }
                let retriable = conditions.retry_unsent(&err);
                next = Some(req);
                (retriable, Err(err))
            }
            Attempt::Failed(err) => {
                // A bad client body is not the endpoint's fault.
                if !matches!(
                    err,
                    Error::Upstream(rampart_upstream::Error::DownstreamBody(_))
                ) {
                    cluster.record_outcome(&state, &endpoint, Outcome::LocalFailure);
                }
                if matches!(err, Error::Timeout) {
                    cluster.load.stats.per_try_timeouts.fetch_add(1, Relaxed);
                }
                (conditions.retry_sent(&err), Err(err))
            }
        };
        if !retriable {
            return last;
        }
        if retries_left == 0 {
            if policy.attempts > 0 {
                flags.insert(ResponseFlag::UpstreamRetryLimitExceeded);
                cluster
                    .load
                    .stats
                    .retry_limit_exceeded
                    .fetch_add(1, Relaxed);
            }
            return last;
        }
        if next.is_none() {
            match replay.as_mut().and_then(Replay::request) {
                Some(again) => next = Some(Box::new(again)),
                // The body could not be kept (too large, still streaming): no retry.
                None => return last,
            }
        }
        // The retry needs room in the cluster's retry budget (or under `maxRetries`).
        retry_guard = match cluster.load.admit_retry(&state.spec.pool) {
            Ok(guard) => Some(guard),
            Err(_) => return last,
        };
        drop(last);
        retries_left -= 1;
        tried.push(endpoint);
        tokio::time::sleep(jitter(backoff)).await;
        backoff = (backoff * 2).min(policy.backoff * 10);
        // Endpoints may have been ejected (perhaps by this very failure) or reloaded meanwhile.
        state = cluster.state();
    }
}

/// One attempt: checkout, then the exchange under the per-try timeout.
async fn attempt(
    cluster: &Cluster,
    state: &ClusterState,
    endpoint: &Arc<Endpoint>,
    req: Box<Request<RequestBody>>,
    per_try_timeout: Option<Duration>,
) -> Attempt {
    // Built in each arm, so the attempt future holds one exchange, not two.
    match per_try_timeout {
        None => exchange(cluster, state, endpoint, req).await,
        Some(limit) => {
            match tokio::time::timeout(limit, exchange(cluster, state, endpoint, req)).await {
                Ok(attempt) => attempt,
                Err(_) => Attempt::Failed(Error::Timeout),
            }
        }
    }
}

/// Checkout and exchange on one endpoint, going again when a pooled connection turns out to
/// have closed before anything was sent.
async fn exchange(
    cluster: &Cluster,
    state: &ClusterState,
    endpoint: &Arc<Endpoint>,
    mut req: Box<Request<RequestBody>>,
) -> Attempt {
    loop {
        let conn = match cluster.checkout(state, endpoint).await {
            Ok(conn) => conn,
            Err(err) => return Attempt::NotSent(err.into(), req),
        };
        match conn.send(req).await {
            Ok(resp) => return Attempt::Answered(resp),
            Err(err) => match err.unsent {
                Some(unsent) => req = unsent,
                None => return Attempt::Failed(err.error.into()),
            },
        }
    }
}

/// The endpoint for this attempt: a fresh one when retrying with `retry_previous_hosts` (Envoy
/// leaves the predicate out under consistent hashing, so hashed requests keep their host).
fn pick(
    cluster: &Cluster,
    state: &ClusterState,
    hash: Option<u64>,
    policy: &RetryPolicy,
    tried: &[Arc<Endpoint>],
) -> Result<Arc<Endpoint>, Error> {
    if !tried.is_empty() && policy.retry_remote_localities {
        // Envoy's `previous_priorities`: go to a priority (locality) not tried yet.
        let used = |e: &Arc<Endpoint>| {
            let p = e.priority.load(Relaxed);
            tried.iter().any(|t| t.priority.load(Relaxed) == p)
        };
        if let Some(e) = state.routable().find(|e| !used(e)) {
            return Ok(e.clone());
        }
    }
    let mut endpoint = cluster.pick(state, hash)?;
    if tried.is_empty() || hash.is_some() || !policy.retry_previous_hosts {
        return Ok(endpoint);
    }
    let fresh = |e: &Arc<Endpoint>| !tried.iter().any(|t| Arc::ptr_eq(t, e));
    for _ in 0..HOST_SELECTION_ATTEMPTS {
        if fresh(&endpoint) {
            return Ok(endpoint);
        }
        endpoint = cluster.pick(state, None)?;
    }
    // The balancer keeps preferring tried endpoints (least request does when they are the
    // least loaded): take any endpoint not tried yet, if one is left.
    Ok(state
        .routable()
        .find(|e| fresh(e))
        .cloned()
        .unwrap_or(endpoint))
}

/// A uniformly random duration in `[0, max]` (full jitter).
fn jitter(max: Duration) -> Duration {
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(fastrand::u64(..=ms))
}
