//! A lean HTTP/1.1 client for pooled upstream connections.
//!
//! The request task itself writes the request and reads the response on the connection: no
//! per-connection task, no channel between them (hyper's client needs both). Receives a request
//! whose headers the proxy already prepared; hands back the response with a body that streams
//! from the socket and returns the connection to its idle queue once the body has been read to
//! the end (or closes it when it cannot be reused).

mod body;
mod decode;
mod encode;
mod fields;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crossbeam_queue::ArrayQueue;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::body::RequestBody;
use crate::error::Error;
use crate::load::ConnSlot;
use crate::stream::Stream;

pub use body::{H1Body, UpgradedConn};
pub use fields::{content_length, field_name, field_spans, FieldSpan, FieldSpans};

/// Largest response head accepted from an upstream.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 8 * 1024;
/// Largest request-head buffer a connection keeps for its next request (a complete body is
/// written with the head, and a large one is not worth holding on to).
const KEEP_WRITE_BUF: usize = 4 * 1024;

/// Idle connections of one endpoint on one worker.
pub type IdleQueue = Arc<ArrayQueue<Box<H1Conn>>>;

/// An HTTP/1.1 connection to an upstream, between requests. Always boxed: it travels from the
/// idle queue into the request's futures and the response body and back, and each of those
/// steps then moves a pointer rather than the connection.
#[derive(Debug)]
pub struct H1Conn {
    stream: Stream,
    read_buf: BytesMut,
    /// The request head being written, kept between requests for its allocation.
    write_buf: Vec<u8>,
    /// Age, use and limits of the connection.
    pub life: Lifetime,
}

/// What decides whether a connection may be used again.
#[derive(Debug)]
pub struct Lifetime {
    /// Requests completed on this connection.
    pub requests: u32,
    /// `maxRequestsPerConnection` (0 = unlimited).
    pub max_requests: u32,
    /// When it was opened.
    pub born: Instant,
    /// When it last went idle.
    pub idle_since: Instant,
    /// Its slot under the cluster's `maxConnections`, freed when the connection is dropped.
    pub slot: Option<ConnSlot>,
}

impl Lifetime {
    /// A fresh connection's lifetime.
    pub fn new(max_requests: u32, slot: Option<ConnSlot>) -> Self {
        let now = Instant::now();
        Self {
            requests: 0,
            max_requests,
            born: now,
            idle_since: now,
            slot,
        }
    }

    /// Whether the connection may serve more requests after the one just finished.
    fn may_idle(&self) -> bool {
        self.max_requests == 0 || self.requests < self.max_requests
    }

    /// Whether an idle connection is still fresh enough to use.
    pub fn usable(&self, now: Instant, idle_timeout: Duration, max_age: Option<Duration>) -> bool {
        now.saturating_duration_since(self.idle_since) < idle_timeout
            && max_age.is_none_or(|max| now.saturating_duration_since(self.born) < max)
    }
}

/// A failed exchange. `unsent` gives the request back when nothing of the response arrived, the
/// request had no body and the connection had been reused: the upstream closed an idle
/// connection under us, and the request may go again on a fresh one.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: Error,
    /// The request, when it is safe to send again.
    pub unsent: Option<Box<Request<RequestBody>>>,
}

impl H1Conn {
    /// Wraps a freshly connected stream (no limits, no connection slot).
    pub fn new(stream: impl Into<Stream>) -> Box<Self> {
        Self::with_life(stream.into(), Lifetime::new(0, None))
    }

    /// Wraps a freshly connected stream with its limits and slot.
    pub fn with_life(stream: Stream, life: Lifetime) -> Box<Self> {
        Box::new(Self {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: Vec::new(),
            life,
        })
    }

    /// Whether an idle connection can take a request: the upstream has neither closed it nor
    /// sent anything unasked. Costs no system call unless the socket became readable.
    pub fn is_reusable(&mut self) -> bool {
        self.read_buf.is_empty() && self.stream.is_quiet(&mut self.read_buf)
    }

