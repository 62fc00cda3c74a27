//! Access logging on the request path: what is known when the request arrives is captured
//! then; the rest (status, flags, upstream, bytes, duration) when the response ends, by a body
//! wrapper that writes the line once, at the end of the body or when it is dropped. Nothing here
//! runs when access logging is off.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{HOST, USER_AGENT};
use http::{HeaderValue, Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use rampart_telemetry::{AccessLog, AccessLogEntry, ResponseFlags};

use crate::body::ResponseBody;

/// What the forwarding step tells the log (a response extension, set only when logging).
#[derive(Clone, Debug)]
pub struct UpstreamInfo {
    /// Endpoint of the last attempt.
    pub host: SocketAddr,
    /// Cluster name.
    pub cluster: Arc<str>,
    /// Attempts (1 + retries).
    pub attempts: u32,
    /// `x-request-id` as sent upstream.
    pub request_id: Option<HeaderValue>,
}

fn text(v: Option<&HeaderValue>) -> Option<String> {
    v.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The request's part of the entry.
pub fn begin<B>(
    req: &Request<B>,
    peer: SocketAddr,
    tls: Option<&crate::tls::TlsInfo>,
) -> Box<AccessLogEntry> {
    let h = req.headers();
    Box::new(AccessLogEntry {
        start: Some(SystemTime::now()),
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.to_string()),
        protocol: match req.version() {
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
        forwarded_for: text(h.get("x-forwarded-for")),
        user_agent: text(h.get(USER_AGENT)),
        request_id: text(h.get("x-request-id")),
        authority: text(h.get(HOST))
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default(),
        downstream_remote: peer.to_string(),
        requested_server_name: tls.and_then(|t| t.sni.as_deref().map(str::to_owned)),
        tls_version: tls.map(|t| t.version),
        tls_cipher: tls.map(|t| t.cipher),
        ..AccessLogEntry::default()
    })
}

/// Completes the entry with the response and wraps the body so the line is written when it
/// ends.
pub fn finish(
    mut entry: Box<AccessLogEntry>,
    log: Arc<AccessLog>,
    resp: Response<ResponseBody>,
    flags: ResponseFlags,
    route: Option<&str>,
    started: Instant,
) -> Response<ResponseBody> {
    entry.code = resp.status().as_u16();
    entry.flags = flags;
    entry.route = route.filter(|r| *r != "-").map(str::to_owned);
    entry.upstream_service_time = resp
        .headers()
        .get(crate::headers::X_ENVOY_UPSTREAM_SERVICE_TIME)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if let Some(up) = resp.extensions().get::<UpstreamInfo>() {
        entry.upstream_host = Some(up.host.to_string());
        entry.upstream_cluster = Some(up.cluster.to_string());
        entry.attempts = up.attempts;
        if let Some(id) = &up.request_id {
            entry.request_id = text(Some(id));
        }
    }
    resp.map(|inner| {
        ResponseBody::Logged(Box::new(Logged {
            inner,
            entry,
            log,
            started,
            done: false,
        }))
    })
}

/// A response body that writes its access-log line when it ends.
#[derive(Debug)]
pub struct Logged {
    inner: ResponseBody,
    entry: Box<AccessLogEntry>,
    log: Arc<AccessLog>,
    started: Instant,
    done: bool,
}

impl Logged {
    fn write(&mut self) {
        if !self.done {
            self.done = true;
            self.entry.duration_ms = self.started.elapsed().as_millis() as u64;
            self.log.log(&self.entry);
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.write();
    }
}

impl Body for Logged {
    type Data = Bytes;
    type Error = rampart_upstream::error::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    this.entry.bytes_sent += data.len() as u64;
                }
            }
            Some(Err(_)) | None => this.write(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
