//! VirtualService validation (Istio `ValidateVirtualService`, TLS/TCP routes, destinations).
//! HTTP route rules live in [`super::http_route`].
//!
//! Receives: a typed `Resource<VirtualService>`. Hands on: diagnostics for hosts, gateways,
//! routes, matches and destinations.

use std::collections::BTreeMap;

use super::{
    dns1123_label, export_to, fqdn, host_subset_of, hosts_overlap, ip_subnet, is_ip,
    is_jwt_claim_route, port, wildcard_domain, Check,
};
use crate::diag::Diagnostic;
use crate::networking::{Destination, RouteDestination, StringMatch, VirtualService};
use crate::path;
use crate::resource::Resource;

/// Checks one VirtualService.
pub fn validate(res: &Resource<VirtualService>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let vs = &res.spec;
    let delegate = vs.hosts.is_empty();
    if delegate {
        if !vs.gateways.is_empty() {
            c.err(
                "spec.gateways",
                "delegate virtual service must have no gateways specified",
            );
        }
        if !vs.tls.is_empty() {
            c.err(
                "spec.tls",
                "delegate virtual service must have no tls route specified",
            );
        }
        if !vs.tcp.is_empty() {
            c.err(
                "spec.tcp",
                "delegate virtual service must have no tcp route specified",
            );
        }
    }
    let to_gateway = !vs.gateways.is_empty() && !vs.gateways.iter().any(|g| g == "mesh");
    let to_mesh = !to_gateway;
    gateway_names(&mut c, "spec.gateways", &vs.gateways);
    if !to_gateway {
        for (i, h) in vs.http.iter().enumerate() {
            for (j, m) in h.matches.iter().enumerate() {
                let at = format!("spec.http[{i}].match[{j}]");
                for (field, map) in [
                    ("headers", &m.headers),
                    ("withoutHeaders", &m.without_headers),
                ] {
                    jwt_claims(&mut c, &format!("{at}.{field}"), map, &vs.gateways);
                }
            }
        }
    }
    let mut all_valid = true;
    for (i, h) in vs.hosts.iter().enumerate() {
        let p = path::index("spec.hosts", i);
        match wildcard_domain(h) {
            Err(e) if !is_ip(h) => {
                c.err(&p, e);
                all_valid = false;
            }
            Err(_) => {}
            Ok(()) if to_mesh && h == "*" => {
                c.err(
                    &p,
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                );
                all_valid = false;
            }
            Ok(()) => {}
        }
    }
    if all_valid {
        for i in 0..vs.hosts.len() {
            for j in i + 1..vs.hosts.len() {
                if hosts_overlap(&vs.hosts[i], &vs.hosts[j]) {
                    c.err(
                        &path::index("spec.hosts", j),
                        format!(
                            "duplicate hosts in virtual service: {} & {}",
                            vs.hosts[i], vs.hosts[j]
                        ),
                    );
                }
            }
        }
    }
    if vs.http.is_empty() && vs.tcp.is_empty() && vs.tls.is_empty() {
        c.err(
            "spec",
            "http, tcp or tls must be provided in virtual service",
        );
    }
    for (i, h) in vs.http.iter().enumerate() {
        super::http_route::validate(&mut c, &path::index("spec.http", i), h, delegate);
    }
    for (i, t) in vs.tls.iter().enumerate() {
        let at = path::index("spec.tls", i);
        if t.matches.is_empty() {
            c.err(
                &format!("{at}.match"),
                "TLS route must have at least one match condition",
            );
        }
        for (j, m) in t.matches.iter().enumerate() {
            let mp = format!("{at}.match[{j}]");
            if m.sni_hosts.is_empty() {
                c.err(
                    &format!("{mp}.sniHosts"),
                    "TLS match must have at least one SNI host",
                );
            }
            for (k, sni) in m.sni_hosts.iter().enumerate() {
                sni_host(&mut c, &format!("{mp}.sniHosts[{k}]"), sni, &vs.hosts);
            }
            l4_match(
                &mut c,
                &mp,
                &m.destination_subnets,
                m.port,
                &m.source_labels,
                &m.gateways,
            );
        }
        if t.route.is_empty() {
            c.err(&format!("{at}.route"), "TLS route is required");
        }
        route_destinations(&mut c, &format!("{at}.route"), &t.route);
    }
    for (i, t) in vs.tcp.iter().enumerate() {
        let at = path::index("spec.tcp", i);
        for (j, m) in t.matches.iter().enumerate() {
            let mp = format!("{at}.match[{j}]");
            l4_match(
                &mut c,
                &mp,
                &m.destination_subnets,
                m.port,
                &m.source_labels,
                &m.gateways,
            );
            if let Some(s) = m.source_subnet.as_deref().filter(|s| !s.is_empty()) {
                c.check(&format!("{mp}.sourceSubnet"), ip_subnet(s));
            }
            if let Some(ns) = m.source_namespace.as_deref().filter(|s| !s.is_empty()) {
                if !dns1123_label(ns) {
                    c.err(
                        &format!("{mp}.sourceNamespace"),
                        format!("sourceNamespace match {ns} is invalid"),
                    );
                }
            }
        }
        if t.route.is_empty() {
            c.err(&format!("{at}.route"), "TCP route is required");
        }
        route_destinations(&mut c, &format!("{at}.route"), &t.route);
    }
    export_to(&mut c, "spec.exportTo", &vs.export_to, false, false);
    super::http_route::unreachable(&mut c, &vs.http);
}

