//! Response heads and body framing (RFC 9112 §6), parsed with `httparse`.

use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Version};
use hyper::body::Frame;
use tokio::io::AsyncRead;

use super::{MAX_HEAD, READ_CHUNK};
use crate::error::Error;

/// Most response header lines accepted.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size line accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (HEAD, 1xx, 204, 304, `content-length: 0`).
    Empty,
    /// `content-length`: bytes still to read.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked(Chunk),
    /// Read until the upstream closes (no framing; the connection cannot be reused).
    UntilClose,
    /// `101 Switching Protocols`: the connection now belongs to the upgraded protocol.
    Upgrade,
    /// Read to the end.
    Done,
}

/// Position in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data: bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer fields or the final CRLF.
    Trailers,
}

/// Body framing and whether the connection may carry another request afterwards.
#[derive(Debug)]
pub struct Framing {
    /// Body delimitation.
    pub body: BodyKind,
    /// Keep-alive allowed by version and `Connection`.
    pub reusable: bool,
}

/// A failure reading the head; `received_any` tells whether the upstream sent anything at all.
#[derive(Debug)]
pub struct HeadError {
    /// The failure.
    pub error: Error,
    /// Whether any response byte arrived.
    pub received_any: bool,
}

/// Reads more bytes into `buf`; 0 means the peer closed.
pub async fn read_more<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    poll_fn(|cx| tokio_util::io::poll_read_buf(Pin::new(&mut *stream), cx, buf)).await
}

/// Reads until a final (non-1xx) response head is complete; informational responses are
/// skipped. Leaves any body bytes already received in `buf`. The response's fields are stored
/// in `fields`' allocation (the request's, spent once its head is written); `fields` is left
/// untouched until a whole head has arrived.
pub async fn read_head<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    head_request: bool,
    fields: &mut HeaderMap,
) -> Result<(Response<()>, Framing), HeadError> {
    let mut received_any = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            match parse_head(buf, head_request, fields) {
                Ok(Some((resp, _)))
                    if resp.status().is_informational()
                        && resp.status() != StatusCode::SWITCHING_PROTOCOLS =>
                {
                    continue;
                }
                Ok(Some(done)) => return Ok(done),
                Ok(None) if buf.len() >= MAX_HEAD => {
                    return Err(HeadError {
                        error: Error::Protocol("response head too large".into()),
                        received_any: true,
                    })
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(HeadError {
                        error,
                        received_any: true,
                    })
                }
            }
        }
        match read_more(stream, buf).await {
            Ok(0) => {
                let error = Error::Reset("upstream closed the connection before a response".into());
                return Err(HeadError {
                    error,
                    received_any,
                });
            }
            Ok(_) => received_any = true,
            Err(err) => {
                return Err(HeadError {
                    error: Error::Reset(err.into()),
                    received_any,
                })
            }
        }
    }
}

/// Parses one response head from the front of `buf` (consuming it), or `None` when incomplete.
/// The fields go into `fields`' allocation, which is cleared first (and left empty).
pub fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
    fields: &mut HeaderMap,
) -> Result<Option<(Response<()>, Framing)>, Error> {
    // Uninitialised header slots: zeroing 100 of them per response (and a span table) showed
    // up as 12% of all instructions (memset) in callgrind.
    let mut headers: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let len = match config.parse_response_with_uninit_headers(&mut parsed, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => {
            return Err(Error::Protocol(
                format!("invalid response head: {err}").into(),
            ))
        }
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| Error::Protocol(format!("invalid status {code}").into()))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Header positions within the head, so values can share its bytes once frozen.
    let mut spans = super::FieldSpans::new();
    super::field_spans(buf, parsed.headers, &mut spans);
    let head: Bytes = buf.split_to(len).freeze();
    let mut map = std::mem::take(fields);
    map.clear();
    map.reserve(spans.len());
    let mut fields = FramingFields::default();
    for &(ns, nl, vs, vl) in &spans {
        let (ns, nl, vs, vl) = (ns as usize, nl as usize, vs as usize, vl as usize);
        let name = super::field_name(&head[ns..ns + nl])
            .map_err(|_| Error::Protocol("invalid response header name".into()))?;
        let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl))
            .map_err(|_| Error::Protocol("invalid response header value".into()))?;
        if fields.note(&name, &value) {
            map.append(name, value);
        }
    }
    let framing = framing(status, version, &fields, head_request)?;
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    *resp.headers_mut() = map;
    Ok(Some((resp, framing)))
}

