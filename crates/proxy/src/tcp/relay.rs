//! Relaying bytes between a client and an upstream: both directions at once, each side's
//! end-of-stream passed on as a half-close (a shutdown of the other side's write, as Envoy's
//! `tcp_proxy` does), until both directions are done, nothing moved for the idle timeout, or the
//! connection's token is cancelled (drain). Every byte read is counted as it moves.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rampart_telemetry::stats::TcpStats;
use tokio::io::{copy_bidirectional_with_sizes, AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes read at once in each direction (one TLS record's worth; tokio's default is 8 KiB).
const BUFFER: usize = 16 * 1024;

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Both sides closed their writes.
    Closed,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// The proxy is draining (or the connection was told to close).
    Cancelled,
    /// A read or write failed (a reset, usually).
    Failed,
}

/// Sends `replay` to `upstream`, then relays until one of the [`Ended`] conditions. Bytes from
/// the client count as received, bytes to it as sent. `idle`: `None` never times out.
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    replay: &[u8],
    idle: Option<Duration>,
    token: &CancellationToken,
    stats: &TcpStats,
) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let meter = Meter::new();
    let mut upstream = Metered::new(upstream, &meter, &stats.sent_bytes);
    if !replay.is_empty() {
        if upstream.inner.write_all(replay).await.is_err() {
            return Ended::Failed;
        }
        stats
            .received_bytes
            .fetch_add(replay.len() as u64, Ordering::Relaxed);
    }
    let mut client = Metered::new(client, &meter, &stats.received_bytes);
    tokio::select! {
        copied = copy_bidirectional_with_sizes(&mut client, &mut upstream, BUFFER, BUFFER) => match copied {
            Ok(_) => Ended::Closed,
            Err(err) => {
                tracing::debug!(error = %err, "tcp relay failed");
                Ended::Failed
            }
        },
        () = meter.idle(idle) => Ended::Idle,
        () = token.cancelled() => Ended::Cancelled,
    }
}

/// Activity of one relayed connection, for its idle timeout.
struct Meter {
    start: Instant,
    /// Reads and writes that moved bytes so far.
    moves: AtomicU64,
    /// Milliseconds since `start` at the last move.
    last_ms: AtomicU64,
}

impl Meter {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            moves: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Bytes moved now.
    fn moved(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
        self.moves.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `timeout` (never when `None`).
    async fn idle(&self, timeout: Option<Duration>) {
        let Some(timeout) = timeout else {
            return std::future::pending().await;
        };
        loop {
            let moves = self.moves.load(Ordering::Relaxed);
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            tokio::time::sleep_until(self.start + last + timeout).await;
            if self.moves.load(Ordering::Relaxed) == moves {
                return;
            }
        }
    }
}

/// A stream whose reads are counted into `counter` and whose reads and writes mark activity.
struct Metered<'m, S> {
    inner: S,
    meter: &'m Meter,
    counter: &'m AtomicU64,
}

impl<'m, S> Metered<'m, S> {
    fn new(inner: S, meter: &'m Meter, counter: &'m AtomicU64) -> Self {
        Self {
            inner,
            meter,
            counter,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if n > 0 {
            self.counter.fetch_add(n as u64, Ordering::Relaxed);
            self.meter.moved();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if n > 0 {
            self.meter.moved();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
