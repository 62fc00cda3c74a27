//! The response body of an HTTP/1.1 exchange, streamed from the connection; the connection
//! returns to its idle queue when the body ends cleanly.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;

use super::decode::{step, BodyKind, Step};
use super::{H1Conn, IdleQueue, READ_CHUNK};
use crate::error::Error;

/// A response body read from an [`H1Conn`].
#[derive(Debug)]
pub struct H1Body {
    conn: Option<H1Conn>,
    kind: BodyKind,
    keep_alive: bool,
    idle: IdleQueue,
}

/// The raw connection after `101 Switching Protocols`, with bytes the upstream already sent.
#[derive(Debug)]
pub struct UpgradedConn {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes received after the 101 head.
    pub leftover: Bytes,
}

impl H1Body {
    pub(super) fn new(conn: H1Conn, kind: BodyKind, keep_alive: bool, idle: IdleQueue) -> Self {
        let mut body = Self {
            conn: Some(conn),
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
        self.conn.take().map(|c| UpgradedConn {
            stream: c.stream,
            leftover: c.read_buf.freeze(),
        })
    }

    /// Gives the connection back when it can carry another request.
    fn release(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.requests += 1;
            if self.keep_alive && conn.read_buf.is_empty() {
                let _ = self.idle.push(conn);
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
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match step(&mut this.kind, &mut conn.read_buf) {
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
                    this.conn = None;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            match ready!(poll_read(&mut conn.stream, &mut conn.read_buf, cx)) {
                Ok(0) if this.kind == BodyKind::UntilClose => {
                    this.kind = BodyKind::Done;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Error::Reset(
                        "upstream closed the connection mid-body".into(),
                    ))));
                }
                Ok(_) => {}
                Err(err) => {
                    this.conn = None;
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

fn poll_read(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(Pin::new(stream), cx, buf)
}
