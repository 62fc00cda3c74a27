//! Remote JWKS caches that outlive config snapshots: one per `jwksUri`, shared by every
//! snapshot that names it, each refreshed by its own background task.
//!
//! Lifecycle: an [`crate::Authenticator`] holds an `Arc<RemoteJwks>` per remote rule; the
//! registry holds only `Weak` references. When the last snapshot naming a URI is dropped, the
//! `RemoteJwks` drops, which drops the task's stop channel, and the task ends at once (even in
//! the middle of a fetch). A reload that keeps the URI keeps the cache and its keys: the new
//! snapshot is built while the old one still holds the handle.
//!
//! Per-request reads are lock-free: keys sit in an `ArcSwapOption`, counters are atomics. The
//! registry's map is locked only when a snapshot is built and when stats are read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use crate::fetch::{self, Cidr, Limits, Target};
use crate::jwks::KeySet;

/// How remote JWKS are fetched and refreshed. `Default` gives production values.
#[derive(Clone, Debug)]
pub struct RegistrySettings {
    /// TLS client settings for `https` URIs (see [`tls_config`]).
    pub tls: Arc<rustls::ClientConfig>,
    /// Refresh period after a successful fetch (Envoy's `cache_duration`; default 5 min).
    pub refresh_interval: Duration,
    /// First retry delay after a failed fetch; doubles up to `retry_max` (default 1 s).
    pub retry_min: Duration,
    /// Longest retry delay (default 60 s).
    pub retry_max: Duration,
    /// At most one extra fetch per URI in this period because of an unknown `kid` (30 s).
    pub kid_refetch_interval: Duration,
    /// Largest JWKS body accepted (default 1 MiB).
    pub max_body: usize,
    /// Addresses a `jwksUri` host may not resolve to (Istio's IST0175 concern). Default:
    /// link-local ranges, where cloud metadata services live.
    pub blocked: Vec<Cidr>,
    /// Runtime the fetch tasks run on; `None`: the runtime current when a snapshot is built.
    pub runtime: Option<tokio::runtime::Handle>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            tls: tls_config(&[]),
            refresh_interval: Duration::from_secs(300),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            kid_refetch_interval: Duration::from_secs(30),
            max_body: 1024 * 1024,
            blocked: ["169.254.0.0/16", "fe80::/10"]
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            runtime: None,
        }
    }
}

