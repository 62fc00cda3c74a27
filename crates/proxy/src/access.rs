//! Access logging on the request path: what is known when the request arrives is captured
//! then, what the response head says when it is ready, and the rest (flags, bytes sent,
//! duration) when the request is recorded: once the response has ended or was cut off, so that
//! a client leaving mid-body is logged `DC` as Envoy logs it. Nothing here runs when access
//! logging is off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{HOST, USER_AGENT};
use http::{HeaderValue, Request, Response, Version};
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

/// Fills in what the response head tells the entry: route, upstream service time and the
/// upstream's details. Status, flags, bytes sent and duration are set when the request is
/// recorded (see [`crate::request::Recording`]), once the response has ended or was cut off.
pub fn response(entry: &mut AccessLogEntry, resp: &Response<ResponseBody>, route: Option<&str>) {
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
}

/// A request's access-log line, waiting for the request's end.
#[derive(Debug)]
pub struct Pending {
    /// Where the line goes.
    pub log: Arc<AccessLog>,
    /// The line so far.
    pub entry: Box<AccessLogEntry>,
}

impl Pending {
    /// Writes the line with how the request ended.
    pub fn write(mut self, code: u16, flags: ResponseFlags, bytes_sent: u64, started: Instant) {
        let entry = &mut self.entry;
        entry.code = code;
        entry.flags = flags;
        entry.bytes_sent = bytes_sent;
        entry.duration_ms = started.elapsed().as_millis() as u64;
        self.log.log(entry);
    }
}
