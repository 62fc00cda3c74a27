//! Per-route resilience settings: retry policy, fault injection and mirroring.

use std::time::Duration;

use http::StatusCode;

use crate::cluster::ClusterId;

/// Envoy's default base back-off between retries.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(25);

/// Conditions that make a failed attempt worth retrying (Envoy `retry_on`), as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryOn(u32);

impl RetryOn {
    /// `5xx`: any 5xx response, a reset, a connect failure or a per-try timeout.
    pub const FIVE_XX: Self = Self(1);
    /// `gateway-error`: 502, 503, 504, and resets/timeouts.
    pub const GATEWAY_ERROR: Self = Self(1 << 1);
    /// `reset`: the upstream did not answer (disconnect, reset, per-try timeout).
    pub const RESET: Self = Self(1 << 2);
    /// `reset-before-request`: reset before any of the request was sent.
    pub const RESET_BEFORE_REQUEST: Self = Self(1 << 3);
    /// `connect-failure`: TCP connect failed or timed out.
    pub const CONNECT_FAILURE: Self = Self(1 << 4);
    /// `retriable-4xx`: 409.
    pub const RETRIABLE_4XX: Self = Self(1 << 5);
    /// `refused-stream`: HTTP/2 `REFUSED_STREAM`.
    pub const REFUSED_STREAM: Self = Self(1 << 6);
    /// `retriable-status-codes`: the statuses in [`RetryPolicy::status_codes`].
    pub const RETRIABLE_STATUS_CODES: Self = Self(1 << 7);
    /// `retriable-headers`: accepted; never fires at the gateway (see the proxy's retry
    /// conditions).
    pub const RETRIABLE_HEADERS: Self = Self(1 << 8);
    /// `envoy-ratelimited`: the response carries `x-envoy-ratelimited`.
    pub const ENVOY_RATELIMITED: Self = Self(1 << 9);
    /// `http3-post-connect-failure`: never happens here (no HTTP/3 upstreams).
    pub const HTTP3_POST_CONNECT_FAILURE: Self = Self(1 << 10);
    /// gRPC `cancelled` (status 1).
    pub const GRPC_CANCELLED: Self = Self(1 << 11);
    /// gRPC `deadline-exceeded` (status 4).
    pub const GRPC_DEADLINE_EXCEEDED: Self = Self(1 << 12);
    /// gRPC `resource-exhausted` (status 8).
    pub const GRPC_RESOURCE_EXHAUSTED: Self = Self(1 << 13);
    /// gRPC `internal` (status 13).
    pub const GRPC_INTERNAL: Self = Self(1 << 14);
    /// gRPC `unavailable` (status 14).
    pub const GRPC_UNAVAILABLE: Self = Self(1 << 15);

    /// No condition.
    pub const NONE: Self = Self(0);

    /// The condition named by one `retryOn` token (not a bare status code).
    pub fn from_token(token: &str) -> Option<Self> {
        Some(match token {
            "5xx" => Self::FIVE_XX,
            "gateway-error" => Self::GATEWAY_ERROR,
            "reset" => Self::RESET,
            "reset-before-request" => Self::RESET_BEFORE_REQUEST,
            "connect-failure" => Self::CONNECT_FAILURE,
            "retriable-4xx" => Self::RETRIABLE_4XX,
            "refused-stream" => Self::REFUSED_STREAM,
            "retriable-status-codes" => Self::RETRIABLE_STATUS_CODES,
            "retriable-headers" => Self::RETRIABLE_HEADERS,
            "envoy-ratelimited" => Self::ENVOY_RATELIMITED,
            "http3-post-connect-failure" => Self::HTTP3_POST_CONNECT_FAILURE,
            "cancelled" => Self::GRPC_CANCELLED,
            "deadline-exceeded" => Self::GRPC_DEADLINE_EXCEEDED,
            "resource-exhausted" => Self::GRPC_RESOURCE_EXHAUSTED,
            "internal" => Self::GRPC_INTERNAL,
            "unavailable" => Self::GRPC_UNAVAILABLE,
            _ => return None,
        })
    }

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// `self` without the conditions of `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// True when every condition of `other` is in `self`.
    #[inline]
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when any condition of `other` is in `self`.
    #[inline]
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// True when no condition is set.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for RetryOn {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for RetryOn {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// A route's retry policy (`HTTPRetry`, or Istio's default when the route sets none).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`attempts`).
    pub attempts: u32,
    /// Limit on each attempt, first included (`perTryTimeout`).
    pub per_try_timeout: Option<Duration>,
    /// When to retry (`retryOn`).
    pub retry_on: RetryOn,
    /// Statuses retried under `retriable-status-codes` (bare numbers in `retryOn`).
    pub status_codes: Box<[u16]>,
    /// Base back-off; each retry waits a random time up to base × 2^n, capped at 10 × base.
    pub backoff: Duration,
    /// Prefer an endpoint not tried yet (`retryIgnorePreviousHosts`, default true).
    pub retry_previous_hosts: bool,
    /// Retry in failover priorities (other localities) not tried yet (`retryRemoteLocalities`,
    /// Envoy's `previous_priorities` predicate).
    pub retry_remote_localities: bool,
}

impl RetryPolicy {
    /// Istio's policy for a route without `retries`: 2 retries on
    /// `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` (with no
    /// status codes).
    pub fn istio_default() -> Self {
        Self {
            attempts: 2,
            per_try_timeout: None,
            retry_on: RetryOn::CONNECT_FAILURE
                | RetryOn::REFUSED_STREAM
                | RetryOn::GRPC_UNAVAILABLE
                | RetryOn::GRPC_CANCELLED
                | RetryOn::RETRIABLE_STATUS_CODES,
            status_codes: Box::new([]),
            backoff: DEFAULT_BACKOFF,
            retry_previous_hosts: true,
            retry_remote_localities: false,
        }
    }

    /// No retries (`attempts: 0`).
    pub fn disabled() -> Self {
        Self {
            attempts: 0,
            per_try_timeout: None,
            retry_on: RetryOn::NONE,
            status_codes: Box::new([]),
            backoff: DEFAULT_BACKOFF,
            retry_previous_hosts: true,
            retry_remote_localities: false,
        }
    }
}

/// A fault that applies to a share of requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share {
    /// Percentage of requests, 0–100 (fractions allowed).
    pub percent: f64,
}

impl Share {
    /// True for a share of `percent` of the requests, decided with `roll` uniform in `[0, 1)`.
    #[inline]
    pub fn hit(self, roll: f64) -> bool {
        roll * 100.0 < self.percent
    }
}

/// `HTTPFaultInjection`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// `delay`: wait this long before forwarding.
    pub delay: Option<(Duration, Share)>,
    /// `abort`: answer locally instead of forwarding.
    pub abort: Option<(Abort, Share)>,
}

/// What an injected abort answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Abort {
    /// `httpStatus`.
    Http(StatusCode),
    /// `grpcStatus`, as its numeric code.
    Grpc(u8),
}

/// One mirror destination (`mirror` + `mirrorPercentage`, or an entry of `mirrors`).
#[derive(Clone, Debug)]
pub struct Mirror {
    /// The cluster copies go to; `None` when the host or subset does not exist.
    pub cluster: Option<ClusterId>,
    /// Share of requests copied (100 when not given).
    pub share: Share,
    /// Stats handle of the mirror destination.
    pub stat: u32,
}
