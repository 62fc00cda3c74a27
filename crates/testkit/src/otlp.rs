//! An OpenTelemetry collector for tests: one port on 127.0.0.1 serving OTLP/HTTP
//! (`POST /v1/traces`, protobuf) and OTLP/gRPC (`TraceService/Export` over cleartext HTTP/2),
//! decoding every span that arrives with its own small protobuf reader (independent of the
//! gateway's encoder). Tests wait for spans with [`OtlpReceiver::wait_for_spans`], which wakes
//! on arrival and gives up after a bounded time.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// How long [`OtlpReceiver::wait_for_spans`] waits before failing the test.
const WAIT: Duration = Duration::from_secs(10);
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// An attribute value as received.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// `string_value`.
    Str(String),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// Any other kind (arrays, maps, bytes).
    Other,
}

impl std::fmt::Display for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Str(s) => f.write_str(s),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Other => f.write_str("?"),
        }
    }
}

/// One span as the collector received it.
#[derive(Clone, Debug, Default)]
pub struct ExportedSpan {
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// Parent span id, when there is one.
    pub parent_span_id: Option<String>,
    /// W3C `tracestate`.
    pub trace_state: String,
    /// Name.
    pub name: String,
    /// `SpanKind` (2 server, 3 client).
    pub kind: u64,
    /// Start, nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_unix_nano: u64,
    /// Attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// `Status.code` (0 unset, 1 ok, 2 error).
    pub status_code: u64,
    /// `Status.message`.
    pub status_message: String,
    /// `Span.flags`.
    pub flags: u32,
    /// Attributes of the span's resource (`service.name`…).
    pub resource: BTreeMap<String, AttrValue>,
    /// Instrumentation scope name.
    pub scope: String,
    /// `grpc` or `http`: how it arrived.
    pub protocol: &'static str,
}

impl ExportedSpan {
    /// An attribute as text, or "" when absent.
    pub fn attr(&self, key: &str) -> String {
        self.attributes
            .get(key)
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    spans: Mutex<Vec<ExportedSpan>>,
    errors: Mutex<Vec<String>>,
    http_requests: AtomicUsize,
    grpc_requests: AtomicUsize,
}

/// A running collector.
pub struct OtlpReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    arrived: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpReceiver {
    /// Binds 127.0.0.1:0 and serves until dropped.
    pub async fn start() -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let addr = listener.local_addr().expect("collector addr");
        let state = Arc::new(State::default());
        let (count, arrived) = tokio::sync::watch::channel(0usize);
        let count = Arc::new(count);
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    let (state, count) = (state.clone(), count.clone());
                    connections.spawn(async move {
                        let svc = service_fn(move |req| handle(req, state.clone(), count.clone()));
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            })
        };
        OtlpReceiver {
            addr,
            state,
            arrived,
            task,
        }
    }

    /// The OTLP/HTTP endpoint, `http://127.0.0.1:port/v1/traces`.
    pub fn http_url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// The OTLP/gRPC endpoint, `grpc://127.0.0.1:port`.
    pub fn grpc_url(&self) -> String {
        format!("grpc://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.state.spans.lock().expect("spans lock").clone()
    }

    /// Export requests received: (OTLP/HTTP, OTLP/gRPC).
    pub fn requests(&self) -> (usize, usize) {
        (
            self.state.http_requests.load(Ordering::SeqCst),
            self.state.grpc_requests.load(Ordering::SeqCst),
        )
    }

    /// Bodies that failed to decode (each answered 400 / INVALID_ARGUMENT).
    pub fn errors(&self) -> Vec<String> {
        self.state.errors.lock().expect("errors lock").clone()
    }

    /// Waits until at least `n` spans have arrived (panics after 10 s) and returns them all.
    pub async fn wait_for_spans(&self, n: usize) -> Vec<ExportedSpan> {
        let mut arrived = self.arrived.clone();
        let waited = tokio::time::timeout(WAIT, arrived.wait_for(|&c| c >= n)).await;
        let spans = self.spans();
        assert!(
            matches!(waited, Ok(Ok(_))),
            "collector got {} spans, waited for {n}: {spans:#?} (decode errors: {:?})",
            spans.len(),
            self.errors()
        );
        spans
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handle(
    req: http::Request<Incoming>,
    state: Arc<State>,
    count: Arc<tokio::sync::watch::Sender<usize>>,
) -> Result<Response<Body>, Infallible> {
    let grpc = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/traces") => false,
        (&Method::POST, GRPC_PATH) => true,
        _ => return Ok(status(StatusCode::NOT_FOUND)),
    };
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let decoded = if grpc {
        state.grpc_requests.fetch_add(1, Ordering::SeqCst);
        unframe(&body).and_then(|m| decode_export(m, "grpc"))
    } else {
        state.http_requests.fetch_add(1, Ordering::SeqCst);
        decode_export(&body, "http")
    };
    let spans = match decoded {
        Ok(spans) => spans,
        Err(e) => {
            state.errors.lock().expect("errors lock").push(e);
            return Ok(if grpc {
                grpc_answer(3)
            } else {
                status(StatusCode::BAD_REQUEST)
            });
        }
    };
    let total = {
        let mut all = state.spans.lock().expect("spans lock");
        all.extend(spans);
        all.len()
    };
    count.send_replace(total);
    Ok(if grpc {
        grpc_answer(0)
    } else {
        let mut resp = Response::new(Full::new(Bytes::new()).boxed());
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        resp
    })
}

fn status(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()).boxed());
    *resp.status_mut() = code;
    resp
}