/// What the framing rules read from a head's fields, gathered while the fields are stored (so
/// no field is looked up again).
#[derive(Debug, Default)]
struct FramingFields {
    /// `Connection` lists `close`.
    close: bool,
    /// `Connection` lists `keep-alive`.
    keep_alive: bool,
    /// `Transfer-Encoding` present; whether its last coding is `chunked`.
    transfer_encoding: Option<bool>,
    /// `Content-Length`, its values all equal.
    content_length: Option<u64>,
    /// Why `Content-Length` is unusable (only an error when it frames the body).
    bad_length: Option<&'static str>,
}

impl FramingFields {
    /// Notes one field; returns whether it is passed on with the response. A `Connection`
    /// field that says only `close` or `keep-alive` concerns this connection alone, so it is
    /// consumed here (the proxy would strip it anyway); one naming other fields or `upgrade`
    /// is kept for the proxy to act on.
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) -> bool {
        if name == CONNECTION {
            // The usual values, without splitting.
            let whole = value.as_bytes();
            if whole.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
                return false;
            }
            if whole.eq_ignore_ascii_case(b"close") {
                self.close = true;
                return false;
            }
            let mut pass_on = value.to_str().is_err();
            for token in tokens(value) {
                let close = token.eq_ignore_ascii_case("close");
                let keep_alive = token.eq_ignore_ascii_case("keep-alive");
                self.close |= close;
                self.keep_alive |= keep_alive;
                pass_on |= !close && !keep_alive && !token.is_empty();
            }
            return pass_on;
        } else if name == TRANSFER_ENCODING {
            // Across several fields, the last coding of the last one counts.
            let last = tokens(value).last();
            let chunked = last.is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
            self.transfer_encoding = Some(chunked);
        } else if name == CONTENT_LENGTH {
            for part in value.as_bytes().split(|&b| b == b',') {
                match super::content_length(part.trim_ascii()) {
                    None => self.bad_length = Some("invalid content-length"),
                    Some(n) if self.content_length.is_some_and(|l| l != n) => {
                        self.bad_length = Some("conflicting content-length values");
                    }
                    Some(n) => self.content_length = Some(n),
                }
            }
        }
        true
    }
}

/// The comma-separated tokens of a field value, trimmed (none if it is not text).
fn tokens(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .ok()
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// RFC 9112 §6.3 message body length.
fn framing(
    status: StatusCode,
    version: Version,
    fields: &FramingFields,
    head_request: bool,
) -> Result<Framing, Error> {
    let reusable = if version == Version::HTTP_11 {
        !fields.close
    } else {
        fields.keep_alive
    };
    let body = if status == StatusCode::SWITCHING_PROTOCOLS {
        BodyKind::Upgrade
    } else if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        BodyKind::Empty
    } else if let Some(last_is_chunked) = fields.transfer_encoding {
        match last_is_chunked {
            true => BodyKind::Chunked(Chunk::Size),
            false => BodyKind::UntilClose,
        }
    } else if let Some(why) = fields.bad_length {
        return Err(Error::Protocol(why.into()));
    } else {
        match fields.content_length {
            Some(0) => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
            None => BodyKind::UntilClose,
        }
    };
    Ok(Framing {
        body,
        // A body delimited by the connection's close, or a connection handed over to another
        // protocol, leaves nothing to reuse.
        reusable: reusable && !matches!(body, BodyKind::UntilClose | BodyKind::Upgrade),
    })
}

/// One decoding step over buffered bytes.
#[derive(Debug)]
pub enum Step {
    /// A frame to hand on.
    Frame(Frame<Bytes>),
    /// More bytes are needed.
    NeedMore,
    /// The body is complete.
    Done,
}

