//! One downstream connection through the HTTP codecs: the gateway's own HTTP/1.1 codec first
//! (which also tells HTTP/2 with prior knowledge from the first bytes), then hyper's HTTP/1.1
//! codec from the first request the own one does not take, or hyper's HTTP/2 codec. Receives an
//! accepted stream; hands each request to [`crate::request::handle`]; shuts down gracefully when
//! the drain token is cancelled.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use rampart_upstream::{Activity, ClientBody, RequestBody};

use crate::body::ResponseBody;
use crate::request::{handle, ConnCx};
use crate::timeouts::{Clocked, ConnClock, InFlight};

/// Largest request head accepted (Envoy's `max_request_headers_kb` default, 60 KiB); larger
/// heads get 431.
pub(crate) const MAX_REQUEST_HEAD: usize = 60 * 1024;
/// Most header fields in a request head (hyper's default, as Envoy's `max_headers_count`).
pub(crate) const MAX_HEADERS: usize = 100;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the client speaks, as TLS's ALPN says or the first bytes will tell.
pub(crate) enum Protocol {
    /// HTTP/1.1 (ALPN `http/1.1`).
    Http1,
    /// HTTP/2 (ALPN `h2`).
    Http2,
    /// Cleartext, or TLS without ALPN: HTTP/1.1 unless the HTTP/2 preface comes first.
    Unsure,
}

/// HTTP/2 limits for clients, after Envoy's edge recommendations: 100 concurrent streams (more
/// are refused with REFUSED_STREAM), 64 KiB stream / 1 MiB connection windows, the head-size
/// limit on header lists, and bounds on streams reset early by the client (rapid reset,
/// CVE-2023-44487) or by us because the client sent malformed ones.
macro_rules! h2_limits {
    ($builder:expr) => {{
        $builder
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .initial_stream_window_size(64 * 1024)
            .initial_connection_window_size(1024 * 1024)
            .max_header_list_size(MAX_REQUEST_HEAD as u32)
            .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
            .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS);
    }};
}

/// SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients.
const MAX_CONCURRENT_STREAMS: u32 = 100;
/// Client-reset streams not yet accepted before the connection is closed (h2's default).
const MAX_PENDING_RESETS: usize = 20;
/// Streams we reset for protocol errors before the connection is closed.
const MAX_LOCAL_ERROR_RESETS: usize = 100;

/// Serves the connection until it closes, or until its token is cancelled: by a drain (then
/// gracefully) or by the request-head timeout (see [`crate::timeouts`]).
pub fn serve(stream: TcpStream, cx: ConnCx) -> impl Future<Output = ()> + Send {
    // Not an `async fn` awaiting `serve_io`: that would copy its (large) future once more.
    serve_io(stream, Protocol::Unsure, cx)
}

