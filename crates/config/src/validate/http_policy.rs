//! Policy parts of a VirtualService HTTP route (Istio `validateCORSPolicy`,
//! `validateHTTPFaultInjection`, `validateHTTPRedirect`, `ValidateHTTPRetry`).
//!
//! Receives: one policy object of `spec.http[i]`. Hands on: diagnostics via [`Check`].

use super::http_route::regex_match;
use super::{duration, header_name, percent_int, percentage, port, set, Check};
use crate::networking::{
    CorsPolicy, HttpFaultInjection, HttpMatchRequest, HttpRedirect, HttpRetry, VirtualService,
};

type C<'a, 'b> = &'a mut Check<'b, VirtualService>;

const CORS_METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

pub(super) fn cors_policy(c: C<'_, '_>, at: &str, p: &CorsPolicy) {
    for (i, o) in p.allow_origins.iter().enumerate() {
        let op = format!("{at}.allowOrigins[{i}]");
        let value = o
            .exact
            .as_deref()
            .or(o.prefix.as_deref())
            .or(o.regex.as_deref())
            .unwrap_or_default();
        if value.is_empty() {
            c.err(
                &op,
                format!("'{value}' is not a valid match type for CORS allow origins"),
            );
        } else if let Some(re) = &o.regex {
            regex_match(c, &format!("{op}.regex"), re, "corsPolicy.allowOrigins");
        }
    }
    for (i, m) in p.allow_methods.iter().enumerate() {
        if !CORS_METHODS.contains(&m.as_str()) {
            c.err(
                &format!("{at}.allowMethods[{i}]"),
                format!("{m:?} is not a supported HTTP method"),
            );
        }
    }
    for (field, list) in [
        ("allowHeaders", &p.allow_headers),
        ("exposeHeaders", &p.expose_headers),
    ] {
        for (i, name) in list.iter().enumerate() {
            if name != "*" {
                c.check(&format!("{at}.{field}[{i}]"), header_name(name));
            }
        }
    }
    if let Some(age) = &p.max_age {
        match duration(age) {
            Err(e) => c.err(&format!("{at}.maxAge"), e),
            Ok(d) if d.subsec_nanos() > 0 => c.err(
                &format!("{at}.maxAge"),
                "max_age duration is accurate only to seconds precision",
            ),
            Ok(_) => {}
        }
    }
}

const GRPC_STATUS: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

pub(super) fn http_status(c: C<'_, '_>, at: &str, status: i64) {
    if !(200..=599).contains(&status) {
        c.err(at, format!("HTTP status {status} is not in range 200-599"));
    }
}

pub(super) fn fault_injection(c: C<'_, '_>, at: &str, f: &HttpFaultInjection) {
    if f.abort.is_none() && f.delay.is_none() {
        c.err(at, "HTTP fault injection must have an abort and/or a delay");
    }
    if let Some(a) = &f.abort {
        let ap = format!("{at}.abort");
        if let Some(p) = &a.percentage {
            c.check(&format!("{ap}.percentage.value"), percentage(p.value));
        }
        let kinds = usize::from(a.http_status.is_some())
            + usize::from(a.grpc_status.is_some())
            + usize::from(a.http2_error.is_some());
        if kinds > 1 {
            c.err(
                &ap,
                "only one of httpStatus, grpcStatus or http2Error may be set",
            );
        }
        if let Some(s) = a.http_status {
            http_status(c, &format!("{ap}.httpStatus"), i64::from(s));
        } else if let Some(g) = &a.grpc_status {
            if !GRPC_STATUS.contains(&g.as_str()) {
                c.err(
                    &format!("{ap}.grpcStatus"),
                    format!("gRPC status {g:?} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'"),
                );
            }
        } else if a.http2_error.is_some() {
            c.err(
                &format!("{ap}.http2Error"),
                "HTTP/2 abort fault injection not supported yet",
            );
        } else {
            c.warn(&ap, "abort configured, but error type not set");
        }
    }
    if let Some(d) = &f.delay {
        let dp = format!("{at}.delay");
        if let Some(p) = &d.percentage {
            c.check(&format!("{dp}.percentage.value"), percentage(p.value));
        }
        if let Some(p) = d.percent {
            c.check(&format!("{dp}.percent"), percent_int(p));
        }
        c.duration(&format!("{dp}.fixedDelay"), &d.fixed_delay);
        if d.exponential_delay.is_some() {
            c.duration(&format!("{dp}.exponentialDelay"), &d.exponential_delay);
            c.err(
                &format!("{dp}.exponentialDelay"),
                "exponentialDelay not supported yet",
            );
        }
        if d.fixed_delay.is_some() && d.exponential_delay.is_some() {
            c.err(&dp, "only one of fixedDelay or exponentialDelay may be set");
        }
    }
}

pub(super) fn redirect(c: C<'_, '_>, at: &str, r: &HttpRedirect, matches: &[HttpMatchRequest]) {
    if set(&r.uri) && set(&r.prefix_rewrite) {
        c.err(at, "redirect may only specify one of uri or prefix_rewrite");
    }
    if set(&r.prefix_rewrite)
        && matches
            .iter()
            .any(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none()))
    {
        c.err(
            &format!("{at}.prefixRewrite"),
            "redirect prefix_rewrite requires all URI matches to use prefix match type",
        );
    }
    if !set(&r.uri)
        && !set(&r.prefix_rewrite)
        && !set(&r.authority)
        && r.port.is_none()
        && r.derive_port.is_none()
        && !set(&r.scheme)
    {
        c.err(at, "redirect must specify URI, authority, scheme, or port");
    }
    if r.port.is_some() && r.derive_port.is_some() {
        c.err(at, "redirect may only specify one of port or derivePort");
    }
    if let Some(code) = r.redirect_code.filter(|c| *c != 0) {
        if !(300..=399).contains(&code) {
            c.err(
                &format!("{at}.redirectCode"),
                format!("{code} is not a valid redirect code, must be 3xx"),
            );
        }
    }
    if let Some(s) = r.scheme.as_deref().filter(|s| !s.is_empty()) {
        if s != "http" && s != "https" {
            c.err(
                &format!("{at}.scheme"),
                "invalid redirect scheme, must be \"http\" or \"https\"",
            );
        }
    }
    if let Some(p) = r.port.filter(|p| *p > 0) {
        c.check(&format!("{at}.port"), port(p));
    }
}

const RETRY_ON: [&str; 16] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// HTTP status codes Go's `http.StatusText` knows.
fn known_status(code: u32) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

pub(super) fn retries(c: C<'_, '_>, at: &str, r: &HttpRetry) {
    let attempts = r.attempts.unwrap_or(0);
    if attempts < 0 {
        c.err(&format!("{at}.attempts"), "attempts cannot be negative");
    }
    if attempts == 0
        && (r.per_try_timeout.is_some() || set(&r.retry_on) || r.retry_remote_localities.is_some())
    {
        c.err(
            at,
            "http retry policy configured when attempts are set to 0 (disabled)",
        );
    }
    c.duration(&format!("{at}.perTryTimeout"), &r.per_try_timeout);
    if let Some(on) = r.retry_on.as_deref().filter(|s| !s.is_empty()) {
        for policy in on.split(',') {
            let status = policy.parse::<u32>().is_ok_and(known_status);
            if !status && !RETRY_ON.contains(&policy) {
                c.err(
                    &format!("{at}.retryOn"),
                    format!("{policy:?} is not a valid retryOn policy"),
                );
            }
        }
    }
    c.duration(&format!("{at}.backoff"), &r.backoff);
}
