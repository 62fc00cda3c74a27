//! `rampart explain`: which listener, virtual host, route and destination a request would take,
//! and why each earlier rule did not match. Uses the same lookup as the data plane.

use std::fmt::Write;

use http::{HeaderMap, Method};
use rampart_model::route::{normalize_host, Action, RequestView};
use rampart_model::{ChainApp, Snapshot, Transport};

/// A request to explain.
pub struct Probe<'a> {
    /// Method.
    pub method: &'a Method,
    /// Listener port.
    pub port: u16,
    /// Host header.
    pub authority: &'a str,
    /// Path without query.
    pub path: &'a str,
    /// Query without `?`.
    pub query: Option<&'a str>,
    /// Headers.
    pub headers: &'a HeaderMap,
}

/// A human-readable trace of the routing decision.
pub fn explain(snapshot: &Snapshot, probe: &Probe<'_>) -> String {
    let mut out = String::new();
    let Some(listener) = snapshot
        .listeners
        .iter()
        .find(|l| l.address.port() == probe.port)
    else {
        let ports: Vec<String> = snapshot
            .listeners
            .iter()
            .map(|l| l.address.port().to_string())
            .collect();
        let _ = writeln!(
            out,
            "no listener on port {} (listeners: {})",
            probe.port,
            ports.join(", ")
        );
        let _ = writeln!(out, "result: connection refused");
        return out;
    };
    let _ = writeln!(out, "listener {} ({})", listener.name, listener.address);
    let (routes, scheme) = match &listener.transport {
        Transport::Http => (&listener.routes, "http"),
        Transport::Tcp(_) => {
            let _ = writeln!(
                out,
                "result: a TCP listener: explain covers HTTP routes only"
            );
            return out;
        }
        Transport::Tls(chains) => {
            // The client's SNI is the host it connects to.
            let sni = normalize_host(probe.authority);
            let Some(chain) = chains.find(Some(&sni)) else {
                let _ = writeln!(out, "no TLS server for SNI {sni:?}");
                let _ = writeln!(out, "result: connection closed during the handshake");
                return out;
            };
            let _ = writeln!(out, "TLS server {} (SNI {sni:?})", chain.name);
            match (&chain.app, &chain.tls) {
                (ChainApp::Http(routes), Some(_)) => (routes, "https"),
                _ => {
                    let _ = writeln!(out, "result: TLS passed through or proxied as TCP: explain covers HTTP routes only");
                    return out;
                }
            }
        }
    };
    let Some(vhost) = routes.find_host(probe.authority) else {
        let domains: Vec<&str> = routes.vhosts.iter().map(|v| &*v.domain).collect();
        let _ = writeln!(
            out,
            "no virtual host for host {:?} (domains: {})",
            probe.authority,
            domains.join(", ")
        );
        let _ = writeln!(out, "result: 404 (NR)");
        return out;
    };
    let _ = writeln!(out, "virtual host {}", vhost.domain);
    if vhost.https_redirect {
        let _ = writeln!(
            out,
            "result: 301 to https (Gateway server tls.httpsRedirect)"
        );
        return out;
    }
    let view = RequestView {
        method: probe.method,
        scheme,
        authority: probe.authority,
        path: probe.path,
        query: probe.query,
        headers: probe.headers,
        port: probe.port,
        auth: None,
    };
    for route in &vhost.routes {
        let _ = write!(
            out,
            "  route {} ({} rule {}, {}): ",
            route.name, route.origin.virtual_service, route.origin.rule, route.origin.location
        );
        let hit = if route.matches.is_empty() {
            Some(None)
        } else {
            let mut reasons = Vec::new();
            let mut hit = None;
            for (i, m) in route.matches.iter().enumerate() {
                match m.first_mismatch(&view) {
                    None => {
                        hit = Some(Some(i));
                        break;
                    }
                    Some(why) => reasons.push(format!("match[{i}]: {why}")),
                }
            }
            if hit.is_none() {
                let _ = writeln!(out, "no ({})", reasons.join("; "));
            }
            hit
        };
        let Some(which) = hit else { continue };
        match which {
            Some(i) => {
                let _ = writeln!(out, "MATCHES (match[{i}])");
            }
            None => {
                let _ = writeln!(out, "MATCHES (no match conditions)");
            }
        }
        match &route.action {
            Action::Forward(f) => {
                for d in &f.destinations {
                    let cluster = d.cluster.map_or_else(
                        || "no such cluster: 503 (NC)".to_string(),
                        |c| snapshot.cluster(c).key.to_string(),
                    );
                    let pct = 100.0 * f64::from(d.weight) / f64::from(f.total_weight);
                    let _ = writeln!(out, "result: forward {pct:.1}% to {} [{cluster}]", d.name);
                }
            }
            Action::Redirect(r) => {
                let _ = writeln!(out, "result: redirect {}", r.status.as_u16());
            }
            Action::Direct(d) => {
                let _ = writeln!(out, "result: direct response {}", d.status.as_u16());
            }
        }
        return out;
    }
    let _ = writeln!(out, "result: 404 (NR): no route matched");
    out
}
