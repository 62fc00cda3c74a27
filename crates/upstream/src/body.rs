//! Bodies crossing the proxy: what is sent upstream, and the upstream response body.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::endpoint::ActiveGuard;
use crate::error::BoxError;
use crate::h1::{H1Body, UpgradedConn};
use crate::pool::StreamLease;

/// Why a client's request body ended badly.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client's framing or connection failed.
    #[error(transparent)]
    Client(#[from] hyper::Error),
    /// The body passed the gateway's limit (`--max-request-body`).
    #[error("request body larger than {0} bytes")]
    TooLarge(u64),
}

/// The client's streaming body, cut off with [`BodyError::TooLarge`] past a size limit.
#[derive(Debug)]
pub struct ClientBody {
    body: Incoming,
    limit: Option<u64>,
    read: u64,
    activity: Option<Arc<Activity>>,
}

impl ClientBody {
    /// `body`, allowed at most `limit` bytes.
    pub fn new(body: Incoming, limit: Option<u64>) -> Self {
        Self {
            body,
            limit,
            read: 0,
            activity: None,
        }
    }

    /// Marks `activity` at each frame received (a stream's idle timer).
    pub fn with_activity(mut self, activity: Option<Arc<Activity>>) -> Self {
        self.activity = activity;
        self
    }
}

/// When a request's stream last moved, for a timer of its own (the stream idle timeout of an
/// HTTP/2 stream): marked as its request body's frames arrive; `expire` notes that the timer
/// fired.
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    /// Nanoseconds from `origin` to the last mark.
    last: AtomicU64,
    expired: AtomicBool,
}

