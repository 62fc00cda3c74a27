//! Connection timeouts for HTTP/1 (Envoy's `request_headers_timeout`, `idle_timeout` and
//! `stream_idle_timeout`), against slowloris clients, slow uploads and idle sockets.
//!
//! A timer per request would cost every request; instead each connection keeps a few atomics
//! (its [`ConnClock`]) and its accept loop sweeps them once a second:
//! - the head clock starts at accept, and again at the first byte read while no request is in
//!   flight (the next head begins); a request being handled stops it. A head older than the
//!   head timeout closes the connection, so a new connection must send a whole head in time,
//!   and so must every keep-alive request once its first byte arrives;
//! - every read or write that moves bytes marks the connection active. A connection with a
//!   request in flight and no activity for the stream idle timeout is closed (a stalled upload
//!   or download; an HTTP/1 request still waiting for its response is answered 408 first, as
//!   Envoy does); one between requests with no activity for the idle timeout too.
//!
//! A request is in flight from its head until its response body is written. HTTP/2
//! connections have no head timeout (their frames have their own limits) and an idle timeout of
//! at least 300 s. Until its response begins, an HTTP/2 stream has a stream idle timer of its
//! own (see `codec`), which answers it 408 and leaves the connection to its other streams;
//! after that, a connection with streams in flight that moves no bytes for the stream idle
//! timeout (e.g. a reader that never opens its window) is closed.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use rampart_telemetry::ResponseFlag;

use crate::framing::Framing;
use crate::request::Recording;

/// Seconds since [`EPOCH`] plus one (0 means "not started" for head clocks), kept current by
/// every accept loop's sweep so that reads only load it.
static COARSE_SECS: AtomicU64 = AtomicU64::new(1);

/// Shortest idle timeout applied to HTTP/2 connections (the hostile plan's edge default).
const H2_MIN_IDLE_SECS: u64 = 300;

/// When the coarse clock started.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Set before any connection token is cancelled by a drain (the sweep sets the connection's
/// own `expired` first), so that [`ConnClock::closing`] needs no lock while nothing closes.
/// Process-wide: once set, every connection asks its token.
static DRAIN_BEGUN: AtomicBool = AtomicBool::new(false);

/// Notes that a drain is about to cancel connection tokens (see [`ConnClock::closing`]).
pub fn note_drain() {
    DRAIN_BEGUN.store(true, Ordering::SeqCst);
}

/// Per-connection state shared by the connection, its reads and the sweep.
#[derive(Debug)]
pub struct ConnClock {
    /// Requests being handled on this connection.
    in_flight: AtomicU32,
    /// HTTP/2 streams waiting for their response head under a stream idle timer of their own
    /// (see [`ConnClock::awaiting_head`]).
    awaiting: AtomicU32,
    /// Coarse second the current head began; 0 when no head is being read.
    started: AtomicU64,
    /// Coarse second bytes last moved in either direction.
    last_active: AtomicU64,
    /// HTTP/2: no head timeout, a longer idle timeout.
    exempt: AtomicBool,
    /// Layer-4 proxying: out of the sweep for good (its own idle timeout applies).
    detached: AtomicBool,
    /// Set by the sweep before it cancels the token.
    expired: AtomicBool,
    /// The current head's first bytes have been read (and scanned).
    head_open: AtomicBool,
    /// The head just read carries both `Content-Length` and `Transfer-Encoding`.
    ambiguous: AtomicBool,
    /// A head with an unknown transfer coding was answered 501 (see [`Clocked`]).
    unknown_coding: AtomicBool,
    /// A read found the client's end closed (or failed): requests dropped after this were cut
    /// off by the connection's end, not by a reset of their own stream.
    peer_gone: AtomicBool,
    /// The stream idle timeout passed with a request in flight (set before the token is
    /// cancelled): an HTTP/1 request still waiting for its response is answered 408.
    stream_timed_out: AtomicBool,
    /// The connection's own drain token: cancelled by a drain, or by the sweep (which sets
    /// `expired` first, so the connection closes at once instead of gracefully).
    token: CancellationToken,
}

