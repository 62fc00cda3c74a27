//! CUSTOM authorization: asks an external authorizer over HTTP, as Envoy's ext_authz HTTP
//! service does. The check request carries the original method, `pathPrefix` + path and query,
//! the configured client headers and no body. A 2xx answer allows (its `headersToUpstreamOnAllow`
//! are copied into the request); any other answer denies with the authorizer's status, body and
//! `headersToDownstreamOnDeny`; no answer (connect failure, timeout) denies with
//! `statusOnError`, or allows when `failOpen`. Denials carry the `UAEX` flag.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use rampart_model::authz::ExtAuthz;
use rampart_model::route::RetryPolicy;
use rampart_telemetry::{ResponseFlag, ResponseFlags};
use rampart_upstream::RequestBody;

use crate::active::Active;
use crate::body::ResponseBody;
use crate::forward::{self, Target};
use crate::headers::Refusal;
use crate::request::ConnCx;
use crate::respond;

/// Largest authorizer body passed on to the client.
const MAX_DENY_BODY: usize = 64 * 1024;

/// What the authorizer decided.
pub enum Decision {
    /// Go on; these headers go on the response to the client.
    Allow(HeaderMap),
    /// Answer with this.
    Deny(Response<ResponseBody>),
}

/// Asks `provider` about `req`; on allow, `req` gets the authorizer's upstream headers.
pub async fn check<B>(
    provider: &ExtAuthz,
    req: &mut Request<B>,
    active: &Active,
    cx: &ConnCx,
    flags: &mut ResponseFlags,
) -> Decision {
    let answer = match ask(provider, req, active).await {
        Some(answer) => answer,
        None if provider.fail_open => return Decision::Allow(HeaderMap::new()),
        None => {
            tracing::debug!(
                provider = &*provider.name,
                "external authorizer unavailable"
            );
            return deny(respond::text(provider.status_on_error, ""), cx, flags);
        }
    };
    let (parts, body) = answer;
    if parts.status.is_success() {
        copy(
            &provider.to_upstream_on_allow,
            &parts.headers,
            req.headers_mut(),
        );
        let mut downstream = HeaderMap::new();
        copy(
            &provider.to_downstream_on_allow,
            &parts.headers,
            &mut downstream,
        );
        return Decision::Allow(downstream);
    }
    let mut resp = respond::text(parts.status, body);
    copy(
        &provider.to_downstream_on_deny,
        &parts.headers,
        resp.headers_mut(),
    );
    deny(resp, cx, flags)
}

fn deny(resp: Response<ResponseBody>, cx: &ConnCx, flags: &mut ResponseFlags) -> Decision {
    flags.insert(ResponseFlag::UnauthorizedExternalService);
    cx.shared.count_refusal(Refusal::AuthzDenied);
    Decision::Deny(resp)
}

/// The authorizer's answer (head and a bounded body), or `None` when there is none in time.
async fn ask<B>(
    provider: &ExtAuthz,
    req: &Request<B>,
    active: &Active,
) -> Option<(http::response::Parts, Bytes)> {
    let cluster = active.clusters.get(provider.cluster?.0 as usize)?;
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut check = Request::builder()
        .method(req.method().clone())
        .uri(format!("{}{path}", provider.path_prefix))
        .body(RequestBody::empty())
        .ok()?;
    let h = check.headers_mut();
    h.insert(HOST, provider.authority.clone());
    h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    for name in provider.include_headers.iter() {
        for v in req.headers().get_all(name) {
            h.append(name.clone(), v.clone());
        }
    }
    for (name, value) in provider.additional_headers.iter() {
        h.insert(name.clone(), value.clone());
    }
    let no_retries = RetryPolicy::disabled();
    let target = Target {
        cluster,
        hash: None,
        retry: &no_retries,
        count_attempts: false,
        trace: None,
    };
    let mut flags = ResponseFlags::NONE;
    let call = async {
        let resp = forward::send(&target, Box::new(check), None, &mut flags)
            .await
            .ok()?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_DENY_BODY).collect().await.ok()?;
        Some((parts, body.to_bytes()))
    };
    tokio::time::timeout(provider.timeout, call).await.ok()?
}

/// Copies every value of `names` from `from` to `to`, replacing what `to` had.
fn copy(names: &[http::HeaderName], from: &HeaderMap, to: &mut HeaderMap) {
    for name in names {
        let mut values = from.get_all(name).iter();
        if let Some(first) = values.next() {
            to.insert(name.clone(), first.clone());
            for v in values {
                to.append(name.clone(), v.clone());
            }
        }
    }
}
