//! The configuration being served, with its resolved runtime handles, swapped atomically.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rampart_jwt::{Authenticator, JwksRegistry};
use rampart_model::Snapshot;
use rampart_telemetry::{RequestStats, StatsRegistry};
use rampart_upstream::{Cluster, Registry};

/// One snapshot with everything a request needs already looked up: clusters and stats handles
/// are indexed exactly as the snapshot's `ClusterId`s and stat ids, so a request never looks up
/// a name.
#[derive(Debug)]
pub struct Active {
    /// The compiled configuration.
    pub model: Arc<Snapshot>,
    /// Runtime clusters, indexed by `ClusterId`.
    pub clusters: Box<[Arc<Cluster>]>,
    /// Stats handles, indexed by stat id.
    pub stats: Box<[Arc<RequestStats>]>,
    /// JWT authentication, when a RequestAuthentication applies.
    pub authn: Option<Authenticator>,
}

impl Active {
    /// Resolves a snapshot's clusters, stats and JWT key sets against the long-lived
    /// registries. Fails (and nothing is resolved) when a JWT rule cannot run.
    pub fn new(
        model: Arc<Snapshot>,
        registry: &Registry,
        stats: &StatsRegistry,
        jwks: &Arc<JwksRegistry>,
    ) -> Result<Self, String> {
        let authn = match model.jwt_rules.is_empty() {
            true => None,
            false => Some(Authenticator::new(&model.jwt_rules, jwks).map_err(|e| e.to_string())?),
        };
        let clusters = registry.reconcile(&model.clusters);
        let stats = stats.resolve(&model.stat_keys);
        Ok(Self {
            model,
            clusters,
            stats,
            authn,
        })
    }
}

/// Proxy-wide settings that are not part of Istio's resources.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How many proxies in front of this one are trusted to set `x-forwarded-*`
    /// (Istio's `numTrustedProxies`; 0 = the peer is the client).
    pub trusted_hops: u32,
    /// Where access-log lines go when logging is on.
    pub access_log: Option<Arc<rampart_telemetry::AccessLog>>,
    /// Whether logging is on unless a `Telemetry` resource says otherwise (`--access-log`).
    pub access_log_on: bool,
    /// How request paths are normalised before routing and authorization.
    pub path_normalization: crate::normalize::PathNormalization,
    /// How long an HTTP/1 request head may take to arrive (Envoy's `request_headers_timeout`);
    /// `None`: unbounded.
    pub request_headers_timeout: Option<std::time::Duration>,
    /// How long an HTTP/1 connection may stay idle between requests (Envoy's `idle_timeout`).
    pub idle_timeout: Option<std::time::Duration>,
    /// How long a request in flight may see no bytes move (Envoy's `stream_idle_timeout`).
    pub stream_idle_timeout: Option<std::time::Duration>,
    /// Most downstream connections open at once; more are closed at accept. `None`: no limit.
    pub max_connections: Option<usize>,
    /// Largest request body forwarded (413 beyond it). `None`: no limit.
    pub max_request_body: Option<u64>,
    /// Redis for global rate limits; `None` = only local limits can be served.
    pub rate_limit_global: Option<rampart_ratelimit::GlobalSettings>,
    /// Spans and their export, when tracing is on (`--tracing-otlp-endpoint`); `None`: trace
    /// headers pass through untouched.
    pub tracer: Option<Arc<rampart_trace::Tracer>>,
}

/// State shared by every worker: the active configuration and the drain flag.
#[derive(Debug)]
pub struct Shared {
    active: ArcSwap<Active>,
    draining: AtomicBool,
    /// Proxy settings.
    pub options: Options,
    /// Cluster state that outlives snapshots.
    pub registry: Registry,
    /// Rate-limit buckets and counters, which outlive snapshots too.
    pub rate_limits: rampart_ratelimit::Limiter,
    /// JWKS caches that outlive snapshots.
    pub jwks: Arc<JwksRegistry>,
    /// Downstream connections open now.
    pub connections: std::sync::atomic::AtomicUsize,
    /// Requests refused before routing, by [`crate::headers::Refusal`] (in its order).
    pub rejected: [AtomicU64; crate::headers::Refusal::ALL.len()],
}

impl Shared {
    /// Starts serving `active` (inside a Tokio runtime when `options` has global rate limits:
    /// the Redis connection runs on it).
    pub fn new(
        active: Active,
        registry: Registry,
        jwks: Arc<JwksRegistry>,
        options: Options,
    ) -> Self {
        Self {
            active: ArcSwap::from_pointee(active),
            draining: AtomicBool::new(false),
            rate_limits: rampart_ratelimit::Limiter::new(options.rate_limit_global.clone()),
            options,
            registry,
            jwks,
            connections: Default::default(),
            rejected: Default::default(),
        }
    }

    /// Counts a refused request.
    pub fn count_refusal(&self, refusal: crate::headers::Refusal) {
        self.rejected[refusal as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Builds the runtime for a snapshot against this process's registries.
    pub fn resolve(&self, model: Arc<Snapshot>, stats: &StatsRegistry) -> Result<Active, String> {
        Active::new(model, &self.registry, stats, &self.jwks)
    }

    /// The active configuration (one atomic load and reference-count increment).
    #[inline]
    pub fn active(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// Replaces the active configuration; requests in flight finish on the old one.
    pub fn swap(&self, active: Active) {
        self.active.store(Arc::new(active));
    }

    /// Whether a drain has begun (`/ready` answers 503, listeners stop accepting).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Begins draining.
    pub fn start_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