impl ConnClock {
    /// A clock for a connection just accepted, which `token` shuts down: its first head is due
    /// within the timeout.
    pub fn start(token: CancellationToken) -> Arc<Self> {
        let now = COARSE_SECS.load(Ordering::Relaxed);
        Arc::new(Self {
            in_flight: AtomicU32::new(0),
            awaiting: AtomicU32::new(0),
            started: AtomicU64::new(now),
            last_active: AtomicU64::new(now),
            exempt: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            head_open: AtomicBool::new(false),
            ambiguous: AtomicBool::new(false),
            unknown_coding: AtomicBool::new(false),
            peer_gone: AtomicBool::new(false),
            stream_timed_out: AtomicBool::new(false),
            token,
        })
    }

    /// The token that shuts the connection down (drain, or the head timeout).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether the token is cancelled. Asking the token takes its lock, so it is asked only once
    /// a drain or a timeout has begun (both are noted before they cancel).
    #[inline]
    pub fn closing(&self) -> bool {
        (DRAIN_BEGUN.load(Ordering::Acquire) || self.expired.load(Ordering::Acquire))
            && self.token.is_cancelled()
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

    /// An HTTP/2 stream waits for its response head, timed by a stream idle timer of its own
    /// (which answers it 408 and leaves the connection open): until the guard is dropped, the
    /// sweep does not close the connection for it.
    pub(crate) fn awaiting_head(&self) -> AwaitingHead<'_> {
        self.awaiting.fetch_add(1, Ordering::Relaxed);
        AwaitingHead(self)
    }

    /// The request's response has been written (or abandoned).
    pub(crate) fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether a head with an unknown transfer coding was refused on this connection.
    pub fn refused_unknown_coding(&self) -> bool {
        self.unknown_coding.load(Ordering::Relaxed)
    }

    /// Whether a read has found the client's end of the connection closed or broken.
    pub fn peer_gone(&self) -> bool {
        self.peer_gone.load(Ordering::Relaxed)
    }

    /// Whether the stream idle timeout passed with a request in flight.
    #[inline]
    pub fn stream_timed_out(&self) -> bool {
        self.stream_timed_out.load(Ordering::Acquire)
    }

    /// Whether a timeout (not a drain) cancelled the connection's token.
    pub fn is_expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    /// Whether the connection speaks HTTP/2 (see [`ConnClock::exempt`]).
    pub fn is_exempt(&self) -> bool {
        self.exempt.load(Ordering::Relaxed)
    }

    /// Excludes the connection from the sweep (HTTP/2).
    pub fn exempt(&self) {
        self.exempt.store(true, Ordering::Relaxed);
    }

    /// Takes the connection out of the sweep: a TCP-proxied connection (after the TLS
    /// handshake, if any) follows its route's idle timeout, not HTTP's.
    pub fn detach(&self) {
        self.detached.store(true, Ordering::Relaxed);
    }

