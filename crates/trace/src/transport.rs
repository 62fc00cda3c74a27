//! Sending one encoded batch to the collector, on one kept-alive connection that is opened
//! again after any failure: OTLP/HTTP is an HTTP/1.1 POST of the protobuf body; OTLP/gRPC is a
//! unary call over cleartext HTTP/2, framed by hand (5-byte prefix, then the protobuf), with the
//! outcome in `grpc-status`.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, TE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::endpoint::{Endpoint, Protocol};

/// Bound on opening a connection to the collector.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on one export, answer included (OTLP exporters' default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest collector answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// gRPC codes OTLP says to retry: CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
/// OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS.
const GRPC_RETRYABLE: [u32; 7] = [1, 4, 8, 10, 11, 14, 15];

const USER_AGENT_VALUE: &str = concat!("rampart/", env!("CARGO_PKG_VERSION"));

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth sending again later (collector down, overloaded, timed out).
    Retryable(String),
    /// The collector refused the batch; sending it again would not help.
    Permanent(String),
}

enum Conn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A connection to one collector.
pub struct Transport {
    endpoint: Endpoint,
    conn: Option<Conn>,
}

impl Transport {
    /// Not connected yet: the first export connects.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            conn: None,
        }
    }

    /// Sends one `ExportTraceServiceRequest`.
    pub async fn export(&mut self, message: &Bytes) -> Result<(), Failure> {
        let result = match tokio::time::timeout(EXPORT_TIMEOUT, self.exchange(message)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Retryable("export timed out".into())),
        };
        if result.is_err() {
            // Start afresh: the connection may be half-dead.
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, message: &Bytes) -> Result<(), Failure> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.endpoint).await?);
        }
        let endpoint = &self.endpoint;
        let resp = match self.conn.as_mut() {
            Some(Conn::H1(send)) => {
                send.ready().await.map_err(retryable)?;
                send.send_request(http_request(endpoint, message.clone()))
                    .await
                    .map_err(retryable)?
            }
            Some(Conn::H2(send)) => {
                send.ready().await.map_err(retryable)?;
                send.send_request(grpc_request(endpoint, message))
                    .await
                    .map_err(retryable)?
            }
            None => unreachable!("connected above"),
        };
        match endpoint.protocol {
            Protocol::HttpProtobuf => http_outcome(resp).await,
            Protocol::Grpc => grpc_outcome(resp).await,
        }
    }
}

fn retryable(e: impl std::fmt::Display) -> Failure {
    Failure::Retryable(e.to_string())
}

async fn connect(endpoint: &Endpoint) -> Result<Conn, Failure> {
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(&endpoint.authority),
    )
    .await
    .map_err(|_| Failure::Retryable(format!("connecting to {} timed out", endpoint.authority)))?
    .map_err(|e| Failure::Retryable(format!("connecting to {}: {e}", endpoint.authority)))?;
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(stream);
    match endpoint.protocol {
        Protocol::HttpProtobuf => {
            let (send, conn) = http1::handshake(io).await.map_err(retryable)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Conn::H1(send))
        }
        Protocol::Grpc => {
            let (send, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(retryable)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Conn::H2(send))
        }
    }
}

fn http_request(endpoint: &Endpoint, message: Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(message));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = endpoint.path.parse().unwrap_or_default();
    let h = req.headers_mut();
    if let Ok(host) = HeaderValue::from_str(&endpoint.authority) {
        h.insert(HOST, host);
    }
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    req
}

fn grpc_request(endpoint: &Endpoint, message: &[u8]) -> Request<Full<Bytes>> {
    let framed = crate::otlp::grpc_frame(message);
    let mut req = Request::new(Full::new(Bytes::from(framed)));
    *req.method_mut() = Method::POST;
    // HTTP/2 needs the scheme and authority for its pseudo-headers.
    *req.uri_mut() = format!("http://{}{}", endpoint.authority, endpoint.path)
        .parse()
        .unwrap_or_default();
    let h = req.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert(TE, HeaderValue::from_static("trailers"));
    h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    req
}

/// OTLP/HTTP: 2xx is success; 429, 502, 503 and 504 are worth retrying; the rest is final.
async fn http_outcome(resp: Response<Incoming>) -> Result<(), Failure> {
    let status = resp.status();
    // Read the answer to the end so the connection can carry the next batch.
    let (body, _) = read(resp.into_body()).await?;
    if status.is_success() {
        return Ok(());
    }
    let message = format!(
        "collector answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    match status.as_u16() {
        429 | 502..=504 => Err(Failure::Retryable(message)),
        _ => Err(Failure::Permanent(message)),
    }
}

/// OTLP/gRPC: the outcome is `grpc-status`, in the headers of a trailers-only answer or in
/// the trailers.
async fn grpc_outcome(resp: Response<Incoming>) -> Result<(), Failure> {
    let status = resp.status();
    if !status.is_success() {
        let message = format!("collector answered HTTP {status}");
        return match status.as_u16() {
            429 | 502..=504 => Err(Failure::Retryable(message)),
            _ => Err(Failure::Permanent(message)),
        };
    }
    let (head, body) = resp.into_parts();
    let (_, trailers) = read(body).await?;
    let from = |h: &HeaderMap| {
        let code = h.get("grpc-status")?.to_str().ok()?.parse::<u32>().ok()?;
        let message = h
            .get("grpc-message")
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
            .unwrap_or_default();
        Some((code, message))
    };
    match from(&head.headers).or_else(|| trailers.as_ref().and_then(from)) {
        Some((0, _)) => Ok(()),
        Some((code, message)) if GRPC_RETRYABLE.contains(&code) => {
            Err(Failure::Retryable(format!("grpc-status {code}: {message}")))
        }
        Some((code, message)) => Err(Failure::Permanent(format!("grpc-status {code}: {message}"))),
        None => Err(Failure::Retryable("answer without grpc-status".into())),
    }
}

/// The whole answer body (bounded) and its trailers.
async fn read(body: Incoming) -> Result<(Bytes, Option<HeaderMap>), Failure> {
    let collected = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Failure::Retryable(format!("reading the answer: {e}")))?;
    let trailers = collected.trailers().cloned();
    Ok((collected.to_bytes(), trailers))
}
