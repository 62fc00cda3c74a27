//! Bodies crossing the proxy: what is sent upstream, and the upstream response body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::endpoint::ActiveGuard;
use crate::error::BoxError;
use crate::h1::{H1Body, UpgradedConn};

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

/// An upstream response body; it keeps the endpoint's active-request count until dropped.
#[derive(Debug)]
pub struct PooledBody {
    inner: Inner,
    _active: ActiveGuard,
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
        }
    }

    pub(crate) fn h2(body: Incoming, active: ActiveGuard) -> Self {
        Self {
            inner: Inner::H2(body),
            _active: active,
        }
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
