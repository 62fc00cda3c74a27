//! The consistent-hash key of a request, per the cluster's `consistentHash` setting.

use std::net::IpAddr;

use http::header::COOKIE;
use http::{HeaderValue, Request};
use rampart_model::{HashKey, LbPolicy};
use rampart_upstream::lb::stable_hash;

/// The hash a request is balanced by, and a cookie to set when the gateway made the key up.
#[derive(Debug, Default)]
pub struct RequestHash {
    /// The hash; `None` for other policies or when the key is absent from the request (the
    /// balancer then picks at random, as Envoy does).
    pub hash: Option<u64>,
    /// `set-cookie` for `httpCookie` with a `ttl` when the request had no such cookie.
    pub set_cookie: Option<HeaderValue>,
}

/// The request's hash per the cluster's `consistentHash` setting.
pub fn request_hash<B>(policy: &LbPolicy, req: &Request<B>, peer: IpAddr) -> RequestHash {
    let key = match policy {
        LbPolicy::RingHash { key, .. } | LbPolicy::Maglev { key, .. } => key,
        _ => return RequestHash::default(),
    };
    if let HashKey::Cookie {
        name,
        path,
        ttl: Some(ttl),
    } = key
    {
        if cookie(req, name).is_none() {
            // Envoy's generated affinity cookie: a value derived from the client address,
            // balanced by its own hash, so the client's next requests land on the same host.
            let value = format!("{:016x}", ip_hash(peer));
            let mut header = format!("{name}={value}");
            if !ttl.is_zero() {
                header.push_str(&format!("; Max-Age={}", ttl.as_secs()));
            }
            if let Some(path) = path {
                header.push_str(&format!("; Path={path}"));
            }
            header.push_str("; HttpOnly");
            return RequestHash {
                hash: Some(stable_hash(value.as_bytes())),
                set_cookie: HeaderValue::try_from(header).ok(),
            };
        }
    }
    RequestHash {
        hash: key_hash(key, req, peer),
        set_cookie: None,
    }
}

fn ip_hash(peer: IpAddr) -> u64 {
    match peer {
        IpAddr::V4(ip) => stable_hash(&ip.octets()),
        IpAddr::V6(ip) => stable_hash(&ip.octets()),
    }
}

fn cookie<'r, B>(req: &'r Request<B>, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn key_hash<B>(key: &HashKey, req: &Request<B>, peer: IpAddr) -> Option<u64> {
    match key {
        HashKey::Header(name) => req.headers().get(name).map(|v| stable_hash(v.as_bytes())),
        HashKey::SourceIp => Some(ip_hash(peer)),
        HashKey::QueryParam(name) => req.uri().query().and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                .find(|(k, _)| *k == &**name)
                .map(|(_, v)| stable_hash(v.as_bytes()))
        }),
        HashKey::Cookie { name, .. } => cookie(req, name).map(|v| stable_hash(v.as_bytes())),
    }
}
