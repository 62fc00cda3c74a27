//! The authentication step: JWTs checked against the RequestAuthentications bound to this
//! proxy (see `rampart-jwt`). No token passes without an identity; an invalid token gets `401`
//! with Envoy's message and a `www-authenticate` challenge.

use std::sync::Arc;

use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Request, Response, StatusCode};
use rampart_jwt::{Authenticator, Identity, Outcome};
use rampart_model::authz::AuthView;

use crate::body::ResponseBody;
use crate::headers::Refusal;
use crate::request::ConnCx;
use crate::respond;

/// Authenticates `req`: the request (with token and output headers edited) and its identity,
/// or the `401` to send.
pub async fn authenticate<B>(
    authn: &Authenticator,
    req: Request<B>,
    cx: &ConnCx,
) -> Result<(Request<B>, Option<Arc<Identity>>), Response<ResponseBody>> {
    let (mut parts, body) = req.into_parts();
    let identity = match authn.authenticate(&mut parts).await {
        Outcome::Anonymous => None,
        Outcome::Authenticated(identity) => Some(identity),
        Outcome::Rejected(rejection) => {
            tracing::debug!(reason = rejection.message, peer = %cx.peer, "JWT rejected");
            cx.shared.count_refusal(Refusal::JwtInvalid);
            let mut resp = respond::text(StatusCode::UNAUTHORIZED, rejection.message);
            let host = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                .unwrap_or("");
            let challenge = format!(
                "Bearer realm=\"{}://{}{}\", error=\"invalid_token\"",
                cx.scheme,
                host,
                parts.uri.path()
            );
            if let Ok(v) = HeaderValue::try_from(challenge) {
                resp.headers_mut().insert(WWW_AUTHENTICATE, v);
            }
            return Err(resp);
        }
    };
    Ok((Request::from_parts(parts, body), identity))
}

/// A verified JWT as authorization reads it.
#[derive(Debug)]
pub struct JwtView<'a>(pub &'a Identity);

impl AuthView for JwtView<'_> {
    fn principal(&self) -> &str {
        &self.0.principal
    }

    fn audiences(&self) -> Vec<&str> {
        self.0.audiences.iter().map(String::as_str).collect()
    }

    fn presenter(&self) -> Option<&str> {
        self.0.presenter.as_deref()
    }

    fn claim_values(&self, path: &[Box<str>]) -> Vec<&str> {
        let path: Vec<&str> = path.iter().map(|p| &**p).collect();
        self.0.claim_values(&path)
    }
}