fn jwt_claims(
    c: &mut Check<'_, VirtualService>,
    at: &str,
    map: &BTreeMap<String, StringMatch>,
    gateways: &[String],
) {
    for key in map.keys().filter(|k| is_jwt_claim_route(k)) {
        c.err(
            &path::key(at, key),
            format!(
                "JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: [{}]",
                gateways.join(" ")
            ),
        );
    }
}

fn sni_host(c: &mut Check<'_, VirtualService>, at: &str, sni: &str, hosts: &[String]) {
    if let Err(e) = wildcard_domain(sni) {
        if is_ip(sni) {
            c.warn(
                at,
                format!("using an IP address ({sni:?}) goes against SNI spec and most clients do not support this"),
            );
        } else {
            c.err(at, e);
        }
        return;
    }
    if !hosts.iter().any(|h| host_subset_of(sni, h)) {
        c.err(
            at,
            format!(
                "SNI host {sni:?} is not a compatible subset of any of the virtual service hosts: [{}]",
                hosts.join(", ")
            ),
        );
    }
}

fn l4_match(
    c: &mut Check<'_, VirtualService>,
    at: &str,
    subnets: &[String],
    match_port: Option<u32>,
    source_labels: &BTreeMap<String, String>,
    gateways: &[String],
) {
    for (i, s) in subnets.iter().enumerate() {
        c.check(&format!("{at}.destinationSubnets[{i}]"), ip_subnet(s));
    }
    if let Some(p) = match_port.filter(|p| *p != 0) {
        c.check(&format!("{at}.port"), port(p));
    }
    super::labels(c, &format!("{at}.sourceLabels"), source_labels);
    gateway_names(c, &format!("{at}.gateways"), gateways);
}

/// Gateway references: `ns/name` with DNS-label parts, `mesh`, or legacy `name.ns` (warning).
pub(super) fn gateway_names<T>(c: &mut Check<'_, T>, at: &str, names: &[String]) {
    for (i, g) in names.iter().enumerate() {
        let p = path::index(at, i);
        match g.split_once('/') {
            None => {
                if let Some((name, ns)) = g.split_once('.') {
                    let ns = ns.split('.').next().unwrap_or_default();
                    c.warn(
                        &p,
                        format!("using legacy gatewayName format {g:?}; prefer the <namespace>/<name> format: \"{ns}/{name}\""),
                    );
                }
                c.check(&p, fqdn(g));
            }
            Some((ns, name)) => {
                if ns.is_empty() || name.is_empty() {
                    c.err(&p, "config namespace and gateway name cannot be empty");
                }
                if !dns1123_label(ns) {
                    c.err(&p, format!("invalid value for namespace: {ns:?}"));
                }
                if !dns1123_label(name) {
                    c.err(&p, format!("invalid value for gateway name: {name:?}"));
                }
            }
        }
    }
}

/// `Destination`: host required, not `*`, valid domain; subset a DNS label; port valid.
pub(super) fn destination<T>(c: &mut Check<'_, T>, at: &str, d: &Destination) {
    let hp = format!("{at}.host");
    if d.host.is_empty() {
        c.err(&hp, "destination.host is required");
    } else if d.host == "*" {
        c.err(&hp, format!("invalid destination host {}", d.host));
    } else {
        c.check(&hp, wildcard_domain(&d.host));
    }
    // proto3: an empty subset is unset (Istio checks only `Subset != ""`).
    if let Some(s) = d.subset.as_deref().filter(|s| !s.is_empty()) {
        c.check(&format!("{at}.subset"), subset_name(s));
    }
    if let Some(p) = &d.port {
        c.check(&format!("{at}.port.number"), port(p.number));
    }
}

/// Subset names are DNS-1123 labels.
pub(super) fn subset_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("subset name cannot be empty".into());
    }
    if !dns1123_label(name) {
        return Err(format!("subset name is invalid: {name}"));
    }
    Ok(())
}

/// Weights ≥ 0; more than one destination with total 0 is an error.
pub(super) fn weights<T>(c: &mut Check<'_, T>, at: &str, weights: &[Option<i32>]) {
    let mut total: i64 = 0;
    for (i, w) in weights.iter().enumerate() {
        let w = w.unwrap_or(0);
        if w < 0 {
            c.err(&format!("{at}[{i}].weight"), format!("weight {w} < 0"));
        }
        total += i64::from(w);
    }
    if weights.len() > 1 && total == 0 {
        c.err(at, "total destination weight = 0");
    }
}

fn route_destinations(c: &mut Check<'_, VirtualService>, at: &str, route: &[RouteDestination]) {
    for (i, r) in route.iter().enumerate() {
        destination(c, &format!("{at}[{i}].destination"), &r.destination);
    }
    let w: Vec<_> = route.iter().map(|r| r.weight).collect();
    weights(c, at, &w);
}