    /// Sends `req` and reads the response head. `idle` is where the connection goes back to once
    /// the response body has been read.
    pub async fn send(
        mut self: Box<Self>,
        mut req: Box<Request<RequestBody>>,
        idle: IdleQueue,
    ) -> Result<Response<H1Body>, Failure> {
        let reused = self.life.requests > 0;
        // The request stays in its box (it is large): only the body is taken out.
        let mut body = std::mem::replace(req.body_mut(), RequestBody::empty());
        let has_body = !body.is_end_stream();
        let mut head = std::mem::take(&mut self.write_buf);
        head.clear();
        head.reserve(512);
        let chunked = encode::head(&req, &body, &mut head);
        if let RequestBody::Full(Some(bytes)) = &body {
            head.extend_from_slice(bytes);
        }
        let head_only = req.method() == http::Method::HEAD;
        if has_body && body.is_streamed() {
            // A streamed body is written beside the response reader, so an upstream that
            // answers while still reading (full-duplex echo, an early 413) neither deadlocks
            // against us nor loses its answer.
            let (mut read, mut write) = self.stream.into_split();
            let mut writer = body::BodyWriter(tokio::spawn(async move {
                write.write_all(&head).await?;
                send_body(&mut write, &mut body, chunked).await?;
                Ok::<_, std::io::Error>(write)
            }));
            let head =
                decode::read_head(&mut read, &mut self.read_buf, head_only, req.headers_mut())
                    .await;
            // The client's body may have turned out malformed while it was being copied: then
            // the upstream saw an unfinished request, and whatever it answered is not passed on.
            let mut cx = Context::from_waker(Waker::noop());
            let written = match Pin::new(&mut writer.0).poll(&mut cx) {
                Poll::Ready(Ok(Err(err))) if is_downstream_body_error(&err) => {
                    return Err(Failure {
                        error: Error::DownstreamBody(err.into()),
                        unsent: None,
                    })
                }
                Poll::Ready(done) => Some(done.ok().and_then(Result::ok)),
                Poll::Pending => None,
            };
            return match head {
                Ok((response, framing)) => {
                    let link = match written {
                        // Body fully written: the connection is whole again.
                        Some(Some(write)) => match read.reunite(write) {
                            Ok(stream) => body::Link::Whole(Box::new(H1Conn {
                                stream,
                                read_buf: self.read_buf,
                                write_buf: Vec::new(),
                                life: self.life,
                            })),
                            Err(_) => unreachable!("halves of one stream"),
                        },
                        // Writing failed: read the answer, never reuse the connection.
                        Some(None) => body::Link::Split(Box::new(body::SplitLink {
                            read,
                            read_buf: self.read_buf,
                            writer: None,
                            life: self.life,
                        })),
                        None => body::Link::Split(Box::new(body::SplitLink {
                            read,
                            read_buf: self.read_buf,
                            writer: Some(writer),
                            life: self.life,
                        })),
                    };
                    Ok(response.map(|()| H1Body::new(link, framing.body, framing.reusable, idle)))
                }
                Err(err) => Err(Failure {
                    error: err.error,
                    unsent: None,
                }),
            };
        }
        let write = async {
            self.stream.write_all(&head).await?;
            if head.capacity() <= KEEP_WRITE_BUF {
                self.write_buf = head;
            }
            if body.is_streamed() && has_body {
                send_body(&mut self.stream, &mut body, chunked).await?;
            }
            Ok::<_, std::io::Error>(())
        };
        if let Err(err) = write.await {
            let unsent = (reused && !has_body).then_some(req);
            return Err(Failure {
                error: Error::Reset(err.into()),
                unsent,
            });
        }
        // The request's fields are still needed to resend it if the upstream closes unanswered;
        // they give up their allocation only once a whole response head has arrived.
        let fields = req.headers_mut();
        match decode::read_head(&mut self.stream, &mut self.read_buf, head_only, fields).await {
            Ok((response, framing)) => {
                let keep_alive = framing.reusable;
                Ok(response
                    .map(|()| H1Body::new(body::Link::Whole(self), framing.body, keep_alive, idle)))
            }
            Err(decode::HeadError {
                error,
                received_any,
            }) => {
                let unsent = (reused && !has_body && !received_any).then_some(req);
                Err(Failure { error, unsent })
            }
        }
    }
}

/// The client's body failed (malformed chunking, a reset) while it was being copied upstream.
#[derive(Debug, thiserror::Error)]
#[error("client request body: {0}")]
struct DownstreamBodyError(#[source] crate::body::BodyError);

fn is_downstream_body_error(err: &std::io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<DownstreamBodyError>())
}

/// Streams the client's body upstream: raw bytes after a `content-length`, chunks otherwise.
async fn send_body<W: tokio::io::AsyncWrite + Unpin>(
    stream: &mut W,
    body: &mut RequestBody,
    chunked: bool,
) -> std::io::Result<()> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, DownstreamBodyError(e))
        })?;
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) if chunked => {
                stream
                    .write_all(format!("{:x}\r\n", data.len()).as_bytes())
                    .await?;
                stream.write_all(&data).await?;
                stream.write_all(b"\r\n").await?;
            }
            Ok(data) => stream.write_all(&data).await?,
            Err(frame) => {
                if let (Ok(trailers), true) = (frame.into_trailers(), chunked) {
                    let mut out = b"0\r\n".to_vec();
                    encode::fields(&trailers, &mut out);
                    out.extend_from_slice(b"\r\n");
                    stream.write_all(&out).await?;
                    return Ok(());
                }
            }
        }
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
