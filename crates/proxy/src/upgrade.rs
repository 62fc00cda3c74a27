//! Protocol upgrades (WebSocket): once the upstream answers 101, the two connections are
//! spliced and bytes flow both ways until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rampart_upstream::h1::UpgradedConn;
use tokio::io::AsyncWriteExt;

/// Splices the downstream upgraded connection and the upstream socket in a background task.
pub fn splice(downstream: OnUpgrade, upstream: UpgradedConn) {
    tokio::spawn(async move {
        let down = match downstream.await {
            Ok(io) => io,
            Err(err) => {
                tracing::debug!(error = %err, "downstream upgrade failed");
                return;
            }
        };
        let mut down = TokioIo::new(down);
        let UpgradedConn {
            stream: mut up,
            leftover,
        } = upstream;
        // Bytes the upstream sent right after its 101 head belong to the client.
        if !leftover.is_empty() && down.write_all(&leftover).await.is_err() {
            return;
        }
        if let Err(err) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
            tracing::debug!(error = %err, "upgraded connection closed with error");
        }
    });
}
