//! The authorization step: AuthorizationPolicies bound to this proxy, evaluated on the
//! normalised request (Istio's order: DENY, then ALLOW). A denial is `403 RBAC: access denied`,
//! as Envoy's RBAC filter answers.

use std::net::IpAddr;

use http::{HeaderMap, Request, StatusCode};
use rampart_model::authz::{AuthView, Authorization, AuthzRequest};

use crate::body::ResponseBody;
use crate::headers::{Refusal, X_FORWARDED_FOR};
use crate::request::ConnCx;
use crate::respond;

/// Envoy's RBAC denial body.
const DENIED: &str = "RBAC: access denied";

/// What authorization sees of `req`.
pub fn view<'a, B>(
    req: &'a Request<B>,
    host: &'a str,
    cx: &'a ConnCx,
    auth: Option<&'a dyn AuthView>,
) -> AuthzRequest<'a> {
    AuthzRequest {
        method: req.method().as_str(),
        host,
        path: req.uri().path(),
        headers: req.headers(),
        port: cx.port,
        source_ip: cx.peer.ip(),
        remote_ip: remote_ip(req.headers(), cx.peer.ip(), cx.shared.options.trusted_hops),
        destination_ip: cx.local_ip,
        sni: None,
        peer_principal: None,
        auth,
    }
}

/// Evaluates the DENY, ALLOW and AUDIT policies; `Some(403)` when the request is denied.
pub fn check<B>(
    policies: &Authorization,
    req: &Request<B>,
    host: &str,
    cx: &ConnCx,
    auth: Option<&dyn AuthView>,
) -> Option<http::Response<ResponseBody>> {
    let verdict = policies.evaluate(&view(req, host, cx, auth));
    if verdict.audited {
        tracing::info!(
            target: "rampart::audit",
            policy = verdict.policy,
            allowed = verdict.allowed,
            method = %req.method(),
            path = req.uri().path(),
            peer = %cx.peer,
            "audited request"
        );
    }
    if verdict.allowed {
        return None;
    }
    tracing::debug!(
        policy = verdict.policy,
        method = %req.method(),
        path = req.uri().path(),
        peer = %cx.peer,
        "denied by authorization policy"
    );
    cx.shared.count_refusal(Refusal::AuthzDenied);
    Some(respond::text(StatusCode::FORBIDDEN, DENIED))
}

/// The original client address (`remote.ip`): with `trusted_hops` N > 0, the N-th address from
/// the right of `x-forwarded-for` as received (Envoy's `xff_num_trusted_hops`); the TCP peer
/// when N = 0, when there are fewer entries, or when that entry is not an IP address.
pub fn remote_ip(headers: &HeaderMap, peer: IpAddr, trusted_hops: u32) -> IpAddr {
    if trusted_hops == 0 {
        return peer;
    }
    let mut remaining = trusted_hops;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for entry in value.rsplit(',') {
            remaining -= 1;
            if remaining == 0 {
                return entry.trim().parse().unwrap_or(peer);
            }
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn remote_ip_follows_trusted_hops() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let h = xff(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(remote_ip(&h, peer, 0), peer);
        assert_eq!(
            remote_ip(&h, peer, 1),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(remote_ip(&h, peer, 2), "1.1.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(remote_ip(&h, peer, 3), peer);
        let two = xff(&["1.1.1.1", "2.2.2.2"]);
        assert_eq!(
            remote_ip(&two, peer, 2),
            "1.1.1.1".parse::<IpAddr>().unwrap()
        );
        let junk = xff(&["garbage, , 999.1.1.1"]);
        assert_eq!(remote_ip(&junk, peer, 1), peer);
        assert_eq!(remote_ip(&junk, peer, 2), peer);
    }
}
