//! A backend that records what it receives and answers as told: by default `200` with its name
//! as the body and `x-backend: <name>`. Serves HTTP/1.1 and cleartext HTTP/2 on one port, and
//! echoes WebSocket-style upgrades (`upgrade: echo`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub uri: String,
    /// Headers.
    pub headers: HeaderMap,
    /// HTTP version.
    pub version: Version,
    /// Body.
    pub body: Bytes,
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: String,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
    /// gRPC-style trailer `grpc-status`, when set.
    pub grpc_status: Option<u32>,
    /// Wait this long before answering.
    pub delay: Option<std::time::Duration>,
}

impl Reply {
    /// `status` with `body`.
    pub fn new(status: u16, body: &str) -> Self {
        Reply {
            status: StatusCode::from_u16(status).expect("status"),
            body: body.to_string(),
            headers: Vec::new(),
            grpc_status: None,
            delay: None,
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    /// Adds a `grpc-status` trailer.
    pub fn grpc(mut self, code: u32) -> Self {
        self.grpc_status = Some(code);
        self
    }

    /// Answers after `delay`.
    pub fn delayed(mut self, delay: std::time::Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A running backend.
pub struct Backend {
    /// Its name (default body).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Backend {
    /// A backend answering 200 with its name.
    pub async fn start(name: &str) -> Backend {
        let body = name.to_string();
        Self::with(name, move |_| Reply::new(200, &body)).await
    }

    /// A backend answering with `respond`.
    pub async fn with(
        name: &str,
        respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("backend addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let respond: Responder = Arc::new(respond);
        let name_header = HeaderValue::from_str(name).expect("backend name is a header value");
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    let accepted = tokio::select! {
                        accepted = listener.accept() => accepted,
                        _ = stopped.wait_for(|&s| s) => break,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let (log, respond, name_header) =
                        (log.clone(), respond.clone(), name_header.clone());
                    connections.spawn(async move {
                        let svc = service_fn(move |req| {
                            handle(req, log.clone(), respond.clone(), name_header.clone())
                        });
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                // Stopped: close the listener and every connection.
                drop(listener);
                connections.shutdown().await;
            })
        };
        Backend {
            name: name.to_string(),
            addr,
            log,
            task: Some(task),
            stop,
        }
    }

    /// Stops listening and closes every connection; returns once the port refuses connections.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log lock").clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.log.lock().expect("log lock").len()
    }

    /// Port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handle(
    mut req: http::Request<Incoming>,
    log: Arc<Mutex<Vec<Recorded>>>,
    respond: Responder,
    name: HeaderValue,
) -> Result<http::Response<Body>, Infallible> {
    if req
        .headers()
        .get(http::header::UPGRADE)
        .is_some_and(|v| v == "echo")
    {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(io) = upgrade.await {
                let mut io = TokioIo::new(io);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut resp = http::Response::new(Full::new(Bytes::new()).boxed());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut()
            .insert(http::header::UPGRADE, HeaderValue::from_static("echo"));
        resp.headers_mut().insert(
            http::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        return Ok(resp);
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method,
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        version: parts.version,
        body,
    };
    let reply = respond(&recorded);
    log.lock().expect("log lock").push(recorded);
    if let Some(delay) = reply.delay {
        // The backend's own latency, which the test is about (not a readiness wait).
        tokio::time::sleep(delay).await;
    }
    let body: Body = match reply.grpc_status {
        Some(code) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from(code));
            TrailerBody {
                data: Some(Bytes::from(reply.body)),
                trailers: Some(trailers),
            }
            .boxed()
        }
        None => Full::new(Bytes::from(reply.body)).boxed(),
    };
    let mut resp = http::Response::new(body);
    *resp.status_mut() = reply.status;
    resp.headers_mut().insert("x-backend", name);
    for (k, v) in reply.headers {
        resp.headers_mut()
            .append(k, HeaderValue::from_str(&v).expect("header value"));
    }
    Ok(resp)
}

/// A body of one data frame followed by trailers (what a unary gRPC response looks like).
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
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = match this.data.take() {
            Some(data) => Some(hyper::body::Frame::data(data)),
            None => this.trailers.take().map(hyper::body::Frame::trailers),
        };
        std::task::Poll::Ready(frame.map(Ok))
    }
}
