//! Why the gateway answered a request itself, mapped once to a status code and Envoy flag.

use http::StatusCode;
use rampart_telemetry::ResponseFlag;

/// A request the gateway could not (or would not) forward.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No virtual host or route matched.
    #[error("route not found")]
    NoRoute,
    /// The route's destination host or subset does not exist.
    #[error("cluster not found")]
    NoCluster,
    /// The route timeout expired before the upstream answered.
    #[error("upstream request timeout")]
    Timeout,
    /// The upstream failed.
    #[error(transparent)]
    Upstream(#[from] rampart_upstream::Error),
}

impl Error {
    /// Status code and response flag, as Envoy reports them.
    pub fn outcome(&self) -> (StatusCode, ResponseFlag) {
        use rampart_upstream::Error as Up;
        match self {
            Self::NoRoute => (StatusCode::NOT_FOUND, ResponseFlag::NoRouteFound),
            Self::NoCluster => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::NoClusterFound,
            ),
            Self::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                ResponseFlag::UpstreamRequestTimeout,
            ),
            Self::Upstream(Up::NoHealthyUpstream) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::NoHealthyUpstream,
            ),
            Self::Upstream(Up::ConnectFailure(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::UpstreamConnectionFailure,
            ),
            Self::Upstream(Up::Reset(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::UpstreamConnectionTermination,
            ),
            Self::Upstream(Up::Overflow(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::UpstreamOverflow,
            ),
            Self::Upstream(up) if up.is_body_too_large() => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ResponseFlag::DownstreamProtocolError,
            ),
            Self::Upstream(Up::DownstreamBody(_)) => (
                StatusCode::BAD_REQUEST,
                ResponseFlag::DownstreamProtocolError,
            ),
            Self::Upstream(Up::Protocol(_)) => {
                (StatusCode::BAD_GATEWAY, ResponseFlag::UpstreamProtocolError)
            }
        }
    }

    /// The body Envoy sends for this outcome.
    pub fn body(&self) -> String {
        match self {
            Self::NoRoute => String::new(),
            Self::Upstream(up) if up.is_body_too_large() => "Payload Too Large".into(),
            other => other.to_string(),
        }
    }
}
