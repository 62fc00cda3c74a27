//! `rampart run`: serve until SIGTERM/SIGINT, reload on SIGHUP and file changes.

use std::time::Duration;

use crate::gateway::{Gateway, GatewayOptions, ReloadRequest};

/// Starts the gateway and blocks until it has drained after a termination signal.
pub async fn run(opts: GatewayOptions, drain: Duration) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM that arrives while the gateway starts must drain it, not kill it.
    let mut signals = Signals::install()?;
    let gateway = Gateway::start(opts).await?;
    tracing::info!(version = gateway.version(), "serving");
    signals.wait_for_termination(&gateway).await;
    gateway.shutdown(drain).await;
    tracing::info!("drained, exiting");
    Ok(())
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Returns on SIGTERM or SIGINT; SIGHUP asks for a reload.
    async fn wait_for_termination(&mut self, gateway: &Gateway) {
        let reload = gateway.reload_sender();
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    let _ = reload.try_send(ReloadRequest::FileChanged);
                }
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn wait_for_termination(&mut self, _gateway: &Gateway) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
