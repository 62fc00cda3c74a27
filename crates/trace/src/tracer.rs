//! The tracer: settings, the bounded queue finished spans wait in, and the counters
//! `/stats/prometheus` shows. The request path only pushes onto the queue (lock-free; a full
//! queue drops the span and counts it) and never waits; the [`Exporter`] drains it.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use http::HeaderMap;

use crate::endpoint::Endpoint;
use crate::export::Exporter;
use crate::request::RequestTrace;
use crate::span::{Attribute, Span, Text, Value};

/// `service.name` unless told otherwise (Istio reports `istio-ingressgateway.istio-system`).
pub const DEFAULT_SERVICE_NAME: &str = "rampart-ingressgateway";
/// Spans waiting for export (OpenTelemetry's `maxQueueSize` default).
pub const DEFAULT_QUEUE: usize = 2048;
/// Spans per export (OpenTelemetry's `maxExportBatchSize` default).
pub const DEFAULT_BATCH: usize = 512;
/// Longest a span waits for a batch to fill.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// How tracing is set up (`rampart run --tracing-*`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The collector.
    pub endpoint: Endpoint,
    /// Percentage of new traces sampled unless the snapshot says otherwise (Istio's
    /// `randomSamplingPercentage`, default 1).
    pub sampling: f64,
    /// Resource attribute `service.name`.
    pub service_name: String,
    /// Attributes every span carries (`node_id`, `istio.canonical_service`…).
    pub span_attributes: Vec<(&'static str, String)>,
    /// Bound on spans waiting for export.
    pub queue: usize,
    /// Spans per export.
    pub batch: usize,
    /// Longest a span waits for its batch to fill.
    pub interval: Duration,
}

impl Settings {
    /// Defaults for exporting to `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            sampling: crate::sampler::DEFAULT_PERCENT,
            service_name: DEFAULT_SERVICE_NAME.to_string(),
            span_attributes: Vec::new(),
            queue: DEFAULT_QUEUE,
            batch: DEFAULT_BATCH,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Export counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Spans dropped because their batch could not be exported.
    pub dropped_export: AtomicU64,
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Export attempts that failed (each retry counts).
    pub export_failures: AtomicU64,
}

/// The process's tracer, shared by every worker.
pub struct Tracer {
    queue: ArrayQueue<Box<Span>>,
    /// A wake-up is pending: the request path notifies once per batch, not once per span.
    woken: AtomicBool,
    wake: tokio::sync::Notify,
    sampling: f64,
    batch: usize,
    interval: Duration,
    endpoint: Endpoint,
    pub(crate) resource: Vec<Attribute>,
    pub(crate) common: Vec<Attribute>,
    /// Export counters.
    pub stats: Stats,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("endpoint", &self.endpoint.to_string())
            .field("sampling", &self.sampling)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A tracer and the exporter that drains it (spawn [`Exporter::run`] on a runtime).
    pub fn new(settings: Settings) -> (Arc<Tracer>, Exporter) {
        let queue = settings.queue.max(1);
        let text = |s: String| Value::Text(Text::Owned(s));
        let mut common = vec![Attribute {
            key: "component",
            value: "proxy".into(),
        }];
        common.extend(
            settings
                .span_attributes
                .into_iter()
                .map(|(key, v)| Attribute {
                    key,
                    value: text(v),
                }),
        );
        let tracer = Arc::new(Tracer {
            queue: ArrayQueue::new(queue),
            woken: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            sampling: settings.sampling,
            batch: settings.batch.clamp(1, queue),
            interval: settings.interval,
            endpoint: settings.endpoint.clone(),
            resource: vec![Attribute {
                key: "service.name",
                value: text(settings.service_name),
            }],
            common,
            stats: Stats::default(),
        });
        let exporter = Exporter::new(tracer.clone(), settings.endpoint);
        (tracer, exporter)
    }

    /// The sampling percentage used when the snapshot sets none.
    pub fn sampling(&self) -> f64 {
        self.sampling
    }

    /// Starts tracing a request: continues the caller's context (or starts a trace) and
    /// decides sampling, at `sampling` % when the snapshot sets it, else the tracer's default.
    pub fn start_request(
        self: &Arc<Self>,
        headers: &HeaderMap,
        sampling: Option<f64>,
    ) -> RequestTrace<'_> {
        RequestTrace::new(self, headers, sampling.unwrap_or(self.sampling))
    }

    /// Queues a finished span; never blocks (a full queue drops it, counted).
    pub fn record(&self, span: Box<Span>) {
        if self.queue.push(span).is_err() {
            self.stats
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.queue.len() >= self.batch && !self.woken.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// Waits until a batch is full or the interval passed, then moves up to a batch of spans
    /// into `batch`.
    pub(crate) async fn next_batch(&self, batch: &mut Vec<Span>) {
        if self.queue.len() < self.batch {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
        self.woken.store(false, Ordering::Release);
        while batch.len() < self.batch {
            match self.queue.pop() {
                Some(span) => batch.push(*span),
                None => break,
            }
        }
    }

    /// Everything queued (tests look at what the request path recorded).
    #[cfg(test)]
    pub(crate) fn drain(&self) -> Vec<Span> {
        std::iter::from_fn(|| self.queue.pop().map(|s| *s)).collect()
    }

    /// Writes the tracing counters in Prometheus text format.
    pub fn render_prometheus(&self, out: &mut String) {
        let s = &self.stats;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP rampart_tracing_spans_dropped_total Spans not exported: the queue was full, or the collector refused or stayed unreachable.");
        let _ = writeln!(out, "# TYPE rampart_tracing_spans_dropped_total counter");
        let _ = writeln!(
            out,
            "rampart_tracing_spans_dropped_total{{reason=\"queue_full\"}} {}",
            n(&s.dropped_queue_full)
        );
        let _ = writeln!(
            out,
            "rampart_tracing_spans_dropped_total{{reason=\"export_failed\"}} {}",
            n(&s.dropped_export)
        );
        let _ = writeln!(
            out,
            "# HELP rampart_tracing_spans_exported_total Spans the collector accepted."
        );
        let _ = writeln!(out, "# TYPE rampart_tracing_spans_exported_total counter");
        let _ = writeln!(
            out,
            "rampart_tracing_spans_exported_total {}",
            n(&s.exported)
        );
        let _ = writeln!(out, "# HELP rampart_tracing_export_failures_total Export attempts that failed (each retry counts).");
        let _ = writeln!(out, "# TYPE rampart_tracing_export_failures_total counter");
        let _ = writeln!(
            out,
            "rampart_tracing_export_failures_total {}",
            n(&s.export_failures)
        );
        let _ = writeln!(
            out,
            "# HELP rampart_tracing_spans_queued Spans waiting for export."
        );
        let _ = writeln!(out, "# TYPE rampart_tracing_spans_queued gauge");
        let _ = writeln!(out, "rampart_tracing_spans_queued {}", self.queue.len());
    }
}
