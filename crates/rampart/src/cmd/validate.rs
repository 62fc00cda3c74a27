//! `rampart validate PATH...`: load, validate and compile; print every problem.

use std::path::{Path, PathBuf};

use rampart_compile::ProxyIdentity;

/// Prints diagnostics as `file:line: Kind ns/name: field: message`; returns the exit code
/// (0 valid, 1 invalid).
pub fn run(paths: &[PathBuf], mesh: Option<&Path>, me: &ProxyIdentity) -> i32 {
    match crate::load::load(paths, mesh, me) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            let s = &loaded.snapshot;
            let routes: usize = s.listeners.iter().map(route_count).sum();
            println!(
                "configuration is valid: {} listener(s), {} route(s), {} cluster(s)",
                s.listeners.len(),
                routes,
                s.clusters.len()
            );
            0
        }
        Err(diags) => {
            for d in &diags {
                println!("{d}");
            }
            let errors = diags.iter().filter(|d| d.is_error()).count();
            println!("configuration is invalid: {errors} error(s)");
            1
        }
    }
}

/// HTTP routes (plain and per TLS chain) and layer-4 rules of a listener.
fn route_count(l: &rampart_model::Listener) -> usize {
    use rampart_model::{ChainApp, Transport};
    let http = |t: &rampart_model::route::RouteTable| -> usize {
        t.vhosts.iter().map(|v| v.routes.len()).sum()
    };
    http(&l.routes)
        + match &l.transport {
            Transport::Http => 0,
            Transport::Tcp(tcp) => tcp.rules.len(),
            Transport::Tls(chains) => chains
                .chains
                .iter()
                .map(|c| match &c.app {
                    ChainApp::Http(t) => http(t),
                    ChainApp::Tcp(tcp) => tcp.rules.len(),
                })
                .sum(),
        }
}