/// A rustls client configuration (ring provider) trusting the webpki roots plus `extra_roots`
/// (DER certificates; an unparsable one is skipped).
pub fn tls_config(
    extra_roots: &[rustls::pki_types::CertificateDer<'_>],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra_roots {
        let _ = roots.add(cert.clone().into_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Counters of one remote JWKS, for `/stats/prometheus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksStats {
    /// The `jwksUri`.
    pub uri: Box<str>,
    /// Fetches that gave a usable key set.
    pub fetch_success: u64,
    /// Fetches that failed (network, status, size, timeout, unusable JWKS).
    pub fetch_failure: u64,
    /// Extra fetches triggered by a token with an unknown `kid`.
    pub kid_refetches: u64,
    /// Keys currently held (0 until the first successful fetch).
    pub keys: usize,
}

/// Every remote JWKS cache of the process.
#[derive(Debug)]
pub struct JwksRegistry {
    settings: Arc<RegistrySettings>,
    entries: Mutex<HashMap<Box<str>, Weak<RemoteJwks>>>,
}

impl JwksRegistry {
    /// A registry with these settings; nothing is fetched until a snapshot names a URI.
    pub fn new(settings: RegistrySettings) -> Arc<Self> {
        Arc::new(JwksRegistry {
            settings: Arc::new(settings),
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// Counters of every URI some live snapshot uses, sorted by URI.
    pub fn stats(&self) -> Vec<JwksStats> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, weak| weak.strong_count() > 0);
        let mut stats: Vec<JwksStats> = entries
            .values()
            .filter_map(Weak::upgrade)
            .map(|jwks| jwks.shared.stats())
            .collect();
        stats.sort_by(|a, b| a.uri.cmp(&b.uri));
        stats
    }

    /// The cache for `uri`, created (and its first fetch started) if no live snapshot has it.
    pub(crate) fn handle(
        &self,
        uri: &str,
        timeout: Duration,
    ) -> Result<Arc<RemoteJwks>, &'static str> {
        let target = Target::parse(uri)?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(jwks) = entries.get(uri).and_then(Weak::upgrade) {
            jwks.shared
                .timeout_ms
                .fetch_max(millis(timeout), Ordering::Relaxed);
            return Ok(jwks);
        }
        let runtime = match &self.settings.runtime {
            Some(handle) => handle.clone(),
            None => tokio::runtime::Handle::try_current()
                .map_err(|_| "no tokio runtime to fetch it on")?,
        };
        let (attempts, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            uri: uri.into(),
            keys: ArcSwapOption::empty(),
            attempts,
            refetch: Notify::new(),
            started: AtomicU64::new(0),
            timeout_ms: AtomicU64::new(millis(timeout)),
            epoch: Instant::now(),
            last_kid_refetch_ms: AtomicU64::new(NEVER),
            kid_refetch_target: AtomicU64::new(0),
            fetch_success: AtomicU64::new(0),
            fetch_failure: AtomicU64::new(0),
            kid_refetches: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        runtime.spawn(refresh(
            shared.clone(),
            self.settings.clone(),
            target,
            stopped,
        ));
        let jwks = Arc::new(RemoteJwks {
            shared,
            kid_refetch_ms: millis(self.settings.kid_refetch_interval),
            _stop: stop,
        });
        entries.retain(|_, weak| weak.strong_count() > 0);
        entries.insert(uri.into(), Arc::downgrade(&jwks));
        Ok(jwks)
    }
}

const NEVER: u64 = u64::MAX;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A live remote JWKS cache, held by the snapshots that use it.
#[derive(Debug)]
pub(crate) struct RemoteJwks {
    shared: Arc<Shared>,
    kid_refetch_ms: u64,
    /// Dropped with the last snapshot that uses the URI: ends the refresh task.
    _stop: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Shared {
    uri: Box<str>,
    keys: ArcSwapOption<KeySet>,
    /// Completed fetch attempts (success or failure); waiters watch it.
    attempts: watch::Sender<u64>,
    refetch: Notify,
    /// Fetch attempts started; attempt `n` has completed once `attempts` reaches `n`.
    started: AtomicU64,
    timeout_ms: AtomicU64,
    epoch: Instant,
    last_kid_refetch_ms: AtomicU64,
    /// The attempt count at which the latest kid-triggered refetch has completed.
    kid_refetch_target: AtomicU64,
    fetch_success: AtomicU64,
    fetch_failure: AtomicU64,
    kid_refetches: AtomicU64,
}

impl Shared {
    fn stats(&self) -> JwksStats {
        JwksStats {
            uri: self.uri.clone(),
            fetch_success: self.fetch_success.load(Ordering::Relaxed),
            fetch_failure: self.fetch_failure.load(Ordering::Relaxed),
            kid_refetches: self.kid_refetches.load(Ordering::Relaxed),
            keys: self.keys.load().as_ref().map_or(0, |k| k.len()),
        }
    }

    /// Waits (at most `timeout`) until `attempts` reaches `target`.
    async fn wait_attempts(&self, target: u64, timeout: Duration) {
        let mut rx = self.attempts.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n >= target)).await;
    }
}

impl RemoteJwks {
    /// The current keys; `None` until a fetch has succeeded.
    pub(crate) fn keys(&self) -> Option<Arc<KeySet>> {
        self.shared.keys.load_full()
    }

    /// The keys, waiting (at most `timeout`) for the first fetch attempt if none has completed.
    /// After a failed first attempt this answers at once; the task retries with backoff.
    pub(crate) async fn keys_or_first_fetch(&self, timeout: Duration) -> Option<Arc<KeySet>> {
        if let Some(keys) = self.keys() {
            return Some(keys);
        }
        if *self.shared.attempts.borrow() == 0 {
            self.shared.wait_attempts(1, timeout).await;
        }
        self.keys()
    }

    /// A token's `kid` (or algorithm) has no key: refetch now unless one was triggered less
    /// than `kid_refetch_interval` ago, and wait (at most `timeout`) for the triggered fetch to
    /// complete. `true` when a fetch completed or was waited for, so the keys may be new.
    pub(crate) async fn refetch_for_unknown_key(&self, timeout: Duration) -> bool {
        let shared = &self.shared;
        let now = millis(shared.epoch.elapsed());
        let last = shared.last_kid_refetch_ms.load(Ordering::Acquire);
        let due = last == NEVER || now.saturating_sub(last) >= self.kid_refetch_ms;
        if due
            && shared
                .last_kid_refetch_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // Wait for an attempt that starts after this point: one already running may have
            // started before the key was published.
            let target = shared.started.load(Ordering::Acquire) + 1;
            shared.kid_refetch_target.store(target, Ordering::Release);
            shared.kid_refetches.fetch_add(1, Ordering::Relaxed);
            shared.refetch.notify_one();
            shared.wait_attempts(target, timeout).await;
            return true;
        }
        // Within the interval: share the result of the refetch in progress, if any.
        let target = shared.kid_refetch_target.load(Ordering::Acquire);
        if *shared.attempts.borrow() < target {
            shared.wait_attempts(target, timeout).await;
            return true;
        }
        false
    }
}

/// The refresh task of one URI: fetch now, then every `refresh_interval`; after a failure keep
/// the last good keys and retry after `retry_min`, doubling up to `retry_max`; fetch early
/// when a token names an unknown key. Ends when `stopped` fires or its sender is dropped.
async fn refresh(
    shared: Arc<Shared>,
    settings: Arc<RegistrySettings>,
    target: Target,
    stopped: oneshot::Receiver<()>,
) {
    let work = async {
        let mut backoff = settings.retry_min;
        loop {
            shared.started.fetch_add(1, Ordering::AcqRel);
            let limits = Limits {
                tls: &settings.tls,
                blocked: &settings.blocked,
                max_body: settings.max_body,
                timeout: Duration::from_millis(shared.timeout_ms.load(Ordering::Relaxed)),
            };
            let result = fetch::fetch(&target, &limits).await;
            let wait = match result {
                Ok(keys) => {
                    tracing::debug!(uri = %shared.uri, keys = keys.len(), "JWKS fetched");
                    shared.keys.store(Some(Arc::new(keys)));
                    shared.fetch_success.fetch_add(1, Ordering::Relaxed);
                    backoff = settings.retry_min;
                    settings.refresh_interval
                }
                Err(error) => {
                    tracing::warn!(uri = %shared.uri, %error, "JWKS fetch failed; keeping the previous keys");
                    shared.fetch_failure.fetch_add(1, Ordering::Relaxed);
                    let wait = backoff;
                    backoff = (backoff * 2).min(settings.retry_max);
                    wait
                }
            };
            shared.attempts.send_modify(|n| *n += 1);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shared.refetch.notified() => {}
            }
        }
    };
    tokio::select! {
        _ = stopped => {}
        () = work => {}
    }
}
