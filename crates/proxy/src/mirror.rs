//! Traffic mirroring: fire-and-forget copies of a request to other clusters, with `-shadow`
//! appended to the host (Envoy's shadowing). A copy never delays or fails the original: it is
//! sent from its own task once the original body has been read, and its answer is discarded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HOST;
use http::HeaderValue;
use http_body_util::BodyExt;
use rampart_model::route::{Mirror, RetryPolicy};
use rampart_telemetry::ResponseFlags;

use crate::active::Active;
use crate::forward::{self, Replay, Target};

/// A copy that has not been answered by then is abandoned.
const MIRROR_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends a copy of the request in `replay` to each mirror whose share includes this request.
pub fn spawn(mirrors: &[Mirror], replay: &Replay, active: &Arc<Active>) {
    for mirror in mirrors {
        if !mirror.share.hit(fastrand::f64()) {
            continue;
        }
        let Some(cluster) = mirror
            .cluster
            .and_then(|id| active.clusters.get(id.0 as usize))
            .cloned()
        else {
            continue;
        };
        let mut copy = replay.clone();
        shadow_host(copy.headers_mut());
        let active = active.clone();
        let stat = mirror.stat;
        tokio::spawn(async move {
            let Some(req) = copy.finished_request().await else {
                tracing::debug!("mirror skipped: the request body was not kept");
                return;
            };
            let start = Instant::now();
            let mut flags = ResponseFlags::NONE;
            let no_retries = RetryPolicy::disabled();
            let target = Target {
                cluster: &cluster,
                hash: None,
                retry: &no_retries,
                count_attempts: false,
                trace: None,
            };
            let sent = tokio::time::timeout(MIRROR_TIMEOUT, async {
                let resp = forward::send(&target, Box::new(req), None, &mut flags)
                    .await
                    .ok()?;
                let status = resp.status().as_u16();
                // Read the answer to the end so the connection can be reused.
                let _ = resp.into_body().collect().await;
                Some(status)
            })
            .await;
            let status = match sent {
                Ok(Some(status)) => status,
                Ok(None) => 503,
                Err(_) => 504,
            };
            if let Some(stats) = active.stats.get(stat as usize) {
                stats.record(status, flags, start.elapsed().as_micros() as u64);
            }
        });
    }
}

/// `httpbin:8000` → `httpbin-shadow:8000`.
fn shadow_host(headers: &mut http::HeaderMap) {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return;
    };
    let name = crate::request::host_without_port(host);
    let shadowed = format!("{name}-shadow{}", &host[name.len()..]);
    if let Ok(value) = HeaderValue::try_from(shadowed) {
        headers.insert(HOST, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shadow(host: &str) -> String {
        let mut h = http::HeaderMap::new();
        h.insert(HOST, HeaderValue::from_str(host).unwrap());
        shadow_host(&mut h);
        h[HOST].to_str().unwrap().to_owned()
    }

    #[test]
    fn shadow_goes_before_the_port() {
        assert_eq!(shadow("httpbin:8000"), "httpbin-shadow:8000");
        assert_eq!(
            shadow("httpbin.default.svc.cluster.local"),
            "httpbin.default.svc.cluster.local-shadow"
        );
    }
}
