//! Connection pools of one endpoint, one per worker thread.
//!
//! HTTP/1.1: idle connections wait in a lock-free bounded queue; a request takes one (or dials a
//! new one) and its response body gives it back when read to the end (see [`crate::h1`]).
//! HTTP/2: one shared connection per worker, multiplexing every request, replaced when it
//! closes.

use std::sync::Arc;
use std::time::Instant;

use std::sync::atomic::{AtomicU32, Ordering};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::body::RequestBody;
use rampart_model::{ClusterSpec, PoolSettings};

use crate::connect::dial;
use crate::error::Error;
use crate::h1::{H1Conn, IdleQueue};
use crate::load::ConnSlot;

/// Idle HTTP/1.1 connections kept per endpoint and worker; more are closed when released.
const MAX_IDLE_PER_WORKER: usize = 256;

/// A sender on a shared HTTP/2 connection.
pub type H2Sender = http2::SendRequest<RequestBody>;

/// A worker's HTTP/2 connection to an endpoint, with its streams in flight.
#[derive(Debug)]
struct H2Conn {
    sender: H2Sender,
    streams: Arc<AtomicU32>,
}

impl H2Conn {
    /// Whether it can take another stream under `max` (0 = the server's own limit only).
    fn has_room(&self, max: u32) -> bool {
        !self.sender.is_closed() && (max == 0 || self.streams.load(Ordering::Relaxed) < max)
    }

    fn lease(&self) -> (H2Sender, StreamLease) {
        self.streams.fetch_add(1, Ordering::Relaxed);
        (self.sender.clone(), StreamLease(self.streams.clone()))
    }
}

/// A stream counted on its HTTP/2 connection until the response body is dropped.
#[derive(Debug)]
pub struct StreamLease(Arc<AtomicU32>);

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The pools of one endpoint on one worker.
#[derive(Debug)]
pub struct WorkerPool {
    idle: IdleQueue,
    /// HTTP/2 connections: one, or more when `maxConcurrentStreams` fills them.
    h2: ArcSwap<Vec<Arc<H2Conn>>>,
    h2_dial: tokio::sync::Mutex<()>,
}

impl Default for WorkerPool {
    fn default() -> Self {
        Self {
            idle: Arc::new(ArrayQueue::new(MAX_IDLE_PER_WORKER)),
            h2: ArcSwap::default(),
            h2_dial: tokio::sync::Mutex::new(()),
        }
    }
}

impl WorkerPool {
    /// An idle HTTP/1.1 connection that is still usable, if any (stale ones are closed).
    pub fn take_idle(&self, limits: &PoolSettings) -> Option<Box<H1Conn>> {
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

    /// Closes idle HTTP/1.1 connections that are no longer fresh; keeps the others.
    pub fn reap_idle(&self, limits: &PoolSettings) {
        let now = Instant::now();
        let mut keep = Vec::new();
        while let Some(mut conn) = self.idle.pop() {
            if conn
                .life
                .usable(now, limits.idle_timeout, limits.max_connection_duration)
                && conn.is_reusable()
            {
                keep.push(conn);
            }
        }
        for conn in keep {
            let _ = self.idle.push(conn);
        }
    }

    /// Where released HTTP/1.1 connections go.
    pub fn idle(&self) -> &IdleQueue {
        &self.idle
    }

    /// A stream on one of the worker's HTTP/2 connections to this endpoint: the first with
    /// room under `maxConcurrentStreams`, or a new connection when none has room (or none is
    /// open).
    pub async fn h2(
        &self,
        endpoint: &Arc<crate::Endpoint>,
        spec: &ClusterSpec,
    ) -> Result<(H2Sender, StreamLease), Error> {
        let max = spec.pool.max_concurrent_streams;
        if let Some(conn) = self.h2.load().iter().find(|c| c.has_room(max)) {
            return Ok(conn.lease());
        }
        // One dial at a time; others wait and use its connection.
        let _dialing = self.h2_dial.lock().await;
        if let Some(conn) = self.h2.load().iter().find(|c| c.has_room(max)) {
            return Ok(conn.lease());
        }
        let addr = endpoint.address;
        let stream = dial(addr, spec).await?;
        // HTTP/2 connections are always allowed (Envoy lets a pool with no connection open
        // one), and counted against the cluster.
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
        let conn = Arc::new(H2Conn {
            sender,
            streams: Arc::default(),
        });
        let mut conns: Vec<Arc<H2Conn>> = self
            .h2
            .load()
            .iter()
            .filter(|c| !c.sender.is_closed())
            .cloned()
            .collect();
        conns.push(conn.clone());
        self.h2.store(Arc::new(conns));
        Ok(conn.lease())
    }
}
