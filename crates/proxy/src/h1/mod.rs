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

/// Fields the connection's header map has room for from the start: a typical request plus the
/// fields the proxy adds, and then the response's (the map serves both; growing it step by step
/// cost more than its allocation).
const FIELDS: usize = 24;
/// Response bytes gathered before a write, to start with.
const OUT_BUF: usize = 1024;
/// Connections' buffers kept per worker thread for the next connections.
const SPARE_BUFFERS: usize = 16;

/// A connection's read buffer, write buffer and field map. They are kept per worker thread
/// between connections: allocating and freeing them was a tenth of a short connection's
/// instructions in user space.
struct ConnBuffers {
    read: BytesMut,
    out: Vec<u8>,
    fields: HeaderMap,
}

/// The parts of a [`ConnBuffers`], kept without it: its `Drop` must not run for spares (the
/// thread's own teardown would then keep them again).
type Spare = (BytesMut, Vec<u8>, HeaderMap);

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Spare>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl ConnBuffers {
    /// A spare set from this thread, or a new one.
    fn take() -> Self {
        match SPARE.with_borrow_mut(Vec::pop) {
            Some((read, out, fields)) => Self { read, out, fields },
            None => Self {
                read: BytesMut::with_capacity(READ_BUF),
                out: Vec::with_capacity(OUT_BUF),
                fields: HeaderMap::with_capacity(FIELDS),
            },
        }
    }
}

impl Drop for ConnBuffers {
    /// Keeps the buffers for the next connection when they are of the usual size: a read buffer
    /// handed over (taken) or grown for a large head, a large write buffer or map, are freed.
    fn drop(&mut self) {
        let usual = (READ_MIN_SPARE..=READ_BUF).contains(&self.read.capacity())
            && self.out.capacity() <= 4 * OUT_BUF
            && self.fields.capacity() <= 4 * FIELDS;
        if !usual {
            return;
        }
        self.read.clear();
        self.out.clear();
        self.fields.clear();
        let spare = (
            std::mem::take(&mut self.read),
            std::mem::take(&mut self.out),
            std::mem::take(&mut self.fields),
        );
        // Not while the thread's storage is being torn down.
        let _ = SPARE.try_with(|spares| {
            if let Ok(mut spares) = spares.try_borrow_mut() {
                if spares.len() < SPARE_BUFFERS {
                    spares.push(spare);
                }
            }
        });
    }
}

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
    let mut buffers = ConnBuffers::take();
    let ConnBuffers {
        read: buf,
        out,
        fields,
    } = &mut buffers;
    loop {
        let (req, facts) = loop {
            if sniff && !buf.is_empty() {
                // A cleartext connection's first bytes tell HTTP/2 with prior knowledge apart
                // (read, not peeked: one system call fewer per connection).
                let n = buf.len().min(PREFACE.len());
                if buf[..n] != PREFACE[..n] {
                    sniff = false;
                } else if n == PREFACE.len() {
                    return Outcome::Http2(io, std::mem::take(buf).freeze());
                }
            }
            if !sniff && !buf.is_empty() {
                match parse::parse(buf, fields) {
                    Parsed::Taken(req, facts) => break (req, facts),
                    Parsed::Declined => return Outcome::Handover(io, std::mem::take(buf).freeze()),
                    Parsed::Partial => {}
                }
            }
            if !read_head_bytes(&mut io, buf, &cx).await {
                return Outcome::Closed;
            }
        };
        cx.clock.request_started();
        // Pinned where it is made: the handling future is large, and moving it costs.
        let handling = pin!(handle(req, &cx));
        let (resp, recording) =
            match until_response_or_gone(handling, &mut io, buf, &cx.clock).await {
                Answer::Response(answered) => answered,
                Answer::Gone => {
                    // The client left: the request was dropped mid-way (its upstream call
                    // cancelled).
                    cx.clock.request_finished();
                    return Outcome::Closed;
                }
                Answer::TimedOut => {
                    // No byte moved for the stream idle timeout: 408, then close (the request is
                    // dropped, and recorded, as this returns).
                    let resp = crate::respond::stream_timeout(true);
                    write::response(&mut io, out, resp, facts, true, fields, None).await;
                    cx.clock.request_finished();
                    return Outcome::Closed;
                }
            };
        let draining = cx.clock.closing();
        let keep_alive =
            write::response(&mut io, out, resp, facts, draining, fields, Some(recording)).await;
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

/// How waiting for a response ended.
enum Answer<T> {
    /// The response.
    Response(T),
    /// The client closed the connection first.
    Gone,
    /// The stream idle timeout passed first.
    TimedOut,
}

/// Runs `handling` to its response while watching the connection: [`Answer::Gone`] if the
/// client closed it first (as hyper does, so the upstream call is cancelled with it),
/// [`Answer::TimedOut`] once the stream idle timeout has passed (the sweep cancels the
/// connection's token, which wakes this). Bytes that arrive meanwhile (a pipelined request) are
/// kept in `buf`.
async fn until_response_or_gone<F, S>(
    mut handling: Pin<&mut F>,
    io: &mut S,
    buf: &mut BytesMut,
    clock: &crate::timeouts::ConnClock,
) -> Answer<F::Output>
where
    F: Future,
    S: AsyncRead + Unpin,
{
    let mut watching = buf.is_empty() && buf.capacity() > buf.len();
    poll_fn(|task| {
        if clock.stream_timed_out() {
            return Poll::Ready(Answer::TimedOut);
        }
        if let Poll::Ready(resp) = handling.as_mut().poll(task) {
            return Poll::Ready(Answer::Response(resp));
        }
        if watching {
            match tokio_util::io::poll_read_buf(Pin::new(&mut *io), task, buf) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Answer::Gone),
                Poll::Ready(Ok(_)) => watching = false,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connections_buffers_serve_the_next_connection_of_the_thread() {
        std::thread::spawn(|| {
            let mut first = ConnBuffers::take();
            first.read.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            first
                .fields
                .insert(http::header::HOST, "a".parse().unwrap());
            let at = first.read.as_ptr();
            drop(first);
            let second = ConnBuffers::take();
            assert_eq!(second.read.as_ptr(), at, "the same read buffer");
            assert!(second.read.is_empty() && second.out.is_empty() && second.fields.is_empty());
            // A read buffer handed to hyper's codec (taken) is not kept, nor is the rest.
            let mut third = second;
            drop(std::mem::take(&mut third.read));
            drop(third);
            assert!(SPARE.with_borrow(Vec::is_empty));
            // Buffers dropped as the thread ends are freed with its storage.
            let kept = ConnBuffers::take();
            drop(kept);
            assert_eq!(SPARE.with_borrow(Vec::len), 1);
        })
        .join()
        .expect("the thread, and its teardown");
    }
}
