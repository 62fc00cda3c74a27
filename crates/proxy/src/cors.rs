//! CORS (a route's `corsPolicy`), as Envoy's CORS filter applies it: preflights from allowed
//! origins are answered by the gateway; actual requests from allowed origins are forwarded and
//! their responses get the `Access-Control-Allow-*` headers. Requests without `Origin` are not
//! CORS requests and pass untouched.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use rampart_model::route::Cors;

use crate::body::ResponseBody;
use crate::respond;

/// What the policy says about a request.
pub enum Verdict {
    /// No `Origin`: not a CORS request.
    NotCors,
    /// A preflight the gateway answers itself.
    Answer(Box<Response<ResponseBody>>),
    /// An actual request (or a forwarded preflight) from an allowed origin: decorate the
    /// response with this origin.
    Allowed(HeaderValue),
}

/// Classifies `req` under `policy`.
pub fn check<B>(policy: &Cors, req: &Request<B>) -> Verdict {
    let Some(origin) = req.headers().get(ORIGIN) else {
        return Verdict::NotCors;
    };
    let allowed = origin.to_str().is_ok_and(|o| policy.allows(o));
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    match (preflight, allowed) {
        (true, true) => Verdict::Answer(Box::new(preflight_response(policy, origin.clone()))),
        // Other origins' preflights go upstream, unless the policy says to ignore them.
        (true, false) if !policy.forward_unmatched_preflights => {
            Verdict::Answer(Box::new(respond::text(StatusCode::OK, "")))
        }
        (_, true) => Verdict::Allowed(origin.clone()),
        (_, false) => Verdict::NotCors,
    }
}

fn preflight_response(policy: &Cors, origin: HeaderValue) -> Response<ResponseBody> {
    let mut resp = respond::text(StatusCode::OK, "");
    let h = resp.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if policy.allow_credentials {
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    for (name, value) in [
        (ACCESS_CONTROL_ALLOW_METHODS, &policy.allow_methods),
        (ACCESS_CONTROL_ALLOW_HEADERS, &policy.allow_headers),
        (ACCESS_CONTROL_MAX_AGE, &policy.max_age),
    ] {
        if let Some(v) = value {
            h.insert(name, v.clone());
        }
    }
    resp
}

/// Adds the headers an allowed origin's actual request gets.
pub fn decorate(policy: &Cors, origin: HeaderValue, h: &mut HeaderMap) {
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if policy.allow_credentials {
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(v) = &policy.expose_headers {
        h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
    }
}
