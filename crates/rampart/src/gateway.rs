//! A running gateway: workers serving the active snapshot, the admin server, and the reload
//! loop that is the only writer of configuration state.
//!
//! Reloads come from file changes, SIGHUP (wired by `run`) or [`Gateway::reload`]. A reload that
//! fails to load, validate, compile or bind changes nothing: the last good snapshot keeps serving
//! and the failure is logged, counted and shown in `/config_dump`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use rampart_admin::{AdminState, LogControl, ReloadStatus};
use rampart_compile::ProxyIdentity;
use rampart_jwt::{JwksRegistry, RegistrySettings};
use rampart_model::Snapshot;
use rampart_proxy::active::{Active, Options};
use rampart_proxy::normalize::PathNormalization;
use rampart_proxy::{Shared, Workers};
use rampart_telemetry::{AccessLog, AccessLogFormat, StatsRegistry};
use rampart_upstream::Registry;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::load::load;

/// How a gateway is started.
pub struct GatewayOptions {
    /// Config files or directories.
    pub config: Vec<PathBuf>,
    /// Admin address; `None` = no admin server.
    pub admin: Option<SocketAddr>,
    /// Data-plane worker threads.
    pub workers: usize,
    /// Labels, namespace, bind address.
    pub identity: ProxyIdentity,
    /// Reload when config files change.
    pub watch: bool,
    /// Initial log filter (shown by `/logging`).
    pub log_filter: String,
    /// Changes the log filter.
    pub log_control: Option<LogControl>,
    /// Trusted proxy hops for `x-forwarded-*`.
    pub trusted_hops: u32,
    /// Access log: file (standard output when `None`) and format; off when `None`.
    pub access_log: Option<(Option<PathBuf>, AccessLogFormat)>,
    /// Redis for global rate limits (`--rate-limit-redis`); without it a configuration with
    /// global limits is refused.
    pub rate_limit_global: Option<rampart_ratelimit::GlobalSettings>,
    /// Path normalisation before routing and authorization (`--path-normalization`).
    pub path_normalization: PathNormalization,
    /// HTTP/1 request-head timeout (`--request-headers-timeout`); `None`: unbounded.
    pub request_headers_timeout: Option<Duration>,
    /// HTTP/1 idle timeout between requests (`--idle-timeout`); `None`: unbounded.
    pub idle_timeout: Option<Duration>,
    /// HTTP/1 timeout for a request that moves no bytes (`--stream-idle-timeout`).
    pub stream_idle_timeout: Option<Duration>,
    /// Istio MeshConfig file (`--mesh-config`): external authorizers for CUSTOM policies.
    pub mesh_config: Option<PathBuf>,
    /// Most downstream connections at once (`--max-connections`); `None`: no limit.
    pub max_connections: Option<usize>,
    /// Largest request body forwarded (`--max-request-body`); `None`: no limit.
    pub max_request_body: Option<u64>,
    /// Tracing (`--tracing-*`); `None`: off, trace headers pass through untouched.
    pub tracing: Option<rampart_trace::Settings>,
}

/// Downstream connections a gateway accepts at once unless told otherwise (the hostile plan's
/// edge default; Envoy's overload manager plays this role).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl GatewayOptions {
    /// Defaults for serving `config`: no admin, one worker, no file watch.
    pub fn new(config: Vec<PathBuf>) -> Self {
        Self {
            config,
            admin: None,
            workers: 1,
            identity: ProxyIdentity::default(),
            watch: false,
            log_filter: "info".into(),
            log_control: None,
            trusted_hops: 0,
            access_log: None,
            rate_limit_global: None,
            path_normalization: PathNormalization::default(),
            request_headers_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(60)),
            stream_idle_timeout: Some(Duration::from_secs(300)),
            mesh_config: None,
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            max_request_body: None,
            tracing: None,
        }
    }
}

/// Why the reload loop runs once more.
#[derive(Debug)]
pub enum ReloadRequest {
    /// A watched file changed.
    FileChanged,
    /// Someone asked and waits for the outcome.
    Explicit(oneshot::Sender<Result<u64, Vec<String>>>),
    /// Drain and stop.
    Shutdown(Duration, oneshot::Sender<()>),
}

