//! Envoy response flags: why a response is what it is (`UH`, `UF`, `NR`, …).

use std::fmt;

/// One Envoy response flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ResponseFlag {
    /// No healthy upstream host.
    NoHealthyUpstream = 1 << 0,
    /// Upstream connection failure.
    UpstreamConnectionFailure = 1 << 1,
    /// Upstream connection terminated.
    UpstreamConnectionTermination = 1 << 2,
    /// Upstream request timeout.
    UpstreamRequestTimeout = 1 << 3,
    /// Upstream overflow (circuit breaker).
    UpstreamOverflow = 1 << 4,
    /// No route found.
    NoRouteFound = 1 << 5,
    /// No cluster found.
    NoClusterFound = 1 << 6,
    /// Upstream retry limit exceeded.
    UpstreamRetryLimitExceeded = 1 << 7,
    /// Fault-injected delay.
    DelayInjected = 1 << 8,
    /// Fault-injected abort.
    FaultInjected = 1 << 9,
    /// Rate limited.
    RateLimited = 1 << 10,
    /// Unauthorized by external service.
    UnauthorizedExternalService = 1 << 11,
    /// Downstream protocol error.
    DownstreamProtocolError = 1 << 12,
    /// Upstream protocol error.
    UpstreamProtocolError = 1 << 13,
    /// Downstream connection terminated.
    DownstreamConnectionTermination = 1 << 14,
    /// The rate-limit service (Redis) failed and the request was refused (fail closed).
    RateLimitServiceError = 1 << 15,
    /// The downstream reset the stream (HTTP/2) before the response.
    DownstreamRemoteReset = 1 << 16,
    /// The request moved no bytes for the stream idle timeout.
    StreamIdleTimeout = 1 << 17,
}

impl ResponseFlag {
    const ALL: [ResponseFlag; 18] = [
        Self::NoHealthyUpstream,
        Self::UpstreamConnectionFailure,
        Self::UpstreamConnectionTermination,
        Self::UpstreamRequestTimeout,
        Self::UpstreamOverflow,
        Self::NoRouteFound,
        Self::NoClusterFound,
        Self::UpstreamRetryLimitExceeded,
        Self::DelayInjected,
        Self::FaultInjected,
        Self::RateLimited,
        Self::UnauthorizedExternalService,
        Self::DownstreamProtocolError,
        Self::UpstreamProtocolError,
        Self::DownstreamConnectionTermination,
        Self::RateLimitServiceError,
        Self::DownstreamRemoteReset,
        Self::StreamIdleTimeout,
    ];

    /// Envoy's short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoHealthyUpstream => "UH",
            Self::UpstreamConnectionFailure => "UF",
            Self::UpstreamConnectionTermination => "UC",
            Self::UpstreamRequestTimeout => "UT",
            Self::UpstreamOverflow => "UO",
            Self::NoRouteFound => "NR",
            Self::NoClusterFound => "NC",
            Self::UpstreamRetryLimitExceeded => "URX",
            Self::DelayInjected => "DI",
            Self::FaultInjected => "FI",
            Self::RateLimited => "RL",
            Self::UnauthorizedExternalService => "UAEX",
            Self::DownstreamProtocolError => "DPE",
            Self::UpstreamProtocolError => "UPE",
            Self::DownstreamConnectionTermination => "DC",
            Self::RateLimitServiceError => "RLSE",
            Self::DownstreamRemoteReset => "DR",
            Self::StreamIdleTimeout => "SI",
        }
    }
}

/// A set of response flags; displays as Envoy does (`UF,URX`, or `-` when empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResponseFlags(pub u32);

impl ResponseFlags {
    /// No flag.
    pub const NONE: Self = Self(0);

    /// Adds a flag.
    pub fn insert(&mut self, flag: ResponseFlag) {
        self.0 |= flag as u32;
    }

    /// Whether a flag is set.
    pub fn contains(self, flag: ResponseFlag) -> bool {
        self.0 & flag as u32 != 0
    }
}

impl From<ResponseFlag> for ResponseFlags {
    fn from(flag: ResponseFlag) -> Self {
        Self(flag as u32)
    }
}

impl fmt::Display for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("-");
        }
        let mut first = true;
        for flag in ResponseFlag::ALL {
            if self.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(flag.as_str())?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_display_like_envoy() {
        assert_eq!(ResponseFlags::NONE.to_string(), "-");
        let mut f = ResponseFlags::from(ResponseFlag::UpstreamConnectionFailure);
        f.insert(ResponseFlag::UpstreamRetryLimitExceeded);
        assert_eq!(f.to_string(), "UF,URX");
    }
}
