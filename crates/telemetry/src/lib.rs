//! Telemetry: Envoy response flags and request metrics under Istio's standard names.
//!
//! The request path records into pre-resolved [`stats::RequestStats`] handles (atomics only); the
//! admin endpoint renders everything as Prometheus text. Counters are kept in a [`StatsRegistry`]
//! keyed by their labels, so they survive configuration reloads.

pub mod access_log;
pub mod flags;
pub mod render;
pub mod stats;

pub use access_log::{AccessLog, Entry as AccessLogEntry, Format as AccessLogFormat};
pub use flags::{ResponseFlag, ResponseFlags};
pub use stats::{RequestStats, StatKey, StatsRegistry};
