//! A demo service: answers every request with its name, method, path and status; some fail or
//! are slow on purpose.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// How a demo service misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Always answers 200.
    Plain,
    /// Answers 503 to every other request (for retries).
    FailsEveryOther,
    /// Answers 200 after a delay (for timeouts and circuit breakers).
    Slow(Duration),
}

/// Starts a service on an ephemeral loopback port.
pub async fn start(name: &'static str, behaviour: Behaviour) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let served = served.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let n = served.fetch_add(1, Ordering::Relaxed);
                    async move {
                        let status = match behaviour {
                            Behaviour::FailsEveryOther if n.is_multiple_of(2) => {
                                StatusCode::SERVICE_UNAVAILABLE
                            }
                            Behaviour::Slow(delay) => {
                                tokio::time::sleep(delay).await;
                                StatusCode::OK
                            }
                            _ => StatusCode::OK,
                        };
                        let body = format!(
                            "{name}: {} {} -> {}\n",
                            req.method(),
                            req.uri(),
                            status.as_u16()
                        );
                        let mut resp = Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = status;
                        resp.headers_mut()
                            .insert("x-backend", http::HeaderValue::from_static(name));
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}
