//! A cluster at run time: its current endpoint set and balancer, and sending a request to one
//! endpoint over a pooled connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::{ArcSwap, ArcSwapOption};
use http::{Request, Response};
use rampart_model::upstream_tls::same_transport;
use rampart_model::{ClusterKey, ClusterSpec, EndpointAddress, UpstreamProtocol};

use crate::body::{PooledBody, RequestBody};
use crate::connect::dial;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::h1::{H1Conn, IdleQueue, Lifetime};
use crate::lb::Balancer;
use crate::load::{ClusterLoad, ConnSlot};
use crate::outlier::HealthStats;
use crate::pool::{H2Sender, StreamLease};
use crate::priority;

/// Settings and endpoints of a cluster as of the last reload, DNS answer or health change.
#[derive(Debug)]
pub struct ClusterState {
    /// Compiled settings.
    pub spec: ClusterSpec,
    /// Every endpoint, healthy or not.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Endpoints that may take traffic, by failover priority, each with its balancer.
    levels: Vec<Level>,
    /// Share of requests (percent) each level takes; empty when there is a single level.
    loads: Vec<u32>,
}

/// The routable endpoints of one priority.
#[derive(Debug)]
struct Level {
    endpoints: Vec<Arc<Endpoint>>,
    balancer: Balancer,
}

impl ClusterState {
    /// Endpoints that may take traffic now (healthy, or all of them in panic mode).
    pub fn routable(&self) -> impl Iterator<Item = &Arc<Endpoint>> {
        self.levels.iter().flat_map(|l| l.endpoints.iter())
    }
}

/// A cluster that outlives snapshots; the registry updates it in place on reload.
#[derive(Debug)]
pub struct Cluster {
    /// Stable identity.
    pub key: ClusterKey,
    state: ArcSwap<ClusterState>,
    /// DNS answers by (name, port), for `resolution: DNS` endpoints.
    resolved: ArcSwap<HashMap<(Arc<str>, u16), Vec<SocketAddr>>>,
    workers: usize,
    /// Settings waiting for their first DNS answers (Envoy's cluster warming): until they
    /// arrive, the previous settings and endpoints keep serving.
    pending: ArcSwapOption<ClusterSpec>,
    /// Wakes the resolver when names need resolving now.
    pub(crate) resolve_now: tokio::sync::Notify,
    /// Requests that found no endpoint.
    pub no_healthy_upstream: AtomicU64,
    pub(crate) resolver: OnceLock<tokio::task::AbortHandle>,
    /// Live load and circuit-breaker counters.
    pub load: Arc<ClusterLoad>,
    /// Outlier-detection and health-check counters.
    pub health_stats: HealthStats,
    /// Outlier sweeper and health checker: spawned once, they live as long as the cluster
    /// (idle while their settings are absent).
    pub(crate) sweeper: OnceLock<tokio::task::AbortHandle>,
    pub(crate) checker: OnceLock<tokio::task::AbortHandle>,
    /// Closes idle connections past `idleTimeout`.
    pub(crate) reaper: OnceLock<tokio::task::AbortHandle>,
    /// Serializes the writers of `state` (reload, DNS answers, health changes) so that none
    /// loses another's update. Readers never take it.
    writer: WriterLock,
    /// Wakes the sweeper and the checker when new settings are applied (a changed interval).
    pub(crate) reconfigured: Arc<tokio::sync::Notify>,
    /// Origin of the (tokio) clock that ejection deadlines are kept on.
    pub(crate) epoch: tokio::time::Instant,
}

// Not on the request path: writers only (an ejection, at most once per ejected endpoint, is the
// one writer a request can trigger). Its critical sections build a state and swap it in.
#[allow(clippy::disallowed_types)]
type WriterLock = std::sync::Mutex<()>;

/// Proof that the caller holds the cluster's writer lock.
pub(crate) type WriterGuard<'a> = std::sync::MutexGuard<'a, ()>;

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in [&self.resolver, &self.sweeper, &self.checker, &self.reaper] {
            if let Some(task) = task.get() {
                task.abort();
            }
        }
    }
}

