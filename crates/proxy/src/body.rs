//! The response body sent downstream: streamed from an upstream, or made by the gateway.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use rampart_upstream::PooledBody;

/// A downstream response body.
#[derive(Debug)]
pub enum ResponseBody {
    /// Streamed from the upstream (trailers included, for gRPC).
    Upstream(PooledBody),
    /// Streamed from the upstream until the route timeout, which covers the whole response
    /// as in Envoy: a body still streaming then is cut off (the client sees a reset).
    Deadline(PooledBody, Pin<Box<tokio::time::Sleep>>),
    /// Made by the gateway.
    Full(Option<Bytes>),
    /// Any of the above, ending the request's server span when it ends.
    Traced(Box<crate::trace::Traced>),
}

impl ResponseBody {
    /// A body with these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// No body.
    pub fn empty() -> Self {
        Self::Full(None)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = rampart_upstream::error::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Self::Upstream(body) => Pin::new(body).poll_frame(cx),
            Self::Deadline(body, deadline) => {
                if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
                    return Poll::Ready(frame);
                }
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err("upstream request timeout".into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Traced(body) => Pin::new(&mut **body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream(body) | Self::Deadline(body, _) => body.is_end_stream(),
            Self::Full(bytes) => bytes.is_none(),
            Self::Traced(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream(body) | Self::Deadline(body, _) => body.size_hint(),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Traced(body) => body.size_hint(),
        }
    }
}
