//! `rampart run`: serve until SIGTERM/SIGINT, reload on SIGHUP and file changes.

use std::time::Duration;

use crate::gateway::{Gateway, GatewayOptions, ReloadRequest};

/// Starts the gateway and blocks until it has drained after a termination signal.
pub async fn run(opts: GatewayOptions, drain: Duration) -> anyhow::Result<()> {
    let gateway = Gateway::start(opts).await?;
    tracing::info!(version = gateway.version(), "serving");
    wait_for_termination(&gateway).await?;
    gateway.shutdown(drain).await;
    tracing::info!("drained, exiting");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_termination(gateway: &Gateway) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let reload = gateway.reload_sender();
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                let _ = reload.try_send(ReloadRequest::FileChanged);
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_termination(_gateway: &Gateway) -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
