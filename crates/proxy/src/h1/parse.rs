//! Request heads for the gateway's own HTTP/1.1 codec, parsed with `httparse` (as hyper does),
//! then either taken (a request this codec serves) or declined (hyper's codec takes the
//! connection, the head unread).
//!
//! Taken: HTTP/1.1, not `CONNECT`, no `Transfer-Encoding`, at most one `Content-Length` of plain
//! digits whose body has already arrived whole with the head, no `Expect`, no `Upgrade` (nor
//! `Connection: upgrade`), head within the size limits. Everything else (bodies still arriving,
//! chunked framing, 100-continue, upgrades, HTTP/1.0, malformed heads and their 400/431/414
//! answers) is hyper's, unchanged.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};
use rampart_upstream::h1::{content_length, field_name, field_spans, FieldSpan, FieldSpans};
use rampart_upstream::RequestBody;

use crate::codec::{MAX_HEADERS, MAX_REQUEST_HEAD};
use crate::request::ClientRequest;

/// Longest request target taken (hyper answers 414 past `u16::MAX - 1`).
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;

/// Result of looking at the buffered bytes.
#[derive(Debug)]
pub(super) enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// A request this codec serves; its head was consumed from the buffer.
    Taken(ClientRequest, Facts),
    /// A request for hyper's codec; the buffer still starts with its head.
    Declined,
}

/// What the head says about the exchange.
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts {
    /// `HEAD`: the response has no body.
    pub head: bool,
    /// `Connection: close`: the connection ends after the response.
    pub close: bool,
}

/// Parses the request head at the front of `buf`, filling `headers` (empty, kept from an
/// earlier message so that its allocation is reused).
pub(super) fn parse(buf: &mut BytesMut, headers: &mut HeaderMap) -> Parsed {
    let mut slots: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_HEAD => return Parsed::Partial,
        // Too large, too many fields, or malformed: hyper answers.
        _ => return Parsed::Declined,
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Declined;
    };
    if len > MAX_REQUEST_HEAD || path.len() > MAX_URI_LEN {
        return Parsed::Declined;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Declined;
    };
    if method == Method::CONNECT {
        return Parsed::Declined;
    }
    let path_span = (path.as_ptr() as usize - buf.as_ptr() as usize, path.len());
    let mut spans = FieldSpans::new();
    field_spans(buf, req.headers, &mut spans);
    let head = buf.split_to(len).freeze();
    match build(&head, path_span, &spans, headers) {
        // A body is taken only when it has arrived whole with its head.
        Some((uri, close, length)) if length <= buf.len() as u64 => {
            let body = match length {
                0 => RequestBody::empty(),
                n => RequestBody::Full(Some(buf.split_to(n as usize).freeze())),
            };
            let mut request = Box::new(Request::new(body));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri;
            *request.version_mut() = Version::HTTP_11;
            std::mem::swap(request.headers_mut(), headers);
            let facts = Facts {
                head: method == Method::HEAD,
                close,
            };
            Parsed::Taken(request, facts)
        }
        _ => {
            headers.clear();
            unread(buf, &head);
            Parsed::Declined
        }
    }
}

/// The request target and fields from `head`; `None` when the request is not one this codec
/// serves. Also returns whether the client asked to close, and the body's length.
fn build(
    head: &Bytes,
    (path_at, path_len): (usize, usize),
    spans: &[FieldSpan],
    headers: &mut HeaderMap,
) -> Option<(Uri, bool, u64)> {
    let uri = Uri::from_maybe_shared(head.slice(path_at..path_at + path_len)).ok()?;
    let mut close = false;
    let mut length = None;
    headers.reserve(spans.len());
    for &(name_at, name_len, value_at, value_len) in spans {
        let (name_at, name_len) = (name_at as usize, name_len as usize);
        let (value_at, value_len) = (value_at as usize, value_len as usize);
        let name = field_name(&head[name_at..name_at + name_len]).ok()?;
        let value =
            HeaderValue::from_maybe_shared(head.slice(value_at..value_at + value_len)).ok()?;
        match name {
            CONTENT_LENGTH => {
                // Plain digits, once: anything else (repeats, lists, signs, spaces, overflow)
                // is hyper's to judge.
                if length.is_some() {
                    return None;
                }
                length = Some(content_length(value.as_bytes())?);
            }
            TRANSFER_ENCODING | EXPECT | UPGRADE => return None,
            CONNECTION => {
                for token in value.as_bytes().split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"upgrade") {
                        return None;
                    }
                    close |= token.eq_ignore_ascii_case(b"close");
                }
            }
            _ => {}
        }
        headers.append(name, value);
    }
    Some((uri, close, length.unwrap_or(0)))
}

