//! Protocol upgrades (WebSocket): once the upstream answers 101, the two connections are
//! spliced and bytes flow both ways until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Splices the downstream and upstream upgraded connections in a background task.
pub fn splice(downstream: OnUpgrade, upstream: OnUpgrade) {
    tokio::spawn(async move {
        let (down, up) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(err) => {
                tracing::debug!(error = %err, "upgrade failed");
                return;
            }
        };
        let mut down = TokioIo::new(down);
        let mut up = TokioIo::new(up);
        if let Err(err) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
            tracing::debug!(error = %err, "upgraded connection closed with error");
        }
    });
}