/// An empty `ExportTraceServiceResponse` (or none, on error) with `grpc-status` trailers.
fn grpc_answer(code: u32) -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(code));
    let data = (code == 0).then(|| Bytes::from_static(&[0, 0, 0, 0, 0]));
    let mut resp = Response::new(
        TrailerBody {
            data,
            trailers: Some(trailers),
        }
        .boxed(),
    );
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// One optional data frame, then trailers.
struct TrailerBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for TrailerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = match this.data.take() {
            Some(data) => Some(Frame::data(data)),
            None => this.trailers.take().map(Frame::trailers),
        };
        std::task::Poll::Ready(frame.map(Ok))
    }
}

/// The message inside one gRPC frame (uncompressed only).
fn unframe(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < 5 {
        return Err(format!("gRPC frame of {} bytes", body.len()));
    }
    if body[0] != 0 {
        return Err("compressed gRPC frame".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() != 5 + len {
        return Err(format!(
            "gRPC frame says {len} bytes, has {}",
            body.len() - 5
        ));
    }
    Ok(&body[5..])
}

// === protobuf reading ===

/// One field's value on the wire.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

/// Every field of one message, in order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut buf)?),
            1 => Field::Fixed64(u64::from_le_bytes(take(&mut buf, 8)?.try_into().unwrap())),
            2 => {
                let len = varint(&mut buf)? as usize;
                Field::Len(take(&mut buf, len)?)
            }
            5 => Field::Fixed32(u32::from_le_bytes(take(&mut buf, 4)?.try_into().unwrap())),
            w => return Err(format!("unsupported wire type {w}")),
        };
        out.push((key >> 3, field));
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err(format!("field of {n} bytes, {} left", buf.len()));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes an `ExportTraceServiceRequest` into its spans.
pub fn decode_export(buf: &[u8], protocol: &'static str) -> Result<Vec<ExportedSpan>, String> {
    let mut spans = Vec::new();
    for (n, f) in fields(buf)? {
        if let (1, Field::Len(rs)) = (n, f) {
            resource_spans(rs, protocol, &mut spans)?;
        }
    }
    Ok(spans)
}

fn resource_spans(
    buf: &[u8],
    protocol: &'static str,
    out: &mut Vec<ExportedSpan>,
) -> Result<(), String> {
    let mut resource = BTreeMap::new();
    let mut scopes = Vec::new();
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Len(r)) => {
                for (n, f) in fields(r)? {
                    if let (1, Field::Len(kv)) = (n, f) {
                        let (k, v) = key_value(kv)?;
                        resource.insert(k, v);
                    }
                }
            }
            (2, Field::Len(ss)) => scopes.push(ss),
            _ => {}
        }
    }
    for ss in scopes {
        let mut scope = String::new();
        for (n, f) in fields(ss)? {
            match (n, f) {
                (1, Field::Len(s)) => {
                    for (n, f) in fields(s)? {
                        if let (1, Field::Len(name)) = (n, f) {
                            scope = text(name)?;
                        }
                    }
                }
                (2, Field::Len(s)) => {
                    let mut span = span(s)?;
                    span.resource = resource.clone();
                    span.scope = scope.clone();
                    span.protocol = protocol;
                    out.push(span);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn span(buf: &[u8]) -> Result<ExportedSpan, String> {
    let mut s = ExportedSpan::default();
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Len(b)) => s.trace_id = hex(b),
            (2, Field::Len(b)) => s.span_id = hex(b),
            (3, Field::Len(b)) => s.trace_state = text(b)?,
            (4, Field::Len(b)) if !b.is_empty() => s.parent_span_id = Some(hex(b)),
            (5, Field::Len(b)) => s.name = text(b)?,
            (6, Field::Varint(v)) => s.kind = v,
            (7, Field::Fixed64(v)) => s.start_unix_nano = v,
            (8, Field::Fixed64(v)) => s.end_unix_nano = v,
            (9, Field::Len(kv)) => {
                let (k, v) = key_value(kv)?;
                s.attributes.insert(k, v);
            }
            (15, Field::Len(st)) => {
                for (n, f) in fields(st)? {
                    match (n, f) {
                        (2, Field::Len(m)) => s.status_message = text(m)?,
                        (3, Field::Varint(c)) => s.status_code = c,
                        _ => {}
                    }
                }
            }
            (16, Field::Fixed32(v)) => s.flags = v,
            _ => {}
        }
    }
    if s.trace_id.len() != 32 || s.span_id.len() != 16 {
        return Err(format!(
            "span ids of the wrong size: {} / {}",
            s.trace_id, s.span_id
        ));
    }
    Ok(s)
}

fn key_value(buf: &[u8]) -> Result<(String, AttrValue), String> {
    let mut key = String::new();
    let mut value = AttrValue::Other;
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Len(k)) => key = text(k)?,
            (2, Field::Len(v)) => value = any_value(v)?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn any_value(buf: &[u8]) -> Result<AttrValue, String> {
    let mut value = AttrValue::Other;
    for (n, f) in fields(buf)? {
        value = match (n, f) {
            (1, Field::Len(s)) => AttrValue::Str(text(s)?),
            (2, Field::Varint(b)) => AttrValue::Bool(b != 0),
            (3, Field::Varint(i)) => AttrValue::Int(i as i64),
            (4, Field::Fixed64(d)) => AttrValue::Double(f64::from_bits(d)),
            _ => AttrValue::Other,
        };
    }
    Ok(value)
}
