//! The gateway's own HTTP/1.1 server codec, for the common request: no body, or one that
//! arrived whole with its head; no upgrade (see [`parse`] for the exact rule). It reads heads
//! into one buffer per connection, reuses the field map of each response for the next request,
//! and writes each response head and the body bytes already available in one write. The first
//! request it does not take hands the connection, with every byte read so far, to hyper's codec
//! for the rest of its life, so hyper's strict handling of streamed bodies, chunked framing,
//! 100-continue, upgrades, HTTP/1.0 and malformed heads applies unchanged.
//!
//! hyper's dispatcher, its per-request read-buffer reallocation (it reads while a request is in
//! flight, into a buffer the request still shares) and its separate date and encode passes
//! were a quarter of the gateway's instructions per proxied request.

mod parse;
mod write;

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::codec::PREFACE;
use crate::request::{handle, ConnCx};
use parse::Parsed;

/// Read buffer per connection (hyper's initial size).
const READ_BUF: usize = 8 * 1024;
/// Spare room below which the read buffer is grown (or reclaimed) before reading.
const READ_MIN_SPARE: usize = 1024;

/// Fields the connection's header map has room for from the start.
const FIELDS: usize = 24;

/// How a connection left this codec.
pub(crate) enum Outcome<S> {
    /// Closed (by either side, an error, a drain or a timeout).
    Closed,
    /// A request this codec does not serve: `io` and the bytes read from it (starting with that
    /// request's head) go to hyper's codec.
    Handover(S, bytes::Bytes),
    /// The client opened with the HTTP/2 preface: `io` and the bytes read from it go to hyper's
    /// HTTP/2 codec.
    Http2(S, bytes::Bytes),
}

/// Serves requests on `io` until the connection closes or a request needs hyper's codec. The
/// caller polls it under the connection's token (see [`crate::codec`]); on a drain it finishes
/// the request in flight and stops at the next request boundary.
pub(crate) async fn serve<S>(mut io: S, cx: Arc<ConnCx>, mut sniff: bool) -> Outcome<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut out = Vec::with_capacity(1024);
    // Sized for a typical request plus the fields the proxy adds, and then the response's: it
    // serves both, and growing it step by step cost more than its allocation.
    let mut fields = HeaderMap::with_capacity(FIELDS);
    loop {
        let (req, facts) = loop {
            if sniff && !buf.is_empty() {
                // A cleartext connection's first bytes tell HTTP/2 with prior knowledge apart
                // (read, not peeked: one system call fewer per connection).
                let n = buf.len().min(PREFACE.len());
                if buf[..n] != PREFACE[..n] {
                    sniff = false;
                } else if n == PREFACE.len() {
                    return Outcome::Http2(io, buf.freeze());
                }
            }
            if !sniff && !buf.is_empty() {
                match parse::parse(&mut buf, &mut fields) {
                    Parsed::Taken(req, facts) => break (req, facts),
                    Parsed::Declined => return Outcome::Handover(io, buf.freeze()),
                    Parsed::Partial => {}
                }
            }
            if !read_head_bytes(&mut io, &mut buf, &cx).await {
                return Outcome::Closed;
            }
        };
        cx.clock.request_started();
        // Pinned where it is made: the handling future is large, and moving it costs.
        let handling = pin!(handle(req, &cx));
        let Some(resp) = until_response_or_gone(handling, &mut io, &mut buf).await else {
            // The client left: the request was dropped mid-way (its upstream call cancelled).
            cx.clock.request_finished();
            return Outcome::Closed;
        };
        let draining = cx.clock.closing();
        let keep_alive =
            write::response(&mut io, &mut out, resp, facts, draining, &mut fields).await;
        cx.clock.request_finished();
        if !keep_alive || cx.clock.closing() {
            let _ = io.shutdown().await;
            return Outcome::Closed;
        }
    }
}

/// Reads more of a request head; `false` when the connection is done (closed by the client, a
/// read error, or the token cancelled while no request is in flight).
async fn read_head_bytes<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    cx: &ConnCx,
) -> bool {
    if buf.capacity() - buf.len() < READ_MIN_SPARE {
        // Between requests every earlier head has usually been dropped, so this reclaims the
        // buffer in place instead of allocating.
        buf.reserve(READ_BUF);
    }
    poll_fn(|task| {
        if cx.clock.closing() {
            return Poll::Ready(false);
        }
        match tokio_util::io::poll_read_buf(Pin::new(&mut *io), task, buf) {
            Poll::Ready(Ok(n)) => Poll::Ready(n > 0),
            Poll::Ready(Err(_)) => Poll::Ready(false),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Runs `handling` to its response while watching the connection: `None` if the client closed
/// it first (as hyper does, so the upstream call is cancelled with it). Bytes that arrive
/// meanwhile (a pipelined request) are kept in `buf`.
async fn until_response_or_gone<F, S>(
    mut handling: Pin<&mut F>,
    io: &mut S,
    buf: &mut BytesMut,
) -> Option<F::Output>
where
    F: Future,
    S: AsyncRead + Unpin,
{
    let mut watching = buf.is_empty() && buf.capacity() > buf.len();
    poll_fn(|task| {
        if let Poll::Ready(resp) = handling.as_mut().poll(task) {
            return Poll::Ready(Some(resp));
        }
        if watching {
            match tokio_util::io::poll_read_buf(Pin::new(&mut *io), task, buf) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => watching = false,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}