impl Cluster {
    /// A cluster for `spec`, with pools for `workers` worker threads.
    pub fn new(spec: ClusterSpec, workers: usize) -> Self {
        let resolved = HashMap::new();
        let load = Arc::new(ClusterLoad::default());
        let state = build_state(spec, &[], &resolved, workers, &load);
        Self {
            key: state.spec.key.clone(),
            state: ArcSwap::from_pointee(state),
            resolved: ArcSwap::from_pointee(resolved),
            workers,
            pending: ArcSwapOption::empty(),
            resolve_now: tokio::sync::Notify::new(),
            no_healthy_upstream: AtomicU64::new(0),
            resolver: OnceLock::new(),
            load,
            health_stats: HealthStats::default(),
            sweeper: OnceLock::new(),
            checker: OnceLock::new(),
            reaper: OnceLock::new(),
            writer: WriterLock::default(),
            reconfigured: Arc::default(),
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Takes the writer lock (a panicked writer left no half-built state: states are swapped
    /// whole, so the poison is ignored).
    pub(crate) fn lock_writer(&self) -> WriterGuard<'_> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state (lock-free read).
    #[inline]
    pub fn state(&self) -> arc_swap::Guard<Arc<ClusterState>> {
        self.state.load()
    }

    /// Applies new settings, keeping endpoints (and their pools) whose address is unchanged.
    /// Settings that name DNS endpoints without an answer yet wait (warm) until the resolver
    /// has one, so a reload never empties a cluster that was serving.
    pub fn update(&self, spec: ClusterSpec) {
        let _writer = self.lock_writer();
        let resolved = self.resolved.load_full();
        let old = self.state.load_full();
        if !old.endpoints.is_empty() && !all_resolved(&spec, &resolved) {
            self.pending.store(Some(Arc::new(spec)));
            self.resolve_now.notify_one();
            return;
        }
        self.pending.store(None);
        let previous = reusable(&old, &spec);
        self.install(build_state(
            spec,
            previous,
            &resolved,
            self.workers,
            &self.load,
        ));
    }

    /// Swaps in a state with new settings (writer lock held) and tells the sweeper and the
    /// checker, which may have a new interval.
    fn install(&self, state: ClusterState) {
        self.state.store(Arc::new(state));
        self.reconfigured.notify_waiters();
    }

    /// Rebuilds the routable endpoint sets after a health change (ejection, return, health
    /// check verdict).
    pub fn refresh_health(&self) {
        let writer = self.lock_writer();
        self.rebuild_routable(&writer);
    }

    /// [`Self::refresh_health`] for a caller that holds the writer lock.
    pub(crate) fn rebuild_routable(&self, _writer: &WriterGuard<'_>) {
        let old = self.state.load_full();
        let (levels, loads) = levels(&old.spec, &old.endpoints);
        self.state.store(Arc::new(ClusterState {
            spec: old.spec.clone(),
            endpoints: old.endpoints.clone(),
            levels,
            loads,
        }));
    }

    /// The settings the resolver should look names up for: the pending ones too.
    pub(crate) fn specs_to_resolve(&self) -> Vec<ClusterSpec> {
        let mut specs = vec![self.state.load().spec.clone()];
        if let Some(pending) = self.pending.load_full() {
            specs.push(ClusterSpec::clone(&pending));
        }
        specs
    }

    /// Records a DNS answer for one name and rebuilds the endpoint set if it changed (or if
    /// pending settings now have every answer they need).
    pub fn set_resolved(&self, name: (Arc<str>, u16), addrs: Vec<SocketAddr>) {
        let _writer = self.lock_writer();
        let current = self.resolved.load_full();
        let changed = current.get(&name) != Some(&addrs);
        if changed {
            let mut next = HashMap::clone(&current);
            next.insert(name, addrs);
            self.resolved.store(Arc::new(next));
        }
        let resolved = self.resolved.load_full();
        let old = self.state.load_full();
        let spec = match self.pending.load_full() {
            Some(pending) if all_resolved(&pending, &resolved) => {
                self.pending.store(None);
                ClusterSpec::clone(&pending)
            }
            _ if changed => old.spec.clone(),
            _ => return,
        };
        let previous = reusable(&old, &spec);
        self.install(build_state(
            spec,
            previous,
            &resolved,
            self.workers,
            &self.load,
        ));
    }

    /// Chooses an endpoint; `hash` is the request's consistent-hash key, if the policy uses one.
    pub fn pick(&self, state: &ClusterState, hash: Option<u64>) -> Result<Arc<Endpoint>, Error> {
        let level = match state.levels.as_slice() {
            [only] => Some(only),
            levels => priority::choose(&state.loads, fastrand::u32(..100)).map(|i| &levels[i]),
        };
        match level.and_then(|l| Some(&l.endpoints[l.balancer.pick(&l.endpoints, hash)?])) {
            Some(endpoint) => Ok(endpoint.clone()),
            None => {
                self.no_healthy_upstream.fetch_add(1, Ordering::Relaxed);
                Err(Error::NoHealthyUpstream)
            }
        }
    }

    /// A connection to `endpoint` that is ready for one request: a pooled or new HTTP/1.1
    /// connection, or the worker's shared HTTP/2 connection. Under the circuit breakers, a
    /// request that finds no idle connection is pending until it may open one or one comes
    /// free; past `http1MaxPendingRequests` it is refused with [`Error::Overflow`].
    pub async fn checkout(
        &self,
        state: &ClusterState,
        endpoint: &Arc<Endpoint>,
    ) -> Result<Conn, Error> {
        let spec = &state.spec;
        let conn = match spec.protocol {
            UpstreamProtocol::Http1 => {
                let idle = endpoint.pool().idle().clone();
                let h1 = match endpoint.pool().take_idle(&spec.pool) {
                    Some(conn) => Ok(conn),
                    None => self.open_h1(spec, endpoint).await,
                };
                h1.map(|conn| Conn {
                    endpoint: endpoint.clone(),
                    kind: ConnKind::H1 { conn, idle },
                })
            }
            UpstreamProtocol::Http2 => {
                endpoint
                    .pool()
                    .h2(endpoint, spec)
                    .await
                    .map(|(sender, lease)| Conn {
                        endpoint: endpoint.clone(),
                        kind: ConnKind::H2 {
                            sender,
                            lease,
                            tls: spec.tls.is_some(),
                        },
                    })
            }
        };
        if matches!(conn, Err(Error::ConnectFailure(_))) {
            endpoint.connect_failures.fetch_add(1, Ordering::Relaxed);
        }
        conn
    }

    /// The pending path: dial when under `maxConnections`, else wait for a connection of this
    /// endpoint (on any worker) to go idle, or for a slot to free.
    async fn open_h1(
        &self,
        spec: &ClusterSpec,
        endpoint: &Arc<Endpoint>,
    ) -> Result<Box<H1Conn>, Error> {
        let limits = &spec.pool;
        let _pending = self
            .load
            .enter_pending(limits.max_pending_requests)
            .map_err(Error::Overflow)?;
        loop {
            let freed = self.load.freed();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let may_open = self.load.try_open(limits.max_connections)
                || (endpoint.open_connections() == 0 && {
                    self.load.force_open();
                    true
                });
            if may_open {
                let slot = ConnSlot::new(endpoint);
                let stream = dial(endpoint.address, spec).await?;
                endpoint.connections.fetch_add(1, Ordering::Relaxed);
                let life = Lifetime::new(limits.max_requests_per_connection, Some(slot));
                return Ok(H1Conn::with_life(stream, life));
            }
            if let Some(conn) = endpoint.pools().iter().find_map(|p| p.take_idle(limits)) {
                return Ok(conn);
            }
            freed.await;
        }
    }
}

/// A connection checked out for one request.
#[derive(Debug)]
pub struct Conn {
    endpoint: Arc<Endpoint>,
    kind: ConnKind,
}

#[derive(Debug)]
enum ConnKind {
    H1 {
        conn: Box<H1Conn>,
        idle: IdleQueue,
    },
    H2 {
        sender: H2Sender,
        lease: StreamLease,
        /// Whether the connection is TLS (`:scheme` https).
        tls: bool,
    },
}

/// A failed send; `unsent` gives the request back when it was certainly not written (a pooled
/// connection that had just closed), so the caller may send it on another connection.
#[derive(Debug)]
pub struct SendError {
    /// What went wrong.
    pub error: Error,
    /// The request, when nothing of it was sent.
    pub unsent: Option<Box<Request<RequestBody>>>,
}

impl Conn {
    /// The endpoint this connection goes to.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Sends `req`. Its URI must be origin-form (`/path?query`); for HTTP/2 it is made absolute
    /// from the `host` header here.
    pub async fn send(
        self,
        req: Box<Request<RequestBody>>,
    ) -> Result<Response<PooledBody>, SendError> {
        let active = self.endpoint.activate();
        self.endpoint.requests.fetch_add(1, Ordering::Relaxed);
        match self.kind {
            ConnKind::H1 { conn, idle } => match conn.send(req, idle).await {
                Ok(resp) => Ok(resp.map(|b| PooledBody::h1(b, active))),
                Err(failure) => Err(SendError {
                    error: failure.error,
                    unsent: failure.unsent,
                }),
            },
            ConnKind::H2 {
                mut sender,
                lease,
                tls,
            } => match sender.send_request(absolute_uri(*req, tls)).await {
                Ok(resp) => Ok(resp.map(|b| PooledBody::h2(b, active, lease))),
                Err(err) => Err(SendError {
                    error: Error::from_send(err),
                    unsent: None,
                }),
            },
        }
    }
}

/// HTTP/2 needs `:scheme` and `:authority`: the authority from the Host header, the scheme from
/// the connection (`https` over originated TLS, as Envoy sets it from the upstream transport).
fn absolute_uri(mut req: Request<RequestBody>, tls: bool) -> Request<RequestBody> {
    let authority = req
        .headers_mut()
        .remove(http::header::HOST)
        .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok());
    let mut parts = req.uri().clone().into_parts();
    parts.scheme = Some(if tls {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    });
    parts.authority = authority.or_else(|| Some(http::uri::Authority::from_static("unknown")));
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req
}

/// The endpoints (with their pools, health and ejections) that settings `spec` may take over:
/// none when the transport changed (plain ↔ TLS, or other TLS settings or certificates), so that
/// a pool never hands out a connection made under other TLS settings. Envoy, too, replaces a
/// cluster whose transport socket changed.
fn reusable<'a>(old: &'a ClusterState, spec: &ClusterSpec) -> &'a [Arc<Endpoint>] {
    if same_transport(old.spec.tls.as_deref(), spec.tls.as_deref()) {
        &old.endpoints
    } else {
        &[]
    }
}