/// Serves HTTP on `stream` (plain TCP, or a terminated TLS stream) speaking `protocol`.
pub(crate) async fn serve_io<S>(stream: S, protocol: Protocol, cx: ConnCx)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let expired = cx.clock.clone();
    let peer = cx.peer;
    let shared = cx.shared.clone();
    if matches!(protocol, Protocol::Http2) {
        cx.clock.exempt();
    }
    let clock = cx.clock.clone();
    // One reference count per request, not one per field of the context.
    let cx = std::sync::Arc::new(cx);
    let mut io = Clocked::new(stream, clock);
    let mut prefix = bytes::Bytes::new();
    let mut http2 = matches!(protocol, Protocol::Http2);
    if !http2 {
        // The gateway's own codec first; hyper's from the first request it does not take.
        let sniff = matches!(protocol, Protocol::Unsure);
        io.skip_head_scans();
        let mut own = pin!(crate::h1::serve(io, cx.clone(), sniff));
        let outcome = match until_drained(own.as_mut(), &expired).await {
            Some(outcome) => outcome,
            // A timeout: close now. A drain: finish the request in flight.
            None if expired.is_expired() => return,
            None => own.await,
        };
        match outcome {
            crate::h1::Outcome::Closed => {
                note_refusals(&expired, &shared, peer);
                return;
            }
            crate::h1::Outcome::Handover(mut back, read) => {
                if !back.resume_head_scans(&read).await {
                    note_refusals(&expired, &shared, peer);
                    return;
                }
                (io, prefix) = (back, read);
            }
            crate::h1::Outcome::Http2(back, read) => {
                expired.exempt();
                (io, prefix, http2) = (back, read, true);
            }
        }
    }
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let cx = cx.clone();
        async move {
            let (resp, recording) = if cx.clock.request_started() {
                (refuse_ambiguous_framing(&cx), None)
            } else {
                let limit = cx.shared.options.max_request_body;
                let http2 = cx.clock.is_exempt();
                // An HTTP/2 stream's idle timer is its own: it runs from the stream's start
                // and from each frame of its request body.
                let idle = cx.shared.options.stream_idle_timeout.filter(|_| http2);
                let activity = idle.map(|_| Activity::new());
                let mut req = req.map(|body| {
                    RequestBody::Incoming(
                        ClientBody::new(body, limit).with_activity(activity.clone()),
                    )
                });
                if let Some(activity) = &activity {
                    req.extensions_mut().insert(activity.clone());
                }
                let handling = handle(Box::new(req), &cx);
                let answered = match (idle, &activity) {
                    (Some(idle), Some(activity)) => {
                        let _awaiting = cx.clock.awaiting_head();
                        until_idle(handling, idle, activity).await
                    }
                    _ if http2 => Some(handling.await),
                    _ => until_stream_timeout(handling, &cx.clock).await,
                };
                match answered {
                    Some((resp, recording)) => (resp, Some(recording)),
                    // Recorded as the request was dropped (408, `SI`).
                    None => (crate::respond::stream_timeout(!http2), None),
                }
            };
            // The request stays in flight (and unrecorded) until its response body is written
            // (or dropped).
            let clock = cx.clock.clone();
            Ok::<_, Infallible>(resp.map(|body| InFlight::new(body, clock, recording)))
        }
    });
    let io = TokioIo::new(crate::tls::Replay::new(prefix, io));
    // Each codec's connection future has its own type; the drive logic is the same.
    macro_rules! drive {
        ($conn:expr) => {{
            let conn = $conn;
            tokio::pin!(conn);
            match until_drained(conn.as_mut(), &expired).await {
                Some(res) => res,
                None => {
                    if expired.is_expired() {
                        // A head timeout, not a drain: no request to finish, close now.
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        }};
    }
    let result = if http2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        h2_limits!(builder);
        drive!(builder.serve_connection(io, svc)).map_err(|e| e.to_string())
    } else {
        drive!(hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .max_header_size(MAX_REQUEST_HEAD)
            .serve_connection(io, svc)
            .with_upgrades())
        .map_err(|e| e.to_string())
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection error");
    }
    note_refusals(&expired, &shared, peer);
}

/// Counts a head refused for an unknown transfer coding (answered by [`Clocked`]).
fn note_refusals(clock: &ConnClock, shared: &crate::active::Shared, peer: std::net::SocketAddr) {
    if clock.refused_unknown_coding() {
        tracing::debug!(%peer, "request with an unknown transfer coding refused (501)");
        shared.count_refusal(crate::headers::Refusal::UnknownCoding);
    }
}

/// Drives `conn` until it ends (`Some`) or the connection's token is cancelled (`None`).
///
/// The connection is polled first. The token's future is polled once, which registers this
/// task's waker with it; on later wake-ups [`ConnClock::closing`] tells whether it was
/// cancelled, without a lock unless a drain or timeout has begun. (Polling the token's future
/// on every wake-up, as `select!` does, locks its waiter list each time: twice per proxied
/// request; so does `is_cancelled`.)
async fn until_drained<F: Future>(mut conn: Pin<&mut F>, clock: &ConnClock) -> Option<F::Output> {
    let mut cancelled = pin!(clock.token().cancelled());
    let mut registered = false;
    poll_fn(|cx| {
        if let Poll::Ready(out) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if clock.closing() {
            return Poll::Ready(None);
        }
        if !registered {
            registered = true;
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    })
    .await
}

/// Runs an HTTP/1 request's `handling` to its output, unless the stream idle timeout passes
/// first: then `None` (the caller answers 408, Envoy's answer when no response has begun), and
/// `handling` is dropped. The sweep cancels the connection's token after noting the timeout;
/// that wakes the connection, whose next poll of this future ends it.
async fn until_stream_timeout<F: Future>(handling: F, clock: &ConnClock) -> Option<F::Output> {
    let mut handling = pin!(handling);
    poll_fn(|cx| {
        if clock.stream_timed_out() {
            return Poll::Ready(None);
        }
        handling.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Runs an HTTP/2 stream's `handling` to its output, unless nothing moves on the stream for
/// `idle` (its request body's frames are its activity until the response begins): then `None`
/// (the caller answers 408 on the stream, as Envoy does), `activity` is marked expired and
/// `handling` is dropped. The connection's other streams go on.
async fn until_idle<F: Future>(
    handling: F,
    idle: std::time::Duration,
    activity: &Activity,
) -> Option<F::Output> {
    let mut handling = pin!(handling);
    let mut timer = pin!(tokio::time::sleep(idle));
    poll_fn(|cx| {
        if let Poll::Ready(out) = handling.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        while timer.as_mut().poll(cx).is_ready() {
            let due = activity.last() + idle;
            if due <= std::time::Instant::now() {
                activity.expire();
                return Poll::Ready(None);
            }
            timer.as_mut().reset(due.into());
        }
        Poll::Pending
    })
    .await
}

/// 400 and close for a head with both `Content-Length` and `Transfer-Encoding` (see
/// [`crate::framing`]); nothing is forwarded.
#[cold]
fn refuse_ambiguous_framing(cx: &ConnCx) -> hyper::Response<ResponseBody> {
    tracing::debug!(peer = %cx.peer, "request with both Content-Length and Transfer-Encoding refused");
    cx.shared
        .count_refusal(crate::headers::Refusal::AmbiguousFraming);
    let mut resp = crate::respond::text(hyper::StatusCode::BAD_REQUEST, "");
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    resp
}