/// Puts a consumed head back in front of the buffered bytes (a declined request: rare, once per
/// connection at most).
#[cold]
fn unread(buf: &mut BytesMut, head: &[u8]) {
    let mut restored = BytesMut::with_capacity(head.len() + buf.len());
    restored.extend_from_slice(head);
    restored.extend_from_slice(buf);
    *buf = restored;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Header lines from which heads are built: framing and hop-by-hop fields in odd spellings,
    /// ordinary fields, and malformed lines.
    const LINES: &[&str] = &[
        "Host: a",
        "content-length: 0",
        "Content-Length: 7",
        "CONTENT-LENGTH:0",
        "Content-Length: 00",
        "Transfer-Encoding: chunked",
        "transfer-encoding: gzip, chunked",
        "Expect: 100-continue",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Connection: close",
        "connection: keep-alive, CLOSE",
        "TE: trailers",
        "X-Forwarded-For: 1.2.3.4",
        "x_underscore: 1",
        " leading-space: 1",
        "Bad\x01Name: 1",
        "Folded: a\r\n b",
        "Empty:",
    ];

    proptest! {
        /// Whatever the head, parsing never panics; a declined or partial head leaves every byte
        /// in place for hyper; a taken one is HTTP/1.1 with no body framing, expectation or
        /// upgrade, and exactly its head was consumed.
        #[test]
        fn heads_are_taken_only_when_bodiless_and_otherwise_left_intact(
            method in prop::sample::select(vec!["GET", "HEAD", "POST", "DELETE", "CONNECT", "G\x01T"]),
            target in prop::sample::select(vec!["/", "/a?b=c", "http://h/p", "*", "/sp ace", ""]),
            version in prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 "]),
            lines in prop::collection::vec(prop::sample::select(LINES.to_vec()), 0..6),
            complete in any::<bool>(),
            rest in "[a-zA-Z ]{0,8}",
        ) {
            let mut text = format!("{method} {target} {version}\r\n");
            for line in &lines {
                text.push_str(line);
                text.push_str("\r\n");
            }
            if complete {
                text.push_str("\r\n");
            }
            let head_len = text.len();
            text.push_str(&rest);
            let (parsed, left) = parse_str(&text);
            match parsed {
                Parsed::Partial | Parsed::Declined => prop_assert_eq!(&left[..], text.as_bytes()),
                Parsed::Taken(req, facts) => {
                    prop_assert!(complete);
                    prop_assert_eq!(req.version(), Version::HTTP_11);
                    prop_assert!(req.method() != Method::CONNECT);
                    let h = req.headers();
                    for name in [TRANSFER_ENCODING, EXPECT, UPGRADE] {
                        prop_assert!(!h.contains_key(&name), "{text:?}");
                    }
                    prop_assert!(h.get_all(CONTENT_LENGTH).iter().count() <= 1);
                    let declared: usize = h
                        .get(CONTENT_LENGTH)
                        .map_or(0, |v| v.to_str().unwrap().trim().parse().unwrap());
                    // The body is the declared bytes right after the head, and nothing more.
                    let body = match req.body() {
                        RequestBody::Full(b) => b.clone().unwrap_or_default(),
                        other => panic!("unexpected body {other:?}"),
                    };
                    prop_assert_eq!(&body[..], &text.as_bytes()[head_len..head_len + declared]);
                    prop_assert_eq!(facts.head, req.method() == Method::HEAD);
                    prop_assert_eq!(&left[..], &text.as_bytes()[head_len + declared..]);
                }
            }
        }
    }

    fn parse_str(text: &str) -> (Parsed, BytesMut) {
        let mut buf = BytesMut::from(text);
        let mut headers = HeaderMap::new();
        (parse(&mut buf, &mut headers), buf)
    }

    #[test]
    fn a_bodiless_http11_request_is_taken_and_its_head_consumed() {
        let (parsed, rest) =
            parse_str("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\nGET /next");
        let Parsed::Taken(req, facts) = parsed else {
            panic!("expected a taken request, got {parsed:?}");
        };
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri(), "/a?b=1");
        assert_eq!(req.headers()["host"], "x");
        assert!(facts.close && !facts.head);
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn a_body_that_arrived_with_its_head_is_taken_with_it() {
        let (parsed, rest) =
            parse_str("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /next");
        let Parsed::Taken(req, _) = parsed else {
            panic!("expected a taken request, got {parsed:?}");
        };
        assert!(matches!(req.body(), RequestBody::Full(Some(b)) if b == "hello"));
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn an_incomplete_head_waits_for_more() {
        assert!(matches!(
            parse_str("GET / HTTP/1.1\r\nHost: x\r\n").0,
            Parsed::Partial
        ));
    }

    #[test]
    fn requests_for_hypers_codec_are_declined_with_their_bytes_intact() {
        for text in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, upgrade\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: x\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                .replace("Host: x", &"a: b\r\n".repeat(MAX_HEADERS + 1))
                .as_str(),
        ] {
            let (parsed, rest) = parse_str(text);
            assert!(matches!(parsed, Parsed::Declined), "{text:?}: {parsed:?}");
            assert_eq!(&rest[..], text.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn an_oversized_head_is_declined_even_when_incomplete() {
        let text = format!("GET / HTTP/1.1\r\nx: {}", "a".repeat(MAX_REQUEST_HEAD));
        assert!(matches!(parse_str(&text).0, Parsed::Declined));
    }

    #[test]
    fn head_requests_are_noted() {
        let Parsed::Taken(_, facts) = parse_str("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").0 else {
            panic!("expected a taken request");
        };
        assert!(facts.head && !facts.close);
    }
}