    /// Bytes arrived: when no request is in flight they begin a head, which starts the clock;
    /// returns whether they did (the caller scans the head for ambiguous framing).
    #[inline]
    fn bytes_read(&self) -> bool {
        self.active();
        if self.in_flight.load(Ordering::Relaxed) != 0
            || self.head_open.load(Ordering::Relaxed)
            || self.exempt.load(Ordering::Relaxed)
        {
            return false;
        }
        self.head_open.store(true, Ordering::Relaxed);
        if self.started.load(Ordering::Relaxed) == 0 {
            self.started
                .store(COARSE_SECS.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        true
    }

    #[cold]
    fn note_peer_gone(&self) {
        self.peer_gone.store(true, Ordering::Relaxed);
    }

    /// The head being read frames its body ambiguously.
    #[cold]
    fn mark_ambiguous(&self) {
        self.ambiguous.store(true, Ordering::Relaxed);
    }

    /// Bytes moved: the connection is not idle.
    #[inline]
    fn active(&self) {
        self.last_active
            .store(COARSE_SECS.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Whether a timeout has passed at coarse second `now`.
    fn overdue(&self, now: u64, limits: &Limits) -> bool {
        let older =
            |since: u64, limit: Option<u64>| limit.is_some_and(|l| now.saturating_sub(since) > l);
        let idle_since = self.last_active.load(Ordering::Relaxed);
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        if in_flight != 0 {
            // HTTP/2 streams still waiting for their head are timed one by one; a connection
            // whose every stream waits is not idle.
            if in_flight <= self.awaiting.load(Ordering::Relaxed) {
                return false;
            }
            return older(idle_since, limits.stream_idle);
        }
        if self.exempt.load(Ordering::Relaxed) {
            // HTTP/2: no heads to time; idle connections are kept longer (clients multiplex
            // over long-lived ones).
            return older(idle_since, limits.idle.map(|i| i.max(H2_MIN_IDLE_SECS)));
        }
        match self.started.load(Ordering::Relaxed) {
            0 => older(idle_since, limits.idle),
            started => older(started, limits.head),
        }
    }
}

/// An HTTP/2 stream counted as waiting for its response head (see
/// [`ConnClock::awaiting_head`]).
pub(crate) struct AwaitingHead<'a>(&'a ConnClock);

impl Drop for AwaitingHead<'_> {
    fn drop(&mut self) {
        self.0.awaiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The timeouts a sweep enforces, in whole seconds (`None`: not enforced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive within this (`request_headers_timeout`).
    pub head: Option<u64>,
    /// A connection between requests may stay idle this long (`idle_timeout`).
    pub idle: Option<u64>,
    /// A request in flight may see no bytes move for this long (`stream_idle_timeout`).
    pub stream_idle: Option<u64>,
}

impl Limits {
    /// Limits from optional durations (at least a second each).
    pub fn new(
        head: Option<Duration>,
        idle: Option<Duration>,
        stream_idle: Option<Duration>,
    ) -> Self {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs().max(1));
        Self {
            head: secs(head),
            idle: secs(idle),
            stream_idle: secs(stream_idle),
        }
    }

    /// Whether any timeout is enforced.
    pub fn any(&self) -> bool {
        self.head.is_some() || self.idle.is_some() || self.stream_idle.is_some()
    }
}

/// An accept loop's connections, swept once a second.
#[derive(Debug, Default)]
pub struct Sweep {
    clocks: Vec<Weak<ConnClock>>,
}

impl Sweep {
    /// The period between sweeps.
    pub const PERIOD: Duration = Duration::from_secs(1);

    /// Tracks a new connection.
    pub fn track(&mut self, clock: &Arc<ConnClock>) {
        self.clocks.push(Arc::downgrade(clock));
    }

    /// Advances the coarse clock, forgets closed connections and closes overdue ones; returns
    /// how many were closed.
    pub fn tick(&mut self, limits: &Limits) -> usize {
        let epoch = *EPOCH.get_or_init(Instant::now);
        let now = epoch.elapsed().as_secs() + 1;
        COARSE_SECS.fetch_max(now, Ordering::Relaxed);
        let mut closed = 0;
        self.clocks.retain(|weak| {
            let Some(clock) = weak.upgrade() else {
                return false;
            };
            if clock.detached.load(Ordering::Relaxed) {
                return false;
            }
            if clock.overdue(now, limits) {
                if clock.in_flight.load(Ordering::Relaxed) != 0 {
                    clock.stream_timed_out.store(true, Ordering::Release);
                }
                clock.expired.store(true, Ordering::Release);
                clock.token.cancel();
                closed += 1;
                return false;
            }
            true
        });
        closed
    }
}

/// A stream whose reads feed a [`ConnClock`].
#[derive(Debug)]
pub struct Clocked<S> {
    inner: S,
    clock: Arc<ConnClock>,
    head: crate::framing::HeadScan,
    /// Whether new heads are scanned for framing hyper would resolve silently. Off while the
    /// gateway's own codec reads: it hands such heads to hyper, and they are scanned then.
    scan_heads: bool,
}

impl<S> Clocked<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, clock: Arc<ConnClock>) -> Self {
        Self {
            inner,
            clock,
            head: crate::framing::HeadScan::default(),
            scan_heads: true,
        }
    }

    /// Stops scanning new heads (the gateway's own codec reads them).
    pub(crate) fn skip_head_scans(&mut self) {
        self.scan_heads = false;
    }
}

impl<S: AsyncWrite + Unpin> Clocked<S> {
    /// Scans heads again from here on, starting with `read`: bytes already read (the start of
    /// a head) that hyper is about to be given. Returns `false` when that head was refused
    /// (501 written, as [`AsyncRead::poll_read`] would have done had it been scanning).
    pub(crate) async fn resume_head_scans(&mut self, read: &[u8]) -> bool {
        self.scan_heads = true;
        match self.head.start(read) {
            Some(Framing::Ambiguous) => self.clock.mark_ambiguous(),
            Some(Framing::UnknownCoding) => {
                std::future::poll_fn(|cx| {
                    self.refuse_unknown_coding(cx);
                    Poll::Ready(())
                })
                .await;
                return false;
            }
            _ => {}
        }
        true
    }

