//! `rampart demo`: built-in services behind a gateway with an embedded Istio configuration
//! (header routing, a weighted canary, a redirect, a direct response), written to a temporary
//! directory that is watched, so editing it reloads the gateway.

mod backend;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rampart_admin::LogControl;

use crate::gateway::{Gateway, GatewayOptions};

/// The embedded configuration; `${NAME}` placeholders are the demo services' ports.
pub const DEMO_CONFIG: &str = include_str!("demo.yaml");

/// Runs the demo until Ctrl-C.
pub async fn run(
    port: u16,
    admin: SocketAddr,
    log_filter: String,
    log_control: LogControl,
) -> anyhow::Result<()> {
    let names = [
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "ratings-v1",
        "ratings-v2",
    ];
    let mut yaml = DEMO_CONFIG.replace("${GATEWAY_PORT}", &port.to_string());
    for name in names {
        let addr = backend::start(name).await?;
        let var = format!("${{{}_PORT}}", name.to_ascii_uppercase().replace('-', "_"));
        yaml = yaml.replace(&var, &addr.port().to_string());
    }
    let dir = std::env::temp_dir().join(format!("rampart-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("demo.yaml");
    std::fs::write(&file, yaml)?;
    let mut opts = GatewayOptions::new(vec![file.clone()]);
    opts.admin = Some(admin);
    opts.identity.bind = "127.0.0.1".parse()?;
    opts.watch = true;
    opts.log_filter = log_filter;
    opts.log_control = Some(log_control);
    let gateway = Gateway::start(opts)
        .await
        .context("starting the demo gateway (is the port free? try --port)")?;
    let admin = gateway.admin_addr.unwrap_or(admin);
    let g = format!("http://127.0.0.1:{port}");
    println!(
        "\nRampart demo: gateway on {g}, admin on http://{admin}\nConfiguration (edit it: the gateway reloads): {}\n
Try:
  curl {g}/reviews/1                          # reviews v1 (default route)
  curl -H 'end-user: jason' {g}/reviews/1     # reviews v2 (header match)
  for i in $(seq 10); do curl -s {g}/ratings/1; done   # canary: ~80% ratings-v1, ~20% ratings-v2
  curl -i {g}/old/reviews/1                   # 301 redirect to /reviews/1
  curl -i {g}/healthz                         # direct response from the gateway
  curl -i {g}/nothing-here                    # 404, no route (flag NR)
  curl http://{admin}/stats/prometheus | grep istio_requests_total
  curl http://{admin}/clusters
  curl http://{admin}/config_dump
  cargo run --release -- explain --config {} GET {g}/reviews/1 -H 'end-user: jason'
Ctrl-C to stop.\n",
        file.display(),
        file.display(),
    );
    tokio::signal::ctrl_c().await?;
    gateway.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
