//! Which failures and responses a retry policy retries (Envoy's `retry_on` semantics).

use http::{HeaderMap, HeaderName, Request, Response};
use rampart_model::route::{RetryOn, RetryPolicy};
use rampart_model::UpstreamProtocol;
use rampart_upstream::{PooledBody, RequestBody};

use crate::error::Error;

const RATELIMITED: HeaderName = HeaderName::from_static("x-envoy-ratelimited");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Conditions that can fire after the request was sent (everything but connect failures).
const AFTER_SEND: RetryOn = RetryOn::FIVE_XX
    .union(RetryOn::GATEWAY_ERROR)
    .union(RetryOn::RESET)
    .union(RetryOn::RETRIABLE_4XX)
    .union(RetryOn::RETRIABLE_STATUS_CODES)
    .union(RetryOn::ENVOY_RATELIMITED);
const GRPC: RetryOn = RetryOn::GRPC_CANCELLED
    .union(RetryOn::GRPC_DEADLINE_EXCEEDED)
    .union(RetryOn::GRPC_RESOURCE_EXHAUSTED)
    .union(RetryOn::GRPC_INTERNAL)
    .union(RetryOn::GRPC_UNAVAILABLE);

/// A policy's conditions narrowed to what can happen to this request.
pub struct Conditions<'a> {
    on: RetryOn,
    policy: &'a RetryPolicy,
}

impl<'a> Conditions<'a> {
    /// The policy's conditions that apply: gRPC ones only to gRPC requests, `refused-stream`
    /// only over HTTP/2, status codes only when some are listed. `retriable-headers` never
    /// fires here: Istio has no field for the header list, and Envoy's request header for it
    /// (`x-envoy-retriable-header-names`) is stripped from external requests at the gateway.
    pub fn for_request(
        policy: &'a RetryPolicy,
        req: &Request<RequestBody>,
        protocol: UpstreamProtocol,
    ) -> Self {
        let mut on = if policy.attempts == 0 {
            RetryOn::NONE
        } else {
            policy.retry_on
        };
        if protocol != UpstreamProtocol::Http2 {
            // gRPC and stream refusals need HTTP/2 upstream.
            on = on.without(RetryOn::REFUSED_STREAM).without(GRPC);
        } else if on.intersects(GRPC) && !is_grpc(req.headers()) {
            on = on.without(GRPC);
        }
        if policy.status_codes.is_empty() {
            on = on.without(RetryOn::RETRIABLE_STATUS_CODES);
        }
        Self { on, policy }
    }

    /// Whether a retry can ever need the request again after it was sent.
    pub fn after_send_possible(&self) -> bool {
        self.on
            .intersects(AFTER_SEND.union(GRPC).union(RetryOn::REFUSED_STREAM))
    }

    /// A failure before anything was sent (connect failure, circuit breaker, no endpoint).
    pub fn retry_unsent(&self, err: &Error) -> bool {
        use rampart_upstream::Error as Up;
        match err {
            Error::Upstream(Up::ConnectFailure(_)) => self.on.intersects(
                RetryOn::CONNECT_FAILURE
                    .union(RetryOn::RESET_BEFORE_REQUEST)
                    .union(RetryOn::FIVE_XX)
                    .union(RetryOn::GATEWAY_ERROR)
                    .union(RetryOn::RESET),
            ),
            // Overflow and "no healthy upstream" are answered at once, as Envoy does.
            _ => false,
        }
    }

    /// A failure after the request (or part of it) may have reached the upstream: a reset, a
    /// protocol error, or the per-try timeout.
    pub fn retry_sent(&self, err: &Error) -> bool {
        if let Error::Upstream(up) = err {
            if up.is_refused_stream() && self.on.contains(RetryOn::REFUSED_STREAM) {
                return true;
            }
        }
        let upstream_fault = match err {
            Error::Timeout => true,
            Error::Upstream(up) => !matches!(up, rampart_upstream::Error::DownstreamBody(_)),
            _ => false,
        };
        upstream_fault
            && self.on.intersects(
                RetryOn::FIVE_XX
                    .union(RetryOn::GATEWAY_ERROR)
                    .union(RetryOn::RESET),
            )
    }

    /// Whether the upstream's answer calls for a retry.
    pub fn retry_response(&self, resp: &Response<PooledBody>) -> bool {
        if self.on.is_empty() {
            return false;
        }
        let status = resp.status().as_u16();
        let on = self.on;
        (on.contains(RetryOn::FIVE_XX) && status >= 500)
            || (on.contains(RetryOn::GATEWAY_ERROR) && matches!(status, 502..=504))
            || (on.contains(RetryOn::RETRIABLE_4XX) && status == 409)
            || (on.contains(RetryOn::RETRIABLE_STATUS_CODES)
                && self.policy.status_codes.contains(&status))
            || (on.contains(RetryOn::ENVOY_RATELIMITED) && resp.headers().contains_key(RATELIMITED))
            || (on.intersects(GRPC) && self.grpc_retriable(resp.headers()))
    }

    fn grpc_retriable(&self, headers: &HeaderMap) -> bool {
        let Some(code) = headers
            .get(GRPC_STATUS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u8>().ok())
        else {
            return false;
        };
        let cond = match code {
            1 => RetryOn::GRPC_CANCELLED,
            4 => RetryOn::GRPC_DEADLINE_EXCEEDED,
            8 => RetryOn::GRPC_RESOURCE_EXHAUSTED,
            13 => RetryOn::GRPC_INTERNAL,
            14 => RetryOn::GRPC_UNAVAILABLE,
            _ => return false,
        };
        self.on.contains(cond)
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}
