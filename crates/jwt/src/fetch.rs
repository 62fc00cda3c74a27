//! One bounded `GET` of a `jwksUri`: resolve, refuse blocked addresses, connect (TLS for
//! `https`), read at most `max_body` bytes of a 2xx answer, parse it as a JWKS.
//!
//! Receives the target and limits from `registry`; hands back a [`KeySet`] or why not. The
//! caller bounds the whole exchange with the rule's `timeout`, so a server that trickles one
//! byte a second is cut off. Redirects are not followed (a 3xx is a failure): the only host
//! ever contacted is the configured one, never one named by a token or a response.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, HOST, USER_AGENT};
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
pub use rampart_model::cidr::Cidr;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::jwks::{JwksError, KeySet};

/// A parsed `jwksUri`.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    https: bool,
    /// Host without IPv6 brackets.
    host: Box<str>,
    port: u16,
    authority: Box<str>,
    path_and_query: Box<str>,
}

impl Target {
    /// Parses an `http://` or `https://` URI; `Err` says what is wrong.
    pub(crate) fn parse(uri: &str) -> Result<Target, &'static str> {
        let uri = Uri::from_str(uri).map_err(|_| "not a valid URI")?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("scheme must be http or https"),
        };
        let authority = uri.authority().ok_or("no host")?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err("no host");
        }
        if authority.as_str().contains('@') {
            return Err("user info is not allowed");
        }
        Ok(Target {
            https,
            host: host.into(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().into(),
            path_and_query: uri.path_and_query().map_or("/", |pq| pq.as_str()).into(),
        })
    }
}

/// Why a fetch failed (logged and counted; never shown to clients).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("timed out")]
    Timeout,
    #[error("cannot resolve host: {0}")]
    Resolve(std::io::Error),
    #[error("every address of the host is blocked")]
    Blocked,
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("tls: {0}")]
    Tls(std::io::Error),
    #[error("http: {0}")]
    Http(hyper::Error),
    #[error("answered {0}")]
    Status(http::StatusCode),
    #[error("body larger than {0} bytes or broken")]
    Body(usize),
    #[error("{0}")]
    Jwks(JwksError),
}

/// Limits and TLS settings of one fetch.
pub(crate) struct Limits<'a> {
    pub(crate) tls: &'a Arc<rustls::ClientConfig>,
    pub(crate) blocked: &'a [Cidr],
    pub(crate) max_body: usize,
    pub(crate) timeout: Duration,
}

/// Fetches and parses the JWKS at `target`, within `limits.timeout` overall.
pub(crate) async fn fetch(target: &Target, limits: &Limits<'_>) -> Result<KeySet, FetchError> {
    tokio::time::timeout(limits.timeout, fetch_unbounded(target, limits))
        .await
        .unwrap_or(Err(FetchError::Timeout))
}

async fn fetch_unbounded(target: &Target, limits: &Limits<'_>) -> Result<KeySet, FetchError> {
    let stream = connect(target, limits.blocked).await?;
    let request = Request::get(&*target.path_and_query)
        .header(HOST, &*target.authority)
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, "rampart")
        .body(Empty::<Bytes>::new())
        .map_err(|_| FetchError::Status(http::StatusCode::BAD_REQUEST))?;
    let body = if target.https {
        let name = ServerName::try_from(target.host.to_string())
            .map_err(|e| FetchError::Tls(std::io::Error::other(e)))?;
        let tls = tokio_rustls::TlsConnector::from(limits.tls.clone())
            .connect(name, stream)
            .await
            .map_err(FetchError::Tls)?;
        exchange(TokioIo::new(tls), request, limits.max_body).await?
    } else {
        exchange(TokioIo::new(stream), request, limits.max_body).await?
    };
    KeySet::parse(&body).map_err(FetchError::Jwks)
}

async fn connect(target: &Target, blocked: &[Cidr]) -> Result<TcpStream, FetchError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((&*target.host, target.port))
        .await
        .map_err(FetchError::Resolve)?
        .filter(|a| !blocked.iter().any(|c| c.contains(a.ip())))
        .collect();
    let mut last = FetchError::Blocked;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = FetchError::Connect(e),
        }
    }
    Err(last)
}

async fn exchange<IO>(
    io: IO,
    request: Request<Empty<Bytes>>,
    max_body: usize,
) -> Result<Bytes, FetchError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(FetchError::Http)?;
    // The connection task dies with this function (timeout or not): no fetch outlives it.
    let conn = AbortOnDrop(tokio::spawn(conn));
    let response = sender
        .send_request(request)
        .await
        .map_err(FetchError::Http)?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    let body = Limited::new(response.into_body(), max_body)
        .collect()
        .await
        .map_err(|_| FetchError::Body(max_body))?
        .to_bytes();
    drop(conn);
    Ok(body)
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
