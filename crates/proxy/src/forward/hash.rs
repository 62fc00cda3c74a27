//! The consistent-hash key of a request, per the cluster's `consistentHash` setting.

use std::net::IpAddr;

use http::header::COOKIE;
use http::Request;
use rampart_model::{HashKey, LbPolicy};
use rampart_upstream::lb::stable_hash;

/// The request's hash for a hash-based balancer; `None` for other policies or when the key is
/// absent from the request (the balancer then picks at random, as Envoy does).
pub fn request_hash<B>(policy: &LbPolicy, req: &Request<B>, peer: IpAddr) -> Option<u64> {
    let key = match policy {
        LbPolicy::RingHash { key, .. } | LbPolicy::Maglev { key, .. } => key,
        _ => return None,
    };
    match key {
        HashKey::Header(name) => req.headers().get(name).map(|v| stable_hash(v.as_bytes())),
        HashKey::SourceIp => Some(match peer {
            IpAddr::V4(ip) => stable_hash(&ip.octets()),
            IpAddr::V6(ip) => stable_hash(&ip.octets()),
        }),
        HashKey::QueryParam(name) => req.uri().query().and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                .find(|(k, _)| *k == &**name)
                .map(|(_, v)| stable_hash(v.as_bytes()))
        }),
        HashKey::Cookie { name, .. } => req
            .headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == &**name)
            .map(|(_, v)| stable_hash(v.as_bytes())),
    }
}