fn build_state(
    spec: ClusterSpec,
    previous: &[Arc<Endpoint>],
    resolved: &HashMap<(Arc<str>, u16), Vec<SocketAddr>>,
    workers: usize,
    load: &Arc<ClusterLoad>,
) -> ClusterState {
    let mut endpoints = Vec::with_capacity(spec.endpoints.len());
    for ep in &spec.endpoints {
        let addrs: &[SocketAddr] = match &ep.address {
            EndpointAddress::Socket(addr) => std::slice::from_ref(addr),
            EndpointAddress::Dns { host, port } => resolved
                .get(&(host.clone(), *port))
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        };
        for &addr in addrs {
            let reuse = previous.iter().find(|p| {
                p.address == addr
                    && p.weight == ep.weight.max(1)
                    && p.labels == ep.labels
                    && p.locality == ep.locality
            });
            let endpoint = match reuse {
                Some(p) => p.clone(),
                None => Arc::new(
                    Endpoint::new(addr, ep.weight, ep.labels.clone(), workers, load.clone())
                        .with_locality(ep.locality.clone()),
                ),
            };
            endpoint.priority.store(ep.priority, Ordering::Relaxed);
            endpoints.push(endpoint);
        }
    }
    let (levels, loads) = levels(&spec, &endpoints);
    ClusterState {
        spec,
        endpoints,
        levels,
        loads,
    }
}

