//! The rate-limit stage: after routing (and authorization), before CORS and the route's action.
//! Routes without a policy cost one `Option` check in `dispatch`.
//!
//! A refused request gets 429 with `retry-after`, `x-envoy-ratelimited: true` and Envoy's
//! `x-ratelimit-*` headers (`enable_x_ratelimit_headers: DRAFT_VERSION_03`), flag `RL`; admitted
//! responses carry the `x-ratelimit-*` headers of the tightest rule that counted them. When Redis
//! fails and the gateway fails closed the answer is 500, flag `RLSE` (Envoy Gateway's
//! `failClosed`).

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use rampart_model::rate_limit::RouteRateLimit;
use rampart_model::route::RequestView;
use rampart_ratelimit::{Decision, Quota};
use rampart_telemetry::{ResponseFlag, ResponseFlags};

use crate::body::ResponseBody;
use crate::request::ConnCx;
use crate::respond;

/// Checks the request against the route's limits: `Ok` with the quota to report on the
/// response, or `Err` with the local reply.
pub async fn check(
    rl: &RouteRateLimit,
    req: &RequestView<'_>,
    cx: &ConnCx,
    flags: &mut ResponseFlags,
) -> Result<Option<Quota>, Box<Response<ResponseBody>>> {
    let client = crate::authz::remote_ip(req.headers, cx.peer.ip(), cx.shared.options.trusted_hops);
    match cx.shared.rate_limits.check(rl, req, client).await {
        Decision::Allow(quota) => Ok(quota),
        Decision::Limited(quota) => {
            flags.insert(ResponseFlag::RateLimited);
            let mut resp = respond::text(StatusCode::TOO_MANY_REQUESTS, "");
            let h = resp.headers_mut();
            h.insert("x-envoy-ratelimited", HeaderValue::from_static("true"));
            h.insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(quota.reset_secs),
            );
            decorate(&quota, h);
            Err(Box::new(resp))
        }
        Decision::Failed => {
            flags.insert(ResponseFlag::RateLimitServiceError);
            Err(Box::new(respond::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rate limit service unavailable",
            )))
        }
    }
}

/// Adds `x-ratelimit-limit` (`10, 10;w=60`), `x-ratelimit-remaining` and `x-ratelimit-reset`
/// (seconds), unless the rule turned them `Off`.
pub fn decorate(q: &Quota, h: &mut HeaderMap) {
    if !q.headers {
        return;
    }
    let limit = format!("{}, {};w={}", q.limit, q.limit, q.window_secs);
    if let Ok(v) = HeaderValue::try_from(limit) {
        h.insert("x-ratelimit-limit", v);
    }
    h.insert("x-ratelimit-remaining", HeaderValue::from(q.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(q.reset_secs));
}
