//! What the admin server reports besides the snapshot: reload history and log control.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rampart_proxy::Shared;

/// The outcome of the last (re)load attempt.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// Version of the snapshot being served.
    pub version: u64,
    /// Config paths.
    pub sources: Vec<String>,
    /// Diagnostics of the last failed attempt (empty when it succeeded); warnings of the
    /// successful one otherwise.
    pub messages: Vec<String>,
    /// Whether the last attempt was rejected.
    pub last_failed: bool,
}

/// Changes the log filter at run time (`POST /logging?level=debug`).
pub type LogControl = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Everything the admin endpoints read.
pub struct AdminState {
    /// The data plane's shared state.
    pub shared: Arc<Shared>,
    /// Last reload outcome.
    pub status: ArcSwap<ReloadStatus>,
    /// Successful loads (the first one included).
    pub reloads: AtomicU64,
    /// Rejected reloads.
    pub reload_failures: AtomicU64,
    /// True once listeners are bound.
    pub listening: AtomicBool,
    /// Current log filter and how to change it.
    pub log_filter: ArcSwap<String>,
    /// Applies a new log filter.
    pub log_control: Option<LogControl>,
    /// Request stats of this gateway.
    pub stats: Arc<rampart_telemetry::StatsRegistry>,
    /// `source_workload` label of Istio metrics.
    pub workload: String,
    /// `source_workload_namespace` label.
    pub workload_namespace: String,
}

impl AdminState {
    /// Ready = config loaded, listeners bound, not draining.
    pub fn ready(&self) -> bool {
        self.listening.load(Ordering::Acquire) && !self.shared.draining()
    }
}
