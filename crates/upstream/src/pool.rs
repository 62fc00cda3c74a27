//! Connection pools of one endpoint, one per worker thread.
//!
//! HTTP/1.1: idle connections wait in a lock-free bounded queue; a request takes one (or dials a
//! new one) and its response body gives it back when read to the end (see [`crate::h1`]).
//! HTTP/2: one shared connection per worker, multiplexing every request, replaced when it
//! closes.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::body::RequestBody;
use rampart_model::{ClusterSpec, PoolSettings};

use crate::connect::connect;
use crate::error::Error;
use crate::h1::{H1Conn, IdleQueue};
use crate::load::ConnSlot;

/// Idle HTTP/1.1 connections kept per endpoint and worker; more are closed when released.
const MAX_IDLE_PER_WORKER: usize = 256;

/// A sender on a shared HTTP/2 connection.
pub type H2Sender = http2::SendRequest<RequestBody>;

/// The pools of one endpoint on one worker.
#[derive(Debug)]
pub struct WorkerPool {
    idle: IdleQueue,
    h2: ArcSwapOption<H2Sender>,
    h2_dial: tokio::sync::Mutex<()>,
}

impl Default for WorkerPool {
    fn default() -> Self {
        Self {
            idle: Arc::new(ArrayQueue::new(MAX_IDLE_PER_WORKER)),
            h2: ArcSwapOption::empty(),
            h2_dial: tokio::sync::Mutex::new(()),
        }
    }
}

impl WorkerPool {
    /// An idle HTTP/1.1 connection that is still usable, if any (stale ones are closed).
    pub fn take_idle(&self, limits: &PoolSettings) -> Option<H1Conn> {
        let mut now = None;
        while let Some(mut conn) = self.idle.pop() {
            let now = *now.get_or_insert_with(Instant::now);
            if conn
                .life
                .usable(now, limits.idle_timeout, limits.max_connection_duration)
                && conn.is_reusable()
            {
                return Some(conn);
            }
        }
        None
    }

    /// Where released HTTP/1.1 connections go.
    pub fn idle(&self) -> &IdleQueue {
        &self.idle
    }

    /// The worker's HTTP/2 connection to this endpoint, dialled when absent or closed.
    pub async fn h2(
        &self,
        endpoint: &Arc<crate::Endpoint>,
        spec: &ClusterSpec,
    ) -> Result<H2Sender, Error> {
        let addr = endpoint.address;
        if let Some(sender) = self.h2.load().as_deref() {
            if !sender.is_closed() {
                return Ok(sender.clone());
            }
        }
        // One dial at a time; others wait and reuse its connection.
        let _dialing = self.h2_dial.lock().await;
        if let Some(sender) = self.h2.load().as_deref() {
            if !sender.is_closed() {
                return Ok(sender.clone());
            }
        }
        let stream = connect(addr, spec).await?;
        // HTTP/2 multiplexes: the one connection per worker is always allowed (Envoy lets a
        // pool with no connection open one), and counted.
        endpoint.load.force_open();
        let slot = ConnSlot::new(endpoint);
        let mut builder = http2::Builder::new(TokioExecutor::new());
        if let Some((interval, timeout)) = spec.pool.http2_keepalive {
            builder
                .timer(TokioTimer::new())
                .keep_alive_interval(interval)
                .keep_alive_timeout(timeout)
                .keep_alive_while_idle(true);
        }
        let (sender, conn) = builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Error::from_send)?;
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(err) = conn.await {
                tracing::debug!(%addr, error = %err, "upstream h2 connection closed with error");
            }
        });
        self.h2.store(Some(Arc::new(sender.clone())));
        Ok(sender)
    }
}