/// The routable endpoints by priority, with each priority's share of requests. Unhealthy
/// endpoints (ejected, or failing active checks, under the checks `spec` configures) are left
/// out unless fewer than `minHealthPercent` are healthy (panic mode: then health is ignored,
/// as Envoy does).
fn levels(spec: &ClusterSpec, endpoints: &[Arc<Endpoint>]) -> (Vec<Level>, Vec<u32>) {
    let min_health = spec.outlier.as_ref().map_or(0, |od| od.min_health_percent) as usize;
    let healthy = endpoints
        .iter()
        .filter(|e| e.health.is_routable(spec))
        .count();
    let panic = min_health > 0 && healthy * 100 < min_health * endpoints.len();
    let routable = |e: &&Arc<Endpoint>| panic || e.health.is_routable(spec);
    let mut priorities: Vec<u32> = endpoints
        .iter()
        .map(|e| e.priority.load(Ordering::Relaxed))
        .collect();
    priorities.sort_unstable();
    priorities.dedup();
    let level = |members: Vec<Arc<Endpoint>>| Level {
        balancer: Balancer::build(&spec.lb, &members),
        endpoints: members,
    };
    if priorities.len() <= 1 {
        let members = endpoints.iter().filter(routable).cloned().collect();
        return (vec![level(members)], Vec::new());
    }
    let mut counts = Vec::with_capacity(priorities.len());
    let mut levels = Vec::with_capacity(priorities.len());
    for p in priorities {
        let group: Vec<&Arc<Endpoint>> = endpoints
            .iter()
            .filter(|e| e.priority.load(Ordering::Relaxed) == p)
            .collect();
        let members: Vec<Arc<Endpoint>> = group
            .iter()
            .filter(|e| routable(e))
            .map(|e| Arc::clone(e))
            .collect();
        counts.push((members.len(), group.len()));
        levels.push(level(members));
    }
    (levels, priority::loads(&counts))
}

