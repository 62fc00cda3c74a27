//! Upstream failures, each with its Envoy meaning, and whether a retry may help.

/// Any underlying cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request could not be completed by an upstream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster has no endpoint to send to (Envoy `UH`).
    #[error("no healthy upstream")]
    NoHealthyUpstream,
    /// TCP connect or the TLS handshake failed or timed out (Envoy `UF`).
    #[error("upstream connect error or disconnect/reset before headers. reset reason: connection failure{}", transport_failure(.0))]
    ConnectFailure(#[source] std::io::Error),
    /// The connection was closed or reset before a response arrived (Envoy `UC`).
    #[error("upstream connect error or disconnect/reset before headers. reset reason: connection termination")]
    Reset(#[source] BoxError),
    /// A circuit breaker refused the request (Envoy `UO`).
    #[error("upstream connect error or disconnect/reset before headers. reset reason: overflow")]
    Overflow(crate::load::Overflow),
    /// The client's request body was malformed or cut while it was being forwarded (Envoy's
    /// downstream protocol error, `DPE`): the upstream saw an unfinished request.
    #[error("bad request body")]
    DownstreamBody(#[source] BoxError),
    /// The upstream answered something that is not HTTP (Envoy `UPE`).
    #[error("upstream protocol error")]
    Protocol(#[source] BoxError),
}

/// Why the TLS handshake with an upstream failed; carried inside [`Error::ConnectFailure`] and
/// shown as Envoy shows a transport failure.
#[derive(Debug, thiserror::Error)]
#[error("TLS_error:|{0}:TLS_error_end")]
pub struct TlsFailure(pub Box<str>);

/// Envoy's `, transport failure reason: …` suffix when the connect failure was a TLS one.
fn transport_failure(err: &std::io::Error) -> String {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<TlsFailure>())
        .map(|tls| format!(", transport failure reason: {tls}"))
        .unwrap_or_default()
}

impl Error {
    /// True when the request certainly did not reach the upstream application, so it is safe to
    /// send again even if it is not idempotent.
    pub fn before_request_sent(&self) -> bool {
        matches!(self, Self::ConnectFailure(_) | Self::NoHealthyUpstream)
    }

    /// True when an HTTP/2 upstream refused the stream (`REFUSED_STREAM`): it did not process
    /// the request.
    pub fn is_refused_stream(&self) -> bool {
        let Self::Reset(cause) = self else {
            return false;
        };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
        while let Some(err) = source {
            if let Some(h2) = err.downcast_ref::<h2::Error>() {
                return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
            }
            source = err.source();
        }
        false
    }

    /// Whether the client's body passed the gateway's size limit (answered 413).
    pub fn is_body_too_large(&self) -> bool {
        let Self::DownstreamBody(cause) = self else {
            return false;
        };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
        while let Some(err) = source {
            if let Some(crate::body::BodyError::TooLarge(_)) = err.downcast_ref() {
                return true;
            }
            source = err.source();
        }
        false
    }

    /// Classifies a hyper error from a send on a pooled connection.
    pub fn from_send(err: hyper::Error) -> Self {
        // The client's body failed while it was being sent (HTTP/2 upstreams).
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            if cause.is::<crate::body::BodyError>() {
                return Self::DownstreamBody(err.into());
            }
            source = cause.source();
        }
        if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
            Self::Protocol(err.into())
        } else {
            Self::Reset(err.into())
        }
    }
}
