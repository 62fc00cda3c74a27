//! Responses written by the gateway's own HTTP/1.1 codec, framed as hyper frames them (so that
//! a client sees the same bytes whichever codec served its request):
//! - the status line, then the fields in map order, names lower-case;
//! - `Content-Length` from the field when present, else from the body's exact size, else
//!   `Transfer-Encoding: chunked` (a `Transfer-Encoding` field of the response is dropped: the
//!   codec frames the body); none for HEAD, 204 and 304 answers, which carry no body;
//! - repeated fields on lines of their own (hyper joins `Connection` and `Trailer` values into
//!   one line; both forms mean the same);
//! - `Connection: close` when the client asked for it (or the gateway drains);
//! - `Date` when the response has none;
//! - trailers only when chunked and named in the `Trailer` field.
//!
//! The head and the body's bytes already available go out in one write.

use std::cell::RefCell;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::parse::Facts;
use crate::body::ResponseBody;
use crate::request::Recording;

/// Buffered response bytes written out at once past this size.
const FLUSH_AT: usize = 64 * 1024;
/// Data frames larger than this are written from their own buffer, not copied.
const COPY_UP_TO: usize = 16 * 1024;

/// How the body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `Content-Length`: bytes still to send.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (a body of unknown length that cannot be chunked).
    UntilClose,
}

/// How writing a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// Written whole; the connection may carry another request (if the head allows it).
    Reusable,
    /// Written whole, delimited by closing the connection.
    UntilClose,
    /// The response could not be finished: its body failed, or ran short of or past its
    /// declared length.
    Cut,
    /// The client's end of the connection failed while it was written.
    ClientGone,
}

impl Sent {
    /// What this ending adds to the request's response flags.
    fn flag(self) -> Option<rampart_telemetry::ResponseFlag> {
        use rampart_telemetry::ResponseFlag;
        match self {
            Self::Reusable | Self::UntilClose => None,
            Self::Cut => Some(ResponseFlag::UpstreamConnectionTermination),
            Self::ClientGone => Some(ResponseFlag::DownstreamConnectionTermination),
        }
    }
}

/// Writes `resp`; returns whether the connection may carry another request. `out` is the
/// connection's write buffer; the response's field map is left empty in `recycled` for the next
/// request head. The request's `recording` is finished once the response's last bytes are
/// handed to the connection (before that last write, as Envoy counts a stream complete once it
/// has encoded its end), or once writing fails.
pub(super) async fn response<S: AsyncWrite + Unpin>(
    io: &mut S,
    out: &mut Vec<u8>,
    resp: Response<ResponseBody>,
    facts: Facts,
    draining: bool,
    recycled: &mut HeaderMap,
    mut recording: Option<Recording>,
) -> bool {
    let (mut parts, mut body) = resp.into_parts();
    let length = if body.is_end_stream() {
        None
    } else {
        Some(body.size_hint().exact())
    };
    let Some(head) = encode_head(
        out,
        parts.status,
        &mut parts.headers,
        length,
        facts,
        draining,
    ) else {
        // A response hyper would refuse to write (conflicting lengths): close without one.
        *recycled = std::mem::take(&mut parts.headers);
        recycled.clear();
        out.clear();
        finish(&mut recording, Sent::Cut);
        return false;
    };
    *recycled = parts.headers;
    let sent = match head.framing {
        Framing::Length(0) => {
            drop(body);
            finish(&mut recording, Sent::Reusable);
            match flush(io, out).await {
                Ok(()) => Sent::Reusable,
                Err(_) => Sent::ClientGone,
            }
        }
        framing => write_body(io, out, &mut body, framing, &head.trailers, &mut recording).await,
    };
    finish(&mut recording, sent);
    if out.capacity() > FLUSH_AT {
        *out = Vec::with_capacity(1024);
    }
    sent == Sent::Reusable && head.keep_alive
}

/// Records the request (once), with the flag `sent` implies.
fn finish(recording: &mut Option<Recording>, sent: Sent) {
    if let Some(recording) = recording.take() {
        recording.finish(sent.flag());
    }
}

/// What the head decided about the rest of the exchange.
struct Head {
    framing: Framing,
    keep_alive: bool,
    /// Trailer fields the `Trailer` field allows (chunked responses only).
    trailers: Vec<HeaderName>,
}