/// Decodes the next frame of a body from `buf`, updating `kind`.
pub fn step(kind: &mut BodyKind, buf: &mut BytesMut) -> Result<Step, Error> {
    loop {
        match kind {
            BodyKind::Empty | BodyKind::Done | BodyKind::Upgrade => {
                *kind = if *kind == BodyKind::Upgrade {
                    BodyKind::Upgrade
                } else {
                    BodyKind::Done
                };
                return Ok(Step::Done);
            }
            BodyKind::Length(left) => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let take = (*left).min(buf.len() as u64) as usize;
                let data = buf.split_to(take).freeze();
                *left -= take as u64;
                if *left == 0 {
                    *kind = BodyKind::Done;
                }
                return Ok(Step::Frame(Frame::data(data)));
            }
            BodyKind::UntilClose => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                return Ok(Step::Frame(Frame::data(buf.split().freeze())));
            }
            BodyKind::Chunked(state) => match *state {
                Chunk::Size => {
                    let Some(end) = find_crlf(buf) else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(Error::Protocol("chunk size line too long".into()));
                        }
                        return Ok(Step::NeedMore);
                    };
                    let line = std::str::from_utf8(&buf[..end]).map_err(|_| bad_chunk())?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(hex, 16).map_err(|_| bad_chunk())?;
                    buf.advance(end + 2);
                    *state = if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = left.min(buf.len() as u64) as usize;
                    let data = buf.split_to(take).freeze();
                    *state = if left == take as u64 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - take as u64)
                    };
                    return Ok(Step::Frame(Frame::data(data)));
                }
                Chunk::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(bad_chunk());
                    }
                    buf.advance(2);
                    *state = Chunk::Size;
                }
                Chunk::Trailers => {
                    if buf.len() >= 2 && &buf[..2] == b"\r\n" {
                        buf.advance(2);
                        *kind = BodyKind::Done;
                        return Ok(Step::Done);
                    }
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if buf.len() > MAX_HEAD {
                            return Err(Error::Protocol("trailers too large".into()));
                        }
                        return Ok(Step::NeedMore);
                    };
                    let section = buf.split_to(end + 4).freeze();
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let trailers = match httparse::parse_headers(&section, &mut headers) {
                        Ok(httparse::Status::Complete((_, fields))) => {
                            let mut map = HeaderMap::new();
                            for f in fields {
                                if let (Ok(n), Ok(v)) = (
                                    HeaderName::from_bytes(f.name.as_bytes()),
                                    HeaderValue::from_bytes(f.value),
                                ) {
                                    map.append(n, v);
                                }
                            }
                            map
                        }
                        _ => return Err(Error::Protocol("invalid trailers".into())),
                    };
                    *kind = BodyKind::Done;
                    return Ok(Step::Frame(Frame::trailers(trailers)));
                }
            },
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn bad_chunk() -> Error {
    Error::Protocol("invalid chunked encoding".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<(Response<()>, Framing), Error> {
        let mut buf = BytesMut::from(head.as_bytes());
        parse_head(&mut buf, false, &mut HeaderMap::new()).map(|done| done.expect("complete"))
    }

    #[test]
    fn content_length_is_digits_repeated_alike_or_an_error_when_it_frames() {
        let length = |value: &str| {
            parse(&format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {value}\r\n\r\n"
            ))
            .map(|(_, f)| f.body)
            .map_err(|e| format!("{e:?}"))
        };
        assert_eq!(length("5"), Ok(BodyKind::Length(5)));
        assert_eq!(length("0"), Ok(BodyKind::Empty));
        assert_eq!(length("5, 5"), Ok(BodyKind::Length(5)));
        assert_eq!(
            length("18446744073709551615"),
            Ok(BodyKind::Length(u64::MAX))
        );
        for bad in ["+5", "-1", "5 5", "0x10", "", "18446744073709551616"] {
            assert!(
                length(bad).is_err_and(|e| e.contains("invalid content-length")),
                "{bad}: {:?}",
                length(bad)
            );
        }
        assert!(length("5, 6").is_err_and(|e| e.contains("conflicting")));
    }

    #[test]
    fn connection_keep_alive_and_close_are_consumed_other_tokens_passed_on() {
        let (resp, framing) =
            parse("HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        assert!(framing.reusable && !resp.headers().contains_key(CONNECTION));
        let (resp, framing) =
            parse("HTTP/1.1 200 OK\r\nconnection: CLOSE\r\ncontent-length: 0\r\n\r\n").unwrap();
        assert!(!framing.reusable && !resp.headers().contains_key(CONNECTION));
        let (resp, framing) =
            parse("HTTP/1.1 200 OK\r\nconnection: close, x-hop\r\nx-hop: 1\r\n\r\n").unwrap();
        assert!(!framing.reusable);
        assert_eq!(resp.headers()[CONNECTION], "close, x-hop");
    }
}
