//! Bodies crossing the proxy: what is sent upstream, and the upstream response body that gives
//! its connection back to the pool when it ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::endpoint::ActiveGuard;
use crate::pool::Ticket;

/// A request body sent upstream: the client's streaming body, or bytes the proxy made.
#[derive(Debug)]
pub enum RequestBody {
    /// Streamed from the downstream connection.
    Incoming(Incoming),
    /// A complete body (mirrors, retries of buffered bodies, generated requests).
    Full(Option<Bytes>),
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::Full(None)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Incoming(body) => Pin::new(body).poll_frame(cx),
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Incoming(body) => body.is_end_stream(),
            Self::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Incoming(body) => body.size_hint(),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
        }
    }
}

/// An upstream response body. When it has been read to the end, its HTTP/1.1 connection goes
/// back to the idle pool; if it is dropped early, the connection is closed instead.
#[derive(Debug)]
pub struct PooledBody {
    inner: Incoming,
    ticket: Option<Ticket>,
    _active: ActiveGuard,
}

impl PooledBody {
    pub(crate) fn new(inner: Incoming, ticket: Option<Ticket>, active: ActiveGuard) -> Self {
        Self {
            inner,
            ticket,
            _active: active,
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            if let Some(ticket) = this.ticket.take() {
                ticket.release();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A body that was empty from the start (HEAD, 204, 304) is never polled to its end.
        if self.inner.is_end_stream() {
            if let Some(ticket) = self.ticket.take() {
                ticket.release();
            }
        }
    }
}
