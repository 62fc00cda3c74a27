//! The request-head timeout for HTTP/1 connections (Envoy's `request_headers_timeout`), against
//! slowloris clients that trickle a head forever.
//!
//! A timer per request would cost every request; instead each connection keeps two atomics and
//! its accept loop sweeps them once a second:
//! - the head clock starts at accept, and again at the first byte read while no request is in
//!   flight (the next head begins);
//! - a request being handled stops it;
//! - the sweep closes connections whose head clock is older than the timeout.
//!
//! So a new connection must send a whole head within the timeout, and so must every keep-alive
//! request once its first byte arrives. HTTP/2 connections are not swept (their streams have
//! their own limits).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// Seconds since [`EPOCH`] plus one (0 means "not started" for head clocks), kept current by
/// every accept loop's sweep so that reads only load it.
static COARSE_SECS: AtomicU64 = AtomicU64::new(1);

/// When the coarse clock started.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Per-connection state shared by the connection, its reads and the sweep.
#[derive(Debug)]
pub struct HeadClock {
    /// Requests being handled on this connection.
    in_flight: AtomicU32,
    /// Coarse second the current head began; 0 when no head is being read.
    started: AtomicU64,
    /// HTTP/2: never swept.
    exempt: AtomicBool,
    /// Set by the sweep before it cancels the token.
    expired: AtomicBool,
    /// The current head's first bytes have been read (and scanned).
    head_open: AtomicBool,
    /// The head just read carries both `Content-Length` and `Transfer-Encoding`.
    ambiguous: AtomicBool,
    /// The connection's own drain token: cancelled by a drain, or by the sweep (which sets
    /// `expired` first, so the connection closes at once instead of gracefully).
    token: CancellationToken,
}

impl HeadClock {
    /// A clock for a connection just accepted, which `token` shuts down: its first head is due
    /// within the timeout.
    pub fn start(token: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicU32::new(0),
            started: AtomicU64::new(COARSE_SECS.load(Ordering::Relaxed)),
            exempt: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            head_open: AtomicBool::new(false),
            ambiguous: AtomicBool::new(false),
            token,
        })
    }

    /// The token that shuts the connection down (drain, or the head timeout).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// A request head was parsed: the clock stops until the next head begins. Returns whether
    /// that head framed its body ambiguously (both `Content-Length` and `Transfer-Encoding`,
    /// which hyper resolves silently in favour of the latter): such a request must be refused.
    pub fn request_started(&self) -> bool {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started.store(0, Ordering::Relaxed);
        self.head_open.store(false, Ordering::Relaxed);
        self.ambiguous.swap(false, Ordering::Relaxed)
    }

    /// The request's response is on its way.
    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether the head timeout (not a drain) cancelled the connection's token.
    pub fn is_expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    /// Excludes the connection from the sweep (HTTP/2).
    pub fn exempt(&self) {
        self.exempt.store(true, Ordering::Relaxed);
    }

    /// Bytes arrived: when no request is in flight they begin a head, which starts the clock
    /// and is scanned for ambiguous framing.
    #[inline]
    fn bytes_read(&self, bytes: &[u8]) {
        if self.in_flight.load(Ordering::Relaxed) != 0
            || self.head_open.load(Ordering::Relaxed)
            || self.exempt.load(Ordering::Relaxed)
        {
            return;
        }
        self.head_open.store(true, Ordering::Relaxed);
        if self.started.load(Ordering::Relaxed) == 0 {
            self.started
                .store(COARSE_SECS.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        if crate::framing::ambiguous(bytes) {
            self.ambiguous.store(true, Ordering::Relaxed);
        }
    }

    fn overdue(&self, now: u64, timeout: u64) -> bool {
        let started = self.started.load(Ordering::Relaxed);
        !self.exempt.load(Ordering::Relaxed)
            && started != 0
            && self.in_flight.load(Ordering::Relaxed) == 0
            && now.saturating_sub(started) > timeout
    }
}

/// An accept loop's connections, swept once a second.
#[derive(Debug, Default)]
pub struct Sweep {
    clocks: Vec<Weak<HeadClock>>,
}

impl Sweep {
    /// The period between sweeps.
    pub const PERIOD: Duration = Duration::from_secs(1);

    /// Tracks a new connection.
    pub fn track(&mut self, clock: &Arc<HeadClock>) {
        self.clocks.push(Arc::downgrade(clock));
    }

    /// Advances the coarse clock, forgets closed connections and closes overdue ones; returns
    /// how many were closed.
    pub fn tick(&mut self, timeout: Duration) -> usize {
        let epoch = *EPOCH.get_or_init(Instant::now);
        let now = epoch.elapsed().as_secs() + 1;
        COARSE_SECS.fetch_max(now, Ordering::Relaxed);
        let timeout = timeout.as_secs().max(1);
        let mut closed = 0;
        self.clocks.retain(|weak| {
            let Some(clock) = weak.upgrade() else {
                return false;
            };
            if clock.overdue(now, timeout) {
                clock.expired.store(true, Ordering::Relaxed);
                clock.token.cancel();
                closed += 1;
                return false;
            }
            true
        });
        closed
    }
}

/// A stream whose reads feed a [`HeadClock`].
#[derive(Debug)]
pub struct Clocked<S> {
    inner: S,
    clock: Arc<HeadClock>,
}

impl<S> Clocked<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, clock: Arc<HeadClock>) -> Self {
        Self { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Clocked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.bytes_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Clocked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
