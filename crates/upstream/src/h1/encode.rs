//! Request heads, written as HTTP/1.1.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Request};
use http_body::Body as _;

use crate::body::RequestBody;

/// Writes the request line and headers into `out`, adding framing for the body when the
/// request has none: `content-length` for a complete body, `transfer-encoding: chunked` for a
/// streamed one of unknown length. Returns whether the body must be sent chunked.
/// `req`'s own body is not looked at (the caller has taken it out).
pub fn head(req: &Request<RequestBody>, body: &RequestBody, out: &mut Vec<u8>) -> bool {
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    fields(req.headers(), out);
    let mut chunked = false;
    if !body.is_end_stream() && !req.headers().contains_key(CONTENT_LENGTH) {
        match body.size_hint().exact() {
            Some(n) => {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(n.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            None => {
                debug_assert!(!req.headers().contains_key(TRANSFER_ENCODING));
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                chunked = true;
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    chunked
}

/// Writes `name: value\r\n` for every header value.
pub fn fields(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}
