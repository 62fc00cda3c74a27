//! A small HTTP client for tests: one request per connection (HTTP/1.1 or prior-knowledge
//! HTTP/2), full response collected.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    addr: SocketAddr,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    http2: bool,
}

/// A collected response.
#[derive(Debug)]
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text (lossy).
    pub body: String,
    /// Trailers, if any.
    pub trailers: Option<HeaderMap>,
}

impl Response {
    /// A header's value as text, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Request {
    /// `GET path` to `addr`.
    pub fn get(addr: SocketAddr, path: &str) -> Self {
        Self {
            addr,
            method: Method::GET,
            path: path.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            http2: false,
        }
    }

    /// Sets the method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the Host header (HTTP/1.1) or `:authority` (HTTP/2).
    pub fn host(self, host: &str) -> Self {
        self.header("host", host)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Speaks HTTP/2 (prior knowledge) instead of HTTP/1.1.
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Sends on a new connection and collects the response.
    pub async fn send(self) -> std::io::Result<Response> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        let io = TokioIo::new(stream);
        let mut builder = http::Request::builder().method(self.method);
        let host = self
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        builder = if self.http2 {
            builder.uri(format!("http://{host}{}", self.path))
        } else {
            builder.uri(&self.path)
        };
        let mut req = builder
            .body(Full::new(self.body))
            .map_err(std::io::Error::other)?;
        let mut headers = self.headers;
        if self.http2 {
            headers.remove("host");
        } else if !headers.contains_key("host") {
            headers.insert("host", HeaderValue::from_static("localhost"));
        }
        *req.headers_mut() = headers;
        let resp = if self.http2 {
            *req.version_mut() = http::Version::HTTP_2;
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(std::io::Error::other)?
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(std::io::Error::other)?
        };
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.map_err(std::io::Error::other)?;
        let trailers = collected.trailers().cloned();
        let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
            trailers,
        })
    }
}