impl Activity {
    /// Activity starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            expired: AtomicBool::new(false),
        })
    }

    /// Something moved now.
    pub fn mark(&self) {
        let nanos = self.origin.elapsed().as_nanos() as u64;
        self.last.store(nanos, Ordering::Relaxed);
    }

    /// When something last moved.
    pub fn last(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }

    /// Notes that the stream's idle timer fired.
    pub fn expire(&self) {
        self.expired.store(true, Ordering::Relaxed);
    }

    /// Whether the stream's idle timer fired.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        if let (Some(activity), Some(Ok(_))) = (&self.activity, &frame) {
            activity.mark();
        }
        if let (Some(limit), Some(Ok(frame))) = (self.limit, &frame) {
            self.read += frame.data_ref().map_or(0, |d| d.len() as u64);
            if self.read > limit {
                return Poll::Ready(Some(Err(BodyError::TooLarge(limit))));
            }
        }
        Poll::Ready(frame.map(|f| f.map_err(BodyError::Client)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body sent upstream: the client's streaming body, or bytes the proxy made.
#[derive(Debug)]
pub enum RequestBody {
    /// Streamed from the downstream connection.
    Incoming(ClientBody),
    /// A complete body (mirrors, retries of buffered bodies, generated requests).
    Full(Option<Bytes>),
    /// Streamed from the downstream connection while a copy is kept, so that the request can
    /// be sent again (retries) or copied (mirrors) once it is complete.
    Recorded(ClientBody, Recorder),
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::Full(None)
    }

    /// Whether the body streams from the client (so it is written beside the response reader).
    pub fn is_streamed(&self) -> bool {
        matches!(self, Self::Incoming(_) | Self::Recorded(..))
    }
}

/// Reads a copy of a streamed request body, kept up to a size limit (see [`Recorder`]).
#[derive(Clone, Debug)]
pub struct Recording(Arc<Shared>);

/// The writing side of a [`Recording`], carried by the body as it streams. It publishes the
/// copy once, when the body ends; dropped before that, the copy is given up.
#[derive(Debug)]
pub struct Recorder {
    chunks: Vec<Bytes>,
    len: usize,
    limit: usize,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// `Some(body)` when complete within the limit, `None` when given up.
    result: OnceLock<Option<Bytes>>,
    finished: tokio::sync::Notify,
}

impl Recording {
    /// A recording that keeps at most `limit` bytes, and the recorder that fills it.
    pub fn new(limit: usize) -> (Self, Recorder) {
        let shared = Arc::new(Shared::default());
        let recorder = Recorder {
            chunks: Vec::new(),
            len: 0,
            limit,
            shared: shared.clone(),
        };
        (Self(shared), recorder)
    }

    /// The whole body, if it has been read to the end within the limit.
    pub fn complete(&self) -> Option<Bytes> {
        self.0.result.get().cloned().flatten()
    }

    /// Waits until the body ended (or the copy was given up), then returns it if complete.
    pub async fn finished(&self) -> Option<Bytes> {
        loop {
            let notified = self.0.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = self.0.result.get() {
                return result.clone();
            }
            notified.await;
        }
    }
}

impl Recorder {
    fn record(&mut self, frame: Option<&Result<Frame<Bytes>, BodyError>>) {
        if self.shared.result.get().is_some() {
            return;
        }
        match frame {
            None => {
                let body = match self.chunks.as_slice() {
                    [] => Bytes::new(),
                    [one] => one.clone(),
                    many => Bytes::from(many.concat()),
                };
                self.chunks = Vec::new();
                self.publish(Some(body));
            }
            Some(Ok(frame)) => match frame.data_ref() {
                Some(data) if self.len + data.len() <= self.limit => {
                    self.len += data.len();
                    self.chunks.push(data.clone());
                }
                // Too large, or trailers: the copy would not be faithful.
                _ => self.publish(None),
            },
            Some(Err(_)) => self.publish(None),
        }
    }

    fn publish(&mut self, result: Option<Bytes>) {
        if result.is_none() {
            self.chunks = Vec::new();
        }
        let _ = self.shared.result.set(result);
        self.shared.finished.notify_waiters();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.shared.result.get().is_none() {
            self.publish(None);
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Incoming(body) => Pin::new(body).poll_frame(cx),
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Recorded(body, recorder) => {
                let frame = ready!(Pin::new(&mut *body).poll_frame(cx));
                recorder.record(frame.as_ref());
                if frame.is_some() && body.is_end_stream() {
                    // Readers may stop polling at the end of the stream.
                    recorder.record(None);
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Incoming(body) | Self::Recorded(body, _) => body.is_end_stream(),
            Self::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Incoming(body) | Self::Recorded(body, _) => body.size_hint(),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
        }
    }
}

/// An upstream response body; it keeps the endpoint's active-request count until dropped.
#[derive(Debug)]
pub struct PooledBody {
    inner: Inner,
    _active: ActiveGuard,
    /// HTTP/2: the stream's place under `maxConcurrentStreams`.
    _stream: Option<StreamLease>,
}

#[derive(Debug)]
enum Inner {
    H1(H1Body),
    H2(Incoming),
}

impl PooledBody {
    pub(crate) fn h1(body: H1Body, active: ActiveGuard) -> Self {
        Self {
            inner: Inner::H1(body),
            _active: active,
            _stream: None,
        }
    }

    pub(crate) fn h2(body: Incoming, active: ActiveGuard, stream: StreamLease) -> Self {
        Self {
            inner: Inner::H2(body),
            _active: active,
            _stream: Some(stream),
        }
    }

    /// The endpoint that is answering.
    pub fn endpoint(&self) -> &std::sync::Arc<crate::Endpoint> {
        self._active.endpoint()
    }

    /// After `101 Switching Protocols` on HTTP/1.1: the upstream connection.
    pub fn take_upgrade(&mut self) -> Option<UpgradedConn> {
        match &mut self.inner {
            Inner::H1(body) => body.take_upgrade(),
            Inner::H2(_) => None,
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().inner {
            Inner::H1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Inner::H2(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::H1(body) => body.is_end_stream(),
            Inner::H2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::H1(body) => body.size_hint(),
            Inner::H2(body) => body.size_hint(),
        }
    }
}