/// Whether every DNS endpoint of `spec` has an answer.
fn all_resolved(spec: &ClusterSpec, resolved: &HashMap<(Arc<str>, u16), Vec<SocketAddr>>) -> bool {
    spec.endpoints.iter().all(|e| match &e.address {
        EndpointAddress::Dns { host, port } => resolved.contains_key(&(host.clone(), *port)),
        EndpointAddress::Socket(_) => true,
    })
}

#[cfg(test)]
mod tests {
    use rampart_testkit::pki::Ca;

    use super::*;
    use crate::test_support::{spec, tls};

    #[tokio::test]
    async fn endpoints_and_their_pools_are_replaced_only_when_the_transport_changes() {
        let ca = Ca::new("ca");
        let plain = spec(&[1000]);
        let c = Cluster::new(plain.clone(), 1);
        let first = c.state().endpoints[0].clone();
        let endpoint = |c: &Cluster| c.state().endpoints[0].clone();

        c.update(plain.clone());
        assert!(
            Arc::ptr_eq(&first, &endpoint(&c)),
            "same settings keep pools"
        );

        let with_tls = |fingerprint| ClusterSpec {
            tls: Some(tls(&ca, "app.test", &[b"http/1.1"], fingerprint)),
            ..plain.clone()
        };
        c.update(with_tls(1));
        let secured = endpoint(&c);
        assert!(!Arc::ptr_eq(&first, &secured), "plain → TLS: new pools");

        c.update(with_tls(1));
        assert!(
            Arc::ptr_eq(&secured, &endpoint(&c)),
            "recompiled, equal TLS settings keep pools"
        );

        c.update(with_tls(2));
        let rekeyed = endpoint(&c);
        assert!(
            !Arc::ptr_eq(&secured, &rekeyed),
            "new certificates: new pools"
        );

        c.update(plain);
        assert!(
            !Arc::ptr_eq(&rekeyed, &endpoint(&c)),
            "TLS → plain: new pools"
        );
    }
}
