//! Layer-4 proxying: a TCP connection (or the decrypted stream of a terminated TLS one, or the
//! untouched bytes of a passed-through TLS one) to an upstream endpoint chosen by `tcp`/`tls`
//! routes.

use std::sync::Arc;

use bytes::Bytes;
use rampart_model::tcp::TcpRoutes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::request::ConnCx;

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
    let _ = (client, replay, cx, routes, sni);
}
