//! Opening TCP connections to endpoints, bounded by the cluster's connect timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::error::Error;

/// Connects to `addr` within `timeout`, with Nagle off (requests are small and latency-bound).
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, Error> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Err(Error::ConnectFailure(err)),
        Err(_) => {
            return Err(Error::ConnectFailure(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timeout",
            )))
        }
    };
    // Best effort: a socket that refuses TCP_NODELAY still works.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