/// Encodes the status line and fields into `out`, draining `headers`. `length` is `None` for
/// an empty body, else the body's exact size if known. `None` when the fields contradict
/// themselves (`Content-Length` values that differ, or one that is not a number while the body
/// has no known size).
fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &mut HeaderMap,
    length: Option<Option<u64>>,
    facts: Facts,
    draining: bool,
) -> Option<Head> {
    let may_chunk = !facts.head && may_have_length(status);
    let mut head = Head {
        framing: Framing::Length(0),
        keep_alive: !facts.close && !draining,
        trailers: Vec::new(),
    };
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Set once a `Content-Length` field is written: it frames the body.
    let mut framed = false;
    let mut date = false;
    let mut close_sent = false;
    let mut name: Option<HeaderName> = None;
    for (next, value) in headers.drain() {
        if let Some(next) = next {
            name = Some(next);
        }
        let Some(name) = name.as_ref() else { continue };
        match *name {
            header::CONTENT_LENGTH => {
                match length {
                    // Known size: the first field is written, repeats dropped.
                    Some(Some(known)) if !framed => head.framing = Framing::Length(known),
                    // Unknown size: the field frames the body; repeats must agree.
                    Some(None) => {
                        let declared = std::str::from_utf8(value.as_bytes())
                            .ok()
                            .and_then(|v| v.parse::<u64>().ok())?;
                        match head.framing {
                            Framing::Length(prev) if framed && prev != declared => return None,
                            _ if framed => continue,
                            _ => head.framing = Framing::Length(declared),
                        }
                    }
                    // No body: a HEAD answer keeps the length a GET would have.
                    None if facts.head && !framed => {}
                    _ => continue,
                }
                framed = true;
            }
            // Framing is this codec's to choose (the proxy strips the upstream's anyway).
            header::TRANSFER_ENCODING => continue,
            header::CONNECTION if has_token(&value, b"close") => {
                head.keep_alive = false;
                close_sent = true;
            }
            header::TRAILER => {
                if !may_chunk {
                    continue;
                }
                let names = value.to_str().unwrap_or("").split(',');
                head.trailers
                    .extend(names.filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()));
            }
            header::DATE => date = true,
            _ => {}
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !framed {
        head.framing = match length {
            Some(None) if may_chunk => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                Framing::Chunked
            }
            Some(None) => Framing::UntilClose,
            None | Some(Some(0)) => {
                if may_have_length(status) && !facts.head {
                    out.extend_from_slice(b"content-length: 0\r\n");
                }
                Framing::Length(0)
            }
            Some(Some(n)) => {
                if may_have_length(status) {
                    out.extend_from_slice(b"content-length: ");
                    out.extend_from_slice(crate::headers::decimal(n, &mut [0; 20]));
                    out.extend_from_slice(b"\r\n");
                    Framing::Length(n)
                } else {
                    Framing::Length(0)
                }
            }
        };
    }
    if !may_chunk {
        // HEAD, 204 and 304 answers carry no body, whatever their fields say.
        head.framing = Framing::Length(0);
    }
    if head.framing == Framing::UntilClose || status.is_informational() {
        // An unrequested 101 (upgrades are hyper's) leaves the connection in an unknown state.
        head.keep_alive = false;
    }
    if !head.keep_alive && !close_sent && (facts.close || draining) {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if !date {
        out.extend_from_slice(b"date: ");
        append_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if head.framing != Framing::Chunked {
        head.trailers.clear();
    }
    Some(head)
}

/// Whether a response with this status may carry framing fields and a body (not 1xx, 204, 304).
fn may_have_length(status: StatusCode) -> bool {
    !status.is_informational()
        && status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
}

fn has_token(value: &HeaderValue, token: &[u8]) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Streams the body after the head in `out`; how that ended.
async fn write_body<S: AsyncWrite + Unpin>(
    io: &mut S,
    out: &mut Vec<u8>,
    body: &mut ResponseBody,
    mut framing: Framing,
    allowed_trailers: &[HeaderName],
    recording: &mut Option<Recording>,
) -> Sent {
    let mut trailers = None;
    loop {
        let frame = match poll_now(body) {
            Some(frame) => frame,
            None => {
                // Nothing more yet: send what is buffered, then wait.
                if flush(io, out).await.is_err() {
                    return Sent::ClientGone;
                }
                body.frame().await
            }
        };
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            // The response cannot be finished: the client sees the connection close early.
            Some(Err(_)) => return Sent::Cut,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                trailers = frame.into_trailers().ok();
                continue;
            }
        };
        if data.is_empty() {
            continue;
        }
        let data = match &mut framing {
            Framing::Length(left) => {
                // Never more than declared (hyper cuts the excess too); the connection then
                // cannot be trusted with another request.
                let take = (*left).min(data.len() as u64);
                *left -= take;
                if take < data.len() as u64 {
                    if let Some(recording) = recording.as_mut() {
                        recording.sent(take as usize);
                    }
                    send(io, out, data.slice(..take as usize)).await;
                    let _ = flush(io, out).await;
                    return Sent::Cut;
                }
                data
            }
            Framing::Chunked => {
                out.extend_from_slice(format_args_hex(data.len(), &mut [0; 16]));
                out.extend_from_slice(b"\r\n");
                data
            }
            Framing::UntilClose => data,
        };
        if let Some(recording) = recording.as_mut() {
            recording.sent(data.len());
        }
        if !send(io, out, data).await {
            return Sent::ClientGone;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
    }
    let sent = match framing {
        Framing::Length(0) => Sent::Reusable,
        Framing::Length(_) => Sent::Cut,
        Framing::Chunked => {
            out.extend_from_slice(b"0\r\n");
            if let Some(trailers) = trailers {
                write_trailers(out, &trailers, allowed_trailers);
            }
            out.extend_from_slice(b"\r\n");
            Sent::Reusable
        }
        Framing::UntilClose => Sent::UntilClose,
    };
    finish(recording, sent);
    match flush(io, out).await {
        Ok(()) => sent,
        Err(_) => Sent::ClientGone,
    }
}

/// Trailer fields named in the `Trailer` field, less those that may not be trailers.
fn write_trailers(out: &mut Vec<u8>, trailers: &HeaderMap, allowed: &[HeaderName]) {
    for (name, value) in trailers {
        if allowed.contains(name) && may_trail(name) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Fields that must not be sent as trailers (RFC 9110 §6.5.1; hyper's list).
fn may_trail(name: &HeaderName) -> bool {
    !matches!(
        *name,
        header::AUTHORIZATION
            | header::CACHE_CONTROL
            | header::CONTENT_ENCODING
            | header::CONTENT_LENGTH
            | header::CONTENT_RANGE
            | header::CONTENT_TYPE
            | header::HOST
            | header::MAX_FORWARDS
            | header::SET_COOKIE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::TE
    )
}

fn format_args_hex(n: usize, digits: &mut [u8; 16]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Queues `data` behind the buffered bytes: copied when small, else written from its own
/// buffer after them. Whether the writes succeeded.
async fn send<S: AsyncWrite + Unpin>(io: &mut S, out: &mut Vec<u8>, data: Bytes) -> bool {
    if data.len() <= COPY_UP_TO {
        out.extend_from_slice(&data);
        return out.len() < FLUSH_AT || flush(io, out).await.is_ok();
    }
    flush(io, out).await.is_ok() && io.write_all(&data).await.is_ok()
}

/// Writes the buffered bytes and flushes (a TLS stream holds records until flushed).
async fn flush<S: AsyncWrite + Unpin>(io: &mut S, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    io.flush().await
}

/// The body's next frame if it is ready now, without waiting.
#[allow(clippy::type_complexity)]
fn poll_now(
    body: &mut ResponseBody,
) -> Option<Option<Result<Frame<Bytes>, rampart_upstream::error::BoxError>>> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Ready(frame) => Some(frame),
        Poll::Pending => None,
    }
}

thread_local! {
    /// The current second and its IMF-fixdate (`Date` values change once a second).
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((0, [0; 29])) };
}

/// Appends the current time as an HTTP date.
fn append_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != secs {
            let mut cursor = &mut text[..];
            let _ = write!(cursor, "{}", httpdate::HttpDate::from(now));
            *at = secs;
        }
        out.extend_from_slice(text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        status: u16,
        fields: &[(&str, &str)],
        length: Option<Option<u64>>,
        facts: Facts,
    ) -> Option<(String, Framing, bool)> {
        let mut headers = HeaderMap::new();
        for (k, v) in fields {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut out = Vec::new();
        let status = StatusCode::from_u16(status).unwrap();
        let head = encode_head(&mut out, status, &mut headers, length, facts, false)?;
        let text = String::from_utf8(out).unwrap();
        // The date changes; keep its shape only.
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with("date: ") {
                    "date: *"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        Some((text, head.framing, head.keep_alive))
    }

    const GET: Facts = Facts {
        head: false,
        close: false,
    };

    #[test]
    fn known_lengths_come_from_the_field_or_the_body() {
        let (text, framing, keep) = head(
            200,
            &[("content-length", "5"), ("x-a", "1")],
            Some(Some(5)),
            GET,
        )
        .unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\ncontent-length: 5\nx-a: 1\ndate: *\n"
        );
        assert_eq!((framing, keep), (Framing::Length(5), true));
        let (text, framing, _) = head(404, &[], Some(Some(9)), GET).unwrap();
        assert_eq!(text, "HTTP/1.1 404 Not Found\ncontent-length: 9\ndate: *\n");
        assert_eq!(framing, Framing::Length(9));
    }

    #[test]
    fn unknown_lengths_are_chunked_and_empty_bodies_say_zero() {
        let (text, framing, _) = head(200, &[], Some(None), GET).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\ntransfer-encoding: chunked\ndate: *\n"
        );
        assert_eq!(framing, Framing::Chunked);
        let (text, framing, _) =
            head(200, &[("content-length", "0"), ("date", "x")], None, GET).unwrap();
        // The response's own date is kept, and no second one is added.
        assert_eq!(text, "HTTP/1.1 200 OK\ndate: *\ncontent-length: 0\n");
        assert_eq!(framing, Framing::Length(0));
    }

    #[test]
    fn head_204_and_304_answers_have_no_body() {
        let facts = Facts {
            head: true,
            close: false,
        };
        let (text, framing, _) = head(200, &[("content-length", "42")], None, facts).unwrap();
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 42\ndate: *\n");
        assert_eq!(framing, Framing::Length(0));
        let (text, framing, _) = head(204, &[], Some(None), GET).unwrap();
        assert_eq!(text, "HTTP/1.1 204 No Content\ndate: *\n");
        assert_eq!(framing, Framing::Length(0));
        let (_, framing, _) = head(304, &[("etag", "\"a\"")], Some(Some(3)), GET).unwrap();
        assert_eq!(framing, Framing::Length(0));
    }

    #[test]
    fn close_is_announced_when_the_client_or_a_drain_asks() {
        let facts = Facts {
            head: false,
            close: true,
        };
        let (text, _, keep) = head(200, &[], None, facts).unwrap();
        assert!(!keep);
        assert!(text.contains("connection: close\n"), "{text}");
        let (text, _, keep) = head(200, &[("connection", "close")], None, GET).unwrap();
        assert!(!keep);
        assert_eq!(text.matches("connection: close").count(), 1, "{text}");
    }

    #[test]
    fn the_codec_frames_the_body_and_repeated_fields_keep_their_lines() {
        let fields = [
            ("transfer-encoding", "gzip"),
            ("connection", "x-a"),
            ("connection", "close"),
            ("x-a", "1"),
        ];
        let (text, framing, keep) = head(200, &fields, Some(None), GET).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\nconnection: x-a\nconnection: close\nx-a: 1\n\
             transfer-encoding: chunked\ndate: *\n"
        );
        assert_eq!((framing, keep), (Framing::Chunked, false));
        let repeated = [("content-length", "5"), ("content-length", "5")];
        let (text, framing, _) = head(200, &repeated, Some(None), GET).unwrap();
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 5\ndate: *\n");
        assert_eq!(framing, Framing::Length(5));
    }

    #[test]
    fn an_informational_answer_ends_the_connection() {
        let (text, framing, keep) = head(101, &[], None, GET).unwrap();
        assert_eq!(text, "HTTP/1.1 101 Switching Protocols\ndate: *\n");
        assert_eq!((framing, keep), (Framing::Length(0), false));
    }

    #[test]
    fn conflicting_lengths_are_refused() {
        assert!(head(
            200,
            &[("content-length", "5"), ("content-length", "6")],
            Some(None),
            GET
        )
        .is_none());
        assert!(head(200, &[("content-length", "x")], Some(None), GET).is_none());
    }

    #[test]
    fn chunk_sizes_are_lower_case_hex() {
        assert_eq!(format_args_hex(0, &mut [0; 16]), b"0");
        assert_eq!(format_args_hex(255, &mut [0; 16]), b"ff");
        assert_eq!(format_args_hex(4096, &mut [0; 16]), b"1000");
    }
}