/// A running gateway.
pub struct Gateway {
    /// Where the admin server listens.
    pub admin_addr: Option<SocketAddr>,
    /// Admin-visible state (for tests and embedding).
    pub state: Arc<AdminState>,
    requests: mpsc::Sender<ReloadRequest>,
    attempts: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Loads the configuration, binds every listener and the admin port, and starts serving.
    /// Returns once listeners accept connections. Must run inside a Tokio runtime, which then
    /// hosts the admin server, reloads and DNS resolution.
    pub async fn start(opts: GatewayOptions) -> anyhow::Result<Gateway> {
        let first =
            load(&opts.config, opts.mesh_config.as_deref(), &opts.identity).map_err(|diags| {
                let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("invalid configuration:\n{}", text.join("\n"))
            })?;
        for w in &first.warnings {
            tracing::warn!("{w}");
        }
        let mut snapshot = first.snapshot;
        crate::rate_limit::require_redis(&snapshot, opts.rate_limit_global.is_some())
            .map_err(|e| anyhow::anyhow!("invalid configuration:\n{}", e.join("\n")))?;
        snapshot.version = 1;
        let snapshot = Arc::new(snapshot);
        let registry = Registry::new(opts.workers, tokio::runtime::Handle::current());
        let stats = Arc::new(StatsRegistry::default());
        let jwks = JwksRegistry::new(RegistrySettings::default());
        let active = Active::new(snapshot.clone(), &registry, &stats, &jwks)
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let shared = Arc::new(Shared::new(
            active,
            registry,
            jwks,
            Options {
                trusted_hops: opts.trusted_hops,
                path_normalization: opts.path_normalization,
                request_headers_timeout: opts.request_headers_timeout,
                idle_timeout: opts.idle_timeout,
                stream_idle_timeout: opts.stream_idle_timeout,
                max_connections: opts.max_connections,
                max_request_body: opts.max_request_body,
                rate_limit_global: opts.rate_limit_global.clone(),
                // Without --access-log, a Telemetry resource may still turn logging on: then
                // lines go to standard output in Envoy's text format (Istio's `envoy` provider).
                access_log: {
                    let (path, format) = opts
                        .access_log
                        .clone()
                        .unwrap_or((None, AccessLogFormat::Text));
                    Some(Arc::new(
                        AccessLog::open(path, format).context("opening the access log")?,
                    ))
                },
                access_log_on: opts.access_log.is_some(),
                tracer: opts
                    .tracing
                    .clone()
                    .map(|settings| crate::tracer::start(settings, &opts.identity)),
            },
        ));
        let mut workers = Workers::start(opts.workers).context("starting workers")?;
        workers
            .bind(&shared, &addresses(&snapshot))
            .context("binding listeners")?;
        let state = Arc::new(AdminState {
            shared: shared.clone(),
            status: ArcSwap::from_pointee(ReloadStatus {
                version: 1,
                sources: opts
                    .config
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                messages: first.warnings.iter().map(ToString::to_string).collect(),
                last_failed: false,
            }),
            reloads: AtomicU64::new(1),
            reload_failures: AtomicU64::new(0),
            listening: AtomicBool::new(true),
            log_filter: ArcSwap::from_pointee(opts.log_filter.clone()),
            log_control: opts.log_control,
            stats,
            workload: "rampart-ingressgateway".into(),
            workload_namespace: opts.identity.namespace.clone(),
        });
        let admin_addr = match opts.admin {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding admin {addr}"))?;
                let bound = listener.local_addr()?;
                tokio::spawn(rampart_admin::serve(listener, state.clone()));
                tracing::info!(%bound, "admin listening");
                Some(bound)
            }
            None => None,
        };
        let (requests, rx) = mpsc::channel(8);
        let watcher = if opts.watch {
            let mut watched = opts.config.clone();
            watched.extend(opts.mesh_config.clone());
            let mut watcher =
                crate::watch::watch(&watched, requests.clone()).context("watching config files")?;
            watcher.watch_files(&snapshot.files);
            Some(watcher)
        } else {
            None
        };
        let (attempts_tx, attempts) = watch::channel(0);
        let reloader = Reloader {
            config: opts.config,
            mesh_config: opts.mesh_config,
            identity: opts.identity,
            state: state.clone(),
            attempts: attempts_tx,
            watcher,
        };
        let task = tokio::spawn(reloader.run(rx, workers));
        Ok(Gateway {
            admin_addr,
            state,
            requests,
            attempts,
            task,
        })
    }

    /// Reloads now; `Ok(version)` when the new configuration is served, `Err(diagnostics)` when
    /// it was rejected (the previous one still serves).
    pub async fn reload(&self) -> Result<u64, Vec<String>> {
        let (tx, rx) = oneshot::channel();
        if self
            .requests
            .send(ReloadRequest::Explicit(tx))
            .await
            .is_err()
        {
            return Err(vec!["gateway is shutting down".into()]);
        }
        rx.await
            .unwrap_or_else(|_| Err(vec!["gateway is shutting down".into()]))
    }

    /// A sender for reload requests (SIGHUP handlers).
    pub fn reload_sender(&self) -> mpsc::Sender<ReloadRequest> {
        self.requests.clone()
    }

    /// Waits until more than `seen` reload attempts have finished; returns the new count.
    pub async fn reload_attempts_after(&mut self, seen: u64) -> u64 {
        let _ = self.attempts.wait_for(|&n| n > seen).await;
        *self.attempts.borrow()
    }

    /// Version of the snapshot being served.
    pub fn version(&self) -> u64 {
        self.state.status.load().version
    }

    /// Downstream connections open now.
    pub fn active_connections(&self) -> usize {
        self.state
            .shared
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drains: `/ready` turns 503, listeners stop accepting, in-flight requests finish (up to
    /// `timeout`), then the workers stop.
    pub async fn shutdown(self, timeout: Duration) {
        let (tx, rx) = oneshot::channel();
        if self
            .requests
            .send(ReloadRequest::Shutdown(timeout, tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }
}

fn addresses(snapshot: &Snapshot) -> Vec<SocketAddr> {
    snapshot.listeners.iter().map(|l| l.address).collect()
}

/// The single writer of configuration state.
struct Reloader {
    config: Vec<PathBuf>,
    mesh_config: Option<PathBuf>,
    identity: ProxyIdentity,
    state: Arc<AdminState>,
    attempts: watch::Sender<u64>,
    /// Follows the certificate files of each snapshot served.
    watcher: Option<crate::watch::ConfigWatcher>,
}

impl Reloader {
    async fn run(mut self, mut rx: mpsc::Receiver<ReloadRequest>, mut workers: Workers) {
        while let Some(request) = rx.recv().await {
            let mut replies = Vec::new();
            let mut shutdown = None;
            match request {
                ReloadRequest::Shutdown(timeout, done) => shutdown = Some((timeout, done)),
                ReloadRequest::Explicit(reply) => replies.push(reply),
                ReloadRequest::FileChanged => {
                    // Editors write in several steps: let the burst settle, then reload once.
                    // Whatever else arrived meanwhile is served by the same reload.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while let Ok(next) = rx.try_recv() {
                        match next {
                            ReloadRequest::FileChanged => {}
                            ReloadRequest::Explicit(reply) => replies.push(reply),
                            ReloadRequest::Shutdown(timeout, done) => {
                                shutdown = Some((timeout, done));
                                break;
                            }
                        }
                    }
                }
            }
            if let Some((timeout, done)) = shutdown {
                self.state.shared.start_drain();
                tracing::info!(?timeout, "draining");
                workers.drain(timeout).await;
                let _ = done.send(());
                return;
            }
            let outcome = self.reload_once(&mut workers);
            self.attempts.send_modify(|n| *n += 1);
            for reply in replies {
                let _ = reply.send(outcome.clone());
            }
        }
    }

    fn reload_once(&mut self, workers: &mut Workers) -> Result<u64, Vec<String>> {
        let state = self.state.clone();
        let previous = state.status.load_full();
        let result = load(&self.config, self.mesh_config.as_deref(), &self.identity)
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())
            .and_then(|loaded| {
                let mut snapshot = loaded.snapshot;
                crate::rate_limit::require_redis(&snapshot, state.shared.rate_limits.has_global())?;
                snapshot.version = previous.version + 1;
                let snapshot = Arc::new(snapshot);
                let active = state
                    .shared
                    .resolve(snapshot.clone(), &state.stats)
                    .map_err(|e| vec![e])?;
                workers
                    .bind(&state.shared, &addresses(&snapshot))
                    .map_err(|e| vec![format!("listeners: {e}")])?;
                state.shared.swap(active);
                Ok((snapshot.version, loaded.warnings, snapshot.files.clone()))
            });
        match result {
            Ok((version, warnings, files)) => {
                if let Some(watcher) = &mut self.watcher {
                    watcher.watch_files(&files);
                }
                state.reloads.fetch_add(1, Ordering::Relaxed);
                state.status.store(Arc::new(ReloadStatus {
                    version,
                    sources: previous.sources.clone(),
                    messages: warnings.iter().map(ToString::to_string).collect(),
                    last_failed: false,
                }));
                tracing::info!(version, "configuration reloaded");
                Ok(version)
            }
            Err(messages) => {
                state.reload_failures.fetch_add(1, Ordering::Relaxed);
                for m in &messages {
                    tracing::error!("reload rejected: {m}");
                }
                state.status.store(Arc::new(ReloadStatus {
                    version: previous.version,
                    sources: previous.sources.clone(),
                    messages: messages.clone(),
                    last_failed: true,
                }));
                Err(messages)
            }
        }
    }
}
