//! The response body of an HTTP/1.1 exchange, streamed from the connection; the connection
//! returns to its idle queue when the body ends cleanly.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncRead;
use tokio::task::JoinHandle;

use super::decode::{step, BodyKind, Step};
use super::{H1Conn, IdleQueue, Lifetime, READ_CHUNK};
use crate::error::Error;
use crate::stream::{ReadHalf, Stream, WriteHalf};
use std::time::Instant;

/// How the body reaches its connection (boxed either way, so the body stays small).
#[derive(Debug)]
pub(super) enum Link {
    /// The request was fully written; the connection is whole.
    Whole(Box<H1Conn>),
    /// The connection was split to stream the request body beside the response reader.
    Split(Box<SplitLink>),
}

/// The read half of a split connection, and what became of its write half.
#[derive(Debug)]
pub(super) struct SplitLink {
    pub(super) read: ReadHalf,
    pub(super) read_buf: BytesMut,
    /// The task still writing the request body (`None`: writing failed, so the answer can
    /// still be read but the connection is not reused).
    pub(super) writer: Option<BodyWriter>,
    pub(super) life: Lifetime,
}

impl Link {
    fn read_buf(&mut self) -> &mut BytesMut {
        match self {
            Link::Whole(conn) => &mut conn.read_buf,
            Link::Split(split) => &mut split.read_buf,
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        match self {
            Link::Whole(conn) => poll_read(&mut conn.stream, &mut conn.read_buf, cx),
            Link::Split(split) => poll_read(&mut split.read, &mut split.read_buf, cx),
        }
    }

    /// The whole connection again, if the request body has been written completely.
    fn into_conn(self) -> Option<Box<H1Conn>> {
        let split = match self {
            Link::Whole(conn) => return Some(conn),
            Link::Split(split) => *split,
        };
        // The writer has almost always finished by the end of the response; if not, the
        // connection is not reused (nothing waits for it).
        let mut writer = split.writer?;
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut writer.0).poll(&mut cx) {
            Poll::Ready(Ok(Ok(write))) => {
                let stream = split.read.reunite(write).ok()?;
                Some(Box::new(H1Conn {
                    stream,
                    read_buf: split.read_buf,
                    write_buf: Vec::new(),
                    life: split.life,
                }))
            }
            _ => None,
        }
    }
}

/// The task writing a streamed request body; aborted when dropped, so a cancelled exchange
/// (timeout, client gone) stops sending upstream.
#[derive(Debug)]
pub(super) struct BodyWriter(pub(super) JoinHandle<std::io::Result<WriteHalf>>);

impl Drop for BodyWriter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A response body read from an upstream HTTP/1.1 connection.
#[derive(Debug)]
pub struct H1Body {
    link: Option<Link>,
    kind: BodyKind,
    keep_alive: bool,
    idle: IdleQueue,
}

/// The raw connection after `101 Switching Protocols`, with bytes the upstream already sent.
#[derive(Debug)]
pub struct UpgradedConn {
    /// The connection (plain TCP or originated TLS).
    pub stream: Stream,
    /// Bytes received after the 101 head.
    pub leftover: Bytes,
}

impl H1Body {
    pub(super) fn new(link: Link, kind: BodyKind, keep_alive: bool, idle: IdleQueue) -> Self {
        let mut body = Self {
            link: Some(link),
            kind,
            keep_alive,
            idle,
        };
        if kind == BodyKind::Empty {
            body.kind = BodyKind::Done;
            body.release();
        }
        body
    }

    /// For a 101 response: the connection, now owned by the upgraded protocol.
    pub fn take_upgrade(&mut self) -> Option<UpgradedConn> {
        if self.kind != BodyKind::Upgrade {
            return None;
        }
        self.kind = BodyKind::Done;
        let c = self.link.take()?.into_conn()?;
        Some(UpgradedConn {
            stream: c.stream,
            leftover: c.read_buf.freeze(),
        })
    }

    /// Gives the connection back when it can carry another request.
    fn release(&mut self) {
        let Some(link) = self.link.take() else { return };
        if !self.keep_alive {
            return;
        }
        if let Some(mut conn) = link.into_conn() {
            conn.life.requests += 1;
            if conn.read_buf.is_empty() && conn.life.may_idle() {
                conn.life.idle_since = Instant::now();
                let endpoint = conn.life.slot.as_ref().map(|s| s.0.clone());
                let _ = self.idle.push(conn);
                if let Some(endpoint) = endpoint {
                    endpoint.load.idled();
                }
            }
        }
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            let Some(link) = this.link.as_mut() else {
                return Poll::Ready(None);
            };
            match step(&mut this.kind, link.read_buf()) {
                Ok(Step::Frame(frame)) => {
                    if this.kind == BodyKind::Done {
                        this.release();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Ok(Step::Done) => {
                    if this.kind == BodyKind::Done {
                        this.release();
                    }
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => {}
                Err(err) => {
                    this.link = None;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            match ready!(link.poll_read(cx)) {
                Ok(0) if this.kind == BodyKind::UntilClose => {
                    this.kind = BodyKind::Done;
                    this.link = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.link = None;
                    let err = Error::Reset("upstream closed the connection mid-body".into());
                    return Poll::Ready(Some(Err(err)));
                }
                Ok(_) => {}
                Err(err) => {
                    this.link = None;
                    return Poll::Ready(Some(Err(Error::Reset(err.into()))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, BodyKind::Done | BodyKind::Upgrade)
    }

    fn size_hint(&self) -> SizeHint {
        match self.kind {
            BodyKind::Done | BodyKind::Upgrade | BodyKind::Empty => SizeHint::with_exact(0),
            BodyKind::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

fn poll_read<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(Pin::new(stream), cx, buf)
}