    /// Answers 501 for a head with an unknown transfer coding, before hyper reads it: the read
    /// then looks like the end of the stream, and hyper closes the connection. The answer is
    /// tried once without waiting (a fresh connection's send buffer is empty).
    #[cold]
    fn refuse_unknown_coding(&mut self, cx: &mut Context<'_>) {
        const NOT_IMPLEMENTED: &[u8] =
            b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let _ = Pin::new(&mut self.inner).poll_write(cx, NOT_IMPLEMENTED);
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
        self.clock.unknown_coding.store(true, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Clocked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if room && buf.filled().len() == before => {
                self.clock.note_peer_gone()
            }
            Poll::Ready(Err(_)) => self.clock.note_peer_gone(),
            _ => {}
        }
        if buf.filled().len() > before {
            let this = &mut *self;
            let new = &buf.filled()[before..];
            let (framing, whole) = if this.clock.bytes_read() {
                (
                    this.scan_heads.then(|| this.head.start(new)).flatten(),
                    true,
                )
            } else if this.head.gathering() {
                (this.head.more(new), false)
            } else {
                (None, false)
            };
            match framing {
                Some(Framing::Ambiguous) => this.clock.mark_ambiguous(),
                // Only a head hyper has not seen any of can be withheld from it.
                Some(Framing::UnknownCoding) if whole => {
                    this.refuse_unknown_coding(cx);
                    buf.set_filled(before);
                }
                _ => {}
            }
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
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.active();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.active();
        }
        polled
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

/// A response body that keeps its request in flight on the connection's clock until it has
/// been written to the end or dropped, and records the request (see [`Recording`]) as its end is
/// handed to the codec: at once for a response without a body, else with its last frame. One
/// dropped before its end, unless its request was HEAD (whose body is never sent), was cut off:
/// by the stream idle timeout (`SI`), a reset HTTP/2 stream (`DR`) or the client leaving
/// (`DC`); one whose body failed is flagged `UC`.
#[derive(Debug)]
pub struct InFlight<B: http_body::Body> {
    body: B,
    clock: Arc<ConnClock>,
    recording: Option<Recording>,
}

impl<B: http_body::Body> InFlight<B> {
    /// Tracks `body` on `clock` (whose `request_started` was called for it), recorded by
    /// `recording` when there is one.
    pub fn new(body: B, clock: Arc<ConnClock>, mut recording: Option<Recording>) -> Self {
        if body.is_end_stream() {
            if let Some(recording) = recording.take() {
                recording.finish(None);
            }
        }
        Self {
            body,
            clock,
            recording,
        }
    }

    fn finish(&mut self, cut: Option<ResponseFlag>) {
        if let Some(recording) = self.recording.take() {
            recording.finish(cut);
        }
    }
}

impl<B: http_body::Body> Drop for InFlight<B> {
    fn drop(&mut self) {
        self.clock.request_finished();
        let Some(recording) = &self.recording else {
            return;
        };
        let cut = if recording.is_head() || self.body.is_end_stream() {
            None
        } else if self.clock.stream_timed_out() {
            Some(ResponseFlag::StreamIdleTimeout)
        } else if self.clock.is_exempt() && !self.clock.peer_gone() {
            // An HTTP/2 stream reset by the client on a connection still open.
            Some(ResponseFlag::DownstreamRemoteReset)
        } else {
            Some(ResponseFlag::DownstreamConnectionTermination)
        };
        self.finish(cut);
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for InFlight<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.body).poll_frame(cx));
        if let (Some(Ok(frame)), Some(recording)) = (&frame, self.recording.as_mut()) {
            if let Some(data) = frame.data_ref() {
                recording.sent(bytes::Buf::remaining(data));
            }
        }
        match &frame {
            Some(Ok(_)) if !self.body.is_end_stream() => {}
            Some(Err(_)) => self.finish(Some(ResponseFlag::UpstreamConnectionTermination)),
            _ => self.finish(None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
