//! Responses the gateway makes itself: errors, redirects and direct responses.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;

/// A plain-text local reply.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let body = body.into();
    let mut resp = Response::new(ResponseBody::full(body.clone()));
    *resp.status_mut() = status;
    if !body.is_empty() {
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp
}

/// Envoy's answer to a request that moved no bytes for the stream idle timeout before its
/// response began: 408 `stream timeout`; an HTTP/1 connection is closed after it (`close`),
/// an HTTP/2 connection keeps serving its other streams.
pub fn stream_timeout(close: bool) -> Response<ResponseBody> {
    let mut resp = text(StatusCode::REQUEST_TIMEOUT, "stream timeout");
    if close {
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A redirect to `location` (which must be a valid header value).
pub fn redirect(status: StatusCode, location: &str) -> Response<ResponseBody> {
    let mut resp = text(status, Bytes::new());
    match HeaderValue::try_from(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
        }
        Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
    }
    resp
}

/// A gRPC "trailers-only" reply: HTTP 200 with `grpc-status` and `grpc-message` in the head.
pub fn grpc_status(code: u8, message: &'static str) -> Response<ResponseBody> {
    let mut resp = text(StatusCode::OK, Bytes::new());
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert("grpc-status", HeaderValue::from(u16::from(code)));
    h.insert("grpc-message", HeaderValue::from_static(message));
    resp
}
