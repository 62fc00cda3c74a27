//! The exporter: a background task that drains the tracer's queue in batches (when a batch
//! is full, or after the interval), encodes each batch once, and sends it. A failed batch is
//! sent again after an exponential back-off (100 ms doubling to 30 s, jittered), up to
//! [`RETRIES`] times when the failure is worth retrying; then it is dropped and counted.
//! Meanwhile the queue keeps its bound: the request path never waits for the collector.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::endpoint::Endpoint;
use crate::otlp;
use crate::tracer::Tracer;
use crate::transport::{Failure, Transport};

/// Times a batch is sent again after a retryable failure.
pub const RETRIES: u32 = 3;
/// First back-off after a failure.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest back-off.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Drains a [`Tracer`] into its collector.
pub struct Exporter {
    tracer: Arc<Tracer>,
    transport: Transport,
    backoff: Backoff,
    /// The last export succeeded (failures are logged once per outage, not once per try).
    healthy: bool,
}

impl Exporter {
    pub(crate) fn new(tracer: Arc<Tracer>, endpoint: Endpoint) -> Self {
        Self {
            tracer,
            transport: Transport::new(endpoint),
            backoff: Backoff::default(),
            healthy: true,
        }
    }

    /// Exports until the runtime stops.
    pub async fn run(mut self) {
        let mut batch = Vec::new();
        loop {
            self.tracer.next_batch(&mut batch).await;
            if batch.is_empty() {
                continue;
            }
            let spans = batch.len() as u64;
            let message = otlp::export_request(&self.tracer.resource, &self.tracer.common, &batch);
            batch.clear();
            self.send(Bytes::from(message), spans).await;
        }
    }

    /// Sends one encoded batch, retrying as described above.
    async fn send(&mut self, message: Bytes, spans: u64) {
        let tracer = self.tracer.clone();
        let stats = &tracer.stats;
        for tries in 0.. {
            let failure = match self.transport.export(&message).await {
                Ok(()) => {
                    stats.exported.fetch_add(spans, Relaxed);
                    self.backoff.reset();
                    if !self.healthy {
                        tracing::info!("trace export recovered");
                        self.healthy = true;
                    }
                    return;
                }
                Err(failure) => failure,
            };
            stats.export_failures.fetch_add(1, Relaxed);
            self.log(&failure);
            let again = matches!(failure, Failure::Retryable(_)) && tries < RETRIES;
            if !again {
                stats.dropped_export.fetch_add(spans, Relaxed);
                return;
            }
            tokio::time::sleep(self.backoff.next()).await;
        }
    }

    fn log(&mut self, failure: &Failure) {
        let (kind, message) = match failure {
            Failure::Retryable(m) => ("retryable", m),
            Failure::Permanent(m) => ("refused", m),
        };
        if self.healthy {
            tracing::warn!(kind, "trace export failed: {message}");
            self.healthy = false;
        } else {
            tracing::debug!(kind, "trace export failed: {message}");
        }
    }
}

/// Exponential back-off with jitter: each wait is between half and all of the current step,
/// which doubles up to [`BACKOFF_MAX`].
#[derive(Debug)]
struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { step: BACKOFF_MIN }
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(BACKOFF_MAX);
        let half = step / 2;
        half + Duration::from_millis(fastrand::u64(..=half.as_millis() as u64))
    }

    fn reset(&mut self) {
        self.step = BACKOFF_MIN;
    }
}

#[cfg(test)]
mod tests;
