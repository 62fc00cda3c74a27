//! Where spans go: an OTLP collector address and the protocol spoken to it.
//!
//! - `http://host:4318/v1/traces`: OTLP/HTTP with protobuf bodies, POSTed to that path (a bare
//!   `http://host:port` or `…/` gets the standard `/v1/traces`).
//! - `grpc://host:4317`: OTLP/gRPC (`TraceService/Export`) over cleartext HTTP/2.
//! - `http://host:4317` with protocol `grpc`: the same, for those who write gRPC endpoints as
//!   `http://` URLs (as OpenTelemetry SDKs do).
//!
//! TLS to the collector (`https://`) is not supported yet and refused, not silently downgraded.

use std::fmt;

/// OTLP over HTTP/protobuf's default path.
pub const HTTP_PATH: &str = "/v1/traces";
/// OTLP/gRPC's method path.
pub const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP transport (OpenTelemetry's `OTEL_EXPORTER_OTLP_PROTOCOL` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: POST a protobuf body.
    HttpProtobuf,
    /// `grpc`: unary `TraceService/Export` over HTTP/2 without TLS.
    Grpc,
}

impl Protocol {
    /// Parses `grpc` or `http/protobuf` (`http` too).
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        match s {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" | "http" => Ok(Self::HttpProtobuf),
            other => Err(EndpointError(format!(
                "unknown OTLP protocol {other:?} (grpc or http/protobuf)"
            ))),
        }
    }
}

/// A collector endpoint, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Transport.
    pub protocol: Protocol,
    /// `host:port` to connect to (and send as `Host` / `:authority`).
    pub authority: String,
    /// Request path.
    pub path: String,
}

/// Why an endpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tracing endpoint: {0}")]
pub struct EndpointError(String);

impl Endpoint {
    /// Reads `url`; `protocol` (when given) overrides what the scheme implies.
    pub fn parse(url: &str, protocol: Option<Protocol>) -> Result<Self, EndpointError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| EndpointError(format!("{url:?} is not a URL: {e}")))?;
        let scheme_protocol = match uri.scheme_str() {
            Some("http") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some("https" | "grpcs") => {
                return Err(EndpointError(format!(
                    "{url:?}: TLS to the collector is not supported; use http:// or grpc://"
                )))
            }
            _ => {
                return Err(EndpointError(format!(
                    "{url:?}: the scheme must be http:// or grpc://"
                )))
            }
        };
        let protocol = match (uri.scheme_str(), protocol) {
            (Some("grpc"), Some(Protocol::HttpProtobuf)) => {
                return Err(EndpointError(format!(
                    "{url:?} is a gRPC endpoint but the protocol is http/protobuf"
                )))
            }
            (_, Some(p)) => p,
            (_, None) => scheme_protocol,
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| EndpointError(format!("{url:?} has no host")))?;
        let port = uri.port_u16().unwrap_or(match protocol {
            Protocol::Grpc => 4317,
            Protocol::HttpProtobuf => 4318,
        });
        let given = uri.path_and_query().map_or("", |pq| pq.as_str());
        let path = match (protocol, given) {
            (Protocol::HttpProtobuf, "" | "/") => HTTP_PATH.to_string(),
            (Protocol::HttpProtobuf, p) => p.to_string(),
            (Protocol::Grpc, "" | "/") => GRPC_PATH.to_string(),
            (Protocol::Grpc, p) => {
                return Err(EndpointError(format!(
                    "{url:?}: a gRPC endpoint has no path (got {p:?})"
                )))
            }
        };
        Ok(Self {
            protocol,
            authority: format!("{host}:{port}"),
            path,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            Protocol::HttpProtobuf => write!(f, "http://{}{}", self.authority, self.path),
            Protocol::Grpc => write!(f, "grpc://{}", self.authority),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str, protocol: Option<Protocol>) -> Endpoint {
        Endpoint::parse(url, protocol).unwrap()
    }

    #[test]
    fn http_urls_post_protobuf_to_their_path() {
        let e = ok("http://collector:4318/v1/traces", None);
        assert_eq!(e.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("collector:4318", "/v1/traces")
        );
        assert_eq!(ok("http://collector:4318", None).path, "/v1/traces");
        assert_eq!(ok("http://collector", None).authority, "collector:4318");
        assert_eq!(ok("http://c:1/custom/path", None).path, "/custom/path");
    }

    #[test]
    fn grpc_comes_from_the_scheme_or_the_protocol() {
        let e = ok("grpc://collector:4317", None);
        assert_eq!(e.protocol, Protocol::Grpc);
        assert_eq!(e.path, GRPC_PATH);
        let e = ok("http://127.0.0.1:4317", Some(Protocol::Grpc));
        assert_eq!(
            (e.protocol, e.authority.as_str()),
            (Protocol::Grpc, "127.0.0.1:4317")
        );
        assert_eq!(ok("grpc://collector", None).authority, "collector:4317");
        assert_eq!(e.to_string(), "grpc://127.0.0.1:4317");
    }

    #[test]
    fn nonsense_is_refused() {
        for (url, protocol) in [
            ("https://c:4318/v1/traces", None),
            ("ftp://c", None),
            ("collector:4318", None),
            ("grpc://c:4317/v1/traces", None),
            ("grpc://c:4317", Some(Protocol::HttpProtobuf)),
            ("http://:4318", None),
        ] {
            assert!(Endpoint::parse(url, protocol).is_err(), "{url}");
        }
        assert!(Protocol::parse("thrift").is_err());
        assert_eq!(Protocol::parse("http/protobuf"), Ok(Protocol::HttpProtobuf));
    }
}
