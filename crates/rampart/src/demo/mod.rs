//! `rampart demo`: built-in services behind a gateway with an embedded Istio configuration
//! (header routing, a weighted canary, retries over a flaky service, fault injection, a circuit
//! breaker, a redirect, a direct response), written to a temporary directory that is watched,
//! so editing it reloads the gateway.

mod backend;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rampart_admin::LogControl;

use crate::gateway::{Gateway, GatewayOptions};

/// The embedded configuration; `${NAME}` placeholders are the demo services' ports.
pub const DEMO_CONFIG: &str = include_str!("demo.yaml");

/// A running demo: the gateway, where its configuration is, and what to try.
pub struct Demo {
    /// The gateway.
    pub gateway: Gateway,
    /// Temporary directory holding the configuration.
    pub dir: std::path::PathBuf,
    /// The configuration file (watched).
    pub file: std::path::PathBuf,
    /// The gateway's port on 127.0.0.1.
    pub port: u16,
}

/// Demo services: (name, behaviour).
const SERVICES: [(&str, backend::Behaviour); 6] = [
    ("reviews-v1", backend::Behaviour::Plain),
    ("reviews-v2", backend::Behaviour::Plain),
    ("reviews-v3", backend::Behaviour::FailsEveryOther),
    ("ratings-v1", backend::Behaviour::Plain),
    ("ratings-v2", backend::Behaviour::Plain),
    ("slow", backend::Behaviour::Slow(Duration::from_millis(300))),
];

/// Starts the demo services and the gateway on 127.0.0.1:`port` (0 picks one); `tweak`
/// adjusts the gateway's options.
pub async fn start(
    port: u16,
    admin: SocketAddr,
    tweak: impl FnOnce(&mut GatewayOptions),
) -> anyhow::Result<Demo> {
    let port = if port == 0 {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        port
    };
    let mut yaml = DEMO_CONFIG.replace("${GATEWAY_PORT}", &port.to_string());
    for (name, behaviour) in SERVICES {
        let addr = backend::start(name, behaviour).await?;
        let var = format!("${{{}_PORT}}", name.to_ascii_uppercase().replace('-', "_"));
        yaml = yaml.replace(&var, &addr.port().to_string());
    }
    let dir = std::env::temp_dir().join(format!("rampart-demo-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("demo.yaml");
    std::fs::write(&file, yaml)?;
    let mut opts = GatewayOptions::new(vec![file.clone()]);
    opts.admin = Some(admin);
    opts.identity.bind = "127.0.0.1".parse()?;
    opts.watch = true;
    tweak(&mut opts);
    let gateway = Gateway::start(opts)
        .await
        .context("starting the demo gateway (is the port free? try --port)")?;
    Ok(Demo {
        gateway,
        dir,
        file,
        port,
    })
}

/// Runs the demo until Ctrl-C.
pub async fn run(
    port: u16,
    admin: SocketAddr,
    log_filter: String,
    log_control: LogControl,
) -> anyhow::Result<()> {
    let demo = start(port, admin, |opts| {
        opts.log_filter = log_filter;
        opts.log_control = Some(log_control);
    })
    .await?;
    let admin = demo.gateway.admin_addr.unwrap_or(admin);
    let g = format!("http://127.0.0.1:{port}");
    let file = demo.file.display();
    println!(
        "\nRampart demo: gateway on {g}, admin on http://{admin}\nConfiguration (edit it: the gateway reloads): {file}\n
Try:
  curl {g}/reviews/1                          # reviews v1 (default route)
  curl -H 'end-user: jason' {g}/reviews/1     # reviews v2 (header match)
  for i in $(seq 10); do curl -s {g}/ratings/1; done   # canary: ~80% ratings-v1, ~20% ratings-v2
  for i in $(seq 10); do curl -s {g}/flaky/1; done     # reviews v3 fails every other request; retries hide it
  curl -i -H 'x-fault: abort' {g}/ratings/1   # injected 503 \"fault filter abort\" (flag FI)
  curl -H 'x-fault: delay' {g}/ratings/1      # injected 2 s delay (flag DI)
  seq 8 | xargs -P8 -I{{}} curl -s -o /dev/null -w '%{{http_code}}\\n' {g}/slow   # circuit breaker: 503 x-envoy-overloaded
  curl -i {g}/old/reviews/1                   # 301 redirect to /reviews/1
  curl -i {g}/healthz                         # direct response from the gateway
  curl -i {g}/nothing-here                    # 404, no route (flag NR)
  curl http://{admin}/stats/prometheus | grep -E 'istio_requests_total|upstream_rq_retry|overflow'
  curl http://{admin}/clusters
  curl http://{admin}/config_dump
  cargo run --release -- explain --config {file} GET {g}/reviews/1 -H 'end-user: jason'
Ctrl-C to stop.\n",
    );
    tokio::signal::ctrl_c().await?;
    demo.gateway.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&demo.dir);
    Ok(())
}
