//! Closing pooled HTTP/1.1 connections that sat idle longer than the cluster's `idleTimeout`
//! (or outlived `maxConnectionDuration`), so they do not linger until the upstream drops them.
//! A checkout discards stale connections too; this sweep frees the ones nobody asks for.

use std::sync::Weak;
use std::time::Duration;

use crate::cluster::Cluster;

/// How often idle connections are reviewed: half the idle timeout, between 1 s and 60 s.
fn period(idle_timeout: Duration) -> Duration {
    (idle_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Runs until the cluster is dropped.
pub async fn run(cluster: Weak<Cluster>) {
    loop {
        let wait = match cluster.upgrade() {
            Some(c) => period(c.state().spec.pool.idle_timeout),
            None => return,
        };
        tokio::time::sleep(wait).await;
        let Some(c) = cluster.upgrade() else { return };
        let state = c.state();
        for endpoint in &state.endpoints {
            for pool in endpoint.pools() {
                pool.reap_idle(&state.spec.pool);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_period_follows_the_idle_timeout_within_bounds() {
        assert_eq!(period(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(period(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(period(Duration::from_millis(100)), Duration::from_secs(1));
        assert_eq!(period(Duration::MAX), Duration::from_secs(60));
    }
}
