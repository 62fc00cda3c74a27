//! Keeping what a retry needs to send a request again: its head, and its body up to a bound.

use http::{HeaderMap, Method, Request, Uri, Version};
use http_body::Body as _;
use rampart_upstream::{Recording, RequestBody};

/// Request bodies up to this size are kept for retries and mirrors (Envoy's default
/// per-request buffer limit is of this order); a larger body is streamed and not retried.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A copy of a request to send again.
#[derive(Clone)]
pub struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Kept,
}

#[derive(Clone)]
enum Kept {
    Empty,
    Full(bytes::Bytes),
    Streamed(Recording),
}

impl Replay {
    /// Copies the head of `req` and arranges for its body to be recorded as it streams.
    pub fn prepare(req: &mut Request<RequestBody>) -> Self {
        let body = std::mem::replace(req.body_mut(), RequestBody::empty());
        let (kept, body) = match body {
            b if b.is_end_stream() => (Kept::Empty, b),
            RequestBody::Full(Some(bytes)) => {
                (Kept::Full(bytes.clone()), RequestBody::Full(Some(bytes)))
            }
            RequestBody::Incoming(incoming) => {
                let (recording, recorder) = Recording::new(BODY_LIMIT);
                (
                    Kept::Streamed(recording),
                    RequestBody::Recorded(incoming, recorder),
                )
            }
            other => (Kept::Empty, other),
        };
        *req.body_mut() = body;
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
            body: kept,
        }
    }

    /// The request again, if its whole body was kept.
    pub fn request(&mut self) -> Option<Request<RequestBody>> {
        let body = match &self.body {
            Kept::Empty => RequestBody::empty(),
            Kept::Full(bytes) => RequestBody::Full(Some(bytes.clone())),
            Kept::Streamed(recording) => RequestBody::Full(Some(recording.complete()?)),
        };
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        Some(req)
    }

    /// The request again once its body has been read to the end (a mirror's copy); `None`
    /// when the body was too large or never finished.
    pub async fn finished_request(mut self) -> Option<Request<RequestBody>> {
        if let Kept::Streamed(recording) = &self.body {
            self.body = Kept::Full(recording.finished().await?);
        }
        self.request()
    }

    /// Headers of the copy, to adjust before sending it.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
}
