//! Layer-4 proxying: a TCP connection (or the decrypted stream of a terminated TLS one, or the
//! untouched bytes of a passed-through TLS one) to an upstream endpoint chosen by `tcp`/`tls`
//! routes.
//!
//! Receives the client stream from the listener; picks the rule ([`TcpRoutes::find`]), a
//! weighted destination, then an endpoint and a connection slot from the cluster, and relays
//! bytes both ways until both sides have closed, nothing moved for the destination's idle
//! timeout, or the proxy drains (Envoy's `tcp_proxy`). A connection that cannot be routed or
//! connected is closed. Hands on `istio_tcp_*` counts to the destination's stats handle.

mod relay;

use std::sync::Arc;

use bytes::Bytes;
use rampart_model::route::WeightedDestination;
use rampart_model::tcp::{TcpConn, TcpRoutes};
use rampart_telemetry::{RequestStats, ResponseFlag, ResponseFlags};
use rampart_upstream::tcp::{TcpConnectError, TcpUpstream};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::active::Active;
use crate::request::ConnCx;

use relay::relay;

/// Proxies `client` until either side closes. `replay` holds bytes already read from the client
/// (a ClientHello read to find the SNI) that the upstream must get first.
pub async fn serve<S>(
    client: S,
    replay: Bytes,
    cx: ConnCx,
    routes: Arc<TcpRoutes>,
    sni: Option<Arc<str>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Layer 4 has its own idle timeout (the destination cluster's), not HTTP's.
    cx.clock.detach();
    let active = cx.shared.active();
    let conn = TcpConn {
        port: cx.port,
        source: cx.peer.ip(),
        destination: cx.local_ip,
        sni: sni.as_deref(),
    };
    let Some(rule) = routes.find(&conn) else {
        tracing::debug!(peer = %cx.peer, port = cx.port, ?sni, "no tcp route matched: closing");
        if let Some(unrouted) = active.stats.first() {
            refuse(unrouted, ResponseFlag::NoRouteFound);
        }
        return;
    };
    let dest = rule
        .forward
        .pick(fastrand::u32(..rule.forward.total_weight));
    let Some(stats) = active.stats.get(dest.stat as usize).cloned() else {
        return;
    };
    let (mut upstream, idle) = match connect(&cx, &active, dest).await {
        Ok(connected) => connected,
        Err(flag) => {
            tracing::debug!(
                peer = %cx.peer,
                rule = %rule.name,
                destination = %dest.name,
                flag = flag.as_str(),
                "tcp upstream unavailable: closing"
            );
            refuse(&stats, flag);
            return;
        }
    };
    // The connection may outlive this configuration: keep only what it uses.
    drop(active);
    stats.tcp.opened();
    let ended = relay(
        client,
        &mut upstream.stream,
        &replay,
        idle,
        cx.clock.token(),
        &stats.tcp,
    )
    .await;
    tracing::debug!(
        peer = %cx.peer,
        rule = %rule.name,
        endpoint = %upstream.endpoint().address,
        ?ended,
        "tcp connection done"
    );
    stats.tcp.closed(ResponseFlags::NONE);
}

/// A connection closed before reaching an upstream, counted as opened and closed with `flag`.
fn refuse(stats: &RequestStats, flag: ResponseFlag) {
    stats.tcp.opened();
    stats.tcp.closed(flag.into());
}

/// The destination's cluster connected to, with the cluster's idle timeout
/// (`connectionPool.tcp.idleTimeout`), or the flag that says why not.
async fn connect(
    cx: &ConnCx,
    active: &Active,
    dest: &WeightedDestination,
) -> Result<(TcpUpstream, Option<std::time::Duration>), ResponseFlag> {
    let cluster = dest
        .cluster
        .and_then(|id| active.clusters.get(id.0 as usize))
        .ok_or(ResponseFlag::NoClusterFound)?;
    let state = Arc::clone(&cluster.state());
    let idle = state.spec.pool.tcp_idle_timeout;
    cluster
        .connect_tcp(&state, cx.peer.ip())
        .await
        .map(|upstream| (upstream, idle))
        .map_err(|err| {
            tracing::debug!(cluster = %cluster.key, error = %err, "tcp connect failed");
            match err {
                TcpConnectError::NoHealthyUpstream => ResponseFlag::NoHealthyUpstream,
                TcpConnectError::Overflow => ResponseFlag::UpstreamOverflow,
                TcpConnectError::ConnectFailure { .. } => ResponseFlag::UpstreamConnectionFailure,
            }
        })
}
